/* dropout.c - inverted dropout: a kept value is scaled by 1/(1-p). */
#include "realprune/nn.h"

rp_status rp_dropout_forward(struct rp_tensor *output, struct rp_tensor *noise,
                             const struct rp_tensor *input, float p, struct rp_rng *g)
{
    char a[64];
    if (!(p >= 0.0f && p < 1.0f))
        return rp_error(RP_EINVAL, "dropout: probability must be in [0, 1), got %g", (double)p);
    if (!rp_tensor_same_shape(output, input) || !rp_tensor_same_shape(noise, input))
        return rp_error(RP_ESHAPE, "dropout: output and noise must have the input's shape %s",
                        rp_shape_string(a, sizeof a, input->ndim, input->shape));
    float scale = 1.0f / (1.0f - p);
    for (int64_t i = 0; i < input->numel; i++) {
        float keep = rp_rng_uniformf(g) >= p ? scale : 0.0f;
        noise->data[i] = keep;
        output->data[i] = input->data[i] * keep;
    }
    return RP_OK;
}

rp_status rp_dropout_backward(struct rp_tensor *grad_input, const struct rp_tensor *grad_output,
                              const struct rp_tensor *noise)
{
    char a[64];
    if (!rp_tensor_same_shape(grad_input, grad_output) || !rp_tensor_same_shape(noise, grad_output))
        return rp_error(RP_ESHAPE, "dropout: gradients and noise must share the shape %s",
                        rp_shape_string(a, sizeof a, grad_output->ndim, grad_output->shape));
    for (int64_t i = 0; i < noise->numel; i++)
        grad_input->data[i] = grad_output->data[i] * noise->data[i];
    return RP_OK;
}
