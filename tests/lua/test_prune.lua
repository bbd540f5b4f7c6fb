-- rp.prune.apply against a plain-Lua implementation of docs/design.md's pruning
-- groups, scores and step, for every granularity and both scopes; schedules,
-- the guard, and bad specs.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn

local SEED = 5
print("test_prune: seed " .. SEED)

-- group (gi, gj) sizes of each granularity, docs/design.md's table
local function group_size(gran, layer, cfg, block)
  local C = layer.weight:size(1)
  local R = layer.weight:numel() // C
  local cr = layer.kind == "conv" and layer.kh * layer.kw or 1
  return ({element = {1, 1}, column = {cfg.rows, 1}, tile = {cfg.rows, cfg.L},
    row = {1, cfg.L}, filter = {R, 1}, channel = {cr, C}, block = block})[gran], R, C
end

-- Candidate groups of one layer: {score, row, col, layer, cells}
local function candidates(layer, li, spec, cfg)
  local hs, R, C = group_size(spec.granularity, layer, cfg, spec.block)
  local w = layer.weight:reshape{-1}:totable()
  local m = layer.mask and layer.mask:reshape{-1}:totable()
  local groups = {}
  for gi = 0, (R - 1) // hs[1] do
    for gj = 0, (C - 1) // hs[2] do
      local s, n, alive, cells = 0, 0, false, {}
      for c = gj * hs[2], math.min(C, (gj + 1) * hs[2]) - 1 do
        for r = gi * hs[1], math.min(R, (gi + 1) * hs[1]) - 1 do
          local i = c * R + r + 1
          local live = not m or m[i] ~= 0
          local x = live and w[i] or 0
          s = s + (spec.score == "l2" and x * x or math.abs(x))
          n = n + 1
          alive = alive or live
          cells[#cells + 1] = i
        end
      end
      local score = s / n
      if spec.score == "l2" then score = math.sqrt(score) end
      if alive then
        groups[#groups + 1] = {score = score, row = gi * hs[1], col = gj * hs[2], layer = li,
          cells = cells}
      end
    end
  end
  return groups
end

local function less(a, b)
  if a.score ~= b.score then return a.score < b.score end
  if a.row ~= b.row then return a.row < b.row end
  if a.col ~= b.col then return a.col < b.col end
  return a.layer < b.layer
end

local function reference(model, spec)
  local cfg = rp.xbar.config(spec.xbar or {})
  local layers = model:prunable()
  local masks, all, per = {}, {}, {}
  for li, l in ipairs(layers) do
    masks[li] = l.mask and l.mask:reshape{-1}:totable() or
      T.ones(l.weight:shape()):reshape{-1}:totable()
    per[li] = candidates(l, li, spec, cfg)
    for _, g in ipairs(per[li]) do all[#all + 1] = g end
  end
  local function prune_list(list, n, left)
    table.sort(list, less)
    local done = 0
    for _, g in ipairs(list) do
      if done >= n then break end
      if left[g.layer] > 1 then
        left[g.layer] = left[g.layer] - 1
        for _, i in ipairs(g.cells) do masks[g.layer][i] = 0 end
        done = done + 1
      end
    end
  end
  if spec.scope == "global" then
    local left = {}
    for li in ipairs(layers) do left[li] = #per[li] end
    prune_list(all, math.floor(spec.amount * #all + 0.5), left)
  else
    for li in ipairs(layers) do
      prune_list(per[li], math.floor(spec.amount * #per[li] + 0.5), {[li] = #per[li]})
    end
  end
  return masks
end

local function model_for_test(seed)
  rp.seed(seed)
  return nn.Sequential{nn.Conv2d(3, 10, 3, {padding = 1}), nn.ReLU(), nn.Conv2d(10, 7, {2, 3}),
    nn.Flatten(), nn.Linear(7 * 3 * 2, 9)}
end

TestPrune = {}

function TestPrune:test_every_granularity_against_reference()
  local xcfg = {rows = 8, cols = 12, weight_bits = 4, cell_bits = 2} -- L = 6
  for _, gran in ipairs{"element", "column", "tile", "row", "filter", "channel", "block"} do
    for _, scope in ipairs{"layer", "global"} do
      for _, score in ipairs{"l1", "l2"} do
        for _, amount in ipairs{0.3, 0.6} do
          local m = model_for_test(SEED)
          m:output_shape{1, 3, 4, 4}
          local spec = {granularity = gran, amount = amount, scope = scope, score = score,
            xbar = xcfg, block = gran == "block" and {3, 4} or nil}
          -- two steps: the second sees masked weights
          for step = 1, 2 do
            local want = reference(m, spec)
            rp.prune.apply(m, spec)
            for li, l in ipairs(m:prunable()) do
              lu.assertEquals(l.mask:reshape{-1}:totable(), want[li],
                ("%s %s %s %.1f step %d layer %s"):format(gran, scope, score, amount, step, l.name))
            end
          end
        end
      end
    end
  end
end

function TestPrune:test_masks_zero_weights_and_sparsity()
  local m = model_for_test(SEED)
  lu.assertEquals(rp.prune.sparsity(m), 0)
  local res = rp.prune.apply(m, {granularity = "element", amount = 0.5})
  for _, l in ipairs(m:prunable()) do
    local w, k = l.weight:reshape{-1}:totable(), l.mask:reshape{-1}:totable()
    for i = 1, #w do if k[i] == 0 then lu.assertEquals(w[i], 0) end end
    lu.assertEquals(res[l.name].pruned, math.floor(0.5 * l.weight:numel() + 0.5))
  end
  lu.assertAlmostEquals(rp.prune.sparsity(m), 0.5, 0.01)
end

function TestPrune:test_guard_keeps_one_group()
  local m = model_for_test(SEED)
  rp.prune.apply(m, {granularity = "filter", amount = 1})
  for _, l in ipairs(m:prunable()) do
    lu.assertEquals(l.mask:sum(), l.weight:numel() // l.weight:size(1), l.name)
  end
  local g = model_for_test(SEED)
  rp.prune.apply(g, {granularity = "element", amount = 1, scope = "global"})
  for _, l in ipairs(g:prunable()) do lu.assertEquals(l.mask:sum(), 1) end
end

-- The aligned strategy's step: every row block of every pruned layer keeps a
-- multiple of L segments, so the mapping's crossbars are all full; fewer
-- crossbars than plain column pruning at about the same sparsity.
function TestPrune:test_aligned_columns_fill_their_crossbars()
  -- rows kept in place, so that the mapping's blocks are the pruning's
  local cfg = rp.xbar.config{rows = 8, cols = 8, weight_bits = 4, cell_bits = 2, -- L = 4
    compact_rows = false}
  local a, b = model_for_test(SEED), model_for_test(SEED)
  for _ = 1, 3 do
    rp.prune.apply(a, {granularity = "column", amount = 0.4, xbar = cfg, align = true})
    rp.prune.apply(b, {granularity = "column", amount = 0.4, xbar = cfg})
  end
  local ma, mb = rp.xbar.map(a, cfg), rp.xbar.map(b, cfg)
  local full = 0
  for _, l in ipairs(ma.layers) do
    -- full crossbars: alive segments = crossbars * L, unless the guard kept
    -- a layer's last segment
    if l.segments_alive > 1 then
      lu.assertEquals(l.segments_alive, l.crossbars * l.L, l.name)
      full = full + 1
    end
  end
  lu.assertTrue(full >= 2)
  lu.assertTrue(ma.total.crossbars <= mb.total.crossbars)
  lu.assertTrue(math.abs(rp.prune.sparsity(a) - rp.prune.sparsity(b)) < 0.1)
  for _, bad in ipairs{{granularity = "element", amount = 0.1, align = true},
    {granularity = "column", amount = 0.1, scope = "global", align = true},
    {granularity = "column", amount = 0.1, align = 1}} do
    local ok, err = pcall(rp.prune.apply, a, bad)
    lu.assertFalse(ok)
    lu.assertStrContains(err, "align")
  end
end

-- Sensitivity: every layer pruned alone on a copy (the model keeps no mask),
-- the base accuracy is the model's; rates from a hand-made analysis.
function TestPrune:test_sensitivity_and_rates()
  local m = model_for_test(SEED)
  local x = T.randn({20, 3, 4, 4}, rp.generator(2))
  local labels = {}
  for i = 1, 20 do labels[i] = i % 9 + 1 end
  local loader = {epoch = function()
    local done = false
    return function()
      if done then return nil end
      done = true
      return x, labels
    end
  end}
  setmetatable(loader, {__len = function() return 1 end})
  local s = rp.prune.sensitivity(m, loader, {amounts = {0.5, 0.9}, granularity = "filter",
    exclude = {m:prunable()[3].name}})
  lu.assertEquals(s.base, rp.train.evaluate(m, loader).accuracy)
  for _, l in ipairs(m:prunable()) do lu.assertNil(l.mask, l.name) end
  lu.assertNotNil(s.layers[1].accuracy[0.9])
  lu.assertTrue(s.layers[3].excluded)
  local rates = rp.prune.rates_from_sensitivity({base = 0.8, amounts = {0.3, 0.6, 0.9},
    layers = {{name = "a", accuracy = {[0.3] = 0.8, [0.6] = 0.795, [0.9] = 0.5}},
      {name = "b", accuracy = {[0.3] = 0.7, [0.6] = 0.6, [0.9] = 0.5}},
      {name = "c", excluded = true, accuracy = {}}}}, 0.01, 0.5)
  lu.assertEquals(rates, {a = 0.3, b = 0})
end

function TestPrune:test_random_scores_are_seeded()
  local a, b = model_for_test(SEED), model_for_test(SEED)
  rp.prune.apply(a, {granularity = "column", amount = 0.5, score = "random", seed = 3})
  rp.prune.apply(b, {granularity = "column", amount = 0.5, score = "random", seed = 3})
  for i, l in ipairs(a:prunable()) do
    lu.assertEquals(l.mask:totable(), b:prunable()[i].mask:totable())
  end
end

function TestPrune:test_exclusions_and_per_layer_amounts()
  local m = model_for_test(SEED)
  rp.prune.apply(m, {granularity = "element", amount = 0.5, exclude = "first_last"})
  local ls = m:prunable()
  lu.assertNil(ls[1].mask)
  lu.assertNil(ls[3].mask)
  lu.assertNotNil(ls[2].mask)
  local n = model_for_test(SEED)
  rp.prune.apply(n, {granularity = "element", amounts = {["1"] = 0.25, ["5"] = 0.75}})
  local l1, l3 = n:prunable()[1], n:prunable()[3]
  lu.assertEquals(l1.mask:sum(), l1.weight:numel() - math.floor(0.25 * l1.weight:numel() + 0.5))
  lu.assertEquals(l3.mask:sum(), l3.weight:numel() - math.floor(0.75 * l3.weight:numel() + 0.5))
  lu.assertEquals(n:prunable()[2].mask:sum(), n:prunable()[2].weight:numel())
  local f = model_for_test(SEED)
  rp.prune.apply(f, {granularity = "element", amount = 0, amounts = function(l)
    return l.kind == "linear" and 0.5 or 0 end})
  lu.assertEquals(f:prunable()[1].mask:count_nonzero(), f:prunable()[1].weight:numel())
end

function TestPrune:test_huge_blocks_are_the_whole_matrix()
  local m = nn.Sequential{nn.Linear(10, 5), nn.ReLU(), nn.Linear(5, 4)}
  rp.prune.apply(m, {granularity = "block", block = {math.maxinteger, 1}, amount = 0.5})
  -- one block per column: floor(0.5 * 5 + 0.5) = 3 of the 5 columns go
  lu.assertEquals(m:prunable()[1].mask:sum(), 10 * 2)
  lu.assertErrorMsgContains("xbar.config: rows must be at most", function()
    rp.xbar.config{rows = (1 << 32) + 4} end)
end

function TestPrune:test_bad_specs()
  local m = model_for_test(SEED)
  lu.assertErrorMsgContains("rp.prune.apply: unknown granularity kernel", function()
    rp.prune.apply(m, {granularity = "kernel", amount = 0.1}) end)
  lu.assertErrorMsgContains("amount must be a number in [0, 1], got 1.5", function()
    rp.prune.apply(m, {granularity = "element", amount = 1.5}) end)
  lu.assertErrorMsgContains("amount must be a number in [0, 1], got nil", function()
    rp.prune.apply(m, {granularity = "element"}) end)
  lu.assertErrorMsgContains("granularity \"block\" needs block = {a, b}", function()
    rp.prune.apply(m, {granularity = "block", amount = 0.1}) end)
  lu.assertErrorMsgContains("exclude names layer 'features.9', which the model does not have",
    function()
      rp.prune.apply(m, {granularity = "element", amount = 0.1, exclude = {"features.9"}})
    end)
  lu.assertErrorMsgContains("amounts names layer 'nope'", function()
    rp.prune.apply(m, {granularity = "element", amounts = {nope = 0.5}}) end)
  lu.assertErrorMsgContains("unknown spec field 'amout'", function()
    rp.prune.apply(m, {granularity = "element", amout = 0.5}) end)
  lu.assertErrorMsgContains("unknown score l3", function()
    rp.prune.apply(m, {granularity = "element", amount = 0.1, score = "l3"}) end)
end

function TestPrune:test_schedules()
  local it = rp.prune.iterative{rate = 0.2, rounds = 2, granularity = "column"}
  lu.assertEquals(it:next(1, {}).amount, 0.2)
  lu.assertEquals(it:next(1, {}).granularity, "column")
  lu.assertNil(it:next(3, {}))
  local target = rp.prune.iterative{rate = 0.5, target_sparsity = 0.9}
  lu.assertNotNil(target:next(5, {sparsity = 0.8}))
  lu.assertNil(target:next(6, {sparsity = 0.91}))
  local xb = rp.prune.iterative{rate = 0.5, target_crossbars = 10}
  lu.assertNil(xb:next(2, {crossbars = 9}))
  local seq = rp.prune.sequence{rp.prune.oneshot{amount = 0.3, granularity = "filter"},
    rp.prune.iterative{rate = 0.2, rounds = 2, granularity = "column"},
    function(r) if r == 1 then return {granularity = "element", amount = 0.1} end end}
  local got = {}
  for r = 1, 6 do
    local s = seq:next(r, {})
    got[r] = s and (s.granularity .. ":" .. s.amount) or "done"
  end
  lu.assertEquals(got, {"filter:0.3", "column:0.2", "column:0.2", "element:0.1", "done", "done"})
  lu.assertErrorMsgContains("prune.iterative: rate must be a number in (0, 1]", function()
    rp.prune.iterative{rate = 0} end)
end

function TestPrune:test_report_and_tables()
  local m = rp.models.lenet5{}
  rp.prune.apply(m, {granularity = "column", amount = 0.5})
  local rows = rp.prune.report(m)
  lu.assertEquals(rows[#rows].layer, "total")
  lu.assertTrue(rows[#rows].crossbars <= rows[#rows].crossbars_dense)
  local md = rp.report.table(rows)
  lu.assertStrContains(md, "| layer |")
  local csv = rp.report.table(rows, {format = "csv"})
  lu.assertStrMatches(csv:match("^[^\n]*"), "layer,.*")
  lu.assertStrContains(rp.report.table(rows, {format = "latex"}), "\\toprule")
end

os.exit(lu.LuaUnit.run())
