-- The realprune executable: -e, scripts and their arg table, the REPL on a
-- pipe, errors with tracebacks, help and unknown commands.
local lu = require "luaunit"

local BIN = os.getenv("REALPRUNE_BIN") or "build/realprune"

local function sh_quote(s)
  return "'" .. s:gsub("'", "'\\''") .. "'"
end

-- Runs a shell command; returns stdout+stderr and the exit code.
local function run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"<exit:$?>\""))
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("<exit:(%d+)>%s*$"))
  return out:gsub("<exit:%d+>%s*$", ""), code
end

local function tmpfile(content)
  local name = os.tmpname()
  local f = assert(io.open(name, "w"))
  f:write(content)
  f:close()
  return name
end

TestCli = {}

function TestCli:test_issue_example()
  local out, code = run(BIN .. " -e " .. sh_quote(
    'local rp=require"realprune"; local y=rp.tensor.from{{1,2},{3,4}}:matmul(' ..
    'rp.tensor.from{{1},{1}}); print(y:get(1,1), y:get(2,1))'))
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "3.0\t7.0\n")
end

function TestCli:test_script_arguments()
  local script = tmpfile('print(#arg, arg[0] ~= nil, arg[1], arg[2], ...)\n')
  local out, code = run(BIN .. " " .. script .. " alpha 'b c'")
  os.remove(script)
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "2\ttrue\talpha\tb c\talpha\tb c\n")
end

function TestCli:test_script_error_exits_nonzero_with_traceback()
  local script = tmpfile('local function f() error("bad thing") end\nf()\n')
  local out, code = run(BIN .. " " .. script)
  os.remove(script)
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, "bad thing")
  lu.assertStrContains(out, "stack traceback:")
end

function TestCli:test_missing_script()
  local out, code = run(BIN .. " /nonexistent/x.lua")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, "cannot open /nonexistent/x.lua")
end

function TestCli:test_repl_prints_values_and_survives_errors()
  local input = tmpfile(table.concat({
    "x = rp.tensor.from{{1, 2}, {3, 4}}",
    "x:sum()",
    "error('oops')",
    "{1, 2, name = 'n'}",
    "for i = 1, 2 do",
    "  print('loop', i)",
    "end",
    "x",
    "1, 'two'",
  }, "\n") .. "\n")
  local out, code = run(BIN .. " < " .. input)
  os.remove(input)
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "10.0\n")
  lu.assertStrContains(out, "oops")
  lu.assertStrContains(out, "stack traceback:")
  lu.assertStrContains(out, '{1, 2, name = "n"}')
  lu.assertStrContains(out, "loop\t1\nloop\t2\n")
  lu.assertStrContains(out, "realprune.Tensor(float32, 2x2)\n[[1, 2],\n [3, 4]]")
  lu.assertStrContains(out, '1\n"two"\n')
end

function TestCli:test_repl_reports_unfinished_statement()
  local input = tmpfile("for i = 1, 2 do\n")
  local out, code = run(BIN .. " < " .. input)
  os.remove(input)
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "stdin:1: 'end' expected near <eof>")
end

function TestCli:test_interactive_after_script()
  local script = tmpfile('answer = 42\n')
  local input = tmpfile("answer + 1\n")
  local out, code = run(BIN .. " -i " .. script .. " < " .. input)
  os.remove(script)
  os.remove(input)
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "43\n")
end

-- The modules find the shipped data and recipes from their own location, from
-- any working directory, under the stock lua5.4 too (no table from the
-- executable); REALPRUNE_SHARE names another root.
function TestCli:test_paths_from_anywhere()
  local root = io.popen("pwd"):read("l")
  local build = os.getenv("REALPRUNE_BUILD") or (root .. "/build")
  local code = [[local rp = require "realprune"
print(rp.paths.data_dir() ~= nil, rp.reram.presets.isaac.name, rp.paper.numbers().training_speedup,
  (rp.paths.recipes_dir() or "") ~= "")]]
  local base = os.tmpname()
  local script = base .. ".lua"
  local f = assert(io.open(script, "w"))
  f:write(code)
  f:close()
  local bin = BIN:sub(1, 1) == "/" and BIN or (root .. "/" .. BIN)
  local out = run(("cd / && %s %s"):format(bin, script))
  lu.assertStrContains(out, "true\tisaac\t20\ttrue")
  -- the stock lua5.4 cannot load a module built with sanitizers
  if os.getenv("REALPRUNE_SANITIZED") ~= "1" and os.execute("command -v lua5.4 > /dev/null") then
    out = run(("cd / && LUA_PATH='%s/lua/?.lua;%s/lua/?/init.lua' LUA_CPATH='%s/lib/?.so' " ..
      "lua5.4 %s")
      :format(root, root, build, script))
    lu.assertStrContains(out, "true\tisaac\t20\ttrue")
  end
  out = run(("cd / && REALPRUNE_SHARE=/nonexistent-share %s -e " ..
    "'print(require(\"realprune.paths\").roots()[1])'")
    :format(BIN:sub(1, 1) == "/" and BIN or (root .. "/" .. BIN)))
  lu.assertStrContains(out, "/nonexistent-share")
  os.remove(script)
  os.remove(base)
end

function TestCli:test_help_version_and_unknown()
  local out, code = run(BIN .. " help")
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "usage: realprune")
  out, code = run(BIN .. " -v")
  lu.assertEquals(code, 0)
  lu.assertStrMatches(out, "realprune %d+%.%d+%.%d+ %(Lua 5%.4%.%d+%)\n")
  out, code = run(BIN .. " frobnicate")
  lu.assertEquals(code, 2)
  lu.assertStrContains(out, "unknown command or missing file 'frobnicate'")
  lu.assertStrContains(out, "help")
  out, code = run(BIN .. " --bogus")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, "unknown option '--bogus'")
  out, code = run(BIN .. " -e")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, "'-e' needs an argument")
end

function TestCli:test_threads_from_environment()
  local out, code = run("REALPRUNE_THREADS=1 " .. BIN ..
    " -e 'print(require(\"realprune\").get_threads())'")
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "1\n")
  out, code = run("REALPRUNE_THREADS=zero " .. BIN .. " -e 'require(\"realprune\")'")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, 'REALPRUNE_THREADS must be a positive integer, got "zero"')
end

-- OpenBLAS picks its kernel from the CPU model number and falls back to SSE3
-- on models it does not know; the executable runs the kernel the instruction
-- sets call for, and a kernel named in OPENBLAS_CORETYPE stands.
function TestCli:test_blas_kernel_matches_the_processor()
  local show = " -e 'local c = require(\"realprune.core\") " ..
    "print(c.blas_info(), c.blas_wanted_core() or \"none\")'"
  local out, code = run("env -u OPENBLAS_CORETYPE " .. BIN .. show)
  lu.assertEquals(code, 0)
  local core, want = out:match("^(%S+)\t(%S+)\n$")
  lu.assertNotNil(core, out)
  local wide = {skylakex = 512, cooperlake = 512, sapphirerapids = 512, haswell = 256, zen = 256}
  if want ~= "none" then
    local need = want == "SkylakeX" and 512 or 256
    lu.assertTrue((wide[core:lower()] or 0) >= need,
      ("OpenBLAS runs %s on a processor calling for %s"):format(core, want))
  end
  out, code = run("OPENBLAS_CORETYPE=Prescott " .. BIN .. show)
  lu.assertEquals(code, 0)
  lu.assertStrMatches(out, "Prescott\t%S+\n")
  -- the choice is not handed down (a Slurm job chooses for its own node), and the
  -- process keeps its name
  out, code = run("env -u OPENBLAS_CORETYPE " .. BIN .. " -e " .. sh_quote(
    'print(os.getenv("OPENBLAS_CORETYPE"), os.getenv("REALPRUNE_SET_CORETYPE"))'))
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "nil\tnil\n")
  out = run("env -u OPENBLAS_CORETYPE " .. BIN .. " -e " .. sh_quote(
    'os.execute("cat /proc/$PPID/comm")'))
  lu.assertEquals(out, "realprune\n")
end

function TestCli:test_no_globals_from_require()
  local out, code = run(BIN .. " -e " .. sh_quote(
    'local before = {} for k in pairs(_G) do before[k] = true end ' ..
    'local rp = require "realprune"; local _ = rp.tensor ' ..
    'for k in pairs(_G) do if not before[k] then print("new global", k) end end'))
  lu.assertEquals(code, 0)
  lu.assertEquals(out, "")
end

os.exit(lu.LuaUnit.run())
