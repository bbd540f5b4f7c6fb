/* pooling.c - max and average pooling over 2-D windows. */
#include <math.h>
#include <string.h>

#include "realprune/nn.h"

rp_status rp_pool2d_output_shape(int64_t out[4], const struct rp_tensor *input,
                                 const struct rp_pool2d_params *p)
{
    char a[64];
    if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->ph < 0 || p->pw < 0)
        return rp_error(RP_EINVAL,
                        "pool2d: kernel %dx%d and stride %dx%d must be positive, "
                        "padding %dx%d non-negative",
                        p->kh, p->kw, p->sh, p->sw, p->ph, p->pw);
    if (2 * p->ph > p->kh || 2 * p->pw > p->kw)
        return rp_error(RP_EINVAL, "pool2d: padding %dx%d must be at most half the kernel %dx%d",
                        p->ph, p->pw, p->kh, p->kw);
    if (input->ndim != 4)
        return rp_error(RP_ESHAPE, "pool2d: input must be 4-D (N, C, H, W), got %s",
                        rp_shape_string(a, sizeof a, input->ndim, input->shape));
    int64_t hp = input->shape[2] + 2 * p->ph, wp = input->shape[3] + 2 * p->pw;
    if (hp < p->kh || wp < p->kw)
        return rp_error(RP_ESHAPE, "pool2d: input %s is smaller than the %dx%d window",
                        rp_shape_string(a, sizeof a, input->ndim, input->shape), p->kh, p->kw);
    out[0] = input->shape[0];
    out[1] = input->shape[1];
    out[2] = (hp - p->kh) / p->sh + 1;
    out[3] = (wp - p->kw) / p->sw + 1;
    return RP_OK;
}

/* One output row of the 2x2 window, outputs ox0 .. Wo-1: v > best, or v NaN
 * while best is not, takes over (the first of equal values wins). */
static void pool2x2_tail(float *y, float *ix, const float *r0, int64_t ox0, int64_t Wo, int64_t W,
                         int64_t row0)
{
    const float *r1 = r0 + W;
    for (int64_t ox = ox0; ox < Wo; ox++) {
        float a = r0[2 * ox], b = r0[2 * ox + 1], c = r1[2 * ox], d = r1[2 * ox + 1];
        float base = (float)(row0 + 2 * ox);
        int tb = b > a || (b != b && a == a);
        float m1 = tb ? b : a, i1 = tb ? base + 1 : base;
        int tc = c > m1 || (c != c && m1 == m1);
        float m2 = tc ? c : m1, i2 = tc ? base + (float)W : i1;
        int td = d > m2 || (d != d && m2 == m2);
        y[ox] = td ? d : m2;
        ix[ox] = td ? base + (float)W + 1 : i2;
    }
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* v takes over from m: v > m, or v NaN while m is not */
__attribute__((target("avx2"))) static inline __m256 takes_over(__m256 v, __m256 m)
{
    return _mm256_or_ps(
        _mm256_cmp_ps(v, m, _CMP_GT_OQ),
        _mm256_and_ps(_mm256_cmp_ps(v, v, _CMP_UNORD_Q), _mm256_cmp_ps(m, m, _CMP_ORD_Q)));
}

__attribute__((target("avx2"))) static inline __m128 takes_over4(__m128 v, __m128 m)
{
    return _mm_or_ps(_mm_cmp_ps(v, m, _CMP_GT_OQ),
                     _mm_and_ps(_mm_cmp_ps(v, v, _CMP_UNORD_Q), _mm_cmp_ps(m, m, _CMP_ORD_Q)));
}

/* the even and odd values of s[0 .. 16) */
__attribute__((target("avx2"))) static inline void split_pairs(const float *s, __m256 *even,
                                                               __m256 *odd)
{
    __m256 lo = _mm256_loadu_ps(s), hi = _mm256_loadu_ps(s + 8);
    *even = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0x88)), 0xd8));
    *odd = _mm256_castpd_ps(
        _mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(lo, hi, 0xdd)), 0xd8));
}

/* pool2x2_tail's selects, 8 outputs at a time, then 4; returns the outputs done */
__attribute__((target("avx2"))) static int64_t
pool2x2_row_avx2(float *y, float *ix, const float *r0, int64_t Wo, int64_t W, int64_t row0)
{
    /* the window's first index, converted from an integer as the scalar form does
     * (planes under 2^31 values) */
    const __m256i step = _mm256_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14);
    const __m256 one = _mm256_set1_ps(1.0f), down = _mm256_set1_ps((float)W);
    const __m256 diag = _mm256_set1_ps((float)W + 1.0f);
    int64_t ox = 0;
    for (; ox + 8 <= Wo; ox += 8) {
        __m256 a, b, c, d;
        split_pairs(r0 + 2 * ox, &a, &b);
        split_pairs(r0 + W + 2 * ox, &c, &d);
        __m256 base =
            _mm256_cvtepi32_ps(_mm256_add_epi32(_mm256_set1_epi32((int)(row0 + 2 * ox)), step));
        __m256 t = takes_over(b, a);
        __m256 m = _mm256_blendv_ps(a, b, t),
               i = _mm256_blendv_ps(base, _mm256_add_ps(base, one), t);
        t = takes_over(c, m);
        m = _mm256_blendv_ps(m, c, t);
        i = _mm256_blendv_ps(i, _mm256_add_ps(base, down), t);
        t = takes_over(d, m);
        _mm256_storeu_ps(y + ox, _mm256_blendv_ps(m, d, t));
        _mm256_storeu_ps(ix + ox, _mm256_blendv_ps(i, _mm256_add_ps(base, diag), t));
    }
    /* then 4 at a time (planes 8 wide) */
    const __m128i step4 = _mm_setr_epi32(0, 2, 4, 6);
    const __m128 one4 = _mm_set1_ps(1.0f);
    const __m128 down4 = _mm_set1_ps((float)W), diag4 = _mm_set1_ps((float)W + 1.0f);
    for (; ox + 4 <= Wo; ox += 4) {
        const float *s0 = r0 + 2 * ox, *s1 = r0 + W + 2 * ox;
        __m128 l0 = _mm_loadu_ps(s0), h0 = _mm_loadu_ps(s0 + 4);
        __m128 l1 = _mm_loadu_ps(s1), h1 = _mm_loadu_ps(s1 + 4);
        __m128 a = _mm_shuffle_ps(l0, h0, 0x88), b = _mm_shuffle_ps(l0, h0, 0xdd);
        __m128 c = _mm_shuffle_ps(l1, h1, 0x88), d = _mm_shuffle_ps(l1, h1, 0xdd);
        __m128 base = _mm_cvtepi32_ps(_mm_add_epi32(_mm_set1_epi32((int)(row0 + 2 * ox)), step4));
        __m128 t = takes_over4(b, a);
        __m128 m = _mm_blendv_ps(a, b, t), i = _mm_blendv_ps(base, _mm_add_ps(base, one4), t);
        t = takes_over4(c, m);
        m = _mm_blendv_ps(m, c, t);
        i = _mm_blendv_ps(i, _mm_add_ps(base, down4), t);
        t = takes_over4(d, m);
        _mm_storeu_ps(y + ox, _mm_blendv_ps(m, d, t));
        _mm_storeu_ps(ix + ox, _mm_blendv_ps(i, _mm_add_ps(base, diag4), t));
    }
    return ox;
}

static int rp_pool_simd(void)
{
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2");
}
#else
static int64_t pool2x2_row_avx2(float *y, float *ix, const float *r0, int64_t Wo, int64_t W,
                                int64_t row0)
{
    (void)y, (void)ix, (void)r0, (void)Wo, (void)W, (void)row0;
    return 0;
}

static int rp_pool_simd(void)
{
    return 0;
}
#endif

static rp_status check4(const char *what, const struct rp_tensor *t, const int64_t *s)
{
    char a[64], b[64];
    if (t->ndim != 4 || memcmp(t->shape, s, 4 * sizeof(int64_t)) != 0)
        return rp_error(RP_ESHAPE, "pool2d: %s must be %s, got %s", what,
                        rp_shape_string(a, sizeof a, 4, s),
                        rp_shape_string(b, sizeof b, t->ndim, t->shape));
    return RP_OK;
}

rp_status rp_maxpool2d_forward(struct rp_tensor *output, struct rp_tensor *indices,
                               const struct rp_tensor *input, const struct rp_pool2d_params *p)
{
    int64_t os[4];
    rp_status st = rp_pool2d_output_shape(os, input, p);
    if (st != RP_OK || (st = check4("output", output, os)) != RP_OK ||
        (st = check4("indices", indices, os)) != RP_OK)
        return st;
    int64_t planes = os[0] * os[1], H = input->shape[2], W = input->shape[3];
    int64_t Ho = os[2], Wo = os[3];
    if (p->kh == 2 && p->kw == 2 && p->sh == 2 && p->sw == 2 && p->ph == 0 && p->pw == 0) {
        /* the common 2x2 window: branch-free selects (ties and NaN as below) */
        const int simd = rp_pool_simd() && H * W < ((int64_t)1 << 31);
#pragma omp parallel for schedule(static) if (planes * H * W > (1 << 15))
        for (int64_t pl = 0; pl < planes; pl++) {
            const float *x = input->data + pl * H * W;
            float *y = output->data + pl * Ho * Wo, *ix = indices->data + pl * Ho * Wo;
            for (int64_t oy = 0; oy < Ho; oy++) {
                const float *r0 = x + 2 * oy * W;
                int64_t ox =
                    simd ? pool2x2_row_avx2(y + oy * Wo, ix + oy * Wo, r0, Wo, W, 2 * oy * W) : 0;
                pool2x2_tail(y + oy * Wo, ix + oy * Wo, r0, ox, Wo, W, 2 * oy * W);
            }
        }
        return RP_OK;
    }
#pragma omp parallel for schedule(static) if (planes * H * W > (1 << 15))
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = input->data + pl * H * W;
        float *y = output->data + pl * Ho * Wo, *ix = indices->data + pl * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++)
            for (int64_t ox = 0; ox < Wo; ox++) {
                float best = -INFINITY;
                int64_t at = -1;
                for (int ky = 0; ky < p->kh; ky++) {
                    int64_t iy = oy * p->sh - p->ph + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int64_t iix = ox * p->sw - p->pw + kx;
                        if (iix < 0 || iix >= W)
                            continue;
                        float v = x[iy * W + iix];
                        if (v > best || at < 0 || isnan(v)) {
                            best = v;
                            at = iy * W + iix;
                            if (isnan(v))
                                goto done;
                        }
                    }
                }
            done:
                y[oy * Wo + ox] = best;
                ix[oy * Wo + ox] = (float)at;
            }
    }
    return RP_OK;
}

rp_status rp_maxpool2d_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                                const struct rp_tensor *indices)
{
    char a[64], b[64];
    if (grad_input->ndim != 4 || grad_output->ndim != 4 ||
        !rp_tensor_same_shape(grad_output, indices) ||
        grad_input->shape[0] != grad_output->shape[0] ||
        grad_input->shape[1] != grad_output->shape[1])
        return rp_error(RP_ESHAPE, "maxpool2d: grad_output %s does not fit grad_input %s",
                        rp_shape_string(a, sizeof a, grad_output->ndim, grad_output->shape),
                        rp_shape_string(b, sizeof b, grad_input->ndim, grad_input->shape));
    int64_t planes = grad_input->shape[0] * grad_input->shape[1];
    int64_t HW = grad_input->shape[2] * grad_input->shape[3];
    int64_t P = grad_output->shape[2] * grad_output->shape[3];
#pragma omp parallel for schedule(static) if (planes * HW > (1 << 15))
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dx = grad_input->data + pl * HW;
        memset(dx, 0, sizeof(float) * (size_t)HW);
        const float *dy = grad_output->data + pl * P, *ix = indices->data + pl * P;
        for (int64_t i = 0; i < P; i++) {
            int64_t at = (int64_t)ix[i];
            if (at >= 0 && at < HW)
                dx[at] += dy[i];
        }
    }
    return RP_OK;
}

rp_status rp_avgpool2d_forward(struct rp_tensor *output, const struct rp_tensor *input,
                               const struct rp_pool2d_params *p)
{
    int64_t os[4];
    rp_status st = rp_pool2d_output_shape(os, input, p);
    if (st != RP_OK || (st = check4("output", output, os)) != RP_OK)
        return st;
    int64_t planes = os[0] * os[1], H = input->shape[2], W = input->shape[3];
    int64_t Ho = os[2], Wo = os[3];
    float inv = 1.0f / (float)(p->kh * p->kw);
#pragma omp parallel for schedule(static) if (planes * H * W > (1 << 15))
    for (int64_t pl = 0; pl < planes; pl++) {
        const float *x = input->data + pl * H * W;
        float *y = output->data + pl * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++)
            for (int64_t ox = 0; ox < Wo; ox++) {
                double s = 0.0;
                for (int ky = 0; ky < p->kh; ky++) {
                    int64_t iy = oy * p->sh - p->ph + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int64_t iix = ox * p->sw - p->pw + kx;
                        if (iix >= 0 && iix < W)
                            s += x[iy * W + iix];
                    }
                }
                y[oy * Wo + ox] = (float)s * inv;
            }
    }
    return RP_OK;
}

rp_status rp_avgpool2d_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                                const struct rp_pool2d_params *p)
{
    int64_t os[4];
    rp_status st = rp_pool2d_output_shape(os, grad_input, p);
    if (st != RP_OK || (st = check4("grad_output", grad_output, os)) != RP_OK)
        return st;
    int64_t planes = os[0] * os[1], H = grad_input->shape[2], W = grad_input->shape[3];
    int64_t Ho = os[2], Wo = os[3];
    float inv = 1.0f / (float)(p->kh * p->kw);
#pragma omp parallel for schedule(static) if (planes * H * W > (1 << 15))
    for (int64_t pl = 0; pl < planes; pl++) {
        float *dx = grad_input->data + pl * H * W;
        memset(dx, 0, sizeof(float) * (size_t)(H * W));
        const float *dy = grad_output->data + pl * Ho * Wo;
        for (int64_t oy = 0; oy < Ho; oy++)
            for (int64_t ox = 0; ox < Wo; ox++) {
                float g = dy[oy * Wo + ox] * inv;
                for (int ky = 0; ky < p->kh; ky++) {
                    int64_t iy = oy * p->sh - p->ph + ky;
                    if (iy < 0 || iy >= H)
                        continue;
                    for (int kx = 0; kx < p->kw; kx++) {
                        int64_t iix = ox * p->sw - p->pw + kx;
                        if (iix >= 0 && iix < W)
                            dx[iy * W + iix] += g;
                    }
                }
            }
    }
    return RP_OK;
}
