/***
 * l_generator.c - the realprune.Generator userdata (an rp_rng by value).
 * @module realprune.core.generator
 */
#include <string.h>

#include "lrp.h"

#define DEFAULT_KEY "realprune.default_generator"
#define STATE_BYTES (4 * 8 + 1 + 8)

static uint64_t check_seed(lua_State *L, int arg)
{
    if (!lua_isinteger(L, arg))
        return (uint64_t)luaL_argerror(
            L, arg,
            lua_type(L, arg) == LUA_TNUMBER
                ? "seed must be an integer, got a float"
                : lua_pushfstring(L, "integer seed expected, got %s", luaL_typename(L, arg)));
    return (uint64_t)lua_tointeger(L, arg);
}

static struct rp_rng *push_generator(lua_State *L)
{
    struct rp_rng *g = lua_newuserdatauv(L, sizeof *g, 0);
    memset(g, 0, sizeof *g);
    luaL_setmetatable(L, RPL_GENERATOR);
    return g;
}

struct rp_rng *rpl_check_generator(lua_State *L, int arg)
{
    return luaL_checkudata(L, arg, RPL_GENERATOR);
}

struct rp_rng *rpl_opt_generator(lua_State *L, int arg)
{
    if (!lua_isnoneornil(L, arg))
        return rpl_check_generator(L, arg);
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    struct rp_rng *g = luaL_testudata(L, -1, RPL_GENERATOR);
    if (!g)
        luaL_error(L, "the default generator is missing from the registry");
    lua_pop(L, 1); /* the registry keeps it alive */
    return g;
}

/*** generator(seed) -> a new Generator seeded with the integer `seed`.
 * @function generator */
static int l_generator(lua_State *L)
{
    uint64_t seed = check_seed(L, 1);
    rp_rng_seed(push_generator(L), seed);
    return 1;
}

/*** default_generator() -> the Generator used when none is passed.
 * @function default_generator */
static int l_default_generator(lua_State *L)
{
    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    return 1;
}

/*** g:seed(n) reseeds g; returns g.
 * @function Generator:seed */
static int g_seed(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    rp_rng_seed(g, check_seed(L, 2));
    lua_settop(L, 1);
    return 1;
}

/*** g:uniform([a, b]) -> a number in [a, b) (default [0, 1)).
 * @function Generator:uniform */
static int g_uniform(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    double a = luaL_optnumber(L, 2, 0.0), b = luaL_optnumber(L, 3, 1.0);
    lua_pushnumber(L, a + (b - a) * rp_rng_uniform(g));
    return 1;
}

/*** g:normal([mean, std]) -> a normally distributed number.
 * @function Generator:normal */
static int g_normal(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    double m = luaL_optnumber(L, 2, 0.0), s = luaL_optnumber(L, 3, 1.0);
    lua_pushnumber(L, m + s * rp_rng_normal(g));
    return 1;
}

/*** g:integer(n) -> an integer in 1..n; g:integer(m, n) -> in m..n.
 * @function Generator:integer */
static int g_integer(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    lua_Integer lo = 1, hi;
    if (lua_isnoneornil(L, 3)) {
        hi = luaL_checkinteger(L, 2);
    } else {
        lo = luaL_checkinteger(L, 2);
        hi = luaL_checkinteger(L, 3);
    }
    luaL_argcheck(L, lo <= hi, 2, lua_pushfstring(L, "empty interval %I..%I", lo, hi));
    uint64_t span = (uint64_t)hi - (uint64_t)lo + 1;
    uint64_t r = span == 0 ? rp_rng_next(g) : rp_rng_below(g, span);
    lua_pushinteger(L, (lua_Integer)((uint64_t)lo + r));
    return 1;
}

/*** g:state() -> a string holding the full state (for checkpoints).
 * @function Generator:state */
static int g_state(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    unsigned char buf[STATE_BYTES];
    for (int i = 0; i < 4; i++)
        for (int b = 0; b < 8; b++)
            buf[i * 8 + b] = (unsigned char)(g->s[i] >> (8 * b));
    buf[32] = (unsigned char)(g->has_spare != 0);
    memcpy(buf + 33, &g->spare, 8);
    lua_pushlstring(L, (const char *)buf, sizeof buf);
    return 1;
}

/*** g:set_state(s) restores a state returned by g:state(); returns g.
 * @function Generator:set_state */
static int g_set_state(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    size_t len;
    const unsigned char *buf = (const unsigned char *)luaL_checklstring(L, 2, &len);
    luaL_argcheck(
        L, len == STATE_BYTES, 2,
        lua_pushfstring(L, "generator state of %d bytes expected, got %d", STATE_BYTES, (int)len));
    for (int i = 0; i < 4; i++) {
        g->s[i] = 0;
        for (int b = 0; b < 8; b++)
            g->s[i] |= (uint64_t)buf[i * 8 + b] << (8 * b);
    }
    g->has_spare = buf[32] != 0;
    memcpy(&g->spare, buf + 33, 8);
    lua_settop(L, 1);
    return 1;
}

/*** g:clone() -> an independent Generator in the same state.
 * @function Generator:clone */
static int g_clone(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    *push_generator(L) = *g;
    return 1;
}

static int g_tostring(lua_State *L)
{
    struct rp_rng *g = rpl_check_generator(L, 1);
    lua_pushfstring(L, "realprune.Generator(xoshiro256**, %p)", (void *)g);
    return 1;
}

void rpl_open_generator(lua_State *L)
{
    static const luaL_Reg methods[] = {{"seed", g_seed},     {"uniform", g_uniform},
                                       {"normal", g_normal}, {"integer", g_integer},
                                       {"state", g_state},   {"set_state", g_set_state},
                                       {"clone", g_clone},   {NULL, NULL}};
    static const luaL_Reg funcs[] = {
        {"generator", l_generator}, {"default_generator", l_default_generator}, {NULL, NULL}};

    if (luaL_newmetatable(L, RPL_GENERATOR)) {
        luaL_newlib(L, methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, g_tostring);
        lua_setfield(L, -2, "__tostring");
    }
    lua_pop(L, 1);

    lua_getfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    if (lua_isnil(L, -1) || !luaL_testudata(L, -1, RPL_GENERATOR)) {
        rp_rng_seed(push_generator(L), 0);
        lua_setfield(L, LUA_REGISTRYINDEX, DEFAULT_KEY);
    }
    lua_pop(L, 1);
    luaL_setfuncs(L, funcs, 0);
}
