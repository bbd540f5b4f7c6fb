-- Programming variation (rp.faults.sample's sigma_d2d, sigma_c2c, sigma_of):
-- sigma 0 is bit-identical to ideal cells; every weight's effective value
-- matches an independent implementation of docs/design.md's formula (codes,
-- slices, counter-based noise per cell and write, clamping, stuck cells read
-- exactly) for both encodings and both spreads; device-to-device noise stays
-- through writes and cycle-to-cycle noise is drawn again at every optimizer
-- update; the same seed gives the same cells at any thread count; the spread
-- follows sigma; the sparse kernels keep every mapped weight; rp.save keeps
-- the spreads; bad input.
local lu = require "luaunit"
local rp = require "realprune"
local stuck_digits = require("tests.lua.helpers").stuck_digits
local T, nn = rp.tensor, rp.nn

local CFG = rp.xbar.config{rows = 8, cols = 16, weight_bits = 8, cell_bits = 2} -- 4 slices
local DIFF = rp.xbar.config{rows = 8, cols = 16, weight_bits = 8, cell_bits = 2,
  signed = "differential"}

-- ------------------------------------------------ independent reference --
local function mix64(x)
  x = x ~ (x >> 30)
  x = x * 0xbf58476d1ce4e5b9 -- hex literals wrap modulo 2^64
  x = x ~ (x >> 27)
  x = x * 0x94d049bb133111eb
  return x ~ (x >> 31)
end

local function round(v) -- nearest, ties to even (as nearbyint)
  local f = math.floor(v)
  local r = v - f
  if r > 0.5 or (r == 0.5 and f % 2 == 1) then f = f + 1 end
  return f
end

-- a draw from 32 bits: four 8-bit lanes (Irwin-Hall), centred, variance 1
local function normal(h)
  local u = (h & 0xff) + ((h >> 8) & 0xff) + ((h >> 16) & 0xff) + ((h >> 24) & 0xff)
  return (u + 2 - 512) * math.sqrt(3) / 256
end

-- draw c of the stream keyed by `key`: half of splitmix64's output c // 2
local function draw(key, c)
  local h = mix64(key + (c >> 1) * 0x9e3779b97f4a7c15)
  return normal(c & 1 == 1 and (h >> 32) or (h & 0xffffffff))
end

-- the value one array's cells hold: slices of 2 bits of an 8-bit code
local function cells_value(code, stuck, i, array, o, write)
  local slices, phys = 4, o.differential and 8 or 4
  local q = 0
  for k = 0, slices - 1 do
    local lo, top = 2 * k, 3
    local d = (code >> lo) & top
    if (stuck >> lo) & top == 0 then
      local cell = i * phys + array * slices + k
      local z = 0
      -- cell number `cell` of two streams; z_d kept to 1/36
      if o.d2d > 0 then z = z + o.d2d * round(36 * draw(mix64(o.seed), cell)) / 36 end
      if o.c2c > 0 then
        z = z + o.c2c * draw(mix64(o.seed ~ 0x632be59bd9b4e019 ~ mix64(write + 1)), cell)
      end
      d = d + z * (o.level and d or top)
      d = math.max(0, math.min(top, d))
    end
    q = q + d * (1 << lo)
  end
  return q
end


-- weight i (0-based) of `w` (a Lua array) with scale s
local function reference(w, i, s, o, write, stuck)
  local levels = 255
  stuck = stuck or {}
  local x = w[i + 1]
  if not o.differential then
    local q = math.max(0, math.min(levels, round((x / s + 1) * 0.5 * levels)))
    q = (q & ~(stuck.clear_pos or 0)) | (stuck.set_pos or 0)
    local st = (stuck.clear_pos or 0) | (stuck.set_pos or 0)
    return (2 * cells_value(q, st, i, 0, o, write) / levels - 1) * s
  end
  local p = math.min(levels, round(math.max(x, 0) / s * levels))
  local n = math.min(levels, round(math.max(-x, 0) / s * levels))
  local cp, sp = stuck.clear_pos or 0, stuck.set_pos or 0
  local cn, sn = stuck.clear_neg or 0, stuck.set_neg or 0
  p, n = (p & ~cp) | sp, (n & ~cn) | sn
  return (cells_value(p, cp | sp, i, 0, o, write) - cells_value(n, cn | sn, i, 1, o, write)) /
    levels * s
end

local function linear_model(seed)
  rp.seed(seed)
  return nn.Sequential{nn.Linear(5, 3, {bias = false})}
end

local function step(m, x, labels, opt)
  local crit = nn.CrossEntropyLoss()
  opt:zero_grad()
  local loss = crit:forward(m:forward(x), labels)
  m:backward(x, crit:backward())
  opt:step()
  return loss
end

TestVariation = {}

function TestVariation:test_zero_sigma_changes_nothing_bit_for_bit()
  local function model()
    rp.seed(1)
    local m = nn.Sequential{nn.Conv2d(2, 6, 3, {padding = 1}), nn.ReLU(), nn.Flatten(),
      nn.Linear(6 * 4 * 4, 5)}
    rp.prune.apply(m, {granularity = "column", amount = 0.4, xbar = CFG})
    return m
  end
  local a, b = model(), model()
  rp.faults.attach(b, rp.faults.sample(b, CFG, {sigma_d2d = 0, sigma_c2c = 0, seed = 3}))
  local x = T.randn({4, 2, 4, 4}, rp.generator(5))
  local oa = rp.optim.SGD(a:parameters(), {lr = 0.1, momentum = 0.9})
  local ob = rp.optim.SGD(b:parameters(), {lr = 0.1, momentum = 0.9})
  for _ = 1, 3 do lu.assertEquals(step(a, x, {1, 2, 3, 4}, oa), step(b, x, {1, 2, 3, 4}, ob)) end
  for i, l in ipairs(a:prunable()) do
    lu.assertEquals(l.weight:sub(b:prunable()[i].weight):abs():max(), 0)
  end
end

function TestVariation:test_every_weight_matches_the_reference()
  for _, o in ipairs{
    {cfg = CFG, d2d = 0.05, c2c = 0, level = false},
    {cfg = CFG, d2d = 0.02, c2c = 0.035, level = false},
    {cfg = CFG, d2d = 0.3, c2c = 0.1, level = true},
    {cfg = DIFF, d2d = 0.05, c2c = 0.02, level = false, differential = true},
    {cfg = DIFF, d2d = 0.2, c2c = 0, level = true, differential = true},
  } do
    local m = linear_model(2)
    local l = m:prunable()[1]
    local map = rp.faults.sample(m, o.cfg, {sigma_d2d = o.d2d, sigma_c2c = o.c2c,
      sigma_of = o.level and "level" or "range", seed = 11})
    rp.faults.attach(m, map)
    o.seed = 11 * 1000003 + 1
    local w = l.weight:reshape{-1}:totable()
    local s = l.weight:abs():max()
    for _, write in ipairs{0, 5} do
      l.updates = write
      local e = rp.faults.effective(l, T.zeros(l.weight:shape())):reshape{-1}:totable()
      local moved = 0
      for i = 0, #w - 1 do
        local want = reference(w, i, s, o, write)
        lu.assertAlmostEquals(e[i + 1], want, 1e-6 * s, ("weight %d, write %d"):format(i, write))
        if math.abs(e[i + 1] - w[i + 1]) > 1e-3 * s then moved = moved + 1 end
      end
      lu.assertTrue(moved > #w // 2, "the noise moved too few weights")
    end
  end
end

-- The cells' reads run as AVX-512, AVX2 or plain code, whichever the CPU
-- has (REALPRUNE_SIMD=avx2|base picks a narrower one): all give the same
-- bits, with stuck cells, both encodings, odd and even numbers of cells a
-- weight and partial runs; and the same bits as the plain one-weight-at-a-time
-- loop they replaced: tests/fixtures/variation_cells.fnv is the FNV-1a hash
-- of its output (`build/realprune tests/fixtures/variation_cells.lua --fnv`
-- built at commit 7386a46).
function TestVariation:test_every_vector_form_gives_the_same_bits()
  local H = require "tests.lua.helpers"
  local want = H.read("tests/fixtures/variation_cells.fnv"):match("^(%x+)")
  for _, simd in ipairs{"", "avx2", "base"} do
    local env = simd == "" and "env -u REALPRUNE_SIMD " or "REALPRUNE_SIMD=" .. simd .. " "
    local out, code = H.run(env .. H.BIN .. " tests/fixtures/variation_cells.lua --fnv")
    lu.assertEquals(code, 0, out)
    lu.assertEquals(out, want .. "\n", ("REALPRUNE_SIMD=%s: other bits"):format(simd))
  end
  -- the hash is of every weight: the plain output has all 4 x 37 x 29 + 600 x 40
  local out = H.run(H.BIN .. " tests/fixtures/variation_cells.lua")
  local n = 0
  for _ in out:gmatch("%S+") do n = n + 1 end
  lu.assertEquals(n, 4 * 37 * 29 + 600 * 40)
end

-- The reads may be computed in place (out = weight): the same values,
-- unmapped weights and a diverged (NaN) one kept as they are.
function TestVariation:test_in_place_reads()
  rp.seed(5)
  local m = nn.Sequential{nn.Linear(600, 40, {bias = false})}
  local cfg = rp.xbar.config{rows = 128, cols = 16, weight_bits = 16, cell_bits = 2}
  rp.prune.apply(m, {granularity = "column", amount = 0.7, xbar = cfg})
  local l = m:prunable()[1]
  local flat = l.weight:reshape{-1}
  local mask = l.mask:reshape{-1}
  local alive
  for i = 1, flat:numel() do if mask[i] ~= 0 then alive = i break end end
  flat[alive] = 0 / 0
  rp.faults.attach(m, rp.faults.sample(m, cfg, {sa0 = 0.05, sa1 = 0.02, seed = 3,
    sigma_d2d = 0.05, sigma_c2c = 0.035}))
  l.updates = 4
  local core = require "realprune.core"
  local apart = T.zeros(l.weight:shape())
  core.cells_effective(apart, l.weight, l.faults, l.variation, 4)
  local inplace = l.weight:clone()
  core.cells_effective(inplace, inplace, l.faults, l.variation, 4)
  local a, b, w = apart:reshape{-1}:totable(), inplace:reshape{-1}:totable(), flat:totable()
  for i = 1, #a do
    if i == alive then
      lu.assertTrue(b[i] ~= b[i], "the NaN weight was overwritten")
    else
      lu.assertEquals(b[i], a[i], ("weight %d"):format(i))
      if mask[i] == 0 and a[i] ~= w[i] then
        -- a masked weight reads its cells only inside a mapped segment
        lu.assertTrue(math.abs(a[i]) > 0, ("weight %d"):format(i))
      end
    end
  end
  local unmapped = 0
  for i = 1, #a do if mask[i] == 0 and b[i] == 0 then unmapped = unmapped + 1 end end
  lu.assertTrue(unmapped > 10000, "too few unmapped weights kept at 0")
end

-- a stuck cell reads its forced digits exactly; the weight's other cells are
-- noisy. The stuck digits are read from the map's bytes.
function TestVariation:test_stuck_cells_read_exactly_under_variation()
  local m = linear_model(3)
  local l = m:prunable()[1]
  local map = rp.faults.sample(m, CFG, {sa0 = 0.2, sa1 = 0.2, sigma_d2d = 0.05, seed = 4})
  rp.faults.attach(m, map)
  local stuck, n = stuck_digits(map, 1)
  lu.assertTrue(n > 3)
  local w = l.weight:reshape{-1}:totable()
  local s = l.weight:abs():max()
  local e = rp.faults.effective(l, T.zeros(l.weight:shape())):reshape{-1}:totable()
  local o = {d2d = 0.05, c2c = 0, level = false, seed = 4 * 1000003 + 1}
  for i = 0, #w - 1 do
    lu.assertAlmostEquals(e[i + 1], reference(w, i, s, o, 0, stuck[i]), 1e-6 * s)
  end
  -- a weight whose every cell is stuck reads exactly its forced code
  local all
  for i, st in pairs(stuck) do if st.clear_pos | st.set_pos == 255 then all = i end end
  if all then
    lu.assertAlmostEquals(e[all + 1], (2 * stuck[all].set_pos / 255 - 1) * s, 1e-6 * s)
  end
end

-- 40,000 weights with stuck cells in many 4096-weight chunks, both
-- encodings: every weight matches the reference at 1 and at 2 threads
function TestVariation:test_large_layer_with_faults_threads_and_reference()
  for _, c in ipairs{{CFG, false}, {DIFF, true}} do
    rp.seed(12)
    local lin = nn.Linear(400, 100, {bias = false})
    local m = nn.Sequential{lin}
    local map = rp.faults.sample(m, c[1], {sa0 = 0.02, sa1 = 0.02, sigma_d2d = 0.04,
      sigma_c2c = 0.02, seed = 5})
    rp.faults.attach(m, map)
    lin.updates = 3
    local stuck, n = stuck_digits(map, 1)
    lu.assertTrue(n > 1000)
    local old = rp.get_threads()
    rp.set_threads(1)
    local e1 = rp.faults.effective(lin, T.zeros(lin.weight:shape()))
    rp.set_threads(2)
    local e2 = rp.faults.effective(lin, T.zeros(lin.weight:shape()))
    rp.set_threads(old)
    lu.assertEquals(e1:sub(e2):abs():max(), 0)
    local w = lin.weight:reshape{-1}:totable()
    local s = lin.weight:abs():max()
    local e = e1:reshape{-1}:totable()
    local o = {d2d = 0.04, c2c = 0.02, level = false, seed = 5 * 1000003 + 1,
      differential = c[2]}
    for i = 0, #w - 1 do
      local want = reference(w, i, s, o, 3, stuck[i])
      if math.abs(e[i + 1] - want) > 1e-6 * s then
        lu.fail(("weight %d: %g, the reference %g"):format(i, e[i + 1], want))
      end
    end
  end
end

function TestVariation:test_d2d_stays_c2c_redrawn_each_update_seeds_threads()
  local x = T.randn({4, 5}, rp.generator(1))
  local function effective_after(spec, steps, threads)
    local m = linear_model(4)
    rp.faults.attach(m, rp.faults.sample(m, CFG, spec))
    local l = m:prunable()[1]
    local opt = rp.optim.SGD(m:parameters(), {lr = 0})
    for _ = 1, steps do step(m, x, {1, 2, 3, 1}, opt) end
    local old = rp.get_threads()
    rp.set_threads(threads)
    local e = rp.faults.effective(l, T.zeros(l.weight:shape()))
    rp.set_threads(old)
    return e, l.updates or 0
  end
  -- lr 0: the weights never change, so only the cells' noise can
  local d0, u0 = effective_after({sigma_d2d = 0.05, seed = 1}, 0, 1)
  local d3, u3 = effective_after({sigma_d2d = 0.05, seed = 1}, 3, 2)
  lu.assertEquals({u0, u3}, {0, 3})
  lu.assertEquals(d0:sub(d3):abs():max(), 0)
  local c0 = effective_after({sigma_c2c = 0.05, seed = 1}, 0, 1)
  local c1 = effective_after({sigma_c2c = 0.05, seed = 1}, 1, 1)
  local c1b = effective_after({sigma_c2c = 0.05, seed = 1}, 1, 2)
  lu.assertTrue(c0:sub(c1):abs():max() > 0)
  lu.assertEquals(c1:sub(c1b):abs():max(), 0)
  local other = effective_after({sigma_c2c = 0.05, seed = 2}, 1, 1)
  lu.assertTrue(other:sub(c1):abs():max() > 0)
end

-- over many weights the read error has mean about 0 and the spread sigma
-- implies: offset encoding, range spread, weights near 0 (codes mid-range, no
-- clamping), error of the top slice dominating: sd of w' - q(w) =
-- 2 s / 255 * sigma * 3 * sqrt(1 + 4^2 + 16^2 + 64^2)
function TestVariation:test_spread_follows_sigma()
  rp.seed(5)
  local lin = nn.Linear(400, 50, {bias = false})
  lin.weight:mul_(0.01)
  lin.weight:set(1.0, 1, 1) -- s = 1; the others near 0
  local m = nn.Sequential{lin}
  local sigma = 0.01
  rp.faults.attach(m, rp.faults.sample(m, CFG, {sigma_d2d = sigma, seed = 6}))
  local e = rp.faults.effective(lin, T.zeros(lin.weight:shape())):reshape{-1}:totable()
  local w = lin.weight:reshape{-1}:totable()
  local sum, sq, n = 0, 0, 0
  for i = 2, #w do
    local q = (2 * round((w[i] + 1) * 0.5 * 255) / 255 - 1)
    local d = e[i] - q
    sum, sq, n = sum + d, sq + d * d, n + 1
  end
  local mean, sd = sum / n, math.sqrt(sq / n - (sum / n) ^ 2)
  local want = 2 / 255 * sigma * 3 * math.sqrt(1 + 16 + 256 + 4096)
  lu.assertTrue(math.abs(sd / want - 1) < 0.05, ("sd %g, want %g"):format(sd, want))
  lu.assertTrue(math.abs(mean) < 4 * want / math.sqrt(n), ("mean %g"):format(mean))
end

-- with variation every mapped weight can read nonzero (masked ones too): the
-- sparse kernels keep them and equal the dense ones
function TestVariation:test_sparse_execution_keeps_mapped_weights()
  require("tests.lua.helpers").sparse_equals_dense_with_cells(lu, {sigma_d2d = 0.05, seed = 3})
end

function TestVariation:test_save_keeps_the_spreads()
  local m = linear_model(6)
  rp.faults.attach(m, rp.faults.sample(m, CFG, {sa0 = 0.05, sigma_d2d = 0.03, sigma_c2c = 0.01,
    sigma_of = "level", seed = 9}))
  m:prunable()[1].updates = 4
  local x = T.randn({2, 5}, rp.generator(3))
  local y = m:forward(x):clone()
  local path = os.tmpname()
  rp.save(path, m)
  local back = rp.load(path)
  os.remove(path)
  lu.assertEquals({back.fault_map.sigma_d2d, back.fault_map.sigma_c2c, back.fault_map.sigma_of},
    {0.03, 0.01, "level"})
  lu.assertEquals(back:prunable()[1].updates, 4) -- the write count keys the c2c draws
  lu.assertEquals(back:forward(x):sub(y):abs():max(), 0)
end

function TestVariation:test_bad_input()
  local m = linear_model(7)
  for _, c in ipairs{
    {{sigma_d2d = -0.1}, "sigma_d2d must be a finite number >= 0, got -0.1"},
    {{sigma_c2c = 0 / 0}, "sigma_c2c must be a finite number >= 0"},
    {{sigma_c2c = math.huge}, "sigma_c2c must be a finite number >= 0"},
    {{sigma_d2d = "5%"}, "sigma_d2d must be a finite number >= 0"},
    {{sigma_d2d = 0.1, sigma_of = "target"}, "sigma_of must be \"range\" or \"level\""},
  } do
    local ok, err = pcall(rp.faults.sample, m, CFG, c[1])
    lu.assertFalse(ok)
    lu.assertStrContains(err, "rp.faults.sample: " .. c[2])
  end
end

os.exit(lu.LuaUnit.run())
