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

#endif
