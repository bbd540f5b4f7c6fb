-- The ReRAM training model (docs/design.md and data/reram/README.md): every
-- formula on a two-layer network computed by hand, in both backward modes and
-- both gradient schemes; the physical-sense properties over many chip sizes
-- and random masks; presets; bad input.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn

local SEED = 11
print("test_reram: seed " .. SEED)

-- A chip whose numbers make the arithmetic easy to follow.
local function toy(over)
  local a = {name = "toy", backward = "transposed_copy", gradient = "arrays", input_bits = 1,
    t_cycle = 1, t_write_row = 0.5, e_xbar_cycle = 0, e_adc = 0, e_dac = 0, e_shift_add = 0,
    e_buffer_word = 0, e_router_word = 0, e_write_cell = 0, e_offchip_bit = 0, a_xbar = 1,
    a_periph = 1, a_periph_backward = 1, chip_crossbars = 100, write_parallel = 1000,
    offchip_bytes_per_s = math.huge}
  for k, v in pairs(over or {}) do a[k] = v end
  return a
end

-- conv 1->2 (3x3, pad 1) on 4x4 images, then a 32 -> 3 linear layer.
-- Crossbars 128x128, 16-bit weights in 2-bit cells: 8 slices, L = 16.
--   conv:   M 9x2,  P = Q = 16, K = 1; no error pass (first layer);
--           gradient: C = 2 < R = 9, so the inputs (16 x 9) are written,
--           ceil(16/128) ceil(9/16) = 1 array, and 2 error columns streamed.
--   linear: M 32x3, P = Q = 1, K = 1; M^T 3x32: K^T = ceil(3/128) ceil(32/16) = 2;
--           gradient: the inputs (1 x 32) written, 2 arrays, 3 error columns streamed.
local function two_layers(cfg)
  local m = nn.Sequential{nn.Conv2d(1, 2, 3, {padding = 1}), nn.ReLU(), nn.Flatten(),
    nn.Linear(32, 3)}
  return rp.xbar.map(m, cfg or rp.xbar.config{}, {input_shape = {1, 4, 4}}), m
end

local function close(a, b, what) lu.assertAlmostEquals(a, b, 1e-9 * math.max(1, math.abs(b)),
  what) end

TestReram = {}

function TestReram:test_two_layers_by_hand_transposed_copy()
  local map = two_layers()
  local l1, l2 = map.layers[1], map.layers[2]
  lu.assertEquals({l1.positions_out, l1.positions_in, l2.positions_out}, {16, 16, 1})
  lu.assertEquals({l1.crossbars, l2.crossbars, l2.transpose.crossbars}, {1, 1, 2})
  local r = rp.reram.simulate(map, toy(), {batch = 4, replication = false})
  -- crossbars: conv 1 + 1 gradient; linear 1 + 2 (M^T) + 2 gradient
  lu.assertEquals({r.crossbars, r.crossbars_forward, r.crossbars_backward,
    r.crossbars_gradient}, {7, 2, 2, 3})
  lu.assertTrue(r.fits)
  lu.assertTrue(r.resident)
  -- units: conv forward 16 MVMs = 16; conv gradient: 16 rows written (8) + 2
  -- MVMs = 10; linear forward 1, error 1, gradient 1 row (0.5) + 3 = 3.5.
  -- Stage 16; one image through all: 31.5; update: rows written 9 + 32 (M)
  -- + 3 x 2 (M^T) = 47: (47 / 1000 + 128) x 0.5 = 64.0235.
  -- (B - 1) 16 + 31.5 + 64.0235
  close(r.stage_time, 16)
  lu.assertEquals(r.bottleneck, "1 (forward)")
  close(r.update_time, 64.0235)
  close(r.batch_time, 3 * 16 + 31.5 + 64.0235)
  close(r.time_per_image, r.batch_time / 4)
  close(r.images_per_s, 4 / r.batch_time)
  -- area: 7 crossbars x (1 + 1)
  close(r.area, 14)
end

function TestReram:test_energy_by_hand()
  local map = two_layers()
  -- crossbar cycles: conv forward 16 x 1; conv gradient 2 MVMs x 1 array;
  -- linear forward 1 x 1, error 1 x 2 (M^T), gradient 3 MVMs x 2 arrays
  local r = rp.reram.simulate(map, toy{e_xbar_cycle = 1}, {batch = 4, replication = false})
  close(r.energy.xbar, 16 + 2 + 1 + 2 + 6)
  -- conversions: conv forward 16 x 2 segments x 8; linear forward 3 x 8;
  -- error: M^T's 32 segments x 8; gradients: 2 x 9 x 8 and 3 x 32 x 8
  r = rp.reram.simulate(map, toy{e_adc = 1}, {batch = 4, replication = false})
  close(r.energy.adc, 256 + 24 + 256 + 144 + 768)
  r = rp.reram.simulate(map, toy{e_shift_add = 1}, {batch = 4, replication = false})
  close(r.energy.adc, 256 + 24 + 256 + 144 + 768)
  -- rows driven: conv forward 16 x 9; linear 32, error 3 x 2 crossbars;
  -- gradients: 2 MVMs x 16 rows, 3 MVMs x 1 row x 2 arrays
  r = rp.reram.simulate(map, toy{e_dac = 1}, {batch = 4, replication = false})
  close(r.energy.dac, 144 + 32 + 6 + 32 + 6)
  -- writes per image: the written gradient operand, 16 x 9 x 8 + 1 x 32 x 8
  -- cells; per batch the update of 18 + 96 + 96 weights x 8 cells, / 4
  r = rp.reram.simulate(map, toy{e_write_cell = 1}, {batch = 4, replication = false})
  close(r.energy.write, 1152 + 256 + 1680 / 4)
  lu.assertEquals(r.energy.reprogram, 0)
  -- buffers: conv reads 16 x 1 and writes 16 x 2 words per pass, 2 passes;
  -- linear reads 32 and writes 3, 3 passes
  r = rp.reram.simulate(map, toy{e_buffer_word = 1}, {batch = 4, replication = false})
  close(r.energy.buffer, 2 * 48 + 3 * 35)
  -- the network carries each pass's inputs to every replica: unreplicated,
  -- conv forward 16 + 32 and gradient 16 + 32; linear 35 three times
  r = rp.reram.simulate(map, toy{e_router_word = 1}, {batch = 4, replication = false})
  close(r.energy.buffer, 96 + 105)
  -- the components add up
  r = rp.reram.simulate(map, "isaac", {batch = 4})
  local sum = 0
  for _, k in ipairs{"xbar", "adc", "dac", "buffer", "write", "reprogram"} do
    lu.assertTrue(r.energy[k] >= 0, k)
    sum = sum + r.energy[k]
  end
  close(r.energy_per_image, sum)
end

function TestReram:test_two_layers_by_hand_bidirectional()
  local map = two_layers()
  local r = rp.reram.simulate(map, toy{backward = "bidirectional"}, {batch = 4,
    replication = false})
  -- one copy: 1 + 1 + 1 + 2 crossbars
  lu.assertEquals({r.crossbars, r.crossbars_backward}, {5, 0})
  -- the linear error pass drives M's columns one slice at a time: 8 reads;
  -- forward and error share the crossbars, so the unit takes 1 + 8 = 9.
  -- one image: 16 + 10 + 9 + 3.5; update rows 9 + 32 (one copy)
  close(r.stage_time, 16)
  close(r.update_time, (41 / 1000 + 128) * 0.5)
  close(r.batch_time, 3 * 16 + 38.5 + (41 / 1000 + 128) * 0.5)
  -- bidirectional reads count the second side's periphery in the area: on the
  -- arrays of M that run an error pass (the linear layer's 1); the chip's
  -- tiles all have both sides
  close(r.area, 5 * 2 + 1)
  close(r.area_chip, 100 * 3)
  -- error pass energy: 8 reads x 1 crossbar; 8 reads x 32 row conversions;
  -- 8 reads x 3 column drives
  local e = rp.reram.simulate(map, toy{backward = "bidirectional", e_xbar_cycle = 1},
    {batch = 4, replication = false})
  close(e.energy.xbar, 16 + 2 + 1 + 8 + 6)
  e = rp.reram.simulate(map, toy{backward = "bidirectional", e_adc = 1},
    {batch = 4, replication = false})
  close(e.energy.adc, 256 + 24 + 8 * 32 + 144 + 768)
  e = rp.reram.simulate(map, toy{backward = "bidirectional", e_dac = 1},
    {batch = 4, replication = false})
  close(e.energy.dac, 144 + 32 + 8 * 3 + 32 + 6)
  -- the error pass is now the linear layer's slowest part
  local slow = rp.reram.simulate(map, toy{backward = "bidirectional", t_write_row = 0.01},
    {batch = 4, replication = false})
  lu.assertEquals(slow.bottleneck, "1 (weights)")
  close(slow.layers[2].stage_time, 9)
end

function TestReram:test_outer_product_update_by_hand()
  -- one analog device per weight: 4-bit weights in 4-bit cells, L = 128
  local cfg = rp.xbar.config{weight_bits = 4, cell_bits = 4}
  local map = two_layers(cfg)
  local arch = toy{backward = "bidirectional", gradient = "outer_product", update_pulses = 2,
    t_update_pulse = 0.25, e_update_cell = 0, xbar = {weight_bits = 4, cell_bits = 4}}
  local r = rp.reram.simulate(map, arch, {batch = 4, replication = false})
  -- no gradient arrays: 1 + 1 crossbars
  lu.assertEquals({r.crossbars, r.crossbars_gradient}, {2, 0})
  -- conv: 16 forward MVMs + 16 updates of 2 x 0.25 = 24; linear: forward 1 +
  -- error 1 (one read: 1 slice) + 1 update of 0.5 = 2.5; updated in place,
  -- no update writes
  close(r.stage_time, 24)
  lu.assertEquals(r.update_time, 0)
  close(r.batch_time, 3 * 24 + 26.5)
  -- the update pulses' energy: P x alive cells per image, per replica
  local e = rp.reram.simulate(map, toy{backward = "bidirectional", gradient = "outer_product",
    update_pulses = 2, t_update_pulse = 0.25, e_update_cell = 1,
    xbar = {weight_bits = 4, cell_bits = 4}}, {batch = 4, replication = false})
  close(e.energy.write, 16 * 18 + 96)
  -- a replica of the conv layer splits its positions, not its updates:
  -- ceil(16 / 2) + 8 = 16; every replica takes all 16 updates
  local rr = rp.reram.simulate(map, rp.reram.preset(arch, {chip_crossbars = 3,
    e_update_cell = 1}), {batch = 4})
  lu.assertEquals(rr.replicas["1"], 2)
  close(rr.stage_time, 16)
  close(rr.batch_time, 3 * 16 + 16 + 2.5)
  close(rr.energy.write, 2 * 16 * 18 + 96)
end

function TestReram:test_gradient_arrays_with_several_row_blocks()
  -- 8x8 crossbars of 1-bit weights in 1-bit cells (L = 8): the conv layer's
  -- 16 positions fill 2 row blocks of gradient arrays.
  local cfg = rp.xbar.config{rows = 8, cols = 8, weight_bits = 1, cell_bits = 1}
  local map = two_layers(cfg)
  local l1 = map.layers[1]
  lu.assertEquals({l1.rows, l1.cols, l1.crossbars}, {9, 2, 2}) -- 9 rows: 2 blocks
  local arch = toy{xbar = {rows = 8, cols = 8, weight_bits = 1, cell_bits = 1}, e_adc = 1}
  local r = rp.reram.simulate(map, arch, {batch = 4, replication = false})
  -- conv gradient: the inputs (16 x 9) written into ceil(16/8) ceil(9/8) = 4
  -- arrays, 2 error columns streamed; each MVM converts 9 columns in each of
  -- the 2 row blocks: 2 x 2 x 9 = 36 conversions
  lu.assertEquals(r.layers[1].G, 4)
  -- forward: 16 x 2 segments (one per block and column? both blocks hold
  -- both columns: 4); linear 32x3: 4 blocks x 3 columns = 12; M^T 3x32:
  -- 1 block x 32 = 32; linear gradient: inputs 1 x 32 written in 4 arrays,
  -- 3 MVMs x 1 block x 32 = 96
  close(r.energy.adc, 16 * 4 + 12 + 32 + 36 + 96)
  -- with 3 write drivers, writing the gradient operands takes 2 rounds:
  -- conv 4 arrays, 8 rows each: 2 x 8 x 0.5 + 2 MVMs = 10 (was 6); linear
  -- 4 arrays of 1 row: 2 x 0.5 + 3 = 4 (was 3.5). The update writes rows / 3
  -- instead of / 1000: M 9 + 32 rows, M^T 4 crossbars x 3 rows = 53.
  local slow = rp.reram.simulate(map, rp.reram.preset(arch, {write_parallel = 3}),
    {batch = 4, replication = false})
  local fast = rp.reram.simulate(map, arch, {batch = 4, replication = false})
  close(slow.batch_time - fast.batch_time, 4 + 0.5 + 53 / 3 * 0.5 - 53 / 1000 * 0.5)
  close(slow.stage_time, 16) -- the conv forward pass still sets the stage
end

function TestReram:test_replication_by_hand()
  local map = two_layers()
  -- one crossbar to spare: a second replica of the conv forward arrays
  -- halves them to 8; the conv gradient (10) then sets the stage
  local r = rp.reram.simulate(map, toy{chip_crossbars = 8}, {batch = 4})
  lu.assertEquals(r.replicas["1"], 2)
  lu.assertEquals(r.layers[1].replicas_gradient, 1)
  lu.assertEquals(r.crossbars_used, 8)
  lu.assertEquals(r.bottleneck, "1 (gradient)")
  close(r.stage_time, 10)
  -- one image: 8 + 10 + 1 + 1 + 3.5; update rows 2 x 9 + 32 + 6 = 56
  close(r.batch_time, 3 * 10 + 23.5 + (56 / 1000 + 128) * 0.5)
  -- replicas multiply the update writes and the network traffic
  local w = rp.reram.simulate(map, toy{chip_crossbars = 8, e_write_cell = 1}, {batch = 4})
  close(w.energy.write, 1152 + 256 + (2 * 144 + 768 + 768) / 4)
  local b = rp.reram.simulate(map, toy{chip_crossbars = 8, e_router_word = 1}, {batch = 4})
  close(b.energy.buffer, 96 + 16 + 105)
  -- gradient arrays replicate over the batch's images: 4 images at most
  local big = rp.reram.simulate(map, toy{chip_crossbars = 1000, t_write_row = 1e-6},
    {batch = 4})
  lu.assertEquals(big.replicas["1"], 16)
  lu.assertTrue(big.layers[1].replicas_gradient <= 4)
  lu.assertTrue(big.batch_time < r.batch_time)
end

function TestReram:test_reprogramming_by_hand()
  local map = two_layers()
  -- 4 crossbars: forward arrays 1 + 1 in one group; backward arrays: conv
  -- gradient 1, linear M^T 2 + gradient 2 = 4: two groups. 3 groups, each
  -- a pipeline of (B - 1) 16 plus the write latency of a crossbar (64); one
  -- image through everything 31.5; rows written 47 / 1000 x 0.5; 1,680 cells
  -- of 2 bits streamed at 100 B/s: 4.2
  local arch = toy{chip_crossbars = 4, offchip_bytes_per_s = 100}
  local r = rp.reram.simulate(map, arch, {batch = 4, replication = false})
  lu.assertFalse(r.fits)
  lu.assertFalse(r.resident)
  lu.assertEquals(r.groups, {forward = 1, backward = 2})
  local program = 3 * 64 + 47 / 1000 * 0.5 + 4.2
  close(r.reprogram_time, program)
  close(r.batch_time, 3 * (3 * 16) + 31.5 + program)
  -- the cells programmed, and their bits streamed, per image
  local e = rp.reram.simulate(map, toy{chip_crossbars = 4, e_write_cell = 1,
    e_offchip_bit = 1}, {batch = 4, replication = false})
  close(e.energy.reprogram, 1680 * (1 + 2) / 4)
  close(e.energy.write, 1152 + 256) -- gradient operands only; no in-place update
  -- a chip that fits is faster, and more room is never slower
  local prev = r.batch_time
  for chip = 5, 40 do
    local s = rp.reram.simulate(map, toy{chip_crossbars = chip, offchip_bytes_per_s = 100},
      {batch = 4})
    lu.assertTrue(s.batch_time <= prev * (1 + 1e-12), "chip " .. chip)
    prev = s.batch_time
  end
  -- a chip smaller than one layer's arrays for a pass is an error
  lu.assertErrorMsgContains("the chip's 3 crossbars cannot hold layer 4, which needs 4 for its " ..
    "backward pass", function() rp.reram.simulate(map, toy{chip_crossbars = 3}) end)
end

function TestReram:test_chip_relative_to_the_dense_network()
  local map, m = two_layers()
  local arch = toy{chip_crossbars = "dense", chip_headroom = 0.5}
  local chip, need = rp.reram.chip_crossbars(map, arch)
  lu.assertEquals({chip, need}, {11, 7})
  -- a pruned network is held to the chip of its dense counterpart
  local linear = m:prunable()[2]
  local mask = T.zeros(linear.weight:shape())
  mask:set(1, 1, 1)
  linear:set_mask(mask)
  local pruned = rp.xbar.map(m, rp.xbar.config{}, {input_shape = {1, 4, 4}})
  lu.assertEquals({rp.reram.chip_crossbars(pruned, arch)}, {11, 7})
  lu.assertEquals(rp.reram.simulate(pruned, arch).chip_crossbars, 11)
  lu.assertEquals(rp.reram.simulate(map, toy{chip_crossbars = "dense"}).chip_crossbars, 7)
  -- in bidirectional mode the dense need has no transposed copy
  lu.assertEquals({rp.reram.chip_crossbars(map, toy{chip_crossbars = "dense",
    backward = "bidirectional"})}, {5, 5})
end

function TestReram:test_presets_have_sources_and_load()
  for _, name in ipairs{"isaac", "pipelayer", "rpu", "edge"} do
    local p = rp.reram.presets[name]
    lu.assertNotNil(p, name)
    lu.assertEquals(p.name, name)
    lu.assertStrContains(p.source_file, "data/reram/" .. name .. ".lua")
    lu.assertNotNil(({transposed_copy = 1, bidirectional = 1})[p.backward], name)
    local cfg = rp.reram.xbar_config(p)
    lu.assertEquals(cfg.rows, 128)
    -- every preset models a dense vgg11
    local map = rp.xbar.map(rp.models.vgg11{}, cfg)
    local r = rp.reram.simulate(map, p, {batch = 16})
    lu.assertTrue(r.images_per_s > 0 and r.energy_per_image > 0, name)
  end
  lu.assertEquals(rp.reram.presets.rpu.backward, "bidirectional")
  lu.assertEquals(rp.reram.presets.isaac.backward, "transposed_copy")
  lu.assertEquals(rp.reram.xbar_config("pipelayer").slices, 4)
  lu.assertEquals(rp.reram.xbar_config("rpu").slices, 1)
  -- the edge chip holds vgg16's largest layer but not dense vgg11
  local edge = rp.reram.presets.edge
  local r = rp.reram.simulate(rp.xbar.map(rp.models.vgg11{}, rp.reram.xbar_config(edge)), edge)
  lu.assertFalse(r.fits)
  lu.assertTrue(r.chip_crossbars < rp.reram.presets.isaac.chip_crossbars)
  lu.assertNil(rp.reram.presets.nope)
  local names = rp.reram.preset_names()
  lu.assertTrue(#names >= 4)
end

function TestReram:test_bad_input()
  local map = two_layers()
  local function fails(msg, arch, workload, m)
    lu.assertErrorMsgContains(msg, function() rp.reram.simulate(m or map, arch, workload) end)
  end
  fails("no ReRAM preset named \"nope\"", "nope")
  fails("reram.simulate: the preset's backward must be \"transposed_copy\" or \"bidirectional\"" ..
    ", got sideways", toy{backward = "sideways"})
  fails("the preset's gradient must be \"arrays\" or \"outer_product\", got false",
    toy{gradient = false})
  for _, k in ipairs{"t_cycle", "t_write_row", "offchip_bytes_per_s"} do
    fails("the preset's " .. k .. " must be a positive number, got 0", toy{[k] = 0})
    fails("the preset's " .. k .. " must be a positive number, got -1", toy{[k] = -1})
  end
  fails("the preset's t_cycle must be a positive number, got inf", toy{t_cycle = math.huge})
  for _, k in ipairs{"input_bits", "write_parallel"} do
    fails("the preset's " .. k .. " must be a positive integer, got 0", toy{[k] = 0})
    fails("the preset's " .. k .. " must be a positive integer, got 2.5", toy{[k] = 2.5})
  end
  fails("the preset's a_other must be a non-negative number, got -5", toy{a_other = -5})
  fails("the preset's a_periph_backward must be a non-negative number, got inf",
    toy{a_periph_backward = math.huge})
  fails("reram.simulate: the preset's xbar: rows must be a positive integer, got 0",
    toy{xbar = {rows = 0}})
  lu.assertErrorMsgContains("reram.preset: the preset's xbar: rows must be a positive integer",
    function() rp.reram.preset("isaac", {xbar = {rows = 0}}) end)
  lu.assertErrorMsgContains("reram.xbar_config: overrides must be a table", function()
    rp.reram.xbar_config("isaac", 5) end)
  -- every crossbar setting must match, also without an xbar field (the default)
  fails("the mapping was made with compact_rows = false, but the preset toy has " ..
    "compact_rows = true", toy(), nil,
    rp.xbar.map(rp.models.lenet5{}, rp.xbar.config{compact_rows = false}))
  fails("the mapping was made with rows = 64, but the preset toy has rows = 128", toy(), nil,
    rp.xbar.map(rp.models.lenet5{}, rp.xbar.config{rows = 64, cols = 64}))
  fails("the preset's t_cycle must be a positive number, got fast", toy{t_cycle = "fast"})
  fails("the preset's e_adc must be a non-negative number, got -1", toy{e_adc = -1})
  fails("the preset's chip_crossbars must be a positive integer or \"dense\"",
    toy{chip_crossbars = 0})
  fails("the preset's chip_crossbars must be a positive integer or \"dense\"",
    toy{chip_crossbars = 2.5})
  fails("the preset's chip_headroom must be a number above -1", toy{chip_crossbars = "dense",
    chip_headroom = -1})
  fails("needs backward = \"bidirectional\"", toy{gradient = "outer_product",
    update_pulses = 1, t_update_pulse = 1, e_update_cell = 0})
  fails("updates one analog device per weight, but the mapping spreads each weight over 8 cells",
    toy{backward = "bidirectional", gradient = "outer_product", update_pulses = 1,
      t_update_pulse = 1, e_update_cell = 0})
  fails("the preset's update_pulses must be a positive number", toy{backward = "bidirectional",
    gradient = "outer_product", t_update_pulse = 1, e_update_cell = 0})
  local one_sided = toy{backward = "bidirectional"}
  one_sided.a_periph_backward = nil
  fails("needs the preset's a_periph_backward", one_sided)
  fails("batch must be a positive integer, got 0", toy(), {batch = 0})
  fails("images must be a positive integer, got -5", toy(), {images = -5})
  -- a mapping made for other crossbars than the preset's
  fails("the mapping was made with rows = 64, but the preset isaac has rows = 128",
    "isaac", nil, rp.xbar.map(rp.models.lenet5{}, rp.xbar.config{rows = 64, cols = 64}))
  fails("the mapping is a transposed one", toy(), nil,
    rp.xbar.map(rp.models.lenet5{}, rp.xbar.config{}, {transpose = true}))
  fails("a mapping from rp.xbar.map(model, cfg) expected", toy(), nil, {})
  -- a network with every weight pruned trains nothing
  local _, m = two_layers()
  for _, l in ipairs(m:prunable()) do l:set_mask(T.zeros(l.weight:shape())) end
  local empty = rp.xbar.map(m, rp.xbar.config{}, {input_shape = {1, 4, 4}})
  fails("every layer of the mapping is pruned away", toy(), {replication = false}, empty)
  fails("every layer of the mapping is pruned away", toy(), nil, empty)
  lu.assertErrorMsgContains("reram.preset: no ReRAM preset named \"x\"", function()
    rp.reram.preset("x") end)
end

-- Masks of random structure: whole column segments, single weights, tiles.
local function random_masks(m, g, kind, keep, rows)
  for _, l in ipairs(m:prunable()) do
    local C = l.weight:size(1)
    local R = l.weight:numel() // C
    local mask = T.ones(l.weight:shape())
    local flat = mask:reshape{-1}
    for co = 0, C - 1 do
      for b = 0, (R - 1) // rows do
        local seg = kind == "column" and g:uniform() >= keep
        for r = b * rows, math.min(R, b * rows + rows) - 1 do
          if seg or (kind == "element" and g:uniform() >= keep) then flat[co * R + r + 1] = 0 end
        end
      end
    end
    l:set_mask(mask)
  end
end

-- docs/design.md's physical sense, for every preset and both backward modes: a
-- bigger chip never trains slower; a pruned network never trains slower than
-- the same network dense on the same chip; compare(a, a) is 1, 0, 0.
function TestReram:test_physical_sense()
  local g = rp.generator(SEED)
  local archs = {}
  for _, pname in ipairs{"isaac", "pipelayer", "rpu", "edge"} do
    for _, backward in ipairs{"transposed_copy", "bidirectional"} do
      local over = {backward = backward}
      if pname == "rpu" and backward == "transposed_copy" then over.gradient = "arrays" end
      archs[#archs + 1] = {name = pname .. " " .. backward, arch = rp.reram.preset(pname, over)}
    end
  end
  local checked = 0
  for _, mname in ipairs{"lenet5", "vgg_small", "resnet20"} do
    for trial = 1, 2 do
      local m = rp.models[mname]{}
      random_masks(m, g, trial == 1 and "column" or "element", trial == 1 and 0.2 or 0.05, 128)
      local maps = {}
      for _, a in ipairs(archs) do
        local cfg = rp.reram.xbar_config(a.arch)
        local key = tostring(cfg)
        if not maps[key] then
          maps[key] = {dense = rp.xbar.map(rp.models[mname]{}, cfg), pruned = rp.xbar.map(m, cfg)}
        end
        local dense, pruned = maps[key].dense, maps[key].pruned
        local same = rp.reram.compare(dense, dense, a.arch, {batch = 32})
        lu.assertEquals({same.speedup, same.energy_saving, same.hardware_saving}, {1, 0, 0})
        local _, need = rp.reram.chip_crossbars(dense, a.arch)
        local prev_a, prev_b
        for _, f in ipairs{0.35, 0.5, 0.7, 0.9, 0.99, 1, 1.01, 1.3, 2, 5, 20} do
          local chip = math.max(1, math.floor(f * need))
          local ok, c = pcall(rp.reram.compare, dense, pruned,
            rp.reram.preset(a.arch, {chip_crossbars = chip}), {batch = 32})
          if not ok then
            lu.assertStrContains(c, "cannot hold layer") -- a chip too small for one layer
          else
            local what = ("%s %s trial %d chip %d"):format(a.name, mname, trial, chip)
            lu.assertTrue(c.speedup >= 1 - 1e-12, what .. ": pruned slower " .. c.speedup)
            lu.assertTrue(c.hardware_saving >= 0, what)
            if prev_a then
              lu.assertTrue(c.a.batch_time <= prev_a * (1 + 1e-12), what .. ": dense, bigger chip")
              lu.assertTrue(c.b.batch_time <= prev_b * (1 + 1e-12), what .. ": pruned, bigger chip")
            end
            prev_a, prev_b = c.a.batch_time, c.b.batch_time
            checked = checked + 1
          end
        end
      end
    end
  end
  lu.assertTrue(checked > 400, "cases checked: " .. checked)
end

function TestReram:test_transposed_copy_of_column_pruned_layers_is_nearly_dense()
  -- the reason the error pass must be counted on M^T: column pruning of M
  -- saves crossbars of M, hardly any of M^T
  local arch = rp.reram.presets.isaac
  local cfg = rp.reram.xbar_config(arch)
  local m = rp.models.vgg11{}
  random_masks(m, rp.generator(SEED + 1), "column", 0.1, cfg.rows)
  local map = rp.xbar.map(m, cfg)
  local t = map.total
  lu.assertTrue(t.crossbars < 0.2 * t.crossbars_dense, t.crossbars)
  lu.assertTrue(t.crossbars_transposed > 0.9 * t.crossbars_transposed_dense,
    t.crossbars_transposed)
  local c = rp.reram.compare(rp.xbar.map(rp.models.vgg11{}, cfg), map, arch)
  lu.assertTrue(c.forward_saving > 0.8)
  lu.assertTrue(c.hardware_saving < 0.6) -- the transposed copy and gradient arrays remain
  lu.assertTrue(c.hardware_saving > 0)
end

-- Write endurance, by hand on the two-layer network (toy chip, batch 4, no
-- replication; 16-bit weights in 2-bit cells: 8 cells per weight).
--   conv:   18 weights, 144 cells written once a batch; no transposed copy
--           (first layer); gradient arrays: the inputs, 16 x 9 x 8 = 1152
--           cells, written once per image: 4 a batch.
--   linear: 96 weights, 768 cells, and the transposed copy's 768, once a
--           batch; gradient arrays 1 x 32 x 8 = 256 cells, 4 a batch.
--   per batch: 144 + 4 x 1152 + 768 + 768 + 4 x 256 = 7312 cell writes; the
--   most-written cell 4.
function TestReram:test_endurance_by_hand()
  local map, m = two_layers()
  local r = rp.reram.simulate(map, toy{e_write_cell = 1}, {batch = 4, replication = false})
  lu.assertEquals(r.layers[1].writes.forward, {cells = 144, per_batch = 1, written = 144})
  lu.assertNil(r.layers[1].writes.transposed)
  lu.assertEquals(r.layers[1].writes.gradient, {cells = 1152, per_batch = 4, written = 4608})
  lu.assertEquals(r.layers[2].writes.forward, {cells = 768, per_batch = 1, written = 768})
  lu.assertEquals(r.layers[2].writes.transposed, {cells = 768, per_batch = 1, written = 768})
  lu.assertEquals(r.layers[2].writes.gradient, {cells = 256, per_batch = 4, written = 1024})
  lu.assertEquals({r.writes_per_batch, r.cell_writes_per_batch}, {7312, 4})
  -- the write energy counts the same cells (e_write_cell = 1, J per image)
  close(r.energy.write * 4, 7312)
  local e = rp.reram.endurance(m, toy(), {batch = 4, replication = false,
    input_shape = {1, 4, 4}, updates = 10, limit = 1000})
  lu.assertEquals({e.updates, e.worst, e.writes, e.lifetime, e.runs}, {10, 40, 73120, 250, 25})
  lu.assertEquals({e.layers[1].worst, e.layers[1].writes}, {40, (144 + 4 * 1152) * 10})
  -- in-place updates (one 4-bit cell per weight): P pulse trains per image
  -- on every cell, 4 x 16 = 64 a batch for the conv, 4 for the linear layer
  local cfg = rp.xbar.config{weight_bits = 4, cell_bits = 4}
  local op = toy{backward = "bidirectional", gradient = "outer_product", update_pulses = 2,
    t_update_pulse = 0.25, e_update_cell = 0, xbar = {weight_bits = 4, cell_bits = 4}}
  local o = rp.reram.simulate(two_layers(cfg), op, {batch = 4, replication = false})
  lu.assertEquals(o.layers[1].writes.forward, {cells = 18, per_batch = 64, written = 18 * 64})
  lu.assertEquals(o.layers[2].writes.forward, {cells = 96, per_batch = 4, written = 96 * 4})
  lu.assertEquals(o.writes_per_batch, 18 * 64 + 96 * 4)
  -- reprogrammed (a chip of one crossbar): the weights are programmed once
  -- a pass (forward, backward) and still take the in-place pulses
  local rp1 = rp.reram.simulate(two_layers(cfg), rp.reram.preset(op, {chip_crossbars = 1}),
    {batch = 4, replication = false})
  lu.assertFalse(rp1.resident)
  lu.assertEquals(rp1.layers[1].writes.forward.per_batch, 64 + 2)
  lu.assertEquals(rp1.layers[2].writes.forward.per_batch, 4 + 2)
end

-- rp.optim counts every layer's updates; pruning lowers the weight arrays'
-- cell writes
function TestReram:test_endurance_counts_updates_of_training()
  rp.seed(3)
  local m = rp.models.vgg_small{width = 0.25}
  local data = rp.data.fashion_mnist{split = "test"}:subset(96)
  rp.train.fit(m, data:loader{batch_size = 32, shuffle = false},
    {epochs = 2, progress = false, log = function() end})
  for _, l in ipairs(m:prunable()) do lu.assertEquals(l.updates, 6, l.name) end
  local dense = rp.reram.endurance(m, "pipelayer", {batch = 32})
  lu.assertEquals(dense.updates, 6)
  rp.prune.apply(m, {granularity = "column", amount = 0.8,
    xbar = rp.reram.xbar_config("pipelayer")})
  local pruned = rp.reram.endurance(m, "pipelayer", {batch = 32})
  -- the weight arrays and their transposed copies shrink with the mask; the
  -- gradient arrays (every image's inputs) far less
  local function array_writes(e, kinds)
    local n = 0
    for _, l in ipairs(e.layers) do
      for k, w in pairs(l.arrays) do if kinds[k] then n = n + w.cells * w.per_batch end end
    end
    return n
  end
  local weights = {forward = true, transposed = true}
  lu.assertTrue(array_writes(pruned, weights) < 0.5 * array_writes(dense, weights))
  lu.assertTrue(pruned.writes < dense.writes)
  lu.assertEquals(pruned.limit, rp.reram.endurance_limits.low)
  lu.assertStrContains(rp.reram.endurance_limits.source, "plot_2A.py")
  lu.assertAlmostEquals(dense.runs, dense.limit / dense.worst, 1e-9 * dense.runs)
  lu.assertErrorMsgContains("rp.reram.endurance: limit must be a positive number",
    rp.reram.endurance, m, "pipelayer", {limit = 0})
  lu.assertErrorMsgContains("rp.reram.endurance: updates must be an integer >= 0",
    rp.reram.endurance, m, "pipelayer", {updates = -1})
  lu.assertErrorMsgContains("rp.reram.endurance: a model expected", rp.reram.endurance, {}, "isaac")
end

os.exit(lu.LuaUnit.run())
