--- hardware_sweep: ReaLPrune under different crossbar sizes (64, 128, 256) and
-- cell bits (1, 2, 4), with the modeled ReRAM training speedup and energy
-- saving of each pruned network against its dense counterpart on the same chip.
--
--     build/realprune run recipes/hardware_sweep.lua --sizes 64,128,256 --cell_bits 1,2,4
--
-- The pruning groups follow the crossbar (a column segment is `rows` long), so
-- each configuration prunes and retrains on its own. The chip is the preset's
-- (--arch) with the configuration's crossbars. The full form (the defaults) uses
-- CIFAR-10 with vgg11 when it is under REALPRUNE_DATA, else all of Fashion-MNIST.
return {
  name = "hardware_sweep",
  description = "realprune across crossbar sizes and cell bits, with the ReRAM model",
  defaults = {sizes = "64,128,256", cell_bits = "1,2,4", weight_bits = 16, arch = "isaac",
    model = "vgg_small", full_model = "vgg11", dataset = "auto", train_images = 0,
    test_images = 0, epochs = 2, rate = 0.45, rounds = 4,
    clip = 5.0},
  quick = {sizes = "64,128", cell_bits = "2", train_images = 2000, test_images = 1000,
    epochs = 1, rounds = 2, rate = 0.55},
  run = function(ctx)
    local clip = require("realprune.recipe").clip
    local rp = require "realprune"
    local o = ctx.opts
    local arch = rp.reram.presets[o.arch]
    if not arch then error("no ReRAM preset named " .. o.arch, 0) end
    local train, test, build = require("realprune.recipe").paper_data(ctx, o)
    local configs = {}
    for size in o.sizes:gmatch("[^,]+") do
      configs[#configs + 1] = {rows = tonumber(size), cols = tonumber(size), cell_bits = 2}
    end
    for cb in o.cell_bits:gmatch("[^,]+") do
      if tonumber(cb) ~= 2 then configs[#configs + 1] = {rows = 128, cols = 128, cell_bits = tonumber(cb)} end
    end
    for _, c in ipairs(configs) do
      local cfg = rp.xbar.config{rows = math.tointeger(c.rows), cols = math.tointeger(c.cols),
        weight_bits = o.weight_bits, cell_bits = math.tointeger(c.cell_bits)}
      local chip = {}
      for k, v in pairs(arch) do chip[k] = v end
      chip.xbar = {rows = cfg.rows, cols = cfg.cols, weight_bits = cfg.weight_bits,
        cell_bits = cfg.cell_bits}
      local s = rp.strategies.copy("realprune")
      s.rate, s.rounds = o.rate, o.rounds
      rp.seed(ctx.seed)
      local model = build()
      local dense = rp.xbar.map(model, cfg)
      local tag = ("%dx%d_%db"):format(cfg.rows, cfg.cols, cfg.cell_bits)
      local rows = rp.lth.run{model = model, train = train, test = test, strategy = s, xbar = cfg,
        fit = {epochs = o.epochs, lr = 0.05, batch_size = 64, clip_grad_norm = clip(o)},
        seed = ctx.seed,
        dir = ctx:path(tag), log = function(l) ctx:log("%s", l) end}
      local last = rows[#rows]
      local cmp = rp.reram.compare(dense, rp.xbar.map(model, cfg), chip, {batch = 64})
      ctx:record{method = tag, rows_per_xbar = cfg.rows, cell_bits = cfg.cell_bits,
        sparsity = last.sparsity, accuracy = last.accuracy, crossbars = last.crossbars,
        crossbars_dense = last.crossbars_dense, hardware_saving = last.hardware_saving,
        speedup = cmp.speedup, energy_saving = cmp.energy_saving}
    end
  end,
}
