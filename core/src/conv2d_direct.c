/*
 * conv2d_direct.c - the sparse convolution of a stride-1 layer without im2col.
 *
 * A chunk of g images is held channel by channel with the images innermost,
 * padded: xp[c][hp][wp][g] (hp = H + 2ph, wp = W + 2pw).  Then the im2col
 * row r = (c, ky, kx) of output row oy is the contiguous run
 *   xp + ((c*hp + ky)*wp + kx)*g + oy*wp*g,   Wo*g values long
 * (positions ox*g + n), so the block products of conv2d_sparse.c read the
 * input where it lies:
 *   forward:     y[A_b][oy] += Wb[A_b, rows_b] . xp rows_b at oy
 *   input grad:  dx[c][iy]  += Wt_b[c, (k, ky, kx)] . dyp rows (k, ky, kx) at iy
 *   weight grad: dWb[A_b, rows_b] += dY[A_b] . (xp rows_b)^T, over every oy
 * where dyp[k][Ho + 2kh - 2][Wo + 2kw - 2][g] is the output gradient padded by
 * kernel - 1 on each side (the input gradient is the full correlation of dY
 * with the flipped filters) and Wt_b holds block b's weights by input channel:
 * Wt_b[c][i*kh*kw + t] = Wb[i, row (c, t)], 0 where the row is not in the block.
 * The products run on register tiles written for AVX-512, AVX2 + FMA and
 * baseline x86-64 (direct_kernel.inc), chosen by the CPU at run time: the
 * forward and input-gradient ones accumulate rows of outputs, the weight
 * gradient's sums of products of runs.  Rows are padded to QPAD values so
 * that every tile is whole (the values past a row's end are computed and
 * dropped).
 *
 * Chunks go to threads round-robin and each thread does all of a chunk's
 * work in its own buffers; weight-gradient partials are added in thread order,
 * so a given thread count always gives the same bits.
 */
#include <stdlib.h>
#include <string.h>

#include "conv2d_sparse.h"
#include "kernel.h"
#include "realprune/blas.h"

/* row lengths (Wo*g, W*g) are padded to a multiple of this */
#define QPAD RP_PANEL_QUANTUM
/* positions x images per output row that a chunk aims for */
#define ROW_TARGET 256

#define KCAT2(a, b) a##b
#define KCAT(a, b)  KCAT2(a, b)

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#include <immintrin.h>

/* the lanes' sum: halves added until one is left */
__attribute__((target("avx2"))) static inline float hsum_avx2(__m256 v)
{
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

__attribute__((target("avx512f"))) static inline float hsum_avx512(__m512 v)
{
    __m256 lo = _mm512_castps512_ps256(v);
    __m256 hi = _mm256_castpd_ps(_mm512_extractf64x4_pd(_mm512_castps_pd(v), 1));
    __m128 q = _mm_add_ps(_mm256_castps256_ps128(lo), _mm256_castps256_ps128(hi));
    q = _mm_add_ps(q, _mm_add_ps(_mm256_extractf128_ps(lo, 1), _mm256_extractf128_ps(hi, 1)));
    q = _mm_add_ps(q, _mm_movehl_ps(q, q));
    return _mm_cvtss_f32(_mm_add_ss(q, _mm_shuffle_ps(q, q, 1)));
}

/* clang-format off */
#define KN(name) KCAT(name, _avx512)
#define KATTR __attribute__((target("avx512f")))
#define KVL 16
#define KMR 6
#define KNV 4
#define KDI 4
#define KDJ 6
#define KFMA(acc, x, s) ((vec_avx512)_mm512_fmadd_ps((__m512)(x), _mm512_set1_ps(s), (__m512)(acc)))
#define KFMAV(acc, x, y) ((vec_avx512)_mm512_fmadd_ps((__m512)(x), (__m512)(y), (__m512)(acc)))
#define KHSUM(v) hsum_avx512((__m512)(v))
#include "direct_kernel.inc"

#define KN(name) KCAT(name, _avx2)
#define KATTR __attribute__((target("avx2,fma")))
#define KVL 8
#define KMR 6
#define KNV 2
#define KDI 3
#define KDJ 4
#define KFMA(acc, x, s) ((vec_avx2)_mm256_fmadd_ps((__m256)(x), _mm256_set1_ps(s), (__m256)(acc)))
#define KFMAV(acc, x, y) ((vec_avx2)_mm256_fmadd_ps((__m256)(x), (__m256)(y), (__m256)(acc)))
#define KHSUM(v) hsum_avx2((__m256)(v))
#include "direct_kernel.inc"
#endif

/* baseline: plain vector arithmetic, lanes summed one by one */
#define KN(name) KCAT(name, _base)
#define KATTR
#define KVL 4
#define KMR 4
#define KNV 2
#define KDI 3
#define KDJ 4
#define KFMA(acc, x, s) ((acc) + (x) * (s))
#define KFMAV(acc, x, y) ((acc) + (x) * (y))
#define KHSUM(v) ((v)[0] + (v)[1] + (v)[2] + (v)[3])
#include "direct_kernel.inc"
/* clang-format on */

/* The kernels of the widest instruction set this CPU runs, or of a narrower
 * one that REALPRUNE_SIMD names (avx2, base: for tests of every form on one
 * machine). */
struct rp_tile_kernels rp_tile_kernels_for_cpu(void)
{
    int allowed = rp_simd_allowed();
    struct rp_tile_kernels k = {panel_base, dw_block_base, 0};
    if (allowed == 0)
        return k;
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
    __builtin_cpu_init();
    k.moves = __builtin_cpu_supports("avx2");
    int avx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
    if (__builtin_cpu_supports("avx512f") && allowed == 2) {
        k.panel = panel_avx512;
        k.dw = dw_block_avx512;
    } else if (avx2) {
        k.panel = panel_avx2;
        k.dw = dw_block_avx2;
    }
#endif
    return k;
}

int rp_direct_applies(const struct rp_conv2d_params *p)
{
    return p->sh == 1 && p->sw == 1;
}

static int64_t round_up(int64_t n, int64_t m)
{
    return (n + m - 1) / m * m;
}

/* The shapes of one call (g: the images of a full chunk). */
struct dshape {
    int64_t C, H, W, K, kh, kw, taps, ph, pw, Ho, Wo, hp, wp, hq, wq, Lf, Lb;
};

static struct dshape shape_of(const struct splan *s, const struct rp_conv2d_params *p,
                              const struct rp_sparse_plan *sp, int64_t g)
{
    struct dshape d;
    d.C = s->Cin;
    d.H = s->H;
    d.W = s->W;
    d.K = sp->C;
    d.kh = p->kh;
    d.kw = p->kw;
    d.taps = p->kh * p->kw;
    d.ph = p->ph;
    d.pw = p->pw;
    d.Ho = s->Ho;
    d.Wo = s->Wo;
    d.hp = d.H + 2 * d.ph;
    d.wp = d.W + 2 * d.pw;
    d.hq = d.Ho + 2 * (d.kh - 1);
    d.wq = d.Wo + 2 * (d.kw - 1);
    d.Lf = round_up(d.Wo * g, QPAD);
    d.Lb = round_up(d.W * g, QPAD);
    return d;
}

/* The transposed weights' size: per block, its input channels x its outputs x taps. */
static int64_t transposed_size(const struct rp_sparse_plan *sp, int64_t taps)
{
    if (sp->by_output)
        return sp->row_start[sp->blocks];
    int64_t n = 0;
    for (int64_t b = 0; b < sp->blocks; b++) {
        const int64_t *rows = sp->rows + sp->row_start[b];
        int64_t nr = sp->row_start[b + 1] - sp->row_start[b];
        int64_t no = sp->out_start[b + 1] - sp->out_start[b];
        int64_t channels = rows[nr - 1] / taps - rows[0] / taps + 1;
        n += channels * no * taps;
    }
    return n;
}

/*
 * Per thread: xp, then either y (forward) or dyp and dx; then a
 * weight-gradient partial.  The forward and backward areas overlap.
 */
struct tarea {
    int64_t xp, y, dyp, dx, partial, total;
};

static struct tarea areas_of(const struct dshape *d, int64_t g, int64_t packed)
{
    struct tarea a;
    a.xp = 0;
    int64_t after_xp = d->C * d->hp * d->wp * g + QPAD;
    a.y = after_xp;
    int64_t fwd = a.y + d->K * d->Ho * d->Lf;
    a.dyp = after_xp;
    a.dx = a.dyp + d->K * d->hq * d->wq * g + QPAD;
    int64_t bwd = a.dx + d->C * d->H * d->Lb;
    a.partial = fwd > bwd ? fwd : bwd;
    a.total = a.partial + packed;
    return a;
}

void rp_direct_splan(struct splan *s, const struct rp_conv2d_params *p,
                     const struct rp_sparse_plan *sp, int threads)
{
    struct rp_chunking c = rp_chunk_batch(s->N, s->Wo, ROW_TARGET, threads);
    s->g = c.g;
    s->chunks = c.chunks;
    s->threads = c.team;
    s->direct = 1;
    struct dshape d = shape_of(s, p, sp, s->g);
    s->shared = s->packed + transposed_size(sp, d.taps);
    s->per_thread = areas_of(&d, s->g, s->packed).total;
}

/* Images are moved 8 at a time: 8 read streams, 8 neighbouring values written
 * (with AVX2, 8x8 blocks through registers). */
#define IMAGE_BLOCK 8

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
/* r[i][j] -> r[j][i] */
__attribute__((target("avx2"))) static inline void transpose8(__m256 r[8])
{
    __m256 t[8], u[8];
    for (int i = 0; i < 4; i++) {
        t[2 * i] = _mm256_unpacklo_ps(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm256_unpackhi_ps(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 2; i++) {
        u[4 * i] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0x44);
        u[4 * i + 1] = _mm256_shuffle_ps(t[4 * i], t[4 * i + 2], 0xee);
        u[4 * i + 2] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0x44);
        u[4 * i + 3] = _mm256_shuffle_ps(t[4 * i + 1], t[4 * i + 3], 0xee);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* A position q = (c*H + y)*W + x of an image's planes [C][H][W], stepped
 * through them in order. */
struct walk {
    int64_t c, y, x;
};

static inline void walk_next(struct walk *w, int64_t H, int64_t W)
{
    if (++w->x == W) {
        w->x = 0;
        if (++w->y == H) {
            w->y = 0;
            w->c++;
        }
    }
}

/* Images src[0..7] ([C][H][W] each, n = C*H*W values) into the padded layout:
 * value q of image i to xp[((c*hp + top + y)*wp + left + x)*g + i].  Eight
 * positions of the eight images at a time through an 8x8 transpose: each
 * image is read as one contiguous run whatever its plane's width. */
__attribute__((target("avx2"))) static void pad_images8(float *xp, const float *const src[8],
                                                        int64_t n, int64_t H, int64_t W, int64_t hp,
                                                        int64_t wp, int64_t top, int64_t left,
                                                        int64_t g)
{
    struct walk w = {0, 0, 0};
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) {
        __m256 r[8];
        for (int i = 0; i < 8; i++)
            r[i] = _mm256_loadu_ps(src[i] + q);
        transpose8(r); /* r[j]: position q + j of the eight images */
        for (int j = 0; j < 8; j++) {
            _mm256_storeu_ps(xp + ((w.c * hp + top + w.y) * wp + left + w.x) * g, r[j]);
            walk_next(&w, H, W);
        }
    }
    for (; q < n; q++) {
        float *dst = xp + ((w.c * hp + top + w.y) * wp + left + w.x) * g;
        for (int i = 0; i < 8; i++)
            dst[i] = src[i][q];
        walk_next(&w, H, W);
    }
}

/* The reverse, plus each channel's bias: dst[i][q] = ys[(c*Hs + y)*L + x*g + i]
 * + bias[c] for the eight images i, n = C*Hs*Ws. */
__attribute__((target("avx2"))) static void unpad_images8(float *const dst[8], const float *ys,
                                                          int64_t n, int64_t Hs, int64_t Ws,
                                                          int64_t L, int64_t g, const float *bias)
{
    struct walk w = {0, 0, 0};
    int64_t q = 0;
    for (; q + 8 <= n; q += 8) {
        __m256 r[8];
        float bq[8];
        for (int j = 0; j < 8; j++) {
            r[j] = _mm256_loadu_ps(ys + (w.c * Hs + w.y) * L + w.x * g);
            bq[j] = bias ? bias[w.c] : 0.0f;
            walk_next(&w, Hs, Ws);
        }
        transpose8(r); /* r[i]: positions q .. q+7 of image i */
        const __m256 b = _mm256_loadu_ps(bq);
        for (int i = 0; i < 8; i++)
            _mm256_storeu_ps(dst[i] + q, _mm256_add_ps(r[i], b));
    }
    for (; q < n; q++) {
        const float *src = ys + (w.c * Hs + w.y) * L + w.x * g;
        float bv = bias ? bias[w.c] : 0.0f;
        for (int i = 0; i < 8; i++)
            dst[i][q] = src[i] + bv;
        walk_next(&w, Hs, Ws);
    }
}

#define SIMD_MOVES 1
#else
#define SIMD_MOVES 0
#endif

/* Images n0 .. n0+g-1 of x[N][C][H][W] into xp[C][hp][wp][g] (zero borders). */
static void pad_chunk(float *xp, const float *x, int64_t n0, int64_t g, int64_t C, int64_t H,
                      int64_t W, int64_t hp, int64_t wp, int64_t top, int64_t left, int simd)
{
    (void)simd; /* without SIMD_MOVES */
    const int64_t plane = hp * wp * g, run = W * g, img = C * H * W;
    if (W < 8) { /* narrow planes are mostly border: zero them whole */
        memset(xp, 0, sizeof(float) * (size_t)(C * plane));
    } else {
        for (int64_t c = 0; c < C; c++) {
            float *p = xp + c * plane;
            memset(p, 0, sizeof(float) * (size_t)(top * wp * g));
            memset(p + (top + H) * wp * g, 0, sizeof(float) * (size_t)((hp - top - H) * wp * g));
            for (int64_t y = 0; y < H; y++) {
                float *row = p + (top + y) * wp * g;
                memset(row, 0, sizeof(float) * (size_t)(left * g));
                memset(row + left * g + run, 0, sizeof(float) * (size_t)((wp - left - W) * g));
            }
        }
    }
    for (int64_t nb = 0; nb < g; nb += IMAGE_BLOCK) {
        int64_t m = g - nb < IMAGE_BLOCK ? g - nb : IMAGE_BLOCK;
        const float *src[IMAGE_BLOCK];
        for (int64_t i = 0; i < m; i++)
            src[i] = x + (n0 + nb + i) * img;
#if SIMD_MOVES
        if (simd && m == IMAGE_BLOCK) {
            pad_images8(xp + nb, src, img, H, W, hp, wp, top, left, g);
            continue;
        }
#endif
        for (int64_t c = 0; c < C; c++)
            for (int64_t y = 0; y < H; y++) {
                float *dst = xp + c * plane + ((top + y) * wp + left) * g + nb;
                for (int64_t xx = 0; xx < W; xx++)
                    for (int64_t i = 0; i < m; i++)
                        dst[xx * g + i] = src[i][(c * H + y) * W + xx];
            }
    }
}

/* Rows ys[C][Hs][L] (positions x*g + n) back into images n0.. of out[N][C][Hs][Ws], plus bias. */
static void unpad_chunk(float *out, const float *ys, int64_t n0, int64_t g, int64_t C, int64_t Hs,
                        int64_t Ws, int64_t L, const float *bias, int simd)
{
    (void)simd;
    const int64_t img = C * Hs * Ws;
    for (int64_t nb = 0; nb < g; nb += IMAGE_BLOCK) {
        int64_t m = g - nb < IMAGE_BLOCK ? g - nb : IMAGE_BLOCK;
        float *dst[IMAGE_BLOCK];
        for (int64_t i = 0; i < m; i++)
            dst[i] = out + (n0 + nb + i) * img;
#if SIMD_MOVES
        if (simd && m == IMAGE_BLOCK) {
            unpad_images8(dst, ys + nb, img, Hs, Ws, L, g, bias);
            continue;
        }
#endif
        for (int64_t c = 0; c < C; c++) {
            float bv = bias ? bias[c] : 0.0f;
            for (int64_t y = 0; y < Hs; y++) {
                const float *src = ys + (c * Hs + y) * L + nb;
                for (int64_t xx = 0; xx < Ws; xx++)
                    for (int64_t i = 0; i < m; i++)
                        dst[i][(c * Hs + y) * Ws + xx] = src[xx * g + i] + bv;
            }
        }
    }
}

/* The input gradient runs on groups of input channels: each block's channels
 * (a row range), or with one block per output each channel alone, holding the
 * alive (output, tap) pairs that reach it.  Group q: channels c0[q] ..
 * c0[q] + channels[q] - 1, ld[q] pairs per channel, their run offsets from
 * bwd + off_start[q], their weights from wt_start[q] (channel-major). */
struct offsets {
    int64_t *fwd;                                       /* per forward row (units of g) */
    int64_t *bwd;                                       /* per input-gradient pair */
    int64_t *c0, *channels, *ld, *off_start, *wt_start; /* per group */
    int64_t *src; /* by output: the packed weight of each pair */
    int64_t groups;
    void *mem;
};

/* The run offset (units of g) of output k's gradient at tap t, for the input gradient. */
static int64_t grad_offset(const struct dshape *d, int64_t k, int64_t t)
{
    int64_t ky = t / d->kw, kx = t % d->kw;
    return (k * d->hq + d->ph - ky + d->kh - 1) * d->wq + d->pw - kx + d->kw - 1;
}

static rp_status offsets_of(struct offsets *o, const struct dshape *d,
                            const struct rp_sparse_plan *sp)
{
    int64_t rows = sp->row_start[sp->blocks], nb = sp->blocks, pairs = 0;
    int64_t groups = sp->by_output ? d->C : nb;
    if (sp->by_output)
        pairs = rows;
    else
        for (int64_t b = 0; b < nb; b++)
            pairs += (sp->out_start[b + 1] - sp->out_start[b]) * d->taps;
    o->mem = malloc(sizeof(int64_t) * (size_t)(rows + 2 * pairs + 5 * (groups + 1)));
    if (!o->mem)
        return rp_error(RP_ENOMEM, "conv2d: out of memory for the sparse kernel's offsets");
    o->fwd = o->mem;
    o->bwd = o->fwd + rows;
    o->src = o->bwd + pairs;
    o->c0 = o->src + pairs;
    o->channels = o->c0 + groups + 1;
    o->ld = o->channels + groups + 1;
    o->off_start = o->ld + groups + 1;
    o->wt_start = o->off_start + groups + 1;
    for (int64_t j = 0; j < rows; j++) {
        int64_t r = sp->rows[j], c = r / d->taps, t = r % d->taps;
        o->fwd[j] = (c * d->hp + t / d->kw) * d->wp + t % d->kw;
    }
    o->groups = 0;
    if (sp->by_output) {
        /* pairs by input channel (counted, then placed in block order) */
        int64_t *at = o->off_start; /* the next pair of each channel, while placing */
        memset(o->ld, 0, sizeof(int64_t) * (size_t)(d->C + 1));
        for (int64_t j = 0; j < rows; j++)
            o->ld[sp->rows[j] / d->taps]++;
        int64_t n = 0;
        for (int64_t c = 0; c < d->C; c++) {
            at[c] = n;
            n += o->ld[c];
        }
        for (int64_t b = 0; b < nb; b++)
            for (int64_t j = sp->row_start[b]; j < sp->row_start[b + 1]; j++) {
                int64_t c = sp->rows[j] / d->taps, t = sp->rows[j] % d->taps, q = at[c]++;
                o->bwd[q] = grad_offset(d, sp->outs[b], t);
                o->src[q] = sp->w_start[b] + j - sp->row_start[b];
            }
        /* the channels with pairs become the groups (at[c] is now their end) */
        for (int64_t c = 0; c < d->C; c++)
            if (o->ld[c] > 0) {
                int64_t q = o->groups++;
                o->c0[q] = c;
                o->channels[q] = 1;
                o->ld[q] = o->ld[c];
                o->off_start[q] = at[c] - o->ld[q];
                o->wt_start[q] = o->off_start[q];
            }
        return RP_OK;
    }
    int64_t off = 0, wt = 0;
    for (int64_t b = 0; b < nb; b++) {
        const int64_t *rr = sp->rows + sp->row_start[b], *outs = sp->outs + sp->out_start[b];
        int64_t nr = sp->row_start[b + 1] - sp->row_start[b];
        int64_t no = sp->out_start[b + 1] - sp->out_start[b];
        for (int64_t i = 0; i < no; i++)
            for (int64_t t = 0; t < d->taps; t++)
                o->bwd[off + i * d->taps + t] = grad_offset(d, outs[i], t);
        int64_t q = o->groups++;
        o->c0[q] = rr[0] / d->taps;
        o->channels[q] = rr[nr - 1] / d->taps - o->c0[q] + 1;
        o->ld[q] = no * d->taps;
        o->off_start[q] = off;
        o->wt_start[q] = wt;
        off += no * d->taps;
        wt += o->channels[q] * no * d->taps;
    }
    return RP_OK;
}

/* The input gradient's weights: per block Wt_b[c - c0][i*taps + t] = Wb[i, row
 * (c, t)] (0 where the row is not in the block), or by output each pair's. */
static void transpose_weights(float *wt, const float *packed, const struct offsets *o,
                              const struct dshape *d, const struct rp_sparse_plan *sp)
{
    if (sp->by_output) {
        int64_t n = sp->row_start[sp->blocks];
#pragma omp parallel for schedule(static) if (n > (1 << 15))
        for (int64_t q = 0; q < n; q++)
            wt[q] = packed[o->src[q]];
        return;
    }
#pragma omp parallel for schedule(static) if (sp->w_start[sp->blocks] > (1 << 15))
    for (int64_t b = 0; b < sp->blocks; b++) {
        const int64_t *rows = sp->rows + sp->row_start[b];
        int64_t nr = sp->row_start[b + 1] - sp->row_start[b];
        int64_t no = sp->out_start[b + 1] - sp->out_start[b], ld = no * d->taps;
        const float *src = packed + sp->w_start[b];
        float *dst = wt + o->wt_start[b];
        memset(dst, 0, sizeof(float) * (size_t)(o->channels[b] * ld));
        for (int64_t i = 0; i < no; i++)
            for (int64_t j = 0; j < nr; j++) {
                int64_t c = rows[j] / d->taps - o->c0[b], t = rows[j] % d->taps;
                dst[c * ld + i * d->taps + t] = src[i * nr + j];
            }
    }
}

rp_status rp_direct_forward(float *output, const float *input, const float *weight,
                            const float *bias, float *workspace, const struct splan *s,
                            const struct rp_conv2d_params *p, const struct rp_sparse_plan *sp)
{
    const struct dshape d = shape_of(s, p, sp, s->g);
    struct offsets o;
    rp_status st = offsets_of(&o, &d, sp);
    if (st != RP_OK)
        return st;
    float **rowp = malloc(sizeof(float *) * (size_t)(s->threads * (sp->max_out + 1)));
    if (!rowp) {
        free(o.mem);
        return rp_error(RP_ENOMEM, "conv2d: out of memory for the sparse kernel's rows");
    }
    const struct rp_tile_kernels kern = rp_tile_kernels_for_cpu();
    float *packed = workspace;
    rp_sparse_pack_weights(packed, weight, sp);
#pragma omp parallel num_threads(s->threads)
    {
        int t = rp_thread_id(), team = rp_team_size();
        float *area = workspace + s->shared + t * s->per_thread;
        struct tarea a = areas_of(&d, s->g, s->packed);
        float *xp = area + a.xp, *y = area + a.y, **op = rowp + t * (sp->max_out + 1);
        for (int64_t c = t; c < s->chunks; c += team) {
            int64_t n0 = c * s->g, g = n0 + s->g <= s->N ? s->g : s->N - n0;
            int64_t Lf = round_up(d.Wo * g, QPAD);
            pad_chunk(xp, input, n0, g, d.C, d.H, d.W, d.hp, d.wp, d.ph, d.pw, kern.moves);
            memset(y, 0, sizeof(float) * (size_t)(d.K * d.Ho * Lf));
            for (int64_t oy = 0; oy < d.Ho; oy++)
                for (int64_t b = 0; b < sp->blocks; b++) {
                    const int64_t *outs = sp->outs + sp->out_start[b];
                    int64_t no = sp->out_start[b + 1] - sp->out_start[b];
                    int64_t r0 = sp->row_start[b], nr = sp->row_start[b + 1] - r0;
                    for (int64_t i = 0; i < no; i++)
                        op[i] = y + (outs[i] * d.Ho + oy) * Lf;
                    kern.panel(no, nr, packed + sp->w_start[b], nr, xp + oy * d.wp * g, o.fwd + r0,
                               g, op, Lf);
                }
            unpad_chunk(output, y, n0, g, d.K, d.Ho, d.Wo, Lf, bias, kern.moves);
        }
    }
    free(rowp);
    free(o.mem);
    return RP_OK;
}

/* dyp[k][hq][wq][g] from images n0.. of dy[N][K][Ho][Wo], placed at (kh-1, kw-1). */
static void pad_grad(float *dyp, const float *dy, int64_t n0, int64_t g, const struct dshape *d,
                     int simd)
{
    pad_chunk(dyp, dy, n0, g, d->K, d->Ho, d->Wo, d->hq, d->wq, d->kh - 1, d->kw - 1, simd);
}

/* dWb += dY[A_b] . (xp rows_b)^T over every output row of a chunk: runs
 * read where they lie (dY in dyp, the rows in xp), one tile of sums at a time. */
static void weight_grad(float *partial, const float *xp, const float *dyp, int64_t g,
                        const float **dr, const float **xr, rp_dw_fn dw, const struct offsets *o,
                        const struct dshape *d, const struct rp_sparse_plan *sp)
{
    for (int64_t b = 0; b < sp->blocks; b++) {
        const int64_t *outs = sp->outs + sp->out_start[b];
        int64_t no = sp->out_start[b + 1] - sp->out_start[b];
        int64_t r0 = sp->row_start[b], nr = sp->row_start[b + 1] - r0;
        for (int64_t i = 0; i < no; i++)
            dr[i] = dyp + ((outs[i] * d->hq + d->kh - 1) * d->wq + d->kw - 1) * g;
        for (int64_t j = 0; j < nr; j++)
            xr[j] = xp + o->fwd[r0 + j] * g;
        dw(no, nr, dr, d->wq * g, xr, d->wp * g, d->Ho, d->Wo * g, partial + sp->w_start[b]);
    }
}

rp_status rp_direct_backward(float *grad_input, float *grad_weight, const float *grad_output,
                             const float *input, const float *weight, float *workspace,
                             const struct splan *s, const struct rp_conv2d_params *p,
                             const struct rp_sparse_plan *sp, float scale)
{
    const struct dshape d = shape_of(s, p, sp, s->g);
    struct offsets o;
    rp_status st = offsets_of(&o, &d, sp);
    if (st != RP_OK)
        return st;
    int64_t most = sp->max_out + sp->max_rows > d.C ? sp->max_out + sp->max_rows : d.C;
    float **rowp = malloc(sizeof(float *) * (size_t)(s->threads * (most + 1)));
    if (!rowp) {
        free(o.mem);
        return rp_error(RP_ENOMEM, "conv2d: out of memory for the sparse kernel's rows");
    }
    const struct rp_tile_kernels kern = rp_tile_kernels_for_cpu();
    float *packed = workspace, *wt = workspace + s->packed;
    if (grad_input) {
        rp_sparse_pack_weights(packed, weight, sp);
        transpose_weights(wt, packed, &o, &d, sp);
    }
    int started = 0;
#pragma omp parallel num_threads(s->threads)
    {
        int t = rp_thread_id(), team = rp_team_size();
#pragma omp single
        started = team;
        float *area = workspace + s->shared + t * s->per_thread;
        struct tarea a = areas_of(&d, s->g, s->packed);
        float *xp = area + a.xp, *dyp = area + a.dyp, *dx = area + a.dx;
        float *partial = area + a.partial, **op = rowp + t * (most + 1);
        if (grad_weight)
            memset(partial, 0, sizeof(float) * (size_t)s->packed);
        for (int64_t c = t; c < s->chunks; c += team) {
            int64_t n0 = c * s->g, g = n0 + s->g <= s->N ? s->g : s->N - n0;
            int64_t Lb = round_up(d.W * g, QPAD);
            pad_grad(dyp, grad_output, n0, g, &d, kern.moves);
            if (grad_input) {
                memset(dx, 0, sizeof(float) * (size_t)(d.C * d.H * Lb));
                for (int64_t iy = 0; iy < d.H; iy++)
                    for (int64_t q = 0; q < o.groups; q++) {
                        for (int64_t ci = 0; ci < o.channels[q]; ci++)
                            op[ci] = dx + ((o.c0[q] + ci) * d.H + iy) * Lb;
                        kern.panel(o.channels[q], o.ld[q], wt + o.wt_start[q], o.ld[q],
                                   dyp + iy * d.wq * g, o.bwd + o.off_start[q], g, op, Lb);
                    }
                unpad_chunk(grad_input, dx, n0, g, d.C, d.H, d.W, Lb, NULL, kern.moves);
            }
            if (grad_weight) {
                pad_chunk(xp, input, n0, g, d.C, d.H, d.W, d.hp, d.wp, d.ph, d.pw, kern.moves);
                weight_grad(partial, xp, dyp, g, (const float **)op,
                            (const float **)op + sp->max_out, kern.dw, &o, &d, sp);
            }
        }
    }
    if (grad_input && s->chunks == 0)
        memset(grad_input, 0, sizeof(float) * (size_t)(s->N * d.C * d.H * d.W));
    if (grad_weight)
        rp_sparse_add_partials(grad_weight,
                               workspace + s->shared + areas_of(&d, s->g, s->packed).partial,
                               s->per_thread, started, sp, scale);
    free(rowp);
    free(o.mem);
    return RP_OK;
}
