/***
 * l_tensor.c - the realprune.Tensor userdata.
 *
 * This is the one place where Lua's 1-based indices become the core's 0-based
 * ones.  Argument errors name the function and the argument (luaL_argerror);
 * failures of the core raise "<Class:method>: <message>".
 *
 * @module realprune.core.tensor
 */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "lrp.h"

/* ---- userdata ------------------------------------------------------------ */

rpl_tensor *rpl_push_shell(lua_State *L)
{
    rpl_tensor *u = lua_newuserdatauv(L, sizeof *u, 0);
    u->t = NULL;
    luaL_setmetatable(L, RPL_TENSOR);
    return u;
}

/* The collector only sees the small userdata, not the storage behind it, so
 * a loop creating large tensors would let memory grow far past what is live.
 * Each new storage therefore advances the collector as if its bytes had been
 * allocated by Lua (the same pacing Lua applies to its own objects). */
static void account(lua_State *L, const struct rp_tensor *t)
{
    int64_t kb = t ? t->numel >> 8 : 0; /* 4 bytes per element, in KiB */
    if (kb >= 64 && lua_gc(L, LUA_GCISRUNNING))
        lua_gc(L, LUA_GCSTEP, kb > INT_MAX ? INT_MAX : (int)kb);
}

/* Returns the new tensor on top of the stack, advancing the collector for
 * its size.  The step may run finalizers (which may release tensors), so it
 * comes last, after every raw pointer of the call has been used.  For the
 * same reason functions that make a tensor push its shell *before* they look
 * up their tensor arguments: allocating the shell may run finalizers too. */
static int finish(lua_State *L)
{
    rpl_tensor *u = lua_touserdata(L, -1);
    account(L, u->t);
    return 1;
}

struct rp_tensor *rpl_test_tensor(lua_State *L, int arg)
{
    rpl_tensor *u = luaL_testudata(L, arg, RPL_TENSOR);
    return u ? u->t : NULL;
}

struct rp_tensor *rpl_check_tensor(lua_State *L, int arg)
{
    rpl_tensor *u = luaL_checkudata(L, arg, RPL_TENSOR);
    if (!u->t)
        luaL_argerror(L, arg, "tensor has been released");
    return u->t;
}

int rpl_fail(lua_State *L, const char *fname)
{
    return luaL_error(L, "%s: %s", fname, rp_last_error());
}

static void check_shape_entry(lua_State *L, int arg, int pos, int64_t *dst)
{
    int isint;
    lua_Integer v = lua_tointegerx(L, -1, &isint);
    if (!isint || lua_type(L, -1) != LUA_TNUMBER)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "size %d of the shape must be an integer, got %s", pos,
                                      luaL_typename(L, -1)));
    if (v < 0)
        luaL_argerror(
            L, arg,
            lua_pushfstring(L, "size %d of the shape must be non-negative, got %I", pos, v));
    *dst = (int64_t)v;
}

int rpl_check_shape(lua_State *L, int arg, int varargs, int64_t *shape)
{
    int ndim;
    if (lua_type(L, arg) == LUA_TTABLE) {
        lua_Unsigned n = lua_rawlen(L, arg);
        if (n > RP_MAX_DIMS)
            luaL_argerror(
                L, arg,
                lua_pushfstring(L, "a shape has at most %d sizes, got %d", RP_MAX_DIMS, (int)n));
        ndim = (int)n;
        for (int d = 0; d < ndim; d++) {
            lua_rawgeti(L, arg, d + 1);
            check_shape_entry(L, arg, d + 1, &shape[d]);
            lua_pop(L, 1);
        }
    } else if (lua_type(L, arg) == LUA_TNUMBER) {
        int top = varargs ? lua_gettop(L) : arg;
        ndim = top - arg + 1;
        if (ndim > RP_MAX_DIMS)
            luaL_argerror(
                L, arg,
                lua_pushfstring(L, "a shape has at most %d sizes, got %d", RP_MAX_DIMS, ndim));
        for (int d = 0; d < ndim; d++) {
            lua_pushvalue(L, arg + d);
            check_shape_entry(L, arg + d, d + 1, &shape[d]);
            lua_pop(L, 1);
        }
    } else {
        return luaL_argerror(
            L, arg,
            lua_pushfstring(L, "shape (table of sizes) expected, got %s", luaL_typename(L, arg)));
    }
    int64_t numel;
    if (rp_shape_check(ndim, shape, &numel) != RP_OK)
        luaL_argerror(L, arg, rp_last_error());
    return ndim;
}

/* Creates a zero tensor of `shape` as a userdata on the stack. */
static struct rp_tensor *push_new(lua_State *L, int ndim, const int64_t *shape, const char *fname)
{
    rpl_tensor *u = rpl_push_shell(L);
    if (rp_tensor_new(&u->t, ndim, shape) != RP_OK)
        rpl_fail(L, fname);
    return u->t;
}

/* Clones the tensor argument at `arg` into the shell on top of the stack. */
static struct rp_tensor *clone_into(lua_State *L, rpl_tensor *u, int arg, const char *fname)
{
    struct rp_tensor *t = rpl_check_tensor(L, arg);
    if (rp_tensor_clone(&u->t, t) != RP_OK)
        rpl_fail(L, fname);
    return u->t;
}

static float check_float(lua_State *L, int arg)
{
    if (lua_type(L, arg) != LUA_TNUMBER)
        luaL_typeerror(L, arg, "number");
    return (float)lua_tonumber(L, arg);
}

/* ---- constructors -------------------------------------------------------- */

/*** zeros(shape) -> a tensor of zeros; shape is {d1, d2, ...} or d1, d2, ...
 * @function zeros */
static int l_zeros(lua_State *L)
{
    int64_t shape[RP_MAX_DIMS];
    int nd = rpl_check_shape(L, 1, 1, shape);
    push_new(L, nd, shape, "tensor.zeros");
    return finish(L);
}

/*** ones(shape) -> a tensor of ones.
 * @function ones */
static int l_ones(lua_State *L)
{
    int64_t shape[RP_MAX_DIMS];
    int nd = rpl_check_shape(L, 1, 1, shape);
    rp_tensor_fill(push_new(L, nd, shape, "tensor.ones"), 1.0f);
    return finish(L);
}

/*** full(shape, v) -> a tensor filled with v.
 * @function full */
static int l_full(lua_State *L)
{
    int64_t shape[RP_MAX_DIMS];
    int nd = rpl_check_shape(L, 1, 0, shape);
    float v = check_float(L, 2);
    rp_tensor_fill(push_new(L, nd, shape, "tensor.full"), v);
    return finish(L);
}

/*** rand(shape[, gen]) -> uniform [0, 1) values from gen (default generator).
 * @function rand */
static int l_rand(lua_State *L)
{
    int64_t shape[RP_MAX_DIMS];
    int nd = rpl_check_shape(L, 1, 0, shape);
    struct rp_rng *g = rpl_opt_generator(L, 2);
    rp_tensor_fill_uniform(push_new(L, nd, shape, "tensor.rand"), g, 0.0f, 1.0f);
    return finish(L);
}

/*** randn(shape[, gen]) -> standard normal values from gen.
 * @function randn */
static int l_randn(lua_State *L)
{
    int64_t shape[RP_MAX_DIMS];
    int nd = rpl_check_shape(L, 1, 0, shape);
    struct rp_rng *g = rpl_opt_generator(L, 2);
    rp_tensor_fill_normal(push_new(L, nd, shape, "tensor.randn"), g, 0.0f, 1.0f);
    return finish(L);
}

/*** arange(n) -> 0, 1, ..., n-1; arange(a, b[, step]) -> a, a+step, ... < b.
 * @function arange */
static int l_arange(lua_State *L)
{
    double a = 0, b, step = 1;
    if (lua_isnoneornil(L, 2)) {
        b = luaL_checknumber(L, 1);
    } else {
        a = luaL_checknumber(L, 1);
        b = luaL_checknumber(L, 2);
        step = luaL_optnumber(L, 3, 1.0);
    }
    luaL_argcheck(L, step != 0 && isfinite(step), 3, "step must be a finite non-zero number");
    luaL_argcheck(L, isfinite(a) && isfinite(b), 1, "bounds must be finite");
    double count = ceil((b - a) / step);
    luaL_argcheck(L, count <= (double)RP_MAX_NUMEL, 1, "too many elements");
    int64_t n = count > 0 ? (int64_t)count : 0;
    rp_tensor_arange(push_new(L, 1, &n, "tensor.arange"), a, step);
    return finish(L);
}

/* from(): the nested table is walked twice: once to find and check the shape
 * (raising before anything is allocated), once to copy the numbers. */
struct nest {
    int ndim;
    int64_t shape[RP_MAX_DIMS];
    int64_t path[RP_MAX_DIMS];
};

static const char *nest_path(lua_State *L, const struct nest *n, int depth)
{
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    for (int d = 0; d < depth; d++) {
        char item[32];
        snprintf(item, sizeof item, "[%lld]", (long long)n->path[d]);
        luaL_addstring(&b, item);
    }
    luaL_pushresult(&b);
    return lua_tostring(L, -1);
}

static void nest_check(lua_State *L, struct nest *n, int depth)
{
    /* value to check is on top of the stack */
    if (depth == n->ndim) {
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_argerror(L, 1,
                          lua_pushfstring(L, "element %s is a %s, expected a number",
                                          nest_path(L, n, depth), luaL_typename(L, -1)));
        return;
    }
    if (lua_type(L, -1) != LUA_TTABLE)
        luaL_argerror(L, 1,
                      lua_pushfstring(L,
                                      "ragged nested table: element %s is a %s, "
                                      "expected a table of %I",
                                      nest_path(L, n, depth), luaL_typename(L, -1),
                                      (lua_Integer)n->shape[depth]));
    lua_Unsigned len = lua_rawlen(L, -1);
    if ((int64_t)len != n->shape[depth])
        luaL_argerror(L, 1,
                      lua_pushfstring(L,
                                      "ragged nested table: element %s has %I entries, "
                                      "expected %I",
                                      depth ? nest_path(L, n, depth) : "(top)", (lua_Integer)len,
                                      (lua_Integer)n->shape[depth]));
    luaL_checkstack(L, 4, "nested table too deep");
    for (int64_t i = 1; i <= n->shape[depth]; i++) {
        n->path[depth] = i;
        lua_rawgeti(L, -1, (lua_Integer)i);
        nest_check(L, n, depth + 1);
        lua_pop(L, 1);
    }
}

static float *nest_copy(lua_State *L, int ndim, const int64_t *shape, int depth, float *dst)
{
    if (depth == ndim) {
        *dst++ = (float)lua_tonumber(L, -1);
        return dst;
    }
    for (int64_t i = 1; i <= shape[depth]; i++) {
        lua_rawgeti(L, -1, (lua_Integer)i);
        dst = nest_copy(L, ndim, shape, depth + 1, dst);
        lua_pop(L, 1);
    }
    return dst;
}

/*** from(nested) -> a tensor from a nested table of numbers ({{1,2},{3,4}}),
 *  a number (a 0-dimensional tensor) or a tensor (a copy).
 * @function from */
static int l_from(lua_State *L)
{
    struct nest n = {0};
    lua_settop(L, 1);
    rpl_tensor *u = rpl_push_shell(L); /* index 2, before anything is checked */
    if (luaL_testudata(L, 1, RPL_TENSOR)) {
        clone_into(L, u, 1, "tensor.from");
        return finish(L);
    }
    if (lua_type(L, 1) == LUA_TNUMBER) {
        if (rp_tensor_new(&u->t, 0, n.shape) != RP_OK)
            return rpl_fail(L, "tensor.from");
        rp_tensor_fill(u->t, (float)lua_tonumber(L, 1));
        return finish(L);
    }
    luaL_argexpected(L, lua_type(L, 1) == LUA_TTABLE, 1, "table");
    /* shape from the first element at each level */
    lua_pushvalue(L, 1);
    while (lua_type(L, -1) == LUA_TTABLE) {
        if (n.ndim == RP_MAX_DIMS)
            luaL_argerror(L, 1,
                          lua_pushfstring(L, "nested table deeper than %d levels", RP_MAX_DIMS));
        n.shape[n.ndim++] = (int64_t)lua_rawlen(L, -1);
        if (n.shape[n.ndim - 1] == 0)
            break;
        lua_rawgeti(L, -1, 1);
    }
    lua_settop(L, 2);
    lua_pushvalue(L, 1);
    nest_check(L, &n, 0);
    /* nothing between the check and the copy runs Lua code or the collector */
    if (rp_tensor_new(&u->t, n.ndim, n.shape) != RP_OK)
        return rpl_fail(L, "tensor.from");
    nest_copy(L, n.ndim, n.shape, 0, u->t->data);
    lua_pop(L, 1);
    return finish(L);
}

/* ---- shape and indexing -------------------------------------------------- */

static void push_shape(lua_State *L, const struct rp_tensor *t)
{
    lua_createtable(L, t->ndim, 0);
    for (int d = 0; d < t->ndim; d++) {
        lua_pushinteger(L, (lua_Integer)t->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
}

/*** t:shape() -> {d1, d2, ...}
 * @function Tensor:shape */
static int t_shape(lua_State *L)
{
    push_shape(L, rpl_check_tensor(L, 1));
    return 1;
}

/*** t:dim() -> number of dimensions
 * @function Tensor:dim */
static int t_dim(lua_State *L)
{
    lua_pushinteger(L, rpl_check_tensor(L, 1)->ndim);
    return 1;
}

/*** t:numel() -> number of elements
 * @function Tensor:numel */
static int t_numel(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rpl_check_tensor(L, 1)->numel);
    return 1;
}

/* A 1-based dimension argument (negative counts from the end) -> 0-based. */
static int check_dim(lua_State *L, int arg, const struct rp_tensor *t)
{
    lua_Integer d = luaL_checkinteger(L, arg);
    lua_Integer nd = t->ndim;
    if (d < 0)
        d += nd + 1;
    if (d < 1 || d > nd)
        luaL_argerror(L, arg,
                      lua_pushfstring(L,
                                      "dimension %I is out of range 1..%I for a "
                                      "%I-dimensional tensor",
                                      luaL_checkinteger(L, arg), nd, nd));
    return (int)(d - 1);
}

/*** t:size(d) -> size of dimension d (1-based; -1 is the last)
 * @function Tensor:size */
static int t_size(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    lua_pushinteger(L, (lua_Integer)t->shape[check_dim(L, 2, t)]);
    return 1;
}

/* Reads ndim 1-based indices from `arg` on and returns the flat offset. */
static int64_t check_index(lua_State *L, int arg, const struct rp_tensor *t)
{
    int given = lua_gettop(L) - arg + 1;
    if (given != t->ndim)
        luaL_error(L,
                   "bad argument #%d to '%s' (%d indices expected for a %d-dimensional "
                   "tensor, got %d)",
                   arg - 1, arg == 2 ? "get" : "set", t->ndim, t->ndim, given < 0 ? 0 : given);
    int64_t off = 0;
    for (int d = 0; d < t->ndim; d++) {
        lua_Integer i = luaL_checkinteger(L, arg + d);
        if (i < 1 || i > t->shape[d])
            luaL_argerror(L, arg + d,
                          lua_pushfstring(L,
                                          "index %I is out of range 1..%I for "
                                          "dimension %d",
                                          i, (lua_Integer)t->shape[d], d + 1));
        off = off * t->shape[d] + (i - 1);
    }
    return off;
}

/*** t:get(i, j, ...) -> the element at 1-based indices (one per dimension)
 * @function Tensor:get */
static int t_get(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    lua_pushnumber(L, t->data[check_index(L, 2, t)]);
    return 1;
}

/*** t:set(v, i, j, ...) sets the element at 1-based indices; returns t
 * @function Tensor:set */
static int t_set(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    float v = check_float(L, 2);
    t->data[check_index(L, 3, t)] = v;
    lua_settop(L, 1);
    return 1;
}

static void push_table(lua_State *L, const float *x, const int64_t *shape, int ndim)
{
    if (ndim == 0) {
        lua_pushnumber(L, *x);
        return;
    }
    int64_t row = 1;
    for (int d = 1; d < ndim; d++)
        row *= shape[d];
    luaL_checkstack(L, 3, "tensor too deep");
    lua_createtable(L, (int)(shape[0] < 1 << 30 ? shape[0] : 0), 0);
    for (int64_t i = 0; i < shape[0]; i++) {
        push_table(L, x + i * row, shape + 1, ndim - 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
}

/*** t:totable() -> nested Lua tables of numbers (a number for a 0-d tensor)
 * @function Tensor:totable */
static int t_totable(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    int64_t tables = 0, level = 1;
    for (int d = 0; d + 1 < t->ndim; d++) {
        level *= t->shape[d];
        tables += level;
    }
    if (tables > (1 << 26) || t->numel > (1 << 28))
        return luaL_error(L,
                          "Tensor:totable: a %d-dimensional tensor of %I elements is too large "
                          "for Lua tables",
                          t->ndim, (lua_Integer)t->numel);
    push_table(L, t->data, t->shape, t->ndim);
    return 1;
}

/*** t:clone() -> a copy with its own storage
 * @function Tensor:clone */
static int t_clone(lua_State *L)
{
    clone_into(L, rpl_push_shell(L), 1, "Tensor:clone");
    return finish(L);
}

/*** t:copy(src) copies src (broadcast to t's shape) into t; returns t
 * @function Tensor:copy */
static int t_copy(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1), *s = rpl_check_tensor(L, 2);
    if (rp_tensor_copy(t, s) != RP_OK)
        return rpl_fail(L, "Tensor:copy");
    lua_settop(L, 1);
    return 1;
}

/*** t:fill(v) sets every element to v; returns t
 * @function Tensor:fill */
static int t_fill(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    rp_tensor_fill(t, check_float(L, 2));
    lua_settop(L, 1);
    return 1;
}

/*** t:reshape(shape) -> a view with a new shape and the same storage; one
 *  size may be -1 and is inferred.
 * @function Tensor:reshape */
static int t_reshape(lua_State *L)
{
    rpl_check_tensor(L, 1);
    int64_t shape[RP_MAX_DIMS];
    int nd;
    int arg = 2;
    if (lua_type(L, arg) == LUA_TTABLE) {
        lua_Unsigned n = lua_rawlen(L, arg);
        luaL_argcheck(L, n <= RP_MAX_DIMS, arg, "a shape has at most 5 sizes");
        nd = (int)n;
        for (int d = 0; d < nd; d++) {
            lua_rawgeti(L, arg, d + 1);
            int isint;
            shape[d] = (int64_t)lua_tointegerx(L, -1, &isint);
            if (!isint || lua_type(L, -1) != LUA_TNUMBER)
                luaL_argerror(L, arg,
                              lua_pushfstring(L,
                                              "size %d of the shape must be an "
                                              "integer, got %s",
                                              d + 1, luaL_typename(L, -1)));
            lua_pop(L, 1);
        }
    } else {
        nd = lua_gettop(L) - 1;
        luaL_argcheck(L, nd >= 1, arg, "shape expected");
        luaL_argcheck(L, nd <= RP_MAX_DIMS, arg, "a shape has at most 5 sizes");
        for (int d = 0; d < nd; d++)
            shape[d] = (int64_t)luaL_checkinteger(L, arg + d);
    }
    rpl_tensor *u = rpl_push_shell(L);
    if (rp_tensor_view(&u->t, rpl_check_tensor(L, 1), nd, shape) != RP_OK)
        return rpl_fail(L, "Tensor:reshape");
    return 1; /* a view: no new storage */
}

/* ---- arithmetic ---------------------------------------------------------- */

static const char *const op_names[] = {"Tensor:add", "Tensor:sub", "Tensor:mul", "Tensor:div"};

/* a op b where either may be a number (methods and metamethods alike). */
static int arith(lua_State *L, enum rp_binop op)
{
    lua_settop(L, 2);
    rpl_tensor *u = rpl_push_shell(L);
    struct rp_tensor *a = rpl_test_tensor(L, 1), *b = rpl_test_tensor(L, 2);
    if (a && b) {
        if (rp_tensor_binary(&u->t, op, a, b) != RP_OK)
            return rpl_fail(L, op_names[op]);
        return finish(L);
    }
    int ti = a ? 1 : 2, si = a ? 2 : 1;
    if (!a && !b) {
        rpl_check_tensor(L, 1); /* raises a type or "released" error */
        ti = 1, si = 2;
    }
    if (lua_type(L, si) != LUA_TNUMBER) {
        if (luaL_testudata(L, si, RPL_TENSOR))
            rpl_check_tensor(L, si); /* released */
        luaL_argerror(L, si,
                      lua_pushfstring(L, "realprune.Tensor or number expected, got %s",
                                      luaL_typename(L, si)));
    }
    float s = (float)lua_tonumber(L, si);
    rp_tensor_scalar_(clone_into(L, u, ti, op_names[op]), op, s, si == 1);
    return finish(L);
}

/*** t:add(o) -> t + o (o a tensor, broadcast, or a number)
 * @function Tensor:add */
static int t_add(lua_State *L)
{
    return arith(L, RP_OP_ADD);
}
/*** t:sub(o) -> t - o
 * @function Tensor:sub */
static int t_sub(lua_State *L)
{
    return arith(L, RP_OP_SUB);
}
/*** t:mul(o) -> t * o, elementwise
 * @function Tensor:mul */
static int t_mul(lua_State *L)
{
    return arith(L, RP_OP_MUL);
}
/*** t:div(o) -> t / o, elementwise
 * @function Tensor:div */
static int t_div(lua_State *L)
{
    return arith(L, RP_OP_DIV);
}

static int arith_inplace(lua_State *L, enum rp_binop op)
{
    static const char *const names[] = {"Tensor:add_", "Tensor:sub_", "Tensor:mul_", "Tensor:div_"};
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    if (lua_type(L, 2) == LUA_TNUMBER) {
        rp_tensor_scalar_(t, op, (float)lua_tonumber(L, 2), 0);
    } else {
        struct rp_tensor *o = rpl_test_tensor(L, 2);
        if (!o) {
            if (luaL_testudata(L, 2, RPL_TENSOR))
                rpl_check_tensor(L, 2);
            luaL_argerror(L, 2,
                          lua_pushfstring(L, "realprune.Tensor or number expected, got %s",
                                          luaL_typename(L, 2)));
        }
        if (rp_tensor_binary_(t, op, o) != RP_OK)
            return rpl_fail(L, names[op]);
    }
    lua_settop(L, 1);
    return 1;
}

/*** t:add_(o) adds o (tensor broadcast to t's shape, or number) in place; returns t
 * @function Tensor:add_ */
static int t_add_(lua_State *L)
{
    return arith_inplace(L, RP_OP_ADD);
}
/*** t:sub_(o) in place; returns t
 * @function Tensor:sub_ */
static int t_sub_(lua_State *L)
{
    return arith_inplace(L, RP_OP_SUB);
}
/*** t:mul_(o) in place; returns t
 * @function Tensor:mul_ */
static int t_mul_(lua_State *L)
{
    return arith_inplace(L, RP_OP_MUL);
}
/*** t:div_(o) in place; returns t
 * @function Tensor:div_ */
static int t_div_(lua_State *L)
{
    return arith_inplace(L, RP_OP_DIV);
}

static int t_unm(lua_State *L)
{
    rp_tensor_scalar_(clone_into(L, rpl_push_shell(L), 1, "Tensor:__unm"), RP_OP_MUL, -1.0f, 0);
    return finish(L);
}

/*** t:abs() -> |t|
 * @function Tensor:abs */
static int t_abs(lua_State *L)
{
    rp_tensor_abs_(clone_into(L, rpl_push_shell(L), 1, "Tensor:abs"));
    return finish(L);
}

/*** t:matmul(o) -> matrix product: [m,k] x [k,n] -> [m,n]; [m,k] x [k] -> [m];
 *  [k] x [k,n] -> [n]
 * @function Tensor:matmul */
static int t_matmul(lua_State *L)
{
    lua_settop(L, 2);
    rpl_tensor *u = rpl_push_shell(L);
    struct rp_tensor *a = rpl_check_tensor(L, 1), *b = rpl_check_tensor(L, 2);
    if (rp_tensor_matmul(&u->t, a, b) != RP_OK)
        return rpl_fail(L, "Tensor:matmul");
    return finish(L);
}

/* ---- reductions ---------------------------------------------------------- */

/*** t:sum([dim]) -> sum of all elements (a number), or a tensor summed over
 *  dimension dim (removed from the shape)
 * @function Tensor:sum */
static int t_sum(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_pushnumber(L, rp_tensor_sum(t));
        return 1;
    }
    int d = check_dim(L, 2, t);
    lua_settop(L, 2);
    rpl_tensor *u = rpl_push_shell(L);
    if (rp_tensor_sum_dim(&u->t, rpl_check_tensor(L, 1), d) != RP_OK)
        return rpl_fail(L, "Tensor:sum");
    return finish(L);
}

/*** t:mean([dim]) -> mean of all elements (NaN if empty), or along dim
 * @function Tensor:mean */
static int t_mean(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        lua_pushnumber(L, rp_tensor_sum(t) / (double)t->numel);
        return 1;
    }
    int d = check_dim(L, 2, t);
    lua_settop(L, 2);
    rpl_tensor *u = rpl_push_shell(L);
    t = rpl_check_tensor(L, 1);
    if (rp_tensor_sum_dim(&u->t, t, d) != RP_OK)
        return rpl_fail(L, "Tensor:mean");
    rp_tensor_scalar_(u->t, RP_OP_DIV, (float)t->shape[d], 0);
    return finish(L);
}

/*** t:min() -> smallest element (NaN if any is NaN)
 * @function Tensor:min */
static int t_min(lua_State *L)
{
    double v;
    if (rp_tensor_min(&v, rpl_check_tensor(L, 1)) != RP_OK)
        return rpl_fail(L, "Tensor:min");
    lua_pushnumber(L, v);
    return 1;
}

/*** t:max() -> largest element (NaN if any is NaN)
 * @function Tensor:max */
static int t_max(lua_State *L)
{
    double v;
    if (rp_tensor_max(&v, rpl_check_tensor(L, 1)) != RP_OK)
        return rpl_fail(L, "Tensor:max");
    lua_pushnumber(L, v);
    return 1;
}

/*** t:norm([p]) -> p-norm of all elements (p = 2 by default; math.huge: max |x|)
 * @function Tensor:norm */
static int t_norm(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    double p = luaL_optnumber(L, 2, 2.0), v;
    if (rp_tensor_norm(&v, t, p) != RP_OK)
        luaL_argerror(L, 2, rp_last_error());
    lua_pushnumber(L, v);
    return 1;
}

/*** t:count_nonzero() -> number of elements that are not 0
 * @function Tensor:count_nonzero */
static int t_count_nonzero(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rp_tensor_count_nonzero(rpl_check_tensor(L, 1)));
    return 1;
}

/*** t:count_nonfinite() -> number of NaN or infinite elements
 * @function Tensor:count_nonfinite */
static int t_count_nonfinite(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)rp_tensor_count_nonfinite(rpl_check_tensor(L, 1)));
    return 1;
}

/*** t:argmax([dim]) -> 1-based flat index of the first maximum, or a tensor
 *  of 1-based indices of the maxima along dim (dim removed)
 * @function Tensor:argmax */
static int t_argmax(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    if (lua_isnoneornil(L, 2)) {
        int64_t i;
        if (rp_tensor_argmax(&i, t) != RP_OK)
            return rpl_fail(L, "Tensor:argmax");
        lua_pushinteger(L, (lua_Integer)i + 1);
        return 1;
    }
    int d = check_dim(L, 2, t);
    lua_settop(L, 2);
    rpl_tensor *u = rpl_push_shell(L);
    if (rp_tensor_argmax_dim(&u->t, rpl_check_tensor(L, 1), d) != RP_OK)
        return rpl_fail(L, "Tensor:argmax");
    rp_tensor_scalar_(u->t, RP_OP_ADD, 1.0f, 0);
    return finish(L);
}

/* ---- metamethods --------------------------------------------------------- */

static int t_gc(lua_State *L)
{
    rpl_tensor *u = luaL_checkudata(L, 1, RPL_TENSOR);
    rp_tensor_free(u->t);
    u->t = NULL;
    return 0;
}

static int t_len(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    if (t->ndim == 0)
        return luaL_error(L, "Tensor:__len: a 0-dimensional tensor has no length");
    lua_pushinteger(L, (lua_Integer)t->shape[0]);
    return 1;
}

/* t[i]: a view of row i (1-based) along the first dimension, or the number
 * for a 1-D tensor; any other key looks up a method. */
static int t_index(lua_State *L)
{
    if (lua_type(L, 2) == LUA_TNUMBER) {
        struct rp_tensor *t = rpl_check_tensor(L, 1);
        lua_Integer i = luaL_checkinteger(L, 2);
        if (t->ndim == 0)
            return luaL_error(L, "Tensor:__index: cannot index a 0-dimensional tensor");
        if (i < 1 || i > t->shape[0])
            return luaL_error(L, "Tensor:__index: index %I is out of range 1..%I", i,
                              (lua_Integer)t->shape[0]);
        if (t->ndim == 1) {
            lua_pushnumber(L, t->data[i - 1]);
            return 1;
        }
        rpl_tensor *u = rpl_push_shell(L);
        if (rp_tensor_select(&u->t, rpl_check_tensor(L, 1), (int64_t)i - 1) != RP_OK)
            return rpl_fail(L, "Tensor:__index");
        return 1;
    }
    lua_pushvalue(L, 2);
    lua_rawget(L, lua_upvalueindex(1));
    return 1;
}

/* t[i] = v: sets element i of a 1-D tensor, or copies v (number or tensor,
 * broadcast) into row i. */
static int t_newindex(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    if (lua_type(L, 2) != LUA_TNUMBER)
        return luaL_error(L, "Tensor:__newindex: integer index expected, got %s",
                          luaL_typename(L, 2));
    lua_Integer i = luaL_checkinteger(L, 2);
    if (t->ndim == 0)
        return luaL_error(L, "Tensor:__newindex: cannot index a 0-dimensional tensor");
    if (i < 1 || i > t->shape[0])
        return luaL_error(L, "Tensor:__newindex: index %I is out of range 1..%I", i,
                          (lua_Integer)t->shape[0]);
    lua_settop(L, 3);
    rpl_tensor *u = rpl_push_shell(L);
    if (rp_tensor_select(&u->t, rpl_check_tensor(L, 1), (int64_t)i - 1) != RP_OK)
        return rpl_fail(L, "Tensor:__newindex");
    if (lua_type(L, 3) == LUA_TNUMBER) {
        rp_tensor_fill(u->t, (float)lua_tonumber(L, 3));
    } else {
        struct rp_tensor *src = rpl_test_tensor(L, 3);
        if (!src)
            return luaL_error(L,
                              "Tensor:__newindex: number or realprune.Tensor expected, "
                              "got %s",
                              luaL_typename(L, 3));
        if (rp_tensor_copy(u->t, src) != RP_OK)
            return rpl_fail(L, "Tensor:__newindex");
    }
    return 0;
}

/* ---- printing ------------------------------------------------------------ */

#define SUMMARY_THRESHOLD 1000 /* like NumPy: summarize larger tensors */
#define EDGE              3

static void fmt_value(char *buf, size_t n, float v)
{
    if (v == 0.0f)
        v = 0.0f; /* print -0 as 0 */
    snprintf(buf, n, "%.6g", (double)v);
}

struct printer {
    luaL_Buffer *b;
    int summarize;
    int width;
};

static void print_rec(struct printer *p, const float *x, const int64_t *shape, int ndim, int depth)
{
    char cell[48];
    if (ndim == 0) {
        fmt_value(cell, sizeof cell, *x);
        for (int k = (int)strlen(cell); k < p->width; k++)
            luaL_addchar(p->b, ' ');
        luaL_addstring(p->b, cell);
        return;
    }
    int64_t row = 1;
    for (int d = 1; d < ndim; d++)
        row *= shape[d];
    luaL_addchar(p->b, '[');
    for (int64_t i = 0; i < shape[0]; i++) {
        if (p->summarize && shape[0] > 2 * EDGE && i == EDGE) {
            luaL_addstring(p->b, ndim == 1 ? "..., " : "...,\n");
            if (ndim > 1)
                for (int k = 0; k <= depth; k++)
                    luaL_addchar(p->b, ' ');
            i = shape[0] - EDGE - 1;
            continue;
        }
        print_rec(p, x + i * row, shape + 1, ndim - 1, depth + 1);
        if (i + 1 < shape[0]) {
            luaL_addchar(p->b, ',');
            if (ndim == 1) {
                luaL_addchar(p->b, ' ');
            } else {
                for (int k = 1; k < ndim; k++)
                    luaL_addchar(p->b, '\n');
                for (int k = 0; k <= depth; k++)
                    luaL_addchar(p->b, ' ');
            }
        }
    }
    luaL_addchar(p->b, ']');
}

static int t_tostring(lua_State *L)
{
    rpl_tensor *u = luaL_checkudata(L, 1, RPL_TENSOR);
    if (!u->t) {
        lua_pushliteral(L, "realprune.Tensor(released)");
        return 1;
    }
    struct rp_tensor *t = u->t;
    char shp[96];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    luaL_addstring(&b, "realprune.Tensor(float32, ");
    luaL_addstring(&b, rp_shape_string(shp, sizeof shp, t->ndim, t->shape));
    luaL_addstring(&b, ")\n");
    struct printer p = {&b, t->numel > SUMMARY_THRESHOLD, 1};
    /* common width over all elements (cheap enough for printing) */
    for (int64_t i = 0; i < t->numel; i++) {
        char cell[48];
        fmt_value(cell, sizeof cell, t->data[i]);
        int w = (int)strlen(cell);
        if (w > p.width)
            p.width = w;
    }
    if (t->numel == 0 && t->ndim > 0)
        luaL_addstring(&b, "[]");
    else
        print_rec(&p, t->data, t->shape, t->ndim, 0);
    luaL_pushresult(&b);
    return 1;
}

/* ---- registration -------------------------------------------------------- */

void rpl_open_tensor(lua_State *L)
{
    static const luaL_Reg methods[] = {{"shape", t_shape},
                                       {"dim", t_dim},
                                       {"numel", t_numel},
                                       {"size", t_size},
                                       {"get", t_get},
                                       {"set", t_set},
                                       {"totable", t_totable},
                                       {"clone", t_clone},
                                       {"copy", t_copy},
                                       {"fill", t_fill},
                                       {"reshape", t_reshape},
                                       {"sum", t_sum},
                                       {"mean", t_mean},
                                       {"min", t_min},
                                       {"max", t_max},
                                       {"abs", t_abs},
                                       {"norm", t_norm},
                                       {"count_nonzero", t_count_nonzero},
                                       {"add", t_add},
                                       {"sub", t_sub},
                                       {"mul", t_mul},
                                       {"div", t_div},
                                       {"add_", t_add_},
                                       {"sub_", t_sub_},
                                       {"mul_", t_mul_},
                                       {"div_", t_div_},
                                       {"matmul", t_matmul},
                                       {"argmax", t_argmax},
                                       {"count_nonfinite", t_count_nonfinite},
                                       {NULL, NULL}};
    static const luaL_Reg meta[] = {
        {"__gc", t_gc},   {"__close", t_gc},          {"__len", t_len}, {"__tostring", t_tostring},
        {"__add", t_add}, {"__sub", t_sub},           {"__mul", t_mul}, {"__div", t_div},
        {"__unm", t_unm}, {"__newindex", t_newindex}, {NULL, NULL}};
    static const luaL_Reg funcs[] = {{"zeros", l_zeros},   {"ones", l_ones},   {"full", l_full},
                                     {"rand", l_rand},     {"randn", l_randn}, {"from", l_from},
                                     {"arange", l_arange}, {NULL, NULL}};

    if (luaL_newmetatable(L, RPL_TENSOR)) {
        luaL_setfuncs(L, meta, 0);
        luaL_newlib(L, methods);
        lua_pushvalue(L, -1);
        lua_setfield(L, -3, "methods"); /* Lua modules may add methods here */
        lua_pushcclosure(L, t_index, 1);
        lua_setfield(L, -2, "__index");
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
