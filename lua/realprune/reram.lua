--- An analytic model of CNN training on a ReRAM chip (PipeLayer style).
--
--     local arch = rp.reram.presets.isaac
--     local cfg = rp.reram.xbar_config(arch)            -- the preset's crossbars
--     local dense = rp.xbar.map(model, cfg)
--     local r = rp.reram.simulate(dense, arch, {batch = 128, images = 60000})
--     print(r.images_per_s, r.energy_per_image, r.bottleneck, r.fits)
--     local c = rp.reram.compare(dense, rp.xbar.map(pruned, cfg), arch, {batch = 128})
--     print(c.speedup, c.energy_saving, c.hardware_saving)
--
-- The formulas (data/reram/README.md explains each and its assumptions):
--   per layer l: K_l crossbars, P_l output and Q_l input positions per image,
--   r_l replicas; one MVM takes input_bits * t_cycle;
--   forward Tf = P_l MVMs / r_l, error Tb = Q_l MVMs / r_l, gradient Tg = P_l MVMs / r_l;
--   update (once per batch) Tw = rows written per crossbar * t_write_row;
--   T_stage = max_l max(Tf, Tb, Tg);  T_batch = (B + 2L - 1) T_stage + max_l Tw.
--   Crossbars: copies * K_l per layer (W and W^T); spare crossbars replicate the
--   layer that sets T_stage while the chip has room. A network that does not fit
--   runs in groups of layers that do, each group programmed before its forward
--   and again before its backward pass, every batch.
--   Energy per MVM sweep of a layer: input_bits * (K e_xbar + S phys e_adc +
--   active_rows e_dac); buffers per word moved; writes per alive cell.
-- @module realprune.reram

local xbar = require "realprune.xbar"

local reram = {}

local function data_dirs()
  local dirs = {}
  local site = package.loaded["realprune.site"]
  if site and site.data_dir then dirs[#dirs + 1] = site.data_dir end
  local src = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$")
  if src then
    dirs[#dirs + 1] = src .. "/../../data"             -- the source tree
    dirs[#dirs + 1] = src .. "/../../../realprune/data" -- installed: share/lua/5.4/realprune
  end
  return dirs
end

local function load_preset(name)
  for _, d in ipairs(data_dirs()) do
    local path = d .. "/reram/" .. name .. ".lua"
    local f = io.open(path)
    if f then
      f:close()
      local preset = dofile(path)
      preset.source_file = path
      return preset
    end
  end
  return nil
end

--- Presets from data/reram/<name>.lua, loaded on first use
-- (`rp.reram.presets.isaac`, `rp.reram.presets.pipelayer`).
reram.presets = setmetatable({}, {__index = function(t, name)
  local p = type(name) == "string" and load_preset(name) or nil
  if p then rawset(t, name, p) end
  return p
end})

local REQUIRED = {"input_bits", "t_cycle", "t_write_row", "e_xbar_cycle", "e_adc", "e_dac",
  "e_buffer_word", "e_write_cell", "a_xbar", "a_periph", "chip_crossbars", "copies"}

local function check_arch(arch, fn)
  if type(arch) == "string" then
    local p = reram.presets[arch]
    if not p then error(("%s: no ReRAM preset named %q in data/reram"):format(fn, arch), 3) end
    arch = p
  end
  if type(arch) ~= "table" then error(fn .. ": an architecture preset expected", 3) end
  for _, k in ipairs(REQUIRED) do
    if type(arch[k]) ~= "number" or arch[k] < 0 then
      error(("%s: the preset's %s must be a non-negative number, got %s"):format(fn, k,
        tostring(arch[k])), 3)
    end
  end
  return arch
end

--- The crossbar configuration of a preset (rows, cols, bits, encoding).
function reram.xbar_config(arch, overrides)
  arch = check_arch(arch, "reram.xbar_config")
  local o = {}
  for k, v in pairs(arch.xbar or {}) do o[k] = v end
  for k, v in pairs(overrides or {}) do o[k] = v end
  return xbar.config(o)
end

local function layer_words(m)
  -- 16-bit words read and written by one layer for one image in one pass
  local cin = m.in_channels or m.rows
  local cout = m.out_channels or m.cols
  return (m.positions_in or 1) * cin + (m.positions_out or 1) * cout
end

--- Simulates training with `mapping` (from rp.xbar.map) on `arch` (a preset
-- table or name). Workload: batch (128), images (60000: one epoch of
-- Fashion-MNIST), replication (true), copies (the preset's).
-- Returns crossbars (mapped), crossbars_needed (with copies), crossbars_used
-- (with replicas), fits, replicas (name -> count), bottleneck, stage_time,
-- batch_time, time_per_image, images_per_s, epoch_time, energy_per_batch,
-- energy_per_image, energy (breakdown per image: mvm, adc, dac, buffer, write,
-- reprogram), reprogram_time (per batch), area_needed_mm2, area_chip_mm2, and
-- layers (per-layer times, replicas and energy).
function reram.simulate(mapping, arch, workload)
  if type(mapping) ~= "table" or type(mapping.layers) ~= "table" then
    error("reram.simulate: a mapping from rp.xbar.map expected", 2)
  end
  arch = check_arch(arch, "reram.simulate")
  workload = workload or {}
  local B = workload.batch or 128
  local images = workload.images or 60000
  if math.type(B) ~= "integer" or B < 1 then
    error("reram.simulate: batch must be a positive integer", 2)
  end
  if math.type(images) ~= "integer" or images < 1 then
    error("reram.simulate: images must be a positive integer", 2)
  end
  local copies = workload.copies or arch.copies
  local replication = workload.replication ~= false
  local cfg = mapping.config
  local t_mvm = arch.input_bits * arch.t_cycle
  local layers, n = {}, #mapping.layers
  local base = 0
  for i, m in ipairs(mapping.layers) do
    local P, Q = m.positions_out or 1, m.positions_in or 1
    layers[i] = {name = m.name, crossbars = m.crossbars, P = P, Q = Q, replicas = 1,
      mvms_forward = P, mvms_backward = Q, mvms_gradient = P,
      t_write = (m.max_block_rows or cfg.rows) * arch.t_write_row, map = m}
    base = base + copies * m.crossbars
  end
  local function stage(l)
    local r = l.replicas
    if l.crossbars == 0 then -- a layer pruned away computes nothing
      l.t_forward, l.t_backward, l.t_gradient = 0, 0, 0
      return 0
    end
    l.t_forward, l.t_backward, l.t_gradient = l.P * t_mvm / r, l.Q * t_mvm / r, l.P * t_mvm / r
    return math.max(l.t_forward, l.t_backward, l.t_gradient)
  end
  local function bottleneck(list)
    local worst, at = -1, nil
    for _, l in ipairs(list) do
      local s = stage(l)
      if s > worst then worst, at = s, l end
    end
    return at, math.max(worst, 0)
  end
  local fits = base <= arch.chip_crossbars
  local used = base
  local r = {fits = fits, crossbars = mapping.total.crossbars, crossbars_needed = base}
  local batch_time, reprogram_time, reprogram_energy = 0, 0, 0
  local t_write = 0
  for _, l in ipairs(layers) do t_write = math.max(t_write, l.t_write) end
  if fits then
    if replication then
      local spare = arch.chip_crossbars - base
      while true do
        local l = bottleneck(layers)
        if not l then break end
        local cost = copies * l.crossbars
        if cost == 0 or cost > spare or l.replicas >= math.max(l.P, l.Q) then break end
        l.replicas = l.replicas + 1
        spare = spare - cost
        used = used + cost
      end
    end
    local l, s = bottleneck(layers)
    r.bottleneck, r.stage_time = l and l.name, s
    batch_time = (B + 2 * n - 1) * s + t_write
  else
    -- consecutive groups of layers that fit, each programmed twice per batch
    local groups, g, g_xbars = {}, {}, 0
    for _, l in ipairs(layers) do
      local need = copies * l.crossbars
      if #g > 0 and g_xbars + need > arch.chip_crossbars then
        groups[#groups + 1] = g
        g, g_xbars = {}, 0
      end
      g[#g + 1] = l
      g_xbars = g_xbars + need
    end
    if #g > 0 then groups[#groups + 1] = g end
    local worst = 0
    for _, grp in ipairs(groups) do
      local l, s = bottleneck(grp)
      if s > worst then worst, r.bottleneck = s, l.name end
      local xbars, cells, rows = 0, 0, 0
      for _, x in ipairs(grp) do
        xbars = xbars + copies * x.crossbars
        cells = cells + copies * x.map.alive * x.map.phys
        rows = math.max(rows, x.map.max_block_rows or cfg.rows)
      end
      -- rounds of programming (an oversized layer needs several), each round
      -- write_parallel crossbars at once, plus streaming the weights in
      local rounds = math.ceil(xbars / math.max(1, arch.write_parallel or xbars))
      local bytes = cells * cfg.cell_bits / 8
      local program = rounds * rows * arch.t_write_row +
        bytes / (arch.offchip_bytes_per_s or math.huge)
      local chip_rounds = math.max(1, math.ceil(xbars / arch.chip_crossbars))
      reprogram_time = reprogram_time + 2 * program
      reprogram_energy = reprogram_energy + 2 * (cells * arch.e_write_cell +
        bytes * 8 * (arch.e_offchip_bit or 0))
      batch_time = batch_time + chip_rounds * (B + 2 * #grp - 1) * s
    end
    r.stage_time, r.groups = worst, #groups
    batch_time = batch_time + reprogram_time + t_write
    used = math.min(base, arch.chip_crossbars)
  end
  -- energy per image
  local e = {mvm = 0, adc = 0, dac = 0, buffer = 0, write = 0, reprogram = reprogram_energy / B}
  for _, l in ipairs(layers) do
    local m = l.map
    local sweeps = l.P + l.Q + l.P -- forward, error, gradient MVMs per image
    local xb = sweeps * arch.input_bits * m.crossbars * arch.e_xbar_cycle
    local adc = sweeps * arch.input_bits * m.segments_alive * m.phys * arch.e_adc
    local dac = sweeps * arch.input_bits * m.active_rows * arch.e_dac
    local buf = 3 * layer_words(m) * (arch.e_buffer_word + (arch.e_router_word or 0))
    local wr = copies * m.alive * m.phys * arch.e_write_cell / B
    l.energy = xb + adc + dac + buf + wr
    e.mvm, e.adc, e.dac, e.buffer, e.write = e.mvm + xb, e.adc + adc, e.dac + dac,
      e.buffer + buf, e.write + wr
  end
  local per_image = 0
  for _, v in pairs(e) do per_image = per_image + v end
  r.crossbars_used = used
  r.replicas = {}
  for _, l in ipairs(layers) do
    r.replicas[l.name] = l.replicas
    l.map = nil
  end
  r.layers = layers
  r.batch_time = batch_time
  r.time_per_image = batch_time / B
  r.images_per_s = B / batch_time
  r.epoch_time = math.ceil(images / B) * batch_time
  r.reprogram_time = reprogram_time
  r.energy = e
  r.energy_per_image = per_image
  r.energy_per_batch = per_image * B
  r.area_needed_mm2 = math.min(used, arch.chip_crossbars) * (arch.a_xbar + arch.a_periph)
  r.area_mapped_mm2 = base * (arch.a_xbar + arch.a_periph)
  r.area_chip_mm2 = arch.chip_crossbars * (arch.a_xbar + arch.a_periph)
  r.arch = arch.name
  return r
end

--- Compares two mappings (a: the baseline, b: the pruned one) on one chip:
-- speedup (a's batch time / b's), energy_ratio (b / a per image),
-- energy_saving (1 - ratio), hardware_saving (1 - crossbars_b / crossbars_a),
-- and both simulations (a, b).
function reram.compare(a, b, arch, workload)
  arch = check_arch(arch, "reram.compare")
  local sa = reram.simulate(a, arch, workload)
  local sb = reram.simulate(b, arch, workload)
  local ratio = sb.energy_per_image / sa.energy_per_image
  return {speedup = sa.batch_time / sb.batch_time, energy_ratio = ratio,
    energy_saving = 1 - ratio,
    hardware_saving = a.total.crossbars > 0 and 1 - b.total.crossbars / a.total.crossbars or 0,
    a = sa, b = sb}
end

return reram
