/*
 * l_io.c - the pieces of checkpoints that Lua cannot do well by itself:
 * tensor <-> bytes, CRC-32, atomic writes and whole-file reads.
 */
#include <stdlib.h>
#include <string.h>

#include "lrp.h"
#include "realprune/data.h"
#include "realprune/io.h"

/* tensor_bytes(t) -> the elements as little-endian float32 bytes (the
 * checkpoint format's order on every machine) */
static int l_tensor_bytes(lua_State *L)
{
    struct rp_tensor *t = rpl_check_tensor(L, 1);
    luaL_Buffer b;
    size_t len = sizeof(float) * (size_t)t->numel;
    rp_f32_to_le(luaL_buffinitsize(L, &b, len), t->data, t->numel);
    luaL_pushresultsize(&b, len);
    return 1;
}

/* tensor_from_bytes(shape, bytes[, offset]) -> a new tensor filled from
 * bytes starting at the 1-based offset */
static int l_tensor_from_bytes(lua_State *L)
{
    int64_t shape[RP_MAX_DIMS];
    size_t len;
    lua_settop(L, 3);
    rpl_tensor *u = rpl_push_shell(L);
    int nd = rpl_check_shape(L, 1, 0, shape);
    const char *s = luaL_checklstring(L, 2, &len);
    lua_Integer off = luaL_optinteger(L, 3, 1);
    if (rp_tensor_new(&u->t, nd, shape) != RP_OK)
        return luaL_error(L, "%s", rp_last_error());
    size_t need = sizeof(float) * (size_t)u->t->numel;
    if (off < 1 || (size_t)(off - 1) > len || len - (size_t)(off - 1) < need)
        return luaL_error(L, "tensor_from_bytes: %d bytes needed at offset %d, %d available",
                          (int)need, (int)off, (int)(len - (off >= 1 ? (size_t)(off - 1) : 0)));
    rp_f32_from_le(u->t->data, s + off - 1, u->t->numel);
    return 1;
}

/* mkdir(path) -> true | nil, message: the folder and its missing parents */
static int l_mkdir(lua_State *L)
{
    if (rp_mkdir_p(luaL_checkstring(L, 1)) != RP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rp_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* crc32(s[, crc]) -> CRC-32 of s */
static int l_crc32(lua_State *L)
{
    size_t len;
    const char *s = luaL_checklstring(L, 1, &len);
    lua_Integer crc = luaL_optinteger(L, 2, 0);
    lua_pushinteger(L, (lua_Integer)rp_crc32((uint32_t)crc, s, len));
    return 1;
}

/* write_file_atomic(path, data) -> true | nil, message */
static int l_write_file_atomic(lua_State *L)
{
    size_t len;
    const char *path = luaL_checkstring(L, 1);
    const char *data = luaL_checklstring(L, 2, &len);
    if (rp_file_write_atomic(path, data, len) != RP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rp_last_error());
        return 2;
    }
    lua_pushboolean(L, 1);
    return 1;
}

/* read_file(path) -> contents | nil, message (gzip is decompressed) */
static int l_read_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    bytes_box *x = rpl_push_bytes_box(L);
    int64_t len;
    if (rp_file_read(&x->b.data, &len, path) != RP_OK) {
        lua_pushnil(L);
        lua_pushstring(L, rp_last_error());
        return 2;
    }
    lua_pushlstring(L, (const char *)x->b.data, (size_t)len);
    rp_bytes_free(&x->b);
    return 1;
}

void rpl_open_io(lua_State *L)
{
    static const luaL_Reg funcs[] = {{"tensor_bytes", l_tensor_bytes},
                                     {"tensor_from_bytes", l_tensor_from_bytes},
                                     {"crc32", l_crc32},
                                     {"mkdir", l_mkdir},
                                     {"write_file_atomic", l_write_file_atomic},
                                     {"read_file", l_read_file},
                                     {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
