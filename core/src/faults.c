/* faults.c - stuck-at faults of mapped ReRAM cells (realprune/faults.h). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "realprune/faults.h"

void rp_faults_free(struct rp_fault_layer *f)
{
    if (!f)
        return;
    free(f->index), free(f->clear_pos), free(f->set_pos), free(f->clear_neg), free(f->set_neg);
    memset(f, 0, sizeof *f);
}

/* The digits of slice k of a code: cell_bits bits from k*cell_bits (the last
 * slice may hold fewer). */
static uint64_t slice_bits(int k, int cell_bits, int weight_bits)
{
    int lo = k * cell_bits, hi = lo + cell_bits < weight_bits ? lo + cell_bits : weight_bits;
    uint64_t m = 0;
    for (int b = lo; b < hi; b++)
        m |= (uint64_t)1 << b;
    return m;
}

rp_status rp_faults_sample(struct rp_fault_layer *out, const float *mask, int64_t R, int64_t C,
                           const struct rp_xbar_config *cfg, double sa0, double sa1,
                           struct rp_rng *rng)
{
    memset(out, 0, sizeof *out);
    int slices, phys, L;
    rp_status st = rp_xbar_config_check(cfg, &slices, &phys, &L);
    if (st != RP_OK)
        return st;
    if (!(sa0 >= 0.0 && sa0 <= 1.0) || !(sa1 >= 0.0 && sa1 <= 1.0) || sa0 + sa1 > 1.0)
        return rp_error(RP_EINVAL,
                        "faults: sa0 and sa1 must be in [0, 1] with sa0 + sa1 <= 1, "
                        "got %g and %g",
                        sa0, sa1);
    if (cfg->weight_bits > 32)
        return rp_error(RP_EINVAL, "faults: weight_bits must be at most 32, got %lld",
                        (long long)cfg->weight_bits);
    if (R < 1 || C < 1)
        return rp_error(RP_EINVAL, "faults: an R x C matrix with R, C >= 1 expected");
    if (!rng)
        return rp_error(RP_EINVAL, "faults: a generator is needed");
    int64_t rows = cfg->rows;
    /* kept rows and their blocks */
    int64_t *block = malloc(sizeof(int64_t) * (size_t)R);
    if (!block)
        return rp_error(RP_ENOMEM, "faults: out of memory");
    int64_t kept = 0;
    for (int64_t r = 0; r < R; r++) {
        int alive = !mask || !cfg->compact_rows;
        for (int64_t c = 0; c < C && !alive; c++)
            alive = mask[c * R + r] != 0.0f;
        block[r] = alive ? kept++ / rows : -1;
    }
    int64_t blocks = (kept + rows - 1) / rows;
    unsigned char *seg = calloc((size_t)(blocks > 0 ? blocks * C : 1), 1);
    int64_t cap = 1024;
    out->index = malloc(sizeof(int64_t) * (size_t)cap);
    out->clear_pos = malloc(sizeof(uint64_t) * (size_t)cap);
    out->set_pos = malloc(sizeof(uint64_t) * (size_t)cap);
    out->clear_neg = malloc(sizeof(uint64_t) * (size_t)cap);
    out->set_neg = malloc(sizeof(uint64_t) * (size_t)cap);
    if (!seg || !out->index || !out->clear_pos || !out->set_pos || !out->clear_neg ||
        !out->set_neg) {
        free(block), free(seg);
        rp_faults_free(out);
        return rp_error(RP_ENOMEM, "faults: out of memory");
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            if (block[r] >= 0 && (!mask || mask[c * R + r] != 0.0f))
                seg[block[r] * C + c] = 1;
    out->numel = R * C;
    out->weight_bits = (int)cfg->weight_bits;
    out->cell_bits = (int)cfg->cell_bits;
    out->differential = cfg->encoding == RP_ENCODING_DIFFERENTIAL;
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++) {
            if (block[r] < 0 || !seg[block[r] * C + c])
                continue;
            uint64_t m[4] = {0, 0, 0, 0}; /* clear_pos, set_pos, clear_neg, set_neg */
            for (int k = 0; k < phys; k++) {
                double u = rp_rng_uniform(rng);
                out->cells++;
                if (u >= sa0 + sa1)
                    continue;
                int neg = k >= slices, sl = neg ? k - slices : k;
                uint64_t bits = slice_bits(sl, out->cell_bits, out->weight_bits);
                if (u < sa0) {
                    m[2 * neg] |= bits;
                    out->sa0++;
                } else {
                    m[2 * neg + 1] |= bits;
                    out->sa1++;
                }
            }
            if (!(m[0] | m[1] | m[2] | m[3]))
                continue;
            if (out->n == cap) {
                cap *= 2;
                int64_t *ix = realloc(out->index, sizeof(int64_t) * (size_t)cap);
                if (ix)
                    out->index = ix;
                uint64_t **arrs[4] = {&out->clear_pos, &out->set_pos, &out->clear_neg,
                                      &out->set_neg};
                int ok = ix != NULL;
                for (int a = 0; a < 4 && ok; a++) {
                    uint64_t *p = realloc(*arrs[a], sizeof(uint64_t) * (size_t)cap);
                    if (p)
                        *arrs[a] = p;
                    else
                        ok = 0;
                }
                if (!ok) {
                    free(block), free(seg);
                    rp_faults_free(out);
                    return rp_error(RP_ENOMEM, "faults: out of memory");
                }
            }
            out->index[out->n] = c * R + r;
            out->clear_pos[out->n] = m[0];
            out->set_pos[out->n] = m[1];
            out->clear_neg[out->n] = m[2];
            out->set_neg[out->n] = m[3];
            out->n++;
        }
    free(block);
    free(seg);
    return RP_OK;
}

rp_status rp_faults_effective(float *out, const float *weight, const struct rp_fault_layer *f)
{
    if (!f || f->numel < 0 || f->weight_bits < 1 || f->weight_bits > 32)
        return rp_error(RP_EINVAL, "faults: not a fault layer");
    if (out != weight)
        memcpy(out, weight, sizeof(float) * (size_t)f->numel);
    if (f->n == 0)
        return RP_OK;
    double s = 0.0;
    for (int64_t i = 0; i < f->numel; i++) {
        double a = fabs((double)weight[i]);
        if (a > s)
            s = a;
    }
    if (s == 0.0)
        s = 1.0; /* an all-zero layer: codes relative to 1 */
    double levels = (double)(((uint64_t)1 << f->weight_bits) - 1);
    for (int64_t k = 0; k < f->n; k++) {
        double w = (double)weight[f->index[k]], v;
        if (!isfinite(w))
            continue; /* a diverged weight stays as it is (and visible) */
        if (!f->differential) {
            double q = nearbyint((w / s + 1.0) * 0.5 * levels);
            q = q < 0 ? 0 : q > levels ? levels : q;
            uint64_t code = ((uint64_t)q & ~f->clear_pos[k]) | f->set_pos[k];
            v = (2.0 * (double)code / levels - 1.0) * s;
        } else {
            double p = nearbyint((w > 0 ? w : 0) / s * levels);
            double n = nearbyint((w < 0 ? -w : 0) / s * levels);
            p = p > levels ? levels : p;
            n = n > levels ? levels : n;
            uint64_t cp = ((uint64_t)p & ~f->clear_pos[k]) | f->set_pos[k];
            uint64_t cn = ((uint64_t)n & ~f->clear_neg[k]) | f->set_neg[k];
            v = ((double)cp - (double)cn) / levels * s;
        }
        out[f->index[k]] = (float)v;
    }
    return RP_OK;
}
