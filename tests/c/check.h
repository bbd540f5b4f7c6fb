/*
 * check.h - a minimal test harness for the C unit tests.
 *
 * Each CHECK counts; a failed one prints file, line and expression.  main()
 * ends with `return check_summary("name");`, which prints
 * "name: N passed, M failed" and returns non-zero if anything failed.
 */
#ifndef REALPRUNE_CHECK_H
#define REALPRUNE_CHECK_H

#include <math.h>
#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond)                                                                                \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);               \
        }                                                                                          \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                                      \
    do {                                                                                           \
        double check_a_ = (a), check_b_ = (b);                                                     \
        if (fabs(check_a_ - check_b_) <= (tol)) {                                                  \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: CHECK_NEAR failed: %s = %.9g, %s = %.9g (tol %g)\n", __FILE__, \
                    __LINE__, #a, check_a_, #b, check_b_, (double)(tol));                          \
        }                                                                                          \
    } while (0)

/* A call that must succeed. */
#define CHECK_OK(expr)                                                                             \
    do {                                                                                           \
        rp_status check_st_ = (expr);                                                              \
        if (check_st_ == RP_OK) {                                                                  \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: %s failed: %s (%s)\n", __FILE__, __LINE__, #expr,              \
                    rp_status_name(check_st_), rp_last_error());                                   \
        }                                                                                          \
    } while (0)

/* A call that must fail with `status` and a message containing `text`. */
#define CHECK_FAILS(expr, status, text)                                                            \
    do {                                                                                           \
        rp_status check_st_ = (expr);                                                              \
        if (check_st_ == (status) && strstr(rp_last_error(), (text))) {                            \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: %s gave %s \"%s\", expected %s with \"%s\"\n", __FILE__,       \
                    __LINE__, #expr, rp_status_name(check_st_), rp_last_error(), #status, (text)); \
        }                                                                                          \
    } while (0)

static int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 && check_passed > 0 ? 0 : 1;
}

#endif
