--- An analytic model of CNN training on a ReRAM chip (PipeLayer style).
--
--     local arch = rp.reram.presets.isaac
--     local cfg = rp.reram.xbar_config(arch)            -- the preset's crossbars
--     local dense = rp.xbar.map(model, cfg)
--     local r = rp.reram.simulate(dense, arch, {batch = 128, images = 60000})
--     print(r.crossbars, r.fits, r.images_per_s, r.energy_per_image, r.bottleneck)
--     print(r.energy.xbar, r.energy.adc, r.energy.write)  -- J per image, by component
--     local c = rp.reram.compare(dense, rp.xbar.map(pruned, cfg), arch, {batch = 128})
--     print(c.speedup, c.energy_saving, c.hardware_saving, c.forward_saving)
--
--     -- a chip that just holds the dense network, with 25% headroom
--     local edge = rp.reram.preset("isaac", {chip_crossbars = "dense", chip_headroom = 0.25})
--
-- Every formula, its source and its assumptions: data/reram/README.md. In short,
-- per layer l with P_l output positions per image and one MVM taking t_mvm =
-- input_bits * t_cycle, the arrays replicate by kind (r replicas each):
--   forward  ceil(P / r) t_mvm on the K_l crossbars of M;
--   error    ceil(P / r) t_mvm on the K^T_l crossbars of M^T (backward =
--            "transposed_copy"), or ceil(P / r) slices t_mvm on M's own
--            crossbars read from the column side ("bidirectional", shared
--            with the forward pass); none for the first layer;
--   gradient "arrays" (PipeLayer): one operand written into G_l arrays, the
--            other's vectors streamed through, (ceil(G / write_parallel)
--            min(P, rows) t_write_row + streamed t_mvm) per image, replicas
--            taking turns over the batch; the weights updated once per batch;
--            or "outer_product" (the RPU scheme): P pulse-train updates of the
--            weight arrays in place per image, on every replica.
-- At a stage time tau every kind gets the fewest replicas that meet it; a
-- phase of B images takes (B - 1) tau + one image's time through it. The
-- network resident: one phase plus the update writes; reprogrammed: a phase
-- per group of the forward and of the backward arrays, each programmed once per
-- batch. The best tau and schedule are modeled.
-- @module realprune.reram

local xbar = require "realprune.xbar"
local paths = require "realprune.paths"

local reram = {}

local function load_preset(name)
  local path = paths.data("reram/" .. name .. ".lua")
  if not path then return nil end
  local preset = dofile(path)
  preset.source_file = path
  return preset
end

--- Presets from data/reram/<name>.lua, loaded on first use
-- (`rp.reram.presets.isaac`, `.pipelayer`, `.rpu`, `.edge`).
reram.presets = setmetatable({}, {__index = function(t, name)
  local p = type(name) == "string" and load_preset(name) or nil
  if p then rawset(t, name, p) end
  return p
end})

--- The names of the presets in data/reram, sorted.
function reram.preset_names()
  local names = {}
  local dir = paths.data_dir()
  for _, e in ipairs(dir and require("realprune.core").list_dir(dir .. "/reram") or {}) do
    local n = e.name:match("^(.-)%.lua$")
    if n then names[#names + 1] = n end
  end
  table.sort(names)
  return names
end

-- Fields that must be positive numbers (sizes, rates, times) and fields that
-- must be non-negative (energies, areas).
local POSITIVE = {"t_cycle", "t_write_row", "offchip_bytes_per_s"}
local COUNTS = {"input_bits", "write_parallel"} -- positive integers
local NONNEGATIVE = {"e_xbar_cycle", "e_adc", "e_dac", "e_shift_add", "e_buffer_word",
  "e_router_word", "e_write_cell", "e_offchip_bit", "a_xbar", "a_periph"}
-- optional fields, non-negative when given
local OPTIONAL = {"a_other", "a_periph_backward", "e_update_cell"}
local BACKWARD = {transposed_copy = true, bidirectional = true}
local GRADIENT = {arrays = true, outer_product = true}

local function check_arch(arch, fn)
  if type(arch) == "string" then
    local p = reram.presets[arch]
    if not p then error(("%s: no ReRAM preset named %q in data/reram"):format(fn, arch), 3) end
    arch = p
  end
  if type(arch) ~= "table" then
    error(("%s: an architecture preset (a table or a preset name) expected, got %s"):format(fn,
      type(arch)), 3)
  end
  -- numeric fields: which fields, what they must be, and the test
  local finite = function(v) return v ~= math.huge and v == v end
  local rules = {
    {POSITIVE, "a positive number", function(v, k)
      return v > 0 and (finite(v) or k == "offchip_bytes_per_s") end}, -- huge: no streaming cost
    {COUNTS, "a positive integer",
      function(v) return v > 0 and finite(v) and v == math.floor(v) end},
    {NONNEGATIVE, "a non-negative number", function(v) return v >= 0 and finite(v) end},
    {OPTIONAL, "a non-negative number", function(v) return v >= 0 and finite(v) end, true},
  }
  for _, rule in ipairs(rules) do
    for _, k in ipairs(rule[1]) do
      local v = arch[k]
      if not (rule[4] and v == nil) and (type(v) ~= "number" or not rule[3](v, k)) then
        error(("%s: the preset's %s must be %s, got %s"):format(fn, k, rule[2], tostring(v)), 3)
      end
    end
  end
  if arch.xbar ~= nil then
    local ok, err = pcall(xbar.config, arch.xbar)
    if not ok then
      error(("%s: the preset's xbar: %s"):format(fn, tostring(err):gsub("^.-xbar%.config: ", "")),
        3)
    end
  end
  if not BACKWARD[arch.backward] then
    error(("%s: the preset's backward must be \"transposed_copy\" or \"bidirectional\", got %s")
      :format(fn, tostring(arch.backward)), 3)
  end
  if not GRADIENT[arch.gradient] then
    error(("%s: the preset's gradient must be \"arrays\" or \"outer_product\", got %s")
      :format(fn, tostring(arch.gradient)), 3)
  end
  if arch.gradient == "outer_product" then
    if arch.backward ~= "bidirectional" then
      error(("%s: gradient = \"outer_product\" updates the arrays that run the forward and " ..
        "error passes, so it needs backward = \"bidirectional\""):format(fn), 3)
    end
    for _, k in ipairs{"update_pulses", "t_update_pulse"} do
      if type(arch[k]) ~= "number" or not (arch[k] > 0) then
        error(("%s: the preset's %s must be a positive number, got %s"):format(fn, k,
          tostring(arch[k])), 3)
      end
    end
    if type(arch.e_update_cell) ~= "number" or not (arch.e_update_cell >= 0) then
      error(("%s: the preset's e_update_cell must be a non-negative number, got %s"):format(fn,
        tostring(arch.e_update_cell)), 3)
    end
  end
  if arch.backward == "bidirectional" and
      (type(arch.a_periph_backward) ~= "number" or not (arch.a_periph_backward >= 0)) then
    error(("%s: backward = \"bidirectional\" needs the preset's a_periph_backward (the column " ..
      "side's ADC and DAC area per crossbar, mm^2), got %s"):format(fn,
      tostring(arch.a_periph_backward)), 3)
  end
  local chip = arch.chip_crossbars
  if chip ~= "dense" and (math.type(chip) ~= "integer" or chip < 1) then
    error(("%s: the preset's chip_crossbars must be a positive integer or \"dense\" (relative " ..
      "to the dense network's need, with chip_headroom), got %s"):format(fn, tostring(chip)), 3)
  end
  local h = arch.chip_headroom
  if h ~= nil and (type(h) ~= "number" or not (h > -1) or h == math.huge) then
    error(("%s: the preset's chip_headroom must be a number above -1, got %s"):format(fn,
      tostring(h)), 3)
  end
  return arch
end

--- A copy of a preset (a name or a table) with some fields changed, checked:
--
--     rp.reram.preset("isaac", {chip_crossbars = 4096})
--     rp.reram.preset("isaac", {chip_crossbars = "dense", chip_headroom = 0.5})
function reram.preset(arch, overrides)
  if type(arch) == "string" then
    local p = reram.presets[arch]
    if not p then
      error(("rp.reram.preset: no ReRAM preset named %q in data/reram"):format(arch), 2)
    end
    arch = p
  end
  if type(arch) ~= "table" then error("rp.reram.preset: a preset name or table expected", 2) end
  if overrides ~= nil and type(overrides) ~= "table" then
    error("rp.reram.preset: overrides must be a table of fields", 2)
  end
  local c = {}
  for k, v in pairs(arch) do c[k] = v end
  for k, v in pairs(overrides or {}) do c[k] = v end
  return check_arch(c, "rp.reram.preset")
end

--- The crossbar configuration of a preset (rows, cols, bits, encoding).
function reram.xbar_config(arch, overrides)
  arch = check_arch(arch, "rp.reram.xbar_config")
  if overrides ~= nil and type(overrides) ~= "table" then
    error(("rp.reram.xbar_config: overrides must be a table of crossbar fields, got %s"):format(
      type(overrides)), 2)
  end
  local o = {}
  for k, v in pairs(arch.xbar or {}) do o[k] = v end
  for k, v in pairs(overrides or {}) do o[k] = v end
  return xbar.config(o)
end

local CFG_FIELDS = {"rows", "cols", "weight_bits", "cell_bits", "signed", "compact_rows"}

local function check_mapping(mapping, arch, fn)
  if type(mapping) ~= "table" or type(mapping.layers) ~= "table" or
      type(mapping.config) ~= "table" then
    error(fn .. ": a mapping from rp.xbar.map(model, cfg) expected", 3)
  end
  if mapping.transposed then
    error(fn .. ": the mapping is a transposed one ({transpose = true}); pass " ..
      "rp.xbar.map(model, cfg), which carries M^T's counts for the error pass", 3)
  end
  local cfg = mapping.config
  local want = xbar.config(arch.xbar or {}) -- what rp.reram.xbar_config(arch) gives
  for _, k in ipairs(CFG_FIELDS) do
    if cfg[k] ~= want[k] then
      error(("%s: the mapping was made with %s = %s, but the preset %s has %s = %s; map " ..
        "with rp.reram.xbar_config(arch)"):format(fn, k, tostring(cfg[k]),
        tostring(arch.name or "?"), k, tostring(want[k])), 3)
    end
  end
  if arch.gradient == "outer_product" and cfg.slices ~= 1 then
    error(("%s: gradient = \"outer_product\" updates one analog device per weight, but the " ..
      "mapping spreads each weight over %d cells (weight_bits = %d, cell_bits = %d)"):format(fn,
      cfg.slices, cfg.weight_bits, cfg.cell_bits), 3)
  end
  for _, m in ipairs(mapping.layers) do
    if not m.positions_out or not m.transpose then
      error(("%s: layer %s of the mapping has no positions or transposed counts; map the " ..
        "model with rp.xbar.map(model, cfg)"):format(fn, tostring(m.name)), 3)
    end
  end
  return cfg
end

local function ceil_div(a, b) return (a + b - 1) // b end

-- The per-layer quantities of the model, for the mapping as it is (pruned)
-- or for its dense counterpart (every weight alive).
local function layer_terms(m, i, cfg, arch, dense)
  local P = m.positions_out
  local Q = m.positions_in or P
  local t = m.transpose
  local L, rows = cfg.L, cfg.rows
  local l = {name = m.name, index = i, P = P, Q = Q, R = m.rows, C = m.cols, replicas = 1}
  if dense then
    l.K, l.S, l.A = m.crossbars_dense, m.segments_total, m.weights
    l.active_rows, l.max_rows = m.rows * m.col_tiles, math.min(rows, m.rows)
    l.R_alive, l.C_alive = m.rows, m.cols
    l.KT, l.ST = t.crossbars_dense, t.segments_total
    l.active_rows_T, l.max_rows_T = m.cols * ceil_div(m.rows, L), math.min(rows, m.cols)
  else
    l.K, l.S, l.A = m.crossbars, m.segments_alive, m.alive
    l.active_rows, l.max_rows = m.active_rows, m.max_block_rows
    l.R_alive, l.C_alive = m.rows_alive, t.rows_alive
    l.KT, l.ST = t.crossbars, t.segments_alive
    l.active_rows_T, l.max_rows_T = t.active_rows, t.max_block_rows
  end
  l.has_error = i > 1 -- nothing upstream takes the first layer's input gradient
  if not l.has_error or arch.backward ~= "transposed_copy" then
    l.KT, l.ST, l.active_rows_T, l.max_rows_T = 0, 0, 0, 0
  end
  -- gradient arrays (PipeLayer): one operand of the outer product written
  -- into arrays, the other's vectors streamed through them. Writing the
  -- errors (P x C_alive) streams R_alive input rows; writing the inputs
  -- (P x R_alive) streams C_alive error columns; the side with fewer vectors
  -- is streamed (ties: the errors are written).
  if arch.gradient == "arrays" and l.K > 0 then
    local written, streamed = l.C_alive, l.R_alive
    if l.C_alive < l.R_alive then written, streamed = l.R_alive, l.C_alive end
    local tiles = ceil_div(written, L)
    l.G = ceil_div(P, rows) * tiles
    l.G_rows = P * tiles             -- rows driven per streamed vector
    l.G_cells = P * written * cfg.phys
    l.G_written, l.G_mvms = written, streamed
  else
    l.G, l.G_rows, l.G_cells, l.G_written, l.G_mvms = 0, 0, 0, 0, 0
  end
  l.cost = l.K + l.KT + l.G           -- crossbars of one replica
  l.cost_forward = l.K
  if arch.backward == "transposed_copy" then
    l.cost_backward = l.KT + l.G
  else -- W itself, where the error pass or the in-place update runs on it
    local on_w = l.has_error or arch.gradient == "outer_product"
    l.cost_backward = (on_w and l.K or 0) + l.G
  end
  return l
end

-- The arrays of one layer in one phase ("all": the whole network resident;
-- "forward" or "backward": the layer's arrays for that pass alone, when the
-- network is reprogrammed in groups), as units that replicate on their own:
-- kind, cost (crossbars of one replica), split ("positions": replicas split
-- an image's P output positions; "images": replicas take turns over the
-- batch's images), t (s per position, or per image), fixed (s that every
-- replica spends, not split), rmax, and what it holds ("forward": M's
-- weights, "transposed": M^T's, nil: nothing the update writes).
local function units_of(l, phase, arch, cfg, B)
  if l.K == 0 then return {} end -- a layer pruned away computes nothing
  local t_mvm = arch.input_bits * arch.t_cycle
  local reads = arch.backward == "bidirectional" and cfg.slices or 1
  local error_pp = l.has_error and reads * t_mvm or 0 -- error pass, per output position
  local u = {}
  local function add(kind, cost, split, t, fixed, holds)
    if cost > 0 and (t > 0 or fixed > 0) then
      u[#u + 1] = {layer = l, kind = kind, cost = cost, split = split, t = t, fixed = fixed,
        rmax = split == "positions" and l.P or B, holds = holds}
    end
  end
  local tu = 0 -- in-place updates: P pulse trains per image
  if arch.gradient == "outer_product" then tu = l.P * arch.update_pulses * arch.t_update_pulse end
  if arch.backward == "transposed_copy" then
    if phase ~= "backward" then add("forward", l.K, "positions", t_mvm, 0, "forward") end
    if phase ~= "forward" then add("error", l.KT, "positions", error_pp, 0, "transposed") end
  else
    local pp = (phase ~= "backward" and t_mvm or 0) + (phase ~= "forward" and error_pp or 0)
    add("weights", l.K, "positions", pp, phase ~= "forward" and tu or 0, "forward")
  end
  if phase ~= "forward" and arch.gradient == "arrays" then
    local rounds = math.ceil(l.G / arch.write_parallel) -- write drivers of one replica
    add("gradient", l.G, "images",
      rounds * math.min(l.P, cfg.rows) * arch.t_write_row + l.G_mvms * t_mvm, 0, nil)
  end
  return u
end

local EPS = 1e-9

-- The fewest replicas that bring a unit's time per image to tau or below
-- (nil: none can), and the unit's time per image and one image's time in it.
local function replicas_for(x, tau)
  local room = tau - x.fixed
  if room < -EPS * tau then return nil end
  if x.split == "positions" then
    if x.t == 0 then return 1 end
    local shares = math.floor(room / x.t * (1 + EPS))
    if shares < 1 then return nil end
    if shares >= x.layer.P then return 1 end
    return math.ceil(x.layer.P / shares)
  end
  if room <= 0 then return nil end
  local r = math.max(1, math.ceil(x.t / room * (1 - EPS)))
  if r > x.rmax then return nil end
  return r
end

local function unit_time(x, r)
  if x.split == "positions" then
    local t = math.ceil(x.layer.P / r) * x.t + x.fixed
    return t, t
  end
  return x.t / r + x.fixed, x.t + x.fixed
end

-- Every time per image a unit can take (its replica breakpoints), into `set`.
local function breakpoints(x, set)
  if x.split == "positions" then
    local P, r = x.layer.P, 1
    while r <= P do
      local s = math.ceil(P / r)
      set[s * x.t + x.fixed] = true
      r = s > 1 and math.ceil(P / (s - 1)) or P + 1
    end
  else
    for r = 1, x.rmax do set[x.t / r + x.fixed] = true end
  end
end

-- Rows and cells one replica of a unit writes when its weights are written.
local function unit_writes(x, cfg)
  local l = x.layer
  if x.holds == "forward" then return l.active_rows, l.A * cfg.phys end
  if x.holds == "transposed" then return l.active_rows_T, l.A * cfg.phys end
  return 0, 0
end

-- The model's schedules at a stage time tau. Each unit gets the fewest
-- replicas that meet tau; a phase of B images then takes (B - 1) tau plus one
-- image's time through its units; writes once per batch take rows /
-- write_parallel + rows of one crossbar, times t_write_row (plus the weights
-- streamed in, when programming):
--   resident:     (B - 1) tau + sum lat + update writes
--   reprogrammed: (G_f + G_b) ((B - 1) tau + rows t_write_row) + sum lat
--                 + rows written / write_parallel t_write_row + streaming,
--                 G_f / G_b the fewest consecutive groups of the forward /
--                 backward arrays that fit the chip.
-- sweep() walks the candidate taus from the slowest down (replicas only grow
-- on the way) and returns the best {time, tau, update, program}, or nil when
-- no tau fits the chip.
local function sweep(sc, taus)
  local B, arch, cfg, chip = sc.B, sc.arch, sc.cfg, sc.chip
  local units, owner, r, eff, lat = {}, {}, {}, {}, {}
  local needs, rows, cells, lat_sum, total_need = {}, 0, 0, 0, 0
  local slots = {} -- one per layer and phase, in order, with its phase
  for _, ph in ipairs(sc.phases) do
    for _, list in ipairs(ph) do
      slots[#slots + 1] = ph
      needs[#slots] = 0
      for _, x in ipairs(list) do
        local k = #units + 1
        units[k], owner[k], r[k] = x, #slots, 1
        eff[k], lat[k] = unit_time(x, 1)
        local rw, cw = unit_writes(x, cfg)
        x.rows_w, x.cells_w = rw, cw
        rows, cells, lat_sum = rows + rw, cells + cw, lat_sum + lat[k]
        needs[#slots] = needs[#slots] + x.cost
        total_need = total_need + x.cost
      end
    end
  end
  local t_w = arch.t_write_row
  local best
  for _, tau in ipairs(taus) do
    local limit = tau * (1 + EPS)
    for k = 1, #units do
      if eff[k] > limit then
        local x = units[k]
        local nr = replicas_for(x, tau)
        if not nr then return best end -- this tau and every faster one are out of reach
        local d = nr - r[k]
        local e_, l_ = unit_time(x, nr)
        lat_sum = lat_sum + l_ - lat[k]
        rows, cells = rows + d * x.rows_w, cells + d * x.cells_w
        needs[owner[k]] = needs[owner[k]] + d * x.cost
        total_need = total_need + d * x.cost
        r[k], eff[k], lat[k] = nr, e_, l_
      end
    end
    local t, update, program
    if sc.resident then
      if total_need > chip then return best end
      update = sc.in_place and 0 or (rows / arch.write_parallel + cfg.rows) * t_w
      t, program = (B - 1) * tau + lat_sum + update, 0
    else
      local groups, size, phase = 0, 0, nil
      for j = 1, #slots do
        local need = needs[j]
        if need > chip then return best end
        if need > 0 then
          if slots[j] == phase and size + need <= chip then
            size = size + need
          else
            groups, size, phase = groups + 1, need, slots[j]
          end
        end
      end
      program = groups * cfg.rows * t_w + rows / arch.write_parallel * t_w +
        cells * cfg.cell_bits / 8 / arch.offchip_bytes_per_s
      t, update = groups * (B - 1) * tau + lat_sum + program, 0
    end
    if not best or t < best.time then
      best = {time = t, tau = tau, update = update, program = program}
    end
  end
  return best
end

-- Energy per image of one layer (J), by component, at its replica counts.
local function layer_energy(l, m, arch, cfg)
  local ib = arch.input_bits
  local e = {xbar = 0, adc = 0, dac = 0, buffer = 0, write = 0, reprogram = 0}
  if l.K == 0 then return e end
  local conv = arch.e_adc + arch.e_shift_add -- one conversion, shift-added
  local P = l.P
  local rf = l.replicas_of.forward or l.replicas_of.weights or 1
  local re = l.replicas_of.error or l.replicas_of.weights or 1
  -- forward: P MVMs of input_bits cycles on K crossbars (replicas share them)
  e.xbar = P * ib * l.K * arch.e_xbar_cycle
  e.adc = P * ib * l.S * cfg.phys * conv
  e.dac = P * ib * l.active_rows * arch.e_dac
  if l.has_error then
    if arch.backward == "transposed_copy" then
      e.xbar = e.xbar + P * ib * l.KT * arch.e_xbar_cycle
      e.adc = e.adc + P * ib * l.ST * cfg.phys * conv
      e.dac = e.dac + P * ib * l.active_rows_T * arch.e_dac
    else
      -- the column side driven one slice at a time, the rows' ADCs converting
      local reads = P * ib * cfg.slices
      e.xbar = e.xbar + reads * l.K * arch.e_xbar_cycle
      e.dac = e.dac + reads * l.S * arch.e_dac
      e.adc = e.adc + reads * l.active_rows * conv
    end
  end
  if arch.gradient == "arrays" then
    e.write = e.write + l.G_cells * arch.e_write_cell
    local mvms = l.G_mvms * ib
    e.xbar = e.xbar + mvms * l.G * arch.e_xbar_cycle
    -- every row block of the gradient arrays converts its own partial sums
    e.adc = e.adc + mvms * ceil_div(P, cfg.rows) * l.G_written * cfg.phys * conv
    e.dac = e.dac + mvms * l.G_rows * arch.e_dac
  else
    -- every replica takes every update
    e.write = e.write + rf * P * l.A * cfg.phys * arch.e_update_cell
  end
  -- buffers: eDRAM words read and written once per pass; the on-chip network
  -- carries each pass's inputs to every replica that shares it out
  local cin = m.in_channels or m.rows
  local cout = m.out_channels or m.cols
  local words_in, words_out = l.Q * cin, P * cout
  local passes = 1 + (l.has_error and 1 or 0) + (arch.gradient == "arrays" and 1 or 0)
  local router = rf * words_in + words_out
  if l.has_error then router = router + re * words_out + words_in end
  if arch.gradient == "arrays" then router = router + words_in + words_out end
  e.buffer = passes * (words_in + words_out) * arch.e_buffer_word + router * arch.e_router_word
  return e
end

local COMPONENTS = {"xbar", "adc", "dac", "buffer", "write", "reprogram"}

--- The chip's crossbar budget for `mapping` on `arch`: chip_crossbars, or
-- with chip_crossbars = "dense" ceil((1 + chip_headroom) * the dense
-- network's need in the preset's backward and gradient modes). Also returns
-- that dense need.
function reram.chip_crossbars(mapping, arch)
  arch = check_arch(arch, "rp.reram.chip_crossbars")
  local cfg = check_mapping(mapping, arch, "rp.reram.chip_crossbars")
  local need = 0
  for i, m in ipairs(mapping.layers) do need = need + layer_terms(m, i, cfg, arch, true).cost end
  if arch.chip_crossbars == "dense" then
    return math.ceil((1 + (arch.chip_headroom or 0)) * need - 1e-9), need
  end
  return arch.chip_crossbars, need
end

--- Simulates training with `mapping` (rp.xbar.map(model, cfg), cfg the
-- preset's) on `arch` (a preset table or name). Workload: batch (128),
-- images (60000: one epoch of Fashion-MNIST), replication (true).
-- Returns crossbars (every array training needs: forward, backward and
-- gradient, before replication), crossbars_forward, crossbars_backward,
-- crossbars_gradient, crossbars_dense (the dense counterpart's need),
-- chip_crossbars, crossbars_used (on the chip, with replicas), fits,
-- backward, gradient, replicas (name -> count), bottleneck, stage_time,
-- batch_time, update_time, reprogram_time, groups (forward, backward),
-- time_per_image, images_per_s, epoch_time, energy_per_image, energy_per_batch,
-- energy (J per image: xbar, adc, dac, buffer, write, reprogram), area (mm²
-- of the crossbars in use with their periphery), area_chip (the whole chip,
-- with the parts per crossbar the preset's a_other covers) and layers
-- (per-layer crossbars, replicas, stage times and energy).
function reram.simulate(mapping, arch, workload)
  arch = check_arch(arch, "rp.reram.simulate")
  local cfg = check_mapping(mapping, arch, "rp.reram.simulate")
  workload = workload or {}
  if type(workload) ~= "table" then error("rp.reram.simulate: workload must be a table", 2) end
  local B = workload.batch or 128
  local images = workload.images or 60000
  if math.type(B) ~= "integer" or B < 1 then
    error(("rp.reram.simulate: batch must be a positive integer, got %s"):format(tostring(B)), 2)
  end
  if math.type(images) ~= "integer" or images < 1 then
    error(("rp.reram.simulate: images must be a positive integer, got %s"):format(
      tostring(images)), 2)
  end
  local replicate = workload.replication ~= false
  local chip, dense_need = reram.chip_crossbars(mapping, arch)
  local layers = {}
  local need = {crossbars = 0, forward = 0, backward = 0, gradient = 0}
  for i, m in ipairs(mapping.layers) do
    local l = layer_terms(m, i, cfg, arch, false)
    layers[i] = l
    need.crossbars = need.crossbars + l.cost
    need.forward = need.forward + l.K
    need.backward = need.backward + l.KT
    need.gradient = need.gradient + l.G
  end
  if need.crossbars == 0 then
    error("rp.reram.simulate: every layer of the mapping is pruned away: nothing to train", 2)
  end
  -- a chip must hold every single layer's arrays for each pass
  for _, l in ipairs(layers) do
    local biggest = math.max(l.cost_forward, l.cost_backward)
    if biggest > chip then
      error(("rp.reram.simulate: the chip's %d crossbars cannot hold layer %s, which needs %d " ..
        "for its %s pass; give the chip more crossbars (chip_crossbars, or chip_headroom " ..
        "when it is \"dense\"; the model does not split a layer across reprogramming " ..
          "rounds)"):format(chip, tostring(l.name), biggest,
        l.cost_forward >= l.cost_backward and "forward" or "backward"), 2)
    end
  end
  local r = {chip_crossbars = chip, crossbars = need.crossbars, crossbars_forward = need.forward,
    crossbars_backward = need.backward, crossbars_gradient = need.gradient,
    crossbars_dense = dense_need, backward = arch.backward, gradient = arch.gradient,
    fits = need.crossbars <= chip, arch = arch.name}
  -- Two schedules, the faster one modeled: resident (the whole network on
  -- the chip, updated in place once per batch; when it fits) and
  -- reprogrammed (consecutive groups of the forward arrays, then of the
  -- backward arrays, each programmed once per batch). Between two of the
  -- times a unit can take, every replica count and group stays the same and
  -- the batch time grows with tau, so the best tau is one of those times
  -- (with replication off: the unreplicated stage time).
  local function phases_of(list, names)
    local phases = {}
    for k, name in ipairs(names) do
      phases[k] = {}
      for i, l in ipairs(list) do phases[k][i] = units_of(l, name, arch, cfg, B) end
    end
    return phases
  end
  local schedules = {
    {resident = true, in_place = arch.gradient == "outer_product",
      phases = phases_of(layers, {"all"})},
    {resident = false, phases = phases_of(layers, {"forward", "backward"})},
  }
  local best
  for _, sc in ipairs(schedules) do
    sc.B, sc.arch, sc.cfg, sc.chip = B, arch, cfg, chip
    local taus = {}
    if replicate then
      for _, ph in ipairs(sc.phases) do
        for _, list in ipairs(ph) do for _, x in ipairs(list) do breakpoints(x, taus) end end
      end
    else
      local worst = 0
      for _, ph in ipairs(sc.phases) do
        for _, list in ipairs(ph) do
          for _, x in ipairs(list) do worst = math.max(worst, (unit_time(x, 1))) end
        end
      end
      taus[worst] = true
    end
    -- below the slowest unit's fastest time, or above the slowest unit's
    -- unreplicated time, no tau can win
    local floor, ceiling = 0, 0
    for _, ph in ipairs(sc.phases) do
      for _, list in ipairs(ph) do
        for _, x in ipairs(list) do
          floor = math.max(floor, (unit_time(x, x.rmax)))
          ceiling = math.max(ceiling, (unit_time(x, 1)))
        end
      end
    end
    local list = {}
    for tau in pairs(taus) do
      if tau >= floor * (1 - EPS) and tau <= ceiling * (1 + EPS) then list[#list + 1] = tau end
    end
    table.sort(list, function(x, y) return x > y end)
    local b = sweep(sc, list)
    if b and (not best or b.time < best.time) then
      best = b
      best.sc = sc
    end
  end
  if not best then
    error("rp.reram.simulate: every layer of the mapping is pruned away: nothing to train", 2)
  end
  -- the chosen schedule's replicas, groups and writes
  local sc, tau = best.sc, best.tau
  r.resident = sc.resident
  local used, groups, write_cells, worst_eff = 0, {}, 0, -1
  for k, ph in ipairs(sc.phases) do
    local size, count = 0, 0
    for _, list in ipairs(ph) do
      local group_need = 0
      for _, x in ipairs(list) do
        local rx = replicas_for(x, tau)
        local l = x.layer
        l.replicas_of = l.replicas_of or {}
        l.replicas_of[x.kind] = math.max(l.replicas_of[x.kind] or 1, rx)
        local eff = unit_time(x, rx)
        l.stage_time = math.max(l.stage_time or 0, eff)
        if eff > worst_eff then worst_eff, r.bottleneck = eff, l.name .. " (" .. x.kind .. ")" end
        local _, cw = unit_writes(x, cfg)
        write_cells = write_cells + rx * cw
        group_need = group_need + rx * x.cost
        -- endurance: a unit holding weights writes its cells once per batch
        -- (the update, or its programming in a reprogrammed phase)
        -- (cells: the array's, with its replicas; written: cell writes a batch)
        if x.holds and not (sc.in_place and x.holds == "forward") then
          l.cell_writes = l.cell_writes or {}
          local w = l.cell_writes[x.holds] or {cells = 0, per_batch = 0, written = 0}
          w.cells = math.max(w.cells, rx * cw)
          w.per_batch = w.per_batch + 1
          w.written = w.written + rx * cw
          l.cell_writes[x.holds] = w
        elseif x.kind == "gradient" then
          -- gradient arrays: one image's operand written per image, the
          -- replicas taking turns over the batch
          l.cell_writes = l.cell_writes or {}
          l.cell_writes.gradient = {cells = rx * l.G_cells, per_batch = math.ceil(B / rx),
            written = B * l.G_cells}
        end
      end
      if group_need > 0 then
        if count > 0 and size + group_need <= chip then size = size + group_need
        else count, size = count + 1, group_need end
        used = math.max(used, size)
      end
    end
    groups[k] = count
  end
  r.groups = sc.resident and {forward = 0, backward = 0}
    or {forward = groups[1], backward = groups[2]}
  local batch_time, update_time, reprogram_time = best.time, best.update, best.program
  r.stage_time = tau
  -- energy per image
  local e = {xbar = 0, adc = 0, dac = 0, buffer = 0, write = 0, reprogram = 0}
  for i, l in ipairs(layers) do
    l.replicas_of = l.replicas_of or {}
    l.energy = layer_energy(l, mapping.layers[i], arch, cfg)
    for _, k in ipairs(COMPONENTS) do e[k] = e[k] + l.energy[k] end
  end
  if r.resident then -- update writes once per batch (none for in-place updates)
    if not sc.in_place then e.write = e.write + write_cells * arch.e_write_cell / B end
  else -- every group programmed once per pass, its weights streamed in
    e.reprogram = write_cells * (arch.e_write_cell + cfg.cell_bits * arch.e_offchip_bit) / B
  end
  local per_image = 0
  for _, k in ipairs(COMPONENTS) do per_image = per_image + e[k] end
  r.crossbars_used = used
  r.replicas = {}
  for _, l in ipairs(layers) do
    local of = l.replicas_of
    l.replicas = of.forward or of.weights or 1
    l.replicas_error = of.error or of.weights or (l.has_error and 1 or 0)
    l.replicas_gradient = of.gradient or (l.G > 0 and 1 or 0)
    l.replicas_of = nil
    r.replicas[l.name] = l.replicas
  end
  -- writes per cell and batch: in-place updates apply P pulse trains per
  -- image to every cell of the arrays they update
  local worst, total = 0, 0
  for _, l in ipairs(layers) do
    local cw = l.cell_writes or {}
    l.cell_writes = nil
    if arch.gradient == "outer_product" and l.K > 0 then
      -- every replica of the weight arrays takes every update in place
      local rf = (l.replicas_of and (l.replicas_of.forward or l.replicas_of.weights)) or 1
      local cells = rf * l.A * cfg.phys
      local w = cw.forward or {cells = cells, per_batch = 0, written = 0}
      w.cells = math.max(w.cells, cells)
      w.per_batch = w.per_batch + B * l.P
      w.written = w.written + B * l.P * cells
      cw.forward = w
    end
    l.writes = cw
    for _, w in pairs(cw) do
      worst = math.max(worst, w.per_batch)
      total = total + w.written
    end
  end
  r.cell_writes_per_batch = worst
  r.writes_per_batch = total
  r.layers = layers
  r.batch_time = batch_time
  r.update_time = update_time
  r.reprogram_time = reprogram_time
  r.time_per_image = batch_time / B
  r.images_per_s = B / batch_time
  r.epoch_time = math.ceil(images / B) * batch_time
  r.energy = e
  r.energy_per_image = per_image
  r.energy_per_batch = per_image * B
  -- bidirectional reads: the column side's periphery on the arrays of M that
  -- run an error pass
  local two_sided = 0
  if arch.backward == "bidirectional" then
    for _, l in ipairs(layers) do
      if l.has_error then two_sided = two_sided + l.replicas * l.K end
    end
  end
  local per_xbar = arch.a_xbar + arch.a_periph
  r.area = used * per_xbar + math.min(two_sided, used) * arch.a_periph_backward
  -- the chip's tiles are all alike: with bidirectional reads every crossbar has both sides
  r.area_chip = chip * (per_xbar + (arch.a_other or 0) +
    (arch.backward == "bidirectional" and arch.a_periph_backward or 0))
  return r
end

--- Write endurance of training `model` on `arch` (a preset table or name),
-- counted as simulate() counts writes: the weight arrays and the transposed
-- copy once per batch for each time the schedule writes them (per replica),
-- in-place updates P pulse trains per image, gradient arrays once per image.
-- `o`: limit (a cell's endurance in write cycles; default the low end of
-- rp.reram.endurance_limits), updates (batches trained; default each layer's
-- own count, `layer.updates`, which rp.optim keeps), batch (128), cfg (the
-- preset's crossbar config), input_shape and replication (as for
-- rp.xbar.map and simulate). Returns {limit, updates, worst (writes of the
-- most-written cell), writes (cell writes in all), lifetime (updates until
-- the most-written cell reaches the limit), runs (how many such trainings
-- the limit allows), layers = {{name, updates, arrays = {kind -> {cells,
-- per_batch}}, worst, writes, lifetime}}}.
function reram.endurance(model, arch, o)
  o = o or {}
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    error("rp.reram.endurance: a model expected", 2)
  end
  arch = check_arch(arch, "rp.reram.endurance")
  local limit = o.limit or reram.endurance_limits.low
  if type(limit) ~= "number" or not (limit > 0) or limit == math.huge then
    error(("rp.reram.endurance: limit must be a positive number of write cycles, got %s")
      :format(tostring(limit)), 2)
  end
  if o.updates ~= nil and (math.type(o.updates) ~= "integer" or o.updates < 0) then
    error(("rp.reram.endurance: updates must be an integer >= 0, got %s"):format(
      tostring(o.updates)), 2)
  end
  local cfg = o.cfg or reram.xbar_config(arch)
  local sim = reram.simulate(xbar.map(model, cfg, {input_shape = o.input_shape}), arch,
    {batch = o.batch or 128, replication = o.replication})
  local prunable = model:prunable()
  local r = {limit = limit, worst = 0, writes = 0, layers = {}, lifetime = math.huge}
  local most = 0
  for i, l in ipairs(sim.layers) do
    local u = o.updates or (prunable[i] and prunable[i].updates) or 0
    most = math.max(most, u)
    local per = 0
    local e = {name = l.name, updates = u, arrays = l.writes, writes = 0}
    for _, w in pairs(l.writes) do
      per = math.max(per, w.per_batch)
      e.writes = e.writes + w.written * u
    end
    e.worst = per * u
    e.lifetime = per > 0 and limit / per or math.huge
    r.layers[i] = e
    r.worst = math.max(r.worst, e.worst)
    r.writes = r.writes + e.writes
    r.lifetime = math.min(r.lifetime, e.lifetime)
  end
  r.updates = most
  r.runs = r.worst > 0 and limit / r.worst or math.huge
  return r
end

--- Endurance limits of ReRAM cells (write cycles before a cell degrades),
-- the ends of a cited range.
reram.endurance_limits = {
  low = 1e4, high = 1e7,
  source = "C. Lammie, M. Rahimi Azghadi, D. Ielmini, \"Empirical metal-oxide RRAM device " ..
    "endurance and retention model for deep learning simulations\", Semicond. Sci. Technol. " ..
    "2021: TiN/Hf(Al)O/Hf/TiN cells degrade after about 1e4 cycles at 10 nm and 1e7 at 20 nm " ..
    "(github.com/coreylammie/SST-Reproducibility, plot_2A.py lines 35-36, lrs_threshold, " ..
    "commit 4af11d65)",
}

--- Compares two mappings (a: the baseline, b: e.g. the pruned one) on one
-- chip: speedup (a's batch time / b's), energy_saving (1 - b's energy per
-- image / a's), energy_ratio, hardware_saving (1 - b.crossbars / a.crossbars:
-- the training arrays, forward, backward and gradient), forward_saving (the
-- forward arrays alone: what the mapping saves), and both simulations (a, b).
-- A relative chip (chip_crossbars = "dense") is sized by the dense network,
-- the same for both.
function reram.compare(a, b, arch, workload)
  arch = check_arch(arch, "rp.reram.compare")
  local sa = reram.simulate(a, arch, workload)
  local sb = reram.simulate(b, arch, workload)
  local ratio = sa.energy_per_image > 0 and sb.energy_per_image / sa.energy_per_image or 1
  local function saving(x, y) return x > 0 and 1 - y / x or 0 end
  return {speedup = sa.batch_time / sb.batch_time, energy_ratio = ratio,
    energy_saving = 1 - ratio,
    hardware_saving = saving(sa.crossbars, sb.crossbars),
    forward_saving = saving(sa.crossbars_forward, sb.crossbars_forward),
    a = sa, b = sb}
end

return reram
