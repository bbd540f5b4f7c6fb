/***
 * realprune/faults.h - stuck-at faults of the ReRAM cells a layer is mapped
 * to (docs/design.md, "Device faults").
 *
 * A layer's weights form the matrix M (R rows, C columns; (r, c) at c*R + r,
 * as in xbar.h). Its cells are those of the mapped column segments: with
 * compact rows the rows holding an alive weight, cut into blocks of `rows`;
 * a segment (block x column) holding an alive weight is mapped, and each of
 * its weights has `phys` cells: slices 0 .. slices-1 (least significant
 * first, cell_bits each) of the weight's code, and for the differential
 * encoding the negative array's slices after them. Each cell is drawn SA0
 * (stuck at the high-resistance state: its digit reads 0) with probability
 * sa0, else SA1 (the low-resistance state: its digit reads all ones) with
 * probability sa1, one uniform draw per cell in the order column, row, cell.
 *
 * The weight a faulty weight's cells hold, with s = the layer's max |w| and
 * levels = 2^weight_bits - 1:
 *   offset:       q = round((w/s + 1)/2 * levels), forced, w' = (2q/levels - 1) s
 *   differential: p = round(max(w, 0)/s * levels), n = round(max(-w, 0)/s * levels),
 *                 each forced, w' = (p - n)/levels * s
 * where "forced" clears the digits of SA0 cells and sets those of SA1 cells.
 * Weights without a stuck cell are left exactly as they are.
 * @module core.faults
 */
#ifndef REALPRUNE_FAULTS_H
#define REALPRUNE_FAULTS_H

#include <stdint.h>

#include "realprune/rng.h"
#include "realprune/status.h"
#include "realprune/xbar.h"

struct rp_fault_layer {
    int64_t numel;                 /* the layer's R*C weights */
    int64_t n;                     /* weights with at least one stuck cell */
    int64_t *index;                /* their indices in M's layout, increasing */
    uint64_t *clear_pos, *set_pos; /* digits forced to 0 / 1 (the offset or positive array) */
    uint64_t *clear_neg, *set_neg; /* the negative array (differential; else unused, 0) */
    int64_t cells, sa0, sa1;       /* counts */
    int weight_bits, cell_bits, differential;
};

/*** Draws the stuck cells of one layer whose mask may be NULL (dense).
 * sa0, sa1 in [0, 1] with sa0 + sa1 <= 1; weight_bits at most 32.
 * @function rp_faults_sample */
rp_status rp_faults_sample(struct rp_fault_layer *out, const float *mask, int64_t R, int64_t C,
                           const struct rp_xbar_config *cfg, double sa0, double sa1,
                           struct rp_rng *rng);
/*** rp_faults_sample with a third band of worn cells: one uniform u per cell,
 * SA0 if u < sa0, SA1 if u < sa0 + sa1, and if u < sa0 + sa1 + worn stuck at
 * SA1 (worn_sa1) or SA0; sa0 + sa1 + worn <= 1. worn = 0 draws what
 * rp_faults_sample draws, bit for bit.
 * @function rp_faults_sample_worn */
rp_status rp_faults_sample_worn(struct rp_fault_layer *out, const float *mask, int64_t R, int64_t C,
                                const struct rp_xbar_config *cfg, double sa0, double sa1,
                                double worn, int worn_sa1, struct rp_rng *rng);
/*** Frees a fault layer's arrays.
 * @function rp_faults_free */
void rp_faults_free(struct rp_fault_layer *f);
/*** out = the weights the cells hold (out may be weight): weight copied, then
 * every faulty weight replaced (see the header).
 * @function rp_faults_effective */
rp_status rp_faults_effective(float *out, const float *weight, const struct rp_fault_layer *f);

/*** Programming variation of one layer's mapped cells (docs/design.md,
 * "Device faults"). Every mapped weight is written as its code (as above)
 * and each of its cells reads its digit d plus (sigma_d2d z_d + sigma_c2c z_c)
 * times the cell's range 2^cell_bits - 1 (or times d with of_level), clamped
 * to [0, range]: z_d is fixed per cell (device to device; kept to 1/36), z_c
 * is drawn again at every write (cycle to cycle). Both are counter-based
 * functions of (seed, cell, write), so they depend on neither the order nor
 * the thread count. Stuck cells read their forced digits exactly. */
struct rp_variation_layer {
    int64_t numel;    /* the layer's R*C weights */
    uint64_t *mapped; /* bit i set: weight i has cells */
    int8_t *d2d;      /* round(36 z_d) per cell, slice-major (k * numel + weight), sigma_d2d > 0 */
    int64_t mapped_count; /* weights with cells */
    double sigma_d2d, sigma_c2c;
    int of_level; /* the spread is relative to the digit written, not the range */
    uint64_t seed;
    int weight_bits, cell_bits, differential;
};

/*** Marks the mapped weights under cfg (mask may be NULL) and keeps the
 * spreads; sigma_d2d, sigma_c2c finite and >= 0.
 * @function rp_variation_new */
rp_status rp_variation_new(struct rp_variation_layer *out, const float *mask, int64_t R, int64_t C,
                           const struct rp_xbar_config *cfg, double sigma_d2d, double sigma_c2c,
                           int of_level, uint64_t seed);
/*** Frees a variation layer's arrays.
 * @function rp_variation_free */
void rp_variation_free(struct rp_variation_layer *v);
/*** out = the weights the cells hold after `write` writes: with v NULL as
 * rp_faults_effective; with v every mapped weight re-quantized and read
 * through its noisy cells (stuck ones forced, with f), the others copied.
 * @function rp_cells_effective */
rp_status rp_cells_effective(float *out, const float *weight, const struct rp_fault_layer *f,
                             const struct rp_variation_layer *v, uint64_t write);

/*** The faults a pruned layer meets on a whole chip. f holds the faults of
 * every cell of the layer's dense crossbars (drawn for the dense network
 * with compact_rows off, so that every row keeps its place). With `packed`,
 * a row block's mapped segments sit in column order on column positions 0,
 * 1, ... (as rp_xbar_map counts ceil(segments / L) crossbars); otherwise each
 * sits on its own column (a crossbar is saved only when all its segments
 * are pruned). Weight (r, c) of the segment on position p reads the cells
 * drawn at (r, p). Counts recomputed.
 * @function rp_faults_restrict */
rp_status rp_faults_restrict(struct rp_fault_layer *out, const struct rp_fault_layer *f,
                             const float *mask, int64_t R, int64_t C,
                             const struct rp_xbar_config *cfg, int packed);
/*** Fault-aware remapping onto the same crossbars as restrict's. A
 * position's damage is the digits its stuck cells span. Packed: per row
 * block with m mapped segments, the ceil(m / L) crossbars of the block whose
 * min(m, L) least damaged positions do the least damage; in place: each
 * crossbar's own positions. Within them the segments, most valuable first
 * (the l1 of their alive weights), take the positions of least damage; among
 * positions of equal damage a segment keeps its own; a group keeps
 * restrict's placement unless the new one does less damage weighted by the
 * segments' values (the sum of value x damage, which the pairing minimizes). *moved: segments
 * placed elsewhere than restrict puts them.
 * @function rp_faults_remap */
rp_status rp_faults_remap(struct rp_fault_layer *out, const struct rp_fault_layer *f,
                          const float *weight, const float *mask, int64_t R, int64_t C,
                          const struct rp_xbar_config *cfg, int packed, int64_t *moved);

/*** Fault-aware pruning scores: out[i] = max(0, |w| - |w' - w|), w' what the
 * cells hold (rp_faults_effective): a weight's magnitude less the error its
 * stuck cells make, 0 where the error is larger. Mean over a group, as the l1
 * score, it ranks first the groups whose faults do the most damage. out must
 * not be weight.
 * @function rp_faults_score */
rp_status rp_faults_score(float *out, const float *weight, const struct rp_fault_layer *f);

/*** The crossbars a layer's mapped segments take, packed or in place (as
 * rp_faults_restrict places them): per row block ceil(segments / L), or the
 * crossbars of the dense layout that hold a mapped segment.
 * @function rp_faults_crossbars */
rp_status rp_faults_crossbars(const float *mask, int64_t R, int64_t C,
                              const struct rp_xbar_config *cfg, int packed, int64_t *count);

#endif
