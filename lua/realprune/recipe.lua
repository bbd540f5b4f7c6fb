--- The recipe runner: `realprune run recipes/NAME.lua [--key value ...]`.
--
-- A recipe is a Lua file returning
--
--     return {
--       name = "my_study", description = "one line for `realprune list`",
--       defaults = {epochs = 2, lr = 0.05, model = "vgg_small"},
--       quick = {epochs = 1},                 -- what --quick changes
--       row_keys = {"method", "round"},       -- optional: what tells rows apart (sweeps)
--       run = function(ctx) ... ctx:record{method = "realprune", accuracy = 0.9} end,
--     }
--
-- Options on the command line override `defaults`, with their types checked
-- (numbers, integers, booleans, strings); an unknown option is an error that
-- lists the valid ones. Built-in options: --out DIR (default
-- results/NAME/<timestamp>), --seed N, --seeds 1,2,3 (repeat and report mean
-- ± std), --quick, --resume (continue the newest run in results/NAME, or
-- --out; without it, an --out folder that already holds a run is an error),
-- --help.
--
-- `ctx` gives: ctx.opts (the merged options), ctx.out (the output folder),
-- ctx.seed, ctx.rng (a generator seeded with it), ctx.quick, ctx.resume,
-- ctx:log(fmt, ...) (printed and appended to out/log.txt), ctx:record(row)
-- (a result row), ctx:path(name) (a file in the output folder).
--
-- Every run writes config.json and log.txt, and through rp.results
-- results.csv (a `method` column first when rows have one), results.json,
-- report.md and at least one plot (ctx:plot, or by default accuracy against
-- sparsity: plot.csv/.gp/.png/.svg).
-- @module realprune.recipe

local core = require "realprune.core"
local report = require "realprune.report"
local results = require "realprune.results"
local json = require "realprune.json"

local M = {}

local BUILTIN = {out = "string", seed = "integer", seeds = "string", quick = "boolean",
  resume = "boolean", help = "boolean"}

local function kind_of(v)
  if math.type(v) == "integer" then return "integer" end
  return type(v)
end

local function convert(key, text, kind)
  if kind == "integer" then
    local v = math.tointeger(tonumber(text))
    if not v then error(("option --%s expects an integer, got %q"):format(key, text), 0) end
    return v
  elseif kind == "number" then
    local v = tonumber(text)
    if not v then error(("option --%s expects a number, got %q"):format(key, text), 0) end
    return v
  elseif kind == "boolean" then
    local t = ({["true"] = true, ["1"] = true, yes = true, ["false"] = false, ["0"] = false,
      no = false})[text]
    if t == nil then error(("option --%s expects true or false, got %q"):format(key, text), 0) end
    return t
  end
  return text
end

--- The folders recipes are looked up in by name: ./recipes, then the
-- installed ones.
function M.dirs()
  local dirs = {"recipes"}
  local shipped = require("realprune.paths").recipes_dir()
  if shipped then dirs[#dirs + 1] = shipped end
  return dirs
end

--- The file of recipe `name`: a path ending in .lua as it is, else
-- NAME.lua in M.dirs() (the first that exists), else `name` itself.
function M.find(name)
  if name:match("%.lua$") then return name end
  for _, d in ipairs(M.dirs()) do
    local p = d .. "/" .. name .. ".lua"
    local f = io.open(p)
    if f then f:close(); return p end
  end
  return name
end

--- Loads a recipe file; checks its fields.
function M.load(path)
  local chunk, err = loadfile(path)
  if not chunk then error(("recipe %s: %s"):format(path, err), 0) end
  local ok, r = pcall(chunk)
  if not ok then error(("recipe %s: %s"):format(path, tostring(r)), 0) end
  if type(r) ~= "table" or type(r.run) ~= "function" then
    error(("recipe %s must return a table with a run function"):format(path), 0)
  end
  r.name = r.name or path:match("([^/]+)%.lua$") or "recipe"
  r.defaults = r.defaults or {}
  r.path = path
  return r
end

--- Parses `args` (a list of strings) against the recipe's defaults.
-- Returns the merged options and the built-in ones.
function M.parse(r, args)
  local opts, builtin = {}, {}
  for k, v in pairs(r.defaults) do opts[k] = v end
  local i = 1
  while i <= #args do
    local a = args[i]
    local key, inline = a:match("^%-%-([%w_%-]+)=(.*)$")
    key = key or a:match("^%-%-([%w_%-]+)$")
    if not key then error(("unexpected argument %q (options are --key value)"):format(a), 0) end
    key = key:gsub("-", "_")
    local kind = BUILTIN[key] or (r.defaults[key] ~= nil and kind_of(r.defaults[key]))
    if not kind then
      local names = {}
      for k in pairs(r.defaults) do names[#names + 1] = "--" .. k end
      table.sort(names)
      for k in pairs(BUILTIN) do names[#names + 1] = "--" .. k end
      error(("unknown option --%s; valid options: %s"):format(key, table.concat(names, ", ")), 0)
    end
    local value
    if inline then value = inline
    elseif kind == "boolean" and (args[i + 1] == nil or args[i + 1]:match("^%-%-")) then
      value = "true"
    else
      i = i + 1
      value = args[i]
      if value == nil then error(("option --%s needs a value"):format(key), 0) end
    end
    local v = convert(key, value, kind)
    if BUILTIN[key] then builtin[key] = v else opts[key] = v end
    i = i + 1
  end
  if builtin.quick and r.quick then
    for k, v in pairs(r.quick) do
      if opts[k] == r.defaults[k] then opts[k] = v end
    end
  end
  return opts, builtin
end

local function mkdir(path)
  local ok, err = core.mkdir(path)
  if not ok then error(err, 0) end
end

local function write(path, text)
  local ok, err = core.write_file_atomic(path, text)
  if not ok then error(err, 0) end
end

local function newest_run(dir)
  local entries = core.list_dir(dir)
  if not entries then return nil end
  local best
  for _, e in ipairs(entries) do if e.dir and (not best or e.name > best) then best = e.name end end
  return best and (dir .. "/" .. best) or nil
end

local Ctx = {}
Ctx.__index = Ctx

function Ctx:log(fmt, ...)
  local line = select("#", ...) > 0 and fmt:format(...) or tostring(fmt)
  print(line)
  local f = io.open(self.out .. "/log.txt", "a")
  if f then f:write(line, "\n"); f:close() end
end

function Ctx:record(row)
  if type(row) ~= "table" then error("ctx:record: a table expected", 2) end
  row.seed = row.seed or self.seed
  self.rows[#self.rows + 1] = row
  return row
end

function Ctx:path(name) return self.out .. "/" .. name end

--- Writes a stacked bar chart (rp.report.bars) into the output folder.
function Ctx:plot_bars(name, opts)
  opts = opts or {}
  opts.rows = opts.rows or self.rows
  self.plots = (self.plots or 0) + 1
  return report.bars(self:path(name), opts)
end

--- Writes a plot of recorded rows (or `opts.rows`) into the output folder:
-- name.csv, name.gp and, with gnuplot, name.png and name.svg (rp.report.plot).
function Ctx:plot(name, opts)
  opts.rows = opts.rows or self.rows
  self.plots = (self.plots or 0) + 1
  return report.plot(self:path(name), opts)
end

--- Runs recipe `r` with command-line `args`; returns the output folder.
function M.run(r, args)
  local opts, builtin = M.parse(r, args or {})
  if builtin.help then
    print(M.usage(r))
    return nil
  end
  local base = "results/" .. r.name
  local out = builtin.out
  if not out and builtin.resume then out = newest_run(base) end
  out = out or (base .. "/" .. os.date("%Y%m%d-%H%M%S"))
  -- a folder holding another run: its checkpoints would be picked up and its
  -- results mixed with this run's, so only --resume may reuse it
  local previous = io.open(out .. "/config.json")
  if previous then
    previous:close()
    if not builtin.resume then
      error(("%s already holds a run (config.json): pass --resume to continue it, or choose " ..
        "another --out"):format(out), 0)
    end
  end
  mkdir(out)
  local seeds = {}
  if builtin.seeds then
    for s in builtin.seeds:gmatch("[^,]+") do
      local v = math.tointeger(tonumber(s))
      if not v then error(("--seeds expects integers separated by commas, got %q"):format(
        builtin.seeds), 0) end
      seeds[#seeds + 1] = v
    end
  else
    seeds[1] = builtin.seed or opts.seed or 1
  end
  local config = {recipe = r.name, path = r.path, options = opts, seeds = seeds,
    quick = builtin.quick or false, started = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    version = require("realprune").VERSION, threads = core.get_threads()}
  write(out .. "/config.json", json.encode(config) .. "\n")
  local lf = io.open(out .. "/log.txt", "a")
  if lf then
    lf:write(("%s %s %s\n"):format(os.date("!%Y-%m-%dT%H:%M:%SZ"), r.name, json.encode(opts)))
    lf:close()
  end
  local rows, plots = {}, 0
  for _, seed in ipairs(seeds) do
    local ctx = setmetatable({opts = opts, out = #seeds > 1 and (out .. "/seed" .. seed) or out,
      seed = seed, rng = core.generator(seed), quick = builtin.quick or false,
      resume = builtin.resume or false, rows = {}, recipe = r}, Ctx)
    mkdir(ctx.out)
    require("realprune").seed(seed)
    r.run(ctx)
    for _, row in ipairs(ctx.rows) do rows[#rows + 1] = row end
    plots = plots + (ctx.plots or 0)
  end
  results.write(out, {recipe = r, options = opts, seeds = seeds, plots = plots}, rows)
  print(("results in %s"):format(out))
  return out, rows
end

--- The gradient clipping of a recipe's `clip` option (the largest global
-- gradient norm; 0 turns it off): vgg_small without batch norm at lr 0.05 can
-- blow up in its first batches from some initializations, and clipping at 5
-- keeps every start on track (it seldom acts after the first epoch).
function M.clip(o)
  local c = o.clip or 0
  return c > 0 and c or nil
end

--- The training settings every recipe shares unless its options say
-- otherwise: rp.train.defaults.
M.training = require("realprune.train").defaults

--- The `fit` table of rp.lth.run for a recipe's options: epochs, the learning
-- rate and batch size (`o.lr`, `o.batch`, else M.training's), momentum,
-- weight decay and the gradient clipping of `o.clip`.
function M.fit(o)
  return {epochs = o.epochs, lr = o.lr or M.training.lr, batch_size = o.batch or M.training.batch,
    momentum = M.training.momentum, weight_decay = M.training.weight_decay,
    clip_grad_norm = M.clip(o)}
end

--- Runs a recipe table that a script returned (`realprune recipes/NAME.lua ...`).
function M.run_table(r, path, args)
  if type(r.run) ~= "function" then error("a recipe needs a run function", 2) end
  r.name = r.name or path:match("([^/]+)%.lua$") or "recipe"
  r.defaults = r.defaults or {}
  r.path = path
  local ok, err = pcall(M.run, r, args)
  if not ok then error("realprune: " .. tostring(err), 0) end
end

--- The data and model of a paper-reproduction recipe. `o.dataset`:
-- "auto" (CIFAR-10 with `o.full_model` when it is under REALPRUNE_DATA, else
-- Fashion-MNIST with `o.model`), "cifar10" (falls back the same way) or
-- "fashion_mnist"; `o.train_images` / `o.test_images` (0: all) subset them.
-- Returns train, test, a function that builds the model, and a label.
function M.paper_data(ctx, o)
  local rp = require "realprune"
  local train, test, model_name, args = nil, nil, o.model, {}
  if o.dataset == "auto" or o.dataset == "cifar10" then
    local ok, tr = pcall(rp.data.cifar10, {split = "train"})
    if ok then
      train, test = tr, rp.data.cifar10{split = "test"}
      model_name = o.full_model or "vgg11"
    else
      ctx:log("CIFAR-10 is not under REALPRUNE_DATA: using Fashion-MNIST with %s", o.model)
    end
  end
  if not train then
    train, test = rp.data.fashion_mnist{split = "train"}, rp.data.fashion_mnist{split = "test"}
    if model_name:match("^vgg1") or model_name:match("^resnet") then
      error(("model %s needs 3x32x32 inputs; use vgg_small or lenet5 on Fashion-MNIST"):format(
        model_name), 0)
    end
  end
  if (o.train_images or 0) > 0 and o.train_images < #train then
    train = train:subset(o.train_images, ctx.seed)
  end
  if (o.test_images or 0) > 0 and o.test_images < #test then
    test = test:subset(o.test_images, ctx.seed)
  end
  local label = ("%s on %s (%d training, %d test images)"):format(model_name, train.name,
    #train, #test)
  ctx:log("%s", label)
  return train, test, function() return rp.models[model_name](args) end, label
end

--- The ReRAM chip a recipe models, from its options: `o.arch` (a preset of
-- data/reram), `o.backward` ("preset": the preset's mode; or
-- "transposed_copy" / "bidirectional"), `o.chip` ("dense": a chip that just
-- holds the dense network's training arrays, with `o.headroom` more;
-- "preset": the preset's own chip; or a crossbar count). Returns the preset
-- and a sentence for the report saying which chip and mode, and why.
function M.chip(o)
  local rp = require "realprune"
  local base = rp.reram.presets[o.arch]
  if not base then
    error(("option --arch: no ReRAM preset named %q (%s)"):format(tostring(o.arch),
      table.concat(rp.reram.preset_names(), ", ")), 0)
  end
  local over = {}
  local backward = o.backward or "preset"
  if backward ~= "preset" then
    if backward ~= "transposed_copy" and backward ~= "bidirectional" then
      error(("option --backward expects preset, transposed_copy or bidirectional, got %q"):format(
        backward), 0)
    end
    over.backward = backward
    if backward == "transposed_copy" and base.gradient == "outer_product" then
      over.gradient = "arrays" -- in-place updates need the forward arrays to take the errors
    end
  end
  local chip = tostring(o.chip or "dense")
  local why
  if chip == "dense" then
    local h = o.headroom or 0
    over.chip_crossbars, over.chip_headroom = "dense", h
    why = h == 0 and "a chip that just holds the dense network's training arrays, so that " ..
      "the dense network cannot replicate and every crossbar pruning frees goes to replicas " ..
      "(the edge setting ReaLPrune argues from)" or
      ("a chip %+.0f%% the size of the dense network's training arrays"):format(100 * h)
  elseif chip == "preset" then
    why = ("the preset's own chip of %s crossbars"):format(tostring(base.chip_crossbars))
  else
    local n = math.tointeger(tonumber(chip))
    if not n or n < 1 then
      error(("option --chip expects dense, preset or a positive crossbar count, got %q"):format(
        chip), 0)
    end
    over.chip_crossbars = n
    why = ("a fixed chip of %d crossbars"):format(n)
  end
  local arch = rp.reram.preset(base, over)
  local x = arch.xbar or {}
  local text = ("Modeled ReRAM training: preset %s (%sx%s crossbars, %s-bit weights in %s-bit " ..
    "cells), error pass on a %s, weight gradient %s, on %s."):format(arch.name,
    tostring(x.rows), tostring(x.cols), tostring(x.weight_bits), tostring(x.cell_bits),
    arch.backward == "transposed_copy" and "transposed copy" or "bidirectional read of M itself",
    arch.gradient == "arrays" and "in gradient arrays" or "by outer-product updates in place", why)
  return arch, text
end

--- A paragraph setting a run's rows (method, pruned, accuracy, crossbars)
-- beside the shipped reference study of the same network
-- (docs/results/*/summary.json, when found from the working directory), and
-- saying why they differ.
function M.reference_note(model, rows)
  local found
  for _, e in ipairs(core.list_dir("docs/results") or {}) do
    if e.dir then
      local f = io.open(e.path .. "/summary.json")
      if f then
        local ok, s = pcall(json.decode, f:read("a"))
        f:close()
        if ok and type(s) == "table" then found = found or {path = e.path, s = s} end
      end
    end
  end
  if not found then
    return "No reference study found under docs/results/ (run from the source folder to " ..
      "compare with it)."
  end
  local ref = {}
  for _, f in ipairs(found.s.final or {}) do
    if f.model == model or f.model:match("^" .. model .. " %(") then
      ref[f.method] = ref[f.method] or f
    end
  end
  local parts = {}
  for _, r in ipairs(rows) do
    local f = ref[r.method]
    if f and r.pruned then
      parts[#parts + 1] = ("%s: %.1f%% pruned, %.2f%% accuracy here; %.1f%% pruned, %.2f%% in " ..
        "the study (%s)"):format(r.method, 100 * r.pruned, 100 * r.accuracy,
        100 * (1 - f.weights_remaining), 100 * f.accuracy, f.model)
    end
  end
  if #parts == 0 then return "The reference study in " .. found.path .. " has no such methods." end
  return ("Beside the reference study (%s/report.md): %s. They differ because this run is one " ..
    "seed of a narrower network trained on fewer images for fewer epochs and rounds; the " ..
    "study averages seeds, and its crossbar counts are of its own width."):format(found.path,
    table.concat(parts, "; "))
end

local ENERGY = {"xbar", "adc", "dac", "buffer", "write", "reprogram"}
M.energy_components = ENERGY

--- The modeled training of `map` against `dense_map` on `arch`: the fields a
-- result row carries (speedup, energy_saving, training_saving: the training
-- arrays, forward_saving: what the mapping alone saves, chip_crossbars,
-- training_crossbars) and the energy per image by component for a bar chart.
function M.modeled(arch, dense_map, map, batch)
  local rp = require "realprune"
  local c = rp.reram.compare(dense_map, map, arch, {batch = batch})
  local row = {speedup = c.speedup, energy_saving = c.energy_saving,
    training_saving = c.hardware_saving, forward_saving = c.forward_saving,
    chip_crossbars = c.b.chip_crossbars, training_crossbars = c.b.crossbars}
  local function energy(sim)
    local e = {}
    for _, k in ipairs(ENERGY) do e[k] = sim.energy[k] end
    return e
  end
  return row, energy(c.b), energy(c.a), c
end

--- A stacked bar chart of energy per image by component, one bar per row
-- ({method=, xbar=, adc=, ...}), in the run's folder.
function M.energy_plot(ctx, rows, title)
  return ctx:plot_bars("energy_breakdown", {rows = rows, label = "method", stack = ENERGY,
    title = title, ylabel = "modeled training energy per image (J)"})
end

--- Usage text of a recipe: its description and options with defaults.
function M.usage(r)
  local lines = {("%s: %s"):format(r.name, r.description or ""), "options:"}
  local keys = {}
  for k in pairs(r.defaults) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    lines[#lines + 1] = ("  --%-18s %s (default %s)"):format(k, kind_of(r.defaults[k]),
      tostring(r.defaults[k]))
  end
  lines[#lines + 1] = "  --out DIR, --seed N, --seeds 1,2,3, --quick, --resume, --help"
  return table.concat(lines, "\n")
end

return M
