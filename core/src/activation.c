/* activation.c - ReLU. */
#include "realprune/nn.h"

static rp_status same(const char *fn, const struct rp_tensor *a, const char *an,
                      const struct rp_tensor *b, const char *bn)
{
    char x[64], y[64];
    if (a->numel != b->numel || !rp_tensor_same_shape(a, b))
        return rp_error(RP_ESHAPE, "%s: %s %s and %s %s differ in shape", fn, an,
                        rp_shape_string(x, sizeof x, a->ndim, a->shape), bn,
                        rp_shape_string(y, sizeof y, b->ndim, b->shape));
    return RP_OK;
}

rp_status rp_relu_forward(struct rp_tensor *output, const struct rp_tensor *input)
{
    rp_status st = same("relu", output, "output", input, "input");
    if (st != RP_OK)
        return st;
    const float *x = input->data; /* may alias y: ReLU in place is allowed */
    float *y = output->data;
    int64_t n = input->numel;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
    return RP_OK;
}

rp_status rp_relu_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                           const struct rp_tensor *output)
{
    rp_status st = same("relu", grad_input, "grad_input", grad_output, "grad_output");
    if (st != RP_OK || (st = same("relu", output, "output", grad_output, "grad_output")) != RP_OK)
        return st;
    /* dx may be dy itself (in place); y is never written */
    const float *y = output->data, *dy = grad_output->data;
    float *dx = grad_input->data;
    int64_t n = output->numel;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) {
        float g = dy[i]; /* loaded unconditionally: the select vectorizes */
        dx[i] = y[i] > 0.0f ? g : 0.0f;
    }
    return RP_OK;
}
