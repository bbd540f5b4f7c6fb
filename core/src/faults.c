/* faults.c - stuck-at faults of mapped ReRAM cells (realprune/faults.h). */
#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
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

/* The mapped column segments of an R x C matrix (mask may be NULL): block[r]
 * is row r's row block (-1: a row compact_rows drops), seg[b*C + c] = 1 where
 * block b x column c holds an alive weight. Frees nothing on failure. */
static rp_status mapped_segments(const float *mask, int64_t R, int64_t C,
                                 const struct rp_xbar_config *cfg, int64_t **block_out,
                                 unsigned char **seg_out, const char *fn)
{
    int64_t rows = cfg->rows;
    int64_t *block = malloc(sizeof(int64_t) * (size_t)R);
    if (!block)
        return rp_error(RP_ENOMEM, "%s: out of memory", fn);
    int64_t kept = 0;
    for (int64_t r = 0; r < R; r++) {
        int alive = !mask || !cfg->compact_rows;
        for (int64_t c = 0; c < C && !alive; c++)
            alive = mask[c * R + r] != 0.0f;
        block[r] = alive ? kept++ / rows : -1;
    }
    int64_t blocks = (kept + rows - 1) / rows;
    unsigned char *seg = calloc((size_t)(blocks > 0 ? blocks * C : 1), 1);
    if (!seg) {
        free(block);
        return rp_error(RP_ENOMEM, "%s: out of memory", fn);
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            if (block[r] >= 0 && (!mask || mask[c * R + r] != 0.0f))
                seg[block[r] * C + c] = 1;
    *block_out = block;
    *seg_out = seg;
    return RP_OK;
}

/* The checks sampling and variation share: weight_bits at most 32, R, C >= 1. */
static rp_status check_matrix(const struct rp_xbar_config *cfg, int64_t R, int64_t C,
                              const char *fn)
{
    if (cfg->weight_bits > 32)
        return rp_error(RP_EINVAL, "%s: weight_bits must be at most 32, got %lld", fn,
                        (long long)cfg->weight_bits);
    if (R < 1 || C < 1)
        return rp_error(RP_EINVAL, "%s: an R x C matrix with R, C >= 1 expected", fn);
    return RP_OK;
}

rp_status rp_faults_sample(struct rp_fault_layer *out, const float *mask, int64_t R, int64_t C,
                           const struct rp_xbar_config *cfg, double sa0, double sa1,
                           struct rp_rng *rng)
{
    return rp_faults_sample_worn(out, mask, R, C, cfg, sa0, sa1, 0.0, 1, rng);
}

rp_status rp_faults_sample_worn(struct rp_fault_layer *out, const float *mask, int64_t R, int64_t C,
                                const struct rp_xbar_config *cfg, double sa0, double sa1,
                                double worn, int worn_sa1, struct rp_rng *rng)
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
    if (!(worn >= 0.0) || sa0 + sa1 + worn > 1.0 + 1e-12)
        return rp_error(RP_EINVAL,
                        "faults: the worn fraction must be >= 0 with sa0 + sa1 + worn <= 1, "
                        "got %g",
                        worn);
    double stuck = sa0 + sa1 + worn;
    if ((st = check_matrix(cfg, R, C, "faults")) != RP_OK)
        return st;
    if (!rng)
        return rp_error(RP_EINVAL, "faults: a generator is needed");
    int64_t *block;
    unsigned char *seg;
    if ((st = mapped_segments(mask, R, C, cfg, &block, &seg, "faults")) != RP_OK)
        return st;
    int64_t cap = 1024;
    out->index = malloc(sizeof(int64_t) * (size_t)cap);
    out->clear_pos = malloc(sizeof(uint64_t) * (size_t)cap);
    out->set_pos = malloc(sizeof(uint64_t) * (size_t)cap);
    out->clear_neg = malloc(sizeof(uint64_t) * (size_t)cap);
    out->set_neg = malloc(sizeof(uint64_t) * (size_t)cap);
    if (!out->index || !out->clear_pos || !out->set_pos || !out->clear_neg || !out->set_neg) {
        free(block), free(seg);
        rp_faults_free(out);
        return rp_error(RP_ENOMEM, "faults: out of memory");
    }
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
                if (u >= stuck)
                    continue;
                int neg = k >= slices, sl = neg ? k - slices : k;
                uint64_t bits = slice_bits(sl, out->cell_bits, out->weight_bits);
                if (u < sa0 || (u >= sa0 + sa1 && !worn_sa1)) {
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

/* The layer's max |w| (codes are relative to it); 1 for an all-zero layer.
 * Non-finite weights are skipped. */
/* max(s, |w|) over w[a..b), NaN and infinities counted as 0 */
static inline float max_abs_finite(const float *w, int64_t a, int64_t b, float s)
{
    for (int64_t i = a; i < b; i++) {
        float x = fabsf(w[i]);
        x = x <= FLT_MAX ? x : 0.0f;
        s = s > x ? s : x;
    }
    return s;
}

static double layer_scale(const float *weight, int64_t n)
{
    float s = 0.0f;
#pragma omp parallel for reduction(max : s) schedule(static) if (n > (1 << 16))
    for (int64_t a = 0; a < n; a += 16384)
        s = max_abs_finite(weight, a, a + 16384 < n ? a + 16384 : n, s);
    return s > 0.0f ? (double)s : 1.0;
}

/* x < 2^52 as a double, exactly, in operations every vector unit has (AVX2
 * converts no 64-bit integers): x's bits under the exponent of 2^52. */
static inline double small_to_double(uint64_t x)
{
    uint64_t b = x | 0x4330000000000000ULL;
    double r;
    memcpy(&r, &b, sizeof r);
    return r - 4503599627370496.0;
}

/* an integral x in [0, 2^52) as an integer, exactly, the same way */
static inline uint64_t small_of_double(double x)
{
    double t = x + 4503599627370496.0;
    uint64_t b;
    memcpy(&b, &t, sizeof b);
    return b & 0xfffffffffffffULL;
}

/* nearbyint(x) for |x| < 2^51 in the default rounding mode (to nearest, ties
 * to even), inline: 1.5 * 2^52 + x rounds x to an integer. */
static inline double round_even(double x)
{
    return (x + 6755399441055744.0) - 6755399441055744.0;
}

/* A finite weight's codes (levels = 2^weight_bits - 1, s = the layer's max
 * |w|): offset, q = round((w/s + 1)/2 levels) in *pos; differential, the
 * codes of w's positive and negative parts in *pos and *neg. */
static inline void weight_codes(double w, double s, double levels, int differential, uint64_t *pos,
                                uint64_t *neg)
{
    if (!differential) {
        double q = round_even((w / s + 1.0) * 0.5 * levels);
        q = q < 0 ? 0 : q > levels ? levels : q;
        *pos = small_of_double(q), *neg = 0;
    } else {
        double p = round_even((w > 0 ? w : 0) / s * levels);
        double n = round_even((w < 0 ? -w : 0) / s * levels);
        *pos = small_of_double(p > levels ? levels : p);
        *neg = small_of_double(n > levels ? levels : n);
    }
}

rp_status rp_faults_effective(float *out, const float *weight, const struct rp_fault_layer *f)
{
    if (!f || f->numel < 0 || f->weight_bits < 1 || f->weight_bits > 32)
        return rp_error(RP_EINVAL, "faults: not a fault layer");
    int64_t n = f->numel;
    const int64_t chunk = 16384;
    if (f->n == 0) {
        if (out != weight)
#pragma omp parallel for schedule(static) if (n > (1 << 18))
            for (int64_t a = 0; a < n; a += chunk)
                memcpy(out + a, weight + a,
                       sizeof(float) * (size_t)(n - a < chunk ? n - a : chunk));
        return RP_OK;
    }
    double levels = (double)(((uint64_t)1 << f->weight_bits) - 1);
    float smax = 0.0f;
    /* one parallel region: the copy with the layer's max |w| (as layer_scale),
     * then the faulty weights */
#pragma omp parallel if (n > (1 << 16) || f->n > 4096)
    {
#pragma omp for schedule(static) reduction(max : smax)
        for (int64_t a = 0; a < n; a += chunk) {
            int64_t b = a + chunk < n ? a + chunk : n;
            if (out != weight)
                memcpy(out + a, weight + a, sizeof(float) * (size_t)(b - a));
            smax = max_abs_finite(weight, a, b, smax);
        }
        /* the reduction is complete after the loop's barrier */
        double s = smax > 0.0f ? (double)smax : 1.0;
#pragma omp for schedule(static)
        for (int64_t k = 0; k < f->n; k++) {
            double w = (double)weight[f->index[k]], v;
            if (!isfinite(w))
                continue; /* a diverged weight stays as it is (and visible) */
            uint64_t p, q;
            weight_codes(w, s, levels, f->differential, &p, &q);
            if (!f->differential) {
                uint64_t code = (p & ~f->clear_pos[k]) | f->set_pos[k];
                v = (2.0 * (double)code / levels - 1.0) * s;
            } else {
                uint64_t cp = (p & ~f->clear_pos[k]) | f->set_pos[k];
                uint64_t cn = (q & ~f->clear_neg[k]) | f->set_neg[k];
                v = ((double)cp - (double)cn) / levels * s;
            }
            out[f->index[k]] = (float)v;
        }
    }
    return RP_OK;
}

/* ------------------------------------------------------------ variation -- */

/* splitmix64's finalizer */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* A standard normal approximation from 32 random bits (w < 2^32): the sum of
 * its four 8-bit lanes (Irwin-Hall), centred and scaled to variance 1, so
 * bounded by 2 sqrt(3) ~ 3.46 (a write-verify loop bounds its error too). */
static inline double noise_of(uint64_t w)
{
    uint64_t u = (w & 0xff) + ((w >> 8) & 0xff) + ((w >> 16) & 0xff) + (w >> 24);
    return (small_to_double(u) + 2.0 - 512.0) * (1.7320508075688772 / 256.0);
}

/* Draw c of a stream keyed by `key`: half of the 64 bits of splitmix64's
 * output number c / 2 (cells 2j and 2j + 1 share one). */
static double draw(uint64_t key, uint64_t c)
{
    uint64_t h = mix64(key + (c >> 1) * 0x9e3779b97f4a7c15ULL);
    return noise_of(c & 1 ? h >> 32 : h & 0xffffffffULL);
}

/* z_d of every cell of the layer, as round(36 z_d) (|z_d| <= 3.47): drawn once */
static int8_t d2d_code(uint64_t key, uint64_t c)
{
    return (int8_t)lrint(36.0 * draw(key, c));
}

void rp_variation_free(struct rp_variation_layer *v)
{
    if (!v)
        return;
    free(v->mapped);
    free(v->d2d);
    memset(v, 0, sizeof *v);
}

rp_status rp_variation_new(struct rp_variation_layer *out, const float *mask, int64_t R, int64_t C,
                           const struct rp_xbar_config *cfg, double sigma_d2d, double sigma_c2c,
                           int of_level, uint64_t seed)
{
    memset(out, 0, sizeof *out);
    int slices, phys, L;
    rp_status st = rp_xbar_config_check(cfg, &slices, &phys, &L);
    if (st != RP_OK)
        return st;
    if (!(sigma_d2d >= 0.0) || !(sigma_c2c >= 0.0) || !isfinite(sigma_d2d) || !isfinite(sigma_c2c))
        return rp_error(RP_EINVAL,
                        "variation: sigma_d2d and sigma_c2c must be finite and >= 0, got %g "
                        "and %g",
                        sigma_d2d, sigma_c2c);
    if ((st = check_matrix(cfg, R, C, "variation")) != RP_OK)
        return st;
    int64_t *block;
    unsigned char *seg;
    if ((st = mapped_segments(mask, R, C, cfg, &block, &seg, "variation")) != RP_OK)
        return st;
    int64_t n = R * C;
    out->mapped = calloc((size_t)((n + 63) / 64), sizeof(uint64_t));
    if (!out->mapped) {
        free(block), free(seg);
        return rp_error(RP_ENOMEM, "variation: out of memory");
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            if (block[r] >= 0 && seg[block[r] * C + c]) {
                int64_t i = c * R + r;
                out->mapped[i >> 6] |= (uint64_t)1 << (i & 63);
                out->mapped_count++;
            }
    free(block);
    free(seg);
    if (sigma_d2d > 0.0) {
        int64_t cells = n * phys;
        out->d2d = malloc((size_t)cells);
        if (!out->d2d) {
            rp_variation_free(out);
            return rp_error(RP_ENOMEM, "variation: out of memory");
        }
        uint64_t key = mix64(seed);
        /* kept slice-major (cell k of weight i at k * n + i) for the reads */
#pragma omp parallel for schedule(static) if (cells > (1 << 16))
        for (int64_t i = 0; i < n; i++)
            for (int k = 0; k < phys; k++)
                out->d2d[(int64_t)k * n + i] = d2d_code(key, (uint64_t)(i * phys + k));
    }
    out->numel = n;
    out->sigma_d2d = sigma_d2d;
    out->sigma_c2c = sigma_c2c;
    out->of_level = of_level != 0;
    out->seed = seed;
    out->weight_bits = (int)cfg->weight_bits;
    out->cell_bits = (int)cfg->cell_bits;
    out->differential = cfg->encoding == RP_ENCODING_DIFFERENTIAL;
    return RP_OK;
}

/* What the cells hold. Cells are numbered weight * phys + array * slices +
 * slice; z_d (kept per cell, to 1/36) and z_c are the cell's draws from two
 * streams keyed by the seed (z_c: and the write). A slice's cell reads its
 * digit d plus (sigma_d2d z_d + sigma_c2c z_c) times the slice's range (or
 * times d, of_level), clamped to the range; a stuck slice (whose digits the
 * fault entry covers) reads its forced digits exactly. An array's analog
 * value is the sum over its slices of the level read times 2^(slice *
 * cell_bits), summed in slice order.
 *
 * Work goes a run of up to CELLS_RUN weights at a time, one cell position
 * (array, slice) across the run per pass, so that the draws and the
 * arithmetic of one pass are the same operations on independent lanes; whole
 * chunks of runs are compiled for AVX-512, AVX2 and plain x86-64 and chosen
 * at run time. Every lane does exactly the scalar operations in the same order and
 * the file is compiled without contraction into FMA, so all three give the
 * same bits. */
#define CELLS_RUN 256

/* one cell position (slice) of the run's weights in one array */
struct cells_pos {
    const int8_t *d2d;   /* this position's z_d codes, from the run's first weight */
    int lo;              /* the slice's first digit */
    uint64_t top;        /* its largest digit */
    double range, scale; /* top, 2^lo */
};

/* A pass: one position of an array, or two (cells c and c + 1 of the same
 * array for even c, which share a draw of the c2c stream). */
struct cells_pass {
    double *acc;           /* [CELLS_RUN] the array's value so far */
    const uint64_t *code;  /* [CELLS_RUN] digits written */
    const uint64_t *stuck; /* [CELLS_RUN] digits forced */
    struct cells_pos at[2];
    int64_t m;            /* weights in the run */
    uint64_t first, phys; /* the run's first weight's cell number at at[0], cells a weight */
    uint64_t key;         /* the write's c2c stream */
    double sd, sc;        /* sigma_d2d / 36, sigma_c2c */
};

/* what one cell adds to its array's value */
static inline __attribute__((always_inline)) double
cell_read(const struct cells_pos *p, int64_t j, uint64_t code, uint64_t stuck, uint64_t bits,
          double sd, double sc, int use_d2d, int use_c2c, int of_level)
{
    double d = small_to_double((code >> p->lo) & p->top), z = 0.0;
    if (use_d2d)
        z += sd * (double)p->d2d[j];
    if (use_c2c)
        z += sc * noise_of(bits);
    double r = d + z * (of_level ? d : p->range);
    r = r < 0.0 ? 0.0 : r;
    r = r > p->range ? p->range : r;
    return (((stuck >> p->lo) & p->top) ? d : r) * p->scale;
}

static inline __attribute__((always_inline)) void
cells_lanes(const struct cells_pass *p, int use_d2d, int use_c2c, int of_level, int two)
{
    double *restrict acc = p->acc;
    const uint64_t *restrict code = p->code, *restrict stuck = p->stuck;
    struct cells_pos a = p->at[0], b = p->at[1];
    const uint64_t first = p->first, phys = p->phys, key = p->key;
    const double sd = p->sd, sc = p->sc;
    for (int64_t j = 0; j < p->m; j++) {
        uint64_t c = first + (uint64_t)j * phys, h = 0;
        if (use_c2c)
            h = mix64(key + (c >> 1) * 0x9e3779b97f4a7c15ULL);
        double q =
            acc[j] + cell_read(&a, j, code[j], stuck[j], (c & 1) ? h >> 32 : h & 0xffffffffULL, sd,
                               sc, use_d2d, use_c2c, of_level);
        if (two)
            q += cell_read(&b, j, code[j], stuck[j], h >> 32, sd, sc, use_d2d, use_c2c, of_level);
        acc[j] = q;
    }
}

/* index of the first faulty weight at or after i */
static int64_t first_fault(const struct rp_fault_layer *f, int64_t i)
{
    int64_t lo = 0, hi = f ? f->n : 0;
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (f->index[mid] < i)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* one layer's reads: what every chunk needs */
struct cells_job {
    float *out;
    const float *weight;
    const struct rp_fault_layer *f; /* or NULL */
    const struct rp_variation_layer *v;
    double s, levels; /* the layer's max |w|, 2^weight_bits - 1 */
    int slices, phys, cb, wb;
    uint64_t key; /* the write's c2c stream */
};

/* one pass, in the form its spreads (neither: z = 0), lvl (of_level) and two
 * call for: every form a loop of its own */
#define CELLS_CASE(k)                                                                              \
    case k:                                                                                        \
        cells_lanes(p, (k) >> 3 & 1, (k) >> 2 & 1, (k) >> 1 & 1, (k)&1);                           \
        break;
static inline __attribute__((always_inline)) void run_pass(const struct cells_pass *p, int lvl,
                                                           int two)
{
    /* clang-format off */
    switch ((p->sd > 0.0) * 8 + (p->sc > 0.0) * 4 + (lvl != 0) * 2 + (two != 0)) {
        CELLS_CASE(0) CELLS_CASE(1) CELLS_CASE(2) CELLS_CASE(3)
        CELLS_CASE(4) CELLS_CASE(5) CELLS_CASE(6) CELLS_CASE(7)
        CELLS_CASE(8) CELLS_CASE(9) CELLS_CASE(10) CELLS_CASE(11)
        CELLS_CASE(12) CELLS_CASE(13) CELLS_CASE(14) CELLS_CASE(15)
    }
    /* clang-format on */
}
#undef CELLS_CASE

/* Weights a0 .. b0-1, a run at a time: the codes written (every weight, as
 * lanes), the faulty weights' forced digits, the passes over cell positions,
 * the decoded values (as lanes), then the weights without cells or with a
 * non-finite value copied as they are. */
static inline __attribute__((always_inline)) void cells_chunk(const struct cells_job *J, int64_t a0,
                                                              int64_t b0)
{
    const struct rp_variation_layer *v = J->v;
    const struct rp_fault_layer *f = J->f;
    const float *weight = J->weight; /* may be out */
    float *out = J->out;
    const double s = J->s, levels = J->levels;
    const int slices = J->slices, phys = J->phys, cb = J->cb, wb = J->wb;
    const int differential = v->differential;
    uint64_t code[2][CELLS_RUN], stuck[2][CELLS_RUN];
    double acc[2][CELLS_RUN];
    int64_t k = first_fault(f, a0);
    for (int64_t a = a0; a < b0; a += CELLS_RUN) {
        int64_t m = b0 - a < CELLS_RUN ? b0 - a : CELLS_RUN;
        /* a run without cells (a pruned segment) is copied as it is */
        uint64_t any = 0;
        for (int64_t w = a >> 6; w <= (a + m - 1) >> 6; w++)
            any |= v->mapped[w];
        if (!any) {
            if (out != weight)
                memcpy(out + a, weight + a, sizeof(float) * (size_t)m);
            while (f && k < f->n && f->index[k] < a + m)
                k++;
            continue;
        }
        for (int64_t j = 0; j < m; j++) {
            double w = (double)weight[a + j];
            w = isfinite(w) ? w : 0.0; /* copied as it is below */
            uint64_t pos, neg;
            weight_codes(w, s, levels, differential, &pos, &neg);
            code[0][j] = pos, code[1][j] = neg;
            stuck[0][j] = stuck[1][j] = 0;
            acc[0][j] = acc[1][j] = 0.0;
        }
        for (; f && k < f->n && f->index[k] < a + m; k++) {
            int64_t j = f->index[k] - a;
            code[0][j] = (code[0][j] & ~f->clear_pos[k]) | f->set_pos[k];
            code[1][j] = (code[1][j] & ~f->clear_neg[k]) | f->set_neg[k];
            stuck[0][j] = f->clear_pos[k] | f->set_pos[k];
            stuck[1][j] = f->clear_neg[k] | f->set_neg[k];
        }
        /* cell positions kk = array * slices + slice, two at a time where
         * cells kk (even) and kk + 1 of a weight share a draw and an array */
        for (int kk = 0; kk < phys;) {
            int arr = kk / slices;
            int two = phys % 2 == 0 && kk % 2 == 0 && (kk + 1) / slices == arr;
            struct cells_pass p = {
                .acc = acc[arr],
                .code = code[arr],
                .stuck = stuck[arr],
                .m = m,
                .first = (uint64_t)a * (uint64_t)phys + (uint64_t)kk,
                .phys = (uint64_t)phys,
                .key = J->key,
                .sd = v->d2d ? v->sigma_d2d / 36.0 : 0.0,
                .sc = v->sigma_c2c,
            };
            for (int t = 0; t <= two; t++, kk++) {
                int lo = (kk % slices) * cb, hi = lo + cb < wb ? lo + cb : wb;
                uint64_t top = ((uint64_t)1 << (hi - lo)) - 1;
                p.at[t] = (struct cells_pos){
                    .d2d = v->d2d ? v->d2d + (int64_t)kk * v->numel + a : NULL,
                    .lo = lo,
                    .top = top,
                    .range = (double)top,
                    .scale = (double)((uint64_t)1 << lo),
                };
            }
            run_pass(&p, v->of_level, two);
        }
        /* decided per weight before its output is written (out may be weight) */
        for (int64_t j = 0; j < m; j++) {
            int64_t i = a + j;
            float x = weight[i];
            double val = !differential ? (2.0 * acc[0][j] / levels - 1.0) * s
                                       : (acc[0][j] - acc[1][j]) / levels * s;
            int keep = !((v->mapped[i >> 6] >> (i & 63)) & 1) || !isfinite(x);
            out[i] = keep ? x : (float)val;
        }
    }
}

#if defined(__x86_64__) && defined(__GNUC__)
__attribute__((target("avx512f,avx512dq,avx512bw,avx512vl"))) static void
cells_chunk_avx512(const struct cells_job *J, int64_t a0, int64_t b0)
{
    cells_chunk(J, a0, b0);
}
__attribute__((target("avx2"))) static void cells_chunk_avx2(const struct cells_job *J, int64_t a0,
                                                             int64_t b0)
{
    cells_chunk(J, a0, b0);
}
#endif
static void cells_chunk_plain(const struct cells_job *J, int64_t a0, int64_t b0)
{
    cells_chunk(J, a0, b0);
}

typedef void (*cells_chunk_fn)(const struct cells_job *, int64_t, int64_t);

static cells_chunk_fn cells_chunk_choose(void)
{
#if defined(__x86_64__) && defined(__GNUC__)
    int allowed = rp_simd_allowed();
    if (allowed == 2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return cells_chunk_avx512;
    if (allowed >= 1 && __builtin_cpu_supports("avx2"))
        return cells_chunk_avx2;
#endif
    return cells_chunk_plain;
}

rp_status rp_cells_effective(float *out, const float *weight, const struct rp_fault_layer *f,
                             const struct rp_variation_layer *v, uint64_t write)
{
    if (!v)
        return f ? rp_faults_effective(out, weight, f)
                 : rp_error(RP_EINVAL, "cells: neither faults nor variation");
    if (v->numel < 1 || v->weight_bits < 1 || v->weight_bits > 32 || !v->mapped)
        return rp_error(RP_EINVAL, "cells: not a variation layer");
    if (f && (f->numel != v->numel || f->weight_bits != v->weight_bits ||
              f->cell_bits != v->cell_bits || f->differential != v->differential))
        return rp_error(RP_EINVAL, "cells: the fault layer and the variation layer differ");
    int64_t n = v->numel;
    struct cells_job job = {
        .out = out,
        .weight = weight,
        .f = f,
        .v = v,
        .s = layer_scale(weight, n),
        .levels = (double)(((uint64_t)1 << v->weight_bits) - 1),
        .cb = v->cell_bits,
        .wb = v->weight_bits,
        .key = mix64(v->seed ^ 0x632be59bd9b4e019ULL ^ mix64(write + 1)),
    };
    job.slices = (job.wb + job.cb - 1) / job.cb;
    job.phys = job.slices * (v->differential ? 2 : 1);
    cells_chunk_fn chunk_fn = cells_chunk_choose();
    const int64_t chunk = 4096;
#pragma omp parallel for schedule(static) if (n > (1 << 15))
    for (int64_t a0 = 0; a0 < n; a0 += chunk)
        chunk_fn(&job, a0, a0 + chunk < n ? a0 + chunk : n);
    return RP_OK;
}

/* ------------------------------------------------- restrict and remap -- */

/* stuck cells of one entry: SA0 and SA1 counts over its slices */
static void count_stuck(const struct rp_fault_layer *f, int64_t k, int slices, int64_t *sa0,
                        int64_t *sa1)
{
    const uint64_t *cl[2] = {f->clear_pos, f->clear_neg}, *se[2] = {f->set_pos, f->set_neg};
    for (int a = 0; a < (f->differential ? 2 : 1); a++)
        for (int s = 0; s < slices; s++) {
            uint64_t bits = slice_bits(s, f->cell_bits, f->weight_bits);
            if (cl[a][k] & bits)
                (*sa0)++;
            else if (se[a][k] & bits)
                (*sa1)++;
        }
}

static rp_status alloc_entries(struct rp_fault_layer *out, int64_t n)
{
    size_t m = (size_t)(n > 0 ? n : 1);
    out->index = malloc(sizeof(int64_t) * m);
    out->clear_pos = malloc(sizeof(uint64_t) * m);
    out->set_pos = malloc(sizeof(uint64_t) * m);
    out->clear_neg = malloc(sizeof(uint64_t) * m);
    out->set_neg = malloc(sizeof(uint64_t) * m);
    if (!out->index || !out->clear_pos || !out->set_pos || !out->clear_neg || !out->set_neg) {
        rp_faults_free(out);
        return rp_error(RP_ENOMEM, "faults: out of memory");
    }
    return RP_OK;
}

static void copy_entry(struct rp_fault_layer *out, int64_t j, const struct rp_fault_layer *f,
                       int64_t k, int64_t index)
{
    out->index[j] = index;
    out->clear_pos[j] = f->clear_pos[k];
    out->set_pos[j] = f->set_pos[k];
    out->clear_neg[j] = f->clear_neg[k];
    out->set_neg[j] = f->set_neg[k];
}

static rp_status check_layer_cfg(const struct rp_fault_layer *f, int64_t R, int64_t C,
                                 const struct rp_xbar_config *cfg, int *slices, int *phys, int *L,
                                 const char *fn)
{
    rp_status st = rp_xbar_config_check(cfg, slices, phys, L);
    if (st != RP_OK)
        return st;
    if (!f || R < 1 || C < 1 || f->numel != R * C)
        return rp_error(RP_EINVAL, "%s: the fault layer does not hold an R x C matrix", fn);
    if (f->weight_bits != (int)cfg->weight_bits || f->cell_bits != (int)cfg->cell_bits ||
        f->differential != (cfg->encoding == RP_ENCODING_DIFFERENTIAL))
        return rp_error(RP_EINVAL, "%s: the fault layer was drawn for another configuration", fn);
    return RP_OK;
}

/* The faults each mapped weight reads when mapped segment (b, c) sits on
 * column position pos[b*C + c] of row block b of the whole-chip layer f:
 * weight (r, c) reads the cells drawn at (r, pos). Entries come out in
 * index order. */
static void place_faults(struct rp_fault_layer *out, const struct rp_fault_layer *f,
                         const int64_t *block, const unsigned char *seg, const int64_t *pos,
                         int64_t R, int64_t C, int slices, int phys)
{
    out->numel = f->numel;
    out->weight_bits = f->weight_bits;
    out->cell_bits = f->cell_bits;
    out->differential = f->differential;
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++) {
            int64_t s = block[r] * C + c;
            if (!seg[s])
                continue;
            out->cells += phys;
            int64_t src = pos[s] * R + r;
            int64_t k = first_fault(f, src);
            if (k < f->n && f->index[k] == src) {
                copy_entry(out, out->n, f, k, c * R + r);
                count_stuck(f, k, slices, &out->sa0, &out->sa1);
                out->n++;
            }
        }
}

/* What restrict and remap share: the checks, the mapped segments under the
 * current mask (every row in its place) and their positions: packed (a
 * block's mapped segments in column order on positions 0, 1, ...) or in
 * place (each on its own column). */
struct placement {
    int slices, phys, L;
    int64_t *block, *pos, blocks;
    unsigned char *seg;
};

static void placement_free(struct placement *p)
{
    free(p->block), free(p->pos), free(p->seg);
}

static rp_status placement_new(struct placement *p, struct rp_fault_layer *out,
                               const struct rp_fault_layer *f, const float *mask, int64_t R,
                               int64_t C, const struct rp_xbar_config *cfg, int packed,
                               const char *fn)
{
    memset(out, 0, sizeof *out);
    memset(p, 0, sizeof *p);
    rp_status st = check_layer_cfg(f, R, C, cfg, &p->slices, &p->phys, &p->L, fn);
    if (st != RP_OK)
        return st;
    if (cfg->compact_rows)
        return rp_error(RP_EINVAL,
                        "%s: a map drawn with compact_rows = false expected (every row "
                        "keeps its place)",
                        fn);
    if ((st = mapped_segments(mask, R, C, cfg, &p->block, &p->seg, fn)) != RP_OK)
        return st;
    p->blocks = R > 0 ? p->block[R - 1] + 1 : 0;
    p->pos = malloc(sizeof(int64_t) * (size_t)(p->blocks > 0 ? p->blocks * C : 1));
    if (!p->pos || (st = alloc_entries(out, f->n)) != RP_OK) {
        placement_free(p);
        return st != RP_OK ? st : rp_error(RP_ENOMEM, "%s: out of memory", fn);
    }
    for (int64_t bk = 0; bk < p->blocks; bk++) {
        int64_t j = 0;
        for (int64_t c = 0; c < C; c++)
            p->pos[bk * C + c] = !p->seg[bk * C + c] ? -1 : packed ? j++ : c;
    }
    return RP_OK;
}

rp_status rp_faults_restrict(struct rp_fault_layer *out, const struct rp_fault_layer *f,
                             const float *mask, int64_t R, int64_t C,
                             const struct rp_xbar_config *cfg, int packed)
{
    struct placement p;
    rp_status st = placement_new(&p, out, f, mask, R, C, cfg, packed, "faults_restrict");
    if (st != RP_OK)
        return st;
    place_faults(out, f, p.block, p.seg, p.pos, R, C, p.slices, p.phys);
    placement_free(&p);
    return RP_OK;
}

/* The damage a faulty weight's stuck cells can do, in units of the code's
 * least significant digit: the sum over its stuck slices of the digits the
 * slice spans (an integer, so that equal faults tie exactly). */
static uint64_t entry_cost(const struct rp_fault_layer *f, int64_t k, int slices)
{
    uint64_t cost = 0;
    const uint64_t *cl[2] = {f->clear_pos, f->clear_neg}, *se[2] = {f->set_pos, f->set_neg};
    for (int a = 0; a < (f->differential ? 2 : 1); a++)
        for (int s = 0; s < slices; s++) {
            uint64_t bits = slice_bits(s, f->cell_bits, f->weight_bits);
            if ((cl[a][k] | se[a][k]) & bits)
                cost += bits;
        }
    return cost;
}

struct rank {
    double key;
    int64_t pos;
};

static int by_key(const void *a, const void *b)
{
    const struct rank *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

/* Places the m segments segs[] (columns of one block; ps[c]: the position
 * segment c sits on) on the np >= m candidate positions cand[]: most
 * valuable first on the least damaged (cs: damage per position), a segment
 * keeping its position among positions of equal damage; kept only when its
 * damage weighted by the segments' values is below the placement it replaces. */
static void assign_group(const int64_t *segs, int64_t m, const int64_t *cand, int64_t np,
                         const uint64_t *cs, const double *value, int64_t *ps,
                         struct rank *seg_rank, struct rank *pos_rank, int64_t *moved)
{
    if (m == 0)
        return;
    for (int64_t q = 0; q < np; q++) {
        pos_rank[q].key = (double)cs[cand[q]];
        pos_rank[q].pos = cand[q];
    }
    qsort(pos_rank, (size_t)np, sizeof *pos_rank, by_key);
    for (int64_t j = 0; j < m; j++) {
        seg_rank[j].key = -value[segs[j]];
        seg_rank[j].pos = segs[j];
    }
    qsort(seg_rank, (size_t)m, sizeof *seg_rank, by_key);
    for (int64_t j0 = 0; j0 < m;) {
        int64_t j1 = j0 + 1;
        while (j1 < m && pos_rank[j1].key == pos_rank[j0].key)
            j1++;
        for (int64_t j = j0; j < j1; j++)
            for (int64_t q = j0; q < j1; q++)
                if (pos_rank[q].pos == ps[seg_rank[j].pos] && q != j) {
                    struct rank t = pos_rank[q];
                    pos_rank[q] = pos_rank[j];
                    pos_rank[j] = t;
                    break;
                }
        j0 = j1;
    }
    /* the damage weighted by value: the pairing above minimizes it over the
     * candidates (the rearrangement inequality) */
    double before = 0.0, after = 0.0;
    for (int64_t j = 0; j < m; j++) {
        before += value[segs[j]] * (double)cs[ps[segs[j]]];
        after += value[seg_rank[j].pos] * (double)cs[pos_rank[j].pos];
    }
    if (!(after < before))
        return;
    for (int64_t j = 0; j < m; j++) {
        int64_t c = seg_rank[j].pos;
        if (pos_rank[j].pos != ps[c])
            (*moved)++;
        ps[c] = pos_rank[j].pos;
    }
}

rp_status rp_faults_remap(struct rp_fault_layer *out, const struct rp_fault_layer *f,
                          const float *weight, const float *mask, int64_t R, int64_t C,
                          const struct rp_xbar_config *cfg, int packed, int64_t *moved)
{
    *moved = 0;
    if (!weight)
        return rp_error(RP_EINVAL, "faults_remap: the weights are needed");
    struct placement p;
    rp_status st = placement_new(&p, out, f, mask, R, C, cfg, packed, "faults_remap");
    if (st != RP_OK)
        return st;
    int64_t blocks = p.blocks, L = p.L, tiles = (C + L - 1) / L;
    size_t nb = (size_t)(blocks > 0 ? blocks * C : 1);
    uint64_t *cost = calloc(nb, sizeof(uint64_t));
    double *value = calloc(nb, sizeof(double));
    struct rank *seg_rank = malloc(sizeof(struct rank) * (size_t)C);
    struct rank *pos_rank = malloc(sizeof(struct rank) * (size_t)C);
    struct rank *tile_rank = malloc(sizeof(struct rank) * (size_t)tiles);
    int64_t *segs = malloc(sizeof(int64_t) * (size_t)C);
    int64_t *cand = malloc(sizeof(int64_t) * (size_t)C);
    if (!cost || !value || !seg_rank || !pos_rank || !tile_rank || !segs || !cand) {
        free(cost), free(value), free(seg_rank), free(pos_rank), free(tile_rank);
        free(segs), free(cand);
        placement_free(&p);
        rp_faults_free(out);
        return rp_error(RP_ENOMEM, "faults_remap: out of memory");
    }
    /* per position of a block: the damage its cells can do; per segment:
     * the l1 of its alive (finite) weights */
    for (int64_t k = 0; k < f->n; k++) {
        int64_t i = f->index[k], c = i / R, r = i % R;
        cost[p.block[r] * C + c] += entry_cost(f, k, p.slices);
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++) {
            double w = fabs((double)weight[c * R + r]);
            if ((!mask || mask[c * R + r] != 0.0f) && isfinite(w))
                value[p.block[r] * C + c] += w;
        }
    for (int64_t bk = 0; bk < blocks; bk++) {
        const unsigned char *sg = p.seg + bk * C;
        const uint64_t *cs = cost + bk * C;
        const double *val = value + bk * C;
        int64_t *ps = p.pos + bk * C;
        if (!packed) {
            /* each crossbar's segments among its own positions */
            for (int64_t t0 = 0; t0 < C; t0 += L) {
                int64_t end = t0 + L < C ? t0 + L : C, m = 0, np = 0;
                for (int64_t c = t0; c < end; c++) {
                    if (sg[c])
                        segs[m++] = c;
                    cand[np++] = c;
                }
                assign_group(segs, m, cand, np, cs, val, ps, seg_rank, pos_rank, moved);
            }
            continue;
        }
        int64_t m = 0;
        for (int64_t c = 0; c < C; c++)
            if (sg[c])
                segs[m++] = c;
        if (m == 0)
            continue;
        /* the ceil(m / L) crossbars whose min(m, L) least damaged positions
         * do the least damage (ties: the lower tile) */
        int64_t need = (m + L - 1) / L, fill = m < L ? m : L;
        for (int64_t t = 0; t < tiles; t++) {
            int64_t t0 = t * L, width = (t0 + L < C ? t0 + L : C) - t0;
            for (int64_t q = 0; q < width; q++) {
                pos_rank[q].key = (double)cs[t0 + q];
                pos_rank[q].pos = q;
            }
            qsort(pos_rank, (size_t)width, sizeof *pos_rank, by_key);
            double d = 0.0;
            for (int64_t q = 0; q < fill && q < width; q++)
                d += pos_rank[q].key;
            /* a narrow last tile may not hold what a full one would */
            tile_rank[t].key = width < fill ? INFINITY : d;
            tile_rank[t].pos = t;
        }
        qsort(tile_rank, (size_t)tiles, sizeof *tile_rank, by_key);
        int64_t np = 0;
        for (int64_t t = 0; t < need && t < tiles; t++) {
            int64_t t0 = tile_rank[t].pos * L, end = t0 + L < C ? t0 + L : C;
            for (int64_t q = t0; q < end; q++)
                cand[np++] = q;
        }
        assign_group(segs, m, cand, np, cs, val, ps, seg_rank, pos_rank, moved);
    }
    place_faults(out, f, p.block, p.seg, p.pos, R, C, p.slices, p.phys);
    free(cost), free(value), free(seg_rank), free(pos_rank), free(tile_rank);
    free(segs), free(cand);
    placement_free(&p);
    return RP_OK;
}

rp_status rp_faults_score(float *out, const float *weight, const struct rp_fault_layer *f)
{
    if (out == weight)
        return rp_error(RP_EINVAL, "faults_score: out must not be the weights");
    rp_status st = rp_faults_effective(out, weight, f);
    if (st != RP_OK)
        return st;
    int64_t n = f->numel;
#pragma omp parallel for schedule(static) if (n > (1 << 16))
    for (int64_t i = 0; i < n; i++) {
        float w = weight[i], v = fabsf(w) - fabsf(out[i] - w);
        out[i] = v > 0.0f ? v : 0.0f;
    }
    return RP_OK;
}

rp_status rp_faults_crossbars(const float *mask, int64_t R, int64_t C,
                              const struct rp_xbar_config *cfg, int packed, int64_t *count)
{
    int slices, phys, L;
    rp_status st = rp_xbar_config_check(cfg, &slices, &phys, &L);
    if (st != RP_OK)
        return st;
    if (R < 1 || C < 1)
        return rp_error(RP_EINVAL, "faults_crossbars: an R x C matrix with R, C >= 1 expected");
    int64_t *block;
    unsigned char *seg;
    if ((st = mapped_segments(mask, R, C, cfg, &block, &seg, "faults_crossbars")) != RP_OK)
        return st;
    int64_t blocks = 0;
    for (int64_t r = 0; r < R; r++)
        if (block[r] + 1 > blocks)
            blocks = block[r] + 1;
    *count = 0;
    for (int64_t bk = 0; bk < blocks; bk++) {
        int64_t m = 0;
        for (int64_t t0 = 0; t0 < C; t0 += L) {
            int any = 0;
            for (int64_t c = t0; c < C && c < t0 + L; c++)
                if (seg[bk * C + c])
                    m++, any = 1;
            if (!packed && any)
                (*count)++;
        }
        if (packed)
            *count += (m + L - 1) / L;
    }
    free(block);
    free(seg);
    return RP_OK;
}
