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

--- The stuck digits of layer `i` of a fault map, read from its bytes
-- (l_faults.c: a header of 7 int64, the n indices, then the clear_pos,
-- set_pos, clear_neg and set_neg masks): index -> {clear_pos, set_pos,
-- clear_neg, set_neg}, and n.
function H.stuck_digits(map, i)
  local bytes = require("realprune.faults").serialize(map).layers[i].bytes
  local n = string.unpack("<i8", bytes, 9)
  local t = {}
  for k = 0, n - 1 do
    local e = {}
    for a, key in ipairs{"clear_pos", "set_pos", "clear_neg", "set_neg"} do
      e[key] = string.unpack("<i8", bytes, 57 + 8 * (a * n + k))
    end
    t[string.unpack("<i8", bytes, 57 + 8 * k)] = e
  end
  return t, n
end

--- Sparse kernels against dense with a fault map drawn by `spec`
-- (rp.faults.sample's) attached: a 16 -> 32 conv, 70% of its column segments
-- pruned and every 7th weight of the alive ones masked too (inside mapped
-- segments, so they have cells). Checks (with luaunit `lu`) that the sparse
-- forward and input gradient equal the dense ones and that the masked
-- mapped weights matter (dropping them changes the output).
function H.sparse_equals_dense_with_cells(lu, spec)
  local rp = require "realprune"
  local T, nn = rp.tensor, rp.nn
  rp.seed(8)
  local conv = nn.Conv2d(16, 32, 3, {padding = 1, bias = false})
  conv.algorithm = "sparse"
  local m = nn.Sequential{conv}
  local cfg = rp.xbar.config{rows = 32, cols = 16, weight_bits = 8, cell_bits = 2}
  rp.prune.apply(m, {granularity = "column", amount = 0.7, xbar = cfg})
  local mask = conv.mask:clone()
  local flat = mask:reshape{-1}
  local killed = 0
  for i = 1, flat:numel(), 7 do if flat[i] == 1 then flat[i] = 0; killed = killed + 1 end end
  conv:set_mask(mask)
  local x = T.randn({2, 16, 6, 6}, rp.generator(9))
  -- another map first, run once: its plan must not outlive it
  rp.faults.attach(m, rp.faults.sample(m, cfg, {sa0 = 0.3, sa1 = 0.1, seed = 99}))
  m:forward(x)
  rp.faults.attach(m, rp.faults.sample(m, cfg, spec))
  local gy = T.randn({2, 32, 6, 6}, rp.generator(10))
  local y1 = m:forward(x):clone()
  lu.assertEquals(conv.runs, "sparse")
  local g1 = m:backward(x, gy):clone()
  conv.algorithm = "im2col"
  local y2 = m:forward(x):clone()
  local g2 = m:backward(x, gy):clone()
  lu.assertTrue(killed > 0)
  lu.assertTrue(y1:sub(y2):abs():max() <= 1e-4 * (y2:abs():max() + 1))
  lu.assertTrue(g1:sub(g2):abs():max() <= 1e-4 * (g2:abs():max() + 1))
  local plain = nn.Conv2d(16, 32, 3, {padding = 1, bias = false})
  plain.weight:copy(conv.fault_used:mul(conv.mask))
  lu.assertTrue(plain:forward(x):sub(y2):abs():max() > 1e-3)
end

return H
