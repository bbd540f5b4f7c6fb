--- prune_compare: lottery-ticket pruning with several strategies, round by
-- round — the paper's comparison: accuracy against sparsity per method (a
-- figure), crossbars and hardware saving per method at matched accuracy, and
-- the modeled ReRAM training speedup and energy saving per method (tables).
--
--     build/realprune run recipes/prune_compare.lua            (full form: CIFAR-10 + vgg11
--         when it is under REALPRUNE_DATA, else all of Fashion-MNIST with vgg_small)
--     build/realprune run recipes/prune_compare.lua --train_images 20000 --clip 0
--         (the README's run: no gradient clipping)
--     build/realprune run recipes/prune_compare.lua --quick
--
-- Each strategy starts from the same initialization (the seed), trains the
-- dense network for `epochs`, then prunes `rate` of the alive groups per round,
-- rewinding (filter: fine-tuning) and retraining `epochs` each round (SGD, lr
-- 0.05, momentum 0.9, weight decay 5e-4, cosine per round). --dataset
-- fashion_mnist forces Fashion-MNIST. An interrupted run continues with --resume.
return {
  name = "prune_compare",
  description = "lottery-ticket pruning with several strategies: accuracy, crossbars, modeled " ..
    "speedup",
  defaults = {strategies = "realprune,lth,cgp", model = "vgg_small", full_model = "vgg11",
    dataset = "auto", train_images = 0, test_images = 0, epochs = 3, rate = 0.3, rounds = 7,
    lr = require("realprune.recipe").training.lr,
    batch = require("realprune.recipe").training.batch,
    arch = "isaac", backward = "preset", chip = "dense", headroom = 0.0,
    tolerance = 0.005, clip = require("realprune.recipe").training.clip},
  quick = {train_images = 2000, test_images = 1000, epochs = 1, rounds = 2, rate = 0.5},
  run = function(ctx)
    local rp = require "realprune"
    local o = ctx.opts
    local train, test, build = require("realprune.recipe").paper_data(ctx, o)
    local recipe = require "realprune.recipe"
    local arch = recipe.chip(o)
    local cfg = rp.reram.xbar_config(arch)
    local dense_map
    local energy = {}
    for name in o.strategies:gmatch("[^,]+") do
      local s = rp.strategies.copy(name)
      s.rate, s.rounds = o.rate, o.rounds
      rp.seed(ctx.seed)
      local model = build()
      dense_map = dense_map or rp.xbar.map(model, cfg)
      ctx:log("== %s: %s", name, s.follows)
      local last_map
      local rows = rp.lth.run{model = model, train = train, test = test, strategy = s, xbar = cfg,
        fit = require("realprune.recipe").fit(o),
        seed = ctx.seed,
        dir = ctx:path(name), log = function(l) ctx:log("%s", l) end,
        on_round = function() last_map = rp.xbar.map(model, cfg) end}
      for i, r in ipairs(rows) do
        local row = ctx:record{method = name, round = r.round, sparsity = r.sparsity,
          alive = r.alive, crossbars = r.crossbars, crossbars_dense = r.crossbars_dense,
          hardware_saving = r.hardware_saving, accuracy = r.accuracy,
          best_accuracy = r.best_accuracy, seconds = r.seconds}
        if i == #rows then
          local hw, e, e_dense = recipe.modeled(arch, dense_map,
            last_map or rp.xbar.map(model, cfg), o.batch)
          for k, v in pairs(hw) do row[k] = v end
          if #energy == 0 then
            e_dense.method = "dense"
            energy[1] = e_dense
          end
          e.method = name
          energy[#energy + 1] = e
        end
      end
    end
    recipe.energy_plot(ctx, energy, ("%s: modeled training energy per image after the last " ..
      "round (%s, %s)"):format(o.model, arch.name, arch.backward))
    ctx:plot("accuracy_vs_sparsity", {x = "sparsity", y = "accuracy", series = "method",
      title = ("%s: test accuracy per lottery-ticket round"):format(o.model),
      xlabel = "fraction of weights pruned", ylabel = "test accuracy"})
  end,
  -- tables of the paper's kind, appended to report.md
  report = function(rows, o)
    local report = require "realprune.report"
    local by, dense = {}, nil
    for _, r in ipairs(rows) do
      by[r.method] = by[r.method] or {}
      table.insert(by[r.method], r)
      if r.round == 0 then dense = dense or r end
    end
    local matched, final = {}, {}
    for method, list in pairs(by) do
      -- the sparsest round whose accuracy is within `tolerance` of the dense one
      local best
      for _, r in ipairs(list) do
        if dense and r.accuracy >= dense.accuracy - o.tolerance and
            (not best or r.sparsity > best.sparsity) then best = r end
      end
      if best then
        matched[#matched + 1] = {method = method, round = best.round, sparsity = best.sparsity,
          accuracy = best.accuracy, crossbars = best.crossbars,
          hardware_saving = best.hardware_saving}
      end
      local last = list[#list]
      final[#final + 1] = {method = method, sparsity = last.sparsity, accuracy = last.accuracy,
        speedup = last.speedup, energy_saving = last.energy_saving,
        hardware_saving = last.hardware_saving, training_saving = last.training_saving,
        chip_crossbars = last.chip_crossbars}
    end
    table.sort(matched, function(a, b) return a.method < b.method end)
    table.sort(final, function(a, b) return a.method < b.method end)
    local ours
    for _, r in ipairs(final) do if r.method == "realprune" then ours = r end end
    return table.concat({
      require("realprune.paper").beside(ours, o.model),
      ("## Crossbars at matched accuracy (within %.1f points of dense, %.2f%%)\n"):format(
        100 * o.tolerance, dense and 100 * dense.accuracy or 0),
      report.table(matched, {columns = {"method", "round", "sparsity", "accuracy", "crossbars",
        "hardware_saving"}}),
      "\n## Modeled ReRAM training after the last round\n",
      select(2, require("realprune.recipe").chip(o)) .. " hardware_saving: the forward " ..
      "crossbars (what the mapping saves); training_saving: every array training needs " ..
      "(forward, error and gradient). Energy by component: energy_breakdown.png.\n",
      report.table(final, {columns = {"method", "sparsity", "accuracy", "hardware_saving",
        "training_saving", "chip_crossbars", "speedup", "energy_saving"}}), ""}, "\n")
  end,
}
