/***
 * realprune/status.h - status codes and the last error message.
 *
 * Every core function that can fail returns an rp_status and, on failure,
 * leaves a human-readable message that rp_last_error() returns until the next
 * failure on the same thread.  The core never exits, aborts or longjmps.
 *
 *     struct rp_tensor *t;
 *     if (rp_tensor_new(&t, 2, (int64_t[]){3, 4}) != RP_OK)
 *         fprintf(stderr, "%s\n", rp_last_error());
 *
 * @module core.status
 */
#ifndef REALPRUNE_STATUS_H
#define REALPRUNE_STATUS_H

typedef enum rp_status {
    RP_OK = 0,
    RP_EINVAL,  /* an argument has a wrong value */
    RP_ESHAPE,  /* tensor shapes do not fit together */
    RP_ENOMEM,  /* an allocation failed or would be absurdly large */
    RP_EIO,     /* reading or writing a file failed */
    RP_EFORMAT, /* a file's content is not what was expected */
    RP_ERANGE   /* an index is out of range */
} rp_status;

/*** The message of the last failure on this thread ("" if none).
 * @function rp_last_error */
const char *rp_last_error(void);

/*** A short name for a status code ("RP_ESHAPE").
 * @function rp_status_name */
const char *rp_status_name(rp_status status);

/*** Record a failure: formats the message and returns `status` unchanged, so
 * that callers can write `return rp_error(RP_EINVAL, "...", ...);`.
 * @function rp_error */
rp_status rp_error(rp_status status, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

#endif
