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
-- Method "aware" (fault-aware pruning and remapping): on crossbars whose rows
-- keep their place (compact_rows = false), a chip's fault map is drawn for the
-- dense network at each rate of `aware_rates` (rp.faults.sample; the same seed
-- at every rate). realprune runs fault-unaware once and fault-aware once per
-- rate (rp.prune.apply's `faults`: the segments whose stuck cells do the most
-- damage go first). Each pruned network then meets the chip's faults
-- (rp.faults.restrict) with its segments packed side by side, as ReaLPrune
-- counts crossbars ("/packed"), or each on its own column ("/in-place", where
-- fault-aware pruning's scores hold), and remapped onto the least faulty
-- positions of the same crossbars (rp.faults.remap; "+remap"). Rows add
-- crossbars, moved (remapped segments) and, for every method, the cell
-- writes of its training and the most-written cell's lifetime in trainings
-- (rp.reram.endurance on `arch`, against the low end of
-- rp.reram.endurance_limits).
--
--     build/realprune sweep recipes/fault_study.lua --seeds 1,2,3     (mean ± std over seeds)
--     build/realprune run recipes/fault_study.lua --quick
return {
  name = "fault_study",
  description = "test accuracy against the stuck-at fault rate for dense, realprune, cgp and lth",
  defaults = {methods = "dense,realprune,cgp,lth,aware", model = "vgg11", width = 0.25,
    train_images = 6000, test_images = 1000, epochs = 2, rate = 0.45, rounds = 4,
    rates = "0,0.001,0.005,0.01,0.02,0.05,0.1", sa0_share = 0.9, draws = 2, arch = "isaac",
    aware_rates = "0.005,0.01,0.02",
    clip = require("realprune.recipe").training.clip},
  quick = {train_images = 600, test_images = 200, epochs = 1, rounds = 1, width = 0.125,
    rates = "0,0.01,0.1", draws = 1, aware_rates = "0.01"},
  row_keys = {"method", "rate"},
  run = function(ctx)
    local rp = require "realprune"
    local recipe = require "realprune.recipe"
    local o = ctx.opts
    local function rate_list(text, opt)
      local list = {}
      for v in text:gmatch("[^,]+") do
        local r = tonumber(v)
        if not r or r < 0 or r > 1 then
          error(("option --%s expects numbers in [0, 1] separated by commas, got %q"):format(
            opt, text), 0)
        end
        list[#list + 1] = r
      end
      return list
    end
    local rates = rate_list(o.rates, "rates")
    local aware_rates = rate_list(o.aware_rates, "aware_rates")
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
    local function new_model()
      rp.seed(ctx.seed)
      return rp.models[o.model]{in_channels = 1, input_size = size, classes = 10, width = o.width}
    end
    -- cell writes of the training the model went through, on `arch`
    local function wear(model)
      local e = rp.reram.endurance(model, o.arch, {batch = recipe.fit(o).batch_size or 128})
      return {cell_writes = e.writes, worst_cell_writes = e.worst, lifetime_trainings = e.runs}
    end
    local function lth_run(name, model, xcfg, prune_extra)
      local s = rp.strategies.copy("realprune")
      s.rate, s.rounds = o.rate, o.rounds
      return rp.lth.run{model = model, train = train, test = test, xbar = xcfg,
        fit = recipe.fit(o), seed = ctx.seed, dir = ctx:path(name), strategy = s,
        prune = prune_extra, log = function(l) ctx:log("%s", l) end}
    end
    -- fault-aware pruning and remapping at equal crossbars
    local function aware()
      local fixed = rp.xbar.config{rows = cfg.rows, cols = cfg.cols, weight_bits = cfg.weight_bits,
        cell_bits = cfg.cell_bits, signed = cfg.signed, compact_rows = false}
      local base = new_model()
      local base_rows = lth_run("realprune_rows_in_place", base, fixed)
      base:evaluate()
      local base_wear = wear(base)
      for ri, rate in ipairs(aware_rates) do
        local spec = {sa0 = rate * o.sa0_share, sa1 = rate * (1 - o.sa0_share),
          seed = ctx.seed * 7919 + 1}
        local chip = rp.faults.sample(new_model(), fixed, spec)
        local model = new_model()
        local rows = lth_run("fault_aware_" .. ri, model, fixed, {faults = chip})
        model:evaluate()
        -- ReaLPrune's crossbars pack a row block's segments side by side
        -- ("packed"); fault-aware pruning keeps each on its own cells ("in-place")
        for _, arm in ipairs{{"realprune", base, base_rows, base_wear, {"packed", "in_place"}},
                             {"fault-aware", model, rows, wear(model), {"in_place"}}} do
          local m, last = arm[2], arm[3][#arm[3]]
          for _, placement in ipairs(arm[5]) do
            for _, how in ipairs{"", "+remap"} do
              local po = {placement = placement}
              local f = how == "" and rp.faults.restrict(chip, m, po) or
                rp.faults.remap(chip, m, po)
              rp.faults.attach(m, f)
              local acc = rp.train.evaluate(m, loader).accuracy
              rp.faults.detach(m)
              local row = {method = ("%s/%s%s"):format(arm[1], placement:gsub("_", "-"), how),
                rate = rate, accuracy = acc, ideal = last.accuracy, sparsity = last.sparsity,
                crossbars = f.total.crossbars, cells = f.total.cells,
                stuck_cells = f.total.sa0 + f.total.sa1, faulty_weights = f.total.faulty,
                moved = f.total.moved or 0}
              for k, v in pairs(arm[4]) do row[k] = v end
              ctx:record(row)
              ctx:log("%s: stuck-at rate %g: accuracy %.2f%% (ideal cells %.2f%%), %d " ..
                "crossbars, %d stuck cells, %d segments moved", row.method, rate, 100 * acc,
                100 * last.accuracy, row.crossbars, row.stuck_cells, row.moved)
            end
          end
        end
      end
    end
    for name in o.methods:gmatch("[^,]+") do
      if name == "aware" then aware() goto continue end
      local model = new_model()
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
      local worn = wear(model)
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
        local row = {method = name, rate = rate, accuracy = acc / o.draws, ideal = last.accuracy,
          sparsity = last.sparsity, crossbars = last.crossbars, cells = cells,
          stuck_cells = stuck / o.draws, faulty_weights = faulty / o.draws}
        for k, v in pairs(worn) do row[k] = v end
        ctx:record(row)
        ctx:log("%s: stuck-at rate %g: accuracy %.2f%% (ideal cells %.2f%%), %d cells, %.0f " ..
          "stuck", name, rate, 100 * acc / o.draws, 100 * last.accuracy, cells, stuck / o.draws)
      end
      ::continue::
    end
    ctx:plot("accuracy_vs_fault_rate", {x = "rate", y = "accuracy", series = "method",
      title = o.model .. ": test accuracy against the stuck-at rate of the cells",
      xlabel = "fraction of cells stuck (SA0 + SA1)", ylabel = "test accuracy"})
  end,
}
