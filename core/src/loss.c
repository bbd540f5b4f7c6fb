/* loss.c - softmax cross-entropy (mean over the batch) and accuracy counts. */
#include <math.h>

#include "realprune/nn.h"

static rp_status check(const struct rp_tensor *logits, const struct rp_tensor *probs,
                       const int64_t *labels)
{
    char a[64], b[64];
    if (logits->ndim != 2)
        return rp_error(RP_ESHAPE, "cross_entropy: logits must be 2-D (N, classes), got %s",
                        rp_shape_string(a, sizeof a, logits->ndim, logits->shape));
    if (!rp_tensor_same_shape(logits, probs))
        return rp_error(RP_ESHAPE, "cross_entropy: %s and %s differ",
                        rp_shape_string(a, sizeof a, logits->ndim, logits->shape),
                        rp_shape_string(b, sizeof b, probs->ndim, probs->shape));
    if (logits->shape[0] < 1)
        return rp_error(RP_ESHAPE, "cross_entropy: empty batch");
    for (int64_t i = 0; i < logits->shape[0]; i++)
        if (labels[i] < 0 || labels[i] >= logits->shape[1])
            return rp_error(RP_ERANGE,
                            "cross_entropy: label %lld of sample %lld is out of range "
                            "1..%lld",
                            (long long)labels[i] + 1, (long long)i + 1,
                            (long long)logits->shape[1]);
    return RP_OK;
}

rp_status rp_cross_entropy_forward(double *loss, struct rp_tensor *probs,
                                   const struct rp_tensor *logits, const int64_t *labels)
{
    rp_status st = check(logits, probs, labels);
    if (st != RP_OK)
        return st;
    int64_t N = logits->shape[0], C = logits->shape[1];
    double total = 0.0;
    for (int64_t i = 0; i < N; i++) {
        const float *z = logits->data + i * C;
        float *pr = probs->data + i * C;
        double mx = z[0];
        for (int64_t c = 1; c < C; c++)
            mx = z[c] > mx ? z[c] : mx;
        double s = 0.0;
        for (int64_t c = 0; c < C; c++)
            s += exp(z[c] - mx);
        double lse = mx + log(s);
        for (int64_t c = 0; c < C; c++)
            pr[c] = (float)exp(z[c] - lse);
        total += lse - z[labels[i]];
    }
    *loss = total / (double)N;
    return RP_OK;
}

rp_status rp_cross_entropy_backward(struct rp_tensor *grad_logits, const struct rp_tensor *probs,
                                    const int64_t *labels)
{
    rp_status st = check(probs, grad_logits, labels);
    if (st != RP_OK)
        return st;
    int64_t N = probs->shape[0], C = probs->shape[1];
    float inv = 1.0f / (float)N;
    for (int64_t i = 0; i < N; i++) {
        for (int64_t c = 0; c < C; c++)
            grad_logits->data[i * C + c] = probs->data[i * C + c] * inv;
        grad_logits->data[i * C + labels[i]] -= inv;
    }
    return RP_OK;
}

int64_t rp_count_correct(const struct rp_tensor *logits, const int64_t *labels)
{
    if (logits->ndim != 2)
        return 0;
    int64_t N = logits->shape[0], C = logits->shape[1], correct = 0;
    for (int64_t i = 0; i < N; i++) {
        const float *z = logits->data + i * C;
        int64_t best = 0;
        for (int64_t c = 1; c < C; c++)
            if (z[c] > z[best])
                best = c;
        correct += best == labels[i];
    }
    return correct;
}
