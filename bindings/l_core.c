/***
 * l_core.c - luaopen_realprune_core: the C module behind `require "realprune"`.
 *
 * The module table holds the tensor constructors (zeros, ones, full, rand,
 * randn, from, arange), the generator functions, and a few system calls
 * (clock, threads), and `names`, the core's name tables of its enumerations.
 * lua/realprune/init.lua arranges them into the public API.
 *
 * @module realprune.core
 */
#include "lrp.h"

#ifndef REALPRUNE_VERSION
#define REALPRUNE_VERSION "0.0.0"
#endif

/*** clock() -> monotonic wall-clock seconds
 * @function clock */
static int l_clock(lua_State *L)
{
    lua_pushnumber(L, rp_clock());
    return 1;
}

/*** set_threads(n): OpenBLAS threads for GEMM (n >= 1)
 * @function set_threads */
static int l_set_threads(lua_State *L)
{
    lua_Integer n = luaL_checkinteger(L, 1);
    luaL_argcheck(L, n >= 1 && n <= 1024, 1,
                  lua_pushfstring(L, "thread count must be in 1..1024, got %I", n));
    rp_blas_set_threads((int)n);
    return 0;
}

/*** get_threads() -> OpenBLAS threads in use
 * @function get_threads */
static int l_get_threads(lua_State *L)
{
    lua_pushinteger(L, rp_blas_get_threads());
    return 1;
}

/*** cpu_count() -> online processors
 * @function cpu_count */
static int l_cpu_count(lua_State *L)
{
    lua_pushinteger(L, rp_cpu_count());
    return 1;
}

/*** blas_info() -> the OpenBLAS core name
 * @function blas_info */
static int l_blas_info(lua_State *L)
{
    lua_pushstring(L, rp_blas_info());
    return 1;
}

/*** blas_wanted_core() -> the OpenBLAS core this processor calls for
 * ("SkylakeX" with AVX-512, "Haswell" with AVX2 and FMA), or nil
 * @function blas_wanted_core */
static int l_blas_wanted_core(lua_State *L)
{
    const char *want = rp_blas_wanted_core();
    if (want)
        lua_pushstring(L, want);
    else
        lua_pushnil(L);
    return 1;
}

/* names: {conv2d_algorithm = {...}, granularity = ..., score = ..., scope = ...,
 * encoding = ...}, the core's name tables (realprune/names.h) as Lua lists */
static void push_names(lua_State *L)
{
    static const struct {
        const char *key;
        const char *const *names;
    } tables[] = {{"conv2d_algorithm", rp_conv2d_algorithm_names},
                  {"granularity", rp_granularity_names},
                  {"score", rp_score_names},
                  {"scope", rp_scope_names},
                  {"encoding", rp_encoding_names}};
    lua_createtable(L, 0, 5);
    for (size_t t = 0; t < sizeof tables / sizeof tables[0]; t++) {
        lua_newtable(L);
        for (int i = 0; tables[t].names[i]; i++) {
            lua_pushstring(L, tables[t].names[i]);
            lua_rawseti(L, -2, i + 1);
        }
        lua_setfield(L, -2, tables[t].key);
    }
}

int luaopen_realprune_core(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"clock", l_clock},
                                     {"set_threads", l_set_threads},
                                     {"get_threads", l_get_threads},
                                     {"cpu_count", l_cpu_count},
                                     {"blas_info", l_blas_info},
                                     {"blas_wanted_core", l_blas_wanted_core},
                                     {NULL, NULL}};
    luaL_newlib(L, funcs);
    const char *core = rp_blas_better_core();
    if (core) /* loaded by another interpreter: the kernel is already chosen */
        fprintf(stderr,
                "realprune: OpenBLAS runs its %s kernel; this processor can run %s, several "
                "times faster: set OPENBLAS_CORETYPE=%s before starting\n",
                rp_blas_info(), core, core);
    rpl_open_tensor(L);
    rpl_open_generator(L);
    rpl_open_nn(L);
    rpl_open_data(L);
    rpl_open_io(L);
    rpl_open_xbar(L);
    rpl_open_prune(L);
    rpl_open_sparse(L);
    rpl_open_sys(L);
    rpl_open_faults(L);
    luaL_getmetatable(L, RPL_TENSOR);
    lua_getfield(L, -1, "methods");
    lua_setfield(L, -3, "tensor_methods");
    lua_setfield(L, -2, "tensor_metatable");
    push_names(L);
    lua_setfield(L, -2, "names");
    lua_pushliteral(L, REALPRUNE_VERSION);
    lua_setfield(L, -2, "VERSION");
    lua_pushliteral(L, LUA_RELEASE); /* the Lua headers it was built with */
    lua_setfield(L, -2, "lua_release");
    return 1;
}
