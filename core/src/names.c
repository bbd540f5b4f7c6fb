/* names.c - the name tables of the core's enumerations (realprune/names.h). */
#include "realprune/names.h"

#include <stdio.h>
#include <string.h>

const char *const rp_conv2d_algorithm_names[] = {"auto",      "im2col", "winograd",
                                                 "winograd4", "sparse", NULL};
const char *const rp_sparse_kernel_names[] = {"auto", "direct", "winograd", "im2col", NULL};
const char *const rp_granularity_names[] = {"element", "column",  "tile",  "row",
                                            "filter",  "channel", "block", NULL};
const char *const rp_score_names[] = {"l1", "l2", "random", NULL};
const char *const rp_scope_names[] = {"layer", "global", NULL};
const char *const rp_encoding_names[] = {"offset", "differential", NULL};

rp_status rp_name_lookup(int *out, const char *const names[], const char *name, const char *what)
{
    char valid[256];
    size_t used = 0;
    valid[0] = '\0';
    for (int i = 0; names[i]; i++) {
        if (name && strcmp(names[i], name) == 0) {
            *out = i;
            return RP_OK;
        }
        int n = snprintf(valid + used, sizeof valid - used, "%s%s", i ? ", " : "", names[i]);
        if (n < 0 || used + (size_t)n >= sizeof valid) {
            valid[used] = '\0'; /* the list is cut at the last name that fits */
            break;
        }
        used += (size_t)n;
    }
    return rp_error(RP_EINVAL, "%s: unknown name \"%s\" (%s)", what, name ? name : "(null)", valid);
}

const char *rp_name_of(const char *const names[], int v)
{
    if (v < 0)
        return NULL;
    for (int i = 0; names[i]; i++)
        if (i == v)
            return names[i];
    return NULL;
}
