/***
 * realprune/blas.h - the only door to OpenBLAS.
 *
 * rp_gemm computes C = alpha * op(A) * op(B) + beta * C for row-major float32
 * matrices, op(X) = X or X^T, through cblas_sgemm.  rp_gemm_ref computes the
 * same with three plain loops (double accumulation) for tests to compare
 * against.  Sizes of 0 are allowed and do nothing but scale C by beta.
 *
 *     // C[m,n] = A[m,k] * B[k,n]
 *     rp_gemm(0, 0, m, n, k, 1.0f, A, k, B, n, 0.0f, C, n);
 *
 * @module core.blas
 */
#ifndef REALPRUNE_BLAS_H
#define REALPRUNE_BLAS_H

#include <stdint.h>

void rp_gemm(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float *a,
             int64_t lda, const float *b, int64_t ldb, float beta, float *c, int64_t ldc);
/*** The same on the calling thread only (for use inside parallel loops).
 * @function rp_gemm_serial */
void rp_gemm_serial(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                    int64_t ldc);
void rp_gemm_ref(int trans_a, int trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                 const float *a, int64_t lda, const float *b, int64_t ldb, float beta, float *c,
                 int64_t ldc);

/*** Threads used by rp_gemm and the layer kernels (OpenMP; OpenBLAS itself
 * runs single-threaded under them). Default: OpenMP's (all cores).
 * @function rp_blas_set_threads */
void rp_blas_set_threads(int n);
int rp_blas_get_threads(void);
/*** Number of online processors.
 * @function rp_cpu_count */
int rp_cpu_count(void);
/*** Name of the BLAS core in use (e.g. "Haswell").
 * @function rp_blas_info */
const char *rp_blas_info(void);
/*** The OpenBLAS core this processor's instruction sets call for: "SkylakeX"
 * with AVX-512 (F, DQ, BW, VL), "Haswell" with AVX2 and FMA, else NULL.
 * @function rp_blas_wanted_core */
const char *rp_blas_wanted_core(void);
/*** The OpenBLAS core this processor should run when the one in use leaves
 * its vector units idle, else NULL. OpenBLAS picks its core from the CPU
 * model number and falls back to an SSE3 kernel ("Prescott", 4-8x slower)
 * on models newer than itself; this checks the instruction sets instead
 * (rp_blas_wanted_core; a core of the same or a wider vector width is kept).
 * NULL too when OPENBLAS_CORETYPE is set: the user's choice stands. The core
 * can only be chosen before OpenBLAS loads (the executable sets
 * OPENBLAS_CORETYPE and executes itself again).
 * @function rp_blas_better_core */
const char *rp_blas_better_core(void);
/*** Called first in main(argc, argv) of a program linked with OpenBLAS: when
 * rp_blas_better_core names a core, sets OPENBLAS_CORETYPE and executes the
 * program again (by /proc/self/exe, once; a start through ld.so is left
 * alone); the restarted process removes the variable again, so programs it
 * starts choose for their own processor. Returns when nothing is to be done
 * or the exec failed.
 * @function rp_blas_choose_core */
void rp_blas_choose_core(char *const *argv);

#endif
