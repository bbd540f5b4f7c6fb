/* conv2d_winograd.h - Winograd F(2x2, 3x3) kernels behind rp_conv2d_* (internal). */
#ifndef REALPRUNE_CONV2D_WINOGRAD_H
#define REALPRUNE_CONV2D_WINOGRAD_H

#include <stdint.h>

#include "kernel.h"
#include "realprune/nn.h"

struct rp_winograd_plan {
    int64_t N, C, H, W, K, Ho, Wo;
    int64_t ph, pw;
    int m, a, nxi;  /* tile outputs m x m, inputs a x a (a = m + 2), nxi = a * a */
    int64_t th, tw; /* tiles per image: rows, columns */
    int64_t g;      /* images per chunk */
    int64_t chunks;
    int64_t T;          /* tiles per chunk (g * th * tw) */
    int64_t vs, ms;     /* floats between the xi planes of V and of M */
    int64_t wt;         /* scratch row length */
    int64_t per_thread; /* workspace floats per thread */
    int64_t ushared;    /* floats of the transformed filters U (shared), also a partial dU's */
    int64_t gathered;   /* floats of a thread's gathered rows (sparse only) */
    int threads;
    int64_t size; /* workspace floats */
};

/* A 3x3 kernel with stride 1 (any padding).  Plans take the tile size: 2 for
 * F(2x2, 3x3), 4 for F(4x4, 3x3). */
int rp_winograd_applies(const struct rp_conv2d_params *p);
void rp_winograd_plan(struct rp_winograd_plan *wp, const int64_t in[4], int64_t cout,
                      const struct rp_conv2d_params *p, int tile, int threads);
void rp_winograd_forward(float *output, const float *input, const float *weight, const float *bias,
                         float *workspace, const struct rp_winograd_plan *wp);
/* grad_input = dL/dX (when not NULL) and grad_weight += scale * dL/dW (when
 * not NULL), from one pass over the output gradient. */
void rp_winograd_backward(float *grad_input, float *grad_weight, const float *grad_output,
                          const float *input, const float *weight, float *workspace,
                          const struct rp_winograd_plan *wp, float scale);

/* The sparse products on a mask's pair rectangles (conv2d_sparse.h): U and dU
 * of the alive pairs only, the rest as above.  The plan is rp_winograd_plan's
 * with the tiles of a chunk padded to RP_PANEL_QUANTUM. */
struct rp_pair_blocks;
void rp_winograd_sparse_plan(struct rp_winograd_plan *wp, const int64_t in[4], int64_t cout,
                             const struct rp_conv2d_params *p, int tile, int threads,
                             const struct rp_pair_blocks *pb);
rp_status rp_winograd_sparse_forward(float *output, const float *input, const float *weight,
                                     const float *bias, float *workspace,
                                     const struct rp_winograd_plan *wp,
                                     const struct rp_pair_blocks *pb);
/* grad_input = dL/dX (when not NULL) and grad_weight += scale * dL/dW on the
 * alive taps of the pairs only (when not NULL). */
rp_status rp_winograd_sparse_backward(float *grad_input, float *grad_weight,
                                      const float *grad_output, const float *input,
                                      const float *weight, float *workspace,
                                      const struct rp_winograd_plan *wp,
                                      const struct rp_pair_blocks *pb, float scale);

#endif
