/*
 * l_xbar.c - crossbar mapping for lua/realprune/xbar.lua.
 *
 * xbar_map(mask|nil, R, C, rows, cols, weight_bits, cell_bits, encoding,
 *          compact_rows, transpose) -> table of counts (of M^T when transpose)
 * xbar_counts(...same...) -> alive weights per crossbar, row block per crossbar
 * xbar_check(rows, cols, weight_bits, cell_bits, encoding) -> slices, phys, L
 * (encoding: a name of rp_encoding_names, "offset" or "differential")
 */
#include "lrp.h"
#include "realprune/io.h"
#include "realprune/xbar.h"

struct rp_xbar_config rpl_xbar_config(lua_State *L, int arg)
{
    struct rp_xbar_config c;
    c.rows = luaL_checkinteger(L, arg);
    c.cols = luaL_checkinteger(L, arg + 1);
    c.weight_bits = luaL_checkinteger(L, arg + 2);
    c.cell_bits = luaL_checkinteger(L, arg + 3);
    c.encoding = (enum rp_encoding)luaL_checkoption(L, arg + 4, NULL, rp_encoding_names);
    c.compact_rows = lua_toboolean(L, arg + 5);
    return c;
}

/* The mask at `arg` (nil: dense) checked against R x C. */
const float *rpl_xbar_mask(lua_State *L, int arg, int64_t R, int64_t C)
{
    if (lua_isnoneornil(L, arg))
        return NULL;
    struct rp_tensor *m = rpl_check_tensor(L, arg);
    if (m->numel != R * C)
        luaL_argerror(L, arg,
                      lua_pushfstring(L, "mask of %I values for a %Ix%I matrix",
                                      (lua_Integer)m->numel, (lua_Integer)R, (lua_Integer)C));
    return m->data;
}

static int l_xbar_map(lua_State *L)
{
    int64_t R = luaL_checkinteger(L, 2), C = luaL_checkinteger(L, 3);
    const float *mask = rpl_xbar_mask(L, 1, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 4);
    int transpose = lua_toboolean(L, 10);
    struct rp_xbar_map m;
    if ((transpose ? rp_xbar_map_transposed : rp_xbar_map_matrix)(&m, mask, R, C, &cfg) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    lua_createtable(L, 0, 20);
    RPL_SET_INT("rows", m.rows);
    RPL_SET_INT("cols", m.cols);
    RPL_SET_INT("slices", m.slices);
    RPL_SET_INT("phys", m.phys);
    RPL_SET_INT("L", m.L);
    RPL_SET_INT("weights", m.weights);
    RPL_SET_INT("alive", m.alive);
    RPL_SET_INT("row_blocks_dense", m.row_blocks_dense);
    RPL_SET_INT("col_tiles", m.col_tiles);
    RPL_SET_INT("crossbars_dense", m.crossbars_dense);
    RPL_SET_INT("rows_alive", m.rows_alive);
    RPL_SET_INT("row_blocks", m.row_blocks);
    RPL_SET_INT("segments_total", m.segments_total);
    RPL_SET_INT("segments_alive", m.segments_alive);
    RPL_SET_INT("crossbars", m.crossbars);
    RPL_SET_INT("max_block_rows", m.max_block_rows);
    RPL_SET_INT("active_rows", m.active_rows);
    lua_pushnumber(L, m.utilization);
    lua_setfield(L, -2, "utilization");
    return 1;
}

static int l_xbar_counts(lua_State *L)
{
    int64_t R = luaL_checkinteger(L, 2), C = luaL_checkinteger(L, 3);
    const float *mask = rpl_xbar_mask(L, 1, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 4);
    int transpose = lua_toboolean(L, 10);
    struct rp_xbar_map m;
    if ((transpose ? rp_xbar_map_transposed : rp_xbar_map_matrix)(&m, mask, R, C, &cfg) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    size_t n = (size_t)(m.crossbars > 0 ? m.crossbars : 1);
    int64_t *counts = lua_newuserdatauv(L, sizeof(int64_t) * n, 0);
    int64_t *blocks = lua_newuserdatauv(L, sizeof(int64_t) * n, 0);
    if ((transpose ? rp_xbar_crossbar_counts_transposed
                   : rp_xbar_crossbar_counts)(counts, blocks, mask, R, C, &cfg) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    lua_createtable(L, (int)m.crossbars, 0);
    lua_createtable(L, (int)m.crossbars, 0);
    for (int64_t i = 0; i < m.crossbars; i++) {
        lua_pushinteger(L, (lua_Integer)counts[i]);
        lua_rawseti(L, -3, (lua_Integer)i + 1);
        lua_pushinteger(L, (lua_Integer)blocks[i] + 1);
        lua_rawseti(L, -2, (lua_Integer)i + 1);
    }
    return 2;
}

/* xbar_reorder(mask, R, C, cfg...) -> crossbars before, after, perm (1-based) */
static int l_xbar_reorder(lua_State *L)
{
    int64_t R = luaL_checkinteger(L, 2), C = luaL_checkinteger(L, 3);
    const float *mask = rpl_xbar_mask(L, 1, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 4);
    int64_t *perm = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(R > 0 ? R : 1), 0);
    int64_t before, after;
    if (rp_xbar_reorder_rows(perm, &before, &after, mask, R, C, &cfg) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    lua_pushinteger(L, (lua_Integer)before);
    lua_pushinteger(L, (lua_Integer)after);
    lua_createtable(L, (int)R, 0);
    for (int64_t r = 0; r < R; r++) {
        lua_pushinteger(L, (lua_Integer)perm[r] + 1);
        lua_rawseti(L, -2, (lua_Integer)r + 1);
    }
    return 3;
}

static int l_xbar_check(lua_State *L)
{
    struct rp_xbar_config cfg = rpl_xbar_config(L, 1);
    int slices, phys, l;
    if (rp_xbar_config_check(&cfg, &slices, &phys, &l) != RP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rp_last_error());
        return 2;
    }
    lua_pushinteger(L, slices);
    lua_pushinteger(L, phys);
    lua_pushinteger(L, l);
    return 3;
}

/* xbar_default() -> {rows=, cols=, weight_bits=, cell_bits=, signed=, compact_rows=}:
 * rp_xbar_config_default() */
static int l_xbar_default(lua_State *L)
{
    struct rp_xbar_config c = rp_xbar_config_default();
    lua_createtable(L, 0, 6);
    RPL_SET_INT("rows", c.rows);
    RPL_SET_INT("cols", c.cols);
    RPL_SET_INT("weight_bits", c.weight_bits);
    RPL_SET_INT("cell_bits", c.cell_bits);
    lua_pushstring(L, rp_name_of(rp_encoding_names, (int)c.encoding));
    lua_setfield(L, -2, "signed");
    lua_pushboolean(L, c.compact_rows);
    lua_setfield(L, -2, "compact_rows");
    return 1;
}

int rpl_write_png(lua_State *L);
int rpl_text_rects(lua_State *L);

void rpl_open_xbar(lua_State *L)
{
    static const luaL_Reg funcs[] = {
        {"xbar_map", l_xbar_map},         {"write_png", rpl_write_png},
        {"text_rects", rpl_text_rects},   {"xbar_counts", l_xbar_counts},
        {"xbar_reorder", l_xbar_reorder}, {"xbar_check", l_xbar_check},
        {"xbar_default", l_xbar_default}, {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}

/* write_png(path, width, height, rgb_bytes) -> true | nil, message */
int rpl_write_png(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    lua_Integer w = luaL_checkinteger(L, 2), h = luaL_checkinteger(L, 3);
    size_t len;
    const char *px = luaL_checklstring(L, 4, &len);
    luaL_argcheck(L, w >= 1 && h >= 1 && w <= 32768 && h <= 32768, 2, "image size out of range");
    luaL_argcheck(L, len == (size_t)(w * h * 3), 4, "w * h * 3 bytes of RGB expected");
    if (rp_png_write(path, (int)w, (int)h, (const unsigned char *)px) != RP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rp_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* text_rects(text) -> {x0, y0, x1, y1, ...}: the filled rectangles of `text`
 * in the core's small bitmap font (about 6 px per character, 7 px high). */
int rpl_text_rects(lua_State *L)
{
    const char *text = luaL_checkstring(L, 1);
    int64_t n = rp_text_rects(NULL, 0, text);
    float *r = lua_newuserdatauv(L, sizeof(float) * 4 * (size_t)(n > 0 ? n : 1), 0);
    n = rp_text_rects(r, n, text);
    lua_createtable(L, (int)(4 * n), 0);
    for (int64_t i = 0; i < 4 * n; i++) {
        lua_pushnumber(L, r[i]);
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}
