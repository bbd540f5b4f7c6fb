-- Stuck-at faults (rp.faults): rates of 0 change nothing bit for bit; the
-- cells drawn are those of the mapped segments (an independent count) and
-- the stuck ones follow the rates; the same seed draws the same faults;
-- detach restores; hand-computed effective weights for each encoding;
-- differential cells all stuck at HRS read as zero; stuck cells keep their
-- value through optimizer steps; masked weights in mapped segments read their
-- cells while unmapped ones stay 0; the error pass uses the same weights;
-- rp.save keeps an attached map; bad input.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn
local core = rp.core

local function small_model(seed)
  rp.seed(seed)
  return nn.Sequential{nn.Conv2d(2, 6, 3, {padding = 1}), nn.ReLU(), nn.Flatten(),
    nn.Linear(6 * 4 * 4, 5)}
end

local CFG = rp.xbar.config{rows = 8, cols = 16, weight_bits = 8, cell_bits = 2} -- 4 slices

local function step(m, x, labels, opt)
  local crit = nn.CrossEntropyLoss()
  opt:zero_grad()
  local loss = crit:forward(m:forward(x), labels)
  m:backward(x, crit:backward())
  opt:step()
  return loss
end

-- docs/design.md's mapped cells of one layer, counted here: kept rows
-- (compact), blocks of cfg.rows, alive segments, rows x phys cells each
local function mapped_cells(layer, cfg)
  local C = layer.weight:size(1)
  local R = layer.weight:numel() // C
  local mask = layer.mask and layer.mask:reshape{-1}:totable()
  local function alive(r, c) return not mask or mask[(c - 1) * R + r] ~= 0 end
  local kept = {}
  for r = 1, R do
    local any = not cfg.compact_rows
    for c = 1, C do if alive(r, c) then any = true end end
    if any then kept[#kept + 1] = r end
  end
  local phys = cfg.phys
  local cells = 0
  for b0 = 1, #kept, cfg.rows do
    local b1 = math.min(b0 + cfg.rows - 1, #kept)
    for c = 1, C do
      local seg = false
      for k = b0, b1 do if alive(kept[k], c) then seg = true end end
      if seg then cells = cells + (b1 - b0 + 1) * phys end
    end
  end
  return cells
end

TestFaults = {}

function TestFaults:test_zero_rates_change_nothing_bit_for_bit()
  local a, b = small_model(1), small_model(1)
  for _, m in ipairs{a, b} do
    rp.prune.apply(m, {granularity = "column", amount = 0.4, xbar = CFG})
  end
  rp.faults.attach(b, rp.faults.sample(b, CFG, {sa0 = 0, sa1 = 0, seed = 3}))
  local x = T.randn({4, 2, 4, 4}, rp.generator(5))
  local labels = {1, 2, 3, 4}
  local oa = rp.optim.SGD(a:parameters(), {lr = 0.1, momentum = 0.9})
  local ob = rp.optim.SGD(b:parameters(), {lr = 0.1, momentum = 0.9})
  for _ = 1, 3 do lu.assertEquals(step(a, x, labels, oa), step(b, x, labels, ob)) end
  for i, l in ipairs(a:prunable()) do
    lu.assertEquals(l.weight:sub(b:prunable()[i].weight):abs():max(), 0)
  end
end

function TestFaults:test_cells_and_rates_and_seeds()
  local m = small_model(2)
  rp.prune.apply(m, {granularity = "column", amount = 0.5, xbar = CFG})
  local f = rp.faults.sample(m, CFG, {sa0 = 0.09, sa1 = 0.01, seed = 7})
  local want = 0
  for i, l in ipairs(m:prunable()) do
    local c = mapped_cells(l, CFG)
    lu.assertEquals(f.layers[i].cells, c, l.name)
    want = want + c
  end
  lu.assertEquals(f.total.cells, want)
  -- binomial counts within 4 standard deviations
  for _, k in ipairs{{"sa0", 0.09}, {"sa1", 0.01}} do
    local n, p = f.total.cells, k[2]
    local sd = math.sqrt(n * p * (1 - p))
    lu.assertTrue(math.abs(f.total[k[1]] - n * p) < 4 * sd + 1, ("%s %d of %d cells"):format(
      k[1], f.total[k[1]], n))
  end
  local g = rp.faults.sample(m, CFG, {sa0 = 0.09, sa1 = 0.01, seed = 7})
  local h = rp.faults.sample(m, CFG, {sa0 = 0.09, sa1 = 0.01, seed = 8})
  local sg, sh = rp.faults.serialize(g), rp.faults.serialize(h)
  local sf = rp.faults.serialize(f)
  for i = 1, #sf.layers do lu.assertEquals(sf.layers[i].bytes, sg.layers[i].bytes) end
  lu.assertNotEquals(sf.layers[2].bytes, sh.layers[2].bytes)
  -- a dense layer has every cell; differential doubles them
  local d = rp.xbar.config{rows = 8, cols = 16, weight_bits = 8, cell_bits = 2,
    signed = "differential"}
  local lin = nn.Linear(10, 3)
  local dm = nn.Sequential{lin}
  lu.assertEquals(rp.faults.sample(dm, CFG, {sa0 = 0.1}).total.cells, 30 * 4)
  lu.assertEquals(rp.faults.sample(dm, d, {sa0 = 0.1}).total.cells, 30 * 8)
end

-- Wear-out (rp.faults.wear): on ISAAC the forward arrays are written once a
-- batch, so a layer trained for u updates has written each cell u times; with
-- endurance limit * 10^(spread z), a fraction Phi(log10(u / limit) / spread)
-- is worn (values from Python's math.erfc: Phi(log10(0.5) / 0.3) =
-- 0.1578259174, Phi(log10(3) / 0.5) = 0.8300195493).
function TestFaults:test_wear_out_by_hand()
  local m = small_model(3)
  local ls = m:prunable()
  ls[1].updates, ls[2].updates = 5000, 30000
  local e = rp.reram.endurance(m, "isaac", {input_shape = {2, 4, 4}})
  lu.assertEquals(e.layers[1].arrays.forward.per_batch, 1)
  local function worn(spread, o)
    o = o or {}
    o.arch, o.limit, o.spread, o.seed = "isaac", 1e4, spread, o.seed or 5
    o.input_shape = {2, 4, 4}
    return rp.faults.wear(m, CFG, o)
  end
  local w = worn(0.3)
  lu.assertEquals(w.wear.layers[1].writes, 5000)
  lu.assertAlmostEquals(w.wear.layers[1].worn, 0.1578259174, 1e-6)
  local w2 = worn(0.5)
  lu.assertAlmostEquals(w2.wear.layers[2].worn, 0.8300195493, 1e-6)
  -- the drawn counts follow the fractions (4 standard deviations); all SA1
  for i, l in ipairs(w2.layers) do
    local n, p = l.cells, w2.wear.layers[i].worn
    lu.assertTrue(math.abs(l.sa1 - n * p) < 4 * math.sqrt(n * p * (1 - p)) + 1,
      ("%s: %d of %d cells worn"):format(l.name, l.sa1, n))
    lu.assertEquals(l.sa0, 0)
  end
  -- worn cells at HRS instead: the same cells, the other state
  local hrs = worn(0.5, {kind = "sa0"})
  for i, l in ipairs(hrs.layers) do
    lu.assertEquals({l.sa0, l.sa1}, {w2.layers[i].sa1, 0})
  end
  -- with the chip's own SA0 cells, the worn fraction is of the others
  local both = worn(0.5, {sa0 = 0.3})
  for i, l in ipairs(both.layers) do
    local n, p = l.cells, 0.7 * both.wear.layers[i].worn
    lu.assertTrue(math.abs(l.sa1 - n * p) < 4 * math.sqrt(n * p * (1 - p)) + 1,
      ("%s: %d of %d cells worn beside %d stuck at HRS"):format(l.name, l.sa1, n, l.sa0))
  end
  -- no spread: every cell of a layer past the limit, none before it
  local cliff = worn(0)
  lu.assertEquals({cliff.layers[1].sa1, cliff.layers[2].sa1}, {0, cliff.layers[2].cells})
  -- no training, no wear: the chip's own faults only, as rp.faults.sample draws them
  ls[1].updates, ls[2].updates = 0, 0
  local fresh = rp.faults.serialize(worn(0.5, {sa0 = 0.05, sa1 = 0.02}))
  local chip = rp.faults.serialize(rp.faults.sample(m, CFG, {sa0 = 0.05, sa1 = 0.02, seed = 5}))
  local fresh0 = rp.faults.serialize(worn(0.5, {sa0 = 0.05, sa1 = 0.02, kind = "sa0"}))
  for i = 1, #chip.layers do
    lu.assertEquals(fresh.layers[i].bytes, chip.layers[i].bytes)
    lu.assertEquals(fresh0.layers[i].bytes, chip.layers[i].bytes)
  end
  lu.assertEquals(worn(0.5).total.faulty, 0)
  -- the chip's own rates summing to 1 (1 - sa0 - sa1 rounds below 0)
  ls[1].updates = 20000
  lu.assertEquals(worn(0.5, {sa0 = 0.064, sa1 = 0.936}).total.sa1 +
    worn(0.5, {sa0 = 0.064, sa1 = 0.936}).total.sa0, worn(0.5).total.cells)
  -- RPU updates in place: a batch of 16 applies B * P = 16 * 16 pulse trains
  -- to the 3x3 convolution's cells (4x4 output positions), so 3 updates write
  -- each 768 times: Phi(log10(0.768) / 0.2) = 0.2832567071
  ls[1].updates = 3
  local r = rp.faults.wear(m, CFG, {arch = "rpu", batch = 16, limit = 1000, spread = 0.2,
    input_shape = {2, 4, 4}})
  lu.assertEquals(r.wear.layers[1].writes, 768)
  lu.assertAlmostEquals(r.wear.layers[1].worn, 0.2832567071, 1e-6)
end

-- More wear only adds stuck cells: a cell stuck after u updates is stuck the
-- same way after more, and the chip's own SA0 and SA1 cells stay as they are,
-- whichever state worn cells take.
function TestFaults:test_wear_grows_monotonically()
  for _, kind in ipairs{"sa1", "sa0"} do self:check_wear_growth(kind) end
end

function TestFaults:check_wear_growth(kind)
  local m = small_model(4)
  local stuck_digits = require("tests.lua.helpers").stuck_digits
  local before
  for _, u in ipairs{2000, 6000, 20000} do
    for _, l in ipairs(m:prunable()) do l.updates = u end
    local w = rp.faults.wear(m, CFG, {arch = "isaac", limit = 1e4, spread = 0.4, seed = 9,
      sa0 = 0.02, sa1 = 0.03, kind = kind, input_shape = {2, 4, 4}})
    local now = {}
    for i = 1, #w.layers do now[i] = stuck_digits(w, i) end
    if before then
      for i, t in ipairs(before) do
        local kept, grew = 0, 0
        for index, e in pairs(t) do
          local f = now[i][index]
          lu.assertNotNil(f, ("layer %d weight %d lost its stuck cells"):format(i, index))
          -- every digit forced before is forced the same way now
          lu.assertEquals(f.clear_pos & e.clear_pos, e.clear_pos)
          lu.assertEquals(f.set_pos & e.set_pos, e.set_pos)
          kept = kept + 1
        end
        for _ in pairs(now[i]) do grew = grew + 1 end
        lu.assertTrue(grew > kept, "more wear added no stuck weight")
      end
    end
    before = now
  end
end

function TestFaults:test_wear_bad_input()
  local m = small_model(1)
  for _, c in ipairs{
    {{input_shape = {2, 4, 4}}, "option arch (a ReRAM preset or its name) expected"},
    {{arch = "nope"}, 'no ReRAM preset named "nope"'},
    {{arch = "isaac", spread = -1}, "spread must be a finite number >= 0 (decades), got -1"},
    {{arch = "isaac", kind = "lrs"}, 'kind must be "sa0" or "sa1", got lrs'},
    {{arch = "isaac", sa0 = 0.7, sa1 = 0.5}, "sa0 + sa1 must be at most 1"},
    {{arch = "isaac", sa1 = -0.1}, "rp.faults.wear: sa1 must be a number in [0, 1]"},
    {{arch = "isaac", limit = 0}, "limit must be a positive number of write cycles, got 0"},
    {{arch = "isaac", seed = 1.5}, "seed must be an integer, got 1.5"},
    {{arch = "isaac", lifetime = 3}, "unknown option 'lifetime'"},
  } do
    local ok, err = pcall(rp.faults.wear, m, CFG, c[1])
    lu.assertFalse(ok)
    lu.assertStrContains(err, "rp.faults.wear: ")
    lu.assertStrContains(err, c[2])
  end
  lu.assertErrorMsgContains("a model expected", rp.faults.wear, {}, CFG, {arch = "isaac"})
end

-- A fault layer with chosen stuck cells, built from its bytes (l_faults.c):
-- header numel, n, cells, sa0, sa1, weight_bits, cell_bits | differential << 8,
-- then the indices and the four masks.
local function crafted(numel, bits, cell_bits, differential, entries)
  local parts = {string.pack("<i8i8i8i8i8i8i8", numel, #entries, 0, 0, 0, bits,
    cell_bits | (differential and 256 or 0))}
  for _, e in ipairs(entries) do parts[#parts + 1] = string.pack("<i8", e.index) end
  for _, key in ipairs{"clear_pos", "set_pos", "clear_neg", "set_neg"} do
    for _, e in ipairs(entries) do parts[#parts + 1] = string.pack("<i8", e[key] or 0) end
  end
  return core.faults_from_bytes(table.concat(parts))
end

-- weight_bits 4, cell_bits 2 (slices: bits 0-1, bits 2-3), levels 15, s = 1:
--   offset w = 0.25: q = round(1.25/2 * 15) = round(9.375) = 9 = 1001b;
--     slice 0 stuck at LRS: 1011b = 11, w' = 2 * 11/15 - 1 = 7/15;
--     slice 1 stuck at HRS: 0001b = 1,  w' = 2/15 - 1 = -13/15
--   differential w = -0.25: p = 0, n = round(3.75) = 4 = 0100b;
--     positive slice 0 at LRS: p = 3, w' = (3 - 4)/15 = -1/15
--     negative slice 1 at HRS: n = 0, w' = 0
function TestFaults:test_hand_computed_effective_weights()
  local w = T.from{1.0, 0.25, 0.25, -0.25}
  local out = T.zeros{4}
  core.faults_effective(out, w, crafted(4, 4, 2, false, {{index = 1, set_pos = 3},
    {index = 2, clear_pos = 12}}))
  lu.assertEquals(out:get(1), 1.0) -- no stuck cell: untouched
  lu.assertAlmostEquals(out:get(2), 7 / 15, 1e-6)
  lu.assertAlmostEquals(out:get(3), -13 / 15, 1e-6)
  lu.assertEquals(out:get(4), -0.25)
  core.faults_effective(out, w, crafted(4, 4, 2, true, {{index = 3, set_pos = 3}}))
  lu.assertAlmostEquals(out:get(4), -1 / 15, 1e-6)
  lu.assertEquals(out:get(3), 0.25)
  core.faults_effective(out, w, crafted(4, 4, 2, true, {{index = 3, clear_neg = 12}}))
  lu.assertEquals(out:get(4), 0)
end

function TestFaults:test_differential_all_hrs_reads_zero_and_detach_restores()
  local m = small_model(3)
  local d = rp.xbar.config{rows = 8, cols = 16, weight_bits = 8, cell_bits = 2,
    signed = "differential"}
  local x = T.randn({2, 2, 4, 4}, rp.generator(1))
  local y0 = m:forward(x):clone()
  rp.faults.attach(m, rp.faults.sample(m, d, {sa0 = 1, seed = 1}))
  m:forward(x)
  for _, l in ipairs(m:prunable()) do lu.assertEquals(l.fault_used:abs():max(), 0, l.name) end
  rp.faults.detach(m)
  lu.assertEquals(m:forward(x):sub(y0):abs():max(), 0)
end

-- Every cell stuck at LRS (offset): every mapped weight reads s, the layer's
-- max |w|, whatever the optimizer does; masked weights in mapped segments too,
-- while the weights of unmapped segments stay 0.
function TestFaults:test_stuck_cells_survive_steps_and_unmapped_stay_zero()
  local m = small_model(4)
  local cfg = rp.xbar.config{rows = 8, cols = 16, weight_bits = 8, cell_bits = 2}
  rp.prune.apply(m, {granularity = "column", amount = 0.5, xbar = cfg})
  local lin = m:prunable()[2]
  -- kill one more weight inside an alive segment: it stays mapped
  local mask = lin.mask:clone()
  local R = lin.weight:numel() // lin.weight:size(1)
  local inside
  for c = 1, lin.weight:size(1) do
    for r = 1, R do
      if not inside and mask:get(c, r) == 1 and r % 8 ~= 1 then inside = {c, r} end
    end
  end
  mask:set(0, inside[1], inside[2])
  lin:set_mask(mask)
  rp.faults.attach(m, rp.faults.sample(m, cfg, {sa1 = 1, seed = 2}))
  local x = T.randn({4, 2, 4, 4}, rp.generator(2))
  local opt = rp.optim.SGD(m:parameters(), {lr = 0.5})
  for _ = 1, 3 do step(m, x, {1, 2, 3, 4}, opt) end
  m:forward(x)
  local s = lin.weight:abs():max()
  local used = lin.fault_used
  lu.assertAlmostEquals(used:get(inside[1], inside[2]), s, 1e-6 * s) -- masked, mapped: s
  lu.assertEquals(lin.weight:get(inside[1], inside[2]), 0)           -- the stored weight stays 0
  local mapped, zeros = 0, 0
  local flat_used, flat_mask = used:reshape{-1}:totable(), lin.mask:reshape{-1}:totable()
  for i, v in ipairs(flat_used) do
    if math.abs(v - s) <= 1e-6 * s then mapped = mapped + 1 end
    if v == 0 then zeros = zeros + 1 end
    lu.assertTrue(math.abs(v - s) <= 1e-6 * s or v == 0, "neither s nor 0 at " .. i)
  end
  lu.assertTrue(mapped > 0 and zeros > 0)
  lu.assertTrue(zeros <= #flat_mask - lin.mask:sum())
end

function TestFaults:test_error_pass_uses_the_effective_weights()
  local lin = nn.Linear(12, 4, {bias = false})
  local m = nn.Sequential{lin}
  rp.faults.attach(m, rp.faults.sample(m, CFG, {sa0 = 0.2, sa1 = 0.1, seed = 4}))
  local x = T.randn({3, 12}, rp.generator(6))
  local gy = T.randn({3, 4}, rp.generator(7))
  m:forward(x)
  local gx = m:backward(x, gy):clone()
  local plain = nn.Linear(12, 4, {bias = false})
  plain.weight:copy(lin.fault_used)
  plain:forward(x)
  lu.assertEquals(plain:backward(x, gy):sub(gx):abs():max(), 0)
end

-- The sparse kernels with faults attached keep the faulty weights (masked
-- ones in mapped segments read their cells): the same as the dense kernels.
function TestFaults:test_sparse_execution_with_faults_equals_dense()
  require("tests.lua.helpers").sparse_equals_dense_with_cells(lu,
    {sa0 = 0.05, sa1 = 0.05, seed = 3})
end

function TestFaults:test_save_keeps_the_map()
  local m = small_model(5)
  rp.faults.attach(m, rp.faults.sample(m, CFG, {sa0 = 0.1, sa1 = 0.05, seed = 9}))
  local x = T.randn({2, 2, 4, 4}, rp.generator(3))
  local y = m:forward(x):clone()
  local path = os.tmpname()
  rp.save(path, m)
  local back = rp.load(path)
  os.remove(path)
  lu.assertNotNil(back.fault_map)
  lu.assertEquals(back.fault_map.total, m.fault_map.total)
  lu.assertEquals(back:forward(x):sub(y):abs():max(), 0)
end

function TestFaults:test_bad_input()
  local m = small_model(6)
  local cases = {
    {function() rp.faults.sample(m, CFG, {sa0 = 1.5}) end, "sa0 must be a number in [0, 1]"},
    {function() rp.faults.sample(m, CFG, {sa1 = -0.1}) end, "sa1 must be a number in [0, 1]"},
    {function() rp.faults.sample(m, CFG, {sa0 = 0.6, sa1 = 0.5}) end,
      "sa0 + sa1 must be at most 1"},
    {function() rp.faults.sample(m, CFG, {sa0 = 0.1, seed = 1.5}) end, "seed must be an integer"},
    {function() rp.faults.sample(m, CFG, {sa0 = 0.1, sa2 = 1}) end, "unknown spec field 'sa2'"},
    {function() rp.faults.sample(m, {rows = 0}, {sa0 = 0.1}) end, "rows"},
    {function() rp.faults.sample(m, 3, {sa0 = 0.1}) end, "a crossbar config"},
    {function() rp.faults.attach(small_model(6), {}) end, "a fault map (rp.faults.sample)"},
  }
  for _, c in ipairs(cases) do
    local ok, err = pcall(c[1])
    lu.assertFalse(ok, c[2])
    lu.assertStrContains(err, "rp.faults.")
    lu.assertStrContains(err, c[2])
  end
  local f = rp.faults.sample(m, CFG, {sa0 = 0.1, seed = 1})
  local other = nn.Sequential{nn.Linear(5, 5)}
  lu.assertErrorMsgContains("drawn for another model", rp.faults.attach, other, f)
  lu.assertErrorMsgContains("another crossbar configuration", rp.faults.attach, m, f,
    rp.xbar.config{rows = 16, cols = 16, weight_bits = 8, cell_bits = 2})
  rp.faults.attach(m, f)
  m:forward(T.randn({1, 2, 4, 4})) -- checked once: later passes check again
  rp.prune.apply(m, {granularity = "element", amount = 0.3})
  lu.assertErrorMsgContains("the mask changed since the fault map was attached", m.forward, m,
    T.randn({1, 2, 4, 4}))
  lu.assertErrorMsgContains("changed since the fault map was drawn", rp.faults.attach, m, f)
  lu.assertErrorMsgContains("drawn for masks that have changed", rp.save, os.tmpname(), m)
  -- a map with no stuck cell still belongs to its masks
  local z = small_model(7)
  rp.faults.attach(z, rp.faults.sample(z, CFG, {sa0 = 0, seed = 1}))
  z:forward(T.randn({1, 2, 4, 4}))
  rp.prune.apply(z, {granularity = "element", amount = 0.3})
  lu.assertErrorMsgContains("the mask changed since the fault map was attached", z.forward, z,
    T.randn({1, 2, 4, 4}))
  -- a mask changed behind the layer's back (copied into) after a checked pass
  local y = small_model(8)
  rp.prune.apply(y, {granularity = "element", amount = 0.2})
  rp.faults.attach(y, rp.faults.sample(y, CFG, {sa0 = 0.1, seed = 2}))
  y:forward(T.randn({1, 2, 4, 4}))
  local lin = y:prunable()[2]
  local mask = lin.mask:clone()
  mask:reshape{-1}[1] = 1 - mask:reshape{-1}[1]
  lin.mask:copy(mask)
  lu.assertErrorMsgContains("the mask changed since the fault map was attached", y.forward, y,
    T.randn({1, 2, 4, 4}))
  -- plain config tables are configs too
  lu.assertEquals(rp.faults.sample(nn.Sequential{nn.Linear(4, 2)}, {rows = 8, cols = 16,
    weight_bits = 8, cell_bits = 2}, {sa0 = 0.5, seed = 1}).total.cells, 8 * 4)
end

-- ------------------------------------------------ fault-aware pruning --
local FIXED = rp.xbar.config{rows = 8, cols = 16, weight_bits = 8, cell_bits = 2,
  compact_rows = false} -- 4 slices, L = 4

local map_entries = require("tests.lua.helpers").stuck_digits

function TestFaults:test_restrict_keeps_the_mapped_segments_faults()
  local m = small_model(11)
  local chip = rp.faults.sample(m, FIXED, {sa0 = 0.1, sa1 = 0.05, seed = 3})
  -- a dense model's restriction is the chip itself, either way
  for _, pl in ipairs{"packed", "in_place"} do
    local same = rp.faults.restrict(chip, m, {placement = pl})
    for i = 1, #chip.layers do
      lu.assertEquals(rp.faults.serialize(same).layers[i].bytes,
        rp.faults.serialize(chip).layers[i].bytes)
    end
  end
  rp.prune.apply(m, {granularity = "column", amount = 0.5, xbar = FIXED})
  for _, pl in ipairs{"packed", "in_place"} do
    local r = rp.faults.restrict(chip, m, {placement = pl})
    local xbars = 0
    for i, l in ipairs(m:prunable()) do
      lu.assertEquals(r.layers[i].cells, mapped_cells(l, FIXED), l.name)
      local all, got = map_entries(chip, i), map_entries(r, i)
      local C = l.weight:size(1)
      local R = l.weight:numel() // C
      local mask = l.mask:reshape{-1}:totable()
      -- every mapped weight reads the chip's cells at its segment's position:
      -- packed, the block's j-th mapped segment on position j
      local want = {}
      for b = 0, (R - 1) // FIXED.rows do
        local j, per_tile = 0, {}
        for c = 0, C - 1 do
          local mapped = false
          for rr = b * FIXED.rows, math.min(R, (b + 1) * FIXED.rows) - 1 do
            if mask[c * R + rr + 1] ~= 0 then mapped = true end
          end
          if mapped then
            local pos = pl == "packed" and j or c
            j = j + 1
            per_tile[c // FIXED.L] = true
            for rr = b * FIXED.rows, math.min(R, (b + 1) * FIXED.rows) - 1 do
              want[c * R + rr] = all[pos * R + rr]
            end
          end
        end
        if pl == "packed" then xbars = xbars + (j + FIXED.L - 1) // FIXED.L
        else for _ in pairs(per_tile) do xbars = xbars + 1 end end
      end
      for idx, e in pairs(want) do lu.assertEquals(got[idx], e, pl .. " " .. idx) end
      for idx in pairs(got) do lu.assertNotNil(want[idx], pl .. " " .. idx) end
    end
    lu.assertEquals(r.total.crossbars, xbars, pl)
    if pl == "packed" then lu.assertEquals(xbars, rp.xbar.map(m, FIXED).total.crossbars) end
  end
  -- attaching it works; the chip map itself no longer fits the masks
  local r = rp.faults.restrict(chip, m)
  rp.faults.attach(m, r)
  lu.assertErrorMsgContains("changed since the fault map was drawn", rp.faults.attach, m, chip)
end

-- stuck cells on position 0 of one crossbar: a crafted whole-chip map of a
-- linear layer with `cols` outputs, rows 4, L = cols
local function one_crossbar(cols, faults)
  local cfg = rp.xbar.config{rows = 4, cols = 4 * cols, weight_bits = 8, cell_bits = 2,
    compact_rows = false}
  local lin = nn.Linear(4, cols, {bias = false})
  local m = nn.Sequential{lin}
  local chip = rp.faults.sample(m, cfg, {sa0 = 0, seed = 1})
  chip.layers[1].data = crafted(4 * cols, 8, 2, false, faults)
  return m, lin, chip
end

-- positions 0 (stuck at LRS in the top slice) and 1 (clean)
function TestFaults:test_remap_by_hand()
  local e = {}
  for r = 0, 3 do e[#e + 1] = {index = r, set_pos = 192} end
  local m, lin, chip = one_crossbar(2, e)
  -- only column 1 alive: packed it sits on position 0 and meets the faults;
  -- remapped onto position 1 it meets none; in place it is on 1 already
  lin:set_mask(T.from{{0, 0, 0, 0}, {1, 1, 1, 1}})
  local r = rp.faults.restrict(chip, m)
  lu.assertEquals({r.total.faulty, r.total.crossbars}, {4, 1})
  local mm = rp.faults.remap(chip, m)
  lu.assertEquals({mm.total.moved, mm.total.faulty, mm.total.cells, mm.total.crossbars},
    {1, 0, 16, 1})
  local ip = rp.faults.remap(chip, m, {placement = "in_place"})
  lu.assertEquals({ip.total.moved, ip.total.faulty}, {0, 0})
  -- both alive: the more valuable (l1) column takes the clean position
  lin:set_mask(T.from{{1, 1, 1, 1}, {1, 1, 1, 1}})
  lin.weight:copy(T.from{{0.1, 0.1, 0.1, 0.1}, {0.5, 0.5, 0.5, 0.5}})
  lu.assertEquals(rp.faults.remap(chip, m).total.moved, 0)
  lin.weight:copy(T.from{{0.5, 0.5, 0.5, 0.5}, {0.1, 0.1, 0.1, 0.1}})
  local swapped = rp.faults.remap(chip, m)
  lu.assertEquals({swapped.total.moved, swapped.total.faulty, swapped.total.sa1}, {2, 4, 4})
  lu.assertEquals(map_entries(swapped, 1)[4], {clear_pos = 0, set_pos = 192, clear_neg = 0,
    set_neg = 0}) -- column 1 (index 4) now reads position 0's cells
end

-- three positions: 0 heavily damaged (top slice), 1 lightly (bottom slice), 2
-- clean; columns by value 0 > 2 > 1 go 0 -> 2, 2 -> 1, 1 -> 0 (a 3-cycle)
function TestFaults:test_remap_three_cycle()
  local e = {}
  for r = 0, 3 do e[#e + 1] = {index = r, set_pos = 192} end
  for r = 0, 3 do e[#e + 1] = {index = 4 + r, set_pos = 3} end
  local m, lin, chip = one_crossbar(3, e)
  lin.weight:copy(T.from{{0.9, 0.9, 0.9, 0.9}, {0.1, 0.1, 0.1, 0.1}, {0.5, 0.5, 0.5, 0.5}})
  local mm = rp.faults.remap(chip, m, {placement = "in_place"})
  lu.assertEquals(mm.total.moved, 3)
  local got = map_entries(mm, 1)
  for r = 0, 3 do
    lu.assertNil(got[r])                                 -- column 0 on the clean position
    lu.assertEquals(got[4 + r].set_pos, 192)             -- column 1 on position 0
    lu.assertEquals(got[8 + r].set_pos, 3)               -- column 2 on position 1
  end
  -- positions 1 and 2 clean (equal damage): column 1 keeps position 1, column 0
  -- takes 2 and column 2 position 0 (two moves, not three)
  local e2 = {}
  for r = 0, 3 do e2[#e2 + 1] = {index = r, set_pos = 192} end
  local m2, lin2, chip2 = one_crossbar(3, e2)
  lin2.weight:copy(T.from{{0.9, 0.9, 0.9, 0.9}, {0.5, 0.5, 0.5, 0.5}, {0.1, 0.1, 0.1, 0.1}})
  local kept = rp.faults.remap(chip2, m2, {placement = "in_place"})
  lu.assertEquals(kept.total.moved, 2)
  lu.assertEquals(map_entries(kept, 1)[8].set_pos, 192) -- column 2 on position 0
  -- the result is a fault map like any other: its bytes round-trip
  local back = rp.faults.deserialize(rp.faults.serialize(mm))
  lu.assertEquals(rp.faults.serialize(back).layers[1].bytes,
    rp.faults.serialize(mm).layers[1].bytes)
end

-- remapping never raises the damage weighted by value (the sum over mapped
-- segments of their alive weights' l1 times the digits their stuck cells
-- span), moves nothing on a clean chip, and keeps the crossbars
function TestFaults:test_remap_lowers_damage()
  local function damage(map, m, i)
    local l = m:prunable()[i]
    local C = l.weight:size(1)
    local R = l.weight:numel() // C
    local w, mask = l.weight:reshape{-1}:totable(), l.mask:reshape{-1}:totable()
    local value = {}
    for c = 0, C - 1 do
      for r = 0, R - 1 do
        local s = (r // FIXED.rows) * C + c
        value[s] = (value[s] or 0) + (mask[c * R + r + 1] ~= 0 and math.abs(w[c * R + r + 1]) or 0)
      end
    end
    local d = 0
    for idx, e in pairs(map_entries(map, i)) do
      local c, r = idx // R, idx % R
      for k = 0, 3 do
        if (e.clear_pos | e.set_pos) >> (2 * k) & 3 ~= 0 then
          d = d + 3 * 4 ^ k * value[(r // FIXED.rows) * C + c]
        end
      end
    end
    return d
  end
  local m = small_model(12)
  local chip = rp.faults.sample(m, FIXED, {sa0 = 0.05, sa1 = 0.02, seed = 4})
  local clean = rp.faults.sample(m, FIXED, {sa0 = 0, seed = 4})
  rp.prune.apply(m, {granularity = "column", amount = 0.6, xbar = FIXED})
  for _, pl in ipairs{"packed", "in_place"} do
    local o = {placement = pl}
    local r, mm = rp.faults.restrict(chip, m, o), rp.faults.remap(chip, m, o)
    local lower = false
    for i = 1, #r.layers do
      local a, b = damage(mm, m, i), damage(r, m, i)
      lu.assertTrue(a <= b * (1 + 1e-12), ("%s %s: %g > %g"):format(pl, m:prunable()[i].name, a, b))
      if a < b then lower = true end
      lu.assertEquals(mm.layers[i].cells, r.layers[i].cells)
      lu.assertEquals(mm.layers[i].crossbars, r.layers[i].crossbars)
    end
    lu.assertTrue(lower and mm.total.moved > 0, pl)
    lu.assertEquals(rp.faults.remap(clean, m, o).total.moved, 0)
  end
  rp.faults.attach(m, rp.faults.remap(chip, m))
  m:forward(T.randn({1, 2, 4, 4}))
end

function TestFaults:test_fault_aware_pruning()
  -- no stuck cell: the same masks as plain l1
  local a, b = small_model(13), small_model(13)
  local clean = rp.faults.sample(b, FIXED, {sa0 = 0, seed = 1})
  rp.prune.apply(a, {granularity = "column", amount = 0.5, xbar = FIXED})
  rp.prune.apply(b, {granularity = "column", amount = 0.5, xbar = FIXED, faults = clean})
  for i, l in ipairs(a:prunable()) do
    lu.assertEquals(l.mask:sub(b:prunable()[i].mask):abs():max(), 0)
  end
  -- a linear layer 8 x 2 (one row block, two segments): column 0 larger, but
  -- its weights' top slices stuck at LRS (offset: w' = +s or more), column 1
  -- clean; fault-unaware pruning drops column 1, fault-aware column 0
  local lin = nn.Linear(8, 2, {bias = false})
  lin.weight:copy(T.from{{-0.9, -0.8, -0.9, -0.8, -0.9, -0.8, -0.9, -1.0},
    {0.5, 0.4, 0.5, 0.4, 0.5, 0.4, 0.5, 0.4}})
  local m = nn.Sequential{lin}
  local chip = rp.faults.sample(m, FIXED, {sa0 = 0, seed = 1})
  local e = {}
  for r = 0, 7 do e[#e + 1] = {index = r, set_pos = 192} end
  chip.layers[1].data = crafted(16, 8, 2, false, e)
  local plain = m:clone()
  rp.prune.apply(plain, {granularity = "column", amount = 0.5, xbar = FIXED})
  lu.assertEquals(plain:prunable()[1].mask:get(1, 1), 1)
  lu.assertEquals(plain:prunable()[1].mask:get(2, 1), 0)
  rp.prune.apply(m, {granularity = "column", amount = 0.5, xbar = FIXED, faults = chip})
  lu.assertEquals(lin.mask:get(1, 1), 0)
  lu.assertEquals(lin.mask:get(2, 1), 1)
  -- bad input
  lu.assertErrorMsgContains("faults must be a fault map", rp.prune.apply, small_model(1),
    {granularity = "column", amount = 0.5, faults = {}})
  lu.assertErrorMsgContains("faults needs score \"l1\"", rp.prune.apply, small_model(1),
    {granularity = "column", amount = 0.5, score = "l2", faults = clean})
  lu.assertErrorMsgContains("drawn for another model", rp.prune.apply, nn.Sequential{
    nn.Linear(3, 3)}, {granularity = "column", amount = 0.5, faults = clean})
end

function TestFaults:test_restrict_and_remap_bad_input()
  local m = small_model(14)
  local compact = rp.faults.sample(m, CFG, {sa0 = 0.1, seed = 1})
  lu.assertErrorMsgContains("rp.faults.restrict: the map must be drawn with compact_rows = false",
    rp.faults.restrict, compact, m)
  lu.assertErrorMsgContains("rp.faults.remap: the map must be drawn with compact_rows = false",
    rp.faults.remap, compact, m)
  rp.prune.apply(m, {granularity = "column", amount = 0.5, xbar = FIXED})
  local partial = rp.faults.sample(m, FIXED, {sa0 = 0.1, seed = 1})
  lu.assertErrorMsgContains("draw it for the dense network", rp.faults.remap, partial, m)
  lu.assertErrorMsgContains("a fault map (rp.faults.sample) expected", rp.faults.restrict, {}, m)
  lu.assertErrorMsgContains("drawn for another model", rp.faults.restrict,
    rp.faults.sample(small_model(1), FIXED, {sa0 = 0.1}), nn.Sequential{nn.Linear(2, 2)})
  local whole = rp.faults.sample(small_model(14), FIXED, {sa0 = 0.1, seed = 1})
  lu.assertErrorMsgContains("placement must be \"packed\" or \"in_place\"", rp.faults.remap,
    whole, m, {placement = "spread"})
  -- fault-aware scores from a map of other masks are refused
  local stale = rp.faults.sample(m, CFG, {sa0 = 0.1, seed = 2})
  rp.prune.apply(m, {granularity = "column", amount = 0.2, xbar = FIXED})
  lu.assertErrorMsgContains("drawn for other masks", rp.prune.apply, m,
    {granularity = "column", amount = 0.2, xbar = FIXED, faults = stale})
end

os.exit(lu.LuaUnit.run())
