/* test_prune.c - the pruning step without Lua (docs/design.md, "Pruning
 * groups"): hand-computed cases, a plain reference implementation of the
 * groups, scores, step and guard on random layers for every granularity and
 * both scopes, the name tables and the defaults. */
#include <stdlib.h>

#include "check.h"
#include "realprune/realprune.h"

static uint64_t lcg = 5;
static double uniform(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

/* ---- the reference: docs/design.md written out directly ---- */

struct ref_group {
    double score;
    int layer;
    int64_t id, r0, r1, c0, c1;
    int alive;
};

static void group_size(int64_t *hr, int64_t *hc, enum rp_granularity g, int64_t R, int64_t C,
                       int64_t channel_rows, int rows, int L)
{
    int64_t sizes[][2] = {{1, 1}, {rows, 1}, {rows, L}, {1, L}, {R, 1}, {channel_rows, C}, {2, 3}};
    *hr = sizes[g][0] < R ? sizes[g][0] : R;
    *hc = sizes[g][1] < C ? sizes[g][1] : C;
}

static int cmp(const void *a, const void *b)
{
    const struct ref_group *x = a, *y = b;
    if (x->score != y->score)
        return x->score < y->score ? -1 : 1;
    if (x->layer != y->layer && x->r0 == y->r0 && x->c0 == y->c0)
        return x->layer - y->layer;
    if (x->r0 != y->r0)
        return x->r0 < y->r0 ? -1 : 1;
    if (x->c0 != y->c0)
        return x->c0 < y->c0 ? -1 : 1;
    return x->layer - y->layer;
}

/* Groups of layer k (alive ones only), scored by l1 or l2. */
static int64_t ref_groups(struct ref_group *out, const struct rp_prune_layer *l, int k,
                          const struct rp_prune_spec *s)
{
    int64_t hr, hc, n = 0;
    group_size(&hr, &hc, s->granularity, l->R, l->C, l->channel_rows, s->rows, s->L);
    int64_t gc = (l->C + hc - 1) / hc;
    for (int64_t r0 = 0; r0 < l->R; r0 += hr)
        for (int64_t c0 = 0; c0 < l->C; c0 += hc) {
            int64_t r1 = r0 + hr < l->R ? r0 + hr : l->R, c1 = c0 + hc < l->C ? c0 + hc : l->C;
            double sum = 0;
            int alive = 0;
            for (int64_t c = c0; c < c1; c++)
                for (int64_t r = r0; r < r1; r++) {
                    double w = l->mask[c * l->R + r] != 0.0f ? l->weight[c * l->R + r] : 0.0;
                    alive |= l->mask[c * l->R + r] != 0.0f;
                    sum += s->score == RP_SCORE_L2 ? w * w : fabs(w);
                }
            double score = sum / (double)((r1 - r0) * (c1 - c0));
            if (s->score == RP_SCORE_L2)
                score = sqrt(score);
            if (!alive)
                continue;
            struct ref_group g = {score, k, (r0 / hr) * gc + c0 / hc, r0, r1, c0, c1, 1};
            out[n++] = g;
        }
    return n;
}

static int64_t take_of(double amount, int64_t alive)
{
    double n = floor(amount * (double)alive + 0.5);
    return n < 0 ? 0 : n > (double)alive ? alive : (int64_t)n;
}

static void clear(struct rp_prune_layer *l, const struct ref_group *g)
{
    for (int64_t c = g->c0; c < g->c1; c++)
        for (int64_t r = g->r0; r < g->r1; r++)
            l->mask[c * l->R + r] = 0.0f;
}

static void ref_apply(struct rp_prune_layer *layers, int n, const struct rp_prune_spec *s)
{
    int64_t cap = 0;
    for (int k = 0; k < n; k++)
        cap += layers[k].R * layers[k].C;
    struct ref_group *all = malloc(sizeof *all * (size_t)cap);
    int64_t *count = calloc((size_t)n, sizeof *count), used = 0;
    int64_t *start = calloc((size_t)n + 1, sizeof *start);
    for (int k = 0; k < n; k++) {
        start[k] = used;
        count[k] = ref_groups(all + used, &layers[k], k, s);
        used += count[k];
    }
    start[n] = used;
    if (s->scope == RP_SCOPE_LAYER) {
        for (int k = 0; k < n; k++) {
            struct ref_group *v = all + start[k];
            qsort(v, (size_t)count[k], sizeof *v, cmp);
            int64_t take = take_of(layers[k].amount, count[k]);
            if (count[k] > 0 && take >= count[k])
                take = count[k] - 1;
            for (int64_t i = 0; i < take; i++)
                clear(&layers[k], &v[i]);
        }
    } else {
        qsort(all, (size_t)used, sizeof *all, cmp);
        int64_t take = take_of(s->amount, used), done = 0;
        int64_t *left = malloc(sizeof *left * (size_t)n);
        for (int k = 0; k < n; k++)
            left[k] = count[k];
        for (int64_t i = 0; i < used && done < take; i++) {
            if (left[all[i].layer] <= 1)
                continue; /* the guard */
            clear(&layers[all[i].layer], &all[i]);
            left[all[i].layer]--;
            done++;
        }
        free(left);
    }
    free(all);
    free(count);
    free(start);
}

/* ---- helpers ---- */

static struct rp_prune_layer layer(float *w, float *m, int64_t R, int64_t C, int64_t cr,
                                   double amount)
{
    struct rp_prune_layer l;
    memset(&l, 0, sizeof l);
    l.weight = w;
    l.mask = m;
    l.R = R;
    l.C = C;
    l.channel_rows = cr;
    l.amount = amount;
    return l;
}

static int64_t alive(const float *m, int64_t n)
{
    int64_t a = 0;
    for (int64_t i = 0; i < n; i++)
        a += m[i] != 0.0f;
    return a;
}

int main(void)
{
    /* names and defaults */
    int v = -1;
    CHECK_OK(rp_name_lookup(&v, rp_granularity_names, "column", "granularity"));
    CHECK(v == RP_GROUP_COLUMN);
    CHECK_OK(rp_name_lookup(&v, rp_scope_names, "global", "scope"));
    CHECK(v == RP_SCOPE_GLOBAL);
    CHECK_OK(rp_name_lookup(&v, rp_conv2d_algorithm_names, "winograd4", "algorithm"));
    CHECK(v == RP_CONV_WINOGRAD4);
    CHECK_OK(rp_name_lookup(&v, rp_encoding_names, "differential", "encoding"));
    CHECK(v == RP_ENCODING_DIFFERENTIAL);
    CHECK_FAILS(rp_name_lookup(&v, rp_score_names, "l3", "score"), RP_EINVAL,
                "score: unknown name \"l3\" (l1, l2, random)");
    CHECK(rp_name_of(rp_granularity_names, RP_GROUP_BLOCK) != NULL &&
          strcmp(rp_name_of(rp_granularity_names, RP_GROUP_BLOCK), "block") == 0);
    CHECK(rp_name_of(rp_score_names, 3) == NULL && rp_name_of(rp_score_names, -1) == NULL);
    struct rp_prune_spec d = rp_prune_spec_default();
    struct rp_xbar_config x = rp_xbar_config_default();
    int slices, phys, L;
    CHECK_OK(rp_xbar_config_check(&x, &slices, &phys, &L));
    CHECK(d.granularity == RP_GROUP_ELEMENT && d.score == RP_SCORE_L1 &&
          d.scope == RP_SCOPE_LAYER && d.amount == 0.0 && d.rng == NULL);
    CHECK(d.rows == x.rows && d.L == L && d.block_a == 1 && d.block_b == 1);
    struct rp_sgd_params sp = rp_sgd_params_default();
    struct rp_adam_params ap = rp_adam_params_default();
    CHECK(sp.lr == 1e-3f && sp.momentum == 0.0f && sp.weight_decay == 0.0f && !sp.nesterov);
    CHECK(ap.lr == 1e-3f && ap.beta1 == 0.9f && ap.beta2 == 0.999f && ap.eps == 1e-8f &&
          ap.step == 1);
    struct rp_conv2d_params cp = rp_conv2d_params_default();
    CHECK(cp.kh == 1 && cp.kw == 1 && cp.sh == 1 && cp.sw == 1 && cp.ph == 0 && cp.pw == 0 &&
          cp.algorithm == RP_CONV_AUTO);

    /* by hand: Linear(4, 2) as M (R = 4 inputs, C = 2 outputs), columns of 2 rows.
     * Groups (block, output): (0,0) = |1|,|2| -> 1.5; (0,1) = 0.1, 0.2 -> 0.15;
     * (1,0) = 3, 4 -> 3.5; (1,1) = 0.3, -0.1 -> 0.2.  amount 0.5 of 4 groups: the
     * two lowest, (0,1) and (1,1), so output 2 loses every weight. */
    {
        float w[8] = {1, 2, 3, 4, 0.1f, 0.2f, 0.3f, -0.1f}, m[8];
        for (int i = 0; i < 8; i++)
            m[i] = 1;
        struct rp_prune_layer l = layer(w, m, 4, 2, 1, 0.5);
        struct rp_prune_spec s = rp_prune_spec_default();
        s.granularity = RP_GROUP_COLUMN;
        s.rows = 2;
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        CHECK(l.groups == 4 && l.alive_before == 4 && l.pruned == 2);
        float want[8] = {1, 1, 1, 1, 0, 0, 0, 0};
        CHECK(memcmp(m, want, sizeof want) == 0);
        /* the guard: amount 1 keeps the best group (1,0) */
        l.amount = 1.0;
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        float guard[8] = {0, 0, 1, 1, 0, 0, 0, 0};
        CHECK(memcmp(m, guard, sizeof guard) == 0 && l.pruned == 1);
        /* ties go to the top-left group first: all scores equal */
        float ones[8] = {1, 1, 1, 1, 1, 1, 1, 1};
        for (int i = 0; i < 8; i++)
            m[i] = 1;
        l.weight = ones;
        l.amount = 0.25;
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        float tie[8] = {0, 0, 1, 1, 1, 1, 1, 1};
        CHECK(memcmp(m, tie, sizeof tie) == 0);
    }

    /* bad specs */
    {
        float w[4] = {1, 2, 3, 4}, m[4] = {1, 1, 1, 1};
        struct rp_prune_layer l = layer(w, m, 2, 2, 1, 0.5);
        struct rp_prune_spec s = rp_prune_spec_default();
        s.score = RP_SCORE_RANDOM;
        CHECK_FAILS(rp_prune_apply(&l, 1, &s), RP_EINVAL, "random scores need a generator");
        s = rp_prune_spec_default();
        s.amount = 1.5; /* unused in layer scope */
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        for (int i = 0; i < 4; i++)
            m[i] = 1.0f;
        s.scope = RP_SCOPE_GLOBAL;
        CHECK_FAILS(rp_prune_apply(&l, 1, &s), RP_EINVAL, "amount must be in [0, 1]");
        s = rp_prune_spec_default();
        s.granularity = (enum rp_granularity)42;
        CHECK_FAILS(rp_prune_apply(&l, 1, &s), RP_EINVAL, "unknown granularity 42");
        CHECK(alive(m, 4) == 4);
    }

    /* the reference on random layers: every granularity, both scopes, l1 and l2 */
    int agree = 1, cases = 0;
    for (int g = RP_GROUP_ELEMENT; g <= RP_GROUP_BLOCK; g++)
        for (int scope = 0; scope < 2; scope++)
            for (int score = 0; score < 2; score++)
                for (int rep = 0; rep < 4; rep++) {
                    int64_t R[2] = {9 + (int64_t)(uniform() * 40), 18},
                            C[2] = {3 + (int64_t)(uniform() * 20), 7};
                    int64_t cr[2] = {R[0] % 9 == 0 ? 9 : 1, 9};
                    struct rp_prune_layer a[2], b[2];
                    float *w[2], *ma[2], *mb[2];
                    for (int k = 0; k < 2; k++) {
                        int64_t n = R[k] * C[k];
                        w[k] = malloc(sizeof(float) * (size_t)n);
                        ma[k] = malloc(sizeof(float) * (size_t)n);
                        mb[k] = malloc(sizeof(float) * (size_t)n);
                        for (int64_t i = 0; i < n; i++) {
                            /* a few exact ties, some weights already pruned */
                            w[k][i] = (float)(uniform() < 0.1 ? 0.5 : uniform() * 2 - 1);
                            ma[k][i] = mb[k][i] = uniform() < 0.2 ? 0.0f : 1.0f;
                        }
                        double amount = uniform();
                        a[k] = layer(w[k], ma[k], R[k], C[k], cr[k], amount);
                        b[k] = layer(w[k], mb[k], R[k], C[k], cr[k], amount);
                    }
                    struct rp_prune_spec s = rp_prune_spec_default();
                    s.granularity = (enum rp_granularity)g;
                    s.scope = (enum rp_scope)scope;
                    s.score = (enum rp_score)score;
                    s.amount = uniform();
                    s.rows = 4;
                    s.L = 3;
                    s.block_a = 2;
                    s.block_b = 3;
                    CHECK_OK(rp_prune_apply(a, 2, &s));
                    ref_apply(b, 2, &s);
                    for (int k = 0; k < 2; k++) {
                        int64_t n = R[k] * C[k];
                        if (memcmp(ma[k], mb[k], sizeof(float) * (size_t)n) != 0) {
                            agree = 0;
                            fprintf(stderr, "differs: %s scope %d score %d layer %d\n",
                                    rp_granularity_names[g], scope, score, k);
                        }
                        free(w[k]);
                        free(ma[k]);
                        free(mb[k]);
                    }
                    cases++;
                }
    CHECK(agree);
    CHECK(cases == 7 * 2 * 2 * 4);

    /* crossbar-aligned column steps. By hand: one row block (R = rows = 2) of
     * 8 columns, L = 4, scores 1..8 by column. amount 0.3 prunes 2 (columns 1,
     * 2), 6 are kept, 6 mod 4 = 2 <= 4 - 2: prune 2 more (3, 4). amount 0.1
     * prunes 1 (column 1), 7 kept, whose nearest multiple is 8: a step of less
     * than half a crossbar leaves the layer whole. amount 0 prunes nothing. */
    {
        float w[16], m[16];
        for (int c = 0; c < 8; c++)
            w[2 * c] = w[2 * c + 1] = (float)(c + 1);
        struct rp_prune_spec s = rp_prune_spec_default();
        s.granularity = RP_GROUP_COLUMN;
        s.rows = 2;
        s.L = 4;
        s.align = 1;
        for (int i = 0; i < 16; i++)
            m[i] = 1.0f;
        struct rp_prune_layer l = layer(w, m, 2, 8, 1, 0.3);
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        CHECK(l.pruned == 4 && alive(m, 8) == 0 && alive(m + 8, 8) == 8);
        for (int i = 0; i < 16; i++)
            m[i] = 1.0f;
        l = layer(w, m, 2, 8, 1, 0.1);
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        CHECK(l.pruned == 0 && alive(m, 16) == 16);
        for (int i = 0; i < 16; i++)
            m[i] = 1.0f;
        l = layer(w, m, 2, 8, 1, 0.0);
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        CHECK(l.pruned == 0 && alive(m, 16) == 16);
        /* 12 columns, amount 0.25: 3 pruned (1-3), 9 kept, 9 mod 4 = 1: prune
         * column 4 too; amount 0.45 of 12 = 5 pruned, 7 kept, 7 mod 4 = 3:
         * round up to 8 (< 12) by reviving column 5 */
        float w12[24], m12[24];
        for (int c = 0; c < 12; c++)
            w12[2 * c] = w12[2 * c + 1] = (float)(c + 1);
        for (int i = 0; i < 24; i++)
            m12[i] = 1.0f;
        l = layer(w12, m12, 2, 12, 1, 0.25);
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        CHECK(l.pruned == 4 && alive(m12, 8) == 0 && alive(m12 + 8, 16) == 16);
        for (int i = 0; i < 24; i++)
            m12[i] = 1.0f;
        l = layer(w12, m12, 2, 12, 1, 0.45);
        CHECK_OK(rp_prune_apply(&l, 1, &s));
        CHECK(l.pruned == 4 && alive(m12, 8) == 0 && alive(m12 + 8, 16) == 16);
        /* align needs column groups in layer scope */
        s.scope = RP_SCOPE_GLOBAL;
        CHECK_FAILS(rp_prune_apply(&l, 1, &s), RP_EINVAL, "align needs column groups");
    }
    /* random layers: every row block that had L segments or more keeps a
     * multiple of L, and the count moves from the plain step's by less than L
     * per block; repeated steps keep pruning (no stall) */
    for (int trial = 0; trial < 20; trial++) {
        int64_t R = 40 + trial * 7, C = 30 + trial * 3, rows = 16, L = 4;
        float *w = malloc(sizeof(float) * (size_t)(R * C)),
              *ma = malloc(sizeof(float) * (size_t)(R * C));
        float *mb = malloc(sizeof(float) * (size_t)(R * C));
        for (int64_t i = 0; i < R * C; i++) {
            w[i] = (float)(uniform() - 0.5);
            ma[i] = mb[i] = 1.0f;
        }
        struct rp_prune_spec s = rp_prune_spec_default();
        s.granularity = RP_GROUP_COLUMN;
        s.rows = (int)rows;
        s.L = (int)L;
        double amount = 0.1 + 0.04 * trial;
        struct rp_prune_layer a = layer(w, ma, R, C, 1, amount), b = layer(w, mb, R, C, 1, amount);
        CHECK_OK(rp_prune_apply(&b, 1, &s));
        s.align = 1;
        CHECK_OK(rp_prune_apply(&a, 1, &s));
        int64_t blocks = (R + rows - 1) / rows, ok = 1;
        for (int64_t bk = 0; bk < blocks; bk++) {
            int64_t r0 = bk * rows, r1 = r0 + rows < R ? r0 + rows : R, segs = 0;
            for (int64_t c = 0; c < C; c++)
                segs += alive(ma + c * R + r0, r1 - r0) > 0;
            ok &= segs % L == 0 || (a.pruned == a.alive_before - 1);
        }
        int64_t diff = a.pruned - b.pruned;
        CHECK(ok);
        CHECK(diff < blocks * L && -diff < blocks * L);
        int64_t before = alive(ma, R * C);
        for (int step = 0; step < 3; step++) {
            a = layer(w, ma, R, C, 1, 0.2);
            CHECK_OK(rp_prune_apply(&a, 1, &s));
        }
        CHECK(alive(ma, R * C) < before || before <= rows * L);
        free(w);
        free(ma);
        free(mb);
    }
    return check_summary("test_prune");
}
