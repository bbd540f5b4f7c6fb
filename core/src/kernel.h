/* kernel.h - helpers shared by the layer kernels (internal). */
#ifndef REALPRUNE_KERNEL_H
#define REALPRUNE_KERNEL_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

/* The widest form of the run-time-chosen SIMD kernels that REALPRUNE_SIMD
 * allows (for tests of every form on one machine): "base" 0 (plain x86-64),
 * "avx2" 1, unset or anything else 2 (whatever the CPU runs). */
static inline int rp_simd_allowed(void)
{
    const char *want = getenv("REALPRUNE_SIMD");
    if (want && strcmp(want, "base") == 0)
        return 0;
    return want && strcmp(want, "avx2") == 0 ? 1 : 2;
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

/* Also for AVX-512: only in files compiled with -ffp-contract=off (CMakeLists.txt),
 * where AVX-512's FMA cannot be contracted into and the bits stay those of the
 * other forms. */
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
#define RP_WIDE_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define RP_WIDE_CLONES
#endif

/* Inlined even where the compiler would not: the generic forms of a kernel
 * specialized by constant arguments. */
#define RP_ALWAYS_INLINE static inline __attribute__((always_inline))

/* Eight lanes as one value (GCC vector types: one AVX-512 or AVX2 register,
 * two or four SSE2 ones, whatever the clone), for loops whose lanes must be
 * vector lanes whatever the vectorizer decides; loaded and stored with memcpy.
 * RP_SELECT8(on, a, b): lane by lane a where `on` (a comparison's -1) else b. */
typedef float rp_vf8 __attribute__((vector_size(8 * sizeof(float))));
typedef double rp_vd8 __attribute__((vector_size(8 * sizeof(double))));
typedef int rp_vi8 __attribute__((vector_size(8 * sizeof(int))));
#define RP_SELECT8(on, a, b) ((rp_vf8)(((rp_vi8)(a) & (on)) | ((rp_vi8)(b) & ~(on))))

/* How a batch of n images is cut for a team of `threads`: chunks of g images,
 * g the fewest images holding `target` work units at `per_image` units each,
 * but no more than an even share per thread; team = min(threads, chunks). */
struct rp_chunking {
    int64_t g, chunks;
    int team;
};

static inline struct rp_chunking rp_chunk_batch(int64_t n, int64_t per_image, int64_t target,
                                                int threads)
{
    struct rp_chunking c;
    if (threads < 1)
        threads = 1;
    int64_t share = (n + threads - 1) / threads;
    c.g = per_image > 0 ? (target + per_image - 1) / per_image : 1;
    if (c.g > share)
        c.g = share;
    if (c.g < 1)
        c.g = 1;
    c.chunks = (n + c.g - 1) / c.g;
    c.team = threads < c.chunks ? threads : (int)(c.chunks > 0 ? c.chunks : 1);
    return c;
}

#endif
