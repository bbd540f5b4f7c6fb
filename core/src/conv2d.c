/*
 * conv2d.c - 2-D convolution by im2col + GEMM.
 *
 * For one image the columns matrix has one row per (ci, ky, kx) - row
 * (ci*kh + ky)*kw + kx, the crossbar row order of docs/design.md - and one column
 * per output position (P = Ho*Wo).  Then
 *   forward:        Y[Cout, P]  = W[Cout, K] . cols[K, P] (+ b)
 *   input grad:     cols[K, P]  = W^T . dY[Cout, P];  col2im adds into dX
 *   weight grad:    dW[Cout, K] += dY[Cout, P] . cols^T
 * The weight [Cout,Cin,kh,kw] is already W[Cout, K] and an NCHW image is
 * already Y[Cout, P], so with one image per product nothing is transposed.
 *
 * Threads: the batch is cut into chunks of g images, g chosen so that a
 * chunk has at least CHUNK_COLUMNS output positions (g = 1 for all but small
 * feature maps, where one image alone would make a thin, slow product);
 * the OpenMP threads take chunks in a fixed round-robin order, each with
 * its own slice of the workspace and a serial GEMM.  Weight gradients go to
 * per-thread partial sums that are added in thread order, so a given thread
 * count always gives the same bits.
 */
#include <math.h>
#include <string.h>

#include "conv2d_parts.h"
#include "conv2d_sparse.h"
#include "conv2d_winograd.h"
#include "kernel.h"
#include "realprune/blas.h"
#include "realprune/nn.h"

#define CHUNK_COLUMNS 512

static rp_status check_params(const struct rp_conv2d_params *p)
{
    if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->ph < 0 || p->pw < 0)
        return rp_error(RP_EINVAL,
                        "conv2d: kernel %dx%d, stride %dx%d and padding %dx%d must be "
                        "positive (padding non-negative)",
                        p->kh, p->kw, p->sh, p->sw, p->ph, p->pw);
    if (p->algorithm < RP_CONV_AUTO || p->algorithm > RP_CONV_WINOGRAD4)
        return rp_error(RP_EINVAL,
                        "conv2d: algorithm %d is not auto (0), im2col (1), "
                        "winograd (2) or winograd4 (3); sparse (4) runs through "
                        "rp_conv2d_sparse_*",
                        p->algorithm);
    if ((p->algorithm == RP_CONV_WINOGRAD || p->algorithm == RP_CONV_WINOGRAD4) &&
        !rp_winograd_applies(p))
        return rp_error(RP_EINVAL,
                        "conv2d: the winograd algorithm needs a 3x3 kernel with "
                        "stride 1, got kernel %dx%d, stride %dx%d",
                        p->kh, p->kw, p->sh, p->sw);
    return RP_OK;
}

/* The Winograd tile size for this call (2 or 4), or 0 for im2col.
 * Automatically where it is faster: 3x3 stride-1 kernels with at least 16
 * input and output channels (the first layer of a network, with 1 or 3
 * channels, stays on im2col); F(4x4) for outputs of at least 8x8 between
 * layers of 192+ channels together (below that the transforms cost more than
 * the multiplications they save), else F(2x2), for outputs down to 2x2
 * (measured with bench/conv_passes.lua). */
static int winograd_tile(const struct rp_conv2d_params *p, const int64_t in[4], int64_t cout)
{
    if (p->algorithm == RP_CONV_IM2COL || !rp_winograd_applies(p))
        return 0;
    if (p->algorithm == RP_CONV_WINOGRAD)
        return 2;
    if (p->algorithm == RP_CONV_WINOGRAD4)
        return 4;
    int64_t ho = in[2] + 2 * p->ph - 2, wo = in[3] + 2 * p->pw - 2;
    if (in[1] < 16 || cout < 16 || ho < 2 || wo < 2)
        return 0;
    return ho >= 8 && wo >= 8 && in[1] + cout >= 192 ? 4 : 2;
}

/* Per output position: multiply-adds of im2col's product, Winograd's share of
 * them, the cost of moving one alive row (im2col, col2im; short rows cost
 * more per value), and how much cheaper sparse must be.  Measured with
 * bench/bench_sparse_conv.c (2 threads): Winograd took 0.42-0.49 of im2col's
 * time on an AMD EPYC (AVX2 kernel), and on an Intel Xeon (AVX-512, SkylakeX
 * kernel) 0.46-0.62 between layers of more than 192 channels together
 * (vgg11's 128->256 to 512->512) and 0.67-0.77 between narrower ones
 * (vgg_small's 32->32 to 64->64, vgg11's 64->128), whose products are too
 * small for its GEMMs; the sparse kernels' fixed cost fit 20 + 600 / P
 * multiply-adds per alive row. */
#define WINOGRAD_SHARE        0.5
#define WINOGRAD_SHARE_NARROW 0.65
#define NARROW_CHANNELS       192
#define SPARSE_MARGIN         0.9
/* The direct sparse kernels of stride-1 layers (conv2d_direct.c) against
 * im2col's product: 1.3 per multiply-add (their register tiles) and
 * 40 (1 + 16 / P) per input and output channel (the moves into and out of
 * their layout, dearer per value on small planes); fit to
 * bench/bench_sparse_conv.c on vgg11's and vgg_small's layer shapes at 0-95%
 * column and 70-99% element sparsity (2 threads, AVX-512, Intel Xeon): with
 * these, no choice of sparse was slower than dense by more than 5% there, and
 * the dense choices gave up at most 1.28x (layers near 60% column sparsity). */
#define DIRECT_MAC   1.3
#define DIRECT_MOVES 40.0
/* A by-output plan (element masks: each output its own alive rows) gathers
 * its inputs row by row for every output, with no reuse between outputs held
 * in registers; on wide layers those rows outgrow the L1 and L2 caches.  Its
 * multiply-adds cost (1 + 0.3 log2(R / 288)) times DIRECT_MAC for R > 288
 * rows (a 32-channel 3x3 layer's): fit to the element rows of the same
 * measurements on an Intel Xeon model 207 and model 167 (at 90% of 512->512
 * at 4x4, 0.97x and 0.83x dense where the plain DIRECT_MAC predicted 1.9x);
 * with it neither machine's file has a sparse pick more than 5% slower than
 * dense. */
#define BY_OUTPUT_ROWS       288.0
#define BY_OUTPUT_PER_OCTAVE 0.3
/* tools/sparse_choice.lua repeats the formula below to check it against
 * measured times (docs/results/sparse-choice-2026-12): change both. */

/* The sparse Winograd products (conv2d_winograd.c) against dense Winograd:
 * the transforms stay whole, a share WINOGRAD_MOVES_WIDE (outputs of 8x8 and
 * more) or WINOGRAD_MOVES_SMALL (4x4, 2x2) of its time, and the products shrink to the pair
 * rectangles' multiply-adds (with their edges) at SPARSE_WINOGRAD_MAC per
 * multiply-add of OpenBLAS's.  Fit to bench/bench_sparse_conv.c on the same
 * nine layer shapes (docs/results/sparse-choice-2026-12, second run): the
 * time at 95% column sparsity gives the transforms' share, the slope from
 * 50% to 95% the products' cost. */
#define WINOGRAD_MOVES_WIDE  0.45
#define WINOGRAD_MOVES_SMALL 0.15
#define SPARSE_WINOGRAD_MAC  1.7

/* The dense algorithm of a Winograd tile (0: im2col). */
static int dense_algorithm(int tile)
{
    return tile == 4 ? RP_CONV_WINOGRAD4 : tile == 2 ? RP_CONV_WINOGRAD : RP_CONV_IM2COL;
}

struct sparse_costs {
    int dense;                           /* the dense kernel auto runs */
    int tile;                            /* the sparse Winograd tile, 0 where it cannot run */
    double dense_cost, direct, winograd; /* per output position; < 0: cannot run */
};

static struct sparse_costs sparse_costs(const int64_t in[4], int64_t cout,
                                        const struct rp_conv2d_params *p,
                                        const struct rp_sparse_plan *sp)
{
    struct sparse_costs c;
    /* the dense kernel the caller asked for (auto for "sparse"); the sparse
     * Winograd products on auto's tile whatever was asked */
    struct rp_conv2d_params q = *p;
    if (q.algorithm == RP_CONV_SPARSE)
        q.algorithm = RP_CONV_AUTO;
    int tile = winograd_tile(&q, in, cout);
    q.algorithm = RP_CONV_AUTO;
    int auto_tile = winograd_tile(&q, in, cout);
    c.dense = dense_algorithm(tile);
    struct rp_sparse_info info;
    rp_sparse_plan_info(sp, &info);
    int64_t ho = (in[2] + 2 * p->ph - p->kh) / p->sh + 1,
            wo = (in[3] + 2 * p->pw - p->kw) / p->sw + 1;
    double P = ho * wo > 0 ? (double)(ho * wo) : 1.0, row = 20.0 + 600.0 / P;
    double im2col = info.macs_dense + row * (double)info.R;
    double share = in[1] + cout <= NARROW_CHANNELS ? WINOGRAD_SHARE_NARROW : WINOGRAD_SHARE;
    c.dense_cost = tile ? share * im2col : im2col;
    double mac = DIRECT_MAC;
    if (info.by_output && (double)info.R > BY_OUTPUT_ROWS)
        mac *= 1.0 + BY_OUTPUT_PER_OCTAVE * log2((double)info.R / BY_OUTPUT_ROWS);
    c.direct = p->sh == 1 && p->sw == 1
                   ? mac * info.macs + DIRECT_MOVES * (1.0 + 16.0 / P) * (double)(in[1] + cout)
                   : info.macs + row * (double)info.rows_alive;
    c.tile = auto_tile && sp->pairs && sp->pairs->cin == in[1] ? auto_tile : 0;
    c.winograd = -1.0;
    if (c.tile) {
        double products = sp->pairs->macs / ((double)in[1] * (double)cout);
        double moves = P >= 64.0 ? WINOGRAD_MOVES_WIDE : WINOGRAD_MOVES_SMALL;
        c.winograd = share * im2col * (moves + (1.0 - moves) * SPARSE_WINOGRAD_MAC * products);
    }
    return c;
}

int rp_conv2d_sparse_tile(const int64_t in[4], int64_t cout, const struct rp_conv2d_params *p,
                          const struct rp_sparse_plan *sp)
{
    if (sp->kernel == RP_SPARSE_KERNEL_DIRECT)
        return 0;
    if (!rp_winograd_applies(p) || !sp->pairs || sp->pairs->cin != in[1])
        return 0;
    if (sp->kernel == RP_SPARSE_KERNEL_WINOGRAD) {
        int64_t ho = in[2] + 2 * p->ph - 2, wo = in[3] + 2 * p->pw - 2;
        return ho >= 8 && wo >= 8 && in[1] + cout >= 192 ? 4 : 2;
    }
    struct sparse_costs c = sparse_costs(in, cout, p, sp);
    return c.tile && c.winograd < c.direct ? c.tile : 0;
}

int rp_conv2d_sparse_kernel(const int64_t in[4], int64_t cout, const struct rp_conv2d_params *p,
                            const struct rp_sparse_plan *sp)
{
    if (rp_conv2d_sparse_tile(in, cout, p, sp))
        return RP_SPARSE_KERNEL_WINOGRAD;
    return p->sh == 1 && p->sw == 1 ? RP_SPARSE_KERNEL_DIRECT : RP_SPARSE_KERNEL_IM2COL;
}

int rp_conv2d_choose(const int64_t in[4], int64_t cout, const struct rp_conv2d_params *p,
                     const struct rp_sparse_plan *sp)
{
    struct rp_conv2d_params q = *p;
    if (q.algorithm == RP_CONV_SPARSE)
        q.algorithm = RP_CONV_AUTO;
    if (!sp)
        return dense_algorithm(winograd_tile(&q, in, cout));
    struct sparse_costs c = sparse_costs(in, cout, &q, sp);
    /* the sparse kernel the call would run (rp_conv2d_sparse_tile; a pinned one
     * too); a Winograd pin on a layer auto keeps off Winograd is costed as the
     * direct kernels */
    int winograd = sp->kernel == RP_SPARSE_KERNEL_WINOGRAD ||
                   (sp->kernel == RP_SPARSE_KERNEL_AUTO && c.winograd < c.direct);
    double best = winograd && c.tile ? c.winograd : c.direct;
    return best <= SPARSE_MARGIN * c.dense_cost ? RP_CONV_SPARSE : c.dense;
}

/* The Winograd plan of a call: as many threads as the workspace has room for. */
static rp_status winograd_call(struct rp_winograd_plan *wp, int tile, const int64_t in[4],
                               int64_t cout, const struct rp_tensor *workspace,
                               const struct rp_conv2d_params *p)
{
    for (int threads = rp_blas_get_threads(); threads >= 1; threads--) {
        rp_winograd_plan(wp, in, cout, p, tile, threads);
        if (workspace->numel >= wp->size)
            return RP_OK;
    }
    return rp_error(RP_ESHAPE, "conv2d: the workspace holds %lld values, at least %lld needed",
                    (long long)workspace->numel, (long long)wp->size);
}

struct rp_conv2d_params rp_conv2d_params_default(void)
{
    struct rp_conv2d_params p = {1, 1, 1, 1, 0, 0, RP_CONV_AUTO};
    return p;
}

rp_status rp_conv2d_output_shape(int64_t out[4], const struct rp_tensor *input,
                                 const struct rp_tensor *weight, const struct rp_conv2d_params *p)
{
    char a[64], b[64];
    rp_status st = check_params(p);
    if (st != RP_OK)
        return st;
    if (input->ndim != 4)
        return rp_error(RP_ESHAPE, "conv2d: input must be 4-D (N, C, H, W), got %s",
                        rp_shape_string(a, sizeof a, input->ndim, input->shape));
    if (weight->ndim != 4 || weight->shape[2] != p->kh || weight->shape[3] != p->kw)
        return rp_error(RP_ESHAPE, "conv2d: weight must be (Cout, Cin, %d, %d), got %s", p->kh,
                        p->kw, rp_shape_string(a, sizeof a, weight->ndim, weight->shape));
    if (input->shape[1] != weight->shape[1])
        return rp_error(
            RP_ESHAPE, "conv2d: input %s has %lld channels, the weight %s expects %lld",
            rp_shape_string(a, sizeof a, input->ndim, input->shape), (long long)input->shape[1],
            rp_shape_string(b, sizeof b, weight->ndim, weight->shape), (long long)weight->shape[1]);
    int64_t hp = input->shape[2] + 2 * p->ph, wp = input->shape[3] + 2 * p->pw;
    if (hp < p->kh || wp < p->kw)
        return rp_error(RP_ESHAPE,
                        "conv2d: input %lldx%lld (padded %lldx%lld) is smaller than "
                        "the %dx%d kernel",
                        (long long)input->shape[2], (long long)input->shape[3], (long long)hp,
                        (long long)wp, p->kh, p->kw);
    out[0] = input->shape[0];
    out[1] = weight->shape[0];
    out[2] = (hp - p->kh) / p->sh + 1;
    out[3] = (wp - p->kw) / p->sw + 1;
    return RP_OK;
}

/* One image x[C, H, W] -> cols[C*kh*kw, Ho*Wo] with row stride ld. */
static void im2col(float *cols, int64_t ld, const float *x, int64_t C, int64_t H, int64_t W,
                   int64_t Ho, int64_t Wo, const struct rp_conv2d_params *p)
{
    for (int64_t r = 0; r < C * p->kh * p->kw; r++)
        rp_im2col_row(cols + r * ld, r, x, H, W, Ho, Wo, p);
}

/* cols[C*kh*kw, Ho*Wo] (row stride ld) added into x[C, H, W]. */
static void col2im(float *x, const float *cols, int64_t ld, int64_t C, int64_t H, int64_t W,
                   int64_t Ho, int64_t Wo, const struct rp_conv2d_params *p)
{
    for (int64_t r = 0; r < C * p->kh * p->kw; r++)
        rp_col2im_row(x, cols + r * ld, r, H, W, Ho, Wo, p);
}

/* A 1x1, stride-1, unpadded convolution needs no im2col: the image is the
 * columns matrix already. */
static int is_pointwise(const struct rp_conv2d_params *p)
{
    return p->kh == 1 && p->kw == 1 && p->sh == 1 && p->sw == 1 && p->ph == 0 && p->pw == 0;
}

/* How a batch is cut and how much workspace each thread needs. */
struct plan {
    int64_t N, C, H, W, Cout, Ho, Wo, P, K;
    int64_t g; /* images per chunk */
    int64_t chunks;
    int64_t per_thread; /* workspace floats per thread */
    int threads;
};

static void make_plan(struct plan *pl, const int64_t in[4], int64_t cout,
                      const struct rp_conv2d_params *p, int threads)
{
    pl->N = in[0];
    pl->C = in[1];
    pl->H = in[2];
    pl->W = in[3];
    pl->Cout = cout;
    pl->Ho = (pl->H + 2 * p->ph - p->kh) / p->sh + 1;
    pl->Wo = (pl->W + 2 * p->pw - p->kw) / p->sw + 1;
    pl->P = pl->Ho * pl->Wo;
    pl->K = pl->C * p->kh * p->kw;
    struct rp_chunking c = rp_chunk_batch(pl->N, pl->P, CHUNK_COLUMNS, threads);
    int64_t g = pl->g = c.g;
    pl->chunks = c.chunks;
    pl->threads = c.team;
    /* columns [K, gP], chunk output/gradient [Cout, gP], weight partial [Cout, K] */
    pl->per_thread = pl->K * g * pl->P + pl->Cout * g * pl->P + pl->Cout * pl->K;
}

int64_t rp_conv2d_workspace_size(const struct rp_tensor *input, const struct rp_tensor *weight,
                                 const struct rp_conv2d_params *p, int threads)
{
    struct plan pl;
    int tile = winograd_tile(p, input->shape, weight->shape[0]);
    if (tile) {
        struct rp_winograd_plan wp;
        rp_winograd_plan(&wp, input->shape, weight->shape[0], p, tile, threads);
        return wp.size;
    }
    make_plan(&pl, input->shape, weight->shape[0], p, threads);
    return pl.per_thread * pl.threads;
}

/* The plan for this call: as many threads as the workspace has room for. */
static rp_status plan_call(struct plan *pl, const int64_t in[4], int64_t cout,
                           const struct rp_tensor *workspace, const struct rp_conv2d_params *p)
{
    make_plan(pl, in, cout, p, rp_blas_get_threads());
    int64_t fit = pl->per_thread > 0 ? workspace->numel / pl->per_thread : pl->threads;
    if (fit < 1)
        return rp_error(RP_ESHAPE,
                        "conv2d: the workspace holds %lld values, at least %lld "
                        "needed",
                        (long long)workspace->numel, (long long)pl->per_thread);
    if (fit < pl->threads)
        pl->threads = (int)fit;
    return RP_OK;
}

/* The kernel of this call and its plan for the workspace given: Winograd
 * (tile != 0, *wp) or im2col (*pl). */
static rp_status plan_kernel(int *tile, struct rp_winograd_plan *wp, struct plan *pl,
                             const int64_t in[4], int64_t cout, const struct rp_tensor *workspace,
                             const struct rp_conv2d_params *p)
{
    *tile = winograd_tile(p, in, cout);
    return *tile ? winograd_call(wp, *tile, in, cout, workspace, p)
                 : plan_call(pl, in, cout, workspace, p);
}

/* The checks and plan every entry point starts with: the output shape os of
 * `input` and `weight`, the tensor `y` (named `what`: the output or its
 * gradient) against it, `bias` (may be NULL) against its channels, then the
 * kernel's plan. */
static rp_status prepare(int64_t os[4], int *tile, struct rp_winograd_plan *wp, struct plan *pl,
                         const struct rp_tensor *input, const struct rp_tensor *weight,
                         const char *what, const struct rp_tensor *y, const char *bias_name,
                         const struct rp_tensor *bias, const struct rp_tensor *workspace,
                         const struct rp_conv2d_params *p)
{
    rp_status st = rp_conv2d_output_shape(os, input, weight, p);
    if (st != RP_OK || (st = rp_conv2d_check_same(what, y, 4, os)) != RP_OK)
        return st;
    if (bias && (st = rp_conv2d_check_same(bias_name, bias, 1, &os[1])) != RP_OK)
        return st;
    return plan_kernel(tile, wp, pl, input->shape, os[1], workspace, p);
}

/* The columns matrix of images n0..n0+g-1 (row stride g*P) in cols, or the
 * input image itself for a pointwise convolution of one image. */
static const float *chunk_columns(float *cols, const struct rp_tensor *input, int64_t n0, int64_t g,
                                  const struct plan *pl, const struct rp_conv2d_params *p)
{
    int64_t img = pl->C * pl->H * pl->W;
    if (g == 1 && is_pointwise(p))
        return input->data + n0 * img;
    for (int64_t i = 0; i < g; i++)
        im2col(cols + i * pl->P, g * pl->P, input->data + (n0 + i) * img, pl->C, pl->H, pl->W,
               pl->Ho, pl->Wo, p);
    return cols;
}

rp_status rp_conv2d_forward(struct rp_tensor *output, const struct rp_tensor *input,
                            const struct rp_tensor *weight, const struct rp_tensor *bias,
                            struct rp_tensor *workspace, const struct rp_conv2d_params *p)
{
    int64_t os[4];
    int tile;
    struct plan pl;
    struct rp_winograd_plan wp;
    rp_status st =
        prepare(os, &tile, &wp, &pl, input, weight, "output", output, "bias", bias, workspace, p);
    if (st != RP_OK)
        return st;
    if (tile) {
        rp_winograd_forward(output->data, input->data, weight->data, bias ? bias->data : NULL,
                            workspace->data, &wp);
        return RP_OK;
    }
    const int64_t P = pl.P, K = pl.K, Cout = pl.Cout;
    const int direct = pl.g == 1; /* write straight into the output */
#pragma omp parallel num_threads(pl.threads)
    {
        int t = rp_thread_id(), team = rp_team_size();
        float *cols = workspace->data + t * pl.per_thread;
        float *tmp = cols + K * pl.g * P;
        for (int64_t c = t; c < pl.chunks; c += team) {
            int64_t n0 = c * pl.g, g = n0 + pl.g <= pl.N ? pl.g : pl.N - n0, ld = g * P;
            const float *b = chunk_columns(cols, input, n0, g, &pl, p);
            float *y = direct ? output->data + n0 * Cout * P : tmp;
            float beta = 0.0f;
            if (bias) {
                for (int64_t co = 0; co < Cout; co++)
                    for (int64_t i = 0; i < ld; i++)
                        y[co * ld + i] = bias->data[co];
                beta = 1.0f;
            }
            rp_gemm_serial(0, 0, Cout, ld, K, 1.0f, weight->data, K, b, ld, beta, y, ld);
            if (!direct)
                for (int64_t i = 0; i < g; i++)
                    for (int64_t co = 0; co < Cout; co++)
                        memcpy(output->data + ((n0 + i) * Cout + co) * P, tmp + co * ld + i * P,
                               sizeof(float) * (size_t)P);
        }
    }
    return RP_OK;
}

rp_status rp_conv2d_backward_input(struct rp_tensor *grad_input,
                                   const struct rp_tensor *grad_output,
                                   const struct rp_tensor *weight, struct rp_tensor *workspace,
                                   const struct rp_conv2d_params *p)
{
    int64_t os[4];
    struct plan pl;
    int tile;
    struct rp_winograd_plan wp;
    rp_status st = prepare(os, &tile, &wp, &pl, grad_input, weight, "grad_output", grad_output,
                           NULL, NULL, workspace, p);
    if (st != RP_OK)
        return st;
    if (tile) {
        rp_winograd_backward(grad_input->data, NULL, grad_output->data, NULL, weight->data,
                             workspace->data, &wp, 0.0f);
        return RP_OK;
    }
    const int64_t P = pl.P, K = pl.K, Cout = pl.Cout, img = pl.C * pl.H * pl.W;
#pragma omp parallel num_threads(pl.threads)
    {
        int t = rp_thread_id(), team = rp_team_size();
        float *cols = workspace->data + t * pl.per_thread;
        float *tmp = cols + K * pl.g * P;
        for (int64_t c = t; c < pl.chunks; c += team) {
            int64_t n0 = c * pl.g, g = n0 + pl.g <= pl.N ? pl.g : pl.N - n0, ld = g * P;
            const float *dy = rp_chunk_grad(tmp, grad_output, n0, g, Cout, P);
            if (g == 1 && is_pointwise(p)) {
                rp_gemm_serial(1, 0, K, ld, Cout, 1.0f, weight->data, K, dy, ld, 0.0f,
                               grad_input->data + n0 * img, ld);
                continue;
            }
            rp_gemm_serial(1, 0, K, ld, Cout, 1.0f, weight->data, K, dy, ld, 0.0f, cols, ld);
            for (int64_t i = 0; i < g; i++) {
                float *dx = grad_input->data + (n0 + i) * img;
                memset(dx, 0, sizeof(float) * (size_t)img);
                col2im(dx, cols + i * P, ld, pl.C, pl.H, pl.W, pl.Ho, pl.Wo, p);
            }
        }
    }
    return RP_OK;
}

/* grad_weight += scale * dY . cols^T by im2col chunks. */
static void weight_grad_im2col(struct rp_tensor *grad_weight, const struct rp_tensor *grad_output,
                               const struct rp_tensor *input, struct rp_tensor *workspace,
                               const struct plan *pl_, const struct rp_conv2d_params *p,
                               float scale)
{
    const struct plan pl = *pl_;
    const int64_t P = pl.P, K = pl.K, Cout = pl.Cout;
    int started = 1; /* threads the team really has */
#pragma omp parallel num_threads(pl.threads)
    {
        int t = rp_thread_id(), team = rp_team_size();
        if (t == 0)
            started = team;
        float *cols = workspace->data + t * pl.per_thread;
        float *tmp = cols + K * pl.g * P;
        float *partial = tmp + Cout * pl.g * P;
        memset(partial, 0, sizeof(float) * (size_t)(Cout * K));
        for (int64_t c = t; c < pl.chunks; c += team) {
            int64_t n0 = c * pl.g, g = n0 + pl.g <= pl.N ? pl.g : pl.N - n0, ld = g * P;
            const float *b = chunk_columns(cols, input, n0, g, &pl, p);
            const float *dy = rp_chunk_grad(tmp, grad_output, n0, g, Cout, P);
            rp_gemm_serial(0, 1, Cout, K, ld, 1.0f, dy, ld, b, ld, 1.0f, partial, K);
        }
    }
    /* partial sums in thread order (deterministic for a given thread count) */
    for (int t = 0; t < started; t++) {
        const float *partial = workspace->data + t * pl.per_thread + K * pl.g * P + Cout * pl.g * P;
        for (int64_t i = 0; i < Cout * K; i++)
            grad_weight->data[i] += scale * partial[i];
    }
}

rp_status rp_conv2d_backward_params(struct rp_tensor *grad_weight, struct rp_tensor *grad_bias,
                                    const struct rp_tensor *grad_output,
                                    const struct rp_tensor *input, struct rp_tensor *workspace,
                                    const struct rp_conv2d_params *p, float scale)
{
    int64_t os[4];
    int tile;
    struct rp_winograd_plan wp;
    struct plan pl;
    rp_status st = prepare(os, &tile, &wp, &pl, input, grad_weight, "grad_output", grad_output,
                           "grad_bias", grad_bias, workspace, p);
    if (st != RP_OK)
        return st;
    if (tile)
        rp_winograd_backward(NULL, grad_weight->data, grad_output->data, input->data, NULL,
                             workspace->data, &wp, scale);
    else
        weight_grad_im2col(grad_weight, grad_output, input, workspace, &pl, p, scale);
    if (grad_bias)
        rp_bias_grad(grad_bias, grad_output, scale);
    return RP_OK;
}

rp_status rp_conv2d_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_weight,
                             struct rp_tensor *grad_bias, const struct rp_tensor *grad_output,
                             const struct rp_tensor *input, const struct rp_tensor *weight,
                             struct rp_tensor *workspace, const struct rp_conv2d_params *p,
                             float scale)
{
    int64_t os[4];
    rp_status st = rp_conv2d_output_shape(os, input, weight, p);
    if (st != RP_OK || (st = rp_conv2d_check_same("grad_output", grad_output, 4, os)) != RP_OK)
        return st;
    int tile = winograd_tile(p, input->shape, os[1]);
    if (!tile) {
        if (grad_input &&
            (st = rp_conv2d_backward_input(grad_input, grad_output, weight, workspace, p)) != RP_OK)
            return st;
        return rp_conv2d_backward_params(grad_weight, grad_bias, grad_output, input, workspace, p,
                                         scale);
    }
    struct rp_winograd_plan wp;
    if ((grad_input &&
         (st = rp_conv2d_check_same("grad_input", grad_input, 4, input->shape)) != RP_OK) ||
        (st = rp_conv2d_check_same("grad_weight", grad_weight, 4, weight->shape)) != RP_OK ||
        (grad_bias && (st = rp_conv2d_check_same("grad_bias", grad_bias, 1, &os[1])) != RP_OK) ||
        (st = winograd_call(&wp, tile, input->shape, os[1], workspace, p)) != RP_OK)
        return st;
    rp_winograd_backward(grad_input ? grad_input->data : NULL, grad_weight->data, grad_output->data,
                         input->data, weight->data, workspace->data, &wp, scale);
    if (grad_bias)
        rp_bias_grad(grad_bias, grad_output, scale);
    return RP_OK;
}
