/* prune.c - group scores and the pruning step of docs/design.md ("Pruning groups"). */
#include "realprune/prune.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct rp_prune_spec rp_prune_spec_default(void)
{
    struct rp_prune_spec s;
    memset(&s, 0, sizeof s);
    s.granularity = RP_GROUP_ELEMENT;
    s.score = RP_SCORE_L1;
    s.scope = RP_SCOPE_LAYER;
    s.rows = 128;
    s.L = 16;
    s.block_a = s.block_b = 1;
    return s;
}

/* A group is the rectangle of M rows [i*hr, (i+1)*hr) x columns [j*hc, (j+1)*hc)
 * (clipped); its id is i*gc + j, so id order is top-left (row, column) order. */
struct geometry {
    int64_t hr, hc, gr, gc;
};

static rp_status geometry_of(struct geometry *g, const struct rp_prune_layer *l,
                             const struct rp_prune_spec *s)
{
    int64_t R = l->R, C = l->C;
    switch (s->granularity) {
    case RP_GROUP_ELEMENT:
        g->hr = 1, g->hc = 1;
        break;
    case RP_GROUP_COLUMN:
        g->hr = s->rows, g->hc = 1;
        break;
    case RP_GROUP_TILE:
        g->hr = s->rows, g->hc = s->L;
        break;
    case RP_GROUP_ROW:
        g->hr = 1, g->hc = s->L;
        break;
    case RP_GROUP_FILTER:
        g->hr = R, g->hc = 1;
        break;
    case RP_GROUP_CHANNEL:
        g->hr = l->channel_rows, g->hc = C;
        break;
    case RP_GROUP_BLOCK:
        g->hr = s->block_a, g->hc = s->block_b;
        break;
    default:
        return rp_error(RP_EINVAL, "prune: unknown granularity %d", (int)s->granularity);
    }
    if (g->hr < 1 || g->hc < 1)
        return rp_error(RP_EINVAL, "prune: group sizes must be positive, got %lldx%lld",
                        (long long)g->hr, (long long)g->hc);
    /* a group larger than the matrix is the whole matrix (and no overflow below) */
    if (g->hr > R)
        g->hr = R;
    if (g->hc > C)
        g->hc = C;
    g->gr = (R + g->hr - 1) / g->hr;
    g->gc = (C + g->hc - 1) / g->hc;
    return RP_OK;
}

struct cand {
    double score;
    int64_t row, col; /* top-left weight of the group */
    int64_t group;
    int32_t layer;
};

static int cand_less(const struct cand *a, const struct cand *b)
{
    if (a->score != b->score)
        return a->score < b->score;
    if (a->row != b->row)
        return a->row < b->row;
    if (a->col != b->col)
        return a->col < b->col;
    return a->layer < b->layer;
}

static int cand_cmp(const void *pa, const void *pb)
{
    const struct cand *a = pa, *b = pb;
    return cand_less(a, b) ? -1 : cand_less(b, a) ? 1 : 0;
}

static void swap(struct cand *a, struct cand *b)
{
    struct cand t = *a;
    *a = *b;
    *b = t;
}

/* Reorders v so that its k smallest keys come first (keys are all distinct). */
static void select_smallest(struct cand *v, int64_t n, int64_t k)
{
    int64_t lo = 0, hi = n - 1;
    while (hi > lo && k > lo && k <= hi) {
        int64_t mid = lo + (hi - lo) / 2;
        if (cand_less(&v[mid], &v[lo]))
            swap(&v[mid], &v[lo]);
        if (cand_less(&v[hi], &v[lo]))
            swap(&v[hi], &v[lo]);
        if (cand_less(&v[hi], &v[mid]))
            swap(&v[hi], &v[mid]);
        struct cand pivot = v[mid];
        int64_t i = lo, j = hi;
        while (i <= j) {
            while (cand_less(&v[i], &pivot))
                i++;
            while (cand_less(&pivot, &v[j]))
                j--;
            if (i <= j) {
                swap(&v[i], &v[j]);
                i++;
                j--;
            }
        }
        /* [lo, j] <= pivot <= [i, hi] */
        if (k <= j)
            hi = j;
        else if (k >= i)
            lo = i;
        else
            return;
    }
}

/* Scores and alive flags of every group of one layer; appends the alive ones. */
static rp_status score_layer(struct cand *out, int64_t *n_out, struct rp_prune_layer *l,
                             const struct geometry *g, const struct rp_prune_spec *s, int layer)
{
    int64_t G = g->gr * g->gc, R = l->R, C = l->C;
    double *sum = calloc((size_t)(G > 0 ? G : 1), sizeof(double));
    unsigned char *alive = calloc((size_t)(G > 0 ? G : 1), 1);
    if (!sum || !alive) {
        free(sum);
        free(alive);
        return rp_error(RP_ENOMEM, "prune: out of memory for %lld groups", (long long)G);
    }
    for (int64_t c = 0; c < C; c++) {
        int64_t j = c / g->hc;
        const float *w = l->weight + c * R, *m = l->mask + c * R;
        for (int64_t r = 0; r < R; r++) {
            if (m[r] == 0.0f)
                continue;
            int64_t id = (r / g->hr) * g->gc + j;
            double x = w[r];
            sum[id] += s->score == RP_SCORE_L2 ? x * x : fabs(x);
            alive[id] = 1;
        }
    }
    int64_t n = 0;
    for (int64_t id = 0; id < G; id++) {
        int64_t i = id / g->gc, j = id % g->gc;
        int64_t rows = (i + 1) * g->hr < R ? g->hr : R - i * g->hr;
        int64_t cols = (j + 1) * g->hc < C ? g->hc : C - j * g->hc;
        double score = sum[id] / (double)(rows * cols);
        if (s->score == RP_SCORE_L2)
            score = sqrt(score);
        if (s->score == RP_SCORE_RANDOM)
            score = rp_rng_uniform(s->rng); /* one draw per group, alive or not */
        if (!alive[id])
            continue;
        out[n].score = score;
        out[n].row = i * g->hr;
        out[n].col = j * g->hc;
        out[n].group = id;
        out[n].layer = layer;
        n++;
    }
    free(sum);
    free(alive);
    l->groups = G;
    l->alive_before = n;
    l->pruned = 0;
    *n_out = n;
    return RP_OK;
}

static void zero_group(struct rp_prune_layer *l, const struct geometry *g, int64_t id)
{
    int64_t i = id / g->gc, j = id % g->gc;
    int64_t r0 = i * g->hr, r1 = r0 + g->hr < l->R ? r0 + g->hr : l->R;
    int64_t c0 = j * g->hc, c1 = c0 + g->hc < l->C ? c0 + g->hc : l->C;
    for (int64_t c = c0; c < c1; c++)
        memset(l->mask + c * l->R + r0, 0, sizeof(float) * (size_t)(r1 - r0));
}

static int64_t count_of(double amount, int64_t alive)
{
    double n = floor(amount * (double)alive + 0.5);
    return n < 0 ? 0 : n > (double)alive ? alive : (int64_t)n;
}

/* Crossbar alignment of one layer's column step (see prune.h): v holds its
 * alive segments sorted by key (weakest first), the first `take` of them
 * pruned by the plain step; blocks of segments, block of group id = id / gc.
 * Each block b that had at least L segments keeps its strongest cur[b], a
 * multiple of L: first the nearest multiple to what the plain step kept (at
 * most what it had), then whole crossbars are moved between blocks until the
 * layer's total is within L/2 of the plain step's: the crossbar of weakest
 * segments is dropped, or the strongest just-pruned ones are revived. Blocks
 * with fewer than L segments keep the plain step's choice. Marks pruned[]
 * and returns how many are pruned. `work` holds 5 * blocks + 1 + alive. */
static int64_t align_layer(const struct cand *v, int64_t alive, int64_t take, int64_t L,
                           int64_t blocks, int64_t gc, unsigned char *pruned, int64_t *work)
{
    int64_t *count = work, *first = work + blocks, *member = work + 2 * blocks + 1;
    int64_t *cur = member + alive, *kept0 = cur + blocks;
    memset(count, 0, sizeof(int64_t) * (size_t)blocks);
    for (int64_t i = 0; i < alive; i++)
        count[v[i].group / gc]++;
    first[0] = 0;
    for (int64_t b = 0; b < blocks; b++)
        first[b + 1] = first[b] + count[b];
    memset(count, 0, sizeof(int64_t) * (size_t)blocks);
    memset(kept0, 0, sizeof(int64_t) * (size_t)blocks);
    for (int64_t i = 0; i < alive; i++) { /* each block's members, weakest first */
        int64_t b = v[i].group / gc;
        member[first[b] + count[b]++] = i;
        if (i >= take)
            kept0[b]++;
    }
    int64_t total = 0, target = alive - take;
    for (int64_t b = 0; b < blocks; b++) {
        int64_t n = count[b], k = kept0[b], r = k % L;
        if (n < L)
            cur[b] = k; /* less than a crossbar's worth: as the plain step left it */
        else if (r == 0)
            cur[b] = k;
        else
            cur[b] = (r > L - r && k - r + L <= n) ? k - r + L : k - r;
        total += cur[b];
    }
    /* whole crossbars between blocks, towards the plain step's total */
    for (;;) {
        int64_t best = -1;
        double best_score = 0;
        int down = total - target > L / 2, upward = target - total > L / 2;
        if (!down && !upward)
            break;
        for (int64_t b = 0; b < blocks; b++) {
            int64_t n = count[b];
            if (n < L || (down && cur[b] < L) || (upward && cur[b] + L > n))
                continue;
            /* the L segments that would go (the weakest kept) or come back
             * (the strongest dropped) */
            int64_t from = down ? n - cur[b] : n - cur[b] - L;
            double sc = 0;
            for (int64_t k = from; k < from + L; k++)
                sc += v[member[first[b] + k]].score;
            if (best < 0 || (down ? sc < best_score : sc > best_score))
                best = b, best_score = sc;
        }
        if (best < 0)
            break;
        cur[best] += down ? -L : L;
        total += down ? -L : L;
    }
    for (int64_t b = 0; b < blocks; b++)
        for (int64_t k = 0; k < count[b]; k++)
            pruned[member[first[b] + k]] = k < count[b] - cur[b];
    int64_t n = 0;
    for (int64_t i = 0; i < alive; i++)
        n += pruned[i];
    if (alive > 0 && n == alive) { /* the guard: the layer keeps its best segment */
        pruned[alive - 1] = 0;
        n--;
    }
    return n;
}

static rp_status check_spec(const struct rp_prune_spec *s)
{
    if ((unsigned)s->score > RP_SCORE_RANDOM)
        return rp_error(RP_EINVAL, "prune: unknown score %d", (int)s->score);
    if ((unsigned)s->scope > RP_SCOPE_GLOBAL)
        return rp_error(RP_EINVAL, "prune: unknown scope %d", (int)s->scope);
    if (s->score == RP_SCORE_RANDOM && !s->rng)
        return rp_error(RP_EINVAL, "prune: random scores need a generator");
    if (s->align && (s->granularity != RP_GROUP_COLUMN || s->scope != RP_SCOPE_LAYER || s->L < 1))
        return rp_error(RP_EINVAL, "prune: align needs column groups, layer scope and L >= 1");
    if (s->scope == RP_SCOPE_GLOBAL && !(s->amount >= 0.0 && s->amount <= 1.0))
        return rp_error(RP_EINVAL, "prune: amount must be in [0, 1], got %g", s->amount);
    return RP_OK;
}

rp_status rp_prune_apply(struct rp_prune_layer *layers, int n, const struct rp_prune_spec *s)
{
    rp_status st = check_spec(s);
    if (st != RP_OK)
        return st;
    struct geometry *geo = malloc(sizeof(struct geometry) * (size_t)(n > 0 ? n : 1));
    int64_t total_groups = 0;
    if (!geo)
        return rp_error(RP_ENOMEM, "prune: out of memory");
    for (int k = 0; k < n; k++) {
        if ((st = geometry_of(&geo[k], &layers[k], s)) != RP_OK) {
            free(geo);
            return st;
        }
        total_groups += geo[k].gr * geo[k].gc;
    }
    struct cand *all = malloc(sizeof(struct cand) * (size_t)(total_groups > 0 ? total_groups : 1));
    int64_t *start = malloc(sizeof(int64_t) * (size_t)(n + 1));
    if (!all || !start) {
        free(geo);
        free(all);
        free(start);
        return rp_error(RP_ENOMEM, "prune: out of memory for %lld groups", (long long)total_groups);
    }
    int64_t used = 0;
    for (int k = 0; k < n && st == RP_OK; k++) {
        int64_t got = 0;
        start[k] = used;
        st = score_layer(all + used, &got, &layers[k], &geo[k], s, k);
        used += got;
    }
    start[n] = used;
    if (st == RP_OK && s->scope == RP_SCOPE_LAYER) {
        for (int k = 0; k < n; k++) {
            struct cand *v = all + start[k];
            int64_t alive = start[k + 1] - start[k];
            int64_t take = count_of(layers[k].amount, alive);
            if (alive > 0 && take >= alive)
                take = alive - 1; /* guard: keep the layer's best group */
            if (s->align && take > 0) {
                int64_t blocks = geo[k].gr;
                unsigned char *pruned = malloc((size_t)(alive > 0 ? alive : 1));
                int64_t *work = malloc(sizeof(int64_t) * (size_t)(5 * blocks + 1 + alive));
                if (!pruned || !work) {
                    free(pruned);
                    free(work);
                    st = rp_error(RP_ENOMEM, "prune: out of memory");
                    break;
                }
                qsort(v, (size_t)alive, sizeof(struct cand), cand_cmp);
                layers[k].pruned =
                    align_layer(v, alive, take, s->L, blocks, geo[k].gc, pruned, work);
                for (int64_t i = 0; i < alive; i++)
                    if (pruned[i])
                        zero_group(&layers[k], &geo[k], v[i].group);
                free(pruned);
                free(work);
                continue;
            }
            select_smallest(v, alive, take);
            for (int64_t i = 0; i < take; i++)
                zero_group(&layers[k], &geo[k], v[i].group);
            layers[k].pruned = take;
        }
    } else if (st == RP_OK) {
        int64_t take = count_of(s->amount, used);
        select_smallest(all, used, take);
        /* the guard: does the selection empty a layer? then walk in key order */
        int64_t *left = malloc(sizeof(int64_t) * (size_t)(n > 0 ? n : 1));
        if (!left) {
            st = rp_error(RP_ENOMEM, "prune: out of memory");
        } else {
            for (int k = 0; k < n; k++)
                left[k] = layers[k].alive_before;
            int emptied = 0;
            for (int64_t i = 0; i < take; i++)
                if (--left[all[i].layer] == 0)
                    emptied = 1;
            if (emptied) {
                qsort(all, (size_t)used, sizeof(struct cand), cand_cmp);
                for (int k = 0; k < n; k++)
                    left[k] = layers[k].alive_before;
                int64_t chosen = 0;
                for (int64_t i = 0; i < used && chosen < take; i++) {
                    if (left[all[i].layer] <= 1)
                        continue;
                    left[all[i].layer]--;
                    all[chosen++] = all[i];
                }
                take = chosen;
            }
            for (int64_t i = 0; i < take; i++) {
                zero_group(&layers[all[i].layer], &geo[all[i].layer], all[i].group);
                layers[all[i].layer].pruned++;
            }
            free(left);
        }
    }
    free(geo);
    free(all);
    free(start);
    return st;
}
