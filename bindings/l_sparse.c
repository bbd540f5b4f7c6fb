/*
 * l_sparse.c - sparse execution for lua/realprune/nn.lua (docs/design.md,
 * "Sparse execution"):
 *
 *   sparse_plan(mask, R, C[, block_rows]) -> a realprune.SparsePlan
 *     (block_rows 0: chosen; -1: chosen, one block per output allowed)
 *   sparse_info(plan) -> {R=, C=, block_rows=, blocks=, rows_alive=, packed=,
 *                         macs=, macs_dense=, hash=, by_output=, pairs=, rectangles=,
 *                         pair_macs=, kernel=}
 *   sparse_plan_kernel(plan[, "auto"|"direct"|"winograd"]) -> the kernel it had
 *   conv2d_sparse_kernel(input, weight, kh, kw, sh, sw, ph, pw, plan)
 *     -> "winograd", "direct" or "im2col": what a sparse call runs
 *   mask_hash(mask) -> integer (changes when which values are nonzero does)
 *   mask_digest(mask) -> integer (the same, faster; for a plan's cache)
 *   conv2d_choose(input, weight, kh, kw, sh, sw, ph, pw, plan|nil) -> algorithm name
 *   conv2d_sparse_shapes(input, weight, kh, kw, sh, sw, ph, pw, plan)
 *     -> output shape, workspace size (floats, for the current thread count)
 *   conv2d_sparse_forward(output, input, weight, bias|nil, workspace, kh, kw, sh, sw,
 *                         ph, pw, plan)
 *   conv2d_sparse_backward(grad_input|nil, grad_weight, grad_bias|nil, grad_output,
 *                          input, weight, workspace, kh, kw, sh, sw, ph, pw, scale, plan)
 */
#include <limits.h>

#include "lrp.h"

#define RPL_SPARSE_PLAN "realprune.SparsePlan"

typedef struct {
    struct rp_sparse_plan *plan;
} plan_box;

static struct rp_sparse_plan *check_plan(lua_State *L, int arg)
{
    plan_box *b = luaL_checkudata(L, arg, RPL_SPARSE_PLAN);
    if (!b->plan)
        luaL_argerror(L, arg, "the sparse plan has been released");
    return b->plan;
}

static struct rp_sparse_plan *opt_plan(lua_State *L, int arg)
{
    return lua_isnoneornil(L, arg) ? NULL : check_plan(L, arg);
}

static int plan_gc(lua_State *L)
{
    plan_box *b = luaL_checkudata(L, 1, RPL_SPARSE_PLAN);
    rp_sparse_plan_free(b->plan);
    b->plan = NULL;
    return 0;
}

static int fail(lua_State *L)
{
    return luaL_error(L, "%s", rp_last_error());
}

static int l_sparse_plan(lua_State *L)
{
    struct rp_tensor *m = rpl_check_tensor(L, 1);
    lua_Integer R = luaL_checkinteger(L, 2), C = luaL_checkinteger(L, 3);
    lua_Integer h = luaL_optinteger(L, 4, 0);
    if (R < 1 || C < 1 || R > INT64_MAX / C || m->numel != R * C)
        return luaL_argerror(L, 1,
                             lua_pushfstring(L, "a mask of %I values for a %Ix%I matrix",
                                             (lua_Integer)m->numel, R, C));
    plan_box *b = lua_newuserdatauv(L, sizeof *b, 0);
    b->plan = NULL;
    luaL_setmetatable(L, RPL_SPARSE_PLAN);
    if (rp_sparse_plan_new(&b->plan, m->data, R, C, h) != RP_OK)
        return fail(L);
    return 1;
}

static int l_sparse_info(lua_State *L)
{
    struct rp_sparse_info i;
    rp_sparse_plan_info(check_plan(L, 1), &i);
    lua_createtable(L, 0, 14);
    RPL_SET_INT("R", i.R);
    RPL_SET_INT("C", i.C);
    RPL_SET_INT("block_rows", i.block_rows);
    RPL_SET_INT("blocks", i.blocks);
    RPL_SET_INT("rows_alive", i.rows_alive);
    RPL_SET_INT("packed", i.packed);
    RPL_SET_INT("hash", i.hash);
    lua_pushboolean(L, i.by_output);
    lua_setfield(L, -2, "by_output");
    lua_pushnumber(L, i.macs);
    lua_setfield(L, -2, "macs");
    lua_pushnumber(L, i.macs_dense);
    lua_setfield(L, -2, "macs_dense");
    RPL_SET_INT("pairs", i.pairs);
    RPL_SET_INT("rectangles", i.rectangles);
    lua_pushnumber(L, i.pair_macs);
    lua_setfield(L, -2, "pair_macs");
    lua_pushstring(L, rp_name_of(rp_sparse_kernel_names, i.kernel));
    lua_setfield(L, -2, "kernel");
    return 1;
}

static int l_sparse_plan_kernel(lua_State *L)
{
    struct rp_sparse_plan *sp = check_plan(L, 1);
    struct rp_sparse_info i;
    rp_sparse_plan_info(sp, &i);
    if (!lua_isnoneornil(L, 2)) {
        int k;
        if (rp_name_lookup(&k, rp_sparse_kernel_names, luaL_checkstring(L, 2),
                           "sparse_plan_kernel: kernel") != RP_OK ||
            rp_sparse_plan_set_kernel(sp, k) != RP_OK)
            return luaL_argerror(L, 2, rp_last_error());
    }
    lua_pushstring(L, rp_name_of(rp_sparse_kernel_names, i.kernel));
    return 1;
}

static int l_mask_digest(lua_State *L)
{
    struct rp_tensor *m = rpl_check_tensor(L, 1);
    lua_pushinteger(L, (lua_Integer)rp_mask_digest(m->data, m->numel));
    return 1;
}

static int l_mask_hash(lua_State *L)
{
    struct rp_tensor *m = rpl_check_tensor(L, 1);
    lua_pushinteger(L, (lua_Integer)rp_mask_hash(m->data, m->numel));
    return 1;
}

/* input, weight, kh, kw, sh, sw, ph, pw at 1..8: the tensors, the window and
 * the output shape (a failed shape check raises the core's message) */
static struct rp_conv2d_params conv_args(lua_State *L, struct rp_tensor **x, struct rp_tensor **w,
                                         int64_t os[4])
{
    *x = rpl_check_tensor(L, 1);
    *w = rpl_check_tensor(L, 2);
    struct rp_conv2d_params p = rpl_conv_params(L, 3);
    if (rp_conv2d_output_shape(os, *x, *w, &p) != RP_OK)
        fail(L);
    return p;
}

static int l_conv2d_choose(lua_State *L)
{
    struct rp_tensor *x, *w;
    int64_t os[4];
    struct rp_conv2d_params p = conv_args(L, &x, &w, os);
    struct rp_sparse_plan *sp = opt_plan(L, 9);
    lua_pushstring(
        L, rp_name_of(rp_conv2d_algorithm_names, rp_conv2d_choose(x->shape, os[1], &p, sp)));
    return 1;
}

static int l_conv2d_sparse_kernel(lua_State *L)
{
    struct rp_tensor *x, *w;
    int64_t os[4];
    struct rp_conv2d_params p = conv_args(L, &x, &w, os);
    lua_pushstring(L, rp_name_of(rp_sparse_kernel_names,
                                 rp_conv2d_sparse_kernel(x->shape, os[1], &p, check_plan(L, 9))));
    return 1;
}

static int l_conv2d_sparse_shapes(lua_State *L)
{
    struct rp_tensor *x, *w;
    int64_t os[4];
    struct rp_conv2d_params p = conv_args(L, &x, &w, os);
    struct rp_sparse_plan *sp = check_plan(L, 9);
    struct rp_sparse_info i;
    rp_sparse_plan_info(sp, &i);
    /* the weight's M is R x C with C = shape[0] (checked first: C may be 0) */
    int64_t wr = w->shape[0] > 0 ? w->numel / w->shape[0] : 0;
    if (i.C != w->shape[0] || i.R != wr)
        return luaL_error(L, "conv2d: the sparse plan is for a %Ix%I matrix, the weight is %Ix%I",
                          (lua_Integer)i.R, (lua_Integer)i.C, (lua_Integer)wr,
                          (lua_Integer)w->shape[0]);
    lua_createtable(L, 4, 0);
    for (int k = 0; k < 4; k++) {
        lua_pushinteger(L, (lua_Integer)os[k]);
        lua_rawseti(L, -2, k + 1);
    }
    lua_pushinteger(L,
                    (lua_Integer)rp_conv2d_sparse_workspace_size(x, &p, sp, rp_blas_get_threads()));
    return 2;
}

static int l_conv2d_sparse_forward(lua_State *L)
{
    struct rp_tensor *y = rpl_check_tensor(L, 1), *x = rpl_check_tensor(L, 2);
    struct rp_tensor *w = rpl_check_tensor(L, 3);
    struct rp_tensor *b = lua_isnoneornil(L, 4) ? NULL : rpl_check_tensor(L, 4);
    struct rp_tensor *ws = rpl_check_tensor(L, 5);
    struct rp_conv2d_params p = rpl_conv_params(L, 6);
    if (rp_conv2d_sparse_forward(y, x, w, b, ws, &p, check_plan(L, 12)) != RP_OK)
        return fail(L);
    return 0;
}

static int l_conv2d_sparse_backward(lua_State *L)
{
    struct rp_tensor *dx = lua_isnoneornil(L, 1) ? NULL : rpl_check_tensor(L, 1);
    struct rp_tensor *dw = rpl_check_tensor(L, 2);
    struct rp_tensor *db = lua_isnoneornil(L, 3) ? NULL : rpl_check_tensor(L, 3);
    struct rp_tensor *dy = rpl_check_tensor(L, 4), *x = rpl_check_tensor(L, 5);
    struct rp_tensor *w = rpl_check_tensor(L, 6), *ws = rpl_check_tensor(L, 7);
    struct rp_conv2d_params p = rpl_conv_params(L, 8);
    float scale = (float)luaL_checknumber(L, 14);
    if (rp_conv2d_sparse_backward(dx, dw, db, dy, x, w, ws, &p, check_plan(L, 15), scale) != RP_OK)
        return fail(L);
    return 0;
}

void rpl_open_sparse(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"sparse_plan", l_sparse_plan},
                                     {"sparse_info", l_sparse_info},
                                     {"mask_hash", l_mask_hash},
                                     {"mask_digest", l_mask_digest},
                                     {"sparse_plan_kernel", l_sparse_plan_kernel},
                                     {"conv2d_choose", l_conv2d_choose},
                                     {"conv2d_sparse_kernel", l_conv2d_sparse_kernel},
                                     {"conv2d_sparse_shapes", l_conv2d_sparse_shapes},
                                     {"conv2d_sparse_forward", l_conv2d_sparse_forward},
                                     {"conv2d_sparse_backward", l_conv2d_sparse_backward},
                                     {NULL, NULL}};
    if (luaL_newmetatable(L, RPL_SPARSE_PLAN)) {
        lua_pushcfunction(L, plan_gc);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, plan_gc);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
