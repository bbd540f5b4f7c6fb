/*
 * conv2d_winograd.c - 3x3 stride-1 convolution by Winograd F(2x2, 3x3).
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
 * The batch is cut into chunks of whole images (T tiles, all threads on one
 * chunk): the transforms are split over (image, channel) planes and the 16
 * GEMMs over xi, so every value is computed by one fixed sequence of
 * operations and the result does not depend on the thread count at all.
 *
 * Workspace: [16][K][C] (U, or dU in the weight gradient), [16][C][T] (V or
 * dV), [16][K][T] (M or dM).
 */
#include <string.h>

#include "conv2d_winograd.h"
#include "realprune/blas.h"

/* Floats that the three chunk buffers may take together (64 MB) */
#define CHUNK_FLOATS (16 * 1024 * 1024)
#define MIN_TILES 64
#define MAX_TILES 256

int rp_winograd_applies(const struct rp_conv2d_params *p)
{
    return p->kh == 3 && p->kw == 3 && p->sh == 1 && p->sw == 1;
}

void rp_winograd_plan(struct rp_winograd_plan *wp, const int64_t in[4], int64_t cout,
                      const struct rp_conv2d_params *p)
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
    wp->th = (wp->Ho + 1) / 2;
    wp->tw = (wp->Wo + 1) / 2;
    int64_t per_image = wp->th * wp->tw;
    int64_t target = CHUNK_FLOATS / (16 * (wp->C + wp->K));
    if (target > MAX_TILES)
        target = MAX_TILES;
    if (target < MIN_TILES)
        target = MIN_TILES;
    int64_t g = per_image > 0 ? (target + per_image - 1) / per_image : 1;
    if (g > wp->N)
        g = wp->N;
    if (g < 1)
        g = 1;
    wp->g = g;
    wp->T = g * per_image;
    wp->size = 16 * wp->K * wp->C + 16 * (wp->C + wp->K) * wp->T;
}

/* ---- the transforms (one tile; m is the 4x4 tile, row-major) ---- */

/* U = G g G^T, g 3x3 */
static void filter_transform(float u[16], const float *g)
{
    float q[4][3];
    for (int j = 0; j < 3; j++) {
        q[0][j] = g[j];
        q[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        q[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        q[3][j] = g[6 + j];
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i] = q[i][0];
        u[4 * i + 1] = 0.5f * (q[i][0] + q[i][1] + q[i][2]);
        u[4 * i + 2] = 0.5f * (q[i][0] - q[i][1] + q[i][2]);
        u[4 * i + 3] = q[i][2];
    }
}

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

/* The filters of weight [K][C][3][3] -> u[16][K][C] (plane xi at xi*K*C). */
static void transform_filters(float *u, const float *w, int64_t K, int64_t C)
{
#pragma omp for schedule(static)
    for (int64_t k = 0; k < K; k++)
        for (int64_t c = 0; c < C; c++) {
            float t[16];
            filter_transform(t, w + (k * C + c) * 9);
            for (int xi = 0; xi < 16; xi++)
                u[xi * K * C + k * C + c] = t[xi];
        }
}

/* Plane x[H][W] -> the tiles of one image and channel: v[xi * ld + t0 + t]. */
static void gather_plane(float *v, int64_t ld, const float *x, const struct rp_winograd_plan *wp)
{
    int64_t t = 0;
    for (int64_t ty = 0; ty < wp->th; ty++) {
        int64_t y0 = 2 * ty - wp->ph;
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            int64_t x0 = 2 * tx - wp->pw;
            float d[16], r[16];
            if (y0 >= 0 && x0 >= 0 && y0 + 4 <= wp->H && x0 + 4 <= wp->W) {
                for (int i = 0; i < 4; i++)
                    memcpy(d + 4 * i, x + (y0 + i) * wp->W + x0, 4 * sizeof(float));
            } else {
                for (int i = 0; i < 4; i++)
                    for (int j = 0; j < 4; j++) {
                        int64_t yy = y0 + i, xx = x0 + j;
                        d[4 * i + j] =
                            (yy >= 0 && yy < wp->H && xx >= 0 && xx < wp->W) ? x[yy * wp->W + xx]
                                                                             : 0.0f;
                    }
            }
            input_transform(r, d);
            for (int xi = 0; xi < 16; xi++)
                v[xi * ld + t] = r[xi];
        }
    }
}

/* The tiles of one image and channel added back into plane x[H][W]. */
static void scatter_plane(float *x, const float *v, int64_t ld, const struct rp_winograd_plan *wp)
{
    int64_t t = 0;
    for (int64_t ty = 0; ty < wp->th; ty++) {
        int64_t y0 = 2 * ty - wp->ph;
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            int64_t x0 = 2 * tx - wp->pw;
            float s[16], d[16];
            for (int xi = 0; xi < 16; xi++)
                s[xi] = v[xi * ld + t];
            input_transform_t(d, s);
            for (int i = 0; i < 4; i++) {
                int64_t yy = y0 + i;
                if (yy < 0 || yy >= wp->H)
                    continue;
                for (int j = 0; j < 4; j++) {
                    int64_t xx = x0 + j;
                    if (xx >= 0 && xx < wp->W)
                        x[yy * wp->W + xx] += d[4 * i + j];
                }
            }
        }
    }
}

/* Output plane y[Ho][Wo] (+ bias) from the tiles m[xi * ld + t]. */
static void output_plane(float *y, const float *m, int64_t ld, float bias,
                         const struct rp_winograd_plan *wp)
{
    int64_t t = 0;
    for (int64_t ty = 0; ty < wp->th; ty++)
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            float s[16], o[4];
            for (int xi = 0; xi < 16; xi++)
                s[xi] = m[xi * ld + t];
            output_transform(o, s);
            for (int i = 0; i < 2 && 2 * ty + i < wp->Ho; i++)
                for (int j = 0; j < 2 && 2 * tx + j < wp->Wo; j++)
                    y[(2 * ty + i) * wp->Wo + 2 * tx + j] = o[2 * i + j] + bias;
        }
}

/* Gradient tiles m[xi * ld + t] of output-gradient plane dy[Ho][Wo]. */
static void grad_plane(float *m, int64_t ld, const float *dy, const struct rp_winograd_plan *wp)
{
    int64_t t = 0;
    for (int64_t ty = 0; ty < wp->th; ty++)
        for (int64_t tx = 0; tx < wp->tw; tx++, t++) {
            float g[4], s[16];
            for (int i = 0; i < 2; i++)
                for (int j = 0; j < 2; j++) {
                    int64_t yy = 2 * ty + i, xx = 2 * tx + j;
                    g[2 * i + j] = (yy < wp->Ho && xx < wp->Wo) ? dy[yy * wp->Wo + xx] : 0.0f;
                }
            output_transform_t(s, g);
            for (int xi = 0; xi < 16; xi++)
                m[xi * ld + t] = s[xi];
        }
}

static int64_t chunk_images(const struct rp_winograd_plan *wp, int64_t n0)
{
    return n0 + wp->g <= wp->N ? wp->g : wp->N - n0;
}

static void gather_chunk(float *v, const float *input, int64_t n0,
                         const struct rp_winograd_plan *wp)
{
    int64_t g = chunk_images(wp, n0), tiles = wp->th * wp->tw, ld = wp->C * wp->T;
#pragma omp for schedule(static)
    for (int64_t q = 0; q < g * wp->C; q++) {
        int64_t i = q / wp->C, c = q % wp->C;
        gather_plane(v + c * wp->T + i * tiles, ld,
                     input + ((n0 + i) * wp->C + c) * wp->H * wp->W, wp);
    }
}

static void grad_chunk(float *m, const float *grad_output, int64_t n0,
                       const struct rp_winograd_plan *wp)
{
    int64_t g = chunk_images(wp, n0), tiles = wp->th * wp->tw, ld = wp->K * wp->T;
#pragma omp for schedule(static)
    for (int64_t q = 0; q < g * wp->K; q++) {
        int64_t i = q / wp->K, k = q % wp->K;
        grad_plane(m + k * wp->T + i * tiles, ld,
                   grad_output + ((n0 + i) * wp->K + k) * wp->Ho * wp->Wo, wp);
    }
}

void rp_winograd_forward(float *output, const float *input, const float *weight,
                         const float *bias, float *workspace, const struct rp_winograd_plan *wp,
                         int threads)
{
    const int64_t K = wp->K, C = wp->C, T = wp->T, tiles = wp->th * wp->tw;
    float *u = workspace, *v = u + 16 * K * C, *m = v + 16 * C * T;
#pragma omp parallel num_threads(threads)
    {
        transform_filters(u, weight, K, C);
        for (int64_t n0 = 0; n0 < wp->N; n0 += wp->g) {
            int64_t g = chunk_images(wp, n0), n = g * tiles;
            gather_chunk(v, input, n0, wp);
#pragma omp for schedule(static)
            for (int xi = 0; xi < 16; xi++)
                rp_gemm_serial(0, 0, K, n, C, 1.0f, u + xi * K * C, C, v + xi * C * T, T, 0.0f,
                               m + xi * K * T, T);
#pragma omp for schedule(static)
            for (int64_t q = 0; q < g * K; q++) {
                int64_t i = q / K, k = q % K;
                output_plane(output + ((n0 + i) * K + k) * wp->Ho * wp->Wo,
                             m + k * T + i * tiles, K * T, bias ? bias[k] : 0.0f, wp);
            }
        }
    }
}

void rp_winograd_backward_input(float *grad_input, const float *grad_output,
                                const float *weight, float *workspace,
                                const struct rp_winograd_plan *wp, int threads)
{
    const int64_t K = wp->K, C = wp->C, T = wp->T, tiles = wp->th * wp->tw;
    float *u = workspace, *v = u + 16 * K * C, *m = v + 16 * C * T;
#pragma omp parallel num_threads(threads)
    {
        transform_filters(u, weight, K, C);
        for (int64_t n0 = 0; n0 < wp->N; n0 += wp->g) {
            int64_t g = chunk_images(wp, n0), n = g * tiles;
            grad_chunk(m, grad_output, n0, wp);
#pragma omp for schedule(static)
            for (int xi = 0; xi < 16; xi++)
                rp_gemm_serial(1, 0, C, n, K, 1.0f, u + xi * K * C, C, m + xi * K * T, T, 0.0f,
                               v + xi * C * T, T);
#pragma omp for schedule(static)
            for (int64_t q = 0; q < g * C; q++) {
                int64_t i = q / C, c = q % C;
                float *dx = grad_input + ((n0 + i) * C + c) * wp->H * wp->W;
                memset(dx, 0, sizeof(float) * (size_t)(wp->H * wp->W));
                scatter_plane(dx, v + c * T + i * tiles, C * T, wp);
            }
        }
    }
}

void rp_winograd_backward_weight(float *grad_weight, const float *grad_output,
                                 const float *input, float *workspace,
                                 const struct rp_winograd_plan *wp, int threads, float scale)
{
    const int64_t K = wp->K, C = wp->C, T = wp->T, tiles = wp->th * wp->tw;
    float *du = workspace, *v = du + 16 * K * C, *m = v + 16 * C * T;
    memset(du, 0, sizeof(float) * (size_t)(16 * K * C));
#pragma omp parallel num_threads(threads)
    {
        for (int64_t n0 = 0; n0 < wp->N; n0 += wp->g) {
            int64_t n = chunk_images(wp, n0) * tiles;
            gather_chunk(v, input, n0, wp);
            grad_chunk(m, grad_output, n0, wp);
#pragma omp for schedule(static)
            for (int xi = 0; xi < 16; xi++)
                rp_gemm_serial(0, 1, K, C, n, 1.0f, m + xi * K * T, T, v + xi * C * T, T, 1.0f,
                               du + xi * K * C, C);
        }
#pragma omp for schedule(static)
        for (int64_t q = 0; q < K * C; q++) {
            float s[16], dw[9];
            for (int xi = 0; xi < 16; xi++)
                s[xi] = du[xi * K * C + q];
            filter_transform_t(dw, s);
            for (int j = 0; j < 9; j++)
                grad_weight[q * 9 + j] += scale * dw[j];
        }
    }
}
