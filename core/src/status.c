/* status.c - the per-thread last error message. */
#include "realprune/status.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char last_error[1024];

const char *rp_last_error(void)
{
    return last_error;
}

const char *rp_status_name(rp_status status)
{
    switch (status) {
    case RP_OK:
        return "RP_OK";
    case RP_EINVAL:
        return "RP_EINVAL";
    case RP_ESHAPE:
        return "RP_ESHAPE";
    case RP_ENOMEM:
        return "RP_ENOMEM";
    case RP_EIO:
        return "RP_EIO";
    case RP_EFORMAT:
        return "RP_EFORMAT";
    case RP_ERANGE:
        return "RP_ERANGE";
    }
    return "RP_E?";
}

rp_status rp_error(rp_status status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return status;
}
