/* conv2d_parts.h - pieces shared by the dense and the sparse im2col
 * convolutions (internal): rows of the columns matrix, a chunk's output
 * gradient, the bias gradient.
 *
 * Row r = (ci*kh + ky)*kw + kx of an image's columns matrix holds, for every
 * output position (oy, ox), the input x[ci, oy*sh - ph + ky, ox*sw - pw + kx]
 * (0 outside the image).  The dense path fills every row; the sparse path
 * only the rows a mask keeps. */
#ifndef REALPRUNE_CONV2D_PARTS_H
#define REALPRUNE_CONV2D_PARTS_H

#include <string.h>

#include "realprune/nn.h"

/* Row r of image x[C, H, W] into dst[Ho*Wo]. */
static inline void rp_im2col_row(float *dst_row, int64_t r, const float *x, int64_t H, int64_t W,
                                 int64_t Ho, int64_t Wo, const struct rp_conv2d_params *p)
{
    int64_t c = r / (p->kh * p->kw);
    int ky = (int)(r / p->kw % p->kh), kx = (int)(r % p->kw);
    const float *plane = x + c * H * W;
    for (int64_t oy = 0; oy < Ho; oy++) {
        int64_t iy = oy * p->sh - p->ph + ky;
        float *dst = dst_row + oy * Wo;
        if (iy < 0 || iy >= H) {
            memset(dst, 0, sizeof(float) * (size_t)Wo);
            continue;
        }
        const float *src = plane + iy * W;
        int64_t ix0 = kx - p->pw;
        if (p->sw == 1) {
            /* valid ox: 0 <= ox + ix0 < W */
            int64_t lo = ix0 < 0 ? -ix0 : 0, hi = W - ix0;
            if (hi > Wo)
                hi = Wo;
            if (hi < lo)
                hi = lo;
            for (int64_t ox = 0; ox < lo; ox++)
                dst[ox] = 0.0f;
            if (hi > lo)
                memcpy(dst + lo, src + lo + ix0, sizeof(float) * (size_t)(hi - lo));
            for (int64_t ox = hi; ox < Wo; ox++)
                dst[ox] = 0.0f;
        } else {
            for (int64_t ox = 0; ox < Wo; ox++) {
                int64_t ix = ox * p->sw + ix0;
                dst[ox] = (ix >= 0 && ix < W) ? src[ix] : 0.0f;
            }
        }
    }
}

/* Row r of a columns matrix (src[Ho*Wo]) added into image x[C, H, W]. */
static inline void rp_col2im_row(float *x, const float *src_row, int64_t r, int64_t H, int64_t W,
                                 int64_t Ho, int64_t Wo, const struct rp_conv2d_params *p)
{
    int64_t c = r / (p->kh * p->kw);
    int ky = (int)(r / p->kw % p->kh), kx = (int)(r % p->kw);
    float *plane = x + c * H * W;
    for (int64_t oy = 0; oy < Ho; oy++) {
        int64_t iy = oy * p->sh - p->ph + ky;
        if (iy < 0 || iy >= H)
            continue;
        const float *src = src_row + oy * Wo;
        float *dst = plane + iy * W;
        int64_t ix0 = kx - p->pw;
        if (p->sw == 1) {
            int64_t lo = ix0 < 0 ? -ix0 : 0, hi = W - ix0;
            if (hi > Wo)
                hi = Wo;
            for (int64_t ox = lo; ox < hi; ox++)
                dst[ox + ix0] += src[ox];
        } else {
            for (int64_t ox = 0; ox < Wo; ox++) {
                int64_t ix = ox * p->sw + ix0;
                if (ix >= 0 && ix < W)
                    dst[ix] += src[ox];
            }
        }
    }
}

/* Tensor t (named `what` in the message) has the shape ndim x shape. */
static inline rp_status rp_conv2d_check_same(const char *what, const struct rp_tensor *t, int ndim,
                                             const int64_t *shape)
{
    char a[64], b[64];
    if (t->ndim != ndim || memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0)
        return rp_error(RP_ESHAPE, "conv2d: %s must be %s, got %s", what,
                        rp_shape_string(a, sizeof a, ndim, shape),
                        rp_shape_string(b, sizeof b, t->ndim, t->shape));
    return RP_OK;
}

/* dY of images n0..n0+g-1 as one [Cout, g*P] matrix (a pointer into
 * grad_output itself when g == 1). */
static inline const float *rp_chunk_grad(float *tmp, const struct rp_tensor *grad_output,
                                         int64_t n0, int64_t g, int64_t Cout, int64_t P)
{
    if (g == 1)
        return grad_output->data + n0 * Cout * P;
    for (int64_t i = 0; i < g; i++)
        for (int64_t co = 0; co < Cout; co++)
            memcpy(tmp + co * g * P + i * P, grad_output->data + ((n0 + i) * Cout + co) * P,
                   sizeof(float) * (size_t)P);
    return tmp;
}

/* grad_bias += scale * (the sum of dY over the batch and positions) */
static inline void rp_bias_grad(struct rp_tensor *grad_bias, const struct rp_tensor *grad_output,
                                float scale)
{
    const int64_t N = grad_output->shape[0], Cout = grad_output->shape[1];
    const int64_t P = grad_output->shape[2] * grad_output->shape[3];
    for (int64_t co = 0; co < Cout; co++) {
        double s = 0.0;
        for (int64_t n = 0; n < N; n++) {
            const float *dy = grad_output->data + (n * Cout + co) * P;
            for (int64_t i = 0; i < P; i++)
                s += dy[i];
        }
        grad_bias->data[co] += scale * (float)s;
    }
}

#endif
