/* clock.c - monotonic wall time. */
#include "realprune/clock.h"

#include <time.h>

double rp_clock(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}
