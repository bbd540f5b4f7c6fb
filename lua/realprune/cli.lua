--- Subcommands of the `realprune` executable: `realprune COMMAND args...`.
--
-- `realprune help` prints the usage. The recipe runner adds `run` and `list`.
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

commands:
%s

With no script and no command, realprune starts a REPL in which
rp = require "realprune".]==]

local descriptions = {
  help = "print this help",
  version = "print the version",
}

function M.commands.help()
  local names = {}
  for name in pairs(M.commands) do names[#names + 1] = name end
  table.sort(names)
  local lines = {}
  for _, name in ipairs(names) do
    lines[#lines + 1] = ("  %-10s  %s"):format(name, descriptions[name] or "")
  end
  print(usage:format(table.concat(lines, "\n")))
  return 0
end

function M.commands.version()
  print("realprune " .. require("realprune").VERSION .. " (" .. _VERSION .. ")")
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
