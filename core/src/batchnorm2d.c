/* batchnorm2d.c - batch normalization over (N, H, W) for each channel,
 * with PyTorch's semantics (biased variance to normalize, unbiased variance
 * in the running estimate, running = (1 - momentum) running + momentum batch). */
#include <math.h>
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

RP_WIDE_CLONES static void sums_shifted(const float *x, int64_t n, double shift, double s1[LANES],
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
    return t > 0.0f ? dy : 0.0f;
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

RP_WIDE_CLONES static void sums_dy(const float *dy, const float *x, int64_t n, float mean,
                                   float invstd, int relu, float g, float b0, double a[LANES],
                                   double b[LANES])
{
    if (relu)
        sums_dy_of(dy, x, n, mean, invstd, 1, g, b0, a, b);
    else
        sums_dy_of(dy, x, n, mean, invstd, 0, g, b0, a, b);
}

/* y = x * g + b, or its ReLU */
RP_WIDE_CLONES static void normalize(float *y, const float *x, int64_t n, float g, float b,
                                     int relu)
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
    for (int64_t i = 0; i < n; i++) {
        float xhat = (x[i] - mean) * invstd;
        dx[i] = k * (relu_passed(dy[i], x[i], relu, rg, rb) - a - xhat * b);
    }
}

RP_WIDE_CLONES static void grad_row(float *dx, const float *dy, const float *x, int64_t n,
                                    float mean, float invstd, float k, float a, float b, int relu,
                                    float rg, float rb)
{
    if (relu)
        grad_row_of(dx, dy, x, n, mean, invstd, k, a, b, 1, rg, rb);
    else
        grad_row_of(dx, dy, x, n, mean, invstd, k, a, b, 0, rg, rb);
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
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15))
    for (int64_t c = 0; c < C; c++) {
        /* one pass: sums of x - shift and its square, the shift (the channel's
         * first value) keeping the squares' difference from cancelling */
        double s1[LANES] = {0}, s2[LANES] = {0};
        const double shift = input->data[c * HW];
        for (int64_t n = 0; n < N; n++)
            sums_shifted(input->data + (n * C + c) * HW, HW, shift, s1, s2);
        double d1 = lanes_total(s1) / (double)M;
        double ss = lanes_total(s2) - d1 * d1 * (double)M;
        if (ss < 0.0)
            ss = 0.0;
        double mean = shift + d1, var = ss / (double)M;
        float invstd = (float)(1.0 / sqrt(var + eps));
        float g = gamma->data[c] * invstd, b = beta->data[c] - (float)mean * g;
        for (int64_t n = 0; n < N; n++)
            normalize(output->data + (n * C + c) * HW, input->data + (n * C + c) * HW, HW, g, b,
                      relu);
        save_mean->data[c] = (float)mean;
        save_invstd->data[c] = invstd;
        running_mean->data[c] = (1.0f - momentum) * running_mean->data[c] + momentum * (float)mean;
        running_var->data[c] =
            (1.0f - momentum) * running_var->data[c] + momentum * (float)(ss / (double)(M - 1));
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
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15))
    for (int64_t c = 0; c < C; c++) {
        float invstd = (float)(1.0 / sqrt((double)running_var->data[c] + eps));
        float g = gamma->data[c] * invstd, b = beta->data[c] - running_mean->data[c] * g;
        for (int64_t n = 0; n < N; n++)
            normalize(output->data + (n * C + c) * HW, input->data + (n * C + c) * HW, HW, g, b,
                      relu);
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
#pragma omp parallel for schedule(static) if (N * C * HW > (1 << 15))
    for (int64_t c = 0; c < C; c++) {
        float mean = save_mean->data[c], invstd = save_invstd->data[c];
        /* the forward pass's scale and shift, for the ReLU's mask */
        float rg = relu ? gamma->data[c] * invstd : 0.0f;
        float rb = relu ? beta->data[c] - mean * rg : 0.0f;
        double la[LANES] = {0}, lb[LANES] = {0};
        for (int64_t n = 0; n < N; n++)
            sums_dy(grad_output->data + (n * C + c) * HW, input->data + (n * C + c) * HW, HW, mean,
                    invstd, relu, rg, rb, la, lb);
        double sdy = lanes_total(la), sdyx = lanes_total(lb);
        grad_gamma->data[c] += (float)sdyx;
        grad_beta->data[c] += (float)sdy;
        float k = gamma->data[c] * invstd;
        float a = (float)(sdy / M), b = (float)(sdyx / M);
        for (int64_t n = 0; n < N; n++) {
            const float *x = input->data + (n * C + c) * HW;
            const float *dy = grad_output->data + (n * C + c) * HW;
            float *dx = grad_input->data + (n * C + c) * HW;
            grad_row(dx, dy, x, HW, mean, invstd, k, a, b, relu, rg, rb);
        }
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
