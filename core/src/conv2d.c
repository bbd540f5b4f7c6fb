/*
 * conv2d.c - 2-D convolution by im2col + GEMM, per image.
 *
 * For one image, the columns matrix has one row per (ci, ky, kx) - row
 * (ci*kh + ky)*kw + kx, the crossbar row order of DESIGN.md - and one column
 * per output position.  Then
 *   forward:        Y[Cout, P]  = W[Cout, K] . cols[K, P] (+ b)
 *   input grad:     cols[K, P]  = W^T . dY[Cout, P];  col2im adds into dX
 *   weight grad:    dW[Cout, K] += dY[Cout, P] . cols^T
 * Every product is row-major without copies: the weight [Cout,Cin,kh,kw] is
 * already W[Cout, K] and an NCHW image plane block is already Y[Cout, P].
 */
#include <string.h>

#include "realprune/blas.h"
#include "realprune/nn.h"

static rp_status check_params(const struct rp_conv2d_params *p)
{
    if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->ph < 0 || p->pw < 0)
        return rp_error(RP_EINVAL, "conv2d: kernel %dx%d, stride %dx%d and padding %dx%d must be "
                        "positive (padding non-negative)", p->kh, p->kw, p->sh, p->sw, p->ph,
                        p->pw);
    return RP_OK;
}

rp_status rp_conv2d_output_shape(int64_t out[4], const struct rp_tensor *input,
                                 const struct rp_tensor *weight, const struct rp_conv2d_params *p)
{
    char a[64], b[64];
    rp_status st = check_params(p);
    if (st != RP_OK)
        return st;
    if (input->ndim != 4)
        return rp_error(RP_ESHAPE, "conv2d: input must be 4-D (N, C, H, W), got %s",
                        rp_shape_string(a, sizeof a, input->ndim, input->shape));
    if (weight->ndim != 4 || weight->shape[2] != p->kh || weight->shape[3] != p->kw)
        return rp_error(RP_ESHAPE, "conv2d: weight must be (Cout, Cin, %d, %d), got %s", p->kh,
                        p->kw, rp_shape_string(a, sizeof a, weight->ndim, weight->shape));
    if (input->shape[1] != weight->shape[1])
        return rp_error(RP_ESHAPE, "conv2d: input %s has %lld channels, the weight %s expects %lld",
                        rp_shape_string(a, sizeof a, input->ndim, input->shape),
                        (long long)input->shape[1],
                        rp_shape_string(b, sizeof b, weight->ndim, weight->shape),
                        (long long)weight->shape[1]);
    int64_t hp = input->shape[2] + 2 * p->ph, wp = input->shape[3] + 2 * p->pw;
    if (hp < p->kh || wp < p->kw)
        return rp_error(RP_ESHAPE, "conv2d: input %lldx%lld (padded %lldx%lld) is smaller than "
                        "the %dx%d kernel", (long long)input->shape[2],
                        (long long)input->shape[3], (long long)hp, (long long)wp, p->kh, p->kw);
    out[0] = input->shape[0];
    out[1] = weight->shape[0];
    out[2] = (hp - p->kh) / p->sh + 1;
    out[3] = (wp - p->kw) / p->sw + 1;
    return RP_OK;
}

rp_status rp_conv2d_columns_shape(int64_t out[2], const struct rp_tensor *input,
                                  const struct rp_tensor *weight, const struct rp_conv2d_params *p)
{
    int64_t os[4];
    rp_status st = rp_conv2d_output_shape(os, input, weight, p);
    if (st != RP_OK)
        return st;
    out[0] = input->shape[1] * p->kh * p->kw;
    out[1] = os[2] * os[3];
    return RP_OK;
}

static rp_status check_same(const char *what, const struct rp_tensor *t, int ndim,
                            const int64_t *shape)
{
    char a[64], b[64];
    if (t->ndim != ndim || memcmp(t->shape, shape, sizeof(int64_t) * (size_t)ndim) != 0)
        return rp_error(RP_ESHAPE, "conv2d: %s must be %s, got %s", what,
                        rp_shape_string(a, sizeof a, ndim, shape),
                        rp_shape_string(b, sizeof b, t->ndim, t->shape));
    return RP_OK;
}

static rp_status check_columns(const struct rp_tensor *columns, const int64_t cs[2])
{
    if (columns->numel < cs[0] * cs[1])
        return rp_error(RP_ESHAPE, "conv2d: the columns buffer holds %lld values, %lld x %lld "
                        "needed", (long long)columns->numel, (long long)cs[0], (long long)cs[1]);
    return RP_OK;
}

/* One image x[C, H, W] -> cols[C*kh*kw, Ho*Wo]. */
static void im2col(float *cols, const float *x, int64_t C, int64_t H, int64_t W, int64_t Ho,
                   int64_t Wo, const struct rp_conv2d_params *p)
{
    for (int64_t c = 0; c < C; c++)
        for (int ky = 0; ky < p->kh; ky++)
            for (int kx = 0; kx < p->kw; kx++) {
                float *row = cols + ((c * p->kh + ky) * p->kw + kx) * Ho * Wo;
                const float *plane = x + c * H * W;
                for (int64_t oy = 0; oy < Ho; oy++) {
                    int64_t iy = oy * p->sh - p->ph + ky;
                    float *dst = row + oy * Wo;
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
}

/* cols[C*kh*kw, Ho*Wo] added into x[C, H, W] (x zeroed by the caller). */
static void col2im(float *x, const float *cols, int64_t C, int64_t H, int64_t W, int64_t Ho,
                   int64_t Wo, const struct rp_conv2d_params *p)
{
    for (int64_t c = 0; c < C; c++)
        for (int ky = 0; ky < p->kh; ky++)
            for (int kx = 0; kx < p->kw; kx++) {
                const float *row = cols + ((c * p->kh + ky) * p->kw + kx) * Ho * Wo;
                float *plane = x + c * H * W;
                for (int64_t oy = 0; oy < Ho; oy++) {
                    int64_t iy = oy * p->sh - p->ph + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    const float *src = row + oy * Wo;
                    float *dst = plane + iy * W;
                    int64_t ix0 = kx - p->pw;
                    for (int64_t ox = 0; ox < Wo; ox++) {
                        int64_t ix = ox * p->sw + ix0;
                        if (ix >= 0 && ix < W)
                            dst[ix] += src[ox];
                    }
                }
            }
}

/* A 1x1, stride-1, unpadded convolution needs no im2col: the image is the
 * columns matrix already. */
static int is_pointwise(const struct rp_conv2d_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->ph == 0 && p->pw == 0;
}

rp_status rp_conv2d_forward(struct rp_tensor *output, const struct rp_tensor *input,
                            const struct rp_tensor *weight, const struct rp_tensor *bias,
                            struct rp_tensor *columns, const struct rp_conv2d_params *p)
{
    int64_t os[4], cs[2];
    rp_status st = rp_conv2d_output_shape(os, input, weight, p);
    if (st != RP_OK || (st = check_same("output", output, 4, os)) != RP_OK)
        return st;
    rp_conv2d_columns_shape(cs, input, weight, p);
    if (!is_pointwise(p) && (st = check_columns(columns, cs)) != RP_OK)
        return st;
    if (bias && (st = check_same("bias", bias, 1, &os[1])) != RP_OK)
        return st;
    int64_t N = os[0], Cout = os[1], P = cs[1], K = cs[0];
    int64_t C = input->shape[1], H = input->shape[2], W = input->shape[3];
    for (int64_t n = 0; n < N; n++) {
        const float *x = input->data + n * C * H * W;
        float *y = output->data + n * Cout * P;
        const float *cols = x;
        if (!is_pointwise(p)) {
            im2col(columns->data, x, C, H, W, os[2], os[3], p);
            cols = columns->data;
        }
        float beta = 0.0f;
        if (bias) {
            for (int64_t co = 0; co < Cout; co++)
                for (int64_t i = 0; i < P; i++)
                    y[co * P + i] = bias->data[co];
            beta = 1.0f;
        }
        rp_gemm(0, 0, Cout, P, K, 1.0f, weight->data, K, cols, P, beta, y, P);
    }
    return RP_OK;
}

rp_status rp_conv2d_backward_input(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                                   const struct rp_tensor *weight, struct rp_tensor *columns,
                                   const struct rp_conv2d_params *p)
{
    int64_t os[4], cs[2];
    rp_status st = rp_conv2d_output_shape(os, grad_input, weight, p);
    if (st != RP_OK || (st = check_same("grad_output", grad_output, 4, os)) != RP_OK)
        return st;
    rp_conv2d_columns_shape(cs, grad_input, weight, p);
    if (!is_pointwise(p) && (st = check_columns(columns, cs)) != RP_OK)
        return st;
    int64_t N = os[0], Cout = os[1], P = cs[1], K = cs[0];
    int64_t C = grad_input->shape[1], H = grad_input->shape[2], W = grad_input->shape[3];
    for (int64_t n = 0; n < N; n++) {
        float *dx = grad_input->data + n * C * H * W;
        const float *dy = grad_output->data + n * Cout * P;
        if (is_pointwise(p)) {
            rp_gemm(1, 0, K, P, Cout, 1.0f, weight->data, K, dy, P, 0.0f, dx, P);
            continue;
        }
        rp_gemm(1, 0, K, P, Cout, 1.0f, weight->data, K, dy, P, 0.0f, columns->data, P);
        memset(dx, 0, sizeof(float) * (size_t)(C * H * W));
        col2im(dx, columns->data, C, H, W, os[2], os[3], p);
    }
    return RP_OK;
}

rp_status rp_conv2d_backward_params(struct rp_tensor *grad_weight, struct rp_tensor *grad_bias,
                                    const struct rp_tensor *grad_output,
                                    const struct rp_tensor *input, struct rp_tensor *columns,
                                    const struct rp_conv2d_params *p, float scale)
{
    int64_t os[4], cs[2];
    rp_status st = rp_conv2d_output_shape(os, input, grad_weight, p);
    if (st != RP_OK || (st = check_same("grad_output", grad_output, 4, os)) != RP_OK)
        return st;
    rp_conv2d_columns_shape(cs, input, grad_weight, p);
    if (!is_pointwise(p) && (st = check_columns(columns, cs)) != RP_OK)
        return st;
    if (grad_bias && (st = check_same("grad_bias", grad_bias, 1, &os[1])) != RP_OK)
        return st;
    int64_t N = os[0], Cout = os[1], P = cs[1], K = cs[0];
    int64_t C = input->shape[1], H = input->shape[2], W = input->shape[3];
    for (int64_t n = 0; n < N; n++) {
        const float *x = input->data + n * C * H * W;
        const float *dy = grad_output->data + n * Cout * P;
        const float *cols = x;
        if (!is_pointwise(p)) {
            im2col(columns->data, x, C, H, W, os[2], os[3], p);
            cols = columns->data;
        }
        rp_gemm(0, 1, Cout, K, P, scale, dy, P, cols, P, 1.0f, grad_weight->data, K);
        if (grad_bias)
            for (int64_t co = 0; co < Cout; co++) {
                double s = 0.0;
                for (int64_t i = 0; i < P; i++)
                    s += dy[co * P + i];
                grad_bias->data[co] += scale * (float)s;
            }
    }
    return RP_OK;
}
