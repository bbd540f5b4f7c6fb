/*
 * l_data.c - file readers and batch assembly for lua/realprune/data.lua.
 *
 * Readers return nil, message on an expected failure (a missing or corrupt
 * file); data.lua turns that into an error for the user.  Image bytes travel
 * as Lua strings (N x C x H x W unsigned bytes).
 */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lrp.h"
#include "realprune/data.h"

static int push_failure(lua_State *L)
{
    lua_pushnil(L);
    lua_pushstring(L, rp_last_error());
    return 2;
}

static void push_shape(lua_State *L, const struct rp_bytes *b)
{
    lua_createtable(L, b->ndim, 0);
    for (int d = 0; d < b->ndim; d++) {
        lua_pushinteger(L, (lua_Integer)b->shape[d]);
        lua_rawseti(L, -2, d + 1);
    }
}

/* Readers fill a box that the collector frees if pushing the result raises. */
static int box_gc(lua_State *L)
{
    bytes_box *x = lua_touserdata(L, 1);
    rp_bytes_free(&x->b);
    return 0;
}

bytes_box *rpl_push_bytes_box(lua_State *L)
{
    bytes_box *x = lua_newuserdatauv(L, sizeof *x, 0);
    memset(x, 0, sizeof *x);
    if (luaL_newmetatable(L, "realprune.bytes_box")) {
        lua_pushcfunction(L, box_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    return x;
}

/* idx_read(path) -> bytes, shape | nil, message */
static int l_idx_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    bytes_box *x = rpl_push_bytes_box(L);
    if (rp_idx_read(&x->b, path) != RP_OK)
        return push_failure(L);
    lua_pushlstring(L, (const char *)x->b.data, (size_t)x->b.numel);
    push_shape(L, &x->b);
    rp_bytes_free(&x->b);
    return 2;
}

/* cifar_read(path, label_bytes) -> images, labels, n | nil, message */
static int l_cifar_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int lb = (int)luaL_checkinteger(L, 2);
    bytes_box *im = rpl_push_bytes_box(L), *la = rpl_push_bytes_box(L);
    if (rp_cifar_read(&im->b, &la->b, path, lb) != RP_OK)
        return push_failure(L);
    lua_pushlstring(L, (const char *)im->b.data, (size_t)im->b.numel);
    lua_pushlstring(L, (const char *)la->b.data, (size_t)la->b.numel);
    lua_pushinteger(L, (lua_Integer)la->b.numel);
    rp_bytes_free(&im->b);
    rp_bytes_free(&la->b);
    return 3;
}

/* image_read(path, channels, size) -> bytes (channels x size x size) | nil, message */
static int l_image_read(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int channels = (int)luaL_checkinteger(L, 2), size = (int)luaL_checkinteger(L, 3);
    bytes_box *x = rpl_push_bytes_box(L);
    if (rp_image_read(&x->b, path, channels, size) != RP_OK)
        return push_failure(L);
    lua_pushlstring(L, (const char *)x->b.data, (size_t)x->b.numel);
    rp_bytes_free(&x->b);
    return 1;
}

/* A folder listing owned by a userdata, so that a Lua error while it is
 * copied (out of memory) cannot leak it. */
struct dir_listing {
    struct rp_dir_entry *e;
    int64_t n;
};

static int dir_listing_gc(lua_State *L)
{
    struct dir_listing *d = lua_touserdata(L, 1);
    rp_dir_list_free(d->e, d->n);
    d->e = NULL;
    d->n = 0;
    return 0;
}

/* list_dir(path) -> sorted array of {name=, path=, dir=bool} | nil, message */
static int l_list_dir(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    struct dir_listing *d = lua_newuserdatauv(L, sizeof *d, 0);
    d->e = NULL;
    d->n = 0;
    if (luaL_newmetatable(L, "realprune.dir_listing")) {
        lua_pushcfunction(L, dir_listing_gc);
        lua_setfield(L, -2, "__gc");
    }
    lua_setmetatable(L, -2);
    if (rp_dir_list(&d->e, &d->n, path) != RP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rp_last_error());
        return 2;
    }
    lua_createtable(L, (int)d->n, 0);
    for (int64_t i = 0; i < d->n; i++) {
        lua_createtable(L, 0, 3);
        lua_pushstring(L, d->e[i].name);
        lua_setfield(L, -2, "name");
        lua_pushfstring(L, "%s/%s", path, d->e[i].name);
        lua_setfield(L, -2, "path");
        lua_pushboolean(L, d->e[i].is_dir);
        lua_setfield(L, -2, "dir");
        lua_rawseti(L, -2, i + 1);
    }
    return 1;
}

static void check_floats(lua_State *L, int arg, int n, float *out, const char *what)
{
    luaL_checktype(L, arg, LUA_TTABLE);
    if ((int)lua_rawlen(L, arg) != n)
        luaL_argerror(
            L, arg,
            lua_pushfstring(L, "%d %s values expected, got %d", n, what, (int)lua_rawlen(L, arg)));
    for (int i = 0; i < n; i++) {
        lua_rawgeti(L, arg, i + 1);
        if (lua_type(L, -1) != LUA_TNUMBER)
            luaL_argerror(L, arg, lua_pushfstring(L, "%s value %d is not a number", what, i + 1));
        out[i] = (float)lua_tonumber(L, -1);
        lua_pop(L, 1);
    }
}

/* gather_images(dst, bytes, channels, height, width, indices, mean, std)
 * fills dst[1..#indices] with the items (1-based) of bytes, normalized. */
static int l_gather_images(lua_State *L)
{
    size_t len;
    lua_settop(L, 8);
    const uint8_t *src = (const uint8_t *)luaL_checklstring(L, 2, &len);
    int c = (int)luaL_checkinteger(L, 3);
    lua_Integer h = luaL_checkinteger(L, 4), w = luaL_checkinteger(L, 5);
    luaL_argcheck(L, c >= 1 && c <= 4, 3, "1 to 4 channels");
    luaL_argcheck(L, h >= 1 && w >= 1 && h * w <= (1 << 26), 4, "bad image size");
    luaL_checktype(L, 6, LUA_TTABLE);
    int64_t item = (int64_t)c * h * w, count = (int64_t)len / item;
    int64_t n = (int64_t)lua_rawlen(L, 6);
    int64_t *idx = lua_newuserdatauv(L, sizeof(int64_t) * (size_t)(n > 0 ? n : 1), 0);
    for (int64_t i = 0; i < n; i++) {
        lua_rawgeti(L, 6, (lua_Integer)i + 1);
        int isint;
        lua_Integer v = lua_tointegerx(L, -1, &isint);
        if (!isint)
            luaL_argerror(L, 6, "indices must be integers");
        idx[i] = (int64_t)v - 1;
        lua_pop(L, 1);
    }
    float mean[4], std[4];
    check_floats(L, 7, c, mean, "mean");
    check_floats(L, 8, c, std, "std");
    for (int i = 0; i < c; i++)
        luaL_argcheck(L, std[i] > 0, 8, "std values must be positive");
    struct rp_tensor *dst = rpl_check_tensor(L, 1);
    if (rp_gather_images(dst, src, count, c, h, w, idx, n, mean, std) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 0;
}

/* augment(batch, pad, flip[, gen]) */
static int l_augment(lua_State *L)
{
    lua_Integer pad = luaL_checkinteger(L, 2);
    luaL_argcheck(L, pad >= 0 && pad <= 64, 2, "padding must be in 0..64");
    int flip = lua_toboolean(L, 3);
    struct rp_rng *g = rpl_opt_generator(L, 4);
    if (rp_augment_crop_flip(rpl_check_tensor(L, 1), (int)pad, flip, g) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    return 0;
}

/* byte_stats(bytes, channels, plane) -> mean, std tables (pixel values / 255) */
static int l_byte_stats(lua_State *L)
{
    size_t len;
    const uint8_t *p = (const uint8_t *)luaL_checklstring(L, 1, &len);
    lua_Integer c = luaL_checkinteger(L, 2), plane = luaL_checkinteger(L, 3);
    luaL_argcheck(L, c >= 1 && c <= 4, 2, "1 to 4 channels");
    double mean[4], std[4];
    if (rp_byte_stats(mean, std, p, (int64_t)len, (int)c, (int64_t)plane) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    lua_createtable(L, (int)c, 0);
    lua_createtable(L, (int)c, 0);
    for (int k = 0; k < c; k++) {
        lua_pushnumber(L, mean[k]);
        lua_rawseti(L, -3, k + 1);
        lua_pushnumber(L, std[k]);
        lua_rawseti(L, -2, k + 1);
    }
    return 2;
}

/* isatty(fd) -> boolean (for progress bars) */
static int l_isatty(lua_State *L)
{
    lua_pushboolean(L, isatty((int)luaL_checkinteger(L, 1)));
    return 1;
}

void rpl_open_data(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"idx_read", l_idx_read},
                                     {"cifar_read", l_cifar_read},
                                     {"image_read", l_image_read},
                                     {"list_dir", l_list_dir},
                                     {"gather_images", l_gather_images},
                                     {"augment", l_augment},
                                     {"byte_stats", l_byte_stats},
                                     {"isatty", l_isatty},
                                     {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
