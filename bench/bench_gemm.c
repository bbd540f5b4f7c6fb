/* bench_gemm.c - GEMM throughput on the shapes CNN training produces
 * (im2col forward, input-gradient and weight-gradient products).
 *
 *     build/bench/bench_gemm [threads]
 */
#include <stdio.h>
#include <stdlib.h>

#include "realprune/realprune.h"

static double bench(int ta, int tb, int64_t m, int64_t n, int64_t k, int ref)
{
    struct rp_rng g;
    rp_rng_seed(&g, 1);
    float *a = malloc(sizeof(float) * (size_t)(m * k));
    float *b = malloc(sizeof(float) * (size_t)(k * n));
    float *c = calloc((size_t)(m * n), sizeof(float));
    for (int64_t i = 0; i < m * k; i++)
        a[i] = rp_rng_uniformf(&g);
    for (int64_t i = 0; i < k * n; i++)
        b[i] = rp_rng_uniformf(&g);
    int64_t lda = ta ? m : k, ldb = tb ? k : n;
    int reps = 0;
    double t0 = rp_clock(), t;
    do {
        (ref ? rp_gemm_ref : rp_gemm)(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, 0.0f, c, n);
        reps++;
        t = rp_clock() - t0;
    } while (t < 0.3);
    free(a);
    free(b);
    free(c);
    return 2.0 * (double)m * (double)n * (double)k * reps / t / 1e9;
}

int main(int argc, char **argv)
{
    rp_blas_choose_core(argv); /* the OpenBLAS kernel realprune runs */
    if (argc > 1)
        rp_blas_set_threads(atoi(argv[1]));
    printf("bench_gemm: OpenBLAS %s core, %d threads\n", rp_blas_info(), rp_blas_get_threads());
    printf("%-34s %10s\n", "shape (m x n x k, transposes)", "GFLOP/s");
    static const struct {
        const char *what;
        int ta, tb;
        int64_t m, n, k;
    } cases[] = {
        {"conv fwd 3x3 64->64, 32x32, b=32", 0, 1, 32768, 64, 576},
        {"conv bwd-in 3x3 64->64", 0, 0, 32768, 576, 64},
        {"conv bwd-w 3x3 64->64", 1, 0, 64, 576, 32768},
        {"vgg_small conv2 28x28 b=128", 0, 1, 100352, 32, 288},
        {"linear 3136->256, b=128", 0, 1, 128, 256, 3136},
        {"square 1024", 0, 0, 1024, 1024, 1024},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        printf("%-34s %10.1f\n", cases[i].what,
               bench(cases[i].ta, cases[i].tb, cases[i].m, cases[i].n, cases[i].k, 0));
    printf("%-34s %10.2f\n", "reference GEMM, square 256", bench(0, 0, 256, 256, 256, 1));
    return 0;
}
