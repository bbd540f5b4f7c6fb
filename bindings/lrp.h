/*
 * lrp.h - helpers shared by the files of the Lua module `realprune.core`.
 *
 * Userdata are created in a safe "released" state (NULL pointer) with their
 * metatable set before the C object is acquired, so that an error raised at
 * any point leaves nothing to leak: the garbage collector frees what is there.
 */
#ifndef REALPRUNE_LRP_H
#define REALPRUNE_LRP_H

#include <lauxlib.h>
#include <lua.h>

#include "realprune/data.h"
#include "realprune/realprune.h"

#define RPL_TENSOR    "realprune.Tensor"
#define RPL_GENERATOR "realprune.Generator"

typedef struct rpl_tensor {
    struct rp_tensor *t; /* NULL once released */
} rpl_tensor;

/* Tensors. */
struct rp_tensor *rpl_check_tensor(lua_State *L, int arg);
struct rp_tensor *rpl_test_tensor(lua_State *L, int arg); /* NULL if not a live tensor */
/* Pushes an empty (released) tensor userdata; fill its `t` field. */
rpl_tensor *rpl_push_shell(lua_State *L);
/* Raises "<fname>: <rp_last_error()>". */
int rpl_fail(lua_State *L, const char *fname);
/* Reads a shape given as a table at `arg`, or as integers from `arg` to the
 * top of the stack when `varargs`; raises a clear argument error otherwise. */
int rpl_check_shape(lua_State *L, int arg, int varargs, int64_t *shape);

/* A userdata owning an rp_bytes (freed by the collector), for results that
 * must survive a raised error without leaking. */
typedef struct bytes_box {
    struct rp_bytes b;
} bytes_box;
bytes_box *rpl_push_bytes_box(lua_State *L);

/* Generators. */
struct rp_rng *rpl_check_generator(lua_State *L, int arg);
/* The generator at `arg` if given (not nil/none), else the default one. */
struct rp_rng *rpl_opt_generator(lua_State *L, int arg);

void rpl_open_tensor(lua_State *L);    /* adds tensor functions to the table on top */
void rpl_open_generator(lua_State *L); /* adds generator functions to the table on top */
void rpl_open_nn(lua_State *L);        /* adds layer kernels and optimizer steps */
void rpl_open_data(lua_State *L);      /* adds file readers and batch assembly */
void rpl_open_io(lua_State *L);        /* adds checkpoint helpers */
void rpl_open_xbar(lua_State *L);      /* adds crossbar mapping */
void rpl_open_prune(lua_State *L);     /* adds the pruning step */
void rpl_open_sparse(lua_State *L);    /* adds sparse plans and kernels */
void rpl_open_sys(lua_State *L);
void rpl_open_faults(lua_State *L); /* adds stuck-at fault maps */
/* A crossbar config from 6 arguments from `arg` (rows, cols, weight_bits,
 * cell_bits, signed, compact_rows), and a mask (nil: dense) of R x C. */
struct rp_xbar_config rpl_xbar_config(lua_State *L, int arg);
const float *rpl_xbar_mask(lua_State *L, int arg, int64_t R,
                           int64_t C); /* adds locks, child processes and paths */

/* t[field] = v (an integer) on the table at the top of the stack */
#define RPL_SET_INT(field, v)                                                                      \
    do {                                                                                           \
        lua_pushinteger(L, (lua_Integer)(v));                                                      \
        lua_setfield(L, -2, field);                                                                \
    } while (0)

/* kh, kw, sh, sw, ph, pw at arg..arg+5 (algorithm auto) */
struct rp_conv2d_params rpl_conv_params(lua_State *L, int arg);

#endif
