-- Small helpers shared by the Lua test suites: `require "tests.lua.helpers"`
-- (the suites run from the source folder).
local H = {}

--- The realprune executable under test.
H.BIN = os.getenv("REALPRUNE_BIN") or "build/realprune"

--- A new empty folder.
function H.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(require("realprune.core").mkdir(d))
  return d
end

--- A new empty folder and a function naming a file in it.
function H.scratch()
  local d = H.tmpdir()
  return d, function(name) return d .. "/" .. name end
end

--- A file's contents, or nil.
function H.read(p)
  local f = io.open(p, "rb")
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

--- Writes `s` to the file `p` (bytes as they are).
function H.write(p, s)
  local f = assert(io.open(p, "wb"))
  f:write(s)
  f:close()
end

--- Runs a shell command: its output (stdout and stderr) and exit code.
function H.run(cmd)
  local p = assert(io.popen(cmd .. " 2>&1; echo \"<exit:$?>\""))
  local out = p:read("a")
  p:close()
  local code = tonumber(out:match("<exit:(%d+)>%s*$"))
  return (out:gsub("<exit:%d+>%s*$", "")), code
end

return H
