/***
 * realprune/rng.h - an explicit, portable random number generator.
 *
 * xoshiro256** (Blackman & Vigna) seeded through splitmix64.  Integer output is
 * identical on every machine; uniform floats are built from the top bits by
 * exact scaling; normals use the Box-Muller transform (both values are used,
 * the second one is kept in the state).  There is no global generator: the
 * caller owns one (the Lua state keeps the default one).
 *
 *     struct rp_rng g;
 *     rp_rng_seed(&g, 42);
 *     double u = rp_rng_uniform(&g);      // [0, 1)
 *     double z = rp_rng_normal(&g);       // N(0, 1)
 *
 * @module core.rng
 */
#ifndef REALPRUNE_RNG_H
#define REALPRUNE_RNG_H

#include <stdint.h>

struct rp_rng {
    uint64_t s[4];
    int has_spare; /* a second Box-Muller value is waiting in `spare` */
    double spare;
};

void rp_rng_seed(struct rp_rng *g, uint64_t seed);
uint64_t rp_rng_next(struct rp_rng *g);
/*** Uniform double in [0, 1) with 53 random bits.
 * @function rp_rng_uniform */
double rp_rng_uniform(struct rp_rng *g);
/*** Uniform float in [0, 1) with 24 random bits.
 * @function rp_rng_uniformf */
float rp_rng_uniformf(struct rp_rng *g);
/*** Standard normal.
 * @function rp_rng_normal */
double rp_rng_normal(struct rp_rng *g);
/*** Uniform integer in [0, n) without modulo bias; n must be > 0.
 * @function rp_rng_below */
uint64_t rp_rng_below(struct rp_rng *g, uint64_t n);

#endif
