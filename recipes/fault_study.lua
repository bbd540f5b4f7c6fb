--- fault_study: how crossbar-aware pruning and stuck-at faults interact. Each
-- method (dense, realprune, cgp, lth) trains a network and prunes it for
-- several lottery-ticket rounds; the final network is then mapped onto
-- crossbars whose cells are stuck at the high- or low-resistance state at
-- each rate of `rates` (SA0 : SA1 = `sa0_share` : 1 - `sa0_share`, as MNSIM
-- splits them), `draws` fault maps per rate, and evaluated with the weights
-- its cells hold (rp.faults). Pruned segments that are never mapped carry no
-- cells and so no faults: a network on fewer crossbars has fewer faulty
-- cells. Rows: method, rate, accuracy (mean over draws), cells, stuck cells,
-- faulty weights. The figure: accuracy against the stuck-at rate per method.
--
--     build/realprune sweep recipes/fault_study.lua --seeds 1,2,3     (mean ± std over seeds)
--     build/realprune run recipes/fault_study.lua --quick
return {
  name = "fault_study",
  description = "test accuracy against the stuck-at fault rate for dense, realprune, cgp and lth",
  defaults = {methods = "dense,realprune,cgp,lth", model = "vgg11", width = 0.25,
    train_images = 6000, test_images = 1000, epochs = 2, rate = 0.45, rounds = 4,
    rates = "0,0.001,0.005,0.01,0.02,0.05,0.1", sa0_share = 0.9, draws = 2, arch = "isaac",
    clip = require("realprune.recipe").training.clip},
  quick = {train_images = 600, test_images = 200, epochs = 1, rounds = 1, width = 0.125,
    rates = "0,0.01,0.1", draws = 1},
  row_keys = {"method", "rate"},
  run = function(ctx)
    local rp = require "realprune"
    local recipe = require "realprune.recipe"
    local o = ctx.opts
    local rates = {}
    for v in o.rates:gmatch("[^,]+") do
      local r = tonumber(v)
      if not r or r < 0 or r > 1 then
        error(("option --rates expects numbers in [0, 1] separated by commas, got %q"):format(
          o.rates), 0)
      end
      rates[#rates + 1] = r
    end
    local pad = o.model == "vgg_small" and 0 or 2
    local train = rp.data.fashion_mnist{split = "train"}:subset(o.train_images, ctx.seed)
      :pad(pad)
    local test = rp.data.fashion_mnist{split = "test"}:subset(o.test_images, ctx.seed):pad(pad)
    local size = 28 + 2 * pad
    local cfg = rp.reram.xbar_config(rp.reram.presets[o.arch])
    ctx:log("%s (width %g) on Fashion-MNIST at 1x%dx%d; crossbars of %s (%dx%d, %d-bit " ..
      "weights in %d-bit cells, %s)", o.model, o.width, size, size, o.arch, cfg.rows, cfg.cols,
      cfg.weight_bits, cfg.cell_bits, cfg.signed)
    local loader = test:loader{batch_size = 500}
    for name in o.methods:gmatch("[^,]+") do
      rp.seed(ctx.seed)
      local model = rp.models[o.model]{in_channels = 1, input_size = size, classes = 10,
        width = o.width}
      local lth = {model = model, train = train, test = test, xbar = cfg, fit = recipe.fit(o),
        seed = ctx.seed, dir = ctx:path(name), log = function(l) ctx:log("%s", l) end}
      if name == "dense" then
        lth.schedule = function() return nil end
      else
        local s = rp.strategies.copy(name)
        s.rate, s.rounds = o.rate, o.rounds
        lth.strategy = s
      end
      local rows = rp.lth.run(lth)
      local last = rows[#rows]
      model:evaluate()
      for _, rate in ipairs(rates) do
        local acc, cells, stuck, faulty = 0, 0, 0, 0
        for d = 1, o.draws do
          local f = rp.faults.sample(model, cfg, {sa0 = rate * o.sa0_share,
            sa1 = rate * (1 - o.sa0_share), seed = ctx.seed * 7919 + d})
          rp.faults.attach(model, f)
          acc = acc + rp.train.evaluate(model, loader).accuracy
          rp.faults.detach(model)
          cells, stuck = f.total.cells, stuck + f.total.sa0 + f.total.sa1
          faulty = faulty + f.total.faulty
        end
        ctx:record{method = name, rate = rate, accuracy = acc / o.draws, ideal = last.accuracy,
          sparsity = last.sparsity, crossbars = last.crossbars, cells = cells,
          stuck_cells = stuck / o.draws, faulty_weights = faulty / o.draws}
        ctx:log("%s: stuck-at rate %g: accuracy %.2f%% (ideal cells %.2f%%), %d cells, %.0f " ..
          "stuck", name, rate, 100 * acc / o.draws, 100 * last.accuracy, cells, stuck / o.draws)
      end
    end
    ctx:plot("accuracy_vs_fault_rate", {x = "rate", y = "accuracy", series = "method",
      title = o.model .. ": test accuracy against the stuck-at rate of the cells",
      xlabel = "fraction of cells stuck (SA0 + SA1)", ylabel = "test accuracy"})
  end,
}
