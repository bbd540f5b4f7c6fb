--- Subcommands of the `realprune` executable: `realprune COMMAND args...`.
--
-- The commands (`run`, `list`, `help`, `version`) are defined here; `run` hands
-- recipes to rp.recipe.
-- @module realprune.cli

local M = {}

--- Subcommands by name: each is function(args) -> exit code (0 = success).
M.commands = {}

local usage = [==[
usage: realprune [options] [script.lua [args...]]
       realprune COMMAND [args...]

options:
  -e CODE     run CODE (may be repeated)
  -i          enter the REPL after running the script or -e code
  -v          print the version and exit
  -h          print this help and exit
  --          stop handling options
  -           run standard input as a script

commands:
%s

With no script and no command, realprune starts a REPL in which
rp = require "realprune".]==]

local descriptions = {
  help = "print this help",
  version = "print the version",
  run = "run a recipe: realprune run recipes/NAME.lua [--key value ...]",
  list = "list the recipes with their descriptions",
  sweep = "run a recipe over a grid of options and seeds, here or on Slurm (sweep --help)",
}

function M.commands.run(args)
  local path = args[1]
  if not path then
    io.stderr:write("realprune run: a recipe expected (realprune run recipes/NAME.lua)\n")
    return 2
  end
  local recipe = require "realprune.recipe"
  local ok, err = pcall(function()
    recipe.run(recipe.load(recipe.find(path)), {table.unpack(args, 2)})
  end)
  if not ok then
    io.stderr:write("realprune run: ", tostring(err), "\n")
    return 1
  end
  return 0
end

-- The description of a recipe file, read from its text (nothing is run).
local function describe(path)
  local f = io.open(path)
  if not f then return nil end
  local src = f:read("a")
  f:close()
  if not src:match("run%s*=%s*function") then return nil end
  return src:match('description%s*=%s*"([^"]*)"') or ""
end

function M.commands.list()
  local core = require "realprune.core"
  local seen = {}
  for _, d in ipairs(require("realprune.recipe").dirs()) do
    local entries = core.list_dir(d)
    for _, e in ipairs(entries or {}) do
      local name = e.name:match("^(.*)%.lua$")
      if name and not seen[name] then
        seen[name] = true
        local desc = describe(e.path)
        if desc then print(("  %-18s %s"):format(name, desc)) end
      end
    end
  end
  return 0
end

--- The usage text (the executable's -h and `realprune help` print it; it
-- exists only here).
function M.usage_text()
  local names = {}
  for name in pairs(M.commands) do names[#names + 1] = name end
  table.sort(names)
  local lines = {}
  for _, name in ipairs(names) do
    lines[#lines + 1] = ("  %-10s  %s"):format(name, descriptions[name] or "")
  end
  return usage:format(table.concat(lines, "\n")) .. "\n"
end

--- The version line (the executable's -v and `realprune version`).
function M.version_text()
  return ("realprune %s (%s)\n"):format(require("realprune").VERSION,
    require("realprune.core").lua_release or _VERSION)
end

function M.commands.sweep(args)
  local ok, code = pcall(require("realprune.sweep").main, args)
  if not ok then
    io.stderr:write(tostring(code), "\n")
    return 2
  end
  return code
end

function M.commands.help()
  io.write(M.usage_text())
  return 0
end

function M.commands.version()
  io.write(M.version_text())
  return 0
end

--- Runs `argv[1]` with the rest of argv; unknown commands are an error that
-- lists the known ones.
-- @tparam {string,...} argv
-- @treturn integer exit code
function M.main(argv)
  local name = argv[1]
  local cmd = M.commands[name]
  if not cmd then
    local names = {}
    for k in pairs(M.commands) do names[#names + 1] = k end
    table.sort(names)
    io.stderr:write(("realprune: unknown command or missing file '%s' (commands: %s; " ..
      "scripts end in .lua)\n"):format(name, table.concat(names, ", ")))
    return 2
  end
  return cmd({table.unpack(argv, 2)}) or 0
end

return M
