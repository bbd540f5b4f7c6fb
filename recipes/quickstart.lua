--- quickstart: the main job of `make run`. On Fashion-MNIST it trains the
-- dense vgg_small, prunes it with realprune, lth and cgp for several
-- lottery-ticket rounds, and prints one table: method, weights pruned,
-- test accuracy, crossbars, hardware saving, and the modeled ReRAM training
-- speedup and energy saving against the dense network (ISAAC-like chip).
--
--     build/realprune run recipes/quickstart.lua            (about 5 minutes on 2 cores)
--     build/realprune run recipes/quickstart.lua --quick    (under a minute)
return {
  name = "quickstart",
  description = "dense vgg_small vs realprune, lth and cgp on Fashion-MNIST, with the ReRAM model",
  defaults = {strategies = "realprune,lth,cgp", train_images = 10000, test_images = 2000,
    epochs = 2, rate = 0.45, rounds = 4, arch = "isaac",
    clip = 5.0},
  quick = {train_images = 4000, test_images = 1000, epochs = 2, rate = 0.55, rounds = 3},
  -- the paper's headline numbers beside ours, in report.md
  report = function(rows)
    local ours
    for _, r in ipairs(rows) do if r.method == "realprune" then ours = r end end
    return require("realprune.recipe").beside_paper(ours, "vgg_small")
  end,
  run = function(ctx)
    local clip = require("realprune.recipe").clip
    local rp = require "realprune"
    local o = ctx.opts
    local arch = rp.reram.presets[o.arch]
    if not arch then error("no ReRAM preset named " .. o.arch, 0) end
    local cfg = rp.reram.xbar_config(arch)
    local train = rp.data.fashion_mnist{split = "train"}:subset(o.train_images, ctx.seed)
    local test = rp.data.fashion_mnist{split = "test"}:subset(o.test_images, ctx.seed)
    local dense_map, dense_row
    local curve = {} -- accuracy against sparsity, every round of every method
    for name in o.strategies:gmatch("[^,]+") do
      local s = rp.strategies.copy(name)
      s.rate, s.rounds = o.rate, o.rounds
      rp.seed(ctx.seed)
      local model = rp.models.vgg_small{}
      dense_map = dense_map or rp.xbar.map(model, cfg)
      local rows = rp.lth.run{model = model, train = train, test = test, strategy = s,
        fit = {epochs = o.epochs, lr = 0.05, batch_size = 64, clip_grad_norm = clip(o)},
        seed = ctx.seed, xbar = cfg,
        dir = ctx:path(name), log = function(l) ctx:log("%s", l) end}
      for _, r in ipairs(rows) do
        curve[#curve + 1] = {method = name, sparsity = r.sparsity, accuracy = r.accuracy,
          crossbars = r.crossbars}
      end
      if not dense_row then
        dense_row = ctx:record{method = "dense", pruned = 0, accuracy = rows[1].accuracy,
          crossbars = rows[1].crossbars, hardware_saving = 0, speedup = 1, energy_saving = 0}
      end
      local last = rows[#rows]
      local c = rp.reram.compare(dense_map, rp.xbar.map(model, cfg), arch, {batch = 64})
      ctx:record{method = name, pruned = last.sparsity, accuracy = last.accuracy,
        crossbars = last.crossbars, hardware_saving = last.hardware_saving,
        speedup = c.speedup, energy_saving = c.energy_saving}
    end
    ctx:plot("accuracy_vs_sparsity", {rows = curve, x = "sparsity", y = "accuracy",
      series = "method", title = "vgg_small on Fashion-MNIST: lottery-ticket rounds",
      xlabel = "fraction of weights pruned", ylabel = "test accuracy"})
    ctx:plot("crossbars_vs_sparsity", {rows = curve, x = "sparsity", y = "crossbars",
      series = "method", title = "Crossbars needed (" .. o.arch .. " crossbars)",
      xlabel = "fraction of weights pruned", ylabel = "crossbars"})
    local lines = {("%-10s %9s %9s %9s %9s %9s %9s"):format("method", "pruned%", "acc%",
      "xbars", "saving%", "speedup", "energy%")}
    for _, r in ipairs(ctx.rows) do
      lines[#lines + 1] = ("%-10s %9.1f %9.2f %9d %9.1f %8.1fx %9.1f"):format(r.method,
        100 * r.pruned, 100 * r.accuracy, r.crossbars, 100 * r.hardware_saving, r.speedup,
        100 * r.energy_saving)
    end
    ctx:log("\n%s\n(modeled training on the %s preset, batch 64; speedup and energy saving " ..
      "against the dense network)", table.concat(lines, "\n"), o.arch)
  end,
}
