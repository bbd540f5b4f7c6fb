-- The ReRAM training model: formulas on a two-layer network computed by hand,
-- replication, reprogramming, presets, and properties on real models.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn

-- A chip whose numbers make the arithmetic easy to follow.
local function toy(over)
  local a = {name = "toy", input_bits = 1, t_cycle = 1, t_write_row = 0.5, e_xbar_cycle = 1,
    e_adc = 0, e_dac = 0, e_buffer_word = 0, e_router_word = 0, e_write_cell = 0, a_xbar = 1,
    a_periph = 1, chip_crossbars = 100, copies = 1, write_parallel = 1000,
    offchip_bytes_per_s = math.huge}
  for k, v in pairs(over or {}) do a[k] = v end
  return a
end

-- conv 1->2 (3x3, pad 1) on 4x4 images, then a 32 -> 3 linear layer.
local function two_layers()
  local m = nn.Sequential{nn.Conv2d(1, 2, 3, {padding = 1}), nn.ReLU(), nn.Flatten(),
    nn.Linear(32, 3)}
  return rp.xbar.map(m, rp.xbar.config{}, {input_shape = {1, 4, 4}}), m
end

TestReram = {}

function TestReram:test_two_layers_by_hand()
  local map = two_layers()
  lu.assertEquals({map.layers[1].positions_out, map.layers[1].positions_in}, {16, 16})
  lu.assertEquals({map.layers[2].positions_out, map.layers[2].positions_in}, {1, 1})
  lu.assertEquals({map.layers[1].crossbars, map.layers[2].crossbars}, {1, 1})
  local r = rp.reram.simulate(map, toy(), {batch = 4, replication = false})
  -- conv: P = Q = 16 MVMs of 1 cycle; linear: 1. T_stage = 16, L = 2 layers:
  -- (B + 2L - 1) * 16 = 112, plus the update: max rows written (32) * 0.5 = 16
  lu.assertEquals(r.stage_time, 16)
  lu.assertEquals(r.bottleneck, "1")
  lu.assertEquals(r.batch_time, 128)
  lu.assertEquals(r.time_per_image, 32)
  -- energy: (P + Q + P) sweeps x 1 cycle x K crossbars x 1 J: 48 + 3
  lu.assertEquals(r.energy_per_image, 51)
  lu.assertEquals(r.crossbars_needed, 2)
  lu.assertTrue(r.fits)
  lu.assertEquals(r.area_mapped_mm2, 4)
  -- two copies per layer (W and W^T) double the crossbars, not the time
  local r2 = rp.reram.simulate(map, toy{copies = 2}, {batch = 4, replication = false})
  lu.assertEquals(r2.crossbars_needed, 4)
  lu.assertEquals(r2.batch_time, 128)
end

function TestReram:test_replication_splits_the_bottleneck()
  local map = two_layers()
  -- room for exactly one more copy of the conv layer
  local r = rp.reram.simulate(map, toy{chip_crossbars = 3}, {batch = 4})
  lu.assertEquals(r.replicas["1"], 2)
  lu.assertEquals(r.replicas["4"], 1)
  lu.assertEquals(r.stage_time, 8)
  lu.assertEquals(r.crossbars_used, 3)
  lu.assertEquals(r.batch_time, 7 * 8 + 16)
  -- plenty of room: replicas stop at one per position (16)
  local big = rp.reram.simulate(map, toy{chip_crossbars = 1000}, {batch = 4})
  lu.assertEquals(big.replicas["1"], 16)
  lu.assertEquals(big.stage_time, 1)
end

function TestReram:test_reprogramming_when_it_does_not_fit()
  local map = two_layers()
  local r = rp.reram.simulate(map, toy{chip_crossbars = 1}, {batch = 4})
  lu.assertFalse(r.fits)
  lu.assertEquals(r.groups, 2)
  -- each group written twice per batch: 1 round x rows written x 0.5 s
  -- conv: 9 rows -> 4.5; linear: 32 rows -> 16; (4.5 + 16) * 2 = 41
  lu.assertEquals(r.reprogram_time, 41)
  -- groups run one after the other: (4 + 1) * 16 + (4 + 1) * 1, + 41 + update 16
  lu.assertEquals(r.batch_time, 80 + 5 + 41 + 16)
  local fits = rp.reram.simulate(map, toy{chip_crossbars = 2}, {batch = 4, replication = false})
  lu.assertTrue(r.batch_time > fits.batch_time)
end

function TestReram:test_presets_have_sources_and_load()
  for _, name in ipairs{"isaac", "pipelayer"} do
    local p = rp.reram.presets[name]
    lu.assertNotNil(p, name)
    lu.assertEquals(p.name, name)
    lu.assertStrContains(p.source_file, "data/reram/" .. name .. ".lua")
    local cfg = rp.reram.xbar_config(p)
    lu.assertEquals(cfg.rows, 128)
  end
  lu.assertEquals(rp.reram.xbar_config("pipelayer").slices, 4)
  lu.assertNil(rp.reram.presets.nope)
  lu.assertErrorMsgContains("no ReRAM preset named \"nope\"", function()
    rp.reram.simulate(two_layers(), "nope") end)
  lu.assertErrorMsgContains("the preset's t_cycle must be a non-negative number", function()
    rp.reram.simulate(two_layers(), toy{t_cycle = "fast"}) end)
end

local function column_prune(m, keep, seed)
  local g = rp.generator(seed)
  for _, l in ipairs(m:prunable()) do
    local C = l.weight:size(1)
    local R = l.weight:numel() // C
    local mask = T.ones(l.weight:shape())
    local flat = mask:reshape{-1}
    for co = 0, C - 1 do
      for b = 0, (R - 1) // 128 do
        if g:uniform() >= keep then
          for r = b * 128, math.min(R, b * 128 + 128) - 1 do flat[co * R + r + 1] = 0 end
        end
      end
    end
    l:set_mask(mask)
  end
end

function TestReram:test_pruned_is_never_slower_and_saving_matches()
  local arch = rp.reram.presets.isaac
  local cfg = rp.reram.xbar_config(arch)
  for _, name in ipairs{"lenet5", "vgg_small", "resnet20"} do
    local m = rp.models[name]{}
    local dense = rp.xbar.map(m, cfg)
    for _, keep in ipairs{0.9, 0.5, 0.1} do
      column_prune(m, keep, 7)
      local pruned = rp.xbar.map(m, cfg)
      local c = rp.reram.compare(dense, pruned, arch, {batch = 64})
      lu.assertTrue(c.speedup >= 1, ("%s keep %.1f: speedup %.3f"):format(name, keep, c.speedup))
      lu.assertAlmostEquals(c.hardware_saving, 1 - pruned.total.crossbars / dense.total.crossbars, 1e-12)
      lu.assertTrue(c.energy_saving >= 0)
    end
  end
end

function TestReram:test_without_replication_time_follows_the_bottleneck()
  local arch = rp.reram.presets.isaac
  local map = rp.xbar.map(rp.models.vgg11{}, rp.reram.xbar_config(arch))
  local r = rp.reram.simulate(map, arch, {batch = 32, replication = false})
  local most = 0
  for _, l in ipairs(map.layers) do
    most = math.max(most, l.positions_out, l.positions_in)
  end
  lu.assertAlmostEquals(r.stage_time, most * arch.input_bits * arch.t_cycle, 1e-15)
  lu.assertEquals(r.bottleneck, "features.1")
  local r2 = rp.reram.simulate(map, arch, {batch = 64, replication = false})
  lu.assertTrue(r2.batch_time > r.batch_time)
end

os.exit(lu.LuaUnit.run())
