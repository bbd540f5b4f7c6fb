/* blas.c - the one file that includes cblas.h: GEMM and its plain reference.
 *
 * Threads: OpenBLAS runs single-threaded and rp_gemm splits large products
 * over the OpenMP threads (rp_blas_set_threads); inside a parallel region
 * (the layer kernels' per-image loops) it runs serially. */
#include "realprune/blas.h"

#include <cblas.h>
#ifdef _OPENMP
#include <omp.h>
#endif
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

/* Declared by OpenBLAS's cblas.h on Debian; repeated here so that a cblas.h
 * from another vendor still compiles (the symbols come from libopenblas). */
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
char *openblas_get_corename(void);

/* One OpenBLAS call on the calling thread (OpenBLAS itself is kept at one
 * thread: the parallelism is ours, so that no second thread pool spins
 * against the OpenMP threads of the layer kernels). */
static void gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                        const float *a, int64_t lda, const float *b, int64_t ldb, float beta,
                        float *c, int64_t ldc)
{
    if (m <= 0 || n <= 0)
        return;
    if (k <= 0) {
        /* OpenBLAS rejects k == 0 with lda == 0; C = beta * C by hand. */
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
        return;
    }
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans,
                trans_b ? CblasTrans : CblasNoTrans, (blasint)m, (blasint)n, (blasint)k, alpha, a,
                (blasint)lda, b, (blasint)ldb, beta, c, (blasint)ldc);
}

static void ensure_serial_blas(void)
{
    static int done; /* idempotent configuration, not state */
    if (!done) {
        openblas_set_num_threads(1);
        done = 1;
    }
}

void rp_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc)
{
    ensure_serial_blas();
    int threads = rp_blas_get_threads();
    double flops = 2.0 * (double)m * (double)n * (double)k;
#ifdef _OPENMP
    if (omp_in_parallel())
        threads = 1;
#endif
    if (threads <= 1 || flops < 4e6 || (m < 32 && n < 32)) {
        gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
        return;
    }
    /* Static split of C into `threads` blocks along its larger side, cut at
     * multiples of 16: each element is computed by one thread in one fixed
     * way, so a given thread count always gives the same bits. */
    int split_m = m >= n;
    int64_t len = split_m ? m : n;
    int64_t chunk = ((len + threads - 1) / threads + 15) / 16 * 16;
    int parts = (int)((len + chunk - 1) / chunk);
#pragma omp parallel for num_threads(threads) schedule(static, 1)
    for (int t = 0; t < parts; t++) {
        int64_t lo = t * chunk, hi = lo + chunk < len ? lo + chunk : len;
        if (split_m)
            gemm_serial(trans_a, trans_b, hi - lo, n, k, alpha, trans_a ? a + lo : a + lo * lda,
                        lda, b, ldb, beta, c + lo * ldc, ldc);
        else
            gemm_serial(trans_a, trans_b, m, hi - lo, k, alpha, a, lda,
                        trans_b ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
    }
}

void rp_gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc)
{
    ensure_serial_blas();
    gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void rp_gemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc)
{
    for (int64_t i = 0; i < m; i++) {
        for (int64_t j = 0; j < n; j++) {
            double acc = 0.0;
            for (int64_t p = 0; p < k; p++) {
                float x = trans_a ? a[p * lda + i] : a[i * lda + p];
                float y = trans_b ? b[j * ldb + p] : b[p * ldb + j];
                acc += (double)x * (double)y;
            }
            float prev = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
            c[i * ldc + j] = (float)(alpha * acc) + prev;
        }
    }
}

void rp_blas_set_threads(int n)
{
    if (n < 1)
        n = 1;
    ensure_serial_blas();
#ifdef _OPENMP
    omp_set_num_threads(n);
#endif
}

int rp_blas_get_threads(void)
{
#ifdef _OPENMP
    return omp_get_max_threads();
#else
    return 1;
#endif
}

int rp_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

const char *rp_blas_info(void)
{
    const char *name = openblas_get_corename();
    return name ? name : "unknown";
}

/* cores whose sgemm uses AVX-512, and those using at least AVX2 and FMA */
static int core_in(const char *name, const char *const *list)
{
    for (; *list; list++)
        if (strcasecmp(name, *list) == 0)
            return 1;
    return 0;
}

const char *rp_blas_wanted_core(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    if (__builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512dq") &&
        __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl"))
        return "SkylakeX";
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma"))
        return "Haswell";
#endif
    return NULL;
}

const char *rp_blas_better_core(void)
{
    static const char *const avx512[] = {"SkylakeX", "Cooperlake", "SapphireRapids", NULL};
    static const char *const avx2[] = {"Haswell",        "Zen", "SkylakeX", "Cooperlake",
                                       "SapphireRapids", NULL};
    const char *forced = getenv("OPENBLAS_CORETYPE");
    const char *want = rp_blas_wanted_core();
    if ((forced && *forced) || !want)
        return NULL;
    return core_in(rp_blas_info(), strcmp(want, "SkylakeX") == 0 ? avx512 : avx2) ? NULL : want;
}

/* OpenBLAS chose its kernel when it loaded, from the CPU model number; on a
 * model newer than it knows that is an SSE3 kernel. Name the right one and
 * execute the program again, once: the re-executed process finds the marker
 * and removes both variables (OpenBLAS has read its own by then), so that
 * programs it starts - sweep workers, Slurm jobs on other machines - choose
 * for their own processor. A user's OPENBLAS_CORETYPE is never overridden. */
void rp_blas_choose_core(char *const *argv)
{
    const char *marker = getenv("REALPRUNE_SET_CORETYPE");
    if (marker) {
        const char *set = getenv("OPENBLAS_CORETYPE");
        if (set && strcmp(set, marker) == 0)
            unsetenv("OPENBLAS_CORETYPE");
        unsetenv("REALPRUNE_SET_CORETYPE");
        return;
    }
    const char *core = rp_blas_better_core();
    if (!core)
        return;
    char self[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", self, sizeof self);
    if (len <= 0 || len >= (ssize_t)sizeof self) /* none, or cut short */
        return;
    self[len] = '\0';
    const char *base = strrchr(self, '/');
    base = base ? base + 1 : self;
    if (strncmp(base, "ld-", 3) == 0) /* started through the dynamic loader */
        return;
    if (setenv("OPENBLAS_CORETYPE", core, 1) != 0 ||
        setenv("REALPRUNE_SET_CORETYPE", core, 1) != 0) {
        unsetenv("OPENBLAS_CORETYPE");
        unsetenv("REALPRUNE_SET_CORETYPE");
        return;
    }
    execv(self, argv);
    /* returns only on failure: go on with the kernel loaded (and the warning) */
    unsetenv("OPENBLAS_CORETYPE");
    unsetenv("REALPRUNE_SET_CORETYPE");
}
