--- The lottery-ticket engine: train, prune, rewind, retrain (Frankle & Carbin
-- 2019; late rewinding after Frankle et al. 2020).
--
--     local rows = rp.lth.run{
--       model = rp.models.vgg_small{}, train = train_set, test = test_set,
--       fit = {epochs = 2, lr = 0.05},
--       strategy = rp.strategies.realprune,        -- or schedule= / prune= / rewind=
--       dir = "results/lth-vgg_small", seed = 1,
--     }
--     print(rp.report.table(rows))
--
-- Round 0 trains the dense network from its initialization. Each later round
-- asks the schedule for a pruning spec (nil ends the run), prunes the trained
-- network, rewinds the surviving weights and retrains them with the same
-- recipe. Rewind: "init" (the initialization), {epoch = e} (the weights after
-- epoch e of round 0), {iteration = k} (after k updates of round 0), or "none"
-- (keep the trained weights: fine-tuning, as filter pruning does).
--
-- BatchNorm policy: its weight, bias and running statistics are rewound with
-- the other weights, to their values at the rewind point; they are never pruned.
--
-- One row per round: round, sparsity, alive, crossbars, crossbars_dense,
-- hardware_saving, accuracy (test accuracy after the last epoch),
-- best_accuracy, epochs, seconds. With `dir`, the whole state is saved
-- atomically after every round (dir/lth.rpk); running again with the same dir
-- resumes after the last saved round and reaches the same rows (all but
-- `seconds`) as an uninterrupted run: every round's training is seeded from
-- (seed, round) alone.
-- @module realprune.lth

local core = require "realprune.core"
local optim = require "realprune.optim"
local train = require "realprune.train"
local prune = require "realprune.prune"
local xbar = require "realprune.xbar"
local checkpoint = require "realprune.checkpoint"

local lth = {}

-- Copies of every state tensor but the masks: what rewinding restores.
local function snapshot(model)
  local s = {}
  for _, e in ipairs(model:state()) do
    if not e[1]:match("mask$") then s[e[1]] = e[2]:clone() end
  end
  return s
end

local function restore(model, snap)
  for _, e in ipairs(model:state()) do
    local saved = snap[e[1]]
    if saved then e[2]:copy(saved) end
  end
  for _, l in ipairs(model:prunable()) do
    if l.mask then l:adopt_mask(l.mask) end -- masked weights back to exactly 0
  end
end

local function as_loader(v, what, batch, seed, shuffle)
  if type(v) == "table" and type(v.epoch) == "function" then return v end
  if type(v) == "table" and type(v.loader) == "function" then
    return v:loader{batch_size = batch, shuffle = shuffle, seed = seed}
  end
  error(("rp.lth.run: %s must be a data set or a loader"):format(what), 4)
end

local function make_optimizer(model, f)
  local params = model:parameters()
  if f.optimizer == "adam" then
    return optim.Adam(params, {lr = f.lr or 1e-3, weight_decay = f.weight_decay or 0})
  end
  local d = train.defaults
  return optim.SGD(params, {lr = f.lr or d.lr, momentum = f.momentum or d.momentum,
    weight_decay = f.weight_decay or d.weight_decay, nesterov = f.nesterov})
end

local merge = prune.merge

--- Runs the lottery-ticket procedure (see the module description). Options:
-- model, train, test, fit ({epochs=1, lr=0.05, momentum=0.9, weight_decay=5e-4,
-- batch_size=128, optimizer="sgd"|"adam", cosine=true}), schedule (from
-- rp.prune or a function(round, state) -> spec), prune (defaults merged into
-- every spec), rewind, strategy (a table from rp.strategies filling schedule,
-- prune and rewind), xbar (crossbar config for the counts), dir, seed (1),
-- on_start (function(round, model): called when a round is about to train,
-- after its pruning and rewinding), on_round (function(row): after it trained),
-- log (function(line); default print), progress.
-- @treturn table the rows
function lth.run(o)
  if type(o) ~= "table" then error("rp.lth.run: an options table expected", 2) end
  local model = o.model
  if type(model) ~= "table" or type(model.prunable) ~= "function" then
    error("rp.lth.run: model must be a model", 2)
  end
  local strat = o.strategy or {}
  local schedule = o.schedule or (strat.rate and prune.iterative{rate = strat.rate,
    rounds = o.rounds or strat.rounds, target_sparsity = o.target_sparsity
      or strat.target_sparsity})
  if not schedule then error("rp.lth.run: a schedule (or a strategy) is required", 2) end
  schedule = prune.as_schedule(schedule)
  local prune_defaults = merge(strat.prune, o.prune)
  local rewind = o.rewind or strat.rewind or "init"
  if not (rewind == "init" or rewind == "none" or (type(rewind) == "table" and
      (math.type(rewind.epoch) == "integer" or math.type(rewind.iteration) == "integer"))) then
    error("rp.lth.run: rewind must be \"init\", \"none\", {epoch = e} or {iteration = k}", 2)
  end
  local f = o.fit or {}
  local epochs = f.epochs or 1
  local seed = o.seed or 1
  local log = o.log or print
  local cfg = o.xbar or prune_defaults.xbar or xbar.config{}
  if getmetatable(cfg) == nil then cfg = xbar.config(cfg) end
  prune_defaults.xbar = cfg
  local train_loader = as_loader(o.train, "train", f.batch_size or 128, seed, true)
  local test_loader = o.test and as_loader(o.test, "test", 500, 0, false)
  local ckpt = o.dir and (o.dir .. "/lth.rpk")
  if o.dir then
    local ok, err = core.mkdir(o.dir)
    if not ok then error("rp.lth.run: " .. err, 2) end
  end

  local rows, start, rewind_state = {}, 0, nil
  local existing = ckpt and io.open(ckpt)
  if existing then existing:close() end
  if existing then
    local saved = checkpoint.load(ckpt)
    if type(saved) ~= "table" or saved.kind ~= "lth" then
      error("rp.lth.run: " .. ckpt .. " is not an lth checkpoint", 2)
    end
    checkpoint.load_state(model, saved.state, ckpt)
    rows, rewind_state, start = saved.rows, saved.rewind_state, saved.round + 1
    -- replay the schedule so that stateful schedules (sequences) pick up where they were
    for r = 1, saved.round do schedule:next(r, rows[r]) end
    log(("lth: resuming from %s after round %d"):format(ckpt, saved.round))
  end

  local function state_of(round)
    local map = xbar.map(model, cfg)
    return {round = round, sparsity = map.total.sparsity, alive = map.total.alive,
      crossbars = map.total.crossbars, crossbars_dense = map.total.crossbars_dense,
      hardware_saving = map.total.hardware_saving}
  end

  local init_state = start == 0 and snapshot(model) or nil
  if type(rewind) == "table" and (rewind.epoch == 0 or rewind.iteration == 0) then
    rewind = "init" -- rewinding to epoch or iteration 0 is rewinding to init
  end
  local round = start
  while true do
    local spec
    if round > 0 then
      spec = schedule:next(round, rows[round])
      if spec == nil then break end
      spec = merge(prune_defaults, spec)
      if spec.score == "random" and spec.seed == nil and spec.generator == nil then
        spec.seed = seed * 1009 + round -- a new random ranking every round
      end
      prune.apply(model, spec)
      if rewind ~= "none" then restore(model, rewind_state) end
    end
    if o.on_start then o.on_start(round, model) end
    core.default_generator():seed(seed * 1000003 + round)
    local opt = make_optimizer(model, f)
    local sched = f.cosine ~= false and epochs > 0 and optim.cosine(opt, {epochs = epochs}) or nil
    local best, last = 0, 0
    local t0 = core.clock()
    local capture = round == 0 and type(rewind) == "table" and rewind or nil
    train.fit(model, train_loader, {epochs = epochs, optimizer = opt, schedule = sched,
      round = round, clip_grad_norm = f.clip_grad_norm,
      progress = o.progress or false, log = function(line)
        log(("round %d %s"):format(round, line))
      end,
      on_batch = capture and capture.iteration and function(e, b)
        local done = (e - 1) * #train_loader + b
        if done == capture.iteration then rewind_state = snapshot(model) end
      end or nil,
      on_epoch = function(row)
        if capture and capture.epoch == row.epoch then rewind_state = snapshot(model) end
        if test_loader then
          local acc = row.test_accuracy or train.evaluate(model, test_loader).accuracy
          last = acc
          if acc > best then best = acc end
        end
      end,
      test = test_loader})
    if round == 0 then
      if rewind == "init" then rewind_state = init_state
      elseif type(rewind) == "table" and not rewind_state then
        error(("rp.lth.run: the rewind point %s is past the %d epochs of round 0"):format(
          rewind.epoch and ("epoch " .. rewind.epoch) or ("iteration " .. rewind.iteration),
          epochs), 2)
      end
    end
    local row = state_of(round)
    row.accuracy, row.best_accuracy, row.epochs = last, best, epochs
    row.seconds = core.clock() - t0
    rows[#rows + 1] = row
    log(("lth round %d: sparsity %.2f%%, %d of %d crossbars (%.1f%% saved), test accuracy %.2f%%")
      :format(round, 100 * row.sparsity, row.crossbars, row.crossbars_dense,
        100 * row.hardware_saving, 100 * row.accuracy))
    if ckpt then
      local state = {}
      for _, e in ipairs(model:state()) do state[e[1]] = e[2] end
      checkpoint.save(ckpt, {kind = "lth", round = round, rows = rows, state = state,
        rewind_state = rewind ~= "none" and rewind_state or nil, seed = seed})
    end
    if o.on_round then o.on_round(row) end
    round = round + 1
  end
  return rows
end

return lth
