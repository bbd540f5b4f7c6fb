/* linear.c - fully connected layer: y = x W^T + b with x [N,in], W [out,in]. */
#include <string.h>

#include "realprune/blas.h"
#include "realprune/nn.h"

static rp_status check(const struct rp_tensor *x, const struct rp_tensor *w, const char *xname)
{
    char a[64], b[64];
    if (w->ndim != 2)
        return rp_error(RP_ESHAPE, "linear: weight must be 2-D (out, in), got %s",
                        rp_shape_string(a, sizeof a, w->ndim, w->shape));
    if (x->ndim != 2 || x->shape[1] != w->shape[1])
        return rp_error(RP_ESHAPE, "linear: %s must be (N, %lld), got %s", xname,
                        (long long)w->shape[1], rp_shape_string(b, sizeof b, x->ndim, x->shape));
    return RP_OK;
}

static rp_status check_out(const struct rp_tensor *y, int64_t n, int64_t out, const char *name)
{
    char a[64];
    if (y->ndim != 2 || y->shape[0] != n || y->shape[1] != out)
        return rp_error(RP_ESHAPE, "linear: %s must be %lldx%lld, got %s", name, (long long)n,
                        (long long)out, rp_shape_string(a, sizeof a, y->ndim, y->shape));
    return RP_OK;
}

static rp_status check_bias(const struct rp_tensor *b, int64_t out, const char *name)
{
    char a[64];
    if (b && (b->ndim != 1 || b->shape[0] != out))
        return rp_error(RP_ESHAPE, "linear: %s must be %lld, got %s", name, (long long)out,
                        rp_shape_string(a, sizeof a, b->ndim, b->shape));
    return RP_OK;
}

rp_status rp_linear_forward(struct rp_tensor *output, const struct rp_tensor *input,
                            const struct rp_tensor *weight, const struct rp_tensor *bias)
{
    rp_status st;
    int64_t n = input->shape[0], out = weight->shape[0], in = weight->shape[1];
    if ((st = check(input, weight, "input")) != RP_OK ||
        (st = check_out(output, n, out, "output")) != RP_OK ||
        (st = check_bias(bias, out, "bias")) != RP_OK)
        return st;
    float beta = 0.0f;
    if (bias) {
        for (int64_t i = 0; i < n; i++)
            memcpy(output->data + i * out, bias->data, sizeof(float) * (size_t)out);
        beta = 1.0f;
    }
    rp_gemm(0, 1, n, out, in, 1.0f, input->data, in, weight->data, in, beta, output->data, out);
    return RP_OK;
}

rp_status rp_linear_backward_input(struct rp_tensor *grad_input,
                                   const struct rp_tensor *grad_output,
                                   const struct rp_tensor *weight)
{
    rp_status st;
    int64_t n = grad_input->shape[0], out = weight->shape[0], in = weight->shape[1];
    if ((st = check(grad_input, weight, "grad_input")) != RP_OK ||
        (st = check_out(grad_output, n, out, "grad_output")) != RP_OK)
        return st;
    rp_gemm(0, 0, n, in, out, 1.0f, grad_output->data, out, weight->data, in, 0.0f,
            grad_input->data, in);
    return RP_OK;
}

rp_status rp_linear_backward_params(struct rp_tensor *grad_weight, struct rp_tensor *grad_bias,
                                    const struct rp_tensor *grad_output,
                                    const struct rp_tensor *input, float scale)
{
    rp_status st;
    int64_t n = input->shape[0], out = grad_weight->shape[0], in = grad_weight->shape[1];
    if ((st = check(input, grad_weight, "input")) != RP_OK ||
        (st = check_out(grad_output, n, out, "grad_output")) != RP_OK ||
        (st = check_bias(grad_bias, out, "grad_bias")) != RP_OK)
        return st;
    rp_gemm(1, 0, out, in, n, scale, grad_output->data, out, input->data, in, 1.0f,
            grad_weight->data, in);
    if (grad_bias)
        for (int64_t j = 0; j < out; j++) {
            double s = 0.0;
            for (int64_t i = 0; i < n; i++)
                s += grad_output->data[i * out + j];
            grad_bias->data[j] += scale * (float)s;
        }
    return RP_OK;
}
