--- paper_study: one method on one conv-dominated network, round by round
-- until at least 95% of the weights are pruned — the unit of the reference
-- study (docs/results/), meant to be run as a sweep over methods, networks
-- and seeds:
--
--     build/realprune sweep recipes/paper_study.lua \
--         --grid "model=vgg11 method=realprune,cgp,lth,filter,random,aligned" --seeds 1,2,3
--
-- Data: Fashion-MNIST, each 28x28 image padded with 2 rows and columns of
-- background to 1x32x32 (the input of the CIFAR-style vgg11 and resnet20),
-- `train_images` of the 60,000 (0: all) and `test_images` of the 10,000.
-- Each round trains `epochs` (SGD, momentum 0.9, weight decay 5e-4, cosine
-- per round), then prunes `rate` of each layer's alive groups (lth: of all
-- weights) and rewinds to the initialization (filter: fine-tunes). With the
-- defaults, 0.6^6 = 4.7% of the prunable groups are left after 6 rounds.
-- After the last round of a lottery-ticket method (realprune, cgp, lth,
-- random, aligned), the control of Frankle & Carbin trains the same final
-- mask from a fresh initialization (method `NAME+reinit`; its data order also
-- differs, as its seed does). method = "sensitive" is realprune with
-- per-layer rates from a sensitivity analysis of the trained dense network
-- (rp.prune.sensitivity on 1,000 held-out training images: with a_l the
-- largest amount layer l takes alone for at most one point of accuracy and
-- m their mean, its rate is rate * (1/2 + a_l / (2m)), at most 0.9: from
-- half the rate for the touchiest layers up). method = "dense"
-- trains the dense network for `dense_epochs` only: the longer baseline that
-- shows how far the study's short training is from converged. The last
-- round also carries the modeled ReRAM training against the dense network,
-- in both backward modes (transposed copy and bidirectional reads).
local function data(ctx, o)
  local rp = require "realprune"
  local train = rp.data.fashion_mnist{split = "train"}
  local test = rp.data.fashion_mnist{split = "test"}
  if o.train_images > 0 and o.train_images < #train then
    train = train:subset(o.train_images, ctx.seed)
  end
  if o.test_images > 0 and o.test_images < #test then
    test = test:subset(o.test_images, ctx.seed)
  end
  return train:pad(2), test:pad(2)
end

local LOTTERY = {realprune = true, cgp = true, lth = true, random = true, aligned = true,
  sensitive = true}

-- realprune's strategy with per-layer rates from a sensitivity analysis of
-- the network trained in round 0 (computed when round 1 asks for its spec)
local function sensitive_schedule(rp, o, held_out, cfg, log)
  local rates
  return function(round, _, model)
    if round > o.rounds then return nil end
    if not rates then
      local sens = rp.prune.sensitivity(model, held_out:loader{batch_size = 500},
        {granularity = "column", xbar = cfg, exclude = "first_last"})
      local best = rp.prune.rates_from_sensitivity(sens, 0.01)
      local sum, n = 0, 0
      for _, a in pairs(best) do sum, n = sum + a, n + 1 end
      local mean = n > 0 and sum / n or 0
      rates = {}
      for name, a in pairs(best) do
        -- between half and one and a half the rate, by the layer's tolerance
        rates[name] = mean > 0 and math.min(0.9, o.rate * (0.5 + 0.5 * a / mean)) or o.rate
      end
      local parts = {}
      for name, r in pairs(rates) do parts[#parts + 1] = ("%s %.2f"):format(name, r) end
      table.sort(parts)
      log("sensitivity: per-layer rates " .. table.concat(parts, ", "))
    end
    return {granularity = "column", score = "l1", exclude = "first_last", amounts = rates}
  end
end

return {
  name = "paper_study",
  description = "one method on vgg11 or resnet20 (Fashion-MNIST at 32x32) until 95% pruned, " ..
    "with the re-init control and the ReRAM model",
  defaults = {model = "vgg11", method = "realprune", width = 1.0, train_images = 10000,
    test_images = 2000, epochs = 1, dense_epochs = 8, rate = 0.4, rounds = 6,
    lr = require("realprune.recipe").training.lr,
    batch = require("realprune.recipe").training.batch, arch = "isaac", chip = "dense",
    headroom = 0.0, clip = require("realprune.recipe").training.clip, control = true},
  quick = {train_images = 512, test_images = 256, rounds = 2, width = 0.25, dense_epochs = 1},
  row_keys = {"method", "round"},
  run = function(ctx)
    local rp = require "realprune"
    local recipe = require "realprune.recipe"
    local o = ctx.opts
    if o.model ~= "vgg11" and o.model ~= "resnet20" and o.model ~= "vgg16" then
      error(("option --model expects vgg11, resnet20 or vgg16, got %q"):format(o.model), 0)
    end
    local names = rp.strategies.names()
    names[#names + 1] = "sensitive"
    local known = {dense = true}
    for _, n in ipairs(names) do known[n] = true end
    if not known[o.method] then
      error(("option --method expects dense or a strategy (%s), got %q"):format(
        table.concat(names, ", "), o.method), 0)
    end
    local train, test = data(ctx, o)
    ctx:log("%s (width %g) on %s: %d training, %d test images, 1x32x32", o.model, o.width,
      train.name, #train, #test)
    local function build()
      return rp.models[o.model]{in_channels = 1, input_size = 32, classes = 10, width = o.width}
    end
    local arch = recipe.chip(o)
    local cfg = rp.reram.xbar_config(arch)
    local fit = recipe.fit(o)
    rp.seed(ctx.seed)
    local model = build()
    local dense_map = rp.xbar.map(model, cfg)
    if o.method == "dense" then
      local f = {}
      for k, v in pairs(fit) do f[k] = v end
      f.epochs = o.dense_epochs
      local rows = rp.lth.run{model = model, train = train, test = test, xbar = cfg, fit = f,
        schedule = function() return nil end, seed = ctx.seed, dir = ctx:path("dense"),
        log = function(l) ctx:log("%s", l) end}
      local r = rows[1]
      ctx:record{method = "dense", round = 0, epochs = o.dense_epochs, sparsity = 0,
        weights_remaining = 1, crossbars = r.crossbars, crossbars_dense = r.crossbars_dense,
        hardware_saving = 0, accuracy = r.accuracy, best_accuracy = r.best_accuracy}
      return
    end
    local lth = {model = model, train = train, test = test, xbar = cfg, fit = fit,
      seed = ctx.seed, dir = ctx:path(o.method), log = function(l) ctx:log("%s", l) end}
    if o.method == "sensitive" then
      local held = rp.data.fashion_mnist{split = "train"}:subset(1000, ctx.seed + 104729):pad(2)
      local sched = sensitive_schedule(rp, o, held, cfg, lth.log)
      lth.schedule = function(round, state) return sched(round, state, model) end
      lth.rewind = "init"
      ctx:log("== sensitive: realprune with per-layer rates from a sensitivity analysis")
    else
      local s = rp.strategies.copy(o.method)
      s.rate, s.rounds = o.rate, o.rounds
      ctx:log("== %s: %s", o.method, s.follows)
      lth.strategy = s
    end
    local rows = rp.lth.run(lth)
    local final_map = rp.xbar.map(model, cfg)
    for i, r in ipairs(rows) do
      local row = ctx:record{method = o.method, round = r.round, sparsity = r.sparsity,
        weights_remaining = 1 - r.sparsity, alive = r.alive, crossbars = r.crossbars,
        crossbars_dense = r.crossbars_dense, hardware_saving = r.hardware_saving,
        accuracy = r.accuracy, best_accuracy = r.best_accuracy, seconds = r.seconds}
      if i == #rows and i > 1 then
        for _, mode in ipairs{"transposed_copy", "bidirectional"} do
          local a = recipe.chip{arch = o.arch, chip = o.chip, headroom = o.headroom,
            backward = mode}
          local hw = recipe.modeled(a, dense_map, final_map, o.batch)
          local tag = mode == "transposed_copy" and "transposed" or "bidirectional"
          row["speedup_" .. tag] = hw.speedup
          row["energy_saving_" .. tag] = hw.energy_saving
          row["training_saving_" .. tag] = hw.training_saving
        end
        row.forward_saving = row.hardware_saving
      end
    end
    -- the control: the final mask, a fresh initialization, the same training
    if o.control and LOTTERY[o.method] and #rows > 1 then
      local masks = {}
      for i, l in ipairs(model:prunable()) do masks[i] = l.mask and l.mask:clone() end
      rp.seed(ctx.seed + 7919) -- another initialization than the ticket's
      local fresh = build()
      for i, l in ipairs(fresh:prunable()) do if masks[i] then l:set_mask(masks[i]) end end
      local control = rp.lth.run{model = fresh, train = train, test = test, xbar = cfg, fit = fit,
        schedule = function() return nil end, seed = ctx.seed + 7919,
        dir = ctx:path(o.method .. "_reinit"),
        log = function(l) ctx:log("reinit %s", l) end}
      local last, c = rows[#rows], control[1]
      ctx:record{method = o.method .. "+reinit", round = last.round, sparsity = c.sparsity,
        weights_remaining = 1 - c.sparsity, alive = c.alive, crossbars = c.crossbars,
        crossbars_dense = c.crossbars_dense, hardware_saving = c.hardware_saving,
        accuracy = c.accuracy, best_accuracy = c.best_accuracy, seconds = c.seconds}
    end
  end,
}
