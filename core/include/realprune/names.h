/***
 * realprune/names.h - the names of the core's enumerations, in one place.
 *
 * The Lua layer (and any other front end) passes enumerated settings as
 * strings; each table below lists the names of one enumeration in the order
 * of its values and ends with NULL, so a name's index is its value.
 *
 *     int g;
 *     if (rp_name_lookup(&g, rp_granularity_names, "column", "granularity") != RP_OK)
 *         puts(rp_last_error()); // granularity: unknown name "x" (element, column, ...)
 *
 * @module core.names
 */
#ifndef REALPRUNE_NAMES_H
#define REALPRUNE_NAMES_H

#include "realprune/status.h"

/* enum rp_conv2d_algorithm (nn.h): auto, im2col, winograd, winograd4, sparse */
extern const char *const rp_conv2d_algorithm_names[];
/* enum rp_granularity (prune.h): element, column, tile, row, filter, channel, block */
/* enum rp_sparse_kernel */
extern const char *const rp_sparse_kernel_names[];
extern const char *const rp_granularity_names[];
/* enum rp_score (prune.h): l1, l2, random */
extern const char *const rp_score_names[];
/* enum rp_scope (prune.h): layer, global */
extern const char *const rp_scope_names[];
/* enum rp_encoding (xbar.h): offset, differential */
extern const char *const rp_encoding_names[];

/*** *out = the index of `name` in `names`; an unknown name is an RP_EINVAL
 * error "<what>: unknown name "<name>" (<the valid names>)".
 * @function rp_name_lookup */
rp_status rp_name_lookup(int *out, const char *const names[], const char *name, const char *what);
/*** The name of value `v` in `names`, or NULL when out of range.
 * @function rp_name_of */
const char *rp_name_of(const char *const names[], int v);

#endif
