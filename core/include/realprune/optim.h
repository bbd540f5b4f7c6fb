/***
 * realprune/optim.h - optimizer update kernels (PyTorch semantics).
 *
 * A parameter w with gradient g (same shape), optional state buffers and an
 * optional mask: where mask == 0 nothing changes - the weight keeps its value
 * (0 for a pruned weight), and momentum / Adam moments stay 0.
 *
 * SGD:  d = g + wd*w;  buf = momentum*buf + d  (buf = d on the first step);
 *       d = nesterov ? d + momentum*buf : buf;  w -= lr*d
 * Adam: d = g + wd*w;  m = b1*m + (1-b1)*d;  v = b2*v + (1-b2)*d^2;
 *       w -= lr * (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
 *
 * @module core.optim
 */
#ifndef REALPRUNE_OPTIM_H
#define REALPRUNE_OPTIM_H

#include "realprune/tensor.h"

struct rp_sgd_params {
    float lr, momentum, weight_decay;
    int nesterov;
};

struct rp_adam_params {
    float lr, beta1, beta2, eps, weight_decay;
    int64_t step; /* 1 on the first update */
};

/*** torch.optim.SGD's defaults: lr 1e-3, no momentum, no weight decay, not Nesterov.
 * @function rp_sgd_params_default */
struct rp_sgd_params rp_sgd_params_default(void);
/*** torch.optim.Adam's defaults: lr 1e-3, betas (0.9, 0.999), eps 1e-8, no
 * weight decay; step 1.
 * @function rp_adam_params_default */
struct rp_adam_params rp_adam_params_default(void);

/*** buf may be NULL when momentum == 0; mask may be NULL.
 * @function rp_sgd_step */
rp_status rp_sgd_step(struct rp_tensor *w, const struct rp_tensor *g, struct rp_tensor *buf,
                      const struct rp_tensor *mask, const struct rp_sgd_params *p);
rp_status rp_adam_step(struct rp_tensor *w, const struct rp_tensor *g, struct rp_tensor *m,
                       struct rp_tensor *v, const struct rp_tensor *mask,
                       const struct rp_adam_params *p);

#endif
