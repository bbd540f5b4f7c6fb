--- Stuck-at faults of the ReRAM cells a model is mapped to (docs/design.md,
-- "Device faults").
--
--     local f = rp.faults.sample(model, cfg, {sa0 = 0.09, sa1 = 0.01, seed = 1})
--     print(f.total.cells, f.total.sa0, f.total.sa1)
--     rp.faults.attach(model, f)     -- forward and backward use what the cells hold
--     rp.faults.detach(model)        -- ideal cells again
--
-- The cells are those of the mapped column segments under `cfg` (with compact
-- rows, the rows holding an alive weight, in blocks of cfg.rows; a block x
-- column segment holding an alive weight is mapped), each weight with
-- cfg's `phys` cells: its code's slices, least significant first, cell_bits
-- each, and with the differential encoding the negative array's slices after
-- them. A cell is stuck at the high-resistance state (SA0: its digit reads 0)
-- with probability sa0, else at the low-resistance state (SA1: all ones) with
-- probability sa1. A weight with a stuck cell reads, with s = its layer's
-- max |w| and levels = 2^weight_bits - 1: offset, q = round((w/s + 1)/2 levels)
-- with the stuck digits forced, w' = (2q/levels - 1) s; differential, the
-- positive and negative codes of |w| forced apart, w' = (p - n)/levels s. A
-- weight with a stuck cell is thus re-quantized even when its stuck digits
-- match its code (and a masked weight there reads about s/levels with the
-- offset encoding, whose levels hold no exact 0); differential cells all
-- stuck at HRS read exactly 0. Other weights are untouched, so rates of 0
-- change nothing, bit for bit;
-- stuck digits stay forced whatever the optimizer writes; a masked weight in a
-- mapped segment reads what its cells hold, weights of unmapped segments have
-- no cells and stay 0. A map belongs to the masks it was drawn for: attaching
-- it, or running a layer, after a mask changed is an error (draw again).
-- rp.save keeps a model's attached map and rp.load attaches it again.
-- @module realprune.faults

local core = require "realprune.core"
local xbar = require "realprune.xbar"

local M = {}

--- Stuck-at rates with their sources (fractions of cells). Only rates read
-- from the cited file are here.
M.presets = {
  mnsim2 = {sa0 = 0.001, sa1 = 0.001,
    source = "MNSIM-2.0 (github.com/thu-nics/MNSIM-2.0), SimConfig.ini [Device level] " ..
      "Device_SAF = 0.1,0.1 (percent stuck at HRS, LRS), commit 762fabc (2024-05-14)"},
  mnsim2_2019 = {sa0 = 0.09, sa1 = 0.01,
    source = "MNSIM-2.0, SimConfig.ini Device_SAF = 9,1 (percent stuck at HRS, LRS), " ..
      "commit 0bc06c47 (2019-10-22, \"Update SAF rate\"); the default until 2023"},
}

--- Programming-variation spreads with their sources (the sample spec's
-- sigma_d2d, sigma_c2c, sigma_of).
M.variation_presets = {
  neurosim = {sigma_c2c = 0.035, sigma_of = "range",
    source = "MLP_NeuroSim_V3.0 (github.com/neurosim/MLP_NeuroSim_V3.0), Cell.cpp line 318, " ..
      "RealDevice: sigmaCtoC = 0.035*(maxConductance - minConductance), cycle-to-cycle, a " ..
      "fraction of the conductance range; sigmaDtoD = 0 (line 312); commit cc138637"},
  dnn_neurosim = {sigma_c2c = 0.003, sigma_of = "range",
    source = "DNN_NeuroSim_V2.1 (github.com/neurosim/DNN_NeuroSim_V2.1), " ..
      "Training_pytorch/train.py line 57: args.c2cVari = 0.003, cycle-to-cycle, added at " ..
      "every update to weights in [-1, 1] scaled by 2 (utee/wage_quantizer.py): 0.3% of the " ..
      "range; d2dVari = 0.0 (line 58); commit 18289cbb"},
  mnsim2 = {sigma_d2d = 0.01, sigma_of = "level",
    source = "MNSIM-2.0 (github.com/thu-nics/MNSIM-2.0), SimConfig.ini line 33: " ..
      "Device_Variation = 1 (percent of the ideal resistance, drawn once at mapping: " ..
      "Weight_update.py line 41); commit ca39ccb6. Assumption: dR/R read as dG/G (first " ..
      "order) and drawn per cell, where MNSIM draws one offset per resistance level"},
}

local FaultMap = {}
FaultMap.__index = FaultMap
FaultMap.__name = "realprune.FaultMap"

local function fail(fn, msg, level)
  error(("rp.faults.%s: %s"):format(fn, msg), (level or 1) + 1)
end

local function matrix_of(layer)
  local C = layer.weight:size(1)
  return layer.weight:numel() // C, C
end

local function hash_of(layer)
  return layer.mask and core.mask_hash(layer.mask) or 0
end

local function config_fields(cfg)
  return {rows = cfg.rows, cols = cfg.cols, weight_bits = cfg.weight_bits,
    cell_bits = cfg.cell_bits, signed = cfg.signed, compact_rows = cfg.compact_rows}
end

local SPEC_FIELDS = {sa0 = true, sa1 = true, seed = true, sigma_d2d = true, sigma_c2c = true,
  sigma_of = true}

local function check_sigma(v, name)
  if v == nil then return 0 end
  if type(v) ~= "number" or v ~= v or v < 0 or v == math.huge then
    fail("sample", ("%s must be a finite number >= 0, got %s"):format(name, tostring(v)), 3)
  end
  return v
end

local function check_rate(v, name, fn)
  if type(v) ~= "number" or v ~= v or v < 0 or v > 1 then
    fail(fn, ("%s must be a number in [0, 1], got %s"):format(name, tostring(v)), 4)
  end
  return v
end

-- the model and the crossbar config (a table of rp.xbar.config's fields)
local function model_and_config(fn, model, cfg)
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    fail(fn, "a model expected", 3)
  end
  if type(cfg) ~= "table" then
    fail(fn, "a crossbar config (rp.xbar.config{...}) expected as the second argument", 3)
  end
  if not cfg.L then
    local ok, c = pcall(xbar.config, cfg)
    if not ok then fail(fn, tostring(c), 3) end
    cfg = c
  end
  if cfg.weight_bits > 32 then
    fail(fn, ("weight_bits must be at most 32, got %d"):format(cfg.weight_bits), 3)
  end
  return cfg
end

-- A map of stuck cells: one uniform u per cell from the seed's generator,
-- layer after layer; SA0 if u < sa0, else SA1 if u < sa0 + sa1, else (with
-- fields.worn(i), layer i's worn fraction of all cells) worn if u < sa0 + sa1 +
-- worn, stuck at fields.kind.
local function draw_map(model, cfg, fields)
  local g = core.generator(fields.seed)
  local map = setmetatable(fields, FaultMap)
  map.config, map.layers = config_fields(cfg), {}
  map.total = {cells = 0, sa0 = 0, sa1 = 0, faulty = 0}
  for i, l in ipairs(model:prunable()) do
    local R, C = matrix_of(l)
    local worn = fields.worn and fields.worn(i) or 0
    local data = core.faults_sample(l.mask, R, C, cfg.rows, cfg.cols, cfg.weight_bits,
      cfg.cell_bits, cfg.signed, cfg.compact_rows, fields.sa0, fields.sa1, g, worn,
      fields.kind == "sa0")
    local info = core.faults_info(data)
    map.layers[i] = {name = l.name, rows = R, cols = C, hash = hash_of(l), data = data,
      cells = info.cells, sa0 = info.sa0, sa1 = info.sa1, faulty = info.faulty}
    for _, k in ipairs{"cells", "sa0", "sa1", "faulty"} do
      map.total[k] = map.total[k] + info[k]
    end
  end
  map.worn, map.kind = nil, nil
  return map
end

-- an error naming the first field of `t` that `allowed` lacks
local function known_fields(fn, t, allowed, what, list)
  for k in pairs(t) do
    if not allowed[k] then
      fail(fn, ("unknown %s '%s' (%s)"):format(what, tostring(k), list), 3)
    end
  end
end

-- t.sa0, t.sa1 (rates in [0, 1], summing to at most 1) and t.seed (an integer)
local function rates_and_seed(fn, t)
  local sa0, sa1 = check_rate(t.sa0 or 0, "sa0", fn), check_rate(t.sa1 or 0, "sa1", fn)
  if sa0 + sa1 > 1 then
    fail(fn, ("sa0 + sa1 must be at most 1, got %g + %g"):format(sa0, sa1), 3)
  end
  local seed = t.seed or 0
  if math.type(seed) ~= "integer" then
    fail(fn, ("seed must be an integer, got %s"):format(tostring(seed)), 3)
  end
  return sa0, sa1, seed
end

--- Draws stuck-at faults for every conv and linear layer of `model` under
-- crossbar config `cfg` (rp.xbar.config). `spec`: {sa0 = rate, sa1 = rate,
-- seed = integer (default 0)}. Returns a fault map: {config =, sa0 =, sa1 =,
-- seed =, layers = {{name =, rows =, cols =, cells =, sa0 =, sa1 =, faulty =
-- (weights with a stuck cell)}}, total = {cells =, sa0 =, sa1 =, faulty =}}.
function M.sample(model, cfg, spec)
  cfg = model_and_config("sample", model, cfg)
  if type(spec) ~= "table" then fail("sample", "a spec {sa0 =, sa1 =, seed =} expected", 2) end
  known_fields("sample", spec, SPEC_FIELDS, "spec field",
    "sa0, sa1, seed, sigma_d2d, sigma_c2c, sigma_of")
  local sa0, sa1, seed = rates_and_seed("sample", spec)
  local sd, sc = check_sigma(spec.sigma_d2d, "sigma_d2d"), check_sigma(spec.sigma_c2c, "sigma_c2c")
  local sigma_of = spec.sigma_of or "range"
  if sigma_of ~= "range" and sigma_of ~= "level" then
    fail("sample", ("sigma_of must be \"range\" or \"level\", got %s"):format(tostring(sigma_of)),
      2)
  end
  return draw_map(model, cfg, {sa0 = sa0, sa1 = sa1, seed = seed, sigma_d2d = sd,
    sigma_c2c = sc, sigma_of = sigma_of})
end

-- the standard normal distribution function (erfc by Numerical Recipes'
-- erfcc, a Chebyshev fit: fractional error below 1.2e-7)
local function normal_cdf(x)
  local z = math.abs(x) / math.sqrt(2)
  local t = 1 / (1 + 0.5 * z)
  local r = t * math.exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t *
    (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
    t * (-0.82215223 + t * 0.17087277)))))))))
  return x >= 0 and 1 - r / 2 or r / 2
end

local WEAR_FIELDS = {arch = true, limit = true, spread = true, kind = true, sa0 = true,
  sa1 = true, seed = true, batch = true, updates = true, replication = true, input_shape = true}

--- Cells worn out by training. Each weight cell of the forward arrays has an
-- endurance of limit * 10^(spread * z) write cycles (z standard normal, per
-- cell); after the writes its layer's training made (rp.reram.endurance on
-- `o.arch` and its own crossbars: writes per cell a batch, for the schedule
-- the preset runs, times the layer's updates) the cells whose endurance is
-- spent are stuck, at `kind` ("sa1", the low-resistance state, by default; or
-- "sa0"): a fraction p = Phi(log10(writes / limit) / spread) of the layer's
-- cells (with spread 0, all of them once writes reach the limit). On top, the
-- chip's own stuck cells at rates o.sa0, o.sa1 (default 0), drawn from the
-- same uniforms: a cell is SA0 if u < sa0, SA1 if u < sa0 + sa1, worn if u <
-- sa0 + sa1 + (1 - sa0 - sa1) p. So more wear only adds stuck cells to the
-- same seed's map. rp.save keeps the stuck cells, not `wear`. `o`: arch (a
-- preset table or name), limit (default rp.reram.endurance_limits.low), spread
-- (decades, default 0), kind, sa0, sa1, seed (0), and batch, updates,
-- replication, input_shape as for rp.reram.endurance. Returns a fault map with
-- `wear = {limit =, spread =, kind =, layers = {{writes =, worn = p}}}`.
function M.wear(model, cfg, o)
  cfg = model_and_config("wear", model, cfg)
  if type(o) ~= "table" then
    fail("wear", "options {arch =, limit =, spread =, ...} expected", 2)
  end
  known_fields("wear", o, WEAR_FIELDS, "option",
    "arch, limit, spread, kind, sa0, sa1, seed, batch, updates, replication, input_shape")
  if o.arch == nil then fail("wear", "option arch (a ReRAM preset or its name) expected", 2) end
  local reram = require "realprune.reram"
  local limit = o.limit or reram.endurance_limits.low
  local spread = o.spread or 0
  if type(spread) ~= "number" or spread ~= spread or spread < 0 or spread == math.huge then
    fail("wear", ("spread must be a finite number >= 0 (decades), got %s"):format(
      tostring(spread)), 2)
  end
  local kind = o.kind or "sa1"
  if kind ~= "sa0" and kind ~= "sa1" then
    fail("wear", ("kind must be \"sa0\" or \"sa1\", got %s"):format(tostring(kind)), 2)
  end
  local sa0, sa1, seed = rates_and_seed("wear", o)
  -- writes per cell as the preset's own crossbars train (the schedule it runs)
  local ok, e = pcall(reram.endurance, model, o.arch, {limit = limit, updates = o.updates,
    batch = o.batch, replication = o.replication, input_shape = o.input_shape})
  if not ok then
    fail("wear", (tostring(e):gsub("^[^:]*:%d+: ", ""):gsub("^rp%.reram%.endurance: ", "")), 2)
  end
  local wear = {limit = limit, spread = spread, kind = kind, layers = {}}
  for i, l in ipairs(e.layers) do
    local fwd = l.arrays.forward
    local writes = fwd and fwd.per_batch * l.updates or 0
    local p = 0
    if writes > 0 then
      p = spread > 0 and normal_cdf(math.log(writes / limit, 10) / spread)
        or (writes >= limit and 1 or 0)
    end
    wear.layers[i] = {name = l.name, writes = writes, worn = p}
  end
  local map = draw_map(model, cfg, {sa0 = sa0, sa1 = sa1, seed = seed, kind = kind,
    -- (1 - sa0 - sa1 may round below 0 when they sum to 1)
    worn = function(i) return math.max(0, (1 - sa0 - sa1) * wear.layers[i].worn) end})
  map.wear = wear
  return map
end

local function phys_of(c)
  local slices = (c.weight_bits + c.cell_bits - 1) // c.cell_bits
  return slices * (c.signed == "differential" and 2 or 1)
end

-- A map of every cell of the model's crossbars (drawn for the dense layout
-- with compact_rows off), checked against `model`; returns its layers.
local function whole_chip(fn, map, model)
  if not M.is_map(map) then fail(fn, "a fault map (rp.faults.sample) expected", 3) end
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    fail(fn, "a model expected as the second argument", 3)
  end
  if map.config.compact_rows ~= false then
    fail(fn, "the map must be drawn with compact_rows = false (rp.xbar.config{compact_rows = " ..
      "false}): compacted rows move when the masks change", 3)
  end
  local layers = model:prunable()
  if #layers ~= #map.layers then
    fail(fn, ("the fault map was drawn for another model (%d layers, this one has %d)"):format(
      #map.layers, #layers), 3)
  end
  local phys = phys_of(map.config)
  for i, l in ipairs(layers) do
    local e = map.layers[i]
    local R, C = matrix_of(l)
    if e.name ~= l.name or e.rows ~= R or e.cols ~= C then
      fail(fn, ("the fault map was drawn for another model (its layer %d is %s %dx%d, this " ..
        "model's %s %dx%d)"):format(i, tostring(e.name), e.rows, e.cols, tostring(l.name), R, C),
        3)
    end
    if e.cells ~= R * C * phys then
      fail(fn, ("the fault map of layer %s holds %d cells, not all %d of its crossbars: draw " ..
        "it for the dense network"):format(l.name, e.cells, R * C * phys), 3)
    end
  end
  return layers
end

local function placement_of(fn, o)
  if o ~= nil and type(o) ~= "table" then fail(fn, "options must be a table {placement =}", 3) end
  local pl = o and o.placement or "packed"
  if pl ~= "packed" and pl ~= "in_place" then
    fail(fn, ("placement must be \"packed\" or \"in_place\", got %s"):format(tostring(pl)), 3)
  end
  return pl == "packed"
end

local function derived(map, layers, packed, make)
  local out = setmetatable({config = map.config, sa0 = map.sa0, sa1 = map.sa1, seed = map.seed,
    sigma_d2d = map.sigma_d2d, sigma_c2c = map.sigma_c2c, sigma_of = map.sigma_of, layers = {},
    placement = packed and "packed" or "in_place",
    total = {cells = 0, sa0 = 0, sa1 = 0, faulty = 0, crossbars = 0}}, FaultMap)
  local c = map.config
  for i, l in ipairs(layers) do
    local e = map.layers[i]
    local data, extra = make(l, e)
    local info = core.faults_info(data)
    local xb = core.faults_crossbars(l.mask, e.rows, e.cols, c.rows, c.cols, c.weight_bits,
      c.cell_bits, c.signed, c.compact_rows, packed)
    out.layers[i] = {name = e.name, rows = e.rows, cols = e.cols, hash = hash_of(l), data = data,
      cells = info.cells, sa0 = info.sa0, sa1 = info.sa1, faulty = info.faulty, moved = extra,
      crossbars = xb}
    for _, k in ipairs{"cells", "sa0", "sa1", "faulty", "crossbars"} do
      out.total[k] = out.total[k] + out.layers[i][k]
    end
  end
  return out
end

--- The faults a pruned model meets on the chip a whole-chip map describes
-- (one drawn for the dense network under a config with compact_rows =
-- false, so that every row keeps its place). `o.placement`: "packed" (the
-- default: a row block's mapped segments side by side on its first column
-- positions, the ceil(segments / L) crossbars rp.xbar.map counts) or
-- "in_place" (each segment on its own column; a crossbar is saved only when
-- all its segments are pruned). The map's total and layers hold the
-- crossbars so used.
function M.restrict(map, model, o)
  local layers = whole_chip("restrict", map, model)
  local packed = placement_of("restrict", o)
  local c = map.config
  return derived(map, layers, packed, function(l, e)
    return core.faults_restrict(e.data, l.mask, e.rows, e.cols, c.rows, c.cols, c.weight_bits,
      c.cell_bits, c.signed, c.compact_rows, packed)
  end)
end

--- Fault-aware remapping onto the chip a whole-chip map describes, on the
-- crossbars restrict uses (`o.placement` as there): the most valuable mapped
-- segments (the l1 of their alive weights) on the column positions whose
-- stuck cells can do the least damage (packed: in the row block's least
-- damaged crossbars; in place: within each crossbar). Returns the map of the
-- faults the weights then meet (for the model's current masks), with `moved`
-- per layer and in `total` (segments placed elsewhere than restrict puts them).
function M.remap(map, model, o)
  local layers = whole_chip("remap", map, model)
  local packed = placement_of("remap", o)
  local c = map.config
  local out = derived(map, layers, packed, function(l, e)
    return core.faults_remap(e.data, l.weight, l.mask, e.rows, e.cols, c.rows, c.cols,
      c.weight_bits, c.cell_bits, c.signed, c.compact_rows, packed)
  end)
  out.total.moved = 0
  for _, e in ipairs(out.layers) do out.total.moved = out.total.moved + e.moved end
  return out
end

--- Fault-aware pruning scores of layer `i` of `model` under `map` (drawn for
-- the dense network or for the layer's mask), into a tensor of the layer's
-- shape: max(0, |w| - |w' - w|), w' the weight its cells hold (rp.prune.apply's
-- `faults` spec field uses them in place of the weights).
function M.scores(map, model, i)
  local l = model:prunable()[i]
  local e = map.layers[i]
  local R, C = matrix_of(l)
  if not e or e.name ~= l.name or e.rows ~= R or e.cols ~= C then
    fail("scores", ("the fault map was drawn for another model (layer %s)"):format(
      tostring(l.name)), 2)
  end
  if e.hash ~= hash_of(l) and e.cells ~= R * C * phys_of(map.config) then
    fail("scores", ("the fault map was drawn for other masks of layer %s: draw it for the " ..
      "dense network (every cell) or for the current masks"):format(l.name), 2)
  end
  local out = l.weight:clone()
  core.faults_score(out, l.weight, e.data)
  return out
end

--- Whether `v` is a fault map.
function M.is_map(v) return getmetatable(v) == FaultMap end

--- Makes `model` use the weights its faulty cells hold (forward and both
-- gradients' error pass). An error if the map was drawn for another model
-- (other layers or shapes) or for other masks. `cfg`, when given, must be
-- the config the map was drawn for.
function M.attach(model, map, cfg)
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    fail("attach", "a model expected", 2)
  end
  if not M.is_map(map) then fail("attach", "a fault map (rp.faults.sample) expected", 2) end
  if cfg ~= nil then
    if type(cfg) ~= "table" then
      fail("attach", ("the third argument must be a crossbar config, got %s"):format(type(cfg)), 2)
    end
    for k, v in pairs(map.config) do
      if cfg[k] ~= v then
        fail("attach", ("the fault map was drawn for another crossbar configuration (%s %s, " ..
          "not %s)"):format(k, tostring(v), tostring(cfg[k])), 2)
      end
    end
  end
  local layers = model:prunable()
  if #layers ~= #map.layers then
    fail("attach", ("the fault map was drawn for another model (%d layers, this one has %d)")
      :format(#map.layers, #layers), 2)
  end
  for i, l in ipairs(layers) do
    local e = map.layers[i]
    local R, C = matrix_of(l)
    if e.name ~= l.name or e.rows ~= R or e.cols ~= C then
      fail("attach", ("the fault map was drawn for another model (its layer %d is %s %dx%d, " ..
        "this model's %s %dx%d)"):format(i, tostring(e.name), e.rows, e.cols, tostring(l.name),
        R, C), 2)
    end
    if core.faults_info(e.data).numel ~= R * C then
      fail("attach", ("the fault map's layer %s holds %d weights, the layer %d"):format(
        tostring(e.name), core.faults_info(e.data).numel, R * C), 2)
    end
    if e.hash ~= hash_of(l) then
      fail("attach", ("the mask of layer %s changed since the fault map was drawn: draw " ..
        "again (rp.faults.sample)"):format(l.name), 2)
    end
  end
  local c = map.config
  for i, l in ipairs(layers) do
    local e = map.layers[i]
    l.faults = core.faults_info(e.data).faulty > 0 and e.data or nil
    l.fault_hash, l.fault_digest = e.hash, nil
    -- a loaded model's write count (a layer that counts already keeps its own)
    if e.updates and l.updates == nil then l.updates = e.updates end
    l.variation = nil
    if (map.sigma_d2d or 0) > 0 or (map.sigma_c2c or 0) > 0 then
      -- the cells' own noise: counter-based in (seed, layer, cell, write)
      l.variation = core.variation_new(l.mask, e.rows, e.cols, c.rows, c.cols, c.weight_bits,
        c.cell_bits, c.signed, c.compact_rows, map.sigma_d2d, map.sigma_c2c,
        map.sigma_of == "level", (map.seed or 0) * 1000003 + i)
    end
    -- what a sparse plan must keep: the alive weights and those whose cells
    -- can read nonzero (stuck cells; with variation every mapped weight)
    l.fault_support = nil
    if (l.faults or l.variation) and l.mask then
      l.fault_support = l.mask:clone()
      if l.faults then core.faults_support(l.fault_support, l.faults) end
      if l.variation then core.variation_support(l.fault_support, l.variation) end
    end
  end
  model.fault_map = map
  return model
end

--- Restores ideal cells.
function M.detach(model)
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    fail("detach", "a model expected", 2)
  end
  for _, l in ipairs(model:prunable()) do
    l.faults, l.fault_hash, l.fault_support, l.variation = nil, nil, nil, nil
    l.fault_digest = nil
  end
  model.fault_map = nil
  return model
end

--- The weights layer `l`'s cells hold, into `out` (a tensor of its shape);
-- the layer must have faults attached. Checks that its mask is the one the
-- map was drawn for.
function M.effective(l, out, where)
  M.check_mask(l, where, 1)
  core.cells_effective(out, l.weight, l.faults, l.variation, l.updates or 0)
  return out
end

--- An error (named `where`) if layer `l`'s mask is no longer the one its
-- attached fault map was drawn for.
function M.check_mask(l, where, depth)
  -- the mask's fast digest (as sparse plans keep) since it last matched the
  -- map's hash: the full hash only when the mask may have changed
  local digest = l.mask and core.mask_digest(l.mask) or 0
  if digest == l.fault_digest then return end
  if hash_of(l) ~= l.fault_hash then
    error(("%s: the mask changed since the fault map was attached: draw again " ..
      "(rp.faults.sample) and attach it"):format(where or "rp.faults"), 4 + (depth or 0))
  end
  l.fault_digest = digest
end

--- A plain table of a fault map (strings and numbers: what rp.save writes).
-- With `model`, an error if its masks are no longer those the map was drawn
-- for (a stale map is never written).
function M.serialize(map, model)
  if model then
    for i, l in ipairs(model:prunable()) do
      local e = map.layers[i]
      if not e or e.hash ~= hash_of(l) then
        error(("rp.save: the model's fault map was drawn for masks that have changed since " ..
          "(layer %s): detach it or draw again"):format(tostring(l.name)), 0)
      end
    end
  end
  local t = {config = map.config, sa0 = map.sa0, sa1 = map.sa1, seed = map.seed,
    sigma_d2d = map.sigma_d2d, sigma_c2c = map.sigma_c2c, sigma_of = map.sigma_of,
    total = map.total, layers = {}}
  local layers = model and model:prunable() or {}
  for i, e in ipairs(map.layers) do
    -- the layer's write count too: it keys the cycle-to-cycle draws
    local u = layers[i] and layers[i].updates
    t.layers[i] = {name = e.name, rows = e.rows, cols = e.cols, hash = e.hash, cells = e.cells,
      sa0 = e.sa0, sa1 = e.sa1, faulty = e.faulty, bytes = core.faults_bytes(e.data),
      updates = u}
  end
  return t
end

--- The fault map of a table from M.serialize.
function M.deserialize(t)
  if type(t) ~= "table" or type(t.layers) ~= "table" then
    error("rp.faults.deserialize: a serialized fault map expected", 2)
  end
  for _, k in ipairs{"sigma_d2d", "sigma_c2c"} do
    local v = t[k]
    if v ~= nil and (type(v) ~= "number" or v ~= v or v < 0 or v == math.huge) then
      error(("rp.faults.deserialize: %s must be a finite number >= 0, got %s"):format(k,
        tostring(v)), 2)
    end
  end
  if t.sigma_of ~= nil and t.sigma_of ~= "range" and t.sigma_of ~= "level" then
    error("rp.faults.deserialize: sigma_of must be \"range\" or \"level\"", 2)
  end
  local map = setmetatable({config = t.config, sa0 = t.sa0, sa1 = t.sa1, seed = t.seed,
    sigma_d2d = t.sigma_d2d or 0, sigma_c2c = t.sigma_c2c or 0, sigma_of = t.sigma_of or "range",
    total = t.total, layers = {}}, FaultMap)
  for i, e in ipairs(t.layers) do
    map.layers[i] = {name = e.name, rows = e.rows, cols = e.cols, hash = e.hash,
      cells = e.cells, sa0 = e.sa0, sa1 = e.sa1, faulty = e.faulty,
      data = core.faults_from_bytes(e.bytes)}
    if e.updates ~= nil then
      if math.type(e.updates) ~= "integer" or e.updates < 0 then
        error("rp.faults.deserialize: a layer's updates must be an integer >= 0", 2)
      end
      map.layers[i].updates = e.updates
    end
  end
  return map
end

return M
