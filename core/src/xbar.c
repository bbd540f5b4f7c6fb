/* xbar.c - crossbar counts of a (masked) weight matrix, per docs/design.md. */
#include "realprune/xbar.h"

#include <stdlib.h>
#include <string.h>

struct rp_xbar_config rp_xbar_config_default(void)
{
    struct rp_xbar_config c = {128, 128, 16, 2, RP_ENCODING_OFFSET, 1};
    return c;
}

rp_status rp_xbar_config_check(const struct rp_xbar_config *cfg, int *slices, int *phys, int *L)
{
    const struct {
        const char *name;
        int64_t v, max;
    } f[] = {{"rows", cfg->rows, 1 << 20},
             {"cols", cfg->cols, 1 << 20},
             {"weight_bits", cfg->weight_bits, 64},
             {"cell_bits", cfg->cell_bits, 64}};
    for (int i = 0; i < 4; i++) {
        if (f[i].v < 1)
            return rp_error(RP_EINVAL, "%s must be a positive integer, got %lld", f[i].name,
                            (long long)f[i].v);
        if (f[i].v > f[i].max)
            return rp_error(RP_EINVAL, "%s must be at most %lld, got %lld", f[i].name,
                            (long long)f[i].max, (long long)f[i].v);
    }
    if (cfg->encoding != RP_ENCODING_OFFSET && cfg->encoding != RP_ENCODING_DIFFERENTIAL)
        return rp_error(RP_EINVAL,
                        "encoding must be RP_ENCODING_OFFSET or "
                        "RP_ENCODING_DIFFERENTIAL, got %d",
                        (int)cfg->encoding);
    int differential = cfg->encoding == RP_ENCODING_DIFFERENTIAL;
    int s = (int)((cfg->weight_bits + cfg->cell_bits - 1) / cfg->cell_bits);
    int p = differential ? 2 * s : s;
    int l = (int)(cfg->cols / p);
    if (l < 1)
        return rp_error(RP_EINVAL,
                        "cols = %d cannot hold one weight: it needs %d physical columns "
                        "(%d slices%s), so L = floor(cols / %d) = 0",
                        (int)cfg->cols, p, s, differential ? ", differential" : "", p);
    *slices = s;
    *phys = p;
    *L = l;
    return RP_OK;
}

/* Row blocks after compaction: block[r] = block of row r, or -1 if dropped. */
static int64_t assign_blocks(int64_t *block, unsigned char *row_alive, const float *mask, int64_t R,
                             int64_t C, const struct rp_xbar_config *cfg, int64_t *rows_alive)
{
    memset(row_alive, 0, (size_t)R);
    if (!mask) {
        memset(row_alive, 1, (size_t)R);
    } else {
        for (int64_t c = 0; c < C; c++) {
            const float *col = mask + c * R;
            for (int64_t r = 0; r < R; r++)
                row_alive[r] |= col[r] != 0.0f;
        }
    }
    int64_t kept = 0, alive = 0;
    for (int64_t r = 0; r < R; r++) {
        alive += row_alive[r];
        if (cfg->compact_rows && !row_alive[r]) {
            block[r] = -1;
            continue;
        }
        block[r] = kept++ / cfg->rows;
    }
    *rows_alive = alive;
    return (kept + cfg->rows - 1) / cfg->rows;
}

/* seg[b*C + c] = 1 if column segment (block b, column c) holds an alive weight;
 * per-block row counts in brows. */
static void mark_segments(unsigned char *seg, int64_t *brows, const int64_t *block,
                          const float *mask, int64_t R, int64_t C, int64_t nblocks)
{
    memset(seg, 0, (size_t)(nblocks * C));
    memset(brows, 0, sizeof(int64_t) * (size_t)nblocks);
    for (int64_t r = 0; r < R; r++)
        if (block[r] >= 0)
            brows[block[r]]++;
    for (int64_t c = 0; c < C; c++) {
        const float *col = mask ? mask + c * R : NULL;
        for (int64_t r = 0; r < R; r++) {
            int64_t b = block[r];
            if (b >= 0 && (!col || col[r] != 0.0f))
                seg[b * C + c] = 1;
        }
    }
}

struct scratch {
    int64_t *block, *brows;
    unsigned char *row_alive, *seg;
};

static void scratch_free(struct scratch *s)
{
    free(s->block);
    free(s->brows);
    free(s->row_alive);
    free(s->seg);
}

static rp_status prepare(struct scratch *s, int64_t *nblocks, int64_t *rows_alive,
                         const float *mask, int64_t R, int64_t C, const struct rp_xbar_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->block = malloc(sizeof(int64_t) * (size_t)(R > 0 ? R : 1));
    s->row_alive = malloc((size_t)(R > 0 ? R : 1));
    if (!s->block || !s->row_alive) {
        scratch_free(s);
        return rp_error(RP_ENOMEM, "xbar: out of memory for a %lldx%lld matrix", (long long)R,
                        (long long)C);
    }
    *nblocks = assign_blocks(s->block, s->row_alive, mask, R, C, cfg, rows_alive);
    s->seg = malloc((size_t)(*nblocks * C > 0 ? *nblocks * C : 1));
    s->brows = malloc(sizeof(int64_t) * (size_t)(*nblocks > 0 ? *nblocks : 1));
    if (!s->seg || !s->brows) {
        scratch_free(s);
        return rp_error(RP_ENOMEM, "xbar: out of memory for a %lldx%lld matrix", (long long)R,
                        (long long)C);
    }
    mark_segments(s->seg, s->brows, s->block, mask, R, C, *nblocks);
    return RP_OK;
}

/* The same scratch for M^T (C rows, R columns) read straight from M's mask:
 * M^T's row c is M's column c, contiguous in memory, so segments are ORed in
 * one sequential pass without materializing the transpose. */
static rp_status prepare_transposed(struct scratch *s, int64_t *nblocks, int64_t *rows_alive,
                                    const float *mask, int64_t R, int64_t C,
                                    const struct rp_xbar_config *cfg)
{
    memset(s, 0, sizeof *s);
    s->block = malloc(sizeof(int64_t) * (size_t)C);
    s->row_alive = malloc((size_t)C);
    if (!s->block || !s->row_alive) {
        scratch_free(s);
        return rp_error(RP_ENOMEM, "xbar: out of memory for a %lldx%lld matrix", (long long)C,
                        (long long)R);
    }
    int64_t kept = 0, alive = 0;
    for (int64_t c = 0; c < C; c++) {
        unsigned char any = 1;
        if (mask) {
            const float *col = mask + c * R;
            any = 0;
            for (int64_t r = 0; r < R && !any; r++)
                any = col[r] != 0.0f;
        }
        s->row_alive[c] = any;
        alive += any;
        s->block[c] = (cfg->compact_rows && !any) ? -1 : kept++ / cfg->rows;
    }
    *rows_alive = alive;
    *nblocks = (kept + cfg->rows - 1) / cfg->rows;
    s->seg = calloc((size_t)(*nblocks * R > 0 ? *nblocks * R : 1), 1);
    s->brows = calloc((size_t)(*nblocks > 0 ? *nblocks : 1), sizeof(int64_t));
    if (!s->seg || !s->brows) {
        scratch_free(s);
        return rp_error(RP_ENOMEM, "xbar: out of memory for a %lldx%lld matrix", (long long)C,
                        (long long)R);
    }
    for (int64_t c = 0; c < C; c++) {
        int64_t b = s->block[c];
        if (b < 0)
            continue;
        s->brows[b]++;
        unsigned char *seg = s->seg + b * R;
        if (!mask) {
            memset(seg, 1, (size_t)R);
            continue;
        }
        const float *col = mask + c * R;
        for (int64_t r = 0; r < R; r++)
            seg[r] |= col[r] != 0.0f;
    }
    return RP_OK;
}

/* The counts of M (transposed = 0) or M^T (1); R x C is always M's shape. */
static rp_status map_view(struct rp_xbar_map *out, const float *mask, int64_t Rm, int64_t Cm,
                          const struct rp_xbar_config *cfg, int transposed)
{
    int slices, phys, L;
    rp_status st = rp_xbar_config_check(cfg, &slices, &phys, &L);
    if (st != RP_OK)
        return st;
    if (Rm < 1 || Cm < 1)
        return rp_error(RP_EINVAL,
                        "xbar: the weight matrix must have rows and columns, got "
                        "%lldx%lld",
                        (long long)Rm, (long long)Cm);
    int64_t R = transposed ? Cm : Rm, C = transposed ? Rm : Cm; /* the matrix mapped */
    struct rp_xbar_map m;
    memset(&m, 0, sizeof m);
    m.rows = R;
    m.cols = C;
    m.slices = slices;
    m.phys = phys;
    m.L = L;
    m.weights = R * C;
    m.row_blocks_dense = (R + cfg->rows - 1) / cfg->rows;
    m.col_tiles = (C + L - 1) / L;
    m.crossbars_dense = m.row_blocks_dense * m.col_tiles;
    m.segments_total = m.row_blocks_dense * C;
    if (mask) {
        for (int64_t i = 0; i < R * C; i++)
            m.alive += mask[i] != 0.0f;
    } else {
        m.alive = R * C;
    }
    struct scratch s;
    int64_t nblocks;
    st = transposed ? prepare_transposed(&s, &nblocks, &m.rows_alive, mask, Rm, Cm, cfg)
                    : prepare(&s, &nblocks, &m.rows_alive, mask, R, C, cfg);
    if (st != RP_OK)
        return st;
    m.row_blocks = 0;
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t alive_segs = 0;
        for (int64_t c = 0; c < C; c++)
            alive_segs += s.seg[b * C + c];
        if (alive_segs == 0)
            continue; /* a block of dead rows (compact_rows = false) needs nothing */
        m.row_blocks++;
        m.segments_alive += alive_segs;
        int64_t xb = (alive_segs + L - 1) / L;
        m.crossbars += xb;
        m.active_rows += xb * s.brows[b];
        if (s.brows[b] > m.max_block_rows)
            m.max_block_rows = s.brows[b];
    }
    scratch_free(&s);
    m.utilization = m.crossbars > 0 ? (double)m.alive / ((double)m.crossbars * cfg->rows * L) : 0.0;
    *out = m;
    return RP_OK;
}

rp_status rp_xbar_map_matrix(struct rp_xbar_map *out, const float *mask, int64_t R, int64_t C,
                             const struct rp_xbar_config *cfg)
{
    return map_view(out, mask, R, C, cfg, 0);
}

rp_status rp_xbar_crossbar_counts(int64_t *counts, int64_t *block_of, const float *mask, int64_t R,
                                  int64_t C, const struct rp_xbar_config *cfg)
{
    int slices, phys, L;
    rp_status st = rp_xbar_config_check(cfg, &slices, &phys, &L);
    if (st != RP_OK)
        return st;
    struct scratch s;
    int64_t nblocks, rows_alive;
    if ((st = prepare(&s, &nblocks, &rows_alive, mask, R, C, cfg)) != RP_OK)
        return st;
    /* alive weights per (block, column), then packed L segments per crossbar */
    int64_t *per_seg = calloc((size_t)(nblocks * C > 0 ? nblocks * C : 1), sizeof(int64_t));
    if (!per_seg) {
        scratch_free(&s);
        return rp_error(RP_ENOMEM, "xbar: out of memory");
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            if (s.block[r] >= 0 && (!mask || mask[c * R + r] != 0.0f))
                per_seg[s.block[r] * C + c]++;
    int64_t x = 0;
    for (int64_t b = 0; b < nblocks; b++) {
        int64_t in_xbar = 0;
        for (int64_t c = 0; c < C; c++) {
            if (!s.seg[b * C + c])
                continue;
            if (in_xbar == 0) {
                counts[x] = 0;
                block_of[x] = b;
            }
            counts[x] += per_seg[b * C + c];
            if (++in_xbar == L) {
                in_xbar = 0;
                x++;
            }
        }
        if (in_xbar > 0)
            x++;
    }
    free(per_seg);
    scratch_free(&s);
    return RP_OK;
}

/* M^T of an R x C mask: element (c, r) of the C x R matrix at r*C + c.
 * Blocked so that both sides stay in cache. NULL stays NULL (dense). */
static rp_status transpose_mask(float **out, const float *mask, int64_t R, int64_t C)
{
    *out = NULL;
    if (!mask)
        return RP_OK;
    float *t = malloc(sizeof(float) * (size_t)(R * C > 0 ? R * C : 1));
    if (!t)
        return rp_error(RP_ENOMEM, "xbar: out of memory transposing a %lldx%lld matrix",
                        (long long)R, (long long)C);
    const int64_t B = 64;
    for (int64_t c0 = 0; c0 < C; c0 += B)
        for (int64_t r0 = 0; r0 < R; r0 += B) {
            int64_t c1 = c0 + B < C ? c0 + B : C, r1 = r0 + B < R ? r0 + B : R;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++)
                    t[r * C + c] = mask[c * R + r];
        }
    *out = t;
    return RP_OK;
}

rp_status rp_xbar_map_transposed(struct rp_xbar_map *out, const float *mask, int64_t R, int64_t C,
                                 const struct rp_xbar_config *cfg)
{
    return map_view(out, mask, R, C, cfg, 1);
}

rp_status rp_xbar_crossbar_counts_transposed(int64_t *counts, int64_t *block_of, const float *mask,
                                             int64_t R, int64_t C, const struct rp_xbar_config *cfg)
{
    float *t; /* not speed-critical (heatmaps): the plain transpose */
    rp_status st = transpose_mask(&t, mask, R, C);
    if (st == RP_OK)
        st = rp_xbar_crossbar_counts(counts, block_of, t, C, R, cfg);
    free(t);
    return st;
}
