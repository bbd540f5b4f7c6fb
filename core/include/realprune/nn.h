/***
 * realprune/nn.h - CNN layer kernels: forward and backward, THNN style.
 *
 * Every kernel works on whole NCHW float32 batches.  Arguments come in the
 * order outputs, inputs, weights, buffers, scalars.  Buffers (im2col columns,
 * pooling indices, batch-norm statistics, dropout noise) belong to the
 * calling module and are reused from batch to batch; kernels never allocate.
 * Shapes are checked and a mismatch returns RP_ESHAPE with a message.
 * Backward kernels for parameters *accumulate* into grad_weight/grad_bias
 * (callers zero them between steps); input gradients are overwritten.
 *
 *     // y = conv(x): x [N,Cin,H,W], w [Cout,Cin,kh,kw], b [Cout] or NULL
 *     struct rp_conv2d_params p = {3, 3, 1, 1, 1, 1};   // kh kw sh sw ph pw
 *     int64_t ys[4];
 *     rp_conv2d_output_shape(ys, x, w, &p);
 *     // workspace: rp_conv2d_workspace_size(x, w, &p, threads) floats
 *     rp_conv2d_forward(y, x, w, b, workspace, &p);
 *
 * @module core.nn
 */
#ifndef REALPRUNE_NN_H
#define REALPRUNE_NN_H

#include "realprune/rng.h"
#include "realprune/tensor.h"

/* ---- Conv2d (im2col + GEMM, or Winograd F(2x2,3x3) + GEMM) ---- */
enum rp_conv2d_algorithm {
    RP_CONV_AUTO = 0,      /* Winograd for 3x3 stride-1 kernels between wide layers, else im2col */
    RP_CONV_IM2COL = 1,    /* any kernel, stride and padding */
    RP_CONV_WINOGRAD = 2,  /* F(2x2, 3x3): 3x3 kernels with stride 1 only */
    RP_CONV_WINOGRAD4 = 3, /* F(4x4, 3x3): the same, fewer multiplications, more rounding */
    RP_CONV_SPARSE = 4     /* compacted im2col on a mask's alive blocks (rp_conv2d_sparse_*) */
};

struct rp_conv2d_params {
    int kh, kw;    /* kernel */
    int sh, sw;    /* stride */
    int ph, pw;    /* zero padding */
    int algorithm; /* enum rp_conv2d_algorithm; 0 (auto) when left out of an initializer */
};

/*** A 1x1 kernel, stride 1, no padding, RP_CONV_AUTO.
 * @function rp_conv2d_params_default */
struct rp_conv2d_params rp_conv2d_params_default(void);
rp_status rp_conv2d_output_shape(int64_t out[4], const struct rp_tensor *input,
                                 const struct rp_tensor *weight, const struct rp_conv2d_params *p);
/*** Floats of workspace (im2col columns, chunk buffers, per-thread weight
 * gradients) that a call with this input and `threads` threads needs.
 * A smaller workspace makes the kernels use fewer threads.
 * @function rp_conv2d_workspace_size */
int64_t rp_conv2d_workspace_size(const struct rp_tensor *input, const struct rp_tensor *weight,
                                 const struct rp_conv2d_params *p, int threads);
rp_status rp_conv2d_forward(struct rp_tensor *output, const struct rp_tensor *input,
                            const struct rp_tensor *weight, const struct rp_tensor *bias,
                            struct rp_tensor *workspace, const struct rp_conv2d_params *p);
rp_status rp_conv2d_backward_input(struct rp_tensor *grad_input,
                                   const struct rp_tensor *grad_output,
                                   const struct rp_tensor *weight, struct rp_tensor *workspace,
                                   const struct rp_conv2d_params *p);
/*** grad_weight += scale * dL/dW; grad_bias (may be NULL) += scale * dL/db.
 * @function rp_conv2d_backward_params */
rp_status rp_conv2d_backward_params(struct rp_tensor *grad_weight, struct rp_tensor *grad_bias,
                                    const struct rp_tensor *grad_output,
                                    const struct rp_tensor *input, struct rp_tensor *workspace,
                                    const struct rp_conv2d_params *p, float scale);
/*** Both at once (grad_input may be NULL): the same results as the two calls
 * above, with the output gradient read and transformed once.
 * @function rp_conv2d_backward */
rp_status rp_conv2d_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_weight,
                             struct rp_tensor *grad_bias, const struct rp_tensor *grad_output,
                             const struct rp_tensor *input, const struct rp_tensor *weight,
                             struct rp_tensor *workspace, const struct rp_conv2d_params *p,
                             float scale);

/* ---- Sparse execution (docs/design.md): compacted kernels for a masked
 * weight.  A plan is built once per mask (not per batch) from the mask of M
 * (R rows = cin*kh*kw or in_features, C columns = outputs; (r, c) at c*R + r):
 * blocks of block_rows consecutive rows with their alive rows and outputs.
 * The sparse kernels multiply only those; their results equal the masked
 * dense computation within float rounding. */
struct rp_sparse_plan;

struct rp_sparse_info {
    int64_t R, C, block_rows, blocks;
    int64_t rows_alive; /* rows with an alive weight (summed over blocks) */
    int64_t packed;     /* weights multiplied: sum over blocks of |outputs| x |rows| */
    double macs;        /* multiply-adds per output position, with the outputs' moves */
    double macs_dense;  /* R * C */
    uint64_t hash;      /* rp_mask_hash of the mask the plan was built from */
    int by_output;      /* one block per alive output, its alive rows (block_rows 0) */
    int64_t pairs;      /* alive (output, R/9 input channel) pairs when R % 9 == 0, or -1 */
    int64_t rectangles; /* the rectangles covering them (sparse Winograd), or -1 */
    double pair_macs;   /* their multiply-adds per tile element, with the edges, or -1 */
    int kernel;         /* RP_SPARSE_KERNEL_* */
};

/* Which sparse kernels run a plan on 3x3 stride-1 layers: the cheaper by the
 * cost model (auto), the direct register tiles, or the Winograd products on
 * the mask's alive filter pairs. */
enum rp_sparse_kernel {
    RP_SPARSE_KERNEL_AUTO = 0,
    RP_SPARSE_KERNEL_DIRECT = 1,
    RP_SPARSE_KERNEL_WINOGRAD = 2,
    RP_SPARSE_KERNEL_IM2COL = 3 /* (what runs other strides; not a choice) */
};

/* rp_sparse_plan_new's block_rows: choose among the heights, or among the
 * heights and one block per output (RP_SPARSE_ANY; stride-1 layers only). */
#define RP_SPARSE_CHOOSE 0
#define RP_SPARSE_ANY    (-1)

/*** A plan for `mask` (R*C floats, nonzero = alive); block_rows 0 picks the
 * block height with the fewest multiply-adds among 16..512 and R;
 * RP_SPARSE_ANY also weighs one block per alive output holding just its alive
 * rows (unstructured masks; run by the direct kernels, stride 1 only).
 * @function rp_sparse_plan_new */
rp_status rp_sparse_plan_new(struct rp_sparse_plan **out, const float *mask, int64_t R, int64_t C,
                             int64_t block_rows);
void rp_sparse_plan_free(struct rp_sparse_plan *sp);
/*** Pin the kernels that run a plan (enum rp_sparse_kernel); a layer that
 * cannot run the Winograd ones (not 3x3 with stride 1) is an error at the call.
 * @function rp_sparse_plan_set_kernel */
rp_status rp_sparse_plan_set_kernel(struct rp_sparse_plan *sp, int kernel);
void rp_sparse_plan_info(const struct rp_sparse_plan *sp, struct rp_sparse_info *info);
/*** A hash of which of n mask values are nonzero: a plan is stale when the
 * mask's hash differs from the plan's.
 * @function rp_mask_hash */
uint64_t rp_mask_hash(const float *mask, int64_t n);
/*** A faster check of which of n mask values are nonzero, vectorized and in
 * parallel: two 32-bit sums of murmur3-mixed hashes of the nonzeros' indices.
 * A changed set of nonzeros leaves it the same only when the two sums of the
 * changed indices' hashes cancel exactly (about 2^-64 for a given change).  Not
 * stored anywhere; a plan's cache compares it between calls.
 * @function rp_mask_digest */
uint64_t rp_mask_digest(const float *mask, int64_t n);
/*** Floats of workspace the sparse convolution needs with `threads` threads
 * (0 when the plan does not fit the input).
 * @function rp_conv2d_sparse_workspace_size */
int64_t rp_conv2d_sparse_workspace_size(const struct rp_tensor *input,
                                        const struct rp_conv2d_params *p,
                                        const struct rp_sparse_plan *sp, int threads);
/*** The kernel a static cost model picks for a convolution of input shape
 * `in` to `cout` channels with this plan (NULL: dense only): RP_CONV_SPARSE
 * when its multiply-adds and row moves cost less than 0.9 of the dense
 * kernel's (Winograd's counted as 0.45 of im2col's; bench/bench_sparse_conv.c
 * measures the constants), else the dense kernel RP_CONV_AUTO would run.
 * Shapes and mask only, never timings: the choice is the same on every run.
 * @function rp_conv2d_choose */
int rp_conv2d_choose(const int64_t in[4], int64_t cout, const struct rp_conv2d_params *p,
                     const struct rp_sparse_plan *sp);
/*** The sparse kernels a call with this plan runs (enum rp_sparse_kernel):
 * winograd, direct (other stride-1 layers) or im2col (other strides).
 * @function rp_conv2d_sparse_kernel */
int rp_conv2d_sparse_kernel(const int64_t in[4], int64_t cout, const struct rp_conv2d_params *p,
                            const struct rp_sparse_plan *sp);
/*** The forward pass on the plan's alive blocks (p->algorithm is ignored).
 * @function rp_conv2d_sparse_forward */
rp_status rp_conv2d_sparse_forward(struct rp_tensor *output, const struct rp_tensor *input,
                                   const struct rp_tensor *weight, const struct rp_tensor *bias,
                                   struct rp_tensor *workspace, const struct rp_conv2d_params *p,
                                   const struct rp_sparse_plan *sp);
/*** grad_input = dL/dX (may be NULL), grad_weight += scale * dL/dW on the
 * plan's alive blocks only (may be NULL), grad_bias += scale * dL/db (may be NULL).
 * @function rp_conv2d_sparse_backward */
rp_status rp_conv2d_sparse_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_weight,
                                    struct rp_tensor *grad_bias,
                                    const struct rp_tensor *grad_output,
                                    const struct rp_tensor *input, const struct rp_tensor *weight,
                                    struct rp_tensor *workspace, const struct rp_conv2d_params *p,
                                    const struct rp_sparse_plan *sp, float scale);

/*** ---- Linear: y = x W^T + b, x [N,in], W [out,in] ----
 * @function rp_linear_forward */
rp_status rp_linear_forward(struct rp_tensor *output, const struct rp_tensor *input,
                            const struct rp_tensor *weight, const struct rp_tensor *bias);
rp_status rp_linear_backward_input(struct rp_tensor *grad_input,
                                   const struct rp_tensor *grad_output,
                                   const struct rp_tensor *weight);
rp_status rp_linear_backward_params(struct rp_tensor *grad_weight, struct rp_tensor *grad_bias,
                                    const struct rp_tensor *grad_output,
                                    const struct rp_tensor *input, float scale);

/*** ---- ReLU (output may alias input) ----
 * @function rp_relu_forward */
rp_status rp_relu_forward(struct rp_tensor *output, const struct rp_tensor *input);
/*** grad_input = grad_output where output > 0, else 0.
 * @function rp_relu_backward */
rp_status rp_relu_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                           const struct rp_tensor *output);

/* ---- Pooling (no padding beyond what is given; floor output sizes) ---- */
struct rp_pool2d_params {
    int kh, kw, sh, sw, ph, pw;
};
rp_status rp_pool2d_output_shape(int64_t out[4], const struct rp_tensor *input,
                                 const struct rp_pool2d_params *p);
/*** indices: same shape as output; the flat in-plane position of each max.
 * @function rp_maxpool2d_forward */
rp_status rp_maxpool2d_forward(struct rp_tensor *output, struct rp_tensor *indices,
                               const struct rp_tensor *input, const struct rp_pool2d_params *p);
rp_status rp_maxpool2d_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                                const struct rp_tensor *indices);
/*** Average over the window, padding counted (PyTorch's count_include_pad).
 * @function rp_avgpool2d_forward */
rp_status rp_avgpool2d_forward(struct rp_tensor *output, const struct rp_tensor *input,
                               const struct rp_pool2d_params *p);
rp_status rp_avgpool2d_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                                const struct rp_pool2d_params *p);

/* ---- BatchNorm2d over (N, H, W) per channel ---- */
/*** Training: normalizes with the batch statistics (biased variance), stores
 * mean and 1/sqrt(var+eps) in save_mean/save_invstd, and updates
 * running = (1-momentum)*running + momentum*batch (unbiased variance).
 * @function rp_batchnorm2d_forward_train */
rp_status rp_batchnorm2d_forward_train(struct rp_tensor *output, const struct rp_tensor *input,
                                       const struct rp_tensor *gamma, const struct rp_tensor *beta,
                                       struct rp_tensor *running_mean,
                                       struct rp_tensor *running_var, struct rp_tensor *save_mean,
                                       struct rp_tensor *save_invstd, float momentum, float eps);
rp_status rp_batchnorm2d_forward_eval(struct rp_tensor *output, const struct rp_tensor *input,
                                      const struct rp_tensor *gamma, const struct rp_tensor *beta,
                                      const struct rp_tensor *running_mean,
                                      const struct rp_tensor *running_var, float eps);
/*** grad_input overwritten; grad_gamma/grad_beta accumulated.
 * @function rp_batchnorm2d_backward */
rp_status rp_batchnorm2d_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_gamma,
                                  struct rp_tensor *grad_beta, const struct rp_tensor *grad_output,
                                  const struct rp_tensor *input, const struct rp_tensor *gamma,
                                  const struct rp_tensor *save_mean,
                                  const struct rp_tensor *save_invstd);
/*** BatchNorm2d followed by ReLU in one pass: output = max(0, normalized);
 * the same bits as rp_batchnorm2d_forward_* then rp_relu_forward (in place).
 * @function rp_batchnorm2d_relu_forward_train */
rp_status rp_batchnorm2d_relu_forward_train(
    struct rp_tensor *output, const struct rp_tensor *input, const struct rp_tensor *gamma,
    const struct rp_tensor *beta, struct rp_tensor *running_mean, struct rp_tensor *running_var,
    struct rp_tensor *save_mean, struct rp_tensor *save_invstd, float momentum, float eps);
/*** Evaluation with the running statistics, then ReLU, in one pass.
 * @function rp_batchnorm2d_relu_forward_eval */
rp_status rp_batchnorm2d_relu_forward_eval(struct rp_tensor *output, const struct rp_tensor *input,
                                           const struct rp_tensor *gamma,
                                           const struct rp_tensor *beta,
                                           const struct rp_tensor *running_mean,
                                           const struct rp_tensor *running_var, float eps);
/*** The backward pass of rp_batchnorm2d_relu_forward_train, grad_output being
 * the gradient of its (ReLU) output: the ReLU's mask is recomputed from the
 * input, gamma, beta and the saved statistics (which must be the forward
 * pass's); the same bits as rp_relu_backward then rp_batchnorm2d_backward.
 * @function rp_batchnorm2d_relu_backward */
rp_status rp_batchnorm2d_relu_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_gamma,
                                       struct rp_tensor *grad_beta,
                                       const struct rp_tensor *grad_output,
                                       const struct rp_tensor *input, const struct rp_tensor *gamma,
                                       const struct rp_tensor *beta,
                                       const struct rp_tensor *save_mean,
                                       const struct rp_tensor *save_invstd);

/*** ---- Dropout (inverted: kept values scaled by 1/(1-p)) ----
 * @function rp_dropout_forward */
rp_status rp_dropout_forward(struct rp_tensor *output, struct rp_tensor *noise,
                             const struct rp_tensor *input, float p, struct rp_rng *g);
rp_status rp_dropout_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                              const struct rp_tensor *noise);

/* ---- Softmax cross-entropy, mean over the batch ---- */
/*** logits [N,C]; labels: N 0-based classes; probs [N,C] receives softmax.
 * @function rp_cross_entropy_forward */
rp_status rp_cross_entropy_forward(double *loss, struct rp_tensor *probs,
                                   const struct rp_tensor *logits, const int64_t *labels);
/* grad = (probs - onehot) / N */
rp_status rp_cross_entropy_backward(struct rp_tensor *grad_logits, const struct rp_tensor *probs,
                                    const int64_t *labels);
/* Number of rows whose first maximum is at the label. */
int64_t rp_count_correct(const struct rp_tensor *logits, const int64_t *labels);

/* ---- masks ---- */
/* t = t * mask (same shape); masked entries become exactly 0. */
rp_status rp_apply_mask(struct rp_tensor *t, const struct rp_tensor *mask);

#endif
