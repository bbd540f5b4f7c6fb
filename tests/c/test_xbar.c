/* test_xbar.c - crossbar counts without Lua (docs/design.md, "Crossbar mapping"
 * and "Transposed mapping"): hand-computed cases, and M^T counted in place
 * equal to mapping a materialized transpose, on random masks. */
#include <stdlib.h>

#include "check.h"
#include "realprune/realprune.h"

static uint64_t lcg = 99;
static double uniform(void)
{
    lcg = lcg * 6364136223846793005ULL + 1442695040888963407ULL;
    return (double)(lcg >> 11) / 9007199254740992.0;
}

static int same(const struct rp_xbar_map *a, const struct rp_xbar_map *b)
{
    return a->rows == b->rows && a->cols == b->cols && a->alive == b->alive &&
           a->crossbars == b->crossbars && a->crossbars_dense == b->crossbars_dense &&
           a->segments_alive == b->segments_alive && a->rows_alive == b->rows_alive &&
           a->row_blocks == b->row_blocks && a->active_rows == b->active_rows &&
           a->max_block_rows == b->max_block_rows;
}

int main(void)
{
    struct rp_xbar_config cfg = rp_xbar_config_default();
    struct rp_xbar_map m, t;
    /* dense: ceil(R / 128) * ceil(C / 16) */
    CHECK_OK(rp_xbar_map_matrix(&m, NULL, 300, 10, &cfg));
    CHECK(m.crossbars == 3 && m.crossbars_dense == 3 && m.L == 16 && m.slices == 8);
    CHECK_OK(rp_xbar_map_transposed(&t, NULL, 300, 10, &cfg));
    CHECK(t.rows == 10 && t.cols == 300 && t.crossbars == 19 && t.crossbars_dense == 19);
    /* docs/design.md's example: Linear(4, 2) at rows = 2, L = 1; mask element
     * (r, c) at c * R + r: output 1 <- inputs 1, 2; output 2 <- inputs 3, 4 */
    struct rp_xbar_config tiny = {2, 1, 1, 1, RP_ENCODING_OFFSET, 1};
    float mask[8] = {1, 1, 0, 0, 0, 0, 1, 1};
    CHECK_OK(rp_xbar_map_matrix(&m, mask, 4, 2, &tiny));
    CHECK(m.crossbars == 2);
    CHECK_OK(rp_xbar_map_transposed(&t, mask, 4, 2, &tiny));
    CHECK(t.crossbars == 4 && t.segments_alive == 4);
    float subset[8] = {0, 1, 0, 0, 0, 0, 1, 1}; /* a subset that needs more crossbars */
    CHECK_OK(rp_xbar_map_matrix(&m, subset, 4, 2, &tiny));
    CHECK(m.crossbars == 3);
    /* bad input */
    CHECK_FAILS(rp_xbar_map_transposed(&t, NULL, 0, 3, &cfg), RP_EINVAL, "rows and columns");
    struct rp_xbar_config narrow = {128, 8, 16, 2, RP_ENCODING_DIFFERENTIAL, 1};
    CHECK_FAILS(rp_xbar_map_matrix(&m, NULL, 3, 3, &narrow), RP_EINVAL, "cannot hold one weight");
    /* M^T in place against the materialized transpose, random masks and configs */
    struct rp_xbar_config cfgs[3] = {
        {128, 128, 16, 2, 0, 1}, {8, 16, 4, 2, 1, 1}, {5, 3, 2, 2, 0, 0}};
    int agree = 1;
    for (int trial = 0; trial < 60; trial++) {
        int64_t R = 1 + (int64_t)(uniform() * 300), C = 1 + (int64_t)(uniform() * 40);
        double p = trial % 3 == 0 ? 0.02 : trial % 3 == 1 ? 0.3 : 0.9;
        float *mk = malloc(sizeof(float) * (size_t)(R * C)),
              *mt = malloc(sizeof(float) * (size_t)(R * C));
        for (int64_t c = 0; c < C; c++) {
            int dead = uniform() < 0.2; /* whole outputs pruned away */
            for (int64_t r = 0; r < R; r++)
                mk[c * R + r] = !dead && uniform() < p;
        }
        for (int64_t r = 0; r < R; r++)
            for (int64_t c = 0; c < C; c++)
                mt[r * C + c] = mk[c * R + r];
        for (int k = 0; k < 3; k++) {
            struct rp_xbar_map a, b;
            if (rp_xbar_map_transposed(&a, mk, R, C, &cfgs[k]) != RP_OK ||
                rp_xbar_map_matrix(&b, mt, C, R, &cfgs[k]) != RP_OK || !same(&a, &b))
                agree = 0;
        }
        free(mk);
        free(mt);
    }
    CHECK(agree);
    return check_summary("test_xbar");
}
