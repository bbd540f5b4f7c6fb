/*
 * conv2d_winograd.c - 3x3 stride-1 convolution by Winograd F(2x2, 3x3) and
 * F(4x4, 3x3).
 *
 * Each 2x2 block of outputs (a tile) comes from a 4x4 block of the padded
 * input d.  With the 3x3 filter g,
 *   Y = A^T [ (G g G^T) . (B^T d B) ] A          (. elementwise, 4x4)
 * so the 36 multiplications per tile and channel pair of the direct form
 * become 16, and the sum over input channels turns into 16 independent
 * GEMMs, one per element xi of the 4x4 transformed tile:
 *   forward:       M[xi][K, T]  = U[xi][K, C] . V[xi][C, T]
 *   input grad:    dV[xi][C, T] = U[xi]^T . dM[xi][K, T]
 *   weight grad:   dU[xi][K, C] += dM[xi] . V[xi]^T
 * with U = G g G^T (filters), V = B^T d B (input tiles), dM = A dY A^T
 * (output-gradient tiles), then dX += B dV B^T (overlapping tiles added)
 * and dW = G^T dU G.  The products run on OpenBLAS like the im2col path.
 *
 * The batch is cut into chunks of whole images (T tiles); each thread takes
 * its chunks round-robin and does all of a chunk's work itself, in its own
 * buffers (which stay in its core's cache), with serial GEMMs.  Weight
 * gradients go to per-thread partial sums added in thread order, so a given
 * thread count always gives the same bits.
 *
 * F(4x4, 3x3) works the same way on 6x6 tiles of 4x4 outputs (36 GEMMs,
 * 36 multiplications for 144 of the direct form: 4 times fewer), at some
 * cost in rounding; rp_conv2d picks it for wide enough outputs.
 *
 * Workspace (nxi = 16 or 36): U [K][nxi][C] (shared), then per thread V or
 * dV [nxi][C][T], M or dM [nxi][K][T], scratch rows and a partial dU
 * [K][nxi][C].
 */
#include <stdlib.h>
#include <string.h>

#include "conv2d_sparse.h"
#include "conv2d_winograd.h"
#include "realprune/blas.h"

/* Tiles per chunk: as many as keep a thread's two chunk buffers near 2 MB
 * (its share of the L2 cache), within [MIN_TILES, MAX_TILES]. */
#define CHUNK_FLOATS (512 * 1024)
#define MIN_TILES    128
#define MAX_TILES    256

int rp_winograd_applies(const struct rp_conv2d_params *p)
{
    return p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1;
}

/* The workspace of a plan whose T and ushared are set. */
static void plan_sizes(struct rp_winograd_plan *wp)
{
    int64_t nxi = wp->nxi;
    wp->vs = wp->C * wp->T + 16;
    wp->ms = wp->K * wp->T + 16;
    wp->per_thread =
        nxi * (wp->vs + wp->ms) + 16 * wp->tw + 4 * wp->wt + wp->ushared + wp->gathered;
    wp->size = wp->ushared + wp->threads * wp->per_thread;
}

void rp_winograd_plan(struct rp_winograd_plan *wp, const int64_t in[4], int64_t cout,
                      const struct rp_conv2d_params *p, int tile, int threads)
{
    wp->N = in[0];
    wp->C = in[1];
    wp->H = in[2];
    wp->W = in[3];
    wp->K = cout;
    wp->Ho = wp->H + 2 * p->ph - 2;
    wp->Wo = wp->W + 2 * p->pw - 2;
    wp->ph = p->ph;
    wp->pw = p->pw;
    wp->m = tile;
    wp->a = tile + 2;
    wp->nxi = wp->a * wp->a;
    wp->th = (wp->Ho + tile - 1) / tile;
    wp->tw = (wp->Wo + tile - 1) / tile;
    int64_t per_image = wp->th * wp->tw, nxi = wp->nxi;
    int64_t target = wp->C + wp->K > 0 ? CHUNK_FLOATS / (nxi * (wp->C + wp->K)) : MAX_TILES;
    if (target > MAX_TILES)
        target = MAX_TILES;
    if (target < MIN_TILES)
        target = MIN_TILES;
    struct rp_chunking c = rp_chunk_batch(wp->N, per_image, target, threads);
    wp->g = c.g;
    wp->chunks = c.chunks;
    wp->threads = c.team;
    wp->T = c.g * per_image;
    wp->wt = 2 * wp->tw + 4;
    /* V and M of a chunk, the scratch rows, a partial dU */
    /* one cache line more than C*T (K*T) between the xi planes: with power-of-two
     * strides the nxi values of a tile would all fall in one cache set */
    wp->ushared = nxi * wp->K * wp->C;
    wp->gathered = 0;
    plan_sizes(wp);
}

void rp_winograd_sparse_plan(struct rp_winograd_plan *wp, const int64_t in[4], int64_t cout,
                             const struct rp_conv2d_params *p, int tile, int threads,
                             const struct rp_pair_blocks *pb)
{
    rp_winograd_plan(wp, in, cout, p, tile, threads);
    wp->T = (wp->T + RP_PANEL_QUANTUM - 1) / RP_PANEL_QUANTUM * RP_PANEL_QUANTUM;
    wp->ushared = wp->nxi * pb->pairs;
    wp->gathered = pb->max_out * wp->T;
    plan_sizes(wp);
}

/* ---- the transforms (one tile; m is the 4x4 tile, row-major) ---- */

/* dW = G^T dU G, 3x3 */
static void filter_transform_t(float dw[9], const float du[16])
{
    float h[3][4];
    for (int j = 0; j < 4; j++) {
        h[0][j] = du[j] + 0.5f * (du[4 + j] + du[8 + j]);
        h[1][j] = 0.5f * (du[4 + j] - du[8 + j]);
        h[2][j] = 0.5f * (du[4 + j] + du[8 + j]) + du[12 + j];
    }
    for (int i = 0; i < 3; i++) {
        dw[3 * i] = h[i][0] + 0.5f * (h[i][1] + h[i][2]);
        dw[3 * i + 1] = 0.5f * (h[i][1] - h[i][2]);
        dw[3 * i + 2] = 0.5f * (h[i][1] + h[i][2]) + h[i][3];
    }
}

/* V = B^T d B */
static void input_transform(float v[16], const float d[16])
{
    float r[16];
    for (int j = 0; j < 4; j++) {
        r[j] = d[j] - d[8 + j];
        r[4 + j] = d[4 + j] + d[8 + j];
        r[8 + j] = d[8 + j] - d[4 + j];
        r[12 + j] = d[4 + j] - d[12 + j];
    }
    for (int i = 0; i < 4; i++) {
        const float *s = r + 4 * i;
        v[4 * i] = s[0] - s[2];
        v[4 * i + 1] = s[1] + s[2];
        v[4 * i + 2] = s[2] - s[1];
        v[4 * i + 3] = s[1] - s[3];
    }
}

/* dD = B dV B^T */
static void input_transform_t(float d[16], const float v[16])
{
    float f[16];
    for (int j = 0; j < 4; j++) {
        f[j] = v[j];
        f[4 + j] = v[4 + j] - v[8 + j] + v[12 + j];
        f[8 + j] = v[4 + j] + v[8 + j] - v[j];
        f[12 + j] = -v[12 + j];
    }
    for (int i = 0; i < 4; i++) {
        const float *s = f + 4 * i;
        d[4 * i] = s[0];
        d[4 * i + 1] = s[1] - s[2] + s[3];
        d[4 * i + 2] = s[1] + s[2] - s[0];
        d[4 * i + 3] = -s[3];
    }
}

/* Y = A^T M A, 2x2 */
static void output_transform(float y[4], const float m[16])
{
    float s[2][4];
    for (int j = 0; j < 4; j++) {
        s[0][j] = m[j] + m[4 + j] + m[8 + j];
        s[1][j] = m[4 + j] - m[8 + j] - m[12 + j];
    }
    for (int i = 0; i < 2; i++) {
        y[2 * i] = s[i][0] + s[i][1] + s[i][2];
        y[2 * i + 1] = s[i][1] - s[i][2] - s[i][3];
    }
}

/* dM = A dY A^T, dY 2x2 */
static void output_transform_t(float m[16], const float dy[4])
{
    float e[4][2];
    for (int j = 0; j < 2; j++) {
        e[0][j] = dy[j];
        e[1][j] = dy[j] + dy[2 + j];
        e[2][j] = dy[j] - dy[2 + j];
        e[3][j] = -dy[2 + j];
    }
    for (int i = 0; i < 4; i++) {
        m[4 * i] = e[i][0];
        m[4 * i + 1] = e[i][0] + e[i][1];
        m[4 * i + 2] = e[i][0] - e[i][1];
        m[4 * i + 3] = -e[i][1];
    }
}

/* ---- whole planes ---- */

/* The filters of weight [K][C][3][3] -> u[K][nxi][C]: the matrix U[xi] starts
 * at u + xi * C with rows nxi * C apart, and one output channel's values are
 * written together. */
/* U = G g G^T for the C filters g = w[C][3][3] of one output channel,
 * written to u[xi * plane + c]. */
RP_VECTOR_CLONES static void filter_row(float *restrict u, int64_t plane, const float *restrict w,
                                        int64_t C)
{
    for (int64_t c = 0; c < C; c++) {
        const float *g = w + c * 9;
        float q[4][3]; /* G g */
        for (int j = 0; j < 3; j++) {
            q[0][j] = g[j];
            q[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
            q[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
            q[3][j] = g[6 + j];
        }
        for (int i = 0; i < 4; i++) {
            u[(4 * i) * plane + c] = q[i][0];
            u[(4 * i + 1) * plane + c] = 0.5f * (q[i][0] + q[i][1] + q[i][2]);
            u[(4 * i + 2) * plane + c] = 0.5f * (q[i][0] - q[i][1] + q[i][2]);
            u[(4 * i + 3) * plane + c] = q[i][2];
        }
    }
}

static void filter_row4(float *u, int64_t plane, const float *w, int64_t C);

static void transform_filters(float *u, const float *w, const struct rp_winograd_plan *wp)
{
    const int64_t K = wp->K, C = wp->C, nxi = wp->nxi;
#pragma omp for schedule(static)
    for (int64_t k = 0; k < K; k++) {
        if (wp->m == 4)
            filter_row4(u + k * nxi * C, C, w + k * C * 9, C);
        else
            filter_row(u + k * nxi * C, C, w + k * C * 9, C);
    }
}

/* ---- F(4x4, 3x3): 6x6 tiles (interpolation points 0, +-1, +-2, infinity).
 * Each 2-D transform is a 1-D one on the columns, then on the rows. ---- */

/* o = B^T d (6 -> 6), element strides os and ds */
static inline void bt6(float *o, int os, const float *d, int ds)
{
    float d0 = d[0], d1 = d[ds], d2 = d[2 * ds], d3 = d[3 * ds], d4 = d[4 * ds], d5 = d[5 * ds];
    o[0] = 4.0f * d0 - 5.0f * d2 + d4;
    o[os] = -4.0f * d1 - 4.0f * d2 + d3 + d4;
    o[2 * os] = 4.0f * d1 - 4.0f * d2 - d3 + d4;
    o[3 * os] = -2.0f * d1 - d2 + 2.0f * d3 + d4;
    o[4 * os] = 2.0f * d1 - d2 - 2.0f * d3 + d4;
    o[5 * os] = 4.0f * d1 - 5.0f * d3 + d5;
}

/* o = B x (6 -> 6) */
static inline void b6(float *o, int os, const float *x, int xs)
{
    float x0 = x[0], x1 = x[xs], x2 = x[2 * xs], x3 = x[3 * xs], x4 = x[4 * xs], x5 = x[5 * xs];
    o[0] = 4.0f * x0;
    o[os] = -4.0f * x1 + 4.0f * x2 - 2.0f * x3 + 2.0f * x4 + 4.0f * x5;
    o[2 * os] = -5.0f * x0 - 4.0f * x1 - 4.0f * x2 - x3 - x4;
    o[3 * os] = x1 - x2 + 2.0f * x3 - 2.0f * x4 - 5.0f * x5;
    o[4 * os] = x0 + x1 + x2 + x3 + x4;
    o[5 * os] = x5;
}

/* o = A^T m (6 -> 4) */
static inline void at6(float *o, int os, const float *m, int ms)
{
    float m0 = m[0], m1 = m[ms], m2 = m[2 * ms], m3 = m[3 * ms], m4 = m[4 * ms], m5 = m[5 * ms];
    o[0] = m0 + m1 + m2 + m3 + m4;
    o[os] = m1 - m2 + 2.0f * m3 - 2.0f * m4;
    o[2 * os] = m1 + m2 + 4.0f * m3 + 4.0f * m4;
    o[3 * os] = m1 - m2 + 8.0f * m3 - 8.0f * m4 + m5;
}

/* o = A y (4 -> 6) */
static inline void a6(float *o, int os, const float *y, int ys)
{
    float y0 = y[0], y1 = y[ys], y2 = y[2 * ys], y3 = y[3 * ys];
    o[0] = y0;
    o[os] = y0 + y1 + y2 + y3;
    o[2 * os] = y0 - y1 + y2 - y3;
    o[3 * os] = y0 + 2.0f * y1 + 4.0f * y2 + 8.0f * y3;
    o[4 * os] = y0 - 2.0f * y1 + 4.0f * y2 - 8.0f * y3;
    o[5 * os] = y3;
}

/* o = G g (3 -> 6) */
static inline void g6(float *o, int os, const float *g, int gs)
{
    float g0 = g[0], g1 = g[gs], g2 = g[2 * gs];
    o[0] = 0.25f * g0;
    o[os] = -(g0 + g1 + g2) / 6.0f;
    o[2 * os] = -(g0 - g1 + g2) / 6.0f;
    o[3 * os] = g0 / 24.0f + g1 / 12.0f + g2 / 6.0f;
    o[4 * os] = g0 / 24.0f - g1 / 12.0f + g2 / 6.0f;
    o[5 * os] = g2;
}

/* o = G^T x (6 -> 3) */
static inline void gt6(float *o, int os, const float *x, int xs)
{
    float x0 = x[0], x1 = x[xs], x2 = x[2 * xs], x3 = x[3 * xs], x4 = x[4 * xs], x5 = x[5 * xs];
    o[0] = 0.25f * x0 - x1 / 6.0f - x2 / 6.0f + x3 / 24.0f + x4 / 24.0f;
    o[os] = -x1 / 6.0f + x2 / 6.0f + x3 / 12.0f - x4 / 12.0f;
    o[2 * os] = -x1 / 6.0f - x2 / 6.0f + x3 / 6.0f + x4 / 6.0f + x5;
}

/* V = B^T d B, 6x6 */
static void input_transform4(float v[36], const float d[36])
{
    float t[36];
    for (int j = 0; j < 6; j++)
        bt6(t + j, 6, d + j, 6);
    for (int i = 0; i < 6; i++)
        bt6(v + 6 * i, 1, t + 6 * i, 1);
}

/* dD = B dV B^T, 6x6 */
static void input_transform4_t(float d[36], const float v[36])
{
    float t[36];
    for (int j = 0; j < 6; j++)
        b6(t + j, 6, v + j, 6);
    for (int i = 0; i < 6; i++)
        b6(d + 6 * i, 1, t + 6 * i, 1);
}

/* Y = A^T M A, 4x4 */
static void output_transform4(float y[16], const float m[36])
{
    float t[24]; /* 4x6 */
    for (int j = 0; j < 6; j++)
        at6(t + j, 6, m + j, 6);
    for (int i = 0; i < 4; i++)
        at6(y + 4 * i, 1, t + 6 * i, 1);
}

/* dM = A dY A^T, 6x6 from 4x4 */
static void output_transform4_t(float m[36], const float dy[16])
{
    float t[24]; /* 6x4 */
    for (int j = 0; j < 4; j++)
        a6(t + j, 4, dy + j, 4);
    for (int i = 0; i < 6; i++)
        a6(m + 6 * i, 1, t + 4 * i, 1);
}

/* U = G g G^T for the C filters w[C][3][3] of one output channel -> u[xi * plane + c] */
static void filter_row4(float *u, int64_t plane, const float *w, int64_t C)
{
    for (int64_t c = 0; c < C; c++) {
        float t[18], r[36]; /* 6x3, 6x6 */
        for (int j = 0; j < 3; j++)
            g6(t + j, 3, w + c * 9 + j, 3);
        for (int i = 0; i < 6; i++)
            g6(r + 6 * i, 1, t + 3 * i, 1);
        for (int xi = 0; xi < 36; xi++)
            u[xi * plane + c] = r[xi];
    }
}

/* dW = G^T dU G, 3x3 from 6x6 */
static void filter_transform4_t(float dw[9], const float du[36])
{
    float t[18]; /* 3x6 */
    for (int j = 0; j < 6; j++)
        gt6(t + j, 6, du + j, 6);
    for (int i = 0; i < 3; i++)
        gt6(dw + 3 * i, 1, t + 6 * i, 1);
}

/* The tile loops below are written once for F(m x m, 3 x 3) with m a
 * compile-time constant; TILES(fn, ...) calls fn_m with the plan's m. */
#define TILES(fn, ...) (wp->m == 4 ? fn##_m(__VA_ARGS__, 4) : fn##_m(__VA_ARGS__, 2))

/* Tile by tile (F(4x4) always, F(2x2) on planes too narrow for the row-wise
 * forms below): plane x[H][W] -> the tiles of one image and channel,
 * v[xi * ld + t]. */
RP_ALWAYS_INLINE void gather_tiles_m(float *v, int64_t ld, const float *x,
                                     const struct rp_winograd_plan *wp, const int m)
{
    const int a = m + 2, nxi = a * a;
    int64_t t = 0;
    for (int64_t ty = 0; ty < wp->th; ty++) {
        int64_t y0 = m * ty - wp->ph;
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            int64_t x0 = m * tx - wp->pw;
            float d[36], r[36];
            if (y0 >= 0 && x0 >= 0 && y0 + a <= wp->H && x0 + a <= wp->W) {
                for (int i = 0; i < a; i++)
                    memcpy(d + a * i, x + (y0 + i) * wp->W + x0, (size_t)a * sizeof(float));
            } else {
                for (int i = 0; i < a; i++)
                    for (int j = 0; j < a; j++) {
                        int64_t yy = y0 + i, xx = x0 + j;
                        d[a * i + j] = (yy >= 0 && yy < wp->H && xx >= 0 && xx < wp->W)
                                           ? x[yy * wp->W + xx]
                                           : 0.0f;
                    }
            }
            if (m == 4)
                input_transform4(r, d);
            else
                input_transform(r, d);
            for (int xi = 0; xi < nxi; xi++)
                v[xi * ld + t] = r[xi];
        }
    }
}

/* The tiles of one image and channel added into plane x[H][W] (zeroed first). */
RP_ALWAYS_INLINE void scatter_tiles_m(float *x, const float *v, int64_t ld,
                                      const struct rp_winograd_plan *wp, const int m)
{
    const int a = m + 2, nxi = a * a;
    int64_t t = 0;
    memset(x, 0, sizeof(float) * (size_t)(wp->H * wp->W));
    for (int64_t ty = 0; ty < wp->th; ty++) {
        int64_t y0 = m * ty - wp->ph;
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            int64_t x0 = m * tx - wp->pw;
            float s[36], d[36];
            for (int xi = 0; xi < nxi; xi++)
                s[xi] = v[xi * ld + t];
            if (m == 4)
                input_transform4_t(d, s);
            else
                input_transform_t(d, s);
            for (int i = 0; i < a; i++) {
                int64_t yy = y0 + i;
                if (yy < 0 || yy >= wp->H)
                    continue;
                for (int j = 0; j < a; j++) {
                    int64_t xx = x0 + j;
                    if (xx >= 0 && xx < wp->W)
                        x[yy * wp->W + xx] += d[a * i + j];
                }
            }
        }
    }
}

/* Output plane y[Ho][Wo] (+ bias) from the tiles m[xi * ld + t]. */
RP_ALWAYS_INLINE void output_tiles_m(float *y, const float *mt, int64_t ld, float bias,
                                     const struct rp_winograd_plan *wp, const int m)
{
    const int nxi = (m + 2) * (m + 2);
    int64_t t = 0;
    for (int64_t ty = 0; ty < wp->th; ty++)
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            float s[36], o[16];
            for (int xi = 0; xi < nxi; xi++)
                s[xi] = mt[xi * ld + t];
            if (m == 4)
                output_transform4(o, s);
            else
                output_transform(o, s);
            for (int i = 0; i < m && m * ty + i < wp->Ho; i++)
                for (int j = 0; j < m && m * tx + j < wp->Wo; j++)
                    y[(m * ty + i) * wp->Wo + m * tx + j] = o[m * i + j] + bias;
        }
}

/* Gradient tiles m[xi * ld + t] of output-gradient plane dy[Ho][Wo]. */
RP_ALWAYS_INLINE void grad_tiles_m(float *mt, int64_t ld, const float *dy,
                                   const struct rp_winograd_plan *wp, const int m)
{
    const int nxi = (m + 2) * (m + 2);
    int64_t t = 0;
    for (int64_t ty = 0; ty < wp->th; ty++)
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            float g[16], s[36];
            for (int i = 0; i < m; i++)
                for (int j = 0; j < m; j++) {
                    int64_t yy = m * ty + i, xx = m * tx + j;
                    g[m * i + j] = (yy < wp->Ho && xx < wp->Wo) ? dy[yy * wp->Wo + xx] : 0.0f;
                }
            if (m == 4)
                output_transform4_t(s, g);
            else
                output_transform_t(s, g);
            for (int xi = 0; xi < nxi; xi++)
                mt[xi * ld + t] = s[xi];
        }
}

/* Out of line, so that the loops calling them stay small (inlining both tile
 * sizes into the chunk loops cost 10-40% on 14x14 planes). */
static void gather_tiles(float *v, int64_t ld, const float *x, const struct rp_winograd_plan *wp)
{
    TILES(gather_tiles, v, ld, x, wp);
}
static void scatter_tiles(float *x, const float *v, int64_t ld, const struct rp_winograd_plan *wp)
{
    TILES(scatter_tiles, x, v, ld, wp);
}
static void output_tiles(float *y, const float *mt, int64_t ld, float bias,
                         const struct rp_winograd_plan *wp)
{
    TILES(output_tiles, y, mt, ld, bias, wp);
}
static void grad_tiles(float *mt, int64_t ld, const float *dy, const struct rp_winograd_plan *wp)
{
    TILES(grad_tiles, mt, ld, dy, wp);
}

/* The row-wise forms below win on planes 4 or at least 8 tiles wide (whole
 * vectors); narrower and odd widths go tile by tile. */
static int row_wise(const struct rp_winograd_plan *wp)
{
    return wp->m == 2 && (wp->tw == 4 || wp->tw >= 8);
}

/*
 * The plane transforms work on one row of tiles at a time, first combining
 * whole rows (contiguous, so the compiler vectorizes them), then pairs of
 * columns.  Each thread has a scratch area of wp->scratch floats.
 */

/* dst[x] = a[x] + sign * b[x] for x < n, a missing row (NULL) counting as 0 */
RP_ALWAYS_INLINE void row_combine(float *restrict dst, const float *restrict a,
                                  const float *restrict b, float sign, int64_t n)
{
    if (a && b)
        for (int64_t x = 0; x < n; x++)
            dst[x] = a[x] + sign * b[x];
    else if (a)
        memcpy(dst, a, sizeof(float) * (size_t)n);
    else if (b)
        for (int64_t x = 0; x < n; x++)
            dst[x] = sign * b[x];
    else
        memset(dst, 0, sizeof(float) * (size_t)n);
}

/* Row r of plane x[rows][cols], or NULL outside it. */
static const float *plane_row(const float *x, int64_t r, int64_t rows, int64_t cols)
{
    return r >= 0 && r < rows ? x + r * cols : NULL;
}

/* Plane x[H][W] -> the tiles of one image and channel: v[xi * ld + t]. */
RP_VECTOR_CLONES static void gather_plane(float *v, int64_t ld, const float *x, float *scratch,
                                          const struct rp_winograd_plan *wp)
{
    if (!row_wise(wp)) {
        gather_tiles(v, ld, x, wp);
        return;
    }
    const int64_t tw = wp->tw, wt = wp->wt, W = wp->W;
    /* the padded row spans columns -pw .. -pw + 2tw + 1 of the input */
    const int64_t lo = wp->pw, hi = wp->pw + W < 2 * tw + 2 ? wp->pw + W : 2 * tw + 2;
    for (int64_t ty = 0; ty < wp->th; ty++) {
        const int64_t y0 = 2 * ty - wp->ph;
        const float *r[4];
        for (int i = 0; i < 4; i++)
            r[i] = plane_row(x, y0 + i, wp->H, W);
        /* B^T d on whole rows: c0 = r0 - r2, c1 = r1 + r2, c2 = r2 - r1, c3 = r1 - r3 */
        static const int ia[4] = {0, 1, 2, 1}, ib[4] = {2, 2, 1, 3};
        static const float sg[4] = {-1.0f, 1.0f, -1.0f, -1.0f};
        for (int i = 0; i < 4; i++) {
            float *c = scratch + i * wt;
            memset(c, 0, sizeof(float) * (size_t)wt);
            if (hi > lo)
                row_combine(c + lo, r[ia[i]], r[ib[i]], sg[i], hi - lo);
        }
        /* then (.) B on column pairs */
        float *vt = v + ty * tw;
        for (int i = 0; i < 4; i++) {
            const float *c = scratch + i * wt;
            float *v0 = vt + (4 * i) * ld, *v1 = v0 + ld, *v2 = v1 + ld, *v3 = v2 + ld;
            for (int64_t tx = 0; tx < tw; tx++) {
                const float *s = c + 2 * tx;
                v0[tx] = s[0] - s[2];
                v1[tx] = s[1] + s[2];
                v2[tx] = s[2] - s[1];
                v3[tx] = s[1] - s[3];
            }
        }
    }
}

/* The tiles v[xi * ld + t] of one image and channel through B (.) B^T, the
 * overlapping 4x4 blocks added up, into plane x[H][W] (overwritten). */
RP_VECTOR_CLONES static void scatter_plane(float *x, const float *v, int64_t ld, float *scratch,
                                           const struct rp_winograd_plan *wp)
{
    if (!row_wise(wp)) {
        scatter_tiles(x, v, ld, wp);
        return;
    }
    const int64_t tw = wp->tw, wt = wp->wt, W = wp->W;
    float *f = scratch;             /* 16 rows of tw: f[4i + j] */
    float *acc = scratch + 16 * tw; /* 4 rows of wt: input rows y0 .. y0 + 3 */
    const int64_t lo = wp->pw, hi = wp->pw + W < 2 * tw + 2 ? wp->pw + W : 2 * tw + 2;
    memset(acc, 0, sizeof(float) * (size_t)(4 * wt));
    for (int64_t ty = 0; ty < wp->th; ty++) {
        const float *vt = v + ty * tw;
        /* B dV on whole rows of tiles */
        for (int j = 0; j < 4; j++) {
            const float *a = vt + j * ld, *b = vt + (4 + j) * ld, *c = vt + (8 + j) * ld,
                        *d = vt + (12 + j) * ld;
            float *f0 = f + j * tw, *f1 = f + (4 + j) * tw, *f2 = f + (8 + j) * tw,
                  *f3 = f + (12 + j) * tw;
            for (int64_t tx = 0; tx < tw; tx++) {
                f0[tx] = a[tx];
                f1[tx] = b[tx] - c[tx] + d[tx];
                f2[tx] = b[tx] + c[tx] - a[tx];
                f3[tx] = -d[tx];
            }
        }
        /* then (.) B^T, added into the accumulator rows: columns 2tx, 2tx+1 first
         * (no two tiles share them), then 2tx+2, 2tx+3 */
        for (int i = 0; i < 4; i++) {
            const float *g0 = f + 4 * i * tw, *g1 = g0 + tw, *g2 = g1 + tw, *g3 = g2 + tw;
            float *row = acc + i * wt;
            for (int64_t tx = 0; tx < tw; tx++) {
                row[2 * tx] += g0[tx];
                row[2 * tx + 1] += g1[tx] - g2[tx] + g3[tx];
            }
            for (int64_t tx = 0; tx < tw; tx++) {
                row[2 * tx + 2] += g1[tx] + g2[tx] - g0[tx];
                row[2 * tx + 3] += -g3[tx];
            }
        }
        /* rows y0, y0 + 1 are complete (the last row of tiles completes all four) */
        const int64_t y0 = 2 * ty - wp->ph;
        const int done = ty + 1 < wp->th ? 2 : 4;
        for (int i = 0; i < done; i++)
            if (y0 + i >= 0 && y0 + i < wp->H && hi > lo)
                memcpy(x + (y0 + i) * W, acc + i * wt + lo, sizeof(float) * (size_t)(hi - lo));
        memmove(acc, acc + 2 * wt, sizeof(float) * (size_t)(2 * wt));
        memset(acc + 2 * wt, 0, sizeof(float) * (size_t)(2 * wt));
    }
}

/* Output plane y[Ho][Wo] (+ bias) from the tiles m[xi * ld + t]. */
RP_VECTOR_CLONES static void output_plane(float *y, const float *m, int64_t ld, float bias,
                                          float *scratch, const struct rp_winograd_plan *wp)
{
    if (!row_wise(wp)) {
        output_tiles(y, m, ld, bias, wp);
        return;
    }
    const int64_t tw = wp->tw, Wo = wp->Wo;
    float *s = scratch; /* 8 rows of tw: s[4i + j] */
    for (int64_t ty = 0; ty < wp->th; ty++) {
        const float *mt = m + ty * tw;
        /* A^T M on whole rows of tiles */
        for (int j = 0; j < 4; j++) {
            const float *a = mt + j * ld, *b = mt + (4 + j) * ld, *c = mt + (8 + j) * ld,
                        *d = mt + (12 + j) * ld;
            float *s0 = s + j * tw, *s1 = s + (4 + j) * tw;
            for (int64_t tx = 0; tx < tw; tx++) {
                s0[tx] = a[tx] + b[tx] + c[tx];
                s1[tx] = b[tx] - c[tx] - d[tx];
            }
        }
        /* then (.) A */
        for (int i = 0; i < 2 && 2 * ty + i < wp->Ho; i++) {
            const float *g0 = s + 4 * i * tw, *g1 = g0 + tw, *g2 = g1 + tw, *g3 = g2 + tw;
            float *row = y + (2 * ty + i) * Wo;
            const int64_t full = Wo / 2;
            for (int64_t tx = 0; tx < full; tx++) {
                row[2 * tx] = g0[tx] + g1[tx] + g2[tx] + bias;
                row[2 * tx + 1] = g1[tx] - g2[tx] - g3[tx] + bias;
            }
            if (Wo % 2)
                row[Wo - 1] = g0[full] + g1[full] + g2[full] + bias;
        }
    }
}

/* Gradient tiles m[xi * ld + t] (A dY A^T) of output-gradient plane dy[Ho][Wo]. */
RP_VECTOR_CLONES static void grad_plane(float *m, int64_t ld, const float *dy, float *scratch,
                                        const struct rp_winograd_plan *wp)
{
    if (!row_wise(wp)) {
        grad_tiles(m, ld, dy, wp);
        return;
    }
    const int64_t tw = wp->tw, wt = wp->wt, Wo = wp->Wo;
    for (int64_t ty = 0; ty < wp->th; ty++) {
        const float *a = plane_row(dy, 2 * ty, wp->Ho, Wo);
        const float *b = plane_row(dy, 2 * ty + 1, wp->Ho, Wo);
        /* A dY on whole rows: e0 = a, e1 = a + b, e2 = a - b, e3 = -b (zero past Wo) */
        for (int i = 0; i < 4; i++) {
            float *e = scratch + i * wt;
            static const int ua[4] = {1, 1, 1, 0}, ub[4] = {0, 1, 1, 1};
            static const float sg[4] = {1.0f, 1.0f, -1.0f, -1.0f};
            row_combine(e, ua[i] ? a : NULL, ub[i] ? b : NULL, sg[i], Wo);
            memset(e + Wo, 0, sizeof(float) * (size_t)(wt - Wo));
        }
        /* then (.) A^T on column pairs */
        float *mt = m + ty * tw;
        for (int i = 0; i < 4; i++) {
            const float *e = scratch + i * wt;
            float *m0 = mt + (4 * i) * ld, *m1 = m0 + ld, *m2 = m1 + ld, *m3 = m2 + ld;
            for (int64_t tx = 0; tx < tw; tx++) {
                m0[tx] = e[2 * tx];
                m1[tx] = e[2 * tx] + e[2 * tx + 1];
                m2[tx] = e[2 * tx] - e[2 * tx + 1];
                m3[tx] = -e[2 * tx + 1];
            }
        }
    }
}

static int64_t chunk_images(const struct rp_winograd_plan *wp, int64_t n0)
{
    return n0 + wp->g <= wp->N ? wp->g : wp->N - n0;
}

/* A thread's own buffers: chunk tiles V [nxi][C][T], M [nxi][K][T], scratch
 * rows, partial dU [K][nxi][C]. */
struct thread_buffers {
    float *v, *m, *scratch, *du, *rows;
};

static struct thread_buffers buffers_of(float *workspace, const struct rp_winograd_plan *wp, int t)
{
    struct thread_buffers b;
    b.v = workspace + wp->ushared + t * wp->per_thread;
    b.m = b.v + wp->nxi * wp->vs;
    b.scratch = b.m + wp->nxi * wp->ms;
    b.du = b.scratch + 16 * wp->tw + 4 * wp->wt;
    b.rows = b.du + wp->ushared;
    return b;
}

/* Tiles of images n0..n0+g-1 of input [N][C][H][W] -> v[nxi][C][T]. */
static void gather_chunk(float *v, const float *input, int64_t n0, int64_t g, float *scratch,
                         const struct rp_winograd_plan *wp)
{
    int64_t tiles = wp->th * wp->tw;
    for (int64_t i = 0; i < g; i++)
        for (int64_t c = 0; c < wp->C; c++)
            gather_plane(v + c * wp->T + i * tiles, wp->vs,
                         input + ((n0 + i) * wp->C + c) * wp->H * wp->W, scratch, wp);
}

/* Gradient tiles of images n0..n0+g-1 of grad_output [N][K][Ho][Wo] -> m[nxi][K][T]. */
static void grad_chunk(float *m, const float *grad_output, int64_t n0, int64_t g, float *scratch,
                       const struct rp_winograd_plan *wp)
{
    int64_t tiles = wp->th * wp->tw;
    for (int64_t i = 0; i < g; i++)
        for (int64_t k = 0; k < wp->K; k++)
            grad_plane(m + k * wp->T + i * tiles, wp->ms,
                       grad_output + ((n0 + i) * wp->K + k) * wp->Ho * wp->Wo, scratch, wp);
}

/* The chunks of the batch go to the team's threads round-robin (chunk t,
 * t + team, ...; the team may be smaller than the plan's thread count). */
#define FOR_MY_CHUNKS(n0, g, wp)                                                                   \
    for (int64_t chunk_ = rp_thread_id(), n0 = chunk_ * (wp)->g, g = chunk_images(wp, n0);         \
         chunk_ < (wp)->chunks;                                                                    \
         chunk_ += rp_team_size(), n0 = chunk_ * (wp)->g, g = chunk_images(wp, n0))

void rp_winograd_forward(float *output, const float *input, const float *weight, const float *bias,
                         float *workspace, const struct rp_winograd_plan *wp)
{
    const int64_t K = wp->K, C = wp->C, T = wp->T, tiles = wp->th * wp->tw, nxi = wp->nxi;
    float *u = workspace;
#pragma omp parallel num_threads(wp->threads)
    {
        struct thread_buffers b = buffers_of(workspace, wp, rp_thread_id());
        transform_filters(u, weight, wp);
        FOR_MY_CHUNKS(n0, g, wp)
        {
            gather_chunk(b.v, input, n0, g, b.scratch, wp);
            for (int xi = 0; xi < nxi; xi++)
                rp_gemm_serial(0, 0, K, g * tiles, C, 1.0f, u + xi * C, nxi * C, b.v + xi * wp->vs,
                               T, 0.0f, b.m + xi * wp->ms, T);
            for (int64_t i = 0; i < g; i++)
                for (int64_t k = 0; k < K; k++)
                    output_plane(output + ((n0 + i) * K + k) * wp->Ho * wp->Wo,
                                 b.m + k * T + i * tiles, wp->ms, bias ? bias[k] : 0.0f, b.scratch,
                                 wp);
        }
    }
}

void rp_winograd_backward(float *grad_input, float *grad_weight, const float *grad_output,
                          const float *input, const float *weight, float *workspace,
                          const struct rp_winograd_plan *wp, float scale)
{
    const int64_t K = wp->K, C = wp->C, T = wp->T, tiles = wp->th * wp->tw, nxi = wp->nxi;
    float *u = workspace;
#pragma omp parallel num_threads(wp->threads)
    {
        struct thread_buffers b = buffers_of(workspace, wp, rp_thread_id());
        if (grad_input)
            transform_filters(u, weight, wp);
        if (grad_weight)
            memset(b.du, 0, sizeof(float) * (size_t)(nxi * K * C));
        FOR_MY_CHUNKS(n0, g, wp)
        {
            grad_chunk(b.m, grad_output, n0, g, b.scratch, wp);
            if (grad_input) {
                for (int xi = 0; xi < nxi; xi++)
                    rp_gemm_serial(1, 0, C, g * tiles, K, 1.0f, u + xi * C, nxi * C,
                                   b.m + xi * wp->ms, T, 0.0f, b.v + xi * wp->vs, T);
                for (int64_t i = 0; i < g; i++)
                    for (int64_t c = 0; c < C; c++)
                        scatter_plane(grad_input + ((n0 + i) * C + c) * wp->H * wp->W,
                                      b.v + c * T + i * tiles, wp->vs, b.scratch, wp);
            }
            if (grad_weight) {
                gather_chunk(b.v, input, n0, g, b.scratch, wp);
                for (int xi = 0; xi < nxi; xi++)
                    rp_gemm_serial(0, 1, K, C, g * tiles, 1.0f, b.m + xi * wp->ms, T,
                                   b.v + xi * wp->vs, T, 1.0f, b.du + xi * C, nxi * C);
            }
        }
        if (grad_weight) {
            /* the partial sums into thread 0's, in thread order (the same bits
             * for a given thread count) */
#pragma omp barrier
            float *du0 = buffers_of(workspace, wp, 0).du;
#pragma omp for schedule(static)
            for (int64_t k = 0; k < K; k++)
                for (int t = 1; t < rp_team_size(); t++) {
                    const float *dut = du0 + t * wp->per_thread;
                    for (int64_t j = k * nxi * C; j < (k + 1) * nxi * C; j++)
                        du0[j] += dut[j];
                }
                /* dW = G^T dU G */
#pragma omp for schedule(static)
            for (int64_t q = 0; q < K * C; q++) {
                float s[36], dw[9];
                for (int xi = 0; xi < nxi; xi++)
                    s[xi] = du0[(q / C * nxi + xi) * C + q % C];
                if (wp->m == 4)
                    filter_transform4_t(dw, s);
                else
                    filter_transform_t(dw, s);
                for (int j = 0; j < 9; j++)
                    grad_weight[q * 9 + j] += scale * dw[j];
            }
        }
    }
}

/* ---- sparse products on the pair rectangles (conv2d_sparse.h) ----
 *   forward:     M[xi][A_j, T]  += U_j[xi] . V[xi][c0_j .. c0_j + len_j, T]
 *   input grad:  dV[xi][c0_j .., T] += U_j[xi]^T . dM[xi][A_j, T]
 *   weight grad: dU_j[xi] += dM[xi][A_j, T] . V[xi][c0_j .., T]^T
 * for each rectangle j (outputs A_j), on the register tiles of
 * conv2d_direct.c.  A chunk's tiles are padded with zeros to a whole number of
 * register tiles; the padded columns are computed and dropped. */

static int64_t padded(int64_t n)
{
    return (n + RP_PANEL_QUANTUM - 1) / RP_PANEL_QUANTUM * RP_PANEL_QUANTUM;
}

/* U = G g G^T of the alive pairs, tap by tap masked, into u[xi * pairs + q]
 * with q the pair's number (output-major within its rectangle) or, transposed,
 * channel-major within it. */
static void transform_pairs(float *u, const float *w, const struct rp_winograd_plan *wp,
                            const struct rp_pair_blocks *pb, int transposed)
{
    const int64_t C = wp->C, rows = pb->out_start[pb->n];
    /* by (rectangle, output) row, so that one big rectangle is shared out too */
#pragma omp for schedule(static)
    for (int64_t r = 0; r < rows; r++) {
        /* the rectangle j with out_start[j] <= r < out_start[j + 1] */
        int64_t lo = 0, hi = pb->n - 1;
        while (lo < hi) {
            int64_t mid = (lo + hi + 1) / 2;
            if (pb->out_start[mid] <= r)
                lo = mid;
            else
                hi = mid - 1;
        }
        const int64_t j = lo, i = r - pb->out_start[j], L = pb->len[j];
        const int64_t no = pb->out_start[j + 1] - pb->out_start[j];
        for (int64_t l = 0; l < L; l++) {
            const int64_t q = pb->u_start[j] + i * L + l;
            const float *g = w + (pb->outs[r] * C + pb->c0[j] + l) * 9;
            float gm[9];
            for (int t = 0; t < 9; t++)
                gm[t] = pb->keep[q] >> t & 1u ? g[t] : 0.0f;
            float *dst = u + (transposed ? pb->u_start[j] + l * no + i : q);
            if (wp->m == 4)
                filter_row4(dst, pb->pairs, gm, 1);
            else
                filter_row(dst, pb->pairs, gm, 1);
        }
    }
}

/* Columns n .. len-1 of `rows` rows of each xi plane (plane floats apart) set to 0. */
static void zero_columns(float *a, int64_t plane, int64_t rows, int64_t n, int64_t len,
                         const struct rp_winograd_plan *wp)
{
    if (n < len)
        for (int xi = 0; xi < wp->nxi; xi++)
            for (int64_t r = 0; r < rows; r++)
                memset(a + xi * plane + r * wp->T + n, 0, sizeof(float) * (size_t)(len - n));
}

/* Each thread's array of `most` row pointers, or NULL with the error set. */
static float **row_pointers(const struct rp_winograd_plan *wp, int64_t most)
{
    float **p = malloc(sizeof(float *) * (size_t)(wp->threads * most));
    if (!p)
        rp_error(RP_ENOMEM, "conv2d: out of memory for the sparse Winograd kernel's rows");
    return p;
}

rp_status rp_winograd_sparse_forward(float *output, const float *input, const float *weight,
                                     const float *bias, float *workspace,
                                     const struct rp_winograd_plan *wp,
                                     const struct rp_pair_blocks *pb)
{
    const int64_t K = wp->K, C = wp->C, T = wp->T, tiles = wp->th * wp->tw, nxi = wp->nxi;
    const int64_t np = pb->pairs, most = pb->max_out + 1;
    const struct rp_tile_kernels kern = rp_tile_kernels_for_cpu();
    float **rowp = row_pointers(wp, most);
    if (!rowp)
        return RP_ENOMEM;
    float *u = workspace;
#pragma omp parallel num_threads(wp->threads)
    {
        struct thread_buffers b = buffers_of(workspace, wp, rp_thread_id());
        float **op = rowp + rp_thread_id() * most;
        transform_pairs(u, weight, wp, pb, 0);
        FOR_MY_CHUNKS(n0, g, wp)
        {
            const int64_t n = g * tiles, len = padded(n);
            gather_chunk(b.v, input, n0, g, b.scratch, wp);
            zero_columns(b.v, wp->vs, C, n, len, wp);
            for (int xi = 0; xi < nxi; xi++) {
                float *m = b.m + xi * wp->ms;
                memset(m, 0, sizeof(float) * (size_t)(K * T));
                for (int64_t j = 0; j < pb->n; j++) {
                    const int64_t *outs = pb->outs + pb->out_start[j];
                    const int64_t no = pb->out_start[j + 1] - pb->out_start[j];
                    for (int64_t i = 0; i < no; i++)
                        op[i] = m + outs[i] * T;
                    kern.panel(no, pb->len[j], u + xi * np + pb->u_start[j], pb->len[j],
                               b.v + xi * wp->vs + pb->c0[j] * T, pb->iota, T, op, len);
                }
            }
            for (int64_t i = 0; i < g; i++)
                for (int64_t k = 0; k < K; k++)
                    output_plane(output + ((n0 + i) * K + k) * wp->Ho * wp->Wo,
                                 b.m + k * T + i * tiles, wp->ms, bias ? bias[k] : 0.0f, b.scratch,
                                 wp);
        }
    }
    free(rowp);
    return RP_OK;
}

/* The threads' partial dU into thread 0's (in thread order), then
 * grad_weight += scale * G^T dU G on the pairs' alive taps. */
static void add_pair_grads(float *grad_weight, float *workspace, const struct rp_winograd_plan *wp,
                           const struct rp_pair_blocks *pb, float scale)
{
    const int64_t np = pb->pairs, nxi = wp->nxi, C = wp->C;
    float *du0 = buffers_of(workspace, wp, 0).du;
#pragma omp for schedule(static)
    for (int64_t q = 0; q < nxi * np; q++)
        for (int t = 1; t < rp_team_size(); t++)
            du0[q] += du0[t * wp->per_thread + q];
#pragma omp for schedule(static)
    for (int64_t j = 0; j < pb->n; j++) {
        const int64_t *outs = pb->outs + pb->out_start[j];
        const int64_t no = pb->out_start[j + 1] - pb->out_start[j], L = pb->len[j];
        for (int64_t i = 0; i < no; i++)
            for (int64_t l = 0; l < L; l++) {
                const int64_t q = pb->u_start[j] + i * L + l, qt = pb->u_start[j] + l * no + i;
                float sd[36], dw[9];
                for (int xi = 0; xi < nxi; xi++)
                    sd[xi] = du0[xi * np + qt];
                if (wp->m == 4)
                    filter_transform4_t(dw, sd);
                else
                    filter_transform_t(dw, sd);
                float *gw = grad_weight + (outs[i] * C + pb->c0[j] + l) * 9;
                for (int t = 0; t < 9; t++)
                    if (pb->keep[q] >> t & 1u)
                        gw[t] += scale * dw[t];
            }
    }
}

rp_status rp_winograd_sparse_backward(float *grad_input, float *grad_weight,
                                      const float *grad_output, const float *input,
                                      const float *weight, float *workspace,
                                      const struct rp_winograd_plan *wp,
                                      const struct rp_pair_blocks *pb, float scale)
{
    const int64_t K = wp->K, C = wp->C, T = wp->T, tiles = wp->th * wp->tw, nxi = wp->nxi;
    const int64_t np = pb->pairs, most = pb->max_len + 1;
    const struct rp_tile_kernels kern = rp_tile_kernels_for_cpu();
    float **rowp = row_pointers(wp, most);
    if (!rowp)
        return RP_ENOMEM;
    float *u = workspace;
#pragma omp parallel num_threads(wp->threads)
    {
        struct thread_buffers b = buffers_of(workspace, wp, rp_thread_id());
        float **op = rowp + rp_thread_id() * most;
        if (grad_input)
            transform_pairs(u, weight, wp, pb, 1);
        if (grad_weight)
            memset(b.du, 0, sizeof(float) * (size_t)(nxi * np));
        FOR_MY_CHUNKS(n0, g, wp)
        {
            const int64_t n = g * tiles, len = padded(n);
            grad_chunk(b.m, grad_output, n0, g, b.scratch, wp);
            zero_columns(b.m, wp->ms, K, n, len, wp);
            if (grad_input) {
                for (int xi = 0; xi < nxi; xi++) {
                    float *v = b.v + xi * wp->vs;
                    memset(v, 0, sizeof(float) * (size_t)(C * T));
                    for (int64_t j = 0; j < pb->n; j++) {
                        const int64_t no = pb->out_start[j + 1] - pb->out_start[j];
                        for (int64_t l = 0; l < pb->len[j]; l++)
                            op[l] = v + (pb->c0[j] + l) * T;
                        kern.panel(pb->len[j], no, u + xi * np + pb->u_start[j], no,
                                   b.m + xi * wp->ms, pb->outs + pb->out_start[j], T, op, len);
                    }
                }
                for (int64_t i = 0; i < g; i++)
                    for (int64_t c = 0; c < C; c++)
                        scatter_plane(grad_input + ((n0 + i) * C + c) * wp->H * wp->W,
                                      b.v + c * T + i * tiles, wp->vs, b.scratch, wp);
            }
            if (grad_weight) {
                gather_chunk(b.v, input, n0, g, b.scratch, wp);
                zero_columns(b.v, wp->vs, C, n, len, wp);
                for (int xi = 0; xi < nxi; xi++)
                    for (int64_t j = 0; j < pb->n; j++) {
                        const int64_t *outs = pb->outs + pb->out_start[j];
                        const int64_t no = pb->out_start[j + 1] - pb->out_start[j];
                        const float *dm = b.m + xi * wp->ms + outs[0] * T;
                        int64_t ld = T;
                        if (outs[no - 1] - outs[0] != no - 1) { /* not a run: gathered */
                            for (int64_t i = 0; i < no; i++)
                                memcpy(b.rows + i * len, b.m + xi * wp->ms + outs[i] * T,
                                       sizeof(float) * (size_t)len);
                            dm = b.rows;
                            ld = len;
                        }
                        /* dU_j^T [len_j, A_j] (channel-major, as U^T) */
                        rp_gemm_serial(0, 1, pb->len[j], no, len, 1.0f,
                                       b.v + xi * wp->vs + pb->c0[j] * T, T, dm, ld, 1.0f,
                                       b.du + xi * np + pb->u_start[j], no);
                    }
            }
        }
        if (grad_weight) {
#pragma omp barrier
            add_pair_grads(grad_weight, workspace, wp, pb, scale);
        }
    }
    if (grad_input && wp->chunks == 0)
        memset(grad_input, 0, sizeof(float) * (size_t)(wp->N * C * wp->H * wp->W));
    free(rowp);
    return RP_OK;
}
