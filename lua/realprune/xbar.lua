--- Crossbar mapping: how many ReRAM crossbars a (pruned) network needs.
--
--     local cfg = rp.xbar.config{rows = 128, cols = 128, weight_bits = 16, cell_bits = 2}
--     local map = rp.xbar.map(model, cfg)
--     print(map)                          -- a per-layer table
--     print(map.total.crossbars, map.total.crossbars_dense, map.total.hardware_saving)
--     map:heatmap("xbars.png")            -- every layer's crossbars, coloured by use
--     io.open("map.json", "w"):write(map:to_json())
--
-- The definitions are docs/design.md's (normative): a conv weight [cout][cin][kh][kw]
-- is the matrix M with cin*kh*kw rows and cout columns (the im2col layout), a
-- linear weight [out][in] has `in` rows and `out` columns; biases are not
-- mapped. slices = ceil(weight_bits / cell_bits); physical columns per weight
-- phys = slices ("offset") or 2*slices ("differential"); L = floor(cols /
-- phys) weights per crossbar row. Dense: ceil(R/rows) * ceil(C/L). Pruned: with
-- compact_rows, rows without an alive weight are dropped first; the rows left
-- are cut into blocks of `rows`; in each block the alive column segments share
-- crossbars, ceil(alive_segments / L) of them. utilization = alive / (crossbars
-- * rows * L).
-- @module realprune.xbar

local core = require "realprune.core"
local names = require "realprune.names"
local json = require "realprune.json"

local xbar = {}

local DEFAULTS = core.xbar_default() -- rp_xbar_config_default()

local Config = {}
Config.__index = Config
Config.__name = "realprune.xbar.Config"

function Config:__tostring()
  return ("xbar.config{rows=%d, cols=%d, weight_bits=%d, cell_bits=%d, signed=%q, " ..
    "compact_rows=%s} -- %d slices, %d physical columns per weight, L=%d"):format(self.rows,
    self.cols, self.weight_bits, self.cell_bits, self.signed, tostring(self.compact_rows),
    self.slices, self.phys, self.L)
end

--- A crossbar configuration. Fields (defaults): rows (128), cols (128),
-- weight_bits (16), cell_bits (2), signed ("offset" or "differential"),
-- compact_rows (true). A bad field, or a crossbar too narrow for one weight
-- (L < 1), is an error naming the field.
function xbar.config(o)
  o = o or {}
  if type(o) ~= "table" then error("rp.xbar.config: a table of fields expected", 2) end
  local c = setmetatable({}, Config)
  for k, v in pairs(o) do
    if DEFAULTS[k] == nil then
      error(("rp.xbar.config: unknown field '%s' (rows, cols, weight_bits, cell_bits, signed, " ..
        "compact_rows)"):format(tostring(k)), 2)
    end
    c[k] = v
  end
  for k, v in pairs(DEFAULTS) do if c[k] == nil then c[k] = v end end
  -- types here (the binding would name itself); ranges and L in the core
  for _, k in ipairs{"rows", "cols", "weight_bits", "cell_bits"} do
    if math.type(c[k]) ~= "integer" or c[k] < 1 then
      error(("rp.xbar.config: %s must be a positive integer, got %s"):format(k, tostring(c[k])), 2)
    end
  end
  if not names.has("encoding", c.signed) then
    error(("rp.xbar.config: signed must be %s, got %s"):format(names.quoted("encoding"),
      tostring(c.signed)), 2)
  end
  if type(c.compact_rows) ~= "boolean" then
    error("rp.xbar.config: compact_rows must be a boolean", 2)
  end
  local slices, phys, L = core.xbar_check(c.rows, c.cols, c.weight_bits, c.cell_bits, c.signed)
  if not slices then error("rp.xbar.config: " .. phys, 2) end
  c.slices, c.phys, c.L = slices, phys, L
  return c
end

local function check_cfg(cfg, fn)
  if cfg == nil then return xbar.config{} end
  if getmetatable(cfg) == Config then return cfg end
  if type(cfg) == "table" then return xbar.config(cfg) end
  error(("%s: a crossbar configuration (rp.xbar.config{...}) expected, got %s"):format(fn,
    type(cfg)), 3)
end

local function args(cfg, transpose)
  return cfg.rows, cfg.cols, cfg.weight_bits, cfg.cell_bits, cfg.signed,
    cfg.compact_rows, transpose == true
end

-- The matrix view of a prunable layer: R rows, C columns.
local function matrix_of(layer)
  local w = layer.weight
  local C = w:size(1)
  return w:numel() // C, C
end

local COUNTS = {"crossbars", "crossbars_dense", "segments_alive", "segments_total", "alive",
  "rows_alive", "row_blocks", "active_rows", "max_block_rows", "utilization"}

local function check_opts(opts, fn)
  if opts == nil then return {} end
  if type(opts) ~= "table" then
    error(("%s: options must be a table ({transpose = true}), got %s"):format(fn, type(opts)), 3)
  end
  if opts.transpose ~= nil and type(opts.transpose) ~= "boolean" then
    error(("%s: transpose must be a boolean, got %s"):format(fn, type(opts.transpose)), 3)
  end
  return opts
end

--- Maps one conv or linear layer. Returns a table: name, kind ("conv" or
-- "linear"), rows and cols (the matrix R x C), slices, phys, L, weights,
-- alive, row_blocks_dense, col_tiles, crossbars_dense, rows_alive,
-- row_blocks, segments_total, segments_alive, crossbars, utilization,
-- max_block_rows, active_rows, and when the layer's shapes are known
-- (after rp.xbar.map or a forward pass) positions_out (output positions per
-- image: H_out*W_out, 1 for linear) and positions_in (H_in*W_in).
-- With `opts.transpose = true` the same fields describe M^T (docs/design.md,
-- "Transposed mapping": rows = C, cols = R), the array of the error pass, and
-- `transposed = true`. Otherwise the table also carries `transpose`: M^T's
-- counts (crossbars, crossbars_dense, segments_alive, segments_total, alive,
-- rows_alive, row_blocks, active_rows, max_block_rows, utilization), which
-- rp.reram uses for the error pass.
--
--     rp.xbar.map_layer(model.features[1], cfg, {transpose = true}).crossbars
function xbar.map_layer(layer, cfg, opts)
  if type(layer) ~= "table" or not layer.prunable_layer then
    error("rp.xbar.map_layer: a Conv2d or Linear layer expected", 2)
  end
  cfg = check_cfg(cfg, "rp.xbar.map_layer")
  opts = check_opts(opts, "rp.xbar.map_layer")
  local R, C = matrix_of(layer)
  local m = core.xbar_map(layer.mask, R, C, args(cfg, opts.transpose))
  if opts.transpose then
    m.transposed = true
  else
    local t = core.xbar_map(layer.mask, R, C, args(cfg, true))
    m.transpose = {}
    for _, k in ipairs(COUNTS) do m.transpose[k] = t[k] end
  end
  m.name = layer.name or layer.class_name
  m.kind = layer.kind
  local out = layer.out_shape or (layer.output and layer.output:shape())
  local inp = layer.in_shape
  if out then m.positions_out = #out == 4 and out[3] * out[4] or 1 end
  if inp then m.positions_in = #inp == 4 and inp[3] * inp[4] or 1 end
  if layer.kind == "conv" then
    m.kernel = {layer.kh, layer.kw}
    m.stride = {layer.sh, layer.sw}
    m.in_channels, m.out_channels = layer.in_channels, layer.out_channels
  end
  m.hardware_saving = m.crossbars_dense > 0 and 1 - m.crossbars / m.crossbars_dense or 0
  m.layer = layer
  m.mask = layer.mask -- the mask mapped (pruning replaces masks, never edits them)
  return m
end

--- A row order per layer that packs the alive weights into fewer crossbars
-- (core xbar_reorder.c: a greedy fill of row blocks; the count depends on
-- which rows of M share a block, not on the column order). `target`: a model
-- or one Conv2d/Linear layer. Returns {layers = {{name =, crossbars =,
-- crossbars_reordered =, perm = (perm[k]: the row of M placed k-th)}},
-- total = {crossbars =, crossbars_reordered =, saving =}}; never more
-- crossbars than without (the identity when nothing is gained).
--
--     local r = rp.xbar.reorder(model, cfg)
--     print(r.total.crossbars, "->", r.total.crossbars_reordered)
function xbar.reorder(target, cfg)
  local layers
  if type(target) == "table" and target.prunable_layer then layers = {target}
  elseif type(target) == "table" and type(target.prunable) == "function" then
    layers = target:prunable()
  else
    error("rp.xbar.reorder: a model or a Conv2d/Linear layer expected", 2)
  end
  cfg = check_cfg(cfg, "rp.xbar.reorder")
  local out = {layers = {}, total = {crossbars = 0, crossbars_reordered = 0}}
  for i, layer in ipairs(layers) do
    local R, C = matrix_of(layer)
    local before, after, perm = core.xbar_reorder(layer.mask, R, C, args(cfg, false))
    out.layers[i] = {name = layer.name or layer.class_name, crossbars = before,
      crossbars_reordered = after, perm = perm}
    out.total.crossbars = out.total.crossbars + before
    out.total.crossbars_reordered = out.total.crossbars_reordered + after
  end
  local t = out.total
  t.saving = t.crossbars > 0 and 1 - t.crossbars_reordered / t.crossbars or 0
  return out
end

local Mapping = {}
Mapping.__index = Mapping
Mapping.__name = "realprune.xbar.Mapping"

--- Maps every conv and linear layer of `model` (residual networks included).
-- The model's layer shapes come from its architecture's input size (or
-- `opts.input_shape = {C, H, W}`), so no data is needed. Returns a mapping
-- {layers = {...}, total = {crossbars_dense=, crossbars=, weights=, alive=,
-- segments_alive=, segments_total=, hardware_saving=, utilization=}, config=}.
-- `opts.transpose = true` maps every layer's M^T instead (the mapping then has
-- `transposed = true`); a plain mapping's total also has `crossbars_transposed`
-- and `crossbars_transposed_dense` (M^T of every layer, the first included).
--
--     local fwd = rp.xbar.map(model, cfg)
--     local err = rp.xbar.map(model, cfg, {transpose = true})
--     print(fwd.total.crossbars, err.total.crossbars)  -- column pruning: err stays near dense
function xbar.map(model, cfg, opts)
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    error("rp.xbar.map: a model expected", 2)
  end
  cfg = check_cfg(cfg, "rp.xbar.map")
  opts = check_opts(opts, "rp.xbar.map")
  local shape = opts.input_shape
  if not shape and model.arch then
    local a = model.arch.args
    shape = {a.in_channels, a.input_size, a.input_size}
  end
  if shape then
    local ok, err = pcall(model.output_shape, model, {1, shape[1], shape[2], shape[3]})
    if not ok then error("rp.xbar.map: " .. tostring(err), 2) end
  end
  local layers = {}
  local total = {crossbars_dense = 0, crossbars = 0, weights = 0, alive = 0,
    segments_alive = 0, segments_total = 0}
  if not opts.transpose then total.crossbars_transposed, total.crossbars_transposed_dense = 0, 0 end
  for i, layer in ipairs(model:prunable()) do
    local m = xbar.map_layer(layer, cfg, {transpose = opts.transpose})
    layers[i] = m
    for k in pairs(total) do
      if k == "crossbars_transposed" then total[k] = total[k] + m.transpose.crossbars
      elseif k == "crossbars_transposed_dense" then
        total[k] = total[k] + m.transpose.crossbars_dense
      else total[k] = total[k] + m[k] end
    end
  end
  total.hardware_saving = total.crossbars_dense > 0 and
    1 - total.crossbars / total.crossbars_dense or 0
  total.utilization = total.crossbars > 0 and
    total.alive / (total.crossbars * cfg.rows * cfg.L) or 0
  total.sparsity = total.weights > 0 and 1 - total.alive / total.weights or 0
  return setmetatable({layers = layers, total = total, config = cfg,
    transposed = opts.transpose == true}, Mapping)
end

function Mapping:__tostring()
  local lines = {}
  if self.transposed then
    lines[1] = "transposed mapping (M^T: one row per output, one column per input)"
  end
  lines[#lines + 1] = (("%-22s %-6s %13s %8s %9s %9s %7s"):format("layer", "kind", "matrix",
    "alive%", "xbars", "dense", "util%"))
  for _, m in ipairs(self.layers) do
    lines[#lines + 1] = ("%-22s %-6s %13s %8.2f %9d %9d %7.1f"):format(m.name, m.kind,
      m.rows .. "x" .. m.cols, 100 * m.alive / m.weights, m.crossbars, m.crossbars_dense,
      100 * m.utilization)
  end
  local t = self.total
  lines[#lines + 1] = ("%-22s %-6s %13s %8.2f %9d %9d %7.1f   saving %.1f%%"):format("total", "",
    "", 100 * t.alive / t.weights, t.crossbars, t.crossbars_dense, 100 * t.utilization,
    100 * t.hardware_saving)
  return table.concat(lines, "\n")
end

--- A JSON encoding of plain Lua data (rp.json.encode; kept here for scripts
-- that call rp.xbar.json).
xbar.json = json.encode

--- The mapping as JSON: config, per-layer counts and totals.
function Mapping:to_json()
  local cfg, layers = {}, {}
  for k, v in pairs(self.config) do cfg[k] = v end
  for i, m in ipairs(self.layers) do
    local l = {}
    for k, v in pairs(m) do if k ~= "layer" and k ~= "mask" then l[k] = v end end
    layers[i] = l
  end
  return json.encode({config = cfg, layers = layers, total = self.total,
    transposed = self.transposed})
end

-- -------------------------------------------------------------- heatmap --

local function colour(u)
  -- dark blue (empty) -> teal -> yellow (full), a viridis-like ramp
  local stops = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}}
  u = math.max(0, math.min(1, u)) * (#stops - 1)
  local i = math.min(#stops - 2, math.floor(u))
  local f = u - i
  local a, b = stops[i + 1], stops[i + 2]
  return math.floor(a[1] + (b[1] - a[1]) * f), math.floor(a[2] + (b[2] - a[2]) * f),
    math.floor(a[3] + (b[3] - a[3]) * f)
end

--- Writes a PNG with one band per layer: its name and counts, the dense
-- layout's crossbars as grey squares, and over them the crossbars the pruned
-- layer needs, one row of squares per row block, coloured by the share of
-- their cells that hold alive weights (dark blue empty, yellow full); a
-- legend at the bottom says so.
-- `opts.tile` sets the square size in pixels (default 6).
function Mapping:heatmap(path, opts)
  opts = opts or {}
  local tile = opts.tile or 6
  local step = tile + 1
  local cfg = self.config
  local label_h, margin = 12, 4
  local width, height = 320, margin
  local bands = {}
  for _, m in ipairs(self.layers) do
    local R, C = m.rows, m.cols
    -- the layer's own matrix; xbar_counts transposes it again for M^T
    local counts, blocks = core.xbar_counts(m.mask, self.transposed and C or R,
      self.transposed and R or C, args(cfg, self.transposed))
    local rows_px = math.max(m.row_blocks_dense, m.row_blocks) * step
    local per_block, max_in_block = {}, 0
    for _, b in ipairs(blocks) do
      per_block[b] = (per_block[b] or 0) + 1
      if per_block[b] > max_in_block then max_in_block = per_block[b] end
    end
    local cols_px = math.max(m.col_tiles, max_in_block) * step
    local label = ("%s  %dx%d  %d of %d crossbars  %.0f%% alive"):format(m.name, m.rows, m.cols,
      m.crossbars, m.crossbars_dense, 100 * m.alive / m.weights)
    width = math.max(width, margin * 2 + cols_px, margin * 2 + 6 * #label)
    bands[#bands + 1] = {m = m, label = label, counts = counts, blocks = blocks, y = height,
      h = label_h + rows_px + margin}
    height = height + label_h + rows_px + margin
  end
  -- the legend: a grey square, then the colour ramp with its ends named
  local legend_y = height
  local legend = "grey: a crossbar of the dense layout the pruned layer no longer needs;"
  local legend2 = "colour: a crossbar in use, by the share of its cells holding alive weights:"
  height = height + 3 * label_h + tile + 2 * margin
  width = math.max(width, margin * 2 + 6 * #legend, margin * 2 + 6 * #legend2)
  height = height + label_h + margin
  local t = self.total
  local summary = ((self.transposed and "M^T " or "")
    .. "total: %d of %d crossbars (%.1f%% saved), %.1f%% of weights alive"):format(
    t.crossbars, t.crossbars_dense, 100 * t.hardware_saving, 100 * t.alive / t.weights)
  width = math.max(width, margin * 2 + 6 * #summary)
  local px = {}
  for i = 1, width * height do px[i] = "\255\255\255" end
  local function put(x, y, r, g, b)
    if x >= 0 and y >= 0 and x < width and y < height then
      px[y * width + x + 1] = string.char(r, g, b)
    end
  end
  local function rect(x0, y0, w, h, r, g, b)
    for y = y0, y0 + h - 1 do for x = x0, x0 + w - 1 do put(x, y, r, g, b) end end
  end
  local function text(x0, y0, s)
    local q = core.text_rects(s)
    for i = 1, #q, 4 do
      rect(x0 + math.floor(q[i]), y0 + math.floor(q[i + 1]),
        math.max(1, math.floor(q[i + 2] - q[i])),
        math.max(1, math.floor(q[i + 3] - q[i + 1])), 20, 20, 20)
    end
  end
  local full = cfg.rows * cfg.L
  for _, band in ipairs(bands) do
    local m = band.m
    text(margin, band.y + 2, band.label)
    local y0 = band.y + label_h
    for b = 0, m.row_blocks_dense - 1 do
      for c = 0, m.col_tiles - 1 do
        rect(margin + c * step, y0 + b * step, tile, tile, 225, 225, 225)
      end
    end
    local col_in_block = {}
    for i, cnt in ipairs(band.counts) do
      local b = band.blocks[i]
      local c = col_in_block[b] or 0
      col_in_block[b] = c + 1
      local r, g, bl = colour(cnt / full)
      rect(margin + c * step, y0 + (b - 1) * step, tile, tile, r, g, bl)
    end
  end
  rect(margin, legend_y + 2, tile, tile, 225, 225, 225)
  text(margin + tile + 4, legend_y, legend)
  text(margin, legend_y + label_h + 2, legend2)
  local ramp_y, ramp_w = legend_y + 2 * label_h + 4, 200
  text(margin, ramp_y, "0%")
  for x = 0, ramp_w - 1 do
    local r, g, bl = colour(x / (ramp_w - 1))
    rect(margin + 24 + x, ramp_y, 1, tile + 2, r, g, bl)
  end
  text(margin + 30 + ramp_w, ramp_y, "100% (full)")
  text(margin, height - label_h, summary)
  local ok, err = core.write_png(path, width, height, table.concat(px))
  if not ok then error("rp.xbar.Mapping:heatmap: " .. err, 2) end
  return path
end

return xbar
