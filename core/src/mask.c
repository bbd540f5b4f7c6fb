/* mask.c - pruning masks applied to weights and gradients. */
#include "realprune/nn.h"

rp_status rp_apply_mask(struct rp_tensor *t, const struct rp_tensor *mask)
{
    char a[64], b[64];
    if (!rp_tensor_same_shape(t, mask))
        return rp_error(RP_ESHAPE, "mask %s does not match the tensor %s",
                        rp_shape_string(a, sizeof a, mask->ndim, mask->shape),
                        rp_shape_string(b, sizeof b, t->ndim, t->shape));
    float *x = t->data;
    const float *m = mask->data;
#pragma omp parallel for schedule(static) if (t->numel > (1 << 16))
    for (int64_t i = 0; i < t->numel; i++)
        x[i] = m[i] == 0.0f ? 0.0f : x[i];
    return RP_OK;
}
