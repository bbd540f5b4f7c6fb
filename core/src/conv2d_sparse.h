/* conv2d_sparse.h - the sparse plan and the batch plan shared by the sparse
 * im2col convolution (conv2d_sparse.c) and the sparse direct convolution for
 * stride 1 (conv2d_direct.c) (internal). */
#ifndef REALPRUNE_CONV2D_SPARSE_H
#define REALPRUNE_CONV2D_SPARSE_H

#include "realprune/nn.h"

struct rp_sparse_plan {
    int64_t R, C, h, blocks;
    int64_t *row_start;  /* [blocks + 1] into rows */
    int64_t *rows;       /* alive rows, block by block */
    int64_t *out_start;  /* [blocks + 1] into outs */
    int64_t *outs;       /* alive outputs of each block */
    int64_t *w_start;    /* [blocks + 1]: offsets of the packed weights Wb[A_b, rows_b] */
    unsigned char *keep; /* per packed weight: alive in the mask (1) or not */
    int64_t max_out, max_rows;
    int by_output; /* one block per alive output (rows_b: its alive rows) */
    uint64_t hash;
    double macs; /* per output position, including the moves */
};

/* How a batch is cut and how much workspace it needs: the packed weights
 * (shared), then per thread the alive rows' columns, the chunk's output (or
 * output gradient), one block's product or gathered gradient, one block's
 * columns gradient and a weight-gradient partial. */
struct splan {
    int64_t N, Cin, H, W, Ho, Wo, P, g, chunks, packed, per_thread;
    int64_t shared; /* floats before the threads' areas (the packed weights and more) */
    int threads, direct;
};

/* Wb[A_b, rows_b] of every block, one after the other (masked: a weight the
 * plan's mask kills counts as 0 whatever its value). */
void rp_sparse_pack_weights(float *packed, const float *w, const struct rp_sparse_plan *sp);
/* grad_weight += scale * each of n packed weight-gradient partials (stride
 * apart), on the mask's weights only, in order. */
void rp_sparse_add_partials(float *grad_weight, const float *partial, int64_t stride, int n,
                            const struct rp_sparse_plan *sp, float scale);

/* The direct kernels (conv2d_direct.c) run a stride-1 layer: the chunk size,
 * the threads and the workspace of s are theirs. */
int rp_direct_applies(const struct rp_conv2d_params *p);
void rp_direct_splan(struct splan *s, const struct rp_conv2d_params *p,
                     const struct rp_sparse_plan *sp, int threads);
rp_status rp_direct_forward(float *output, const float *input, const float *weight,
                            const float *bias, float *workspace, const struct splan *s,
                            const struct rp_conv2d_params *p, const struct rp_sparse_plan *sp);
rp_status rp_direct_backward(float *grad_input, float *grad_weight, const float *grad_output,
                             const float *input, const float *weight, float *workspace,
                             const struct splan *s, const struct rp_conv2d_params *p,
                             const struct rp_sparse_plan *sp, float scale);

#endif
