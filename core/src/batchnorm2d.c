/* batchnorm2d.c - batch normalization over (N, H, W) for each channel,
 * with PyTorch's semantics (biased variance to normalize, unbiased variance
 * in the running estimate, running = (1 - momentum) running + momentum batch). */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "kernel.h"
#include "realprune/nn.h"

/* The per-channel sums below run in double, in eight independent lanes (GCC
 * vector types: one AVX-512 register, two AVX2 or four SSE2 ones) that run on over
 * all of a channel's planes and are summed in a fixed order at its end: one
 * dependent chain of double adds held the whole pass to the add latency
 * (about 4 cycles an element), and eight chains keep the adders busy. The
 * order is fixed, so the bits are the same on every run.  The forward pass
 * reads the input once for the mean and the variance (sums shifted by the
 * channel's first value) and once to normalize. */
#define LANES 8

/* The loops below are compiled for AVX-512, AVX2 and the baseline x86-64 and
 * the loader picks one by the CPU (RP_WIDE_CLONES): the file is compiled
 * without contraction into FMA, so all three do the same IEEE operations
 * (lane for lane) and give the same bits. */
static double lanes_total(const double acc[LANES])
{
    return ((acc[0] + acc[1]) + (acc[2] + acc[3])) + ((acc[4] + acc[5]) + (acc[6] + acc[7]));
}

/* s1 += x[i] - shift, s2 += (x[i] - shift)^2 lane by lane (the lanes run on
 * over a channel's planes and are added at its end) */
/* The lanes are rp_vf8 / rp_vd8 values (kernel.h); each lane's arithmetic
 * is the scalar tail's. */
#define LOAD8(v, p) memcpy(&(v), (p), sizeof(v))

RP_ALWAYS_INLINE void sums_shifted(const float *x, int64_t n, double shift, double s1[LANES],
                                   double s2[LANES])
{
    rp_vd8 a, b;
    memcpy(&a, s1, sizeof a);
    memcpy(&b, s2, sizeof b);
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        rp_vf8 xv;
        LOAD8(xv, x + i);
        rp_vd8 d = __builtin_convertvector(xv, rp_vd8) - shift;
        a += d;
        b += d * d;
    }
    memcpy(s1, &a, sizeof a);
    memcpy(s2, &b, sizeof b);
    for (int k = 0; i < n; i++, k++) {
        double d = (double)x[i] - shift;
        s1[k] += d;
        s2[k] += d * d;
    }
}

/* The output gradient a ReLU after the normalization passes on: dy where
 * x * g + b (the normalized value, computed as the forward pass computes it)
 * is positive, else 0; without the ReLU (relu = 0) dy itself.  The file is
 * compiled without contraction into FMA, so that x * g + b rounds here as in
 * normalize below.  relu is a constant where this is inlined, and dy is
 * loaded either way, so the choice is a vector select, not a branch. */
RP_ALWAYS_INLINE float relu_passed(float dy, float x, const int relu, float g, float b)
{
    if (!relu)
        return dy;
    float t = x * g + b;
    /* a select by bits, not a branch: on random signs a branch mispredicts
     * every other value (planes of fewer than 8 values run only this) */
    uint32_t keep = -(uint32_t)(t > 0.0f), bits;
    memcpy(&bits, &dy, sizeof bits);
    bits &= keep;
    memcpy(&dy, &bits, sizeof dy);
    return dy;
}

/* a += dy[i] and b += dy[i] * (x[i] - mean) * invstd, lane by lane (dy
 * through the ReLU when relu is set) */
RP_ALWAYS_INLINE void sums_dy_of(const float *dy, const float *x, int64_t n, float mean,
                                 float invstd, const int relu, float g, float b0, double a[LANES],
                                 double b[LANES])
{
    rp_vd8 la, lb;
    memcpy(&la, a, sizeof la);
    memcpy(&lb, b, sizeof lb);
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) {
        rp_vf8 xv, dv;
        LOAD8(xv, x + i);
        LOAD8(dv, dy + i);
        if (relu) { /* relu_passed, lane by lane: dy where x * g + b > 0 */
            rp_vi8 on = xv * g + b0 > 0.0f;
            dv = RP_SELECT8(on, dv, (rp_vf8){0});
        }
        rp_vd8 d = __builtin_convertvector(dv, rp_vd8);
        la += d;
        lb += d * __builtin_convertvector((xv - mean) * invstd, rp_vd8);
    }
    memcpy(a, &la, sizeof la);
    memcpy(b, &lb, sizeof lb);
    for (int k = 0; i < n; i++, k++) {
        double d = (double)relu_passed(dy[i], x[i], relu, g, b0);
        a[k] += d;
        b[k] += d * ((x[i] - mean) * invstd);
    }
}

/* y = x * g + b, or its ReLU */
RP_ALWAYS_INLINE void normalize_of(float *y, const float *x, int64_t n, float g, float b,
                                   const int relu)
{
    if (relu)
        for (int64_t i = 0; i < n; i++) {
            float t = x[i] * g + b;
            y[i] = t > 0.0f ? t : 0.0f;
        }
    else
        for (int64_t i = 0; i < n; i++)
            y[i] = x[i] * g + b;
}

/* dx = k (dy - a - xhat b), xhat = (x - mean) invstd (dy through the ReLU
 * when relu is set) */
RP_ALWAYS_INLINE void grad_row_of(float *dx, const float *dy, const float *x, int64_t n, float mean,
                                  float invstd, float k, float a, float b, const int relu, float rg,
                                  float rb)
{
    int64_t i = 0;
    for (; i + LANES <= n; i += LANES) { /* the loop below, 8 lanes at a time */
        rp_vf8 xv, dv;
        LOAD8(xv, x + i);
        LOAD8(dv, dy + i);
        if (relu) {
            rp_vi8 on = xv * rg + rb > 0.0f;
            dv = RP_SELECT8(on, dv, (rp_vf8){0});
        }
        rp_vf8 xhat = (xv - mean) * invstd;
        rp_vf8 r = k * (dv - a - xhat * b);
        memcpy(dx + i, &r, sizeof r);
    }
    for (; i < n; i++) {
        float xhat = (x[i] - mean) * invstd;
        dx[i] = k * (relu_passed(dy[i], x[i], relu, rg, rb) - a - xhat * b);
    }
}

/*
 * The passes run over blocks of channels, image by image: one image's planes
 * of a block's channels are one contiguous run, read in order, where a
 * channel's planes alone lie a whole image apart (on 4x4 planes of 512
 * channels, 64 bytes every 32 KiB: one cache line per page, which the
 * prefetchers do not follow).  A block's planes of every image (of each
 * tensor a pass reads) fit in BLOCK_BYTES, so a block's second pass finds them
 * in the core's cache.  Each channel's sums still run over its planes in image
 * order, lane by lane, so the bits are those of a channel alone.  The run
 * functions below take one image's planes of channels c0 .. c0 + nc - 1
 * (per-channel values indexed from 0) and are the SIMD clones.
 */
#define BLOCK_BYTES    ((int64_t)512 << 10)
#define BLOCK_CHANNELS 256

/* Channels per block with `tensors` tensors read twice. */
static int64_t channel_block(int64_t N, int64_t HW, int64_t tensors)
{
    int64_t per = N * HW * (int64_t)sizeof(float) * tensors;
    int64_t cb = BLOCK_BYTES / (per > 0 ? per : 1);
    return cb < 1 ? 1 : cb > BLOCK_CHANNELS ? BLOCK_CHANNELS : cb;
}

RP_WIDE_CLONES static void sums_shifted_run(const float *x, int64_t nc, int64_t HW,
                                            const double *shift, double (*s1)[LANES],
                                            double (*s2)[LANES])
{
    for (int64_t c = 0; c < nc; c++)
        sums_shifted(x + c * HW, HW, shift[c], s1[c], s2[c]);
}

RP_WIDE_CLONES static void normalize_run(float *y, const float *x, int64_t nc, int64_t HW,
                                         const float *g, const float *b, int relu)
{
    if (relu)
        for (int64_t c = 0; c < nc; c++)
            normalize_of(y + c * HW, x + c * HW, HW, g[c], b[c], 1);
    else
        for (int64_t c = 0; c < nc; c++)
            normalize_of(y + c * HW, x + c * HW, HW, g[c], b[c], 0);
}

/* The per-channel values of the backward pass. */
struct bn_channel {
    float mean, invstd, rg, rb, k, a, b;
};

RP_WIDE_CLONES static void sums_dy_run(const float *dy, const float *x, int64_t nc, int64_t HW,
                                       const struct bn_channel *ch, int relu, double (*a)[LANES],
                                       double (*b)[LANES])
{
    if (relu)
        for (int64_t c = 0; c < nc; c++)
            sums_dy_of(dy + c * HW, x + c * HW, HW, ch[c].mean, ch[c].invstd, 1, ch[c].rg, ch[c].rb,
                       a[c], b[c]);
    else
        for (int64_t c = 0; c < nc; c++)
            sums_dy_of(dy + c * HW, x + c * HW, HW, ch[c].mean, ch[c].invstd, 0, ch[c].rg, ch[c].rb,
                       a[c], b[c]);
}

RP_WIDE_CLONES static void grad_row_run(float *dx, const float *dy, const float *x, int64_t nc,
                                        int64_t HW, const struct bn_channel *ch, int relu)
{
    if (relu)
        for (int64_t c = 0; c < nc; c++)
            grad_row_of(dx + c * HW, dy + c * HW, x + c * HW, HW, ch[c].mean, ch[c].invstd, ch[c].k,
                        ch[c].a, ch[c].b, 1, ch[c].rg, ch[c].rb);
    else
        for (int64_t c = 0; c < nc; c++)
            grad_row_of(dx + c * HW, dy + c * HW, x + c * HW, HW, ch[c].mean, ch[c].invstd, ch[c].k,
                        ch[c].a, ch[c].b, 0, ch[c].rg, ch[c].rb);
}

static rp_status check(const char *fn, const struct rp_tensor *x, const struct rp_tensor *y,
                       const struct rp_tensor *const *per_channel, int n)
{
    char a[64], b[64];
    if (x->ndim != 4)
        return rp_error(RP_ESHAPE, "%s: input must be 4-D (N, C, H, W), got %s", fn,
                        rp_shape_string(a, sizeof a, x->ndim, x->shape));
    if (!rp_tensor_same_shape(x, y))
        return rp_error(RP_ESHAPE, "%s: output %s and input %s differ", fn,
                        rp_shape_string(a, sizeof a, y->ndim, y->shape),
                        rp_shape_string(b, sizeof b, x->ndim, x->shape));
    for (int i = 0; i < n; i++)
        if (per_channel[i]->ndim != 1 || per_channel[i]->shape[0] != x->shape[1])
            return rp_error(
                RP_ESHAPE, "%s: per-channel tensors must have %lld values, got %s", fn,
                (long long)x->shape[1],
                rp_shape_string(a, sizeof a, per_channel[i]->ndim, per_channel[i]->shape));
    return RP_OK;
}

static rp_status forward_train(struct rp_tensor *output, const struct rp_tensor *input,
                               const struct rp_tensor *gamma, const struct rp_tensor *beta,
                               struct rp_tensor *running_mean, struct rp_tensor *running_var,
                               struct rp_tensor *save_mean, struct rp_tensor *save_invstd,
                               float momentum, float eps, int relu)
{
    const struct rp_tensor *pc[] = {gamma, beta, running_mean, running_var, save_mean, save_invstd};
    rp_status st = check("batchnorm2d", input, output, pc, 6);
    if (st != RP_OK)
        return st;
    int64_t N = input->shape[0], C = input->shape[1], HW = input->shape[2] * input->shape[3];
    int64_t M = N * HW;
    if (M < 2)
        return rp_error(RP_ESHAPE,
                        "batchnorm2d: training needs more than one value per channel, "
                        "got input %lldx%lldx%lldx%lld",
                        (long long)N, (long long)C, (long long)input->shape[2],
                        (long long)input->shape[3]);
    const int64_t cb = channel_block(N, HW, 1), blocks = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15))
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        /* one pass: sums of x - shift and its square, the shift (the channel's
         * first value) keeping the squares' difference from cancelling */
        double s1[BLOCK_CHANNELS][LANES], s2[BLOCK_CHANNELS][LANES], shift[BLOCK_CHANNELS];
        float g[BLOCK_CHANNELS], b[BLOCK_CHANNELS];
        memset(s1, 0, sizeof(s1[0]) * (size_t)nc);
        memset(s2, 0, sizeof(s2[0]) * (size_t)nc);
        for (int64_t c = 0; c < nc; c++)
            shift[c] = input->data[(c0 + c) * HW];
        for (int64_t n = 0; n < N; n++)
            sums_shifted_run(input->data + (n * C + c0) * HW, nc, HW, shift, s1, s2);
        for (int64_t i = 0; i < nc; i++) {
            int64_t c = c0 + i;
            double d1 = lanes_total(s1[i]) / (double)M;
            double ss = lanes_total(s2[i]) - d1 * d1 * (double)M;
            if (ss < 0.0)
                ss = 0.0;
            double mean = shift[i] + d1, var = ss / (double)M;
            float invstd = (float)(1.0 / sqrt(var + eps));
            g[i] = gamma->data[c] * invstd;
            b[i] = beta->data[c] - (float)mean * g[i];
            save_mean->data[c] = (float)mean;
            save_invstd->data[c] = invstd;
            running_mean->data[c] =
                (1.0f - momentum) * running_mean->data[c] + momentum * (float)mean;
            running_var->data[c] =
                (1.0f - momentum) * running_var->data[c] + momentum * (float)(ss / (double)(M - 1));
        }
        for (int64_t n = 0; n < N; n++)
            normalize_run(output->data + (n * C + c0) * HW, input->data + (n * C + c0) * HW, nc, HW,
                          g, b, relu);
    }
    return RP_OK;
}

static rp_status forward_eval(struct rp_tensor *output, const struct rp_tensor *input,
                              const struct rp_tensor *gamma, const struct rp_tensor *beta,
                              const struct rp_tensor *running_mean,
                              const struct rp_tensor *running_var, float eps, int relu)
{
    const struct rp_tensor *pc[] = {gamma, beta, running_mean, running_var};
    rp_status st = check("batchnorm2d", input, output, pc, 4);
    if (st != RP_OK)
        return st;
    int64_t N = input->shape[0], C = input->shape[1], HW = input->shape[2] * input->shape[3];
    const int64_t cb = channel_block(N, HW, 1), blocks = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15))
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        float g[BLOCK_CHANNELS], b[BLOCK_CHANNELS];
        for (int64_t i = 0; i < nc; i++) {
            int64_t c = c0 + i;
            float invstd = (float)(1.0 / sqrt((double)running_var->data[c] + eps));
            g[i] = gamma->data[c] * invstd;
            b[i] = beta->data[c] - running_mean->data[c] * g[i];
        }
        for (int64_t n = 0; n < N; n++)
            normalize_run(output->data + (n * C + c0) * HW, input->data + (n * C + c0) * HW, nc, HW,
                          g, b, relu);
    }
    return RP_OK;
}

static rp_status backward(struct rp_tensor *grad_input, struct rp_tensor *grad_gamma,
                          struct rp_tensor *grad_beta, const struct rp_tensor *grad_output,
                          const struct rp_tensor *input, const struct rp_tensor *gamma,
                          const struct rp_tensor *beta, const struct rp_tensor *save_mean,
                          const struct rp_tensor *save_invstd)
{
    const struct rp_tensor *pc[] = {grad_gamma, grad_beta, gamma, save_mean, save_invstd, beta};
    const int relu = beta != NULL;
    rp_status st = check("batchnorm2d", input, grad_output, pc, relu ? 6 : 5);
    if (st != RP_OK || (st = check("batchnorm2d", input, grad_input, pc, 0)) != RP_OK)
        return st;
    int64_t N = input->shape[0], C = input->shape[1], HW = input->shape[2] * input->shape[3];
    double M = (double)(N * HW);
    const int64_t cb = channel_block(N, HW, 2), blocks = (C + cb - 1) / cb;
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15))
    for (int64_t blk = 0; blk < blocks; blk++) {
        const int64_t c0 = blk * cb, nc = C - c0 < cb ? C - c0 : cb;
        double la[BLOCK_CHANNELS][LANES], lb[BLOCK_CHANNELS][LANES];
        struct bn_channel ch[BLOCK_CHANNELS];
        memset(la, 0, sizeof(la[0]) * (size_t)nc);
        memset(lb, 0, sizeof(lb[0]) * (size_t)nc);
        for (int64_t i = 0; i < nc; i++) {
            int64_t c = c0 + i;
            ch[i].mean = save_mean->data[c];
            ch[i].invstd = save_invstd->data[c];
            /* the forward pass's scale and shift, for the ReLU's mask */
            ch[i].rg = relu ? gamma->data[c] * ch[i].invstd : 0.0f;
            ch[i].rb = relu ? beta->data[c] - ch[i].mean * ch[i].rg : 0.0f;
        }
        for (int64_t n = 0; n < N; n++)
            sums_dy_run(grad_output->data + (n * C + c0) * HW, input->data + (n * C + c0) * HW, nc,
                        HW, ch, relu, la, lb);
        for (int64_t i = 0; i < nc; i++) {
            int64_t c = c0 + i;
            double sdy = lanes_total(la[i]), sdyx = lanes_total(lb[i]);
            grad_gamma->data[c] += (float)sdyx;
            grad_beta->data[c] += (float)sdy;
            ch[i].k = gamma->data[c] * ch[i].invstd;
            ch[i].a = (float)(sdy / M);
            ch[i].b = (float)(sdyx / M);
        }
        for (int64_t n = 0; n < N; n++)
            grad_row_run(grad_input->data + (n * C + c0) * HW,
                         grad_output->data + (n * C + c0) * HW, input->data + (n * C + c0) * HW, nc,
                         HW, ch, relu);
    }
    return RP_OK;
}

rp_status rp_batchnorm2d_forward_train(struct rp_tensor *output, const struct rp_tensor *input,
                                       const struct rp_tensor *gamma, const struct rp_tensor *beta,
                                       struct rp_tensor *running_mean,
                                       struct rp_tensor *running_var, struct rp_tensor *save_mean,
                                       struct rp_tensor *save_invstd, float momentum, float eps)
{
    return forward_train(output, input, gamma, beta, running_mean, running_var, save_mean,
                         save_invstd, momentum, eps, 0);
}

rp_status rp_batchnorm2d_relu_forward_train(
    struct rp_tensor *output, const struct rp_tensor *input, const struct rp_tensor *gamma,
    const struct rp_tensor *beta, struct rp_tensor *running_mean, struct rp_tensor *running_var,
    struct rp_tensor *save_mean, struct rp_tensor *save_invstd, float momentum, float eps)
{
    return forward_train(output, input, gamma, beta, running_mean, running_var, save_mean,
                         save_invstd, momentum, eps, 1);
}

rp_status rp_batchnorm2d_forward_eval(struct rp_tensor *output, const struct rp_tensor *input,
                                      const struct rp_tensor *gamma, const struct rp_tensor *beta,
                                      const struct rp_tensor *running_mean,
                                      const struct rp_tensor *running_var, float eps)
{
    return forward_eval(output, input, gamma, beta, running_mean, running_var, eps, 0);
}

rp_status rp_batchnorm2d_relu_forward_eval(struct rp_tensor *output, const struct rp_tensor *input,
                                           const struct rp_tensor *gamma,
                                           const struct rp_tensor *beta,
                                           const struct rp_tensor *running_mean,
                                           const struct rp_tensor *running_var, float eps)
{
    return forward_eval(output, input, gamma, beta, running_mean, running_var, eps, 1);
}

rp_status rp_batchnorm2d_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_gamma,
                                  struct rp_tensor *grad_beta, const struct rp_tensor *grad_output,
                                  const struct rp_tensor *input, const struct rp_tensor *gamma,
                                  const struct rp_tensor *save_mean,
                                  const struct rp_tensor *save_invstd)
{
    return backward(grad_input, grad_gamma, grad_beta, grad_output, input, gamma, NULL, save_mean,
                    save_invstd);
}

rp_status rp_batchnorm2d_relu_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_gamma,
                                       struct rp_tensor *grad_beta,
                                       const struct rp_tensor *grad_output,
                                       const struct rp_tensor *input, const struct rp_tensor *gamma,
                                       const struct rp_tensor *beta,
                                       const struct rp_tensor *save_mean,
                                       const struct rp_tensor *save_invstd)
{
    if (!beta)
        return rp_error(RP_EINVAL, "batchnorm2d: the ReLU's backward pass needs beta");
    return backward(grad_input, grad_gamma, grad_beta, grad_output, input, gamma, beta, save_mean,
                    save_invstd);
}
