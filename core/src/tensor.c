/* tensor.c - float32 tensors: storage, views, elementwise ops, reductions. */
#define _DEFAULT_SOURCE /* madvise(MADV_HUGEPAGE) */
#include "realprune/tensor.h"
#include <sys/mman.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "realprune/blas.h"

struct rp_storage {
    float *data;
    int64_t size;
    int refs; /* handles sharing this storage; not thread-safe by design */
};

/* ---- shapes -------------------------------------------------------------- */

rp_status rp_shape_check(int ndim, const int64_t *shape, int64_t *numel)
{
    if (ndim < 0 || ndim > RP_MAX_DIMS)
        return rp_error(RP_EINVAL, "a tensor has 0 to %d dimensions, got %d", RP_MAX_DIMS, ndim);
    /* The product of the non-zero sizes is bounded too, so that strides and
     * loop counts stay small even when another size is 0. */
    int64_t n = 1, nz = 1;
    for (int d = 0; d < ndim; d++) {
        if (shape[d] < 0)
            return rp_error(RP_EINVAL, "size of dimension %d must be non-negative, got %lld", d + 1,
                            (long long)shape[d]);
        if (shape[d] > 0 && nz > RP_MAX_NUMEL / shape[d])
            return rp_error(RP_ENOMEM, "shape is too large (more than 2^36 elements)");
        if (shape[d] > 0)
            nz *= shape[d];
        n *= shape[d];
    }
    if (numel)
        *numel = n;
    return RP_OK;
}

const char *rp_shape_string(char *buf, size_t size, int ndim, const int64_t *shape)
{
    if (size == 0)
        return buf;
    buf[0] = '\0';
    if (ndim == 0) {
        snprintf(buf, size, "scalar");
        return buf;
    }
    size_t used = 0;
    for (int d = 0; d < ndim && used < size; d++) {
        int w = snprintf(buf + used, size - used, d ? "x%lld" : "%lld", (long long)shape[d]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

int rp_tensor_same_shape(const struct rp_tensor *a, const struct rp_tensor *b)
{
    if (a->ndim != b->ndim)
        return 0;
    for (int d = 0; d < a->ndim; d++)
        if (a->shape[d] != b->shape[d])
            return 0;
    return 1;
}

/* ---- lifetime ------------------------------------------------------------ */

static struct rp_tensor *handle_new(struct rp_storage *s, float *data, int ndim,
                                    const int64_t *shape, int64_t numel)
{
    struct rp_tensor *t = malloc(sizeof *t);
    if (!t)
        return NULL;
    t->storage = s;
    t->data = data;
    t->ndim = ndim;
    for (int d = 0; d < RP_MAX_DIMS; d++)
        t->shape[d] = d < ndim ? shape[d] : 1;
    t->numel = numel;
    return t;
}

#define HUGE_PAGE ((size_t)2 << 20)
#define HUGE_FROM ((size_t)8 << 20)

/* A new tensor; its elements are zeroed only if `zero` (callers that write
 * every element skip the extra pass). */
static rp_status tensor_alloc(struct rp_tensor **out, int ndim, const int64_t *shape, int zero)
{
    int64_t numel;
    rp_status st = rp_shape_check(ndim, shape, &numel);
    if (st != RP_OK)
        return st;
    size_t bytes = ((size_t)(numel > 0 ? numel : 1) * sizeof(float) + 63) & ~(size_t)63;
    struct rp_storage *s = malloc(sizeof *s);
    float *data = NULL;
    if (s && bytes >= HUGE_FROM) {
        /* whole 2 MB pages, offered to the kernel as huge pages: the layer
         * kernels' strided passes over activations and workspaces miss the
         * TLB far less */
        bytes = (bytes + HUGE_PAGE - 1) & ~(size_t)(HUGE_PAGE - 1);
        data = aligned_alloc(HUGE_PAGE, bytes);
#ifdef MADV_HUGEPAGE
        if (data)
            madvise(data, bytes, MADV_HUGEPAGE);
#endif
    } else if (s) {
        data = aligned_alloc(64, bytes);
    }
    struct rp_tensor *t = data ? handle_new(s, data, ndim, shape, numel) : NULL;
    if (!t) {
        free(data);
        free(s);
        char buf[64];
        return rp_error(RP_ENOMEM, "out of memory allocating a %s tensor (%zu bytes)",
                        rp_shape_string(buf, sizeof buf, ndim, shape), bytes);
    }
    if (zero)
        memset(data, 0, bytes);
    s->data = data;
    s->size = numel;
    s->refs = 1;
    *out = t;
    return RP_OK;
}

rp_status rp_tensor_new(struct rp_tensor **out, int ndim, const int64_t *shape)
{
    return tensor_alloc(out, ndim, shape, 1);
}

void rp_tensor_free(struct rp_tensor *t)
{
    if (!t)
        return;
    if (--t->storage->refs == 0) {
        free(t->storage->data);
        free(t->storage);
    }
    free(t);
}

static rp_status share(struct rp_tensor **out, const struct rp_tensor *t, float *data, int ndim,
                       const int64_t *shape, int64_t numel)
{
    struct rp_tensor *v = handle_new(t->storage, data, ndim, shape, numel);
    if (!v)
        return rp_error(RP_ENOMEM, "out of memory allocating a tensor view");
    t->storage->refs++;
    *out = v;
    return RP_OK;
}

rp_status rp_tensor_view(struct rp_tensor **out, const struct rp_tensor *t, int ndim,
                         const int64_t *shape)
{
    int64_t resolved[RP_MAX_DIMS];
    if (ndim < 0 || ndim > RP_MAX_DIMS)
        return rp_error(RP_EINVAL, "a tensor has 0 to %d dimensions, got %d", RP_MAX_DIMS, ndim);
    int infer = -1;
    int64_t known = 1;
    for (int d = 0; d < ndim; d++) {
        resolved[d] = shape[d];
        if (shape[d] == -1 && infer < 0) {
            infer = d;
            continue;
        }
        if (shape[d] < 0)
            return rp_error(RP_EINVAL,
                            "size of dimension %d must be non-negative (or one -1), got %lld",
                            d + 1, (long long)shape[d]);
        if (shape[d] > 0 && known > RP_MAX_NUMEL / shape[d])
            return rp_error(RP_ENOMEM, "shape is too large (more than 2^36 elements)");
        known *= shape[d];
    }
    if (infer >= 0) {
        if (known == 0 || t->numel % known != 0) {
            char from[64];
            return rp_error(RP_ESHAPE,
                            "cannot infer the -1 size: %lld elements of %s do not "
                            "divide into rows of %lld",
                            (long long)t->numel,
                            rp_shape_string(from, sizeof from, t->ndim, t->shape),
                            (long long)known);
        }
        resolved[infer] = t->numel / known;
        known = t->numel;
    }
    if (known != t->numel) {
        char from[64], to[64];
        return rp_error(RP_ESHAPE, "cannot reshape %s (%lld elements) to %s (%lld elements)",
                        rp_shape_string(from, sizeof from, t->ndim, t->shape), (long long)t->numel,
                        rp_shape_string(to, sizeof to, ndim, resolved), (long long)known);
    }
    return share(out, t, t->data, ndim, resolved, known);
}

rp_status rp_tensor_select(struct rp_tensor **out, const struct rp_tensor *t, int64_t i)
{
    if (t->ndim < 1)
        return rp_error(RP_ESHAPE, "cannot index a scalar tensor");
    if (i < 0 || i >= t->shape[0])
        return rp_error(RP_ERANGE, "index %lld is out of range 1..%lld", (long long)i + 1,
                        (long long)t->shape[0]);
    int64_t row = t->shape[0] ? t->numel / t->shape[0] : 0;
    return share(out, t, t->data + i * row, t->ndim - 1, t->shape + 1, row);
}

rp_status rp_tensor_clone(struct rp_tensor **out, const struct rp_tensor *t)
{
    struct rp_tensor *c = NULL;
    rp_status st = tensor_alloc(&c, t->ndim, t->shape, 0);
    if (st != RP_OK)
        return st;
    memcpy(c->data, t->data, (size_t)t->numel * sizeof(float));
    *out = c;
    return RP_OK;
}

/* ---- filling ------------------------------------------------------------- */

void rp_tensor_fill(struct rp_tensor *t, float v)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = v;
}

void rp_tensor_arange(struct rp_tensor *t, double start, double step)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = (float)(start + (double)i * step);
}

void rp_tensor_fill_uniform(struct rp_tensor *t, struct rp_rng *g, float lo, float hi)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = lo + (hi - lo) * rp_rng_uniformf(g);
}

void rp_tensor_fill_normal(struct rp_tensor *t, struct rp_rng *g, float mean, float std)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = mean + std * (float)rp_rng_normal(g);
}

/* ---- elementwise --------------------------------------------------------- */

#define OP_SECOND 100 /* internal: out = b (broadcast copy) */

rp_status rp_broadcast_shape(int *ndim, int64_t *shape, const struct rp_tensor *a,
                             const struct rp_tensor *b)
{
    int n = a->ndim > b->ndim ? a->ndim : b->ndim;
    for (int d = 0; d < n; d++) {
        int da = d - (n - a->ndim), db = d - (n - b->ndim);
        int64_t sa = da >= 0 ? a->shape[da] : 1, sb = db >= 0 ? b->shape[db] : 1;
        if (sa != sb && sa != 1 && sb != 1) {
            char x[64], y[64];
            return rp_error(RP_ESHAPE,
                            "shapes %s and %s cannot be broadcast together "
                            "(dimension %d: %lld vs %lld)",
                            rp_shape_string(x, sizeof x, a->ndim, a->shape),
                            rp_shape_string(y, sizeof y, b->ndim, b->shape), d + 1, (long long)sa,
                            (long long)sb);
        }
        shape[d] = sa == 1 ? sb : sa;
    }
    *ndim = n;
    return RP_OK;
}

static void apply_row(int op, float *o, const float *a, int64_t sa, const float *b, int64_t sb,
                      int64_t n)
{
    switch (op) {
    case RP_OP_ADD:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] + b[i * sb];
        break;
    case RP_OP_SUB:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] - b[i * sb];
        break;
    case RP_OP_MUL:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] * b[i * sb];
        break;
    case RP_OP_DIV:
        for (int64_t i = 0; i < n; i++)
            o[i] = a[i * sa] / b[i * sb];
        break;
    default:
        for (int64_t i = 0; i < n; i++)
            o[i] = b[i * sb];
        break;
    }
}

/* Strides (in elements) of t seen in an n-dimensional broadcast shape, padded
 * on the left to RP_MAX_DIMS; broadcast dimensions get stride 0. */
static void broadcast_strides(int64_t *st, const struct rp_tensor *t, int n, const int64_t *shape)
{
    int64_t stride = 1;
    for (int d = RP_MAX_DIMS - 1; d >= 0; d--) {
        int od = d - (RP_MAX_DIMS - n); /* dimension in the output */
        int td = od - (n - t->ndim);    /* dimension in t */
        if (od < 0 || td < 0) {
            st[d] = 0;
            continue;
        }
        st[d] = (t->shape[td] == 1 && shape[od] != 1) ? 0 : stride;
        stride *= t->shape[td];
    }
}

/* out (contiguous, shape `shape`) = a op b with broadcasting. */
static void apply_broadcast(int op, float *out, int n, const int64_t *shape,
                            const struct rp_tensor *a, const struct rp_tensor *b)
{
    int64_t sz[RP_MAX_DIMS], sa[RP_MAX_DIMS], sb[RP_MAX_DIMS];
    for (int d = 0; d < RP_MAX_DIMS; d++) {
        int od = d - (RP_MAX_DIMS - n);
        sz[d] = od >= 0 ? shape[od] : 1;
    }
    broadcast_strides(sa, a, n, shape);
    broadcast_strides(sb, b, n, shape);
    float *o = out;
    for (int64_t i0 = 0; i0 < sz[0]; i0++)
        for (int64_t i1 = 0; i1 < sz[1]; i1++)
            for (int64_t i2 = 0; i2 < sz[2]; i2++)
                for (int64_t i3 = 0; i3 < sz[3]; i3++) {
                    int64_t oa = i0 * sa[0] + i1 * sa[1] + i2 * sa[2] + i3 * sa[3];
                    int64_t ob = i0 * sb[0] + i1 * sb[1] + i2 * sb[2] + i3 * sb[3];
                    apply_row(op, o, a->data + oa, sa[4], b->data + ob, sb[4], sz[4]);
                    o += sz[4];
                }
}

rp_status rp_tensor_binary(struct rp_tensor **out, enum rp_binop op, const struct rp_tensor *a,
                           const struct rp_tensor *b)
{
    int n;
    int64_t shape[RP_MAX_DIMS];
    rp_status st = rp_broadcast_shape(&n, shape, a, b);
    if (st != RP_OK)
        return st;
    struct rp_tensor *o = NULL;
    if ((st = tensor_alloc(&o, n, shape, 0)) != RP_OK)
        return st;
    if (rp_tensor_same_shape(a, b))
        apply_row(op, o->data, a->data, 1, b->data, 1, o->numel);
    else
        apply_broadcast(op, o->data, n, shape, a, b);
    *out = o;
    return RP_OK;
}

static rp_status binary_inplace(struct rp_tensor *a, int op, const struct rp_tensor *b)
{
    int n;
    int64_t shape[RP_MAX_DIMS];
    rp_status st = rp_broadcast_shape(&n, shape, a, b);
    if (st != RP_OK)
        return st;
    if (n != a->ndim || memcmp(shape, a->shape, sizeof(int64_t) * (size_t)n) != 0) {
        char x[64], y[64];
        return rp_error(RP_ESHAPE, "shape %s cannot be broadcast to %s",
                        rp_shape_string(x, sizeof x, b->ndim, b->shape),
                        rp_shape_string(y, sizeof y, a->ndim, a->shape));
    }
    if (rp_tensor_same_shape(a, b) && (a->data == b->data || a->storage != b->storage)) {
        apply_row(op, a->data, a->data, 1, b->data, 1, a->numel);
        return RP_OK;
    }
    /* b broadcasts, or overlaps a differently: work from a private copy. */
    struct rp_tensor *bc = NULL;
    if (a->storage == b->storage && (st = rp_tensor_clone(&bc, b)) != RP_OK)
        return st;
    apply_broadcast(op, a->data, n, shape, a, bc ? bc : b);
    rp_tensor_free(bc);
    return RP_OK;
}

rp_status rp_tensor_binary_(struct rp_tensor *a, enum rp_binop op, const struct rp_tensor *b)
{
    return binary_inplace(a, (int)op, b);
}

rp_status rp_tensor_copy(struct rp_tensor *dst, const struct rp_tensor *src)
{
    return binary_inplace(dst, OP_SECOND, src);
}

void rp_tensor_scalar_(struct rp_tensor *t, enum rp_binop op, float s, int reversed)
{
    float *x = t->data;
    int64_t n = t->numel;
    switch (op) {
    case RP_OP_ADD:
        for (int64_t i = 0; i < n; i++)
            x[i] += s;
        break;
    case RP_OP_SUB:
        if (reversed)
            for (int64_t i = 0; i < n; i++)
                x[i] = s - x[i];
        else
            for (int64_t i = 0; i < n; i++)
                x[i] -= s;
        break;
    case RP_OP_MUL:
        for (int64_t i = 0; i < n; i++)
            x[i] *= s;
        break;
    case RP_OP_DIV:
        if (reversed)
            for (int64_t i = 0; i < n; i++)
                x[i] = s / x[i];
        else
            for (int64_t i = 0; i < n; i++)
                x[i] /= s;
        break;
    }
}

void rp_tensor_abs_(struct rp_tensor *t)
{
    for (int64_t i = 0; i < t->numel; i++)
        t->data[i] = fabsf(t->data[i]);
}

/* ---- reductions ---------------------------------------------------------- */

double rp_tensor_sum(const struct rp_tensor *t)
{
    double s = 0.0;
    for (int64_t i = 0; i < t->numel; i++)
        s += t->data[i];
    return s;
}

static rp_status extreme(double *out, const struct rp_tensor *t, int want_max, const char *what)
{
    if (t->numel == 0)
        return rp_error(RP_EINVAL, "%s of an empty tensor", what);
    float best = t->data[0];
    for (int64_t i = 1; i < t->numel; i++) {
        float x = t->data[i];
        if (isnan(x)) {
            best = x;
            break;
        }
        if (want_max ? x > best : x < best)
            best = x;
    }
    *out = best;
    return RP_OK;
}

rp_status rp_tensor_min(double *out, const struct rp_tensor *t)
{
    return extreme(out, t, 0, "min");
}

rp_status rp_tensor_max(double *out, const struct rp_tensor *t)
{
    return extreme(out, t, 1, "max");
}

rp_status rp_tensor_norm(double *out, const struct rp_tensor *t, double p)
{
    const float *x = t->data;
    double s = 0.0;
    if (!(p > 0.0))
        return rp_error(RP_EINVAL, "norm order p must be positive, got %g", p);
    if (isinf(p)) {
        for (int64_t i = 0; i < t->numel; i++)
            s = fmax(s, fabs((double)x[i]));
    } else if (p == 1.0) {
        for (int64_t i = 0; i < t->numel; i++)
            s += fabs((double)x[i]);
    } else if (p == 2.0) {
        for (int64_t i = 0; i < t->numel; i++)
            s += (double)x[i] * x[i];
        s = sqrt(s);
    } else {
        for (int64_t i = 0; i < t->numel; i++)
            s += pow(fabs((double)x[i]), p);
        s = pow(s, 1.0 / p);
    }
    *out = s;
    return RP_OK;
}

int64_t rp_tensor_count_nonfinite(const struct rp_tensor *t)
{
    int64_t n = 0;
    for (int64_t i = 0; i < t->numel; i++)
        n += !isfinite(t->data[i]);
    return n;
}

int64_t rp_tensor_count_nonzero(const struct rp_tensor *t)
{
    int64_t n = 0;
    for (int64_t i = 0; i < t->numel; i++)
        n += t->data[i] != 0.0f;
    return n;
}

rp_status rp_tensor_argmax(int64_t *out, const struct rp_tensor *t)
{
    if (t->numel == 0)
        return rp_error(RP_EINVAL, "argmax of an empty tensor");
    /* the first NaN counts as the maximum, as in rp_tensor_max */
    int64_t best = 0;
    for (int64_t i = 0; i < t->numel && !isnan(t->data[best]); i++)
        if (t->data[i] > t->data[best] || isnan(t->data[i]))
            best = i;
    *out = best;
    return RP_OK;
}

/* Splits t around `dim`: outer x n x inner, and the shape without `dim`. */
static rp_status split_dim(const struct rp_tensor *t, int dim, int64_t *outer, int64_t *n,
                           int64_t *inner, int64_t *shape)
{
    if (dim < 0 || dim >= t->ndim)
        return rp_error(RP_ERANGE, "dimension %d is out of range 1..%d", dim + 1, t->ndim);
    *outer = 1;
    *inner = 1;
    for (int d = 0; d < t->ndim; d++) {
        if (d < dim)
            *outer *= t->shape[d];
        else if (d > dim)
            *inner *= t->shape[d];
        if (d != dim)
            *shape++ = t->shape[d];
    }
    *n = t->shape[dim];
    return RP_OK;
}

rp_status rp_tensor_sum_dim(struct rp_tensor **out, const struct rp_tensor *t, int dim)
{
    int64_t outer = 0, n = 0, inner = 0, shape[RP_MAX_DIMS];
    struct rp_tensor *o = NULL;
    rp_status st = split_dim(t, dim, &outer, &n, &inner, shape);
    if (st != RP_OK)
        return st;
    if (t->numel == 0) /* nothing to add: zeros (or an empty result) */
        return rp_tensor_new(out, t->ndim - 1, shape);
    /* rows of `inner` contiguous values are added into a double accumulator */
    double *acc = malloc(sizeof(double) * (size_t)(inner > 0 ? inner : 1));
    if (!acc)
        return rp_error(RP_ENOMEM, "out of memory summing along dimension %d", dim + 1);
    if ((st = rp_tensor_new(&o, t->ndim - 1, shape)) != RP_OK) {
        free(acc);
        return st;
    }
    for (int64_t a = 0; a < outer; a++) {
        for (int64_t c = 0; c < inner; c++)
            acc[c] = 0.0;
        for (int64_t i = 0; i < n; i++) {
            const float *x = t->data + (a * n + i) * inner;
            for (int64_t c = 0; c < inner; c++)
                acc[c] += x[c];
        }
        for (int64_t c = 0; c < inner; c++)
            o->data[a * inner + c] = (float)acc[c];
    }
    free(acc);
    *out = o;
    return RP_OK;
}

rp_status rp_tensor_argmax_dim(struct rp_tensor **out, const struct rp_tensor *t, int dim)
{
    int64_t outer = 0, n = 0, inner = 0, shape[RP_MAX_DIMS];
    struct rp_tensor *o = NULL;
    rp_status st = split_dim(t, dim, &outer, &n, &inner, shape);
    if (st != RP_OK)
        return st;
    if (n == 0)
        return rp_error(RP_EINVAL, "argmax along an empty dimension %d", dim + 1);
    if ((st = rp_tensor_new(&o, t->ndim - 1, shape)) != RP_OK)
        return st;
    for (int64_t a = 0; a < outer; a++)
        for (int64_t c = 0; c < inner; c++) {
            const float *x = t->data + a * n * inner + c;
            int64_t best = 0;
            for (int64_t i = 1; i < n && !isnan(x[best * inner]); i++)
                if (x[i * inner] > x[best * inner] || isnan(x[i * inner]))
                    best = i;
            o->data[a * inner + c] = (float)best;
        }
    *out = o;
    return RP_OK;
}

/* ---- matmul -------------------------------------------------------------- */

rp_status rp_tensor_matmul(struct rp_tensor **out, const struct rp_tensor *a,
                           const struct rp_tensor *b)
{
    char x[64], y[64];
    if (a->ndim < 1 || a->ndim > 2 || b->ndim < 1 || b->ndim > 2 || (a->ndim == 1 && b->ndim == 1))
        return rp_error(RP_ESHAPE, "matmul needs a 2-D and a 1-D or 2-D operand, got %s and %s",
                        rp_shape_string(x, sizeof x, a->ndim, a->shape),
                        rp_shape_string(y, sizeof y, b->ndim, b->shape));
    int64_t m = a->ndim == 2 ? a->shape[0] : 1, k = a->shape[a->ndim - 1];
    int64_t kb = b->shape[0], n = b->ndim == 2 ? b->shape[1] : 1;
    if (k != kb)
        return rp_error(RP_ESHAPE, "matmul of %s and %s: inner sizes %lld and %lld differ",
                        rp_shape_string(x, sizeof x, a->ndim, a->shape),
                        rp_shape_string(y, sizeof y, b->ndim, b->shape), (long long)k,
                        (long long)kb);
    if (m > INT_MAX || n > INT_MAX || k > INT_MAX)
        return rp_error(RP_EINVAL, "matmul sizes above 2^31 are not supported");
    int64_t shape[2];
    int nd = 0;
    if (a->ndim == 2)
        shape[nd++] = m;
    if (b->ndim == 2)
        shape[nd++] = n;
    struct rp_tensor *o = NULL;
    rp_status st = rp_tensor_new(&o, nd, shape);
    if (st != RP_OK)
        return st;
    rp_gemm(0, 0, m, n, k, 1.0f, a->data, k, b->data, n, 0.0f, o->data, n);
    *out = o;
    return RP_OK;
}
