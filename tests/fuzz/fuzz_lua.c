/*
 * libFuzzer targets for the readers written in Lua, run in an embedded Lua
 * state with realprune.core preloaded:
 *   FUZZ_CHECKPOINT - rp.checkpoint.decode on a checkpoint built around the
 *                     input as its payload (valid header and checksum, so
 *                     the fuzzer reaches the record decoder);
 *   FUZZ_OPTIONS    - the recipe option parser on the input split at spaces.
 * A Lua error is a clean rejection; only crashes and sanitizer reports count.
 */
#include <stdlib.h>
#include <string.h>

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

int luaopen_realprune_core(lua_State *L);

static lua_State *L;

#if defined(FUZZ_CHECKPOINT)
static const char *harness =
    "local payload = ...\n"
    "local core = require 'realprune.core'\n"
    "local s = '\\x89RPCK\\r\\n\\x1a' .. string.pack('<I4I8', 1, #payload) .. payload ..\n"
    "  string.pack('<I4', core.crc32(payload))\n"
    "return require('realprune.checkpoint').decode(s, 'fuzz')\n";
#else
static const char *harness =
    "local text = ...\n"
    "local args = {}\n"
    "for w in text:gmatch('%S+') do args[#args + 1] = w end\n"
    "local r = {name = 'fuzz', defaults = {epochs = 1, lr = 0.1, model = 'x', flag = false},\n"
    "  quick = {epochs = 2}}\n"
    "return require('realprune.recipe').parse(r, args)\n";
#endif

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    L = luaL_newstate();
    luaL_openlibs(L);
    luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_PRELOAD_TABLE);
    lua_pushcfunction(L, luaopen_realprune_core);
    lua_setfield(L, -2, "realprune.core");
    lua_pop(L, 1);
    lua_getglobal(L, "package");
    lua_pushstring(L, RP_SOURCE_DIR "/lua/?.lua;" RP_SOURCE_DIR "/lua/?/init.lua");
    lua_setfield(L, -2, "path");
    lua_pop(L, 1);
    return 0;
}

int LLVMFuzzerTestOneInput(const unsigned char *data, size_t size)
{
    int top = lua_gettop(L);
    if (luaL_loadstring(L, harness) != LUA_OK)
        abort();
    lua_pushlstring(L, (const char *)data, size);
    lua_pcall(L, 1, 0, 0); /* errors are clean rejections */
    lua_settop(L, top);
    lua_gc(L, LUA_GCCOLLECT);
    return 0;
}
