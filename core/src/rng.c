/* rng.c - xoshiro256** with splitmix64 seeding, Box-Muller normals. */
#include "realprune/rng.h"

#include <math.h>

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static inline uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

void rp_rng_seed(struct rp_rng *g, uint64_t seed)
{
    uint64_t x = seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&x);
    g->has_spare = 0;
    g->spare = 0.0;
}

uint64_t rp_rng_next(struct rp_rng *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
}

double rp_rng_uniform(struct rp_rng *g)
{
    return (double)(rp_rng_next(g) >> 11) * 0x1.0p-53;
}

float rp_rng_uniformf(struct rp_rng *g)
{
    return (float)(rp_rng_next(g) >> 40) * 0x1.0p-24f;
}

double rp_rng_normal(struct rp_rng *g)
{
    if (g->has_spare) {
        g->has_spare = 0;
        return g->spare;
    }
    /* u1 in (0, 1] so that log(u1) is finite. */
    double u1 = 1.0 - rp_rng_uniform(g);
    double u2 = rp_rng_uniform(g);
    double r = sqrt(-2.0 * log(u1));
    double a = 6.283185307179586476925 * u2;
    g->spare = r * sin(a);
    g->has_spare = 1;
    return r * cos(a);
}

uint64_t rp_rng_below(struct rp_rng *g, uint64_t n)
{
    /* Rejection on the top of the range: unbiased for every n > 0. */
    uint64_t limit = UINT64_MAX - (UINT64_MAX % n + 1) % n;
    uint64_t x;
    do {
        x = rp_rng_next(g);
    } while (x > limit);
    return x % n;
}
