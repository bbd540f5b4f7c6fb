--- The quickstart's numbers against tests/fixtures/quickstart/ (bit for bit):
-- the results table, the accuracy of every round, and a CRC-32 of every
-- strategy's final weights. A refactoring that changes none of the
-- computation keeps all three.
--
--     build/realprune tools/quickstart_check.lua            (runs the quickstart, ~2.5 min)
--     build/realprune tools/quickstart_check.lua RUN_DIR    (checks a finished run)
--     build/realprune tools/quickstart_check.lua RUN_DIR --write   (writes the fixture)
local rp = require "realprune"

local fixture = "tests/fixtures/quickstart"
local dir, write = arg[1], arg[2] == "--write"
if not dir then
  dir = os.tmpname()
  os.remove(dir)
  local cmd = ("%s run recipes/quickstart.lua --out %s"):format(arg[-1] or "build/realprune", dir)
  print(cmd)
  assert(os.execute(cmd .. " > " .. dir .. ".log 2>&1"), "the quickstart failed: see " .. dir
    .. ".log")
end

local function read(p)
  local f = assert(io.open(p, "rb"), "cannot read " .. p)
  local s = f:read("a")
  f:close()
  return s
end

-- CRC-32 of every final state tensor, by name, one line per strategy
local function weights_crc()
  local lines = {}
  for _, name in ipairs{"realprune", "lth", "cgp"} do
    local ck = rp.load(dir .. "/" .. name .. "/lth.rpk")
    local names = {}
    for k in pairs(ck.state) do names[#names + 1] = k end
    table.sort(names)
    local crc = 0
    for _, k in ipairs(names) do
      local flat = ck.state[k]:reshape{-1}:totable()
      local parts = {}
      for i = 1, #flat do parts[i] = string.pack("<f", flat[i]) end
      crc = rp.core.crc32(k .. table.concat(parts), crc)
    end
    lines[#lines + 1] = ("%s %08x"):format(name, crc)
  end
  return table.concat(lines, "\n") .. "\n"
end

local now = {["results.csv"] = read(dir .. "/results.csv"),
  ["accuracy_vs_sparsity.csv"] = read(dir .. "/accuracy_vs_sparsity.csv"),
  ["weights.crc"] = weights_crc()}
local bad = 0
for name, text in pairs(now) do
  if write then
    local f = assert(io.open(fixture .. "/" .. name, "wb"))
    f:write(text)
    f:close()
  elseif read(fixture .. "/" .. name) ~= text then
    bad = bad + 1
    print(("quickstart_check: %s differs from %s/%s:\n%s"):format(name, fixture, name, text))
  end
end
if write then print("wrote " .. fixture) os.exit(0) end
print(bad == 0 and ("quickstart_check: %s matches the fixture bit for bit"):format(dir) or
  "quickstart_check: FAILED")
os.exit(bad == 0 and 0 or 1)
