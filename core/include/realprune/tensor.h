/***
 * realprune/tensor.h - contiguous float32 tensors of up to 5 dimensions.
 *
 * A tensor is a handle on reference-counted storage: row-major, contiguous,
 * 0-based in C.  Views (rp_tensor_view, rp_tensor_select) share the storage
 * of their source, so writing through one is seen through the other; the
 * storage is freed when its last handle is freed.
 *
 * Ownership: every function that creates a tensor writes it to its first
 * argument (`struct rp_tensor **out`) and the caller frees it with
 * rp_tensor_free().  Tensor arguments are borrowed.  On failure nothing is
 * allocated, *out is left untouched and rp_last_error() says why.
 *
 *     struct rp_tensor *a, *b, *c;
 *     int64_t shape[2] = {2, 3};
 *     rp_tensor_new(&a, 2, shape);            // zeros
 *     rp_tensor_fill(a, 1.5f);
 *     rp_tensor_view(&b, a, 1, (int64_t[]){6});
 *     rp_tensor_binary(&c, RP_OP_MUL, a, a);   // elementwise, broadcasting
 *     rp_tensor_free(c); rp_tensor_free(b); rp_tensor_free(a);
 *
 * @module core.tensor
 */
#ifndef REALPRUNE_TENSOR_H
#define REALPRUNE_TENSOR_H

#include <stddef.h>
#include <stdint.h>

#include "realprune/rng.h"
#include "realprune/status.h"

#define RP_MAX_DIMS 5
/* No tensor may hold more elements than this (2^36 floats = 256 GiB). */
#define RP_MAX_NUMEL ((int64_t)1 << 36)

struct rp_storage;

struct rp_tensor {
    struct rp_storage *storage;
    float *data;                /* first element (storage data + offset) */
    int ndim;                   /* 0 .. RP_MAX_DIMS */
    int64_t shape[RP_MAX_DIMS]; /* sizes; unused entries are 1 */
    int64_t numel;
};

enum rp_binop { RP_OP_ADD, RP_OP_SUB, RP_OP_MUL, RP_OP_DIV };

/*** Construction and lifetime.
 * @function rp_tensor_new */
rp_status rp_tensor_new(struct rp_tensor **out, int ndim, const int64_t *shape);
rp_status rp_tensor_view(struct rp_tensor **out, const struct rp_tensor *t, int ndim,
                         const int64_t *shape);
/*** View of t[i] along the first dimension (0-based).
 * @function rp_tensor_select */
rp_status rp_tensor_select(struct rp_tensor **out, const struct rp_tensor *t, int64_t i);
rp_status rp_tensor_clone(struct rp_tensor **out, const struct rp_tensor *t);
void rp_tensor_free(struct rp_tensor *t);
/*** Checks a shape: 0 <= ndim <= RP_MAX_DIMS, sizes >= 0, numel bounded.
 * @function rp_shape_check */
rp_status rp_shape_check(int ndim, const int64_t *shape, int64_t *numel);
/*** "2x3x4" (a scalar tensor prints as "scalar"); returns buf.
 * @function rp_shape_string */
const char *rp_shape_string(char *buf, size_t size, int ndim, const int64_t *shape);
int rp_tensor_same_shape(const struct rp_tensor *a, const struct rp_tensor *b);

/*** Filling and copying (in place).
 * @function rp_tensor_fill */
void rp_tensor_fill(struct rp_tensor *t, float v);
void rp_tensor_arange(struct rp_tensor *t, double start, double step);
void rp_tensor_fill_uniform(struct rp_tensor *t, struct rp_rng *g, float lo, float hi);
void rp_tensor_fill_normal(struct rp_tensor *t, struct rp_rng *g, float mean, float std);
rp_status rp_tensor_copy(struct rp_tensor *dst, const struct rp_tensor *src);

/*** Elementwise. `out` gets the broadcast shape of a and b (NumPy rules:
 * shapes aligned on the right, a size 1 stretches).
 * @function rp_broadcast_shape */
rp_status rp_broadcast_shape(int *ndim, int64_t *shape, const struct rp_tensor *a,
                             const struct rp_tensor *b);
rp_status rp_tensor_binary(struct rp_tensor **out, enum rp_binop op, const struct rp_tensor *a,
                           const struct rp_tensor *b);
/*** a = a op b, with b broadcast to a's shape.
 * @function rp_tensor_binary_ */
rp_status rp_tensor_binary_(struct rp_tensor *a, enum rp_binop op, const struct rp_tensor *b);
/*** t = t op s, or t = s op t when `reversed`.
 * @function rp_tensor_scalar_ */
void rp_tensor_scalar_(struct rp_tensor *t, enum rp_binop op, float s, int reversed);
void rp_tensor_abs_(struct rp_tensor *t);

/*** Whole-tensor reductions, accumulated in double.
 * @function rp_tensor_sum */
double rp_tensor_sum(const struct rp_tensor *t);
rp_status rp_tensor_min(double *out, const struct rp_tensor *t);
rp_status rp_tensor_max(double *out, const struct rp_tensor *t);
/*** p-norm: p = 1, 2, any p > 0, or INFINITY.
 * @function rp_tensor_norm */
rp_status rp_tensor_norm(double *out, const struct rp_tensor *t, double p);
int64_t rp_tensor_count_nonzero(const struct rp_tensor *t);
/*** Number of NaN or infinite elements.
 * @function rp_tensor_count_nonfinite */
int64_t rp_tensor_count_nonfinite(const struct rp_tensor *t);
/*** Flat 0-based index of the first maximum.
 * @function rp_tensor_argmax */
rp_status rp_tensor_argmax(int64_t *out, const struct rp_tensor *t);

/* Reductions along dimension `dim` (0-based); the dimension is removed. */
rp_status rp_tensor_sum_dim(struct rp_tensor **out, const struct rp_tensor *t, int dim);
/* 0-based indices of the maxima along `dim`, stored as floats. */
rp_status rp_tensor_argmax_dim(struct rp_tensor **out, const struct rp_tensor *t, int dim);

/* Matrix product of 2-D a [m,k] and 2-D b [k,n] (or 1-D b [k] -> [m]). */
rp_status rp_tensor_matmul(struct rp_tensor **out, const struct rp_tensor *a,
                           const struct rp_tensor *b);

#endif
