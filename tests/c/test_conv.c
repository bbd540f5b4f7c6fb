/* test_conv.c - convolution without Lua: every algorithm's forward pass and
 * both gradients against a direct (six-loop) convolution in double. */
#include <stdlib.h>

#include "check.h"
#include "realprune/realprune.h"

static uint64_t lcg = 12345;
static float rnd(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (float)((lcg >> 40) & 0xffff) / 32768.0f - 1.0f;
}

static struct rp_tensor *tensor(int nd, int64_t a, int64_t b, int64_t c, int64_t d, int fill)
{
    int64_t shape[4] = {a, b, c, d};
    struct rp_tensor *t;
    if (rp_tensor_new(&t, nd, shape) != RP_OK)
        return NULL;
    for (int64_t i = 0; fill && i < t->numel; i++)
        t->data[i] = rnd();
    return t;
}

#define AT(t, n, c, y, x)                                                                          \
    (t)->data[(((n) * (t)->shape[1] + (c)) * (t)->shape[2] + (y)) * (t)->shape[3] + (x)]

/* y, dx, dw, db of the direct convolution (dy given) */
static void direct(double *y, double *dx, double *dw, double *db, const struct rp_tensor *x,
                   const struct rp_tensor *w, const struct rp_tensor *b, const struct rp_tensor *dy,
                   const struct rp_conv2d_params *p)
{
    int64_t N = x->shape[0], C = x->shape[1], H = x->shape[2], W = x->shape[3];
    int64_t K = w->shape[0], Ho = dy->shape[2], Wo = dy->shape[3];
    memset(dx, 0, sizeof(double) * (size_t)x->numel);
    memset(dw, 0, sizeof(double) * (size_t)w->numel);
    memset(db, 0, sizeof(double) * (size_t)K);
    for (int64_t n = 0; n < N; n++)
        for (int64_t k = 0; k < K; k++)
            for (int64_t oy = 0; oy < Ho; oy++)
                for (int64_t ox = 0; ox < Wo; ox++) {
                    double s = b ? b->data[k] : 0.0, g = AT(dy, n, k, oy, ox);
                    for (int64_t c = 0; c < C; c++)
                        for (int ky = 0; ky < p->kh; ky++)
                            for (int kx = 0; kx < p->kw; kx++) {
                                int64_t iy = oy * p->sh - p->ph + ky, ix = ox * p->sw - p->pw + kx;
                                if (iy < 0 || iy >= H || ix < 0 || ix >= W)
                                    continue;
                                double wv = AT(w, k, c, ky, kx), xv = AT(x, n, c, iy, ix);
                                s += wv * xv;
                                dx[((n * C + c) * H + iy) * W + ix] += wv * g;
                                dw[((k * C + c) * p->kh + ky) * p->kw + kx] += xv * g;
                            }
                    y[((n * K + k) * Ho + oy) * Wo + ox] = s;
                    db[k] += g;
                }
}

static double max_err(const float *a, const double *b, int64_t n, double *scale)
{
    double e = 0, s = 0;
    for (int64_t i = 0; i < n; i++) {
        double d = fabs(a[i] - b[i]);
        if (d > e)
            e = d;
        if (fabs(b[i]) > s)
            s = fabs(b[i]);
    }
    *scale = s;
    return e;
}

static void one_case(int algo, int64_t N, int64_t C, int64_t H, int64_t W, int64_t K,
                     struct rp_conv2d_params p, double tol)
{
    p.algorithm = algo;
    struct rp_tensor *x = tensor(4, N, C, H, W, 1), *w = tensor(4, K, C, p.kh, p.kw, 1);
    int64_t bs[1] = {K}, ys[4];
    struct rp_tensor *b;
    rp_tensor_new(&b, 1, bs);
    for (int64_t i = 0; i < K; i++)
        b->data[i] = rnd();
    CHECK_OK(rp_conv2d_output_shape(ys, x, w, &p));
    struct rp_tensor *y = tensor(4, ys[0], ys[1], ys[2], ys[3], 0);
    struct rp_tensor *dy = tensor(4, ys[0], ys[1], ys[2], ys[3], 1);
    struct rp_tensor *dx = tensor(4, N, C, H, W, 0), *dw = tensor(4, K, C, p.kh, p.kw, 0);
    struct rp_tensor *db;
    rp_tensor_new(&db, 1, bs);
    int64_t wsn[1] = {rp_conv2d_workspace_size(x, w, &p, 2)};
    struct rp_tensor *ws;
    CHECK_OK(rp_tensor_new(&ws, 1, wsn));
    CHECK_OK(rp_conv2d_forward(y, x, w, b, ws, &p));
    CHECK_OK(rp_conv2d_backward(dx, dw, db, dy, x, w, ws, &p, 1.0f));
    double *ry = malloc(sizeof(double) * (size_t)y->numel),
           *rdx = malloc(sizeof(double) * (size_t)x->numel);
    double *rdw = malloc(sizeof(double) * (size_t)w->numel),
           *rdb = malloc(sizeof(double) * (size_t)K);
    direct(ry, rdx, rdw, rdb, x, w, b, dy, &p);
    double s, e;
    e = max_err(y->data, ry, y->numel, &s);
    CHECK(e <= tol * s);
    e = max_err(dx->data, rdx, dx->numel, &s);
    CHECK(e <= tol * s);
    e = max_err(dw->data, rdw, dw->numel, &s);
    CHECK(e <= tol * s);
    e = max_err(db->data, rdb, K, &s);
    CHECK(e <= tol * s);
    if (e > tol * s)
        fprintf(stderr, "algorithm %d: bias gradient off by %g of %g\n", algo, e, s);
    free(ry), free(rdx), free(rdw), free(rdb);
    rp_tensor_free(x), rp_tensor_free(w), rp_tensor_free(b), rp_tensor_free(y);
    rp_tensor_free(dy), rp_tensor_free(dx), rp_tensor_free(dw), rp_tensor_free(db);
    rp_tensor_free(ws);
}

/* ---- sparse execution: the compacted kernels against the direct
 * convolution of the masked weight ---- */
enum { ELEMENT, COLUMN, FILTER, CHANNEL, ALL_DEAD, NONE_DEAD };

static float uniform01(void)
{
    return (rnd() + 1.0f) / 2.0f;
}

/* mask[k][r] (k outputs, r = (c*kh + ky)*kw + kx) of the given structure */
static void make_mask(float *m, int kind, double dead, int64_t K, int64_t C, int64_t khw,
                      int64_t seg)
{
    int64_t R = C * khw;
    for (int64_t k = 0; k < K; k++)
        for (int64_t r = 0; r < R; r++) {
            float v = 1.0f;
            if (kind == ELEMENT)
                v = uniform01() < dead ? 0.0f : 1.0f;
            m[k * R + r] = kind == ALL_DEAD ? 0.0f : v;
        }
    if (kind == COLUMN)
        for (int64_t k = 0; k < K; k++)
            for (int64_t r0 = 0; r0 < R; r0 += seg)
                if (uniform01() < dead)
                    for (int64_t r = r0; r < r0 + seg && r < R; r++)
                        m[k * R + r] = 0.0f;
    if (kind == FILTER)
        for (int64_t k = 0; k < K; k++)
            if (uniform01() < dead)
                for (int64_t r = 0; r < R; r++)
                    m[k * R + r] = 0.0f;
    if (kind == CHANNEL)
        for (int64_t c = 0; c < C; c++)
            if (uniform01() < dead)
                for (int64_t k = 0; k < K; k++)
                    for (int64_t j = 0; j < khw; j++)
                        m[k * R + c * khw + j] = 0.0f;
}

static void sparse_case(int kind, double dead, int64_t block_rows, int64_t N, int64_t C, int64_t H,
                        int64_t W, int64_t K, struct rp_conv2d_params p, double tol)
{
    struct rp_tensor *x = tensor(4, N, C, H, W, 1), *w = tensor(4, K, C, p.kh, p.kw, 1);
    int64_t bs[1] = {K}, ys[4], R = C * p.kh * p.kw;
    struct rp_tensor *b, *db;
    rp_tensor_new(&b, 1, bs);
    rp_tensor_new(&db, 1, bs);
    memset(db->data, 0, sizeof(float) * (size_t)K);
    for (int64_t i = 0; i < K; i++)
        b->data[i] = rnd();
    float *mask = malloc(sizeof(float) * (size_t)(K * R));
    make_mask(mask, kind, dead, K, C, p.kh * p.kw, 16);
    for (int64_t i = 0; i < K * R; i++)
        w->data[i] *= mask[i];
    struct rp_sparse_plan *sp;
    CHECK_OK(rp_sparse_plan_new(&sp, mask, R, K, block_rows));
    CHECK_OK(rp_conv2d_output_shape(ys, x, w, &p));
    struct rp_tensor *y = tensor(4, ys[0], ys[1], ys[2], ys[3], 0);
    struct rp_tensor *dy = tensor(4, ys[0], ys[1], ys[2], ys[3], 1);
    struct rp_tensor *dx = tensor(4, N, C, H, W, 0), *dw = tensor(4, K, C, p.kh, p.kw, 0);
    memset(dw->data, 0, sizeof(float) * (size_t)dw->numel);
    for (int64_t i = 0; i < dx->numel; i++)
        dx->data[i] = 7.0f; /* the kernel must overwrite it */
    int64_t wsn[1] = {rp_conv2d_sparse_workspace_size(x, &p, sp, 2)};
    struct rp_tensor *ws;
    CHECK(wsn[0] > 0);
    CHECK_OK(rp_tensor_new(&ws, 1, wsn));
    CHECK_OK(rp_conv2d_sparse_forward(y, x, w, b, ws, &p, sp));
    CHECK_OK(rp_conv2d_sparse_backward(dx, dw, db, dy, x, w, ws, &p, sp, 1.0f));
    double *ry = malloc(sizeof(double) * (size_t)y->numel),
           *rdx = malloc(sizeof(double) * (size_t)x->numel);
    double *rdw = malloc(sizeof(double) * (size_t)w->numel),
           *rdb = malloc(sizeof(double) * (size_t)K);
    direct(ry, rdx, rdw, rdb, x, w, b, dy, &p);
    for (int64_t i = 0; i < K * R; i++)
        rdw[i] *= mask[i]; /* the masked gradient; dead weights are never touched */
    double s, e, ey, edx, edw;
    ey = max_err(y->data, ry, y->numel, &s);
    CHECK(ey <= tol * (s > 1 ? s : 1));
    edx = max_err(dx->data, rdx, dx->numel, &s);
    CHECK(edx <= tol * (s > 1 ? s : 1));
    edw = max_err(dw->data, rdw, dw->numel, &s);
    CHECK(edw <= tol * (s > 1 ? s : 1));
    e = max_err(db->data, rdb, K, &s);
    CHECK(e <= tol * (s > 1 ? s : 1));
    if (ey > tol * (s > 1 ? s : 1) || edx > tol * (s > 1 ? s : 1) || edw > tol * (s > 1 ? s : 1))
        fprintf(stderr, "sparse kind %d dead %.2f: errors y %g dx %g dw %g\n", kind, dead, ey, edx,
                edw);
    /* weights the plan's mask kills count as 0 even when they are not 0 */
    struct rp_tensor *y2 = tensor(4, ys[0], ys[1], ys[2], ys[3], 0);
    for (int64_t i = 0; i < K * R; i++)
        if (mask[i] == 0.0f)
            w->data[i] = 5.0f;
    CHECK_OK(rp_conv2d_sparse_forward(y2, x, w, b, ws, &p, sp));
    CHECK(memcmp(y2->data, y->data, sizeof(float) * (size_t)y->numel) == 0);
    rp_tensor_free(y2);
    /* a wrong plan is refused */
    struct rp_sparse_info info;
    rp_sparse_plan_info(sp, &info);
    CHECK(info.R == R && info.C == K && info.hash == rp_mask_hash(mask, K * R));
    CHECK(info.macs <=
          info.macs_dense + 2.0 * K * (R / (info.block_rows > 0 ? info.block_rows : 1) + 1) + R);
    struct rp_tensor *w2 = tensor(4, K + 1, C, p.kh, p.kw, 1);
    CHECK(rp_conv2d_sparse_forward(y, x, w2, b, ws, &p, sp) != RP_OK);
    free(ry), free(rdx), free(rdw), free(rdb), free(mask);
    rp_sparse_plan_free(sp);
    rp_tensor_free(x), rp_tensor_free(w), rp_tensor_free(w2), rp_tensor_free(b), rp_tensor_free(y);
    rp_tensor_free(dy), rp_tensor_free(dx), rp_tensor_free(dw), rp_tensor_free(db);
    rp_tensor_free(ws);
}

/* A mask whose outputs share blocks but not rows gets one block per alive
 * output (only when asked for with RP_SPARSE_ANY), holding just that
 * output's alive rows; the im2col kernels (stride 2) refuse such a plan. */
static void by_output_plan(struct rp_conv2d_params p1, struct rp_conv2d_params p2)
{
    const int64_t K = 16, C = 32, R = C * 9;
    float *mask = calloc((size_t)(K * R), sizeof(float));
    /* four outputs, each with 8 rows no other output has, side by side in the
     * same row blocks: every block holds all four outputs */
    for (int64_t k = 0; k < 4; k++)
        for (int64_t j = 0; j < 8; j++)
            mask[k * R + k * 4 + 36 * j] = 1.0f;
    struct rp_sparse_plan *sp;
    struct rp_sparse_info info;
    CHECK_OK(rp_sparse_plan_new(&sp, mask, R, K, RP_SPARSE_CHOOSE));
    rp_sparse_plan_info(sp, &info);
    CHECK(!info.by_output);
    rp_sparse_plan_free(sp);
    CHECK_OK(rp_sparse_plan_new(&sp, mask, R, K, RP_SPARSE_ANY));
    rp_sparse_plan_info(sp, &info);
    CHECK(info.by_output && info.blocks == 4 && info.rows_alive == 32 && info.packed == 32);
    struct rp_tensor *x = tensor(4, 2, C, 8, 8, 1);
    CHECK(rp_conv2d_sparse_workspace_size(x, &p1, sp, 2) > 0);
    CHECK(rp_conv2d_sparse_workspace_size(x, &p2, sp, 2) == 0);
    rp_tensor_free(x);
    rp_sparse_plan_free(sp);
    free(mask);
}

/* The plan of a column mask with 16-row segments: blocks of 16 rows, work in
 * proportion to the alive segments. */
static void sparse_plan_counts(void)
{
    int64_t K = 4, R = 64;
    float mask[4 * 64];
    for (int64_t i = 0; i < K * R; i++)
        mask[i] = 1.0f;
    /* output 0: segments 1-3 dead; output 1: all dead; outputs 2, 3: segment 0 dead */
    for (int64_t r = 16; r < 64; r++)
        mask[0 * R + r] = 0.0f;
    for (int64_t r = 0; r < 64; r++)
        mask[1 * R + r] = 0.0f;
    for (int64_t r = 0; r < 16; r++)
        mask[2 * R + r] = mask[3 * R + r] = 0.0f;
    struct rp_sparse_plan *sp;
    struct rp_sparse_info info;
    CHECK_OK(rp_sparse_plan_new(&sp, mask, R, K, 16));
    rp_sparse_plan_info(sp, &info);
    /* block 0: output 0 alive (16 rows); blocks 1-3: outputs 2, 3 */
    CHECK(info.blocks == 4 && info.rows_alive == 64);
    CHECK(info.packed == 16 * 1 + 3 * 16 * 2);
    CHECK(info.macs == 16.0 * 1 + 2.0 * 1 + 3 * (16.0 * 2 + 2.0 * 2));
    rp_sparse_plan_free(sp);
    /* chosen height: 16 (taller blocks would mix the segments) */
    CHECK_OK(rp_sparse_plan_new(&sp, mask, R, K, 0));
    rp_sparse_plan_info(sp, &info);
    CHECK(info.block_rows == 16);
    rp_sparse_plan_free(sp);
    CHECK_FAILS(rp_sparse_plan_new(&sp, mask, 0, K, 16), RP_EINVAL, "at least 1x1");
    CHECK_FAILS(rp_sparse_plan_new(&sp, mask, R, K, -2), RP_EINVAL, "block_rows");
}

/* The static cost model: sparse where the alive blocks are few, dense where
 * they are not (element masks keep every block full). */
static void sparse_choice(void)
{
    int64_t in[4] = {128, 256, 8, 8}, K = 256, R = 256 * 9;
    struct rp_conv2d_params p3 = {3, 3, 1, 1, 1, 1, 0}, s2 = {3, 3, 2, 2, 1, 1, 0};
    CHECK(rp_conv2d_choose(in, K, &p3, NULL) == RP_CONV_WINOGRAD4);
    CHECK(rp_conv2d_choose(in, K, &s2, NULL) == RP_CONV_IM2COL);
    float *m = malloc(sizeof(float) * (size_t)(K * R));
    const struct {
        int kind;
        double dead;
        int want;
    } cases[] = {{COLUMN, 0.9, RP_CONV_SPARSE},     {COLUMN, 0.5, RP_CONV_WINOGRAD4},
                 {FILTER, 0.9, RP_CONV_SPARSE},     {ELEMENT, 0.9, RP_CONV_WINOGRAD4},
                 {NONE_DEAD, 0, RP_CONV_WINOGRAD4}, {ALL_DEAD, 1, RP_CONV_SPARSE}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        make_mask(m, cases[i].kind, cases[i].dead, K, 256, 9, 128);
        struct rp_sparse_plan *sp;
        CHECK_OK(rp_sparse_plan_new(&sp, m, R, K, 0));
        int got = rp_conv2d_choose(in, K, &p3, sp);
        CHECK(got == cases[i].want);
        if (got != cases[i].want)
            fprintf(stderr, "choice %zu: %d, expected %d\n", i, got, cases[i].want);
        rp_sparse_plan_free(sp);
    }
    free(m);
}

int main(void)
{
    struct rp_conv2d_params p3 = {3, 3, 1, 1, 1, 1, 0}, p3v = {3, 3, 1, 1, 0, 0, 0};
    struct rp_conv2d_params s2 = {3, 3, 2, 2, 1, 1, 0};
    struct rp_conv2d_params rect = {2, 3, 2, 1, 1, 1, 0}, p5 = {5, 5, 2, 2, 2, 2, 0};
    /* im2col: any kernel, stride and padding */
    one_case(RP_CONV_IM2COL, 3, 4, 9, 7, 5, p3, 1e-5);
    one_case(RP_CONV_IM2COL, 2, 3, 8, 9, 4, rect, 1e-5);
    one_case(RP_CONV_IM2COL, 2, 2, 11, 10, 3, p5, 1e-5);
    /* Winograd F(2x2) and F(4x4): 3x3 stride 1, odd sizes, padding 0 and 1 */
    one_case(RP_CONV_WINOGRAD, 3, 16, 9, 7, 18, p3, 1e-5);
    one_case(RP_CONV_WINOGRAD, 2, 16, 8, 8, 16, p3v, 1e-5);
    one_case(RP_CONV_WINOGRAD4, 3, 16, 11, 9, 18, p3, 5e-5);
    one_case(RP_CONV_WINOGRAD4, 2, 16, 10, 12, 16, p3v, 5e-5);
    /* a stride-2 kernel is refused by Winograd */
    struct rp_conv2d_params bad = {3, 3, 2, 2, 1, 1, RP_CONV_WINOGRAD};
    struct rp_tensor *x = tensor(4, 1, 16, 8, 8, 1), *w = tensor(4, 16, 16, 3, 3, 1);
    int64_t ys[4];
    rp_status st = rp_conv2d_output_shape(ys, x, w, &bad);
    int64_t wsn[1] = {st == RP_OK ? rp_conv2d_workspace_size(x, w, &bad, 1) : 1};
    struct rp_tensor *y = tensor(4, 1, 16, 4, 4, 0), *ws;
    rp_tensor_new(&ws, 1, wsn);
    CHECK(st != RP_OK || rp_conv2d_forward(y, x, w, NULL, ws, &bad) != RP_OK);
    rp_tensor_free(x), rp_tensor_free(w), rp_tensor_free(y), rp_tensor_free(ws);
    /* sparse: every mask structure, sparsities 0 to 99%, stride, padding,
     * rectangular and 1x1 kernels, chosen and fixed block heights */
    struct rp_conv2d_params p1 = {1, 1, 1, 1, 0, 0, 0};
    const double deads[] = {0.0, 0.5, 0.9, 0.99};
    for (int kind = ELEMENT; kind <= CHANNEL; kind++)
        for (int d = 0; d < 4; d++) {
            sparse_case(kind, deads[d], 0, 3, 20, 9, 7, 11, p3, 1e-5);
            sparse_case(kind, deads[d], 16, 2, 20, 8, 9, 6, rect, 1e-5);
        }
    sparse_case(COLUMN, 0.7, 0, 2, 8, 11, 10, 5, p5, 1e-5);
    sparse_case(COLUMN, 0.7, 16, 5, 40, 4, 4, 9, p1, 1e-5);
    /* stride 1 runs the direct kernels: 19 images (whole blocks of 8 and a
     * tail), rows of 11 (a vector of 8 and a tail), a rectangular kernel with
     * its own padding per side, padding wider than the kernel */
    struct rp_conv2d_params r35 = {3, 5, 1, 1, 1, 2, 0}, wide = {3, 3, 1, 1, 2, 3, 0};
    sparse_case(COLUMN, 0.5, 0, 19, 12, 11, 11, 21, p3, 1e-5);
    sparse_case(ELEMENT, 0.3, 0, 17, 5, 9, 13, 7, r35, 1e-5);
    sparse_case(CHANNEL, 0.5, 16, 9, 10, 5, 8, 13, wide, 1e-5);
    /* one block per output (element masks, stride 1): chosen where it is
     * cheaper, forced through the same kernels elsewhere */
    sparse_case(ELEMENT, 0.95, RP_SPARSE_ANY, 19, 24, 11, 11, 21, p3, 1e-5);
    sparse_case(ELEMENT, 0.99, RP_SPARSE_ANY, 9, 40, 6, 9, 13, r35, 1e-5);
    sparse_case(ELEMENT, 0.5, RP_SPARSE_ANY, 5, 12, 7, 7, 9, wide, 1e-5);
    sparse_case(COLUMN, 0.9, RP_SPARSE_ANY, 5, 12, 7, 7, 9, p1, 1e-5);
    by_output_plan(p3, s2);
    sparse_case(ALL_DEAD, 1.0, 0, 2, 20, 6, 6, 7, p3, 1e-5);
    sparse_case(NONE_DEAD, 0.0, 32, 2, 20, 6, 6, 7, p3v, 1e-5);
    sparse_plan_counts();
    sparse_choice();
    return check_summary("test_conv");
}
