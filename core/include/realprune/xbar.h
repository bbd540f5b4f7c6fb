/***
 * realprune/xbar.h - mapping weight matrices onto ReRAM crossbars.
 *
 * The definitions are those of docs/design.md ("Crossbar mapping"): a layer's
 * weight is the matrix M with R rows (inputs: cin*kh*kw, or in_features) and
 * C columns (outputs); element (r, c) of M is element c*R + r of the weight
 * (and of its 0/1 mask) in memory.  slices = ceil(weight_bits / cell_bits);
 * phys = slices (offset encoding) or 2*slices (differential); L =
 * floor(cols / phys) logical columns per crossbar.
 *
 *     struct rp_xbar_config cfg = rp_xbar_config_default();
 *     struct rp_xbar_map m;
 *     rp_xbar_map_matrix(&m, mask, R, C, &cfg);   // mask may be NULL (dense)
 *     printf("%lld of %lld crossbars\n", m.crossbars, m.crossbars_dense);
 *
 * @module core.xbar
 */
#ifndef REALPRUNE_XBAR_H
#define REALPRUNE_XBAR_H

#include <stdint.h>

#include "realprune/status.h"

/* How a signed weight is stored (names: rp_encoding_names, names.h). */
enum rp_encoding {
    RP_ENCODING_OFFSET = 0,      /* one array, weights offset to be non-negative */
    RP_ENCODING_DIFFERENTIAL = 1 /* a positive and a negative array */
};

struct rp_xbar_config {
    int64_t rows, cols;  /* crossbar size: 1..2^20 */
    int64_t weight_bits; /* bits per weight: 1..64 */
    int64_t cell_bits;   /* bits per ReRAM cell: 1..64 */
    enum rp_encoding encoding;
    int compact_rows; /* drop all-pruned rows before cutting row blocks */
};

/*** 128 x 128 crossbars, 16-bit weights in 2-bit cells, offset encoding,
 * compacted rows (docs/design.md's defaults).
 * @function rp_xbar_config_default */
struct rp_xbar_config rp_xbar_config_default(void);
/*** Checks the fields (sizes in 1..2^20, bits in 1..64, a known encoding);
 * the message names the bad one. Fills slices/phys/L.
 * @function rp_xbar_config_check */
rp_status rp_xbar_config_check(const struct rp_xbar_config *cfg, int *slices, int *phys, int *L);

struct rp_xbar_map {
    int64_t rows, cols; /* the matrix: R x C */
    int slices, phys, L;
    int64_t weights, alive;   /* elements of M; alive ones */
    int64_t row_blocks_dense; /* ceil(R / rows) */
    int64_t col_tiles;        /* ceil(C / L) */
    int64_t crossbars_dense;  /* row_blocks_dense * col_tiles */
    int64_t rows_alive;       /* rows of M with an alive weight */
    int64_t row_blocks;       /* blocks actually cut (after compaction) */
    int64_t segments_total;   /* row blocks (dense layout) x C */
    int64_t segments_alive;   /* alive column segments, summed over blocks */
    int64_t crossbars;        /* the pruned count */
    int64_t max_block_rows;   /* rows in the fullest block */
    int64_t active_rows;      /* sum over crossbars of the rows they use */
    double utilization;       /* alive / (crossbars * rows * L) */
};

/*** A row order of M (perm[k] = the original row placed k-th) that packs its
 * alive weights into fewer crossbars, by a greedy fill of row blocks
 * (xbar_reorder.c); *before and *after are the crossbar counts of the
 * original and the new order (never more: the identity when nothing is
 * gained). The columns keep their order, which the count does not depend on.
 * @function rp_xbar_reorder_rows */
rp_status rp_xbar_reorder_rows(int64_t *perm, int64_t *before, int64_t *after, const float *mask,
                               int64_t R, int64_t C, const struct rp_xbar_config *cfg);

/*** Maps an R x C matrix whose mask (R*C floats, element (r,c) at c*R + r,
 * nonzero = alive) may be NULL for a dense layer.  Allocates scratch memory
 * internally (freed before returning).
 * @function rp_xbar_map_matrix */
rp_status rp_xbar_map_matrix(struct rp_xbar_map *out, const float *mask, int64_t R, int64_t C,
                             const struct rp_xbar_config *cfg);

/*** Per-crossbar alive-weight counts of a mapped matrix, in mapping order
 * (block by block, crossbars left to right): counts must hold `crossbars`
 * entries; block_of receives each crossbar's row block (0-based).
 * @function rp_xbar_crossbar_counts */
rp_status rp_xbar_crossbar_counts(int64_t *counts, int64_t *block_of, const float *mask, int64_t R,
                                  int64_t C, const struct rp_xbar_config *cfg);

/*** The same counts for M^T (docs/design.md, "Transposed mapping"): the C x R matrix
 * whose element (c, r) is M's (r, c) — the array the error pass multiplies by.
 * `mask` is M's (R*C floats, (r,c) at c*R + r); out->rows = C, out->cols = R.
 * @function rp_xbar_map_transposed */
rp_status rp_xbar_map_transposed(struct rp_xbar_map *out, const float *mask, int64_t R, int64_t C,
                                 const struct rp_xbar_config *cfg);
rp_status rp_xbar_crossbar_counts_transposed(int64_t *counts, int64_t *block_of, const float *mask,
                                             int64_t R, int64_t C,
                                             const struct rp_xbar_config *cfg);

#endif
