/*
 * l_prune.c - one pruning step for lua/realprune/prune.lua:
 *
 *   prune_apply({{weight=, mask=, R=, C=, channel_rows=, amount=}, ...},
 *               {granularity=, score=, scope=, amount=, rows=, L=, block_a=,
 *                block_b=, generator=})
 *     -> {{groups=, alive_before=, pruned=}, ...}   (masks updated in place)
 */
#include <string.h>

#include "lrp.h"
#include "realprune/prune.h"

static int64_t field_int(lua_State *L, int t, const char *k, int64_t dflt)
{
    lua_getfield(L, t, k);
    int64_t v = lua_isnil(L, -1) ? dflt : (int64_t)luaL_checkinteger(L, -1);
    lua_pop(L, 1);
    return v;
}

static double field_num(lua_State *L, int t, const char *k, double dflt)
{
    lua_getfield(L, t, k);
    double v = lua_isnil(L, -1) ? dflt : luaL_checknumber(L, -1);
    lua_pop(L, 1);
    return v;
}

/* Field k of table t, a name of `names` (realprune/names.h), as its value. */
static int option(lua_State *L, int t, const char *k, const char *const *names)
{
    int v;
    lua_getfield(L, t, k);
    if (rp_name_lookup(&v, names, luaL_checkstring(L, -1), k) != RP_OK)
        return luaL_error(L, "prune: %s", rp_last_error());
    lua_pop(L, 1);
    return v;
}

static int l_prune_apply(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_settop(L, 2);
    int n = (int)lua_rawlen(L, 1);
    struct rp_prune_layer *layers =
        lua_newuserdatauv(L, sizeof(struct rp_prune_layer) * (size_t)(n > 0 ? n : 1), 0);
    for (int k = 0; k < n; k++) {
        lua_rawgeti(L, 1, k + 1);
        int t = lua_gettop(L);
        luaL_checktype(L, t, LUA_TTABLE);
        lua_getfield(L, t, "weight");
        struct rp_tensor *w = rpl_check_tensor(L, -1);
        lua_getfield(L, t, "mask");
        struct rp_tensor *m = rpl_check_tensor(L, -1);
        lua_pop(L, 2); /* both stay referenced by the layer table */
        struct rp_prune_layer *l = &layers[k];
        memset(l, 0, sizeof *l);
        l->R = field_int(L, t, "R", 0);
        l->C = field_int(L, t, "C", 0);
        l->channel_rows = field_int(L, t, "channel_rows", 1);
        l->amount = field_num(L, t, "amount", 0);
        if (l->R < 1 || l->C < 1 || w->numel != l->R * l->C || m->numel != w->numel)
            return luaL_error(L, "prune: layer %d: weight, mask and R x C disagree", k + 1);
        if (l->channel_rows < 1 || l->R % l->channel_rows != 0)
            return luaL_error(L, "prune: layer %d: channel_rows must divide R", k + 1);
        l->weight = w->data;
        l->mask = m->data;
        lua_pop(L, 1);
    }
    struct rp_prune_spec s = rp_prune_spec_default();
    s.granularity = (enum rp_granularity)option(L, 2, "granularity", rp_granularity_names);
    s.score = (enum rp_score)option(L, 2, "score", rp_score_names);
    s.scope = (enum rp_scope)option(L, 2, "scope", rp_scope_names);
    s.amount = field_num(L, 2, "amount", s.amount);
    s.rows = (int)field_int(L, 2, "rows", s.rows);
    s.L = (int)field_int(L, 2, "L", s.L);
    s.block_a = field_int(L, 2, "block_a", s.block_a);
    s.block_b = field_int(L, 2, "block_b", s.block_b);
    lua_getfield(L, 2, "align");
    s.align = lua_toboolean(L, -1);
    lua_pop(L, 1);
    lua_getfield(L, 2, "generator");
    s.rng = rpl_opt_generator(L, -1);
    lua_pop(L, 1);
    if (rp_prune_apply(layers, n, &s) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    lua_createtable(L, n, 0);
    for (int k = 0; k < n; k++) {
        lua_createtable(L, 0, 3);
        lua_pushinteger(L, (lua_Integer)layers[k].groups);
        lua_setfield(L, -2, "groups");
        lua_pushinteger(L, (lua_Integer)layers[k].alive_before);
        lua_setfield(L, -2, "alive_before");
        lua_pushinteger(L, (lua_Integer)layers[k].pruned);
        lua_setfield(L, -2, "pruned");
        lua_rawseti(L, -2, k + 1);
    }
    return 1;
}

void rpl_open_prune(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"prune_apply", l_prune_apply}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
