-- Crossbar mapping: hand-computed cases, an independent (slow, plain Lua)
-- implementation of docs/design.md's definitions on random masks, and properties.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn

local SEED = 99
print("test_xbar: seed " .. SEED)

-- docs/design.md, "Crossbar mapping", written out directly for an R x C
-- matrix whose element (r, col) is alive when alive(r, col).
local function count(R, C, alive, c)
  local slices = -(-c.weight_bits // c.cell_bits)
  local phys = c.signed == "differential" and 2 * slices or slices
  local L = c.cols // phys
  local dense = -(-R // c.rows) * -(-C // L)
  local kept = {}
  for r = 1, R do
    local any = false
    for col = 1, C do if alive(r, col) then any = true break end end
    if any or not c.compact_rows then kept[#kept + 1] = r end
  end
  local xbars, n_alive, rows_alive = 0, 0, 0
  for r = 1, R do
    local any = false
    for col = 1, C do
      if alive(r, col) then n_alive, any = n_alive + 1, true end
    end
    if any then rows_alive = rows_alive + 1 end
  end
  local segments, active_rows, max_rows = 0, 0, 0
  for b0 = 1, #kept, c.rows do
    local segs = 0
    local block_rows = math.min(b0 + c.rows - 1, #kept) - b0 + 1
    for col = 1, C do
      for k = b0, math.min(b0 + c.rows - 1, #kept) do
        if alive(kept[k], col) then segs = segs + 1 break end
      end
    end
    local x = -(-segs // L)
    xbars, segments = xbars + x, segments + segs
    if segs > 0 then
      active_rows = active_rows + x * block_rows
      max_rows = math.max(max_rows, block_rows)
    end
  end
  return {crossbars = xbars, crossbars_dense = dense, alive = n_alive, L = L, phys = phys,
    rows = R, cols = C, segments_alive = segments, rows_alive = rows_alive,
    active_rows = active_rows, max_block_rows = max_rows}
end

-- The layer's M (or, transposed, M^T: docs/design.md "Transposed mapping":
-- the weight at (r, c) of M sits at (c, r) of M^T).
local function reference(layer, c, transpose)
  local w = layer.weight
  local C = w:size(1)
  local R = w:numel() // C
  local mask = layer.mask and layer.mask:reshape{-1}:totable()
  local function alive(r, col) return not mask or mask[(col - 1) * R + r] ~= 0 end
  if transpose then return count(C, R, function(r, col) return alive(col, r) end, c) end
  return count(R, C, alive, c)
end

local function random_mask(layer, g, p)
  local m = T.rand(layer.weight:shape(), g)
  local flat = m:reshape{-1}
  for i = 1, flat:numel() do flat[i] = flat[i] < p and 1 or 0 end
  return m
end

TestXbar = {}

function TestXbar:test_config_defaults_and_errors()
  local c = rp.xbar.config{}
  lu.assertEquals({c.rows, c.cols, c.weight_bits, c.cell_bits, c.signed, c.compact_rows},
    {128, 128, 16, 2, "offset", true})
  lu.assertEquals({c.slices, c.phys, c.L}, {8, 8, 16})
  local d = rp.xbar.config{signed = "differential"}
  lu.assertEquals({d.phys, d.L}, {16, 8})
  lu.assertErrorMsgContains("xbar.config: rows must be a positive integer, got 0", function()
    rp.xbar.config{rows = 0} end)
  lu.assertErrorMsgContains("xbar.config: cell_bits must be a positive integer, got -2", function()
    rp.xbar.config{cell_bits = -2} end)
  lu.assertErrorMsgContains("cols = 8 cannot hold one weight", function()
    rp.xbar.config{cols = 8, signed = "differential"} end)
  lu.assertErrorMsgContains("unknown field 'colums'", function() rp.xbar.config{colums = 3} end)
  lu.assertErrorMsgContains("signed must be \"offset\" or \"differential\"", function()
    rp.xbar.config{signed = "twos"} end)
end

function TestXbar:test_hand_computed()
  -- Linear 300 -> 10: R = 300, C = 10; L = 16
  local l = nn.Linear(300, 10)
  local m = rp.xbar.map_layer(l)
  lu.assertEquals({m.rows, m.cols, m.crossbars_dense, m.crossbars}, {300, 10, 3, 3})
  -- rows 1..50 and 201..250 alive: one block once compacted, two otherwise
  local mask = T.zeros{10, 300}
  for o = 1, 10 do
    for i = 1, 50 do mask:set(1, o, i) end
    for i = 201, 250 do mask:set(1, o, i) end
  end
  l:set_mask(mask)
  lu.assertEquals(rp.xbar.map_layer(l).crossbars, 1)
  lu.assertEquals(rp.xbar.map_layer(l, rp.xbar.config{compact_rows = false}).crossbars, 2)
  local md = rp.xbar.map_layer(l, rp.xbar.config{signed = "differential"})
  lu.assertEquals({md.crossbars_dense, md.crossbars}, {6, 2})
  lu.assertAlmostEquals(rp.xbar.map_layer(l).utilization, 1000 / (128 * 16), 1e-12)
  -- a conv weight (co, ci, y, x) sits at row ((ci-1)*kh + (y-1))*kw + x, column co
  local conv = nn.Conv2d(2, 3, 2, {bias = false})
  local cm = T.zeros{3, 2, 2, 2}
  cm:set(1, 2, 1, 2, 1)  -- co 2, ci 1, y 2, x 1 -> row 3
  cm:set(1, 3, 2, 1, 1)  -- co 3, ci 2, y 1, x 1 -> row 5
  conv:set_mask(cm)
  local tiny = rp.xbar.config{rows = 2, cols = 2, weight_bits = 1, cell_bits = 1,
    compact_rows = false}
  local mc = rp.xbar.map_layer(conv, tiny)
  lu.assertEquals({mc.rows, mc.cols, mc.crossbars_dense}, {8, 3, 8})
  -- rows 3 and 5 fall in blocks 2 and 3 (rows 3-4, 5-6): one crossbar each
  lu.assertEquals({mc.crossbars, mc.rows_alive, mc.segments_alive}, {2, 2, 2})
  lu.assertEquals(rp.xbar.map_layer(conv, rp.xbar.config{rows = 2, cols = 2, weight_bits = 1,
    cell_bits = 1}).crossbars, 1) -- compacted: rows 3 and 5 share a block
end

function TestXbar:test_against_reference_on_random_masks()
  local g = rp.generator(SEED)
  local configs = {
    {rows = 128, cols = 128, weight_bits = 16, cell_bits = 2, signed = "offset",
      compact_rows = true},
    {rows = 16, cols = 32, weight_bits = 8, cell_bits = 2, signed = "differential",
      compact_rows = true},
    {rows = 8, cols = 16, weight_bits = 4, cell_bits = 4, signed = "offset", compact_rows = false},
    {rows = 5, cols = 7, weight_bits = 3, cell_bits = 2, signed = "offset", compact_rows = true},
  }
  local layers = {nn.Conv2d(3, 20, 3), nn.Conv2d(6, 9, {2, 3}), nn.Linear(70, 13), nn.Conv2d(1, 4,
    5)}
  for _, layer in ipairs(layers) do
    for _, p in ipairs{1, 0.5, 0.1, 0.01, 0} do
      layer:set_mask(random_mask(layer, g, p))
      for _, c in ipairs(configs) do
        local cfg = rp.xbar.config(c)
        for _, transpose in ipairs{false, true} do
          local got = rp.xbar.map_layer(layer, cfg, {transpose = transpose})
          local want = reference(layer, cfg, transpose)
          for k, v in pairs(want) do lu.assertEquals(got[k], v, k) end
          if not transpose then -- the plain mapping carries M^T's counts too
            local t = reference(layer, cfg, true)
            for _, k in ipairs{"crossbars", "crossbars_dense", "segments_alive", "rows_alive",
                "active_rows", "max_block_rows", "alive"} do
              lu.assertEquals(got.transpose[k], t[k], "transpose." .. k)
            end
          end
        end
      end
    end
  end
end

function TestXbar:test_transposed_by_hand()
  -- docs/design.md's example: Linear(4, 2) at rows = 2, L = 1
  local l = nn.Linear(4, 2)
  local cfg = rp.xbar.config{rows = 2, cols = 1, weight_bits = 1, cell_bits = 1}
  l:set_mask(T.from{{1, 1, 0, 0}, {0, 0, 1, 1}})
  local m = rp.xbar.map_layer(l, cfg)
  lu.assertEquals({m.rows, m.cols, m.crossbars}, {4, 2, 2})
  -- M^T: 2 rows (outputs) x 4 columns (inputs); one block of both outputs,
  -- every input column alive in it: 4 segments, 4 crossbars
  local t = rp.xbar.map_layer(l, cfg, {transpose = true})
  lu.assertEquals({t.rows, t.cols, t.crossbars, t.crossbars_dense, t.transposed}, {2, 4, 4, 4,
    true})
  lu.assertEquals({m.transpose.crossbars, m.transpose.crossbars_dense}, {4, 4})
  -- one output pruned away: M^T drops that row and keeps inputs 1 and 2 (2
  -- crossbars); M keeps rows 1-2, one block, one alive segment (1 crossbar)
  l:set_mask(T.from{{1, 1, 0, 0}, {0, 0, 0, 0}})
  lu.assertEquals(rp.xbar.map_layer(l, cfg, {transpose = true}).crossbars, 2)
  lu.assertEquals(rp.xbar.map_layer(l, cfg).crossbars, 1)
  -- column-segment pruning of M leaves M^T dense: Linear(256, 8), 128-row
  -- blocks, each output keeping one of its two segments
  local big = nn.Linear(256, 8)
  local mask = T.zeros{8, 256}
  for o = 1, 8 do
    local first = o % 2 == 1 and 1 or 129
    for i = first, first + 127 do mask:set(1, o, i) end
  end
  big:set_mask(mask)
  local c128 = rp.xbar.config{}
  lu.assertEquals(rp.xbar.map_layer(big, c128).crossbars, 2)
  lu.assertEquals(rp.xbar.map_layer(big, c128, {transpose = true}).crossbars, 16)
  lu.assertEquals(rp.xbar.map_layer(big, c128, {transpose = true}).crossbars_dense, 16)
  lu.assertErrorMsgContains("xbar.map_layer: transpose must be a boolean", function()
    rp.xbar.map_layer(big, c128, {transpose = 1}) end)
  lu.assertErrorMsgContains("xbar.map: options must be a table", function()
    rp.xbar.map(rp.models.lenet5{}, c128, true) end)
end

-- Per-crossbar alive counts (the heatmap's colours) of M and M^T, by hand on
-- docs/design.md's example.
function TestXbar:test_crossbar_counts_by_hand()
  local mask = T.from{{1, 1, 0, 0}, {0, 0, 1, 1}} -- Linear(4, 2): out 1 <- in 1, 2
  -- M (4 x 2), rows = 2, L = 1: block 1 (inputs 1-2) holds output 1's segment,
  -- block 2 (inputs 3-4) output 2's: 2 crossbars of 2 weights
  local counts, blocks = rp.core.xbar_counts(mask, 4, 2, 2, 1, 1, 1, "offset", true, false)
  lu.assertEquals({counts, blocks}, {{2, 2}, {1, 2}})
  -- M^T (2 x 4): one block of both outputs, one crossbar per input, 1 weight each
  counts, blocks = rp.core.xbar_counts(mask, 4, 2, 2, 1, 1, 1, "offset", true, true)
  lu.assertEquals({counts, blocks}, {{1, 1, 1, 1}, {1, 1, 1, 1}})
  -- uneven: output 1 <- inputs 1, 2, 3; output 2 <- input 4; L = 2 (cols 2)
  mask = T.from{{1, 1, 1, 0}, {0, 0, 0, 1}}
  counts = rp.core.xbar_counts(mask, 4, 2, 2, 2, 1, 1, "offset", true, true)
  lu.assertEquals(counts, {2, 2}) -- inputs 1-2 (weights of output 1), inputs 3-4 (one each)
end

function TestXbar:test_properties()
  local g = rp.generator(SEED + 1)
  local m = rp.models.vgg_small{width = 0.5}
  local cfg = rp.xbar.config{}
  local dense = rp.xbar.map(m, cfg)
  lu.assertEquals(dense.total.crossbars, dense.total.crossbars_dense)
  lu.assertEquals(dense.total.hardware_saving, 0)
  local prev = dense.total.crossbars
  local masks = {}
  for _, l in ipairs(m:prunable()) do masks[l] = T.ones(l.weight:shape()) end
  for _ = 1, 4 do
    -- prune more: the new mask is a subset of the old one
    for _, l in ipairs(m:prunable()) do
      masks[l]:mul_(random_mask(l, g, 0.6))
      l:set_mask(masks[l])
    end
    local mp = rp.xbar.map(m, cfg)
    lu.assertTrue(mp.total.crossbars <= prev, "pruning more never increases the count")
    prev = mp.total.crossbars
    local loose = rp.xbar.map(m, rp.xbar.config{compact_rows = false})
    lu.assertTrue(loose.total.crossbars >= mp.total.crossbars)
    local diff = rp.xbar.map(m, rp.xbar.config{signed = "differential"})
    for i, l in ipairs(diff.layers) do
      lu.assertEquals(l.phys, 2 * mp.layers[i].phys)
      lu.assertTrue(l.crossbars >= mp.layers[i].crossbars)
    end
    lu.assertAlmostEquals(mp.total.hardware_saving,
      1 - mp.total.crossbars / mp.total.crossbars_dense, 1e-12)
  end
end

-- Reordering rows: never more crossbars than the original order, and the
-- count it reports is the plain reference count of the mask with its rows
-- permuted (perm a permutation of 1..R); a block-structured mask whose rows
-- were shuffled gets its blocks back.
function TestXbar:test_reorder_never_adds_and_counts_right()
  local g = rp.generator(SEED + 3)
  local gained = 0
  for trial = 1, 12 do
    local cfg = rp.xbar.config{rows = 8 + trial % 3 * 4, cols = 16, weight_bits = 4,
      cell_bits = 2, compact_rows = trial % 2 == 0}
    local R, C = 20 + trial * 5, 12 + trial
    local layer = nn.Linear(R, C, {bias = false})
    local p = ({0.03, 0.1, 0.3, 0.7})[trial % 4 + 1]
    layer:set_mask(random_mask(layer, g, p))
    local r = rp.xbar.reorder(layer, cfg)
    local l = r.layers[1]
    lu.assertEquals(l.crossbars, reference(layer, cfg).crossbars)
    lu.assertTrue(l.crossbars_reordered <= l.crossbars)
    local seen = {}
    for _, v in ipairs(l.perm) do seen[v] = true end
    for k = 1, R do lu.assertTrue(seen[k], "perm holds row " .. k) end
    lu.assertEquals(#l.perm, R)
    local mask = layer.mask:reshape{-1}:totable()
    local want = count(R, C, function(k, col) return mask[(col - 1) * R + l.perm[k]] ~= 0 end,
      cfg).crossbars
    lu.assertEquals(l.crossbars_reordered, want)
    if l.crossbars_reordered < l.crossbars then gained = gained + 1 end
  end
  lu.assertTrue(gained > 0, "reordering gained on no random mask")
  -- two kinds of rows (columns 1-4 alive, or columns 5-8), interleaved: in
  -- 4-row blocks every block needs both halves; reordered, each needs one
  local cfg = rp.xbar.config{rows = 4, cols = 8, weight_bits = 4, cell_bits = 2,
    compact_rows = false} -- L = 4
  local layer = nn.Linear(8, 8, {bias = false})
  local m = T.zeros{8, 8}
  for r = 1, 8 do
    for c = 1, 4 do m:set(1, (r % 2 == 1) and c or c + 4, r) end
  end
  layer:set_mask(m)
  local r = rp.xbar.reorder(layer, cfg)
  lu.assertEquals(r.total.crossbars, 4)
  lu.assertEquals(r.total.crossbars_reordered, 2)
  lu.assertAlmostEquals(r.total.saving, 0.5, 1e-12)
  lu.assertErrorMsgContains("a model or a Conv2d/Linear layer expected", rp.xbar.reorder, 3, cfg)
end

function TestXbar:test_zoo_and_vgg16_count()
  -- dense CIFAR VGG-16 (about 14.7 M weights) at 128x128, 2-bit cells,
  -- 16-bit weights: about 7,200 crossbars
  local map = rp.xbar.map(rp.models.vgg16{})
  lu.assertEquals(map.total.weights, 14715584)
  lu.assertTrue(math.abs(map.total.crossbars_dense - 7200) < 72, map.total.crossbars_dense)
  for _, name in ipairs(rp.models.list()) do
    local mp = rp.xbar.map(rp.models[name]{})
    lu.assertTrue(mp.total.crossbars > 0, name)
    for _, l in ipairs(mp.layers) do
      lu.assertNotNil(l.positions_out, name .. " " .. l.name)
      lu.assertNotNil(l.positions_in, name .. " " .. l.name)
    end
  end
  local r = rp.xbar.map(rp.models.resnet20{}).layers
  lu.assertEquals({r[1].positions_in, r[1].positions_out, r[8].positions_out}, {1024, 1024, 256})
end

function TestXbar:test_outputs()
  local m = rp.models.lenet5{}
  local mp = rp.xbar.map(m)
  local s = tostring(mp)
  lu.assertStrContains(s, "features.1")
  lu.assertStrContains(s, "total")
  local j = mp:to_json()
  lu.assertStrContains(j, '"crossbars_dense":')
  lu.assertStrContains(j, '"name":"classifier.5"')
  local png = os.tmpname() .. ".png"
  mp:heatmap(png)
  local f = assert(io.open(png, "rb"))
  local head = f:read(8)
  f:close()
  os.remove(png)
  lu.assertEquals(head, "\137PNG\r\n\26\n")
  -- the transposed mapping prints, encodes and draws too
  local mt = rp.xbar.map(m, nil, {transpose = true})
  lu.assertStrContains(tostring(mt), "transposed mapping (M^T")
  lu.assertStrContains(tostring(mt), "120x400") -- classifier.1: M 400x120
  lu.assertStrContains(mt:to_json(), '"transposed":true')
  -- ceil(outputs / 128) * ceil(inputs / 16): 6x25, 16x150, 120x400, 84x120, 10x84
  lu.assertEquals(mt.total.crossbars_dense, 2 + 10 + 25 + 8 + 6)
  lu.assertEquals(mp.total.crossbars_transposed, 51)
  local png2 = os.tmpname() .. ".png"
  mt:heatmap(png2)
  f = assert(io.open(png2, "rb"))
  head = f:read(8)
  f:close()
  os.remove(png2)
  lu.assertEquals(head, "\137PNG\r\n\26\n")
  lu.assertErrorMsgContains("xbar.map_layer: a Conv2d or Linear layer expected", function()
    rp.xbar.map_layer(nn.ReLU()) end)
end

os.exit(lu.LuaUnit.run())
