/* conv2d_sparse.h - the sparse plan and the batch plan shared by the sparse
 * im2col convolution (conv2d_sparse.c) and the sparse direct convolution for
 * stride 1 (conv2d_direct.c) (internal). */
#ifndef REALPRUNE_CONV2D_SPARSE_H
#define REALPRUNE_CONV2D_SPARSE_H

#include "realprune/nn.h"

/* The alive (output, input channel) filter pairs of a mask read as
 * [C][R/9][3][3], covered by rectangles for the sparse Winograd products
 * (conv2d_winograd.c): rectangle j holds input channels c0[j] .. c0[j]+len[j]-1
 * times outputs outs[out_start[j] .. out_start[j+1]); every pair in a rectangle
 * is alive, and every alive pair is in exactly one.  The pairs are numbered
 * rectangle by rectangle, output-major (u_start[j] + i*len[j] + l); keep[pair]
 * has bit t set when tap t (ky*3 + kx) of that filter is alive. */
struct rp_pair_blocks {
    int64_t n, pairs, cin, max_out, max_len;
    int64_t *c0, *len, *out_start, *outs, *u_start;
    uint16_t *keep;
    int64_t *iota; /* 0 .. cin - 1 */
    double macs;   /* the products' cost per tile and transformed element (see cover_pairs) */
};

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
    double macs;                  /* per output position, including the moves */
    struct rp_pair_blocks *pairs; /* NULL unless R is a multiple of 9 */
    int kernel;                   /* RP_SPARSE_KERNEL_*: which kernels run it */
};

/* How a batch is cut and how much workspace it needs: the packed weights
 * (shared), then per thread the alive rows' columns, the chunk's output (or
 * output gradient), one block's product or gathered gradient, one block's
 * columns gradient and a weight-gradient partial. */
struct splan {
    int64_t N, Cin, H, W, Ho, Wo, P, g, chunks, packed, per_thread;
    int64_t shared; /* floats before the threads' areas (the packed weights and more) */
    int threads, direct;
    int winograd; /* the sparse Winograd products run the call: its tile (2 or 4), else 0 */
};

/* The tile of the sparse Winograd products where they run this call (the
 * plan's kernel, or the cheaper by the cost model of conv2d.c), else 0. */
int rp_conv2d_sparse_tile(const int64_t in[4], int64_t cout, const struct rp_conv2d_params *p,
                          const struct rp_sparse_plan *sp);

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

/* The register tiles of conv2d_direct.c for the CPU (or REALPRUNE_SIMD):
 * panel: o[i][0 .. len) += sum over j < kd of a[i*lda + j] * (base + off[j]*scale)[0 .. len)
 *   for i < rows (len a multiple of RP_PANEL_QUANTUM);
 * dw: partial[i*nr + j] += sum over y < ny, q < len of d[i][y*ds + q] * x[j][y*xs + q]. */
#define RP_PANEL_QUANTUM 64
typedef void (*rp_panel_fn)(int64_t rows, int64_t kd, const float *a, int64_t lda,
                            const float *base, const int64_t *off, int64_t scale, float *const *o,
                            int64_t len);
typedef void (*rp_dw_fn)(int64_t no, int64_t nr, const float *const *d, int64_t ds,
                         const float *const *x, int64_t xs, int64_t ny, int64_t len,
                         float *partial);
struct rp_tile_kernels {
    rp_panel_fn panel;
    rp_dw_fn dw;
    int moves; /* AVX2 8x8 transposes into and out of the direct layout */
};
struct rp_tile_kernels rp_tile_kernels_for_cpu(void);

#endif
