/*
 * l_faults.c - stuck-at fault maps of one layer (realprune/faults.h) as
 * userdata, and their bytes (so that rp.save keeps them).
 *
 *   faults_sample(mask|nil, R, C, rows, cols, weight_bits, cell_bits, signed,
 *                 compact_rows, sa0, sa1, generator [, worn [, worn_at_sa0]]) -> fault layer
 *   faults_info(f) -> {numel=, faulty=, cells=, sa0=, sa1=}
 *   faults_effective(out, weight, f): out = the weights the cells hold
 *   faults_bytes(f) -> string;  faults_from_bytes(string) -> fault layer
 *   variation_new(mask|nil, R, C, rows, cols, weight_bits, cell_bits, signed,
 *                 compact_rows, sigma_d2d, sigma_c2c, of_level, seed) -> variation layer
 *   variation_info(v) -> {numel=, mapped=}
 *   variation_support(mask, v): mask[i] = 1 at every mapped weight
 *   cells_effective(out, weight, f|nil, v|nil, write): out = what the cells hold
 */
#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "realprune/faults.h"

#define FAULTS_META    "realprune.fault_layer"
#define VARIATION_META "realprune.variation_layer"

static struct rp_fault_layer *push_layer(lua_State *L)
{
    struct rp_fault_layer *f = lua_newuserdatauv(L, sizeof *f, 0);
    memset(f, 0, sizeof *f);
    luaL_setmetatable(L, FAULTS_META);
    return f;
}

static struct rp_fault_layer *check_layer(lua_State *L, int arg)
{
    return luaL_checkudata(L, arg, FAULTS_META);
}

static int l_gc(lua_State *L)
{
    rp_faults_free(check_layer(L, 1));
    return 0;
}

static int l_faults_sample(lua_State *L)
{
    int64_t R = luaL_checkinteger(L, 2), C = luaL_checkinteger(L, 3);
    const float *mask = rpl_xbar_mask(L, 1, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 4);
    double sa0 = luaL_checknumber(L, 10), sa1 = luaL_checknumber(L, 11);
    struct rp_rng *rng = rpl_check_generator(L, 12);
    double worn = luaL_optnumber(L, 13, 0.0);
    int worn_sa1 = !lua_toboolean(L, 14); /* true: worn cells stuck at SA0 */
    struct rp_fault_layer *f = push_layer(L);
    if (rp_faults_sample_worn(f, mask, R, C, &cfg, sa0, sa1, worn, worn_sa1, rng) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 1;
}

static int l_faults_info(lua_State *L)
{
    struct rp_fault_layer *f = check_layer(L, 1);
    lua_createtable(L, 0, 5);
    lua_pushinteger(L, (lua_Integer)f->numel);
    lua_setfield(L, -2, "numel");
    lua_pushinteger(L, (lua_Integer)f->n);
    lua_setfield(L, -2, "faulty");
    lua_pushinteger(L, (lua_Integer)f->cells);
    lua_setfield(L, -2, "cells");
    lua_pushinteger(L, (lua_Integer)f->sa0);
    lua_setfield(L, -2, "sa0");
    lua_pushinteger(L, (lua_Integer)f->sa1);
    lua_setfield(L, -2, "sa1");
    return 1;
}

static int l_faults_effective(lua_State *L)
{
    struct rp_tensor *out = rpl_check_tensor(L, 1), *w = rpl_check_tensor(L, 2);
    struct rp_fault_layer *f = check_layer(L, 3);
    if (out->numel != f->numel || w->numel != f->numel)
        return luaL_error(L,
                          "faults_effective: the fault layer holds %d weights, the tensors "
                          "%d and %d",
                          (int)f->numel, (int)out->numel, (int)w->numel);
    if (rp_faults_effective(out->data, w->data, f) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 0;
}

/* faults_support(mask, f): mask[i] = 1 at every faulty weight (the weights a
 * sparse plan must keep: a masked weight with a stuck cell reads nonzero) */
static int l_faults_support(lua_State *L)
{
    struct rp_tensor *m = rpl_check_tensor(L, 1);
    struct rp_fault_layer *f = check_layer(L, 2);
    if (m->numel != f->numel)
        return luaL_error(L, "faults_support: the fault layer holds %d weights, the mask %d",
                          (int)f->numel, (int)m->numel);
    for (int64_t k = 0; k < f->n; k++)
        m->data[f->index[k]] = 1.0f;
    return 0;
}

/* little-endian: header of 7 int64 (numel, n, cells, sa0, sa1, weight_bits,
 * cell_bits | differential << 8), then n indices and 4 n masks */
static void put64(luaL_Buffer *b, uint64_t v)
{
    unsigned char x[8];
    for (int i = 0; i < 8; i++)
        x[i] = (unsigned char)(v >> (8 * i));
    luaL_addlstring(b, (const char *)x, 8);
}

static uint64_t get64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v |= (uint64_t)p[i] << (8 * i);
    return v;
}

static int l_faults_bytes(lua_State *L)
{
    struct rp_fault_layer *f = check_layer(L, 1);
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    uint64_t head[7] = {(uint64_t)f->numel,
                        (uint64_t)f->n,
                        (uint64_t)f->cells,
                        (uint64_t)f->sa0,
                        (uint64_t)f->sa1,
                        (uint64_t)f->weight_bits,
                        (uint64_t)f->cell_bits | (uint64_t)f->differential << 8};
    for (int i = 0; i < 7; i++)
        put64(&b, head[i]);
    for (int64_t k = 0; k < f->n; k++)
        put64(&b, (uint64_t)f->index[k]);
    const uint64_t *arrs[4] = {f->clear_pos, f->set_pos, f->clear_neg, f->set_neg};
    for (int a = 0; a < 4; a++)
        for (int64_t k = 0; k < f->n; k++)
            put64(&b, arrs[a][k]);
    luaL_pushresult(&b);
    return 1;
}

static int l_faults_from_bytes(lua_State *L)
{
    size_t len;
    const unsigned char *s = (const unsigned char *)luaL_checklstring(L, 1, &len);
    if (len < 56)
        return luaL_error(L, "faults_from_bytes: %d bytes, a header needs 56", (int)len);
    uint64_t n = get64(s + 8), numel = get64(s);
    if (n > numel || numel > ((uint64_t)1 << 40) || len != 56 + 40 * n)
        return luaL_error(L, "faults_from_bytes: %d bytes do not hold %d faulty weights", (int)len,
                          (int)n);
    struct rp_fault_layer *f = push_layer(L);
    f->numel = (int64_t)numel;
    f->n = (int64_t)n;
    f->cells = (int64_t)get64(s + 16);
    f->sa0 = (int64_t)get64(s + 24);
    f->sa1 = (int64_t)get64(s + 32);
    uint64_t wb = get64(s + 40), cb = get64(s + 48);
    if (wb < 1 || wb > 32 || (cb & 0xff) < 1 || (cb >> 9) != 0)
        return luaL_error(L, "faults_from_bytes: not a fault layer");
    f->weight_bits = (int)wb;
    f->cell_bits = (int)(cb & 0xff);
    f->differential = (int)(cb >> 8) & 1;
    uint64_t code_bits = ((uint64_t)1 << wb) - 1;
    size_t m = (size_t)(n > 0 ? n : 1);
    f->index = malloc(sizeof(int64_t) * m);
    uint64_t **arrs[4] = {&f->clear_pos, &f->set_pos, &f->clear_neg, &f->set_neg};
    for (int a = 0; a < 4; a++)
        *arrs[a] = malloc(sizeof(uint64_t) * m);
    if (!f->index || !f->clear_pos || !f->set_pos || !f->clear_neg || !f->set_neg)
        return luaL_error(L, "faults_from_bytes: out of memory");
    const unsigned char *p = s + 56;
    int64_t prev = -1;
    for (uint64_t k = 0; k < n; k++, p += 8) {
        f->index[k] = (int64_t)get64(p);
        if (f->index[k] <= prev || (uint64_t)f->index[k] >= numel)
            return luaL_error(L, "faults_from_bytes: weight indices out of order or range");
        prev = f->index[k];
    }
    for (int a = 0; a < 4; a++)
        for (uint64_t k = 0; k < n; k++, p += 8) {
            uint64_t m = get64(p);
            if ((m & ~code_bits) || (a >= 2 && !f->differential && m))
                return luaL_error(L, "faults_from_bytes: forced digits outside the weight's code");
            (*arrs[a])[k] = m;
        }
    return 1;
}

static struct rp_variation_layer *check_variation(lua_State *L, int arg)
{
    return luaL_checkudata(L, arg, VARIATION_META);
}

static int l_variation_gc(lua_State *L)
{
    rp_variation_free(check_variation(L, 1));
    return 0;
}

static int l_variation_new(lua_State *L)
{
    int64_t R = luaL_checkinteger(L, 2), C = luaL_checkinteger(L, 3);
    const float *mask = rpl_xbar_mask(L, 1, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 4);
    double sd = luaL_checknumber(L, 10), sc = luaL_checknumber(L, 11);
    int of_level = lua_toboolean(L, 12);
    uint64_t seed = (uint64_t)luaL_checkinteger(L, 13);
    struct rp_variation_layer *v = lua_newuserdatauv(L, sizeof *v, 0);
    memset(v, 0, sizeof *v);
    luaL_setmetatable(L, VARIATION_META);
    if (rp_variation_new(v, mask, R, C, &cfg, sd, sc, of_level, seed) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 1;
}

static int l_variation_info(lua_State *L)
{
    struct rp_variation_layer *v = check_variation(L, 1);
    lua_createtable(L, 0, 2);
    lua_pushinteger(L, (lua_Integer)v->numel);
    lua_setfield(L, -2, "numel");
    lua_pushinteger(L, (lua_Integer)v->mapped_count);
    lua_setfield(L, -2, "mapped");
    return 1;
}

static int l_variation_support(lua_State *L)
{
    struct rp_tensor *m = rpl_check_tensor(L, 1);
    struct rp_variation_layer *v = check_variation(L, 2);
    if (m->numel != v->numel)
        return luaL_error(L, "variation_support: the variation layer holds %d weights, the mask %d",
                          (int)v->numel, (int)m->numel);
    for (int64_t i = 0; i < v->numel; i++)
        if ((v->mapped[i >> 6] >> (i & 63)) & 1)
            m->data[i] = 1.0f;
    return 0;
}

static int l_cells_effective(lua_State *L)
{
    struct rp_tensor *out = rpl_check_tensor(L, 1), *w = rpl_check_tensor(L, 2);
    struct rp_fault_layer *f = lua_isnoneornil(L, 3) ? NULL : check_layer(L, 3);
    struct rp_variation_layer *v = lua_isnoneornil(L, 4) ? NULL : check_variation(L, 4);
    lua_Integer write = luaL_checkinteger(L, 5);
    int64_t n = v ? v->numel : f ? f->numel : -1;
    if (n < 0)
        return luaL_error(L, "cells_effective: a fault layer or a variation layer expected");
    if (out->numel != n || w->numel != n)
        return luaL_error(L, "cells_effective: the layer holds %d weights, the tensors %d and %d",
                          (int)n, (int)out->numel, (int)w->numel);
    if (write < 0)
        return luaL_error(L, "cells_effective: write must be >= 0, got %d", (int)write);
    if (rp_cells_effective(out->data, w->data, f, v, (uint64_t)write) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 0;
}

/* faults_restrict(f, mask|nil, R, C, rows, cols, weight_bits, cell_bits, signed,
 * compact_rows, packed) -> fault layer */
static int l_faults_restrict(lua_State *L)
{
    struct rp_fault_layer *f = check_layer(L, 1);
    int64_t R = luaL_checkinteger(L, 3), C = luaL_checkinteger(L, 4);
    const float *mask = rpl_xbar_mask(L, 2, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 5);
    struct rp_fault_layer *out = push_layer(L);
    if (rp_faults_restrict(out, f, mask, R, C, &cfg, lua_toboolean(L, 11)) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 1;
}

/* faults_remap(f, weight, mask|nil, R, C, rows, cols, weight_bits, cell_bits,
 * signed, compact_rows, packed) -> fault layer, moved */
static int l_faults_remap(lua_State *L)
{
    struct rp_fault_layer *f = check_layer(L, 1);
    struct rp_tensor *w = rpl_check_tensor(L, 2);
    int64_t R = luaL_checkinteger(L, 4), C = luaL_checkinteger(L, 5);
    const float *mask = rpl_xbar_mask(L, 3, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 6);
    if (w->numel != R * C)
        return luaL_error(L, "faults_remap: the weights hold %d values, not %d x %d", (int)w->numel,
                          (int)R, (int)C);
    struct rp_fault_layer *out = push_layer(L);
    int64_t moved = 0;
    if (rp_faults_remap(out, f, w->data, mask, R, C, &cfg, lua_toboolean(L, 12), &moved) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    lua_pushinteger(L, (lua_Integer)moved);
    return 2;
}

/* faults_score(out, weight, f): fault-aware pruning scores */
static int l_faults_score(lua_State *L)
{
    struct rp_tensor *out = rpl_check_tensor(L, 1), *w = rpl_check_tensor(L, 2);
    struct rp_fault_layer *f = check_layer(L, 3);
    if (out->numel != f->numel || w->numel != f->numel)
        return luaL_error(L,
                          "faults_score: the fault layer holds %d weights, the tensors %d and %d",
                          (int)f->numel, (int)out->numel, (int)w->numel);
    if (rp_faults_score(out->data, w->data, f) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 0;
}

/* faults_crossbars(mask|nil, R, C, rows, cols, weight_bits, cell_bits, signed,
 * compact_rows, packed) -> count */
static int l_faults_crossbars(lua_State *L)
{
    int64_t R = luaL_checkinteger(L, 2), C = luaL_checkinteger(L, 3);
    const float *mask = rpl_xbar_mask(L, 1, R, C);
    struct rp_xbar_config cfg = rpl_xbar_config(L, 4);
    int64_t n = 0;
    if (rp_faults_crossbars(mask, R, C, &cfg, lua_toboolean(L, 10), &n) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    lua_pushinteger(L, (lua_Integer)n);
    return 1;
}

void rpl_open_faults(lua_State *L)
{
    if (luaL_newmetatable(L, VARIATION_META)) {
        lua_pushcfunction(L, l_variation_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    if (luaL_newmetatable(L, FAULTS_META)) {
        lua_pushcfunction(L, l_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"faults_sample", l_faults_sample},
                                     {"faults_info", l_faults_info},
                                     {"faults_effective", l_faults_effective},
                                     {"faults_support", l_faults_support},
                                     {"faults_bytes", l_faults_bytes},
                                     {"faults_from_bytes", l_faults_from_bytes},
                                     {"faults_restrict", l_faults_restrict},
                                     {"faults_remap", l_faults_remap},
                                     {"faults_score", l_faults_score},
                                     {"faults_crossbars", l_faults_crossbars},
                                     {"variation_new", l_variation_new},
                                     {"variation_info", l_variation_info},
                                     {"variation_support", l_variation_support},
                                     {"cells_effective", l_cells_effective},
                                     {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
