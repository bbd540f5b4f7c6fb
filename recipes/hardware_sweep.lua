--- hardware_sweep: ReaLPrune under different crossbar sizes (64, 128, 256) and
-- cell bits (1, 2, 4), with the modeled ReRAM training speedup and energy
-- saving of each pruned network against its dense counterpart.
--
--     build/realprune run recipes/hardware_sweep.lua --sizes 64,128,256 --cell_bits 1,2,4
--
-- The pruning groups follow the crossbar (a column segment is `rows` long), so
-- each configuration prunes and retrains on its own. Each configuration is
-- modeled on three chips: one sized by --chip/--headroom for that
-- configuration's own dense network (speedup), one with the same number of
-- crossbars as the reference chip (128x128 crossbars, 2-bit cells, sized the
-- same way: speedup_equal_count) and one with the same area as the reference
-- chip (speedup_equal_area; a crossbar's area scales with its cells, its DACs
-- with its rows, while the ADC and the tile's share stay: an assumption). A
-- plot shows each configuration's speedup against the chip's headroom over
-- its dense network (-50% .. +400%). The full form (the defaults) uses
-- CIFAR-10 with vgg11 when it is under REALPRUNE_DATA, else all of
-- Fashion-MNIST.
return {
  name = "hardware_sweep",
  description = "realprune across crossbar sizes and cell bits, with the ReRAM model",
  defaults = {sizes = "64,128,256", cell_bits = "1,2,4", weight_bits = 16, arch = "isaac",
    backward = "preset", chip = "dense", headroom = 0.0,
    model = "vgg_small", full_model = "vgg11", dataset = "auto", train_images = 0,
    test_images = 0, epochs = 2, rate = 0.45, rounds = 4,
    clip = require("realprune.recipe").training.clip},
  quick = {sizes = "64,128", cell_bits = "2", train_images = 2000, test_images = 1000,
    epochs = 1, rounds = 2, rate = 0.55},
  report = function(rows, o)
    local _, chip = require("realprune.recipe").chip(o)
    return "## The modeled chips\n\n" .. chip .. " Each configuration's own chip is sized " ..
      "that way for its own dense network (speedup, chip_crossbars); speedup_equal_count " ..
      "holds every configuration to the crossbar count of the reference chip (128x128, 2-bit " ..
      "cells, sized the same way) and speedup_equal_area to its area (equal_area_crossbars). " ..
      "hardware_saving: the forward crossbars; training_saving: every training array. An " ..
      "empty speedup: that chip cannot hold one of the layers (see log.txt). The speedup " ..
      "against the chip's headroom: speedup_vs_headroom.png.\n"
  end,
  run = function(ctx)
    local recipe = require "realprune.recipe"
    local rp = require "realprune"
    local o = ctx.opts
    local base, chip_text = recipe.chip(o)
    ctx:log("%s", chip_text)
    local train, test, build = recipe.paper_data(ctx, o)
    local configs = {}
    for size in o.sizes:gmatch("[^,]+") do
      configs[#configs + 1] = {rows = tonumber(size), cols = tonumber(size), cell_bits = 2}
    end
    for cb in o.cell_bits:gmatch("[^,]+") do
      if tonumber(cb) ~= 2 then
        configs[#configs + 1] = {rows = 128, cols = 128, cell_bits = tonumber(cb)}
      end
    end
    local function with_xbar(arch, cfg)
      return rp.reram.preset(arch, {xbar = {rows = cfg.rows, cols = cfg.cols,
        weight_bits = cfg.weight_bits, cell_bits = cfg.cell_bits}})
    end
    -- the area of one crossbar with its periphery and share of the tile
    local function xbar_area(arch, cfg)
      local cells = cfg.rows * cfg.cols / (128 * 128)
      local dacs = 128 * 0.166015625e-6
      return arch.a_xbar * cells + (arch.a_periph - dacs) + dacs * cfg.rows / 128 +
        (arch.backward == "bidirectional" and arch.a_periph_backward or 0) + (arch.a_other or 0)
    end
    -- the reference chip: 128x128 crossbars with 2-bit cells, sized by --chip
    local ref_cfg = rp.xbar.config{weight_bits = o.weight_bits, cell_bits = 2}
    local ref = with_xbar(base, ref_cfg)
    local ref_chip = rp.reram.chip_crossbars(rp.xbar.map(build(), ref_cfg), ref)
    local ref_area = ref_chip * xbar_area(ref, ref_cfg)
    ctx:log("reference chip: %d crossbars of 128x128 (2-bit cells), %.1f mm^2", ref_chip, ref_area)
    local curve = {}
    for _, c in ipairs(configs) do
      local cfg = rp.xbar.config{rows = math.tointeger(c.rows), cols = math.tointeger(c.cols),
        weight_bits = o.weight_bits, cell_bits = math.tointeger(c.cell_bits)}
      local chip = with_xbar(base, cfg)
      local s = rp.strategies.copy("realprune")
      s.rate, s.rounds = o.rate, o.rounds
      rp.seed(ctx.seed)
      local model = build()
      local dense = rp.xbar.map(model, cfg)
      local tag = ("%dx%d_%db"):format(cfg.rows, cfg.cols, cfg.cell_bits)
      local rows = rp.lth.run{model = model, train = train, test = test, strategy = s, xbar = cfg,
        fit = require("realprune.recipe").fit(o),
        seed = ctx.seed,
        dir = ctx:path(tag), log = function(l) ctx:log("%s", l) end}
      local last = rows[#rows]
      local pruned = rp.xbar.map(model, cfg)
      local function speedup(arch)
        local ok, cmp = pcall(rp.reram.compare, dense, pruned, arch,
          {batch = recipe.training.batch})
        if ok then return cmp.speedup, cmp end
        ctx:log("%s: %s", tag, tostring(cmp))
        return nil
      end
      local own, cmp = speedup(chip)
      local n_area = math.floor(ref_area / xbar_area(chip, cfg))
      local row = ctx:record{method = tag, rows_per_xbar = cfg.rows, cell_bits = cfg.cell_bits,
        sparsity = last.sparsity, accuracy = last.accuracy, crossbars = last.crossbars,
        crossbars_dense = last.crossbars_dense, hardware_saving = last.hardware_saving,
        training_saving = cmp and cmp.hardware_saving,
        chip_crossbars = cmp and cmp.b.chip_crossbars,
        speedup = own, energy_saving = cmp and cmp.energy_saving,
        speedup_equal_count = speedup(rp.reram.preset(chip, {chip_crossbars = ref_chip})),
        equal_area_crossbars = n_area,
        speedup_equal_area = speedup(rp.reram.preset(chip, {chip_crossbars = n_area}))}
      ctx:log("%s: speedup %s on its own chip, %s at %d crossbars, %s at %d crossbars (equal area)",
        tag, tostring(row.speedup), tostring(row.speedup_equal_count), ref_chip,
        tostring(row.speedup_equal_area), n_area)
      for _, h in ipairs{-0.5, -0.25, 0, 0.25, 0.5, 1, 2, 4} do
        local v = speedup(rp.reram.preset(chip, {chip_crossbars = "dense", chip_headroom = h}))
        if v then curve[#curve + 1] = {method = tag, headroom = h, speedup = v} end
      end
    end
    ctx:plot("speedup_vs_headroom", {rows = curve, x = "headroom", y = "speedup",
      series = "method", title = "Modeled training speedup of the pruned network (" ..
      base.name .. ", " .. base.backward .. ")",
      xlabel = "chip crossbars over the dense network's training arrays, minus 1",
      ylabel = "speedup over the dense network"})
  end,
}
