/***
 * realprune/realprune.h - the whole C core in one include.
 *
 * The core is plain C11 with no Lua dependency: tensors (tensor.h), an
 * explicit random generator (rng.h), GEMM through OpenBLAS (blas.h), status
 * codes (status.h), a monotonic clock (clock.h), CNN layers (nn.h), optimizer
 * steps (optim.h), crossbar mapping (xbar.h), pruning groups (prune.h), data
 * readers (data.h), safe writes and checksums (io.h), and the version
 * (version.h: RP_VERSION_STRING).  Build against the installed core with
 * `cc prog.c $(pkg-config --cflags --libs --static realprune)`, or CMake's
 * find_package(realprune) and target realprune::core.
 *
 *     #include <realprune/realprune.h>
 *     struct rp_xbar_config cfg = rp_xbar_config_default();
 *     struct rp_xbar_map m;
 *     if (rp_xbar_map_matrix(&m, NULL, 4608, 512, &cfg) != RP_OK)
 *         fprintf(stderr, "%s\n", rp_last_error());
 *     printf("%lld crossbars\n", (long long)m.crossbars);   // 1152
 *
 * Functions are named
 * rp_<class>_<action>[_<noun>]; outputs come first; *_new is paired with
 * *_free; every fallible call returns an rp_status and sets rp_last_error().
 *
 * @module core.realprune
 */
#ifndef REALPRUNE_H
#define REALPRUNE_H

#include "realprune/blas.h"
#include "realprune/clock.h"
#include "realprune/data.h"
#include "realprune/io.h"
#include "realprune/names.h"
#include "realprune/nn.h"
#include "realprune/optim.h"
#include "realprune/prune.h"
#include "realprune/rng.h"
#include "realprune/status.h"
#include "realprune/tensor.h"
#include "realprune/version.h"
#include "realprune/xbar.h"

#endif
