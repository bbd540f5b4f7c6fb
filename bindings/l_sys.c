/*
 * l_sys.c - the operating-system pieces a sweep needs and Lua lacks: file
 * locks that die with their process (flock), child processes started without
 * a shell and waited for one at a time, the executable's own path, and a
 * sleep.
 *
 *   lock_file(path[, wait]) -> lock | nil, message, holder_pid
 *       an exclusive flock on path (created if missing; our pid is written
 *       into it). With wait = true it blocks until the lock is free. The lock
 *       is released by lock:unlock(), by garbage collection, by a to-be-closed
 *       variable, or by the kernel when the process dies (even by SIGKILL).
 *       The descriptor is close-on-exec, so children never hold it.
 *   lock_held(path) -> true, holder_pid | false: whether some process holds it
 *   spawn(argv, {env = {NAME = value}, output = path}) -> pid | nil, message
 *       runs argv[1] (searched on PATH) with the arguments, the environment
 *       plus env, and standard output and error appended to output.
 *   wait_child() -> pid, code | nil, message: waits for any child; code is
 *       the exit status, or 128 + the signal that ended it.
 *   exe_path() -> the running executable's absolute path (/proc/self/exe)
 *   realpath(path) -> the absolute path | nil, message
 *   getpid() -> our process id;  hostname() -> the short host name
 *   sleep(seconds)
 */
#define _GNU_SOURCE /* realpath, flock */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lrp.h"

extern char **environ;

#define LOCK_META "realprune.lock"

typedef struct {
    int fd;
} file_lock;

static int fail(lua_State *L, const char *fmt, const char *what)
{
    lua_pushnil(L);
    lua_pushfstring(L, fmt, what, strerror(errno));
    return 2;
}

/* The pid written in a lock file, or 0. */
static lua_Integer holder_of(int fd)
{
    char buf[32] = {0};
    ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
    return n > 0 ? (lua_Integer)strtoll(buf, NULL, 10) : 0;
}

static int l_lock_file(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int wait = lua_toboolean(L, 2);
    file_lock *lk = lua_newuserdatauv(L, sizeof *lk, 0);
    lk->fd = -1;
    luaL_setmetatable(L, LOCK_META);
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return fail(L, "lock_file: cannot open %s: %s", path);
    int r;
    while ((r = flock(fd, LOCK_EX | (wait ? 0 : LOCK_NB))) != 0 && errno == EINTR) {
    }
    if (r != 0) {
        int busy = errno == EWOULDBLOCK;
        lua_Integer holder = busy ? holder_of(fd) : 0;
        int saved = errno;
        close(fd);
        errno = saved;
        if (!busy)
            return fail(L, "lock_file: cannot lock %s: %s", path);
        lua_pushnil(L);
        lua_pushfstring(L, "%s is locked by process %I", path, holder);
        lua_pushinteger(L, holder);
        return 3;
    }
    char pid[32];
    int len = snprintf(pid, sizeof pid, "%ld\n", (long)getpid());
    if (ftruncate(fd, 0) != 0 || pwrite(fd, pid, (size_t)len, 0) != len) {
        /* the lock holds without the pid; only messages lose it */
    }
    lk->fd = fd;
    return 1;
}

static int l_lock_held(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        lua_pushboolean(L, 0);
        return 1;
    }
    int held = flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
    lua_Integer holder = held ? holder_of(fd) : 0;
    close(fd); /* also drops the shared lock taken when it was free */
    lua_pushboolean(L, held);
    if (!held)
        return 1;
    lua_pushinteger(L, holder);
    return 2;
}

static int l_unlock(lua_State *L)
{
    file_lock *lk = luaL_checkudata(L, 1, LOCK_META);
    if (lk->fd >= 0) {
        close(lk->fd);
        lk->fd = -1;
    }
    return 0;
}

/* The environment plus the NAME = value pairs of the table at index env (0:
 * none), as a NULL-terminated array; its new strings are anchored in a table
 * pushed on the stack (with the array's userdata), so they live until the
 * caller pops them. */
static char **environment(lua_State *L, int env)
{
    size_t n = 0, extra = 0;
    while (environ[n])
        n++;
    if (env) {
        lua_pushnil(L);
        while (lua_next(L, env)) {
            extra++;
            lua_pop(L, 1);
        }
    }
    lua_newtable(L); /* anchors */
    int anchors = lua_gettop(L);
    char **out = lua_newuserdatauv(L, sizeof(char *) * (n + extra + 1), 0);
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int overridden = 0;
        const char *eq = env ? strchr(environ[i], '=') : NULL;
        if (eq) {
            lua_pushlstring(L, environ[i], (size_t)(eq - environ[i]));
            overridden = lua_rawget(L, env) != LUA_TNIL;
            lua_pop(L, 1);
        }
        if (!overridden)
            out[k++] = environ[i];
    }
    if (env) {
        lua_pushnil(L);
        while (lua_next(L, env)) {
            if (lua_type(L, -2) != LUA_TSTRING || !lua_isstring(L, -1))
                luaL_error(L, "spawn: env entries must be NAME = string");
            lua_pushfstring(L, "%s=%s", lua_tostring(L, -2), lua_tostring(L, -1));
            out[k++] = (char *)lua_tostring(L, -1);
            lua_rawseti(L, anchors, (lua_Integer)k);
            lua_pop(L, 1);
        }
    }
    out[k] = NULL;
    return out;
}

static int l_spawn(lua_State *L)
{
    luaL_checktype(L, 1, LUA_TTABLE);
    lua_settop(L, 2);
    int env = 0;
    const char *output = NULL;
    if (!lua_isnil(L, 2)) {
        luaL_checktype(L, 2, LUA_TTABLE);
        if (lua_getfield(L, 2, "env") == LUA_TTABLE)
            env = lua_gettop(L);
        lua_getfield(L, 2, "output");
        output = lua_tostring(L, -1);
    }
    lua_Integer argc = luaL_len(L, 1);
    if (argc < 1)
        return luaL_error(L, "spawn: argv needs at least the program");
    char **argv = lua_newuserdatauv(L, sizeof(char *) * (size_t)(argc + 1), 0);
    for (lua_Integer i = 1; i <= argc; i++) {
        if (lua_rawgeti(L, 1, i) != LUA_TSTRING)
            return luaL_error(L, "spawn: argv[%d] must be a string", (int)i);
        argv[i - 1] = (char *)lua_tostring(L, -1); /* kept alive by table 1 */
        lua_pop(L, 1);
    }
    argv[argc] = NULL;
    char **envp = environment(L, env);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (output) {
        posix_spawn_file_actions_addopen(&fa, 1, output, O_WRONLY | O_CREAT | O_APPEND, 0644);
        posix_spawn_file_actions_adddup2(&fa, 1, 2);
    }
    pid_t pid;
    int err = posix_spawnp(&pid, argv[0], &fa, NULL, argv, envp);
    posix_spawn_file_actions_destroy(&fa);
    if (err != 0) {
        errno = err;
        return fail(L, "spawn: cannot start %s: %s", argv[0]);
    }
    lua_pushinteger(L, (lua_Integer)pid);
    return 1;
}

static int l_wait_child(lua_State *L)
{
    int status;
    pid_t pid;
    while ((pid = waitpid(-1, &status, 0)) < 0 && errno == EINTR) {
    }
    if (pid < 0)
        return fail(L, "wait_child: %s%s", "");
    lua_pushinteger(L, (lua_Integer)pid);
    lua_pushinteger(L, WIFEXITED(status)     ? WEXITSTATUS(status)
                       : WIFSIGNALED(status) ? 128 + WTERMSIG(status)
                                             : 255);
    return 2;
}

static int l_exe_path(lua_State *L)
{
    char buf[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0)
        return fail(L, "exe_path: %s%s", "");
    lua_pushlstring(L, buf, (size_t)n);
    return 1;
}

static int l_realpath(lua_State *L)
{
    const char *path = luaL_checkstring(L, 1);
    char buf[PATH_MAX];
    if (!realpath(path, buf))
        return fail(L, "realpath: %s: %s", path);
    lua_pushstring(L, buf);
    return 1;
}

static int l_getpid(lua_State *L)
{
    lua_pushinteger(L, (lua_Integer)getpid());
    return 1;
}

static int l_hostname(lua_State *L)
{
    char buf[256] = {0};
    if (gethostname(buf, sizeof buf - 1) != 0)
        strcpy(buf, "unknown");
    char *dot = strchr(buf, '.');
    if (dot)
        *dot = 0;
    lua_pushstring(L, buf);
    return 1;
}

static int l_sleep(lua_State *L)
{
    double s = luaL_checknumber(L, 1);
    if (s > 0) {
        struct timespec ts = {(time_t)s, (long)((s - (double)(time_t)s) * 1e9)};
        while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
        }
    }
    return 0;
}

void rpl_open_sys(lua_State *L)
{
    static const luaL_Reg lock_methods[] = {{"unlock", l_unlock}, {NULL, NULL}};
    if (luaL_newmetatable(L, LOCK_META)) {
        luaL_newlib(L, lock_methods);
        lua_setfield(L, -2, "__index");
        lua_pushcfunction(L, l_unlock);
        lua_setfield(L, -2, "__gc");
        lua_pushcfunction(L, l_unlock);
        lua_setfield(L, -2, "__close");
    }
    lua_pop(L, 1);
    static const luaL_Reg funcs[] = {{"lock_file", l_lock_file}, {"lock_held", l_lock_held},
                                     {"spawn", l_spawn},         {"wait_child", l_wait_child},
                                     {"exe_path", l_exe_path},   {"realpath", l_realpath},
                                     {"getpid", l_getpid},       {"hostname", l_hostname},
                                     {"sleep", l_sleep},         {NULL, NULL}};
    luaL_setfuncs(L, funcs, 0);
}
