--- Pruning: one step over docs/design.md's groups, sparsity, reports, schedules.
--
--     rp.prune.apply(model, {granularity = "column", amount = 0.2})   -- ReaLPrune's groups
--     rp.prune.apply(model, {granularity = "element", amount = 0.2, scope = "global"})
--     rp.prune.apply(model, {granularity = "block", block = {16, 8}, amount = 0.5})
--     print(rp.prune.sparsity(model))
--     print(rp.report.table(rp.prune.report(model)))
--
-- Groups (on the dense layout of each layer's matrix M, rows in blocks of the
-- crossbar's `rows`, columns in tiles of its L): element (one weight), column
-- (a row block x one column: a crossbar column segment), tile (a row block x a
-- column tile: a whole crossbar), row (one row x a column tile), filter (a
-- column of M: an output channel), channel (the kh*kw rows of an input channel
-- x all columns; one row for a linear layer), block (a x b from the top left).
-- Score: l1 (mean |w|), l2 (root mean w^2) — masked weights count as 0 — or
-- random (seeded). The step prunes n = floor(amount * alive_groups + 0.5) alive
-- groups of lowest score per layer (scope "layer") or over all layers ("global");
-- ties go to the group whose top-left weight comes first, then the earlier layer.
--
-- Spec fields: granularity, amount (in [0, 1]), score ("l1"), scope ("layer"),
-- xbar (a crossbar config; default rp.xbar.config{}), block ({a, b}, for
-- "block"), seed (for random scores; default 0) or generator, amounts (per-layer
-- amounts: a table by layer name or function(layer) -> amount; layer scope),
-- exclude (layer names, a function(layer) -> true, or "first_last": the first
-- conv and the last linear layer; none by default), align (column groups,
-- layer scope: round each row block's kept segments to the nearest multiple of
-- L, so that no crossbar is left partly empty — the `aligned` strategy),
-- faults (a fault map, rp.faults.sample: fault-aware pruning, l1 scores of
-- max(0, |w| - |w' - w|), w' what a weight's cells hold, so that the groups
-- whose stuck cells do the most damage go first; with no stuck cell the same
-- as l1).
--
-- Guard: a step never removes a layer's last alive group, so no layer is ever
-- cut off entirely (an amount of 1 leaves the best group of each layer).
-- @module realprune.prune

local core = require "realprune.core"
local names = require "realprune.names"
local T = require "realprune.tensor"
local xbar = require "realprune.xbar"

local prune = {}

local SPEC_FIELDS = {granularity = true, amount = true, score = true, scope = true, xbar = true,
  faults = true,
  block = true, seed = true, generator = true, amounts = true, exclude = true, align = true}

local function fail(msg, level) error("rp.prune.apply: " .. msg, (level or 1) + 1) end

local function excluded_set(model, layers, exclude)
  local set = {}
  if exclude == nil then return set end
  if exclude == "first_last" then
    -- the first conv and the last linear layer (or the first and last layers)
    local first, last = layers[1], layers[#layers]
    for _, l in ipairs(layers) do if l.kind == "conv" then first = l break end end
    for i = #layers, 1, -1 do if layers[i].kind == "linear" then last = layers[i] break end end
    set[first], set[last] = true, true
    return set
  end
  if type(exclude) == "function" then
    for _, l in ipairs(layers) do if exclude(l) then set[l] = true end end
    return set
  end
  if type(exclude) ~= "table" then
    fail("exclude must be a list of layer names, a function or \"first_last\"", 3)
  end
  local by_name = {}
  for _, l in ipairs(layers) do by_name[l.name] = l end
  for _, name in ipairs(exclude) do
    if not by_name[name] then
      fail(("exclude names layer '%s', which the model does not have"):format(tostring(name)), 3)
    end
    set[by_name[name]] = true
  end
  return set
end

local function check_amount(a, what)
  if type(a) ~= "number" or a ~= a or a < 0 or a > 1 then
    fail(("%s must be a number in [0, 1], got %s"):format(what, tostring(a)), 3)
  end
  return a
end

--- One pruning step on `model` (see the module description for `spec`).
-- Returns a table per layer name: {groups=, alive_before=, pruned=}.
function prune.apply(model, spec)
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    fail("a model expected", 2)
  end
  if type(spec) ~= "table" then fail("a spec table expected", 2) end
  for k in pairs(spec) do
    if not SPEC_FIELDS[k] then fail(("unknown spec field '%s'"):format(tostring(k)), 2) end
  end
  local gran = spec.granularity
  if not names.has("granularity", gran) then
    fail(("unknown granularity %s (%s)"):format(tostring(gran), names.plain("granularity")), 2)
  end
  local score = spec.score or "l1"
  if not names.has("score", score) then
    fail(("unknown score %s (%s)"):format(tostring(score), names.plain("score")), 2)
  end
  local scope = spec.scope or "layer"
  if not names.has("scope", scope) then
    fail(("scope must be %s, got %s"):format(names.quoted("scope"), tostring(scope)), 2)
  end
  local amount = spec.amount
  if spec.amounts == nil or scope == "global" then check_amount(amount, "amount") end
  if spec.align ~= nil and type(spec.align) ~= "boolean" then
    fail(("align must be true or false, got %s"):format(tostring(spec.align)), 2)
  end
  if spec.align and (gran ~= "column" or scope ~= "layer") then
    fail(("align needs granularity \"column\" and scope \"layer\", got %s and %s"):format(
      gran, scope), 2)
  end
  local block_a, block_b = 1, 1
  if gran == "block" then
    local b = spec.block
    if type(b) ~= "table" or math.type(b[1]) ~= "integer" or math.type(b[2]) ~= "integer" or
        b[1] < 1 or b[2] < 1 then
      fail("granularity \"block\" needs block = {a, b} (positive integers)", 2)
    end
    block_a, block_b = b[1], b[2]
  end
  -- rebuilt from its fields, so that an edited config never carries a stale L
  local cfg = spec.xbar or {}
  if type(cfg) ~= "table" then fail("xbar must be a crossbar config", 2) end
  cfg = xbar.config{rows = cfg.rows, cols = cfg.cols, weight_bits = cfg.weight_bits,
    cell_bits = cfg.cell_bits, signed = cfg.signed, compact_rows = cfg.compact_rows}
  local layers = model:prunable()
  if #layers == 0 then fail("the model has no conv or linear layers", 2) end
  local skip = excluded_set(model, layers, spec.exclude)
  local per_layer = spec.amounts
  if per_layer ~= nil and type(per_layer) ~= "table" and type(per_layer) ~= "function" then
    fail("amounts must be a table by layer name or a function(layer)", 2)
  end
  if type(per_layer) == "table" then
    local known = {}
    for _, l in ipairs(layers) do known[l.name] = true end
    for name in pairs(per_layer) do
      if not known[name] then
        fail(("amounts names layer '%s', which the model does not have"):format(tostring(name)), 2)
      end
    end
  end
  local faults = spec.faults
  if faults ~= nil then
    local rf = require "realprune.faults"
    if not rf.is_map(faults) then fail("faults must be a fault map (rp.faults.sample)", 2) end
    if score ~= "l1" then fail(("faults needs score \"l1\", got %s"):format(score), 2) end
    if #faults.layers ~= #layers then
      fail(("the fault map was drawn for another model (%d layers, this one has %d)"):format(
        #faults.layers, #layers), 2)
    end
  end
  local items, order = {}, {}
  for li, l in ipairs(layers) do
    if not skip[l] then
      local a = amount
      if type(per_layer) == "table" then a = per_layer[l.name] or amount or 0
      elseif type(per_layer) == "function" then a = per_layer(l) end
      if scope == "layer" then check_amount(a, "the amount of layer " .. l.name) end
      local C = l.weight:size(1)
      local R = l.weight:numel() // C
      local mask = l.mask and l.mask:clone() or T.ones(l.weight:shape())
      -- fault-aware: each weight's magnitude less the error its stuck cells make
      local w = l.weight
      if faults then
        local ok, v = pcall(require("realprune.faults").scores, faults, model, li)
        if not ok then fail(tostring(v):gsub("^rp%.faults%.scores: ", ""), 2) end
        w = v
      end
      items[#items + 1] = {weight = w, mask = mask, R = R, C = C,
        channel_rows = l.kind == "conv" and l.kh * l.kw or 1, amount = a or 0}
      order[#order + 1] = l
    end
  end
  local gen = spec.generator or (score == "random" and core.generator(spec.seed or 0)) or nil
  local res = core.prune_apply(items, {granularity = gran, score = score,
    scope = scope, amount = amount or 0, rows = cfg.rows, L = cfg.L,
    block_a = block_a, block_b = block_b, generator = gen, align = spec.align or false})
  local out = {}
  for i, l in ipairs(order) do
    l:adopt_mask(items[i].mask)
    out[l.name] = res[i]
  end
  return out
end

--- Fraction of the prunable weights (conv and linear) that are masked.
function prune.sparsity(model)
  local total, alive = 0, 0
  for _, l in ipairs(model:prunable()) do
    local n = l.weight:numel()
    total = total + n
    alive = alive + (l.mask and l.mask:count_nonzero() or n)
  end
  return total > 0 and 1 - alive / total or 0
end

--- Per-layer report rows: layer, kind, weights, alive, sparsity, crossbars,
-- crossbars_dense, utilization (with crossbar config `cfg`).
function prune.report(model, cfg)
  local map = xbar.map(model, cfg)
  local rows = {}
  for _, m in ipairs(map.layers) do
    rows[#rows + 1] = {layer = m.name, kind = m.kind, weights = m.weights, alive = m.alive,
      sparsity = 1 - m.alive / m.weights, crossbars = m.crossbars,
      crossbars_dense = m.crossbars_dense, utilization = m.utilization}
  end
  local t = map.total
  rows[#rows + 1] = {layer = "total", kind = "", weights = t.weights, alive = t.alive,
    sparsity = t.sparsity, crossbars = t.crossbars, crossbars_dense = t.crossbars_dense,
    utilization = t.utilization}
  return rows, map
end

-- ------------------------------------------------------------ schedules --
-- A schedule answers, before each pruning round r (1, 2, ...), with the spec
-- of that round's step, or nil when pruning is over. `state` holds what the
-- lottery-ticket engine knows: round, sparsity, crossbars, crossbars_dense.
-- Schedules are plain tables with a `next(self, round, state)` method, and any
-- function(round, state) -> spec works the same.

local Schedule = {}
Schedule.__index = Schedule

--- A copy of `base` (or {}) with the fields of `over` set over it.
function prune.merge(base, over)
  local out = {}
  for k, v in pairs(base or {}) do out[k] = v end
  for k, v in pairs(over or {}) do out[k] = v end
  return out
end
local merge = prune.merge

--- `iterative{rate=, rounds=, target_sparsity=, target_crossbars=, ...spec}`:
-- each round prunes `rate` of the alive groups, for `rounds` rounds or until
-- the sparsity reaches target_sparsity or the crossbars fall to target_crossbars.
function prune.iterative(o)
  o = o or {}
  if type(o.rate) ~= "number" or o.rate <= 0 or o.rate > 1 then
    error("rp.prune.iterative: rate must be a number in (0, 1]", 2)
  end
  if o.rounds == nil and o.target_sparsity == nil and o.target_crossbars == nil then
    error("rp.prune.iterative: give rounds, target_sparsity or target_crossbars", 2)
  end
  local spec = {}
  for k, v in pairs(o) do
    if k ~= "rate" and k ~= "rounds" and k ~= "target_sparsity" and k ~= "target_crossbars" then
      spec[k] = v
    end
  end
  return setmetatable({kind = "iterative", rate = o.rate, rounds = o.rounds,
    target_sparsity = o.target_sparsity, target_crossbars = o.target_crossbars, spec = spec,
    next = function(self, round, state)
      if self.rounds and round > self.rounds then return nil end
      if self.target_sparsity and state.sparsity and state.sparsity >= self.target_sparsity then
        return nil
      end
      if self.target_crossbars and state.crossbars and state.crossbars <= self.target_crossbars then
        return nil
      end
      return merge(self.spec, {amount = self.rate})
    end}, Schedule)
end

--- Sensitivity analysis: each prunable layer pruned alone (a copy of the
-- model), at each of `o.amounts`, and evaluated on `loader` without
-- retraining. `o`: {amounts = {0.3, 0.5, 0.7, 0.9}, granularity = "column",
-- score, xbar, exclude (layers left out: "first_last" or names)}. Returns
-- {base = accuracy unpruned, layers = {{name =, accuracy = {[amount] = acc}}}}.
function prune.sensitivity(model, loader, o)
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    fail("a model expected", 2)
  end
  if type(loader) ~= "table" or type(loader.epoch) ~= "function" then
    error("rp.prune.sensitivity: a loader (ds:loader{...}) expected", 2)
  end
  o = o or {}
  local amounts = o.amounts or {0.3, 0.5, 0.7, 0.9}
  for _, a in ipairs(amounts) do check_amount(a, "each of amounts") end
  local evaluate = require("realprune.train").evaluate
  local mode = model.training
  model:evaluate()
  local out = {base = evaluate(model, loader).accuracy, layers = {}}
  local layers = model:prunable()
  local skip = excluded_set(model, layers, o.exclude)
  for i, l in ipairs(layers) do
    local entry = {name = l.name, accuracy = {}, excluded = skip[l] or nil}
    if not skip[l] then
      for _, a in ipairs(amounts) do
        local m = model:clone()
        m:evaluate()
        local amt = {}
        for j, other in ipairs(m:prunable()) do amt[other.name] = j == i and a or 0 end
        prune.apply(m, {granularity = o.granularity or "column", score = o.score, xbar = o.xbar,
          amounts = amt})
        entry.accuracy[a] = evaluate(m, loader).accuracy
      end
    end
    out.layers[i] = entry
  end
  if mode then model:train() end
  out.amounts = amounts
  return out
end

--- Per-layer rates from a sensitivity analysis: for each layer the largest
-- tested amount whose accuracy drop from `base` is at most `drop`, scaled by
-- `scale` (so that an iterative schedule prunes `scale` of it per round).
-- Returns {layer name = rate}; excluded layers are absent.
function prune.rates_from_sensitivity(sens, drop, scale)
  scale = scale or 1
  local rates = {}
  for _, l in ipairs(sens.layers) do
    if not l.excluded then
      local best = 0
      for _, a in ipairs(sens.amounts) do
        if l.accuracy[a] and sens.base - l.accuracy[a] <= drop and a > best then best = a end
      end
      rates[l.name] = best * scale
    end
  end
  return rates
end

--- `oneshot{amount=, ...spec}`: a single step of `amount`.
function prune.oneshot(o)
  o = o or {}
  check_amount(o.amount, "prune.oneshot: amount")
  return setmetatable({kind = "oneshot", spec = merge(o),
    next = function(self, round) if round == 1 then return self.spec end end}, Schedule)
end

local function as_schedule(s)
  if type(s) == "function" then
    return {next = function(_, round, state) return s(round, state) end}
  end
  if type(s) == "table" and type(s.next) == "function" then return s end
  error("a schedule (rp.prune.iterative/oneshot/sequence or a function) expected", 3)
end

--- `sequence{s1, s2, ...}`: s1's rounds, then s2's (each counts its own rounds).
function prune.sequence(list)
  local parts = {}
  for i, s in ipairs(list or {}) do parts[i] = as_schedule(s) end
  if #parts == 0 then error("rp.prune.sequence: a list of schedules expected", 2) end
  return setmetatable({kind = "sequence", parts = parts, at = 1, offset = 0,
    next = function(self, round, state)
      while self.at <= #self.parts do
        local spec = self.parts[self.at]:next(round - self.offset, state)
        if spec then return spec end
        self.at, self.offset = self.at + 1, round - 1
      end
      return nil
    end}, Schedule)
end

--- Wraps a schedule or a function into an object with :next(round, state).
prune.as_schedule = as_schedule

return prune
