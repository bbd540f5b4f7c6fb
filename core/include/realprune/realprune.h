/*
 * realprune/realprune.h - the whole C core in one include.
 *
 * The core is plain C11 with no Lua dependency: tensors (tensor.h), an
 * explicit random generator (rng.h), GEMM through OpenBLAS (blas.h), status
 * codes (status.h) and a monotonic clock (clock.h).  Functions are named
 * rp_<class>_<action>[_<noun>]; outputs come first; *_new is paired with
 * *_free; every fallible call returns an rp_status and sets rp_last_error().
 */
#ifndef REALPRUNE_H
#define REALPRUNE_H

#include "realprune/blas.h"
#include "realprune/clock.h"
#include "realprune/rng.h"
#include "realprune/status.h"
#include "realprune/tensor.h"

#endif
