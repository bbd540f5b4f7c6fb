/***
 * realprune/prune.h - one pruning step over the groups of docs/design.md.
 *
 * Each layer's weight is the matrix M (R rows, C columns; element (r, c) at
 * c*R + r, as in xbar.h).  Groups are cut on the dense layout of M; a group's
 * score is the mean |w| (l1), the root of the mean w^2 (l2) or a uniform draw
 * (random), masked weights counting as 0; a group is alive if it holds an
 * alive weight.  The step prunes the n = floor(amount * alive + 0.5) alive
 * groups of lowest score, per layer or over all layers together; ties go to
 * the group whose top-left weight comes first (row, then column), then to the
 * earlier layer.  Guard: a step never removes a layer's last alive group.
 *
 * @module core.prune
 */
#ifndef REALPRUNE_PRUNE_H
#define REALPRUNE_PRUNE_H

#include <stdint.h>

#include "realprune/rng.h"
#include "realprune/status.h"

enum rp_granularity {
    RP_GROUP_ELEMENT,
    RP_GROUP_COLUMN,
    RP_GROUP_TILE,
    RP_GROUP_ROW,
    RP_GROUP_FILTER,
    RP_GROUP_CHANNEL,
    RP_GROUP_BLOCK
};
enum rp_score { RP_SCORE_L1, RP_SCORE_L2, RP_SCORE_RANDOM };
/* Per layer (each layer's own amount) or over all layers together. */
enum rp_scope { RP_SCOPE_LAYER, RP_SCOPE_GLOBAL };
/* The names of the three enumerations: names.h. */

struct rp_prune_layer {
    const float *weight; /* R*C values, (r, c) at c*R + r */
    float *mask;         /* R*C values, 0 = pruned; updated in place */
    int64_t R, C;
    int64_t channel_rows;                 /* rows per input channel: kh*kw for conv, 1 for linear */
    double amount;                        /* fraction of alive groups to prune (layer scope) */
    int64_t groups, alive_before, pruned; /* outputs */
};

struct rp_prune_spec {
    enum rp_granularity granularity;
    enum rp_score score;
    enum rp_scope scope;
    double amount;            /* global scope: in [0, 1] */
    int rows, L;              /* crossbar rows and logical columns (column/tile/row groups) */
    int64_t block_a, block_b; /* block groups: a rows x b columns */
    struct rp_rng *rng;       /* random scores */
    /* Column groups, layer scope, a step that prunes something: after it,
     * each row block that had L segments or more keeps a multiple of L, its
     * strongest (crossbar-aligned: no crossbar left partly empty): the
     * nearest multiple of what the plain step kept, then whole crossbars
     * moved between blocks (the weakest L kept dropped, or the strongest L
     * just pruned revived) until the layer keeps within L/2 of the plain
     * step's count. The layer keeps at least one segment. */
    int align;
};

/*** Element groups, l1 scores, layer scope, amount 0, 128 rows and L = 16
 * (rp_xbar_config_default's), 1 x 1 blocks, no generator, no alignment.
 * @function rp_prune_spec_default */
struct rp_prune_spec rp_prune_spec_default(void);
rp_status rp_prune_apply(struct rp_prune_layer *layers, int n, const struct rp_prune_spec *spec);

#endif
