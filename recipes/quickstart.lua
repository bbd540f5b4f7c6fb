--- quickstart: the main job of `make run`. On Fashion-MNIST (padded to 1x32x32)
-- it trains a conv-dominated network (vgg11 at a quarter of its width by
-- default: its convolutions hold all but one of its crossbars), prunes it
-- with realprune, lth and cgp for several lottery-ticket rounds, and prints one
-- table: method, weights pruned, test accuracy, crossbars, the crossbars it
-- needs while staying within 0.5 points of dense (matched accuracy), the
-- hardware saving of the forward crossbars and of all training arrays, and the
-- modeled ReRAM training speedup and energy saving against the dense network:
-- by default on ISAAC's crossbars with a chip that just holds the dense network
-- (--arch, --backward, --chip, --headroom). It ends by setting its numbers
-- beside the shipped reference study (docs/results/) and saying why they differ.
--
--     build/realprune run recipes/quickstart.lua            (about 2.5 minutes on 2 cores)
--     build/realprune run recipes/quickstart.lua --quick    (under a minute)
return {
  name = "quickstart",
  description = "dense vgg11 (1/4 width) vs realprune, lth and cgp on Fashion-MNIST, with the " ..
    "ReRAM model",
  defaults = {strategies = "realprune,lth,cgp", model = "vgg11", width = 0.25,
    train_images = 8000, test_images = 2000, epochs = 2, rate = 0.45, rounds = 4,
    arch = "isaac", backward = "preset", chip = "dense", headroom = 0.0, tolerance = 0.005,
    clip = require("realprune.recipe").training.clip},
  quick = {train_images = 3000, test_images = 1000, epochs = 1, rate = 0.55, rounds = 3},
  -- the paper's headline numbers beside ours, in report.md
  report = function(rows, o)
    local recipe = require "realprune.recipe"
    local ours
    for _, r in ipairs(rows) do if r.method == "realprune" then ours = r end end
    local _, chip = recipe.chip(o)
    return require("realprune.paper").beside(ours, o.model) .. "\n" .. chip ..
      " hardware_saving: the " ..
      "forward crossbars (what the mapping saves); training_saving: every array training " ..
      "needs (forward, error and gradient). Energy per image by component: " ..
      "energy_breakdown.png.\n"
  end,
  run = function(ctx)
    local rp = require "realprune"
    local o = ctx.opts
    local recipe = require "realprune.recipe"
    local arch, chip_text = recipe.chip(o)
    local cfg = rp.reram.xbar_config(arch)
    local energy = {}
    local pad = o.model == "vgg_small" and 0 or 2 -- the CIFAR-style networks take 32x32
    local train = rp.data.fashion_mnist{split = "train"}:subset(o.train_images, ctx.seed)
      :pad(pad)
    local test = rp.data.fashion_mnist{split = "test"}:subset(o.test_images, ctx.seed):pad(pad)
    local size = 28 + 2 * pad
    ctx:log("%s (width %g) on Fashion-MNIST at 1x%dx%d: %d training, %d test images", o.model,
      o.width, size, size, #train, #test)
    local dense_map, dense_row
    local curve = {} -- accuracy against sparsity, every round of every method
    for name in o.strategies:gmatch("[^,]+") do
      local s = rp.strategies.copy(name)
      s.rate, s.rounds = o.rate, o.rounds
      rp.seed(ctx.seed)
      local model = rp.models[o.model]{in_channels = 1, input_size = size, classes = 10,
        width = o.width}
      dense_map = dense_map or rp.xbar.map(model, cfg)
      local rows = rp.lth.run{model = model, train = train, test = test, strategy = s,
        fit = require("realprune.recipe").fit(o),
        seed = ctx.seed, xbar = cfg,
        dir = ctx:path(name), log = function(l) ctx:log("%s", l) end}
      for _, r in ipairs(rows) do
        curve[#curve + 1] = {method = name, sparsity = r.sparsity, accuracy = r.accuracy,
          crossbars = r.crossbars}
      end
      -- matched accuracy: the fewest crossbars of a round within `tolerance` of dense
      local matched
      for _, r in ipairs(rows) do
        if r.accuracy >= rows[1].accuracy - o.tolerance and
            (not matched or r.crossbars < matched) then matched = r.crossbars end
      end
      local last = rows[#rows]
      local hw, e, e_dense, c = recipe.modeled(arch, dense_map, rp.xbar.map(model, cfg),
        recipe.training.batch)
      if not dense_row then
        dense_row = ctx:record{method = "dense", pruned = 0, accuracy = rows[1].accuracy,
          crossbars = rows[1].crossbars, matched_crossbars = rows[1].crossbars,
          hardware_saving = 0, training_saving = 0,
          training_crossbars = c.a.crossbars,
          chip_crossbars = hw.chip_crossbars, speedup = 1, energy_saving = 0}
        e_dense.method = "dense"
        energy[1] = e_dense
      end
      e.method = name
      energy[#energy + 1] = e
      ctx:record{method = name, pruned = last.sparsity, accuracy = last.accuracy,
        crossbars = last.crossbars, matched_crossbars = matched,
        hardware_saving = last.hardware_saving,
        training_saving = hw.training_saving, training_crossbars = hw.training_crossbars,
        chip_crossbars = hw.chip_crossbars, speedup = hw.speedup, energy_saving = hw.energy_saving}
    end
    recipe.energy_plot(ctx, energy, "Modeled training energy per image by component (" ..
      arch.name .. ", " .. arch.backward .. ")")
    ctx:plot("accuracy_vs_sparsity", {rows = curve, x = "sparsity", y = "accuracy",
      series = "method", title = o.model .. " on Fashion-MNIST: lottery-ticket rounds",
      xlabel = "fraction of weights pruned", ylabel = "test accuracy"})
    ctx:plot("crossbars_vs_sparsity", {rows = curve, x = "sparsity", y = "crossbars",
      series = "method", title = "Crossbars needed (" .. o.arch .. " crossbars)",
      xlabel = "fraction of weights pruned", ylabel = "crossbars"})
    local lines = {("%-10s %8s %7s %6s %8s %8s %7s %8s %8s %8s"):format("method", "pruned%",
      "acc%", "xbars", "matched", "saving%", "train", "train%", "speedup", "energy%")}
    for _, r in ipairs(ctx.rows) do
      lines[#lines + 1] = ("%-10s %8.1f %7.2f %6d %8s %8.1f %7d %8.1f %7.2fx %8.1f"):format(
        r.method, 100 * r.pruned, 100 * r.accuracy, r.crossbars,
        r.matched_crossbars and tostring(r.matched_crossbars) or "-", 100 * r.hardware_saving,
        math.floor(r.training_crossbars + 0.5), 100 * r.training_saving, r.speedup,
        100 * r.energy_saving)
    end
    ctx:log("\n%s\n(xbars and saving%%: forward crossbars, what the mapping saves; matched: " ..
      "the fewest crossbars of a round within %.1f points of dense; train and train%%: every " ..
      "array training needs, forward, error and gradient.\n%s Chip: %d crossbars; batch 64; " ..
      "speedup and energy saving against the dense network.)", table.concat(lines, "\n"),
      100 * o.tolerance, chip_text, ctx.rows[1].chip_crossbars)
    ctx:log("%s", recipe.reference_note(o.model, ctx.rows))
  end,
}
