/*
 * realprune.c - the `realprune` executable: Lua 5.4 with the workbench built in.
 *
 *   realprune                       interactive REPL
 *   realprune script.lua [args]     run a script (`arg` as in `lua`)
 *   realprune -e 'code' [-i]        run code (then the REPL with -i)
 *   realprune -i script.lua         run a script, then the REPL
 *   realprune COMMAND [args]        a subcommand of realprune.cli (help, ...)
 *
 * The C module realprune.core is linked in and preloaded; the Lua modules
 * are found in the source tree when running from the build tree, else next
 * to the installed executable (../share/lua/5.4), or in $REALPRUNE_LUA_DIR.
 */
#define _XOPEN_SOURCE 700
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "realprune/blas.h"

#include <lauxlib.h>
#include <lua.h>
#include <lualib.h>

#if defined(RP_HAVE_READLINE)
#include <readline/history.h>
#include <readline/readline.h>
#endif

int luaopen_realprune_core(lua_State *L);

#ifndef RP_SOURCE_DIR
#define RP_SOURCE_DIR ""
#endif
#ifndef RP_BUILD_DIR
#define RP_BUILD_DIR ""
#endif

static const char *progname = "realprune";

/* ---- paths --------------------------------------------------------------- */

static int is_file(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int is_dir(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

/* Directory of the running executable (realpath), or "" if unknown. */
static void exe_dir(char *out, size_t n)
{
    char buf[PATH_MAX];
    ssize_t len = readlink("/proc/self/exe", buf, sizeof buf - 1);
    out[0] = '\0';
    if (len <= 0)
        return;
    buf[len] = '\0';
    char *slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    snprintf(out, n, "%s", buf);
}

/* Sets package.path (where the Lua modules are) and preloads the C module;
 * the modules find the shipped data and recipes themselves (rp.paths). */
static void setup_paths(lua_State *L)
{
    char dir[PATH_MAX], build[PATH_MAX], lua_dir[PATH_MAX + 32];
    exe_dir(dir, sizeof dir);
    const char *env = getenv("REALPRUNE_LUA_DIR");
    int in_build = 0;
    if (realpath(RP_BUILD_DIR, build) && strcmp(build, dir) == 0 && is_dir(RP_SOURCE_DIR))
        in_build = 1;
    if (in_build) {
        snprintf(lua_dir, sizeof lua_dir, "%s/lua", RP_SOURCE_DIR);
    } else {
        snprintf(lua_dir, sizeof lua_dir, "%s/../share/lua/5.4", dir);
    }
    if (env && *env)
        snprintf(lua_dir, sizeof lua_dir, "%s", env);

    lua_getglobal(L, "package");
    lua_pushfstring(L, "%s/?.lua;%s/?/init.lua;", lua_dir, lua_dir);
    lua_getfield(L, -2, "path");
    lua_concat(L, 2);
    lua_setfield(L, -2, "path");

    lua_getfield(L, -1, "preload");
    lua_pushcfunction(L, luaopen_realprune_core);
    lua_setfield(L, -2, "realprune.core");
    lua_pop(L, 2);
}

/* ---- running chunks ------------------------------------------------------ */

static int msghandler(lua_State *L)
{
    const char *msg = lua_tostring(L, 1);
    if (msg == NULL) {
        if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING)
            return 1;
        msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
    }
    luaL_traceback(L, L, msg, 1);
    return 1;
}

static int report(lua_State *L, int status)
{
    if (status != LUA_OK) {
        const char *msg = lua_tostring(L, -1);
        fflush(stdout);
        fprintf(stderr, "%s: %s\n", progname, msg ? msg : "(error)");
        fflush(stderr);
        lua_pop(L, 1);
    }
    return status;
}

/* Ctrl-C while Lua code runs: a hook raises "interrupted!" at the next
 * instruction, as the stock interpreter does. */
static lua_State *running;

static void stop_hook(lua_State *L, lua_Debug *ar)
{
    (void)ar;
    lua_sethook(L, NULL, 0, 0);
    luaL_error(L, "interrupted!");
}

static void on_sigint(int sig)
{
    int flags = LUA_MASKCALL | LUA_MASKRET | LUA_MASKLINE | LUA_MASKCOUNT;
    signal(sig, SIG_DFL); /* a second Ctrl-C kills the process */
    if (running)
        lua_sethook(running, stop_hook, flags, 1);
}

static int docall(lua_State *L, int narg, int nres)
{
    int base = lua_gettop(L) - narg;
    lua_pushcfunction(L, msghandler);
    lua_insert(L, base);
    running = L;
    signal(SIGINT, on_sigint);
    int status = lua_pcall(L, narg, nres, base);
    signal(SIGINT, SIG_DFL);
    running = NULL;
    lua_remove(L, base);
    return status;
}

static int dostring(lua_State *L, const char *code, const char *name)
{
    int status = luaL_loadbuffer(L, code, strlen(code), name);
    if (status == LUA_OK)
        status = docall(L, 0, 0);
    return report(L, status);
}

/* Builds the global `arg`: arg[0] = script, negatives = interpreter and
 * options, positives = script arguments. */
static void create_arg_table(lua_State *L, char **argv, int argc, int script)
{
    lua_createtable(L, argc - script - 1, script + 1);
    for (int i = 0; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - script);
    }
    lua_setglobal(L, "arg");
}

static int run_script(lua_State *L, char **argv, int argc, int script)
{
    const char *fname = argv[script];
    if (strcmp(fname, "-") == 0)
        fname = NULL;
    int top = lua_gettop(L);
    int status = luaL_loadfile(L, fname);
    if (status == LUA_OK) {
        int n = argc - script - 1;
        luaL_checkstack(L, n + 3, "too many arguments to script");
        for (int i = script + 1; i < argc; i++)
            lua_pushstring(L, argv[i]);
        status = docall(L, n, 1);
    }
    if (status != LUA_OK)
        return report(L, status);
    /* A script that returns a recipe ({run = function}) is run as one:
     * realprune recipes/NAME.lua --key value is realprune run recipes/NAME.lua ... */
    if (lua_istable(L, -1) && lua_getfield(L, -1, "run") == LUA_TFUNCTION) {
        lua_pop(L, 1);
        lua_getglobal(L, "require");
        lua_pushliteral(L, "realprune.recipe");
        if ((status = docall(L, 1, 1)) != LUA_OK)
            return report(L, status);
        lua_getfield(L, -1, "run_table");
        lua_remove(L, -2);
        lua_insert(L, -2); /* run_table, recipe */
        lua_pushstring(L, argv[script]);
        lua_createtable(L, argc - script - 1, 0);
        for (int i = script + 1; i < argc; i++) {
            lua_pushstring(L, argv[i]);
            lua_rawseti(L, -2, i - script);
        }
        status = docall(L, 3, 0);
        report(L, status);
        lua_settop(L, top);
        return status;
    }
    lua_settop(L, top);
    return LUA_OK;
}

/* realprune COMMAND args: require("realprune.cli").main({COMMAND, args...}) */
static int run_command(lua_State *L, char **argv, int argc, int first)
{
    create_arg_table(L, argv, argc, first);
    lua_getglobal(L, "require");
    lua_pushliteral(L, "realprune.cli");
    int status = docall(L, 1, 1);
    if (status != LUA_OK)
        return report(L, status), 1;
    lua_getfield(L, -1, "main");
    lua_remove(L, -2);
    lua_createtable(L, argc - first, 0);
    for (int i = first; i < argc; i++) {
        lua_pushstring(L, argv[i]);
        lua_rawseti(L, -2, i - first + 1);
    }
    status = docall(L, 1, 1);
    if (status != LUA_OK)
        return report(L, status), 1;
    int code = lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1) : lua_isnil(L, -1) ? 0 : 1;
    lua_pop(L, 1);
    return code;
}

/* Writes realprune.cli's usage_text() or version_text() (the texts live only
 * there) to f. */
static void lua_text(lua_State *L, const char *which, FILE *f)
{
    lua_getglobal(L, "require");
    lua_pushliteral(L, "realprune.cli");
    if (docall(L, 1, 1) != LUA_OK) {
        report(L, LUA_ERRRUN);
        return;
    }
    lua_getfield(L, -1, which);
    lua_remove(L, -2);
    if (docall(L, 0, 1) != LUA_OK) {
        report(L, LUA_ERRRUN);
        return;
    }
    fputs(lua_tostring(L, -1) ? lua_tostring(L, -1) : "", f);
    lua_pop(L, 1);
}

/* ---- REPL ---------------------------------------------------------------- */

#define PROMPT  "rp> "
#define PROMPT2 "..> "

static char history_file[PATH_MAX];

static int read_line(lua_State *L, const char *prompt)
{
#if defined(RP_HAVE_READLINE)
    if (isatty(STDIN_FILENO)) {
        char *line = readline(prompt);
        if (!line)
            return 0;
        if (*line) {
            add_history(line);
            if (history_file[0])
                append_history(1, history_file);
        }
        lua_pushstring(L, line);
        free(line);
        return 1;
    }
#endif
    (void)prompt;
    char buf[4096];
    luaL_Buffer b;
    luaL_buffinit(L, &b);
    int got = 0;
    while (fgets(buf, sizeof buf, stdin)) {
        got = 1;
        size_t n = strlen(buf);
        int eol = n > 0 && buf[n - 1] == '\n';
        luaL_addlstring(&b, buf, eol ? n - 1 : n);
        if (eol)
            break;
    }
    luaL_pushresult(&b);
    if (!got) {
        lua_pop(L, 1);
        return 0;
    }
    return 1;
}

/* Is the compile error at the end of the input (so more lines may fix it)? */
static int incomplete(lua_State *L, int status)
{
    if (status == LUA_ERRSYNTAX) {
        size_t lmsg;
        const char *msg = lua_tolstring(L, -1, &lmsg);
        const char *eof = "<eof>";
        size_t le = strlen(eof);
        if (lmsg >= le && strcmp(msg + lmsg - le, eof) == 0) {
            lua_pop(L, 1);
            return 1;
        }
    }
    return 0;
}

/* Reads one statement or expression (several lines if needed) and leaves
 * its compiled chunk on the stack; returns -1 at end of input. */
static int load_statement(lua_State *L)
{
    if (!read_line(L, PROMPT))
        return -1;
    const char *line = lua_tostring(L, -1);
    if (line[0] == '=') { /* Lua 5.1 habit: "=expr" */
        lua_pushfstring(L, "return %s", line + 1);
    } else {
        lua_pushfstring(L, "return %s;", line);
    }
    size_t len;
    const char *ret = lua_tolstring(L, -1, &len);
    int status = luaL_loadbuffer(L, ret, len, "=stdin");
    if (status == LUA_OK) {
        lua_remove(L, -2); /* the "return" string */
        lua_remove(L, -2); /* the line */
        return LUA_OK;
    }
    lua_pop(L, 2); /* error message and "return" string */
    for (;;) {
        size_t llen;
        const char *code = lua_tolstring(L, -1, &llen);    /* stack: source */
        status = luaL_loadbuffer(L, code, llen, "=stdin"); /* source, chunk or message */
        if (!incomplete(L, status))
            break;
        /* incomplete() popped the message: stack is source */
        if (!read_line(L, PROMPT2)) {
            /* end of input inside a statement: report the syntax error */
            code = lua_tolstring(L, -1, &llen);
            status = luaL_loadbuffer(L, code, llen, "=stdin");
            break;
        }
        lua_pushliteral(L, "\n");
        lua_insert(L, -2);
        lua_concat(L, 3);
    }
    lua_remove(L, -2); /* the source */
    return status;
}

/* Prints the values on the stack through realprune.repl.show. */
static void print_results(lua_State *L, int n)
{
    if (n == 0)
        return;
    lua_getglobal(L, "require");
    lua_pushliteral(L, "realprune.repl");
    if (docall(L, 1, 1) != LUA_OK) {
        report(L, LUA_ERRRUN);
        lua_pop(L, n);
        return;
    }
    lua_getfield(L, -1, "show");
    lua_remove(L, -2);
    lua_insert(L, -(n + 1));
    report(L, docall(L, n, 0));
}

static void repl(lua_State *L)
{
    const char *home = getenv("HOME");
    history_file[0] = '\0';
#if defined(RP_HAVE_READLINE)
    if (home && *home && isatty(STDIN_FILENO)) {
        snprintf(history_file, sizeof history_file, "%s/.realprune_history", home);
        if (read_history(history_file) != 0)
            write_history(history_file); /* create it: append_history needs the file */
        stifle_history(1000);
    }
#else
    (void)home;
#endif
    /* The REPL binds `rp` for convenience; scripts still use require. */
    lua_getglobal(L, "require");
    lua_pushliteral(L, "realprune");
    if (docall(L, 1, 1) == LUA_OK)
        lua_setglobal(L, "rp");
    else
        report(L, LUA_ERRRUN);
    if (isatty(STDIN_FILENO))
        printf("realprune %s (%s) - rp = require \"realprune\"; Ctrl-D exits\n",
               lua_getglobal(L, "rp") == LUA_TTABLE && lua_getfield(L, -1, "VERSION")
                   ? lua_tostring(L, -1)
                   : "?",
               LUA_RELEASE);
    lua_settop(L, 0);
    int status;
    while ((status = load_statement(L)) != -1) {
        if (status == LUA_OK) {
            status = docall(L, 0, LUA_MULTRET);
            if (status == LUA_OK)
                print_results(L, lua_gettop(L));
        }
        if (status != LUA_OK)
            report(L, status);
        lua_settop(L, 0);
    }
    if (isatty(STDIN_FILENO))
        putchar('\n');
    fflush(stdout);
}

/* ---- main ---------------------------------------------------------------- */

static int pmain(lua_State *L)
{
    int argc = (int)lua_tointeger(L, 1);
    char **argv = (char **)lua_touserdata(L, 2);
    int interactive = 0, ran = 0, script = 0;
    luaL_checkversion(L);
    luaL_openlibs(L);
    setup_paths(L);

    /* First pass: options and where the script starts. */
    int i;
    for (i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (a[0] != '-' || strcmp(a, "-") == 0)
            break;
        if (strcmp(a, "--") == 0) {
            i++;
            break;
        }
        if (strcmp(a, "-e") == 0) {
            if (++i >= argc) {
                fprintf(stderr, "%s: '-e' needs an argument\n", progname);
                lua_text(L, "usage_text", stderr);
                lua_pushboolean(L, 0);
                return 1;
            }
        } else if (strcmp(a, "-i") == 0) {
            interactive = 1;
        } else if (strcmp(a, "-v") == 0 || strcmp(a, "--version") == 0) {
            lua_text(L, "version_text", stdout);
            lua_pushboolean(L, 1);
            return 1;
        } else if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            lua_text(L, "usage_text", stdout);
            lua_pushboolean(L, 1);
            return 1;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", progname, a);
            lua_text(L, "usage_text", stderr);
            lua_pushboolean(L, 0);
            return 1;
        }
    }
    script = i < argc ? i : 0;

    /* A plain word that is not a file is a subcommand. */
    if (script && i == 1 && !is_file(argv[i]) && strcmp(argv[i], "-") != 0 &&
        !strchr(argv[i], '/') && !strstr(argv[i], ".lua")) {
        int code = run_command(L, argv, argc, i);
        lua_pushinteger(L, code < 0 || code > 125 ? 1 : code);
        return 1;
    }

    create_arg_table(L, argv, argc, script ? script : 0);
    for (int k = 1; k < (script ? script : argc); k++) {
        if (strcmp(argv[k], "-e") == 0) {
            ran = 1;
            if (dostring(L, argv[++k], "=(command line)") != LUA_OK) {
                lua_pushboolean(L, 0);
                return 1;
            }
        }
    }
    if (script) {
        ran = 1;
        if (run_script(L, argv, argc, script) != LUA_OK) {
            lua_pushboolean(L, 0);
            return 1;
        }
    }
    if (interactive || !ran)
        repl(L);
    lua_pushboolean(L, 1);
    return 1;
}

int main(int argc, char **argv)
{
    rp_blas_choose_core(argv);
    /* Tensors are large and short-lived: keep freed storage in the heap for
     * reuse instead of returning it to the kernel and faulting fresh zeroed
     * pages in for the next one (3-5x faster elementwise ops from Lua). */
    mallopt(M_MMAP_THRESHOLD, 256 << 20);
    mallopt(M_TRIM_THRESHOLD, 1 << 30);
    /* Past a file-size limit, write() should fail with EFBIG (a clear error,
     * the old checkpoint kept) rather than the signal killing the process. */
    signal(SIGXFSZ, SIG_IGN);
    lua_State *L = luaL_newstate();
    if (!L) {
        fprintf(stderr, "%s: cannot create the Lua state: not enough memory\n", progname);
        return EXIT_FAILURE;
    }
    lua_pushcfunction(L, pmain);
    lua_pushinteger(L, argc);
    lua_pushlightuserdata(L, argv);
    int status = lua_pcall(L, 2, 1, 0);
    int code = status != LUA_OK       ? EXIT_FAILURE
               : lua_isinteger(L, -1) ? (int)lua_tointeger(L, -1)
               : lua_toboolean(L, -1) ? EXIT_SUCCESS
                                      : EXIT_FAILURE;
    report(L, status);
    lua_close(L);
    return code;
}
