/* optim.c - SGD (momentum, Nesterov, weight decay) and Adam updates. */
#include <math.h>
#include <string.h>

#include "kernel.h"
#include "realprune/optim.h"

struct rp_sgd_params rp_sgd_params_default(void)
{
    struct rp_sgd_params p = {1e-3f, 0.0f, 0.0f, 0};
    return p;
}

struct rp_adam_params rp_adam_params_default(void)
{
    struct rp_adam_params p = {1e-3f, 0.9f, 0.999f, 1e-8f, 0.0f, 1};
    return p;
}

static rp_status check(const char *fn, const struct rp_tensor *w, const struct rp_tensor *t,
                       const char *what)
{
    char a[64], b[64];
    if (t && !rp_tensor_same_shape(w, t))
        return rp_error(RP_ESHAPE, "%s: %s %s does not match the parameter %s", fn, what,
                        rp_shape_string(a, sizeof a, t->ndim, t->shape),
                        rp_shape_string(b, sizeof b, w->ndim, w->shape));
    return RP_OK;
}

/* SGD with momentum on n values: b = mom b + (d + wd x), x -= lr b; masked:
 * the same where the mask is not 0, and x and b kept where it is (a select,
 * not a branch, so that the loop runs in vector lanes; the arithmetic of the
 * other entries is the general loop's, so the bits are its). */
RP_VECTOR_CLONES static void sgd_momentum(float *restrict x, float *restrict b,
                                          const float *restrict d, int64_t n, float lr, float mom,
                                          float wd)
{
    for (int64_t i = 0; i < n; i++) {
        float nb = mom * b[i] + (d[i] + wd * x[i]);
        b[i] = nb;
        x[i] -= lr * nb;
    }
}

RP_VECTOR_CLONES static void sgd_momentum_masked(float *restrict x, float *restrict b,
                                                 const float *restrict d, const float *restrict mk,
                                                 int64_t n, float lr, float mom, float wd)
{
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) { /* eight lanes of the loop below */
        rp_vf8 xi, bi, di, mi;
        memcpy(&xi, x + i, sizeof xi);
        memcpy(&bi, b + i, sizeof bi);
        memcpy(&di, d + i, sizeof di);
        memcpy(&mi, mk + i, sizeof mi);
        rp_vf8 nb = mom * bi + (di + wd * xi);
        rp_vf8 nx = xi - lr * nb;
        rp_vi8 on = mi != 0.0f;
        nb = RP_SELECT8(on, nb, bi);
        nx = RP_SELECT8(on, nx, xi);
        memcpy(b + i, &nb, sizeof nb);
        memcpy(x + i, &nx, sizeof nx);
    }
    for (; i < n; i++) {
        if (mk[i] == 0.0f)
            continue;
        float nb = mom * b[i] + (d[i] + wd * x[i]);
        b[i] = nb;
        x[i] -= lr * nb;
    }
}

rp_status rp_sgd_step(struct rp_tensor *w, const struct rp_tensor *g, struct rp_tensor *buf,
                      const struct rp_tensor *mask, const struct rp_sgd_params *p)
{
    rp_status st;
    if ((st = check("sgd", w, g, "gradient")) != RP_OK ||
        (st = check("sgd", w, buf, "momentum buffer")) != RP_OK ||
        (st = check("sgd", w, mask, "mask")) != RP_OK)
        return st;
    if (p->momentum != 0.0f && !buf)
        return rp_error(RP_EINVAL, "sgd: momentum needs a buffer");
    float lr = p->lr, mom = p->momentum, wd = p->weight_decay;
    float *x = w->data, *b = buf ? buf->data : NULL;
    const float *d = g->data, *mk = mask ? mask->data : NULL;
    int64_t n = w->numel;
    if (b && !p->nesterov) { /* the common case, in vector lanes */
        const int64_t piece = 1 << 14;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
        for (int64_t q = 0; q < (n + piece - 1) / piece; q++) {
            int64_t i0 = q * piece, i1 = i0 + piece < n ? i0 + piece : n;
            if (mk)
                sgd_momentum_masked(x + i0, b + i0, d + i0, mk + i0, i1 - i0, lr, mom, wd);
            else
                sgd_momentum(x + i0, b + i0, d + i0, i1 - i0, lr, mom, wd);
        }
        return RP_OK;
    }
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) {
        if (mk && mk[i] == 0.0f)
            continue;
        float dp = d[i] + wd * x[i];
        if (b) {
            b[i] = mom * b[i] + dp;
            dp = p->nesterov ? dp + mom * b[i] : b[i];
        }
        x[i] -= lr * dp;
    }
    return RP_OK;
}

rp_status rp_adam_step(struct rp_tensor *w, const struct rp_tensor *g, struct rp_tensor *m,
                       struct rp_tensor *v, const struct rp_tensor *mask,
                       const struct rp_adam_params *p)
{
    rp_status st;
    if ((st = check("adam", w, g, "gradient")) != RP_OK ||
        (st = check("adam", w, m, "first moment")) != RP_OK ||
        (st = check("adam", w, v, "second moment")) != RP_OK ||
        (st = check("adam", w, mask, "mask")) != RP_OK)
        return st;
    if (p->step < 1)
        return rp_error(RP_EINVAL, "adam: step must be >= 1, got %lld", (long long)p->step);
    double bc1 = 1.0 - pow(p->beta1, (double)p->step), bc2 = 1.0 - pow(p->beta2, (double)p->step);
    float step_size = (float)(p->lr / bc1), root_bc2 = (float)sqrt(bc2);
    float b1 = p->beta1, b2 = p->beta2, wd = p->weight_decay, eps = p->eps;
    float *x = w->data, *mm = m->data, *vv = v->data;
    const float *d = g->data, *mk = mask ? mask->data : NULL;
    int64_t n = w->numel;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) {
        if (mk && mk[i] == 0.0f)
            continue;
        float dp = d[i] + wd * x[i];
        mm[i] = b1 * mm[i] + (1.0f - b1) * dp;
        vv[i] = b2 * vv[i] + (1.0f - b2) * dp * dp;
        x[i] -= step_size * mm[i] / (sqrtf(vv[i]) / root_bc2 + eps);
    }
    return RP_OK;
}
