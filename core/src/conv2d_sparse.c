/*
 * conv2d_sparse.c - compacted im2col convolution for crossbar-structured masks.
 *
 * A mask on M (R = cin*kh*kw rows, C = cout columns; element (r, c) at c*R + r)
 * is cut into blocks of h consecutive rows of the dense layout (h = 128 puts
 * one block on each crossbar row block).  Block b keeps its alive rows (rows
 * with an alive weight) and its alive outputs A_b (columns with an alive
 * weight in the block); everything else is zero and never touched:
 *   forward:      Y[A_b, P]    += Wb[A_b, rows_b] . cols[rows_b, P]
 *   input grad:   cols[rows_b]  = Wb^T . dY[A_b, P]; col2im adds into dX
 *   weight grad:  dWb[A_b, rows_b] += dY[A_b, P] . cols[rows_b, P]^T
 * so the work is the alive blocks' share of the dense product, and im2col
 * and col2im run only on the alive rows.  Dead column segments (ReaLPrune),
 * tiles, filters (dead outputs) and channels (dead rows) all shrink it;
 * unstructured element masks keep almost every block full and stay dense.
 *
 * Threads and chunks work as in conv2d.c: chunks of g images in a fixed
 * round-robin order, per-thread weight-gradient partials added in thread
 * order, so a given thread count always gives the same bits.
 */
#include <stdlib.h>
#include <string.h>

#include "conv2d_parts.h"
#include "conv2d_sparse.h"
#include "conv2d_winograd.h"
#include "kernel.h"
#include "realprune/blas.h"
#include "realprune/nn.h"

/* output positions per chunk: smaller than the dense path's 512, so that a chunk's
 * alive-row columns and its block products stay in cache (bench_sparse_conv.c) */
#define CHUNK_COLUMNS 256
/* cost of gathering or scattering one value, in multiply-adds */
#define MOVE_COST 2.0
/* a multiply-add of a one-output block against one of a taller register tile
 * (bench/bench_sparse_conv.c, element masks) */
#define BY_OUTPUT_COST 2.0

uint64_t rp_mask_hash(const float *mask, int64_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ULL ^ (uint64_t)n;
    for (int64_t i = 0; i < n; i++)
        if (mask[i] != 0.0f)
            h = (h ^ (uint64_t)i) * 0x100000001b3ULL;
    return h;
}

static inline uint32_t fmix32(uint32_t h)
{
    h ^= h >> 16;
    h *= 0x85ebca6bu;
    h ^= h >> 13;
    h *= 0xc2b2ae35u;
    h ^= h >> 16;
    return h;
}

/* Two 32-bit sums of hashes of the nonzeros' indices i0 .. i1-1: lanes of
 * 32-bit integers (vectorized), integer sums, so the order in which the
 * threads' shares are added does not matter.  Each index goes through the
 * murmur3 finalizer (twice, differently, for the two sums): with a nearly
 * linear hash, moves that keep the sum of the indices (two segments shifted
 * by one filter in opposite directions) would cancel out. */
RP_VECTOR_CLONES static void digest_range(const float *mask, int64_t i0, int64_t i1, uint32_t *sa,
                                          uint32_t *sb)
{
    uint32_t a = 0, b = 0;
    for (int64_t i = i0; i < i1; i++) {
        uint32_t h = fmix32((uint32_t)i + 0x9e3779b9u * (uint32_t)((uint64_t)i >> 32));
        uint32_t nz = 0u - (uint32_t)(mask[i] != 0.0f);
        a += h & nz;
        b += fmix32(h ^ 0x7f4a7c15u) & nz;
    }
    *sa = a;
    *sb = b;
}

uint64_t rp_mask_digest(const float *mask, int64_t n)
{
    uint32_t a = 0, b = 0;
    const int64_t piece = 1 << 16;
#pragma omp parallel for schedule(static) reduction(+ : a, b) if (n > 4 * piece)
    for (int64_t p = 0; p < (n + piece - 1) / piece; p++) {
        uint32_t pa, pb;
        digest_range(mask, p * piece, (p + 1) * piece < n ? (p + 1) * piece : n, &pa, &pb);
        a += pa;
        b += pb;
    }
    return ((uint64_t)a << 32 | b) ^ ((uint64_t)n * 0x9e3779b97f4a7c15ULL);
}

static void pair_blocks_free(struct rp_pair_blocks *pb)
{
    if (!pb)
        return;
    free(pb->c0);
    free(pb->len);
    free(pb->out_start);
    free(pb->outs);
    free(pb->u_start);
    free(pb->keep);
    free(pb->iota);
    free(pb);
}

/* A rectangle's fixed cost in multiply-adds per side (its accumulators' loads
 * and stores, bench/bench_sparse_conv.c) */
#define RECT_EDGE 2.0

/* Rectangle j starts at channel c with the outputs still uncovered there (set
 * = res[c]); it takes the next channels whose uncovered outputs are the same
 * set, or a superset when that channel is a run of its own (the channel
 * between two crossbar row blocks, alive where either block is: the rest of
 * it is left for a rectangle of its own, not split across the next block). */
static int takes(const unsigned char *res, int64_t C, int64_t cin, int64_t c, int64_t next)
{
    const unsigned char *a = res + c * C, *b = res + next * C;
    int same = 1;
    for (int64_t k = 0; k < C; k++) {
        if (a[k] && !b[k])
            return 0;
        same &= a[k] == b[k];
    }
    if (same)
        return 1;
    return next + 1 >= cin || memcmp(b, b + C, (size_t)C) != 0;
}

/* The pair rectangles of a mask [C][R/9][3][3] (R a multiple of 9). */
static rp_status cover_pairs(struct rp_sparse_plan *sp, const float *mask, int64_t R, int64_t C)
{
    sp->pairs = NULL;
    if (R % 9 != 0)
        return RP_OK;
    int64_t cin = R / 9, npairs = 0;
    struct rp_pair_blocks *pb = calloc(1, sizeof *pb);
    uint16_t *bits = malloc(sizeof(uint16_t) * (size_t)(C * cin));
    unsigned char *res = malloc((size_t)(C * cin));
    if (pb) {
        pb->c0 = malloc(sizeof(int64_t) * (size_t)(cin + 1));
        pb->len = malloc(sizeof(int64_t) * (size_t)(cin + 1));
        pb->out_start = malloc(sizeof(int64_t) * (size_t)(cin + 1));
        pb->u_start = malloc(sizeof(int64_t) * (size_t)(cin + 1));
        pb->iota = malloc(sizeof(int64_t) * (size_t)cin);
    }
    if (bits && res)
        for (int64_t k = 0; k < C; k++)
            for (int64_t c = 0; c < cin; c++) {
                uint16_t b = 0;
                for (int t = 0; t < 9; t++)
                    if (mask[k * R + c * 9 + t] != 0.0f)
                        b |= (uint16_t)(1u << t);
                bits[k * cin + c] = b;
                res[c * C + k] = b != 0;
                npairs += b != 0;
            }
    if (pb && pb->c0) {
        pb->outs = malloc(sizeof(int64_t) * (size_t)(npairs > 0 ? npairs : 1));
        pb->keep = malloc(sizeof(uint16_t) * (size_t)(npairs > 0 ? npairs : 1));
    }
    if (!pb || !bits || !res || !pb->c0 || !pb->len || !pb->out_start || !pb->u_start ||
        !pb->iota || !pb->outs || !pb->keep) {
        free(bits);
        free(res);
        pair_blocks_free(pb);
        return rp_error(RP_ENOMEM, "sparse plan: out of memory for the pairs of a %lldx%lld mask",
                        (long long)R, (long long)C);
    }
    pb->cin = cin;
    pb->pairs = npairs;
    int64_t n = 0, nouts = 0, q = 0;
    pb->out_start[0] = pb->u_start[0] = 0;
    for (int64_t c = 0; c < cin;) {
        unsigned char *set = res + c * C;
        int64_t no = 0;
        for (int64_t k = 0; k < C; k++)
            no += set[k];
        if (no == 0) {
            c++;
            continue;
        }
        int64_t L = 1;
        while (c + L < cin && takes(res, C, cin, c, c + L))
            L++;
        pb->c0[n] = c;
        pb->len[n] = L;
        for (int64_t k = 0; k < C; k++)
            if (set[k])
                pb->outs[nouts++] = k;
        const int64_t *outs = pb->outs + pb->out_start[n];
        for (int64_t i = 0; i < no; i++)
            for (int64_t l = 0; l < L; l++) {
                pb->keep[q++] = bits[outs[i] * cin + c + l];
                res[(c + l) * C + outs[i]] = 0;
            }
        pb->macs += (double)no * (double)L + RECT_EDGE * (double)(no + L);
        if (no > pb->max_out)
            pb->max_out = no;
        if (L > pb->max_len)
            pb->max_len = L;
        n++;
        pb->out_start[n] = nouts;
        pb->u_start[n] = q;
    }
    pb->n = n;
    for (int64_t c = 0; c < cin; c++)
        pb->iota[c] = c;
    free(bits);
    free(res);
    sp->pairs = pb;
    return RP_OK;
}

void rp_sparse_plan_free(struct rp_sparse_plan *sp)
{
    if (!sp)
        return;
    pair_blocks_free(sp->pairs);
    free(sp->row_start);
    free(sp->rows);
    free(sp->out_start);
    free(sp->outs);
    free(sp->w_start);
    free(sp->keep);
    free(sp);
}

/* Alive rows and outputs of blocks of height h; the multiply-adds per output
 * position they cost, with the gathers and scatters of the outputs (the rows'
 * im2col is the same for every height).  With sp == NULL only the cost is
 * computed. */
static double cut_blocks(struct rp_sparse_plan *sp, const float *mask, int64_t R, int64_t C,
                         int64_t h, unsigned char *row_alive, unsigned char *out_alive)
{
    double macs = 0.0;
    int64_t nb = 0, nrows = 0, nouts = 0;
    for (int64_t r0 = 0; r0 < R; r0 += h) {
        int64_t r1 = r0 + h < R ? r0 + h : R, nr = 0, no = 0;
        memset(row_alive, 0, (size_t)(r1 - r0));
        for (int64_t c = 0; c < C; c++) {
            const float *col = mask + c * R;
            unsigned char any = 0;
            for (int64_t r = r0; r < r1; r++)
                if (col[r] != 0.0f) {
                    row_alive[r - r0] = 1;
                    any = 1;
                }
            out_alive[c] = any;
            no += any;
        }
        for (int64_t r = 0; r < r1 - r0; r++)
            nr += row_alive[r];
        if (nr == 0 || no == 0)
            continue;
        macs += (double)no * (double)nr + MOVE_COST * (double)no;
        if (sp) {
            sp->row_start[nb] = nrows;
            sp->out_start[nb] = nouts;
            sp->w_start[nb + 1] = sp->w_start[nb] + no * nr;
            for (int64_t r = 0; r < r1 - r0; r++)
                if (row_alive[r])
                    sp->rows[nrows++] = r0 + r;
            for (int64_t c = 0; c < C; c++)
                if (out_alive[c])
                    sp->outs[nouts++] = c;
            if (no > sp->max_out)
                sp->max_out = no;
            if (nr > sp->max_rows)
                sp->max_rows = nr;
        } else {
            nrows += nr;
            nouts += no;
        }
        nb++;
    }
    if (sp) {
        sp->blocks = nb;
        sp->row_start[nb] = nrows;
        sp->out_start[nb] = nouts;
    }
    return macs;
}

/* Per output position: the multiply-adds of one block per alive output. */
static double by_output_cost(const float *mask, int64_t R, int64_t C)
{
    double macs = 0.0;
    for (int64_t c = 0; c < C; c++) {
        int64_t n = 0;
        for (int64_t r = 0; r < R; r++)
            n += mask[c * R + r] != 0.0f;
        if (n)
            macs += BY_OUTPUT_COST * (double)n + MOVE_COST;
    }
    return macs;
}

/* One block per alive output: its alive rows, itself. */
static rp_status plan_by_output(struct rp_sparse_plan **out, const float *mask, int64_t R,
                                int64_t C)
{
    int64_t nnz = 0;
    for (int64_t i = 0; i < R * C; i++)
        nnz += mask[i] != 0.0f;
    struct rp_sparse_plan *sp = calloc(1, sizeof *sp);
    if (sp) {
        sp->row_start = malloc(sizeof(int64_t) * (size_t)(C + 1));
        sp->out_start = malloc(sizeof(int64_t) * (size_t)(C + 1));
        sp->w_start = malloc(sizeof(int64_t) * (size_t)(C + 1));
        sp->rows = malloc(sizeof(int64_t) * (size_t)(nnz > 0 ? nnz : 1));
        sp->outs = malloc(sizeof(int64_t) * (size_t)C);
        sp->keep = malloc((size_t)(nnz > 0 ? nnz : 1));
    }
    if (!sp || !sp->row_start || !sp->out_start || !sp->w_start || !sp->rows || !sp->outs ||
        !sp->keep) {
        rp_sparse_plan_free(sp);
        return rp_error(RP_ENOMEM, "sparse plan: out of memory for a %lldx%lld mask", (long long)R,
                        (long long)C);
    }
    sp->R = R;
    sp->C = C;
    sp->h = 0;
    sp->by_output = 1;
    int64_t nb = 0, n = 0;
    sp->row_start[0] = sp->out_start[0] = sp->w_start[0] = 0;
    for (int64_t c = 0; c < C; c++) {
        int64_t n0 = n;
        for (int64_t r = 0; r < R; r++)
            if (mask[c * R + r] != 0.0f)
                sp->rows[n++] = r;
        if (n == n0)
            continue;
        sp->outs[nb] = c;
        nb++;
        sp->row_start[nb] = n;
        sp->out_start[nb] = nb;
        sp->w_start[nb] = n;
        sp->macs += BY_OUTPUT_COST * (double)(n - n0) + MOVE_COST;
        if (n - n0 > sp->max_rows)
            sp->max_rows = n - n0;
        sp->max_out = 1;
    }
    sp->blocks = nb;
    memset(sp->keep, 1, (size_t)(nnz > 0 ? nnz : 1));
    sp->hash = rp_mask_hash(mask, R * C);
    rp_status st = cover_pairs(sp, mask, R, C);
    if (st != RP_OK) {
        rp_sparse_plan_free(sp);
        return st;
    }
    *out = sp;
    return RP_OK;
}

rp_status rp_sparse_plan_new(struct rp_sparse_plan **out, const float *mask, int64_t R, int64_t C,
                             int64_t block_rows)
{
    *out = NULL;
    if (R < 1 || C < 1 || R > INT64_MAX / C)
        return rp_error(RP_EINVAL,
                        "sparse plan: the matrix must be at least 1x1 (and countable), got "
                        "%lldx%lld",
                        (long long)R, (long long)C);
    if (block_rows < RP_SPARSE_ANY)
        return rp_error(RP_EINVAL,
                        "sparse plan: block_rows must be >= 0 (0: chosen) or -1 (chosen, "
                        "one block per output allowed), got %lld",
                        (long long)block_rows);
    unsigned char *row_alive = malloc((size_t)R), *out_alive = malloc((size_t)C);
    struct rp_sparse_plan *sp = calloc(1, sizeof *sp);
    if (!row_alive || !out_alive || !sp) {
        free(row_alive);
        free(out_alive);
        free(sp);
        return rp_error(RP_ENOMEM, "sparse plan: out of memory for a %lldx%lld mask", (long long)R,
                        (long long)C);
    }
    int64_t h = block_rows;
    double best_cost = -1.0;
    if (h <= 0) {
        /* the block height with the fewest multiply-adds (ties: the taller) */
        static const int64_t heights[] = {16, 32, 64, 128, 256, 512};
        double best = -1.0;
        for (size_t i = 0; i < sizeof heights / sizeof heights[0]; i++) {
            int64_t cand = heights[i] < R ? heights[i] : R;
            double m = cut_blocks(NULL, mask, R, C, cand, row_alive, out_alive);
            if (best < 0.0 || m <= best) {
                best = m;
                h = cand;
            }
        }
        double whole = cut_blocks(NULL, mask, R, C, R, row_alive, out_alive);
        if (whole <= best) {
            h = R;
            best = whole;
        }
        best_cost = best;
    }
    if (block_rows == RP_SPARSE_ANY && by_output_cost(mask, R, C) < best_cost) {
        free(row_alive);
        free(out_alive);
        free(sp);
        return plan_by_output(out, mask, R, C);
    }
    if (h > R)
        h = R;
    int64_t nb = (R + h - 1) / h;
    sp->R = R;
    sp->C = C;
    sp->h = h;
    sp->row_start = malloc(sizeof(int64_t) * (size_t)(nb + 1));
    sp->out_start = malloc(sizeof(int64_t) * (size_t)(nb + 1));
    sp->w_start = calloc((size_t)(nb + 1), sizeof(int64_t));
    sp->rows = malloc(sizeof(int64_t) * (size_t)R);
    sp->outs = malloc(sizeof(int64_t) * (size_t)(nb * C));
    if (!sp->row_start || !sp->out_start || !sp->w_start || !sp->rows || !sp->outs) {
        free(row_alive);
        free(out_alive);
        rp_sparse_plan_free(sp);
        return rp_error(RP_ENOMEM, "sparse plan: out of memory for a %lldx%lld mask", (long long)R,
                        (long long)C);
    }
    sp->macs = cut_blocks(sp, mask, R, C, h, row_alive, out_alive);
    sp->hash = rp_mask_hash(mask, R * C);
    int64_t packed = sp->w_start[sp->blocks];
    sp->keep = malloc((size_t)(packed > 0 ? packed : 1));
    if (!sp->keep) {
        free(row_alive);
        free(out_alive);
        rp_sparse_plan_free(sp);
        return rp_error(RP_ENOMEM, "sparse plan: out of memory for a %lldx%lld mask", (long long)R,
                        (long long)C);
    }
    for (int64_t b = 0; b < sp->blocks; b++) {
        const int64_t *rows = sp->rows + sp->row_start[b], *outs = sp->outs + sp->out_start[b];
        int64_t nr = sp->row_start[b + 1] - sp->row_start[b];
        int64_t no = sp->out_start[b + 1] - sp->out_start[b];
        for (int64_t i = 0; i < no; i++)
            for (int64_t j = 0; j < nr; j++)
                sp->keep[sp->w_start[b] + i * nr + j] = mask[outs[i] * R + rows[j]] != 0.0f;
    }
    free(row_alive);
    free(out_alive);
    rp_status st = cover_pairs(sp, mask, R, C);
    if (st != RP_OK) {
        rp_sparse_plan_free(sp);
        return st;
    }
    *out = sp;
    return RP_OK;
}

void rp_sparse_plan_info(const struct rp_sparse_plan *sp, struct rp_sparse_info *info)
{
    info->R = sp->R;
    info->C = sp->C;
    info->block_rows = sp->h;
    info->blocks = sp->blocks;
    info->rows_alive = sp->row_start[sp->blocks];
    info->packed = sp->w_start[sp->blocks];
    info->macs = sp->macs;
    info->macs_dense = (double)sp->R * (double)sp->C;
    info->hash = sp->hash;
    info->by_output = sp->by_output;
    info->pairs = sp->pairs ? sp->pairs->pairs : -1;
    info->rectangles = sp->pairs ? sp->pairs->n : -1;
    info->pair_macs = sp->pairs ? sp->pairs->macs : -1.0;
    info->kernel = sp->kernel;
}

rp_status rp_sparse_plan_set_kernel(struct rp_sparse_plan *sp, int kernel)
{
    if (kernel < RP_SPARSE_KERNEL_AUTO || kernel > RP_SPARSE_KERNEL_WINOGRAD)
        return rp_error(RP_EINVAL,
                        "sparse plan: kernel %d is not auto (0), direct (1) or winograd (2)",
                        kernel);
    sp->kernel = kernel;
    return RP_OK;
}

static rp_status splan_of(struct splan *s, const int64_t in[4], const struct rp_conv2d_params *p,
                          const struct rp_sparse_plan *sp, int threads)
{
    s->N = in[0];
    s->Cin = in[1];
    s->H = in[2];
    s->W = in[3];
    if (p->kh < 1 || p->kw < 1 || p->sh < 1 || p->sw < 1 || p->ph < 0 || p->pw < 0)
        return rp_error(RP_EINVAL, "conv2d: kernel and stride must be >= 1, padding >= 0");
    s->Ho = (s->H + 2 * p->ph - p->kh) / p->sh + 1;
    s->Wo = (s->W + 2 * p->pw - p->kw) / p->sw + 1;
    if (s->H + 2 * p->ph < p->kh || s->W + 2 * p->pw < p->kw)
        return rp_error(RP_ESHAPE, "conv2d: the input is smaller than the kernel");
    s->P = s->Ho * s->Wo;
    if (sp->R != s->Cin * p->kh * p->kw)
        return rp_error(RP_ESHAPE,
                        "conv2d: the sparse plan is for %lld rows, the layer has %lld "
                        "(cin*kh*kw)",
                        (long long)sp->R, (long long)(s->Cin * p->kh * p->kw));
    struct rp_chunking c = rp_chunk_batch(s->N, s->P, CHUNK_COLUMNS, threads);
    s->g = c.g;
    s->chunks = c.chunks;
    s->threads = c.team;
    s->packed = sp->w_start[sp->blocks];
    int64_t gP = s->g * s->P, rows = sp->row_start[sp->blocks];
    s->per_thread = rows * gP + sp->C * gP + sp->max_out * gP + sp->max_rows * gP + s->packed;
    s->shared = s->packed;
    s->direct = 0;
    s->winograd = 0;
    if (sp->kernel == RP_SPARSE_KERNEL_WINOGRAD &&
        (!rp_winograd_applies(p) || !sp->pairs || sp->pairs->cin != s->Cin))
        return rp_error(RP_EINVAL,
                        "conv2d: the sparse plan is pinned to the Winograd kernels, which need "
                        "a 3x3 kernel with stride 1, got kernel %dx%d, stride %dx%d",
                        p->kh, p->kw, p->sh, p->sw);
    int64_t cout = sp->C;
    if ((s->winograd = rp_conv2d_sparse_tile(in, cout, p, sp)) != 0) {
        struct rp_winograd_plan wp;
        rp_winograd_sparse_plan(&wp, in, cout, p, s->winograd, threads, sp->pairs);
        s->g = wp.g;
        s->chunks = wp.chunks;
        s->threads = wp.threads;
        s->shared = wp.ushared;
        s->per_thread = wp.per_thread;
    } else if (rp_direct_applies(p))
        rp_direct_splan(s, p, sp, threads);
    else if (sp->by_output)
        return rp_error(RP_EINVAL,
                        "conv2d: a plan with one block per output needs stride 1, "
                        "got stride %dx%d",
                        p->sh, p->sw);
    return RP_OK;
}

int64_t rp_conv2d_sparse_workspace_size(const struct rp_tensor *input,
                                        const struct rp_conv2d_params *p,
                                        const struct rp_sparse_plan *sp, int threads)
{
    struct splan s = {0};
    if (input->ndim != 4 || splan_of(&s, input->shape, p, sp, threads) != RP_OK)
        return 0;
    return s.shared + s.threads * s.per_thread;
}

/* The plan for this call, with as many threads as the workspace holds. */
static rp_status splan_call(struct splan *s, const int64_t in[4], const struct rp_conv2d_params *p,
                            const struct rp_sparse_plan *sp, const struct rp_tensor *workspace)
{
    rp_status st = splan_of(s, in, p, sp, rp_blas_get_threads());
    if (st != RP_OK)
        return st;
    int64_t room = workspace->numel - s->shared;
    int64_t fit = s->per_thread > 0 ? room / s->per_thread : s->threads;
    if (room < 0 || fit < 1)
        return rp_error(RP_ESHAPE, "conv2d: the workspace holds %lld values, at least %lld needed",
                        (long long)workspace->numel, (long long)(s->shared + s->per_thread));
    if (fit < s->threads)
        s->threads = (int)fit;
    return RP_OK;
}

/* The sparse Winograd plan of a call: as many threads as the workspace holds. */
static rp_status winograd_splan(struct rp_winograd_plan *wp, const struct splan *s,
                                const int64_t in[4], const struct rp_conv2d_params *p,
                                const struct rp_sparse_plan *sp, const struct rp_tensor *workspace)
{
    for (int threads = s->threads; threads >= 1; threads--) {
        rp_winograd_sparse_plan(wp, in, sp->C, p, s->winograd, threads, sp->pairs);
        if (workspace->numel >= wp->size)
            return RP_OK;
    }
    return rp_error(RP_ESHAPE, "conv2d: the workspace holds %lld values, at least %lld needed",
                    (long long)workspace->numel, (long long)wp->size);
}

static rp_status check_call(const struct rp_tensor *input, const struct rp_tensor *weight,
                            const struct rp_conv2d_params *p, const struct rp_sparse_plan *sp,
                            int64_t os[4])
{
    struct rp_conv2d_params q = *p;
    q.algorithm = RP_CONV_IM2COL;
    rp_status st = rp_conv2d_output_shape(os, input, weight, &q);
    if (st != RP_OK)
        return st;
    if (sp->C != weight->shape[0])
        return rp_error(RP_ESHAPE,
                        "conv2d: the sparse plan is for %lld outputs, the weight has %lld",
                        (long long)sp->C, (long long)weight->shape[0]);
    return RP_OK;
}

/* Wb[A_b, rows_b] of every block, one after the other (masked: a weight
 * the plan's mask kills counts as 0 whatever its value). */
void rp_sparse_pack_weights(float *packed, const float *w, const struct rp_sparse_plan *sp)
{
#pragma omp parallel for schedule(static) if (sp->w_start[sp->blocks] > (1 << 15))
    for (int64_t b = 0; b < sp->blocks; b++) {
        const int64_t *rows = sp->rows + sp->row_start[b], *outs = sp->outs + sp->out_start[b];
        int64_t nr = sp->row_start[b + 1] - sp->row_start[b];
        int64_t no = sp->out_start[b + 1] - sp->out_start[b];
        float *dst = packed + sp->w_start[b];
        const unsigned char *keep = sp->keep + sp->w_start[b];
        for (int64_t i = 0; i < no; i++) {
            const float *src = w + outs[i] * sp->R;
            for (int64_t j = 0; j < nr; j++)
                dst[i * nr + j] = keep[i * nr + j] ? src[rows[j]] : 0.0f;
        }
    }
}

void rp_sparse_add_partials(float *grad_weight, const float *partial, int64_t stride, int n,
                            const struct rp_sparse_plan *sp, float scale)
{
    /* blocks own disjoint weights; each weight adds the partials in thread order */
#pragma omp parallel for schedule(static) if (sp->w_start[sp->blocks] > (1 << 15))
    for (int64_t b = 0; b < sp->blocks; b++) {
        const int64_t *rows = sp->rows + sp->row_start[b];
        const int64_t *outs = sp->outs + sp->out_start[b];
        int64_t nr = sp->row_start[b + 1] - sp->row_start[b];
        int64_t no = sp->out_start[b + 1] - sp->out_start[b];
        const unsigned char *keep = sp->keep + sp->w_start[b];
        for (int t = 0; t < n; t++) {
            const float *src = partial + t * stride + sp->w_start[b];
            for (int64_t i = 0; i < no; i++) {
                float *dst = grad_weight + outs[i] * sp->R;
                for (int64_t j = 0; j < nr; j++)
                    if (keep[i * nr + j])
                        dst[rows[j]] += scale * src[i * nr + j];
            }
        }
    }
}

/* The alive rows' columns of images n0..n0+g-1: cols[rows_alive, g*P]. */
static void sparse_columns(float *cols, const struct rp_tensor *input, int64_t n0, int64_t g,
                           const struct splan *s, const struct rp_sparse_plan *sp,
                           const struct rp_conv2d_params *p)
{
    int64_t img = s->Cin * s->H * s->W, ld = g * s->P, n = sp->row_start[sp->blocks];
    for (int64_t j = 0; j < n; j++)
        for (int64_t i = 0; i < g; i++)
            rp_im2col_row(cols + j * ld + i * s->P, sp->rows[j], input->data + (n0 + i) * img, s->H,
                          s->W, s->Ho, s->Wo, p);
}

rp_status rp_conv2d_sparse_forward(struct rp_tensor *output, const struct rp_tensor *input,
                                   const struct rp_tensor *weight, const struct rp_tensor *bias,
                                   struct rp_tensor *workspace, const struct rp_conv2d_params *p,
                                   const struct rp_sparse_plan *sp)
{
    int64_t os[4];
    struct splan s = {0};
    rp_status st = check_call(input, weight, p, sp, os);
    if (st != RP_OK || (st = rp_conv2d_check_same("output", output, 4, os)) != RP_OK ||
        (bias && (st = rp_conv2d_check_same("bias", bias, 1, &os[1])) != RP_OK) ||
        (st = splan_call(&s, input->shape, p, sp, workspace)) != RP_OK)
        return st;
    if (s.winograd) {
        struct rp_winograd_plan wp;
        if ((st = winograd_splan(&wp, &s, input->shape, p, sp, workspace)) != RP_OK)
            return st;
        return rp_winograd_sparse_forward(output->data, input->data, weight->data,
                                          bias ? bias->data : NULL, workspace->data, &wp,
                                          sp->pairs);
    }
    if (s.direct)
        return rp_direct_forward(output->data, input->data, weight->data, bias ? bias->data : NULL,
                                 workspace->data, &s, p, sp);
    const int64_t P = s.P, C = sp->C, rows_alive = sp->row_start[sp->blocks];
    float *packed = workspace->data;
    rp_sparse_pack_weights(packed, weight->data, sp);
#pragma omp parallel num_threads(s.threads)
    {
        int t = rp_thread_id(), team = rp_team_size();
        float *cols = workspace->data + s.packed + t * s.per_thread;
        float *y = cols + rows_alive * s.g * P;
        float *tmp = y + C * s.g * P;
        for (int64_t c = t; c < s.chunks; c += team) {
            int64_t n0 = c * s.g, g = n0 + s.g <= s.N ? s.g : s.N - n0, ld = g * P;
            sparse_columns(cols, input, n0, g, &s, sp, p);
            memset(y, 0, sizeof(float) * (size_t)(C * ld));
            for (int64_t b = 0; b < sp->blocks; b++) {
                int64_t r0 = sp->row_start[b], nr = sp->row_start[b + 1] - r0;
                const int64_t *outs = sp->outs + sp->out_start[b];
                int64_t no = sp->out_start[b + 1] - sp->out_start[b];
                rp_gemm_serial(0, 0, no, ld, nr, 1.0f, packed + sp->w_start[b], nr, cols + r0 * ld,
                               ld, 0.0f, tmp, ld);
                for (int64_t i = 0; i < no; i++) {
                    float *dst = y + outs[i] * ld;
                    const float *src = tmp + i * ld;
                    for (int64_t k = 0; k < ld; k++)
                        dst[k] += src[k];
                }
            }
            for (int64_t i = 0; i < g; i++)
                for (int64_t co = 0; co < C; co++) {
                    float *dst = output->data + ((n0 + i) * C + co) * P;
                    const float *src = y + co * ld + i * P;
                    float bv = bias ? bias->data[co] : 0.0f;
                    for (int64_t k = 0; k < P; k++)
                        dst[k] = src[k] + bv;
                }
        }
    }
    return RP_OK;
}

rp_status rp_conv2d_sparse_backward(struct rp_tensor *grad_input, struct rp_tensor *grad_weight,
                                    struct rp_tensor *grad_bias,
                                    const struct rp_tensor *grad_output,
                                    const struct rp_tensor *input, const struct rp_tensor *weight,
                                    struct rp_tensor *workspace, const struct rp_conv2d_params *p,
                                    const struct rp_sparse_plan *sp, float scale)
{
    int64_t os[4];
    struct splan s = {0};
    rp_status st = check_call(input, weight, p, sp, os);
    if (st != RP_OK || (st = rp_conv2d_check_same("grad_output", grad_output, 4, os)) != RP_OK ||
        (grad_input &&
         (st = rp_conv2d_check_same("grad_input", grad_input, 4, input->shape)) != RP_OK) ||
        (grad_weight &&
         (st = rp_conv2d_check_same("grad_weight", grad_weight, 4, weight->shape)) != RP_OK) ||
        (grad_bias && (st = rp_conv2d_check_same("grad_bias", grad_bias, 1, &os[1])) != RP_OK) ||
        (st = splan_call(&s, input->shape, p, sp, workspace)) != RP_OK)
        return st;
    if (s.winograd) {
        struct rp_winograd_plan wp;
        if ((st = winograd_splan(&wp, &s, input->shape, p, sp, workspace)) != RP_OK ||
            (st = rp_winograd_sparse_backward(grad_input ? grad_input->data : NULL,
                                              grad_weight ? grad_weight->data : NULL,
                                              grad_output->data, input->data, weight->data,
                                              workspace->data, &wp, sp->pairs, scale)) != RP_OK)
            return st;
        if (grad_bias)
            rp_bias_grad(grad_bias, grad_output, scale);
        return RP_OK;
    }
    if (s.direct) {
        st = rp_direct_backward(grad_input ? grad_input->data : NULL,
                                grad_weight ? grad_weight->data : NULL, grad_output->data,
                                input->data, weight->data, workspace->data, &s, p, sp, scale);
        if (st == RP_OK && grad_bias)
            rp_bias_grad(grad_bias, grad_output, scale);
        return st;
    }
    const int64_t P = s.P, C = sp->C, rows_alive = sp->row_start[sp->blocks];
    const int64_t img = s.Cin * s.H * s.W;
    float *packed = workspace->data;
    if (grad_input)
        rp_sparse_pack_weights(packed, weight->data, sp);
    int started = 0;
#pragma omp parallel num_threads(s.threads)
    {
        int t = rp_thread_id(), team = rp_team_size();
#pragma omp single
        started = team;
        float *cols = workspace->data + s.packed + t * s.per_thread;
        float *dy = cols + rows_alive * s.g * P;
        float *dyg = dy + C * s.g * P;
        float *dcols = dyg + sp->max_out * s.g * P;
        float *partial = dcols + sp->max_rows * s.g * P;
        if (grad_weight)
            memset(partial, 0, sizeof(float) * (size_t)s.packed);
        for (int64_t c = t; c < s.chunks; c += team) {
            int64_t n0 = c * s.g, g = n0 + s.g <= s.N ? s.g : s.N - n0, ld = g * P;
            if (grad_weight)
                sparse_columns(cols, input, n0, g, &s, sp, p);
            const float *d = rp_chunk_grad(dy, grad_output, n0, g, C, P);
            if (grad_input)
                memset(grad_input->data + n0 * img, 0, sizeof(float) * (size_t)(g * img));
            for (int64_t b = 0; b < sp->blocks; b++) {
                int64_t r0 = sp->row_start[b], nr = sp->row_start[b + 1] - r0;
                const int64_t *outs = sp->outs + sp->out_start[b];
                int64_t no = sp->out_start[b + 1] - sp->out_start[b];
                for (int64_t i = 0; i < no; i++)
                    memcpy(dyg + i * ld, d + outs[i] * ld, sizeof(float) * (size_t)ld);
                if (grad_weight)
                    rp_gemm_serial(0, 1, no, nr, ld, 1.0f, dyg, ld, cols + r0 * ld, ld, 1.0f,
                                   partial + sp->w_start[b], nr);
                if (grad_input) {
                    rp_gemm_serial(1, 0, nr, ld, no, 1.0f, packed + sp->w_start[b], nr, dyg, ld,
                                   0.0f, dcols, ld);
                    for (int64_t j = 0; j < nr; j++)
                        for (int64_t i = 0; i < g; i++)
                            rp_col2im_row(grad_input->data + (n0 + i) * img, dcols + j * ld + i * P,
                                          sp->rows[r0 + j], s.H, s.W, s.Ho, s.Wo, p);
                }
            }
        }
    }
    if (grad_input && s.chunks == 0)
        memset(grad_input->data, 0, sizeof(float) * (size_t)(s.N * img));
    if (grad_weight) /* partial sums in thread order */
        rp_sparse_add_partials(grad_weight->data,
                               workspace->data + s.packed +
                                   (rows_alive + C + sp->max_out + sp->max_rows) * s.g * P,
                               s.per_thread, started, sp, scale);
    if (grad_bias)
        rp_bias_grad(grad_bias, grad_output, scale);
    return RP_OK;
}
