/* kernel.h - helpers shared by the layer kernels (internal). */
#ifndef REALPRUNE_KERNEL_H
#define REALPRUNE_KERNEL_H

#ifdef _OPENMP
#include <omp.h>
#endif

/* The calling OpenMP thread's number (0 outside parallel regions). */
static inline int rp_thread_id(void)
{
#ifdef _OPENMP
    return omp_get_thread_num();
#else
    return 0;
#endif
}

/* The number of threads in the current team (1 outside parallel regions).
 * OpenMP may start fewer threads than num_threads() asks for (OMP_THREAD_LIMIT,
 * OMP_DYNAMIC, nested regions), so work is shared out by this, not by the
 * number asked for. */
static inline int rp_team_size(void)
{
#ifdef _OPENMP
    return omp_get_num_threads();
#else
    return 1;
#endif
}

/* Hot elementwise loops are compiled twice, for AVX2 and for the baseline
 * x86-64, and the loader picks one by the CPU.  Both do the same IEEE
 * operations in the same order (no FMA contraction: FMA is not enabled), so
 * they give the same bits; only the vector width differs. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RP_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define RP_VECTOR_CLONES
#endif

/* Inlined even where the compiler would not: the generic forms of a kernel
 * specialized by constant arguments. */
#define RP_ALWAYS_INLINE static inline __attribute__((always_inline))

#endif
