/*
 * xbar_reorder.c - a row order of M that packs alive weights into fewer
 * crossbars.
 *
 * Under docs/design.md's count a row block needs ceil(alive segments / L)
 * crossbars, where a block's alive segments are the columns that any of its
 * rows uses: the count depends on which rows share a block, never on the
 * order of the columns (segments of different columns share a crossbar
 * wherever they sit). So reordering M's rows (the inputs: the order in which
 * the input drivers feed the im2col rows) is the whole freedom, and the
 * columns (outputs) keep their order.
 *
 * Greedy: blocks are filled one at a time. A block starts with the remaining
 * row that has the most alive weights; then, until it holds `rows` rows, it
 * takes the remaining row that adds the fewest columns not yet in the block's
 * union (ties: more alive weights, then the lower row index; the scan takes
 * the first row that adds none at once). Rows with no alive weight go last (with compact
 * rows they are dropped anyway). The result is counted by
 * rp_xbar_map_matrix on the permuted mask, and if it is not below the
 * original order's count the identity is returned: reordering never adds a
 * crossbar. Cost: O(R^2 * C / 64) word operations per layer.
 */
#include <stdlib.h>
#include <string.h>

#include "realprune/xbar.h"

static int popcount64(uint64_t x)
{
    return __builtin_popcountll(x);
}

rp_status rp_xbar_reorder_rows(int64_t *perm, int64_t *before, int64_t *after, const float *mask,
                               int64_t R, int64_t C, const struct rp_xbar_config *cfg)
{
    int slices, phys, L;
    rp_status st = rp_xbar_config_check(cfg, &slices, &phys, &L);
    if (st != RP_OK)
        return st;
    if (R < 1 || C < 1)
        return rp_error(RP_EINVAL, "xbar_reorder: an R x C matrix with R, C >= 1 expected");
    struct rp_xbar_map m;
    if ((st = rp_xbar_map_matrix(&m, mask, R, C, cfg)) != RP_OK)
        return st;
    *before = *after = m.crossbars;
    for (int64_t r = 0; r < R; r++)
        perm[r] = r;
    if (!mask)
        return RP_OK; /* dense: every order is the same */
    int64_t W = (C + 63) / 64;
    uint64_t *bits = calloc((size_t)(R * W), sizeof(uint64_t));
    uint64_t *uni = calloc((size_t)W, sizeof(uint64_t));
    int64_t *count = calloc((size_t)R, sizeof(int64_t)), *left = malloc(sizeof(int64_t) * R);
    float *permuted = malloc(sizeof(float) * (size_t)(R * C));
    if (!bits || !uni || !count || !left || !permuted) {
        free(bits), free(uni), free(count), free(left), free(permuted);
        return rp_error(RP_ENOMEM, "xbar_reorder: out of memory for a %lldx%lld matrix",
                        (long long)R, (long long)C);
    }
    for (int64_t c = 0; c < C; c++)
        for (int64_t r = 0; r < R; r++)
            if (mask[c * R + r] != 0.0f) {
                bits[r * W + c / 64] |= (uint64_t)1 << (c % 64);
                count[r]++;
            }
    int64_t n_left = 0;
    for (int64_t r = 0; r < R; r++)
        if (count[r] > 0)
            left[n_left++] = r;
    int64_t order_n = 0;
    int64_t *order = perm; /* filled in place; the identity is restored if no gain */
    while (n_left > 0) {
        /* the seed: the row with the most alive weights (lowest index on ties) */
        int64_t best = 0;
        for (int64_t i = 1; i < n_left; i++)
            if (count[left[i]] > count[left[best]])
                best = i;
        memcpy(uni, bits + left[best] * W, sizeof(uint64_t) * (size_t)W);
        order[order_n++] = left[best];
        left[best] = left[--n_left];
        for (int64_t k = 1; k < cfg->rows && n_left > 0; k++) {
            int64_t pick = -1, pick_new = 0;
            for (int64_t i = 0; i < n_left; i++) {
                const uint64_t *b = bits + left[i] * W;
                int64_t fresh = 0;
                for (int64_t w = 0; w < W && (pick < 0 || fresh <= pick_new); w++)
                    fresh += popcount64(b[w] & ~uni[w]);
                if (pick < 0 || fresh < pick_new ||
                    (fresh == pick_new &&
                     (count[left[i]] > count[left[pick]] ||
                      (count[left[i]] == count[left[pick]] && left[i] < left[pick])))) {
                    pick = i, pick_new = fresh;
                    if (fresh == 0)
                        break; /* nothing better than adding no column */
                }
            }
            const uint64_t *b = bits + left[pick] * W;
            for (int64_t w = 0; w < W; w++)
                uni[w] |= b[w];
            order[order_n++] = left[pick];
            left[pick] = left[--n_left];
        }
    }
    for (int64_t r = 0; r < R; r++) /* rows with no alive weight go last, in order */
        if (count[r] == 0)
            order[order_n++] = r;
    for (int64_t c = 0; c < C; c++)
        for (int64_t k = 0; k < R; k++)
            permuted[c * R + k] = mask[c * R + order[k]];
    st = rp_xbar_map_matrix(&m, permuted, R, C, cfg);
    if (st == RP_OK) {
        if (m.crossbars < *before)
            *after = m.crossbars;
        else
            for (int64_t r = 0; r < R; r++)
                perm[r] = r;
    }
    free(bits), free(uni), free(count), free(left), free(permuted);
    return st;
}
