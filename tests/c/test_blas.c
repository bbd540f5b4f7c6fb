/* test_blas.c - rp_gemm (OpenBLAS) against the plain reference GEMM on random
 * shapes: non-square, 1-sized, empty, large, every transpose. */
#include <stdlib.h>

#include "check.h"
#include "realprune/realprune.h"

static float *random_matrix(struct rp_rng *g, int64_t n)
{
    float *x = malloc(sizeof(float) * (size_t)(n > 0 ? n : 1));
    for (int64_t i = 0; i < n; i++)
        x[i] = (float)(2.0 * rp_rng_uniform(g) - 1.0);
    return x;
}

/* Max relative error of rp_gemm against rp_gemm_ref for one case. */
static double gemm_error(struct rp_rng *g, int ta, int tb, int64_t m, int64_t n, int64_t k,
                         float alpha, float beta)
{
    float *a = random_matrix(g, m * k), *b = random_matrix(g, k * n);
    float *c = random_matrix(g, m * n), *r = malloc(sizeof(float) * (size_t)(m * n + 1));
    memcpy(r, c, sizeof(float) * (size_t)(m * n));
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    rp_gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, n);
    rp_gemm_ref(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, r, n);
    double worst = 0;
    for (int64_t i = 0; i < m * n; i++) {
        double e = fabs((double)c[i] - r[i]) / (1.0 + sqrt((double)k));
        worst = e > worst ? e : worst;
    }
    free(a);
    free(b);
    free(c);
    free(r);
    return worst;
}

static void test_random_shapes(void)
{
    struct rp_rng g;
    rp_rng_seed(&g, 2024);
    printf("test_blas: seed 2024, BLAS core %s, %d threads\n", rp_blas_info(),
           rp_blas_get_threads());
    const int64_t fixed[][3] = {{1, 1, 1},   {1, 7, 1},    {7, 1, 1},       {1, 1, 300},
                                {3, 5, 2},   {64, 64, 64}, {257, 129, 300}, {500, 3, 1000},
                                {2, 800, 9}, {0, 4, 3},    {4, 0, 3},       {4, 3, 0}};
    for (size_t c = 0; c < sizeof fixed / sizeof fixed[0]; c++)
        for (int t = 0; t < 4; t++) {
            double e =
                gemm_error(&g, t & 1, t >> 1, fixed[c][0], fixed[c][1], fixed[c][2], 1.0f, 0.0f);
            CHECK_NEAR(e, 0.0, 1e-5);
        }
    for (int trial = 0; trial < 40; trial++) {
        int64_t m = 1 + (int64_t)rp_rng_below(&g, 150), n = 1 + (int64_t)rp_rng_below(&g, 150);
        int64_t k = 1 + (int64_t)rp_rng_below(&g, 400);
        int ta = (int)rp_rng_below(&g, 2), tb = (int)rp_rng_below(&g, 2);
        float alpha = (float)(rp_rng_uniform(&g) * 2 - 1), beta = trial % 3 ? 0.5f : 0.0f;
        double e = gemm_error(&g, ta, tb, m, n, k, alpha, beta);
        if (e > 1e-5)
            fprintf(stderr, "case m=%lld n=%lld k=%lld ta=%d tb=%d: error %g\n", (long long)m,
                    (long long)n, (long long)k, ta, tb, e);
        CHECK_NEAR(e, 0.0, 1e-5);
    }
}

static void test_tensor_matmul(void)
{
    struct rp_rng g;
    rp_rng_seed(&g, 5);
    struct rp_tensor *a = NULL, *b = NULL, *c = NULL;
    CHECK_OK(rp_tensor_new(&a, 2, (int64_t[]){37, 53}));
    CHECK_OK(rp_tensor_new(&b, 2, (int64_t[]){53, 11}));
    rp_tensor_fill_normal(a, &g, 0, 1);
    rp_tensor_fill_normal(b, &g, 0, 1);
    CHECK_OK(rp_tensor_matmul(&c, a, b));
    float *r = calloc(37 * 11, sizeof(float));
    rp_gemm_ref(0, 0, 37, 11, 53, 1.0f, a->data, 53, b->data, 11, 0.0f, r, 11);
    double worst = 0;
    for (int i = 0; i < 37 * 11; i++)
        worst = fmax(worst, fabs((double)c->data[i] - r[i]));
    CHECK_NEAR(worst, 0.0, 1e-4);
    free(r);
    rp_tensor_free(a);
    rp_tensor_free(b);
    rp_tensor_free(c);
}

static void test_threads(void)
{
    int before = rp_blas_get_threads();
    rp_blas_set_threads(1);
    CHECK(rp_blas_get_threads() == 1);
    rp_blas_set_threads(before);
    CHECK(rp_blas_get_threads() == before);
    CHECK(rp_cpu_count() >= 1);
}

int main(void)
{
    test_random_shapes();
    test_tensor_matmul();
    test_threads();
    return check_summary("test_blas");
}
