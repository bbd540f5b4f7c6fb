--- The report of a reference study: reads the sweeps of recipes/paper_study.lua
-- and writes, into OUT, results.csv (every run's rows), report.md (the final
-- round per method and network with mean ± sample std over seeds, the
-- crossbars at matched accuracy, the paper's claims beside ours with a
-- verdict computed from the data, the crossbars row reordering would save),
-- and the figures (accuracy against weights remaining on a log axis and
-- against crossbars, with error bars; modeled training speedup and energy
-- per method in both backward modes).
--
--     build/realprune tools/study_report.lua OUT SWEEP_DIR [SWEEP_DIR ...]
--
-- Every number in the report is computed here from the runs' own files.
local rp = require "realprune"
local json = require "realprune.json"
local sweep = require "realprune.sweep"
local results = require "realprune.results"
local report = require "realprune.report"
local checkpoint = require "realprune.checkpoint"

local out = assert(arg[1], "usage: study_report.lua OUT SWEEP_DIR [SWEEP_DIR ...]")
local dirs = {table.unpack(arg, 2)}
assert(#dirs > 0, "usage: study_report.lua OUT SWEEP_DIR [SWEEP_DIR ...]")
assert(rp.core.mkdir(out))

local TOLERANCE = 0.005 -- matched accuracy: within 0.5 points of dense
local LOTTERY = {realprune = true, cgp = true, lth = true, random = true, aligned = true}

local function read(path)
  local f = io.open(path)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end

-- every done run's rows (with model, seed, width and the run folder)
local rows, runs_by_model, commands = {}, {}, {}
for _, dir in ipairs(dirs) do
  local record = json.decode(assert(read(dir .. "/sweep.json"), dir .. "/sweep.json"))
  commands[#commands + 1] = "realprune sweep " .. record.command
  for _, r in ipairs(sweep.collect(dir, record, record.runs)) do
    r.model = r.model or r.option_model
    r.run_dir = dir .. "/runs/" .. r.run
    rows[#rows + 1] = r
  end
  for _, run in ipairs(record.runs) do
    local m = run.options.model
    runs_by_model[m] = runs_by_model[m] or {}
    table.insert(runs_by_model[m], {dir = dir .. "/runs/" .. run.hash, options = run.options,
      seed = run.seed, done = sweep.state(dir, run.hash) == "done"})
  end
end
assert(#rows > 0, "no run of these sweeps is done")

local function mean_std(list, key)
  local s = results.summarize(list, {}, {key})[1]
  return s and s.mean[key], s and s.std[key], s and s.n
end
local function ms(m, sd, digits, scale)
  if not m then return "–" end
  scale = scale or 1
  return ("%." .. digits .. "f ± %." .. digits .. "f"):format(m * scale, sd * scale)
end

local models, by = {}, {}
-- a network is a model at a width (sweeps of other widths are other networks)
for _, r in ipairs(rows) do
  local key = (r.width and r.width ~= 1) and ("%s (width %g)"):format(r.model, r.width) or
    r.model
  if not by[key] then by[key] = {}; models[#models + 1] = key end
  by[key][r.method] = by[key][r.method] or {}
  table.insert(by[key][r.method], r)
end
table.sort(models)

-- the rows of one method at one round
local function at_round(list, round)
  local t = {}
  for _, r in ipairs(list) do if r.round == round then t[#t + 1] = r end end
  return t
end
local function last_round(list)
  local m = -1
  for _, r in ipairs(list) do if r.round > m then m = r.round end end
  return m
end

-- the dense network after the study's own training (round 0 of the lottery
-- methods: the same seed gives the same dense network in every method)
local function dense_rows(model)
  local t, names = {}, {}
  for name in pairs(by[model]) do names[#names + 1] = name end
  table.sort(names) -- the same row for a seed every time
  for _, name in ipairs(names) do
    if LOTTERY[name] then
      for _, r in ipairs(at_round(by[model][name], 0)) do t[#t + 1] = r end
    end
  end
  -- one row per seed
  local seen, one = {}, {}
  for _, r in ipairs(t) do if not seen[r.seed] then seen[r.seed] = true; one[#one + 1] = r end end
  return one
end

-- crossbars with the rows of each layer reordered, for a run's final masks
local reorder_cache = {}
local function reordered(model, method, run_dir, opts)
  local key = run_dir .. "|" .. method
  if reorder_cache[key] ~= nil then return reorder_cache[key] end
  local path = run_dir .. "/" .. method .. "/lth.rpk"
  local ok, saved = pcall(rp.load, path)
  if not ok then reorder_cache[key] = false; return false end
  local m = rp.models[model]{in_channels = 1, input_size = 32, classes = 10,
    width = opts.width}
  checkpoint.load_state(m, saved.state, path)
  local cfg = rp.reram.xbar_config(rp.reram.presets[opts.arch or "isaac"])
  local r = rp.xbar.reorder(m, cfg)
  reorder_cache[key] = r.total
  return r.total
end

local md = {"# Reference study: ReaLPrune against other pruning methods on conv-dominated " ..
  "networks\n"}
md[#md + 1] = "Made by `build/realprune tools/study_report.lua " .. out .. " " ..
  table.concat(dirs, " ") .. "` from the sweeps\n"
for _, c in ipairs(commands) do md[#md + 1] = "    " .. c end
md[#md + 1] = ""
md[#md + 1] = "Data: Fashion-MNIST padded to 1x32x32 (recipes/paper_study.lua). Mean ± sample " ..
  "std over seeds; `n` is the number of seeds. Accuracy is test accuracy after the round's " ..
  "training; weights remaining is the fraction of prunable weights alive.\n"

local all_final, claims, iso = {}, {}, {}
for _, model in ipairs(models) do
  local methods = {}
  for name in pairs(by[model]) do methods[#methods + 1] = name end
  table.sort(methods)
  local dense = dense_rows(model)
  local dm, dsd, dn = mean_std(dense, "accuracy")
  local long = by[model].dense or {}
  local lm, lsd, ln = mean_std(long, "accuracy")
  md[#md + 1] = ("## %s\n"):format(model)
  md[#md + 1] = ("Dense baseline with the study's training (round 0): %s%% (n = %d); the " ..
    "same network trained %s epochs (method dense): %s%% (n = %d): the gap is how far the " ..
    "study's short training is from converged.\n"):format(ms(dm, dsd or 0, 2, 100), dn or 0,
    tostring(long[1] and long[1].epochs or "?"), ms(lm, lsd or 0, 2, 100), ln or 0)
  -- the final round per method
  local final = {}
  for _, name in ipairs(methods) do
    local list = by[model][name]
    if name ~= "dense" then
      local rnd = last_round(list)
      local t = at_round(list, rnd)
      local row = {model = model, method = name, round = rnd, n = #t}
      for _, k in ipairs{"accuracy", "weights_remaining", "crossbars", "hardware_saving",
        "training_saving_transposed", "training_saving_bidirectional", "speedup_transposed",
        "speedup_bidirectional", "energy_saving_transposed", "energy_saving_bidirectional"} do
        row[k], row[k .. "_std"] = mean_std(t, k)
      end
      row.crossbars_dense = t[1] and t[1].crossbars_dense
      -- reordering (lottery methods' final masks)
      if LOTTERY[name] then
        local xs = {}
        for _, r in ipairs(t) do
          local re = reordered(r.model, name, r.run_dir, {width = r.width, arch = r.arch})
          if re then xs[#xs + 1] = {crossbars_reordered = re.crossbars_reordered} end
        end
        if #xs > 0 then row.crossbars_reordered = mean_std(xs, "crossbars_reordered") end
      end
      final[#final + 1] = row
      all_final[#all_final + 1] = row
    end
  end
  local tab = {}
  for _, f in ipairs(final) do
    tab[#tab + 1] = {method = f.method, n = f.n, round = f.round,
      weights_remaining = ms(f.weights_remaining, f.weights_remaining_std or 0, 2, 100) .. "%",
      accuracy = ms(f.accuracy, f.accuracy_std or 0, 2, 100) .. "%",
      crossbars = ("%s of %d"):format(ms(f.crossbars, f.crossbars_std or 0, 0),
        f.crossbars_dense or 0),
      reordered = f.crossbars_reordered and ("%.0f"):format(f.crossbars_reordered) or "–",
      forward_saving = f.hardware_saving and ("%.1f%%"):format(100 * f.hardware_saving) or "–",
      training_saving = f.training_saving_transposed and ("%.1f%% / %.1f%%"):format(
        100 * f.training_saving_transposed, 100 * f.training_saving_bidirectional) or "–",
      speedup = f.speedup_transposed and ("%.2fx / %.2fx"):format(f.speedup_transposed,
        f.speedup_bidirectional) or "–",
      energy_saving = f.energy_saving_transposed and ("%.1f%% / %.1f%%"):format(
        100 * f.energy_saving_transposed, 100 * f.energy_saving_bidirectional) or "–"}
  end
  md[#md + 1] = "### After the last round\n"
  md[#md + 1] = "`reordered`: the crossbars of the same final masks with each layer's rows " ..
    "reordered (rp.xbar.reorder). Training saving, speedup and energy saving: modeled " ..
    "ReRAM training against the dense network on ISAAC's crossbars with a chip that just " ..
    "holds the dense network, error pass on a transposed copy / by bidirectional reads. " ..
    "`+reinit`: the control of Frankle & Carbin (the same final mask, a fresh " ..
    "initialization).\n"
  md[#md + 1] = report.table(tab, {columns = {"method", "n", "round", "weights_remaining",
    "accuracy", "crossbars", "reordered", "forward_saving", "training_saving", "speedup",
    "energy_saving"}})
  md[#md + 1] = ""
  -- iso-accuracy: the sparsest round within TOLERANCE of dense
  local iso_tab = {}
  for _, name in ipairs(methods) do
    if name ~= "dense" and not name:find("+", 1, true) and dm then
      local list, best = by[model][name], nil
      for rnd = 0, last_round(list) do
        local t = at_round(list, rnd)
        local am = mean_std(t, "accuracy")
        if am and am >= dm - TOLERANCE then
          local cm = mean_std(t, "crossbars")
          local wm = mean_std(t, "weights_remaining")
          if not best or cm < best.crossbars then
            best = {method = name, round = rnd, accuracy = am, crossbars = cm,
              weights_remaining = wm}
          end
        end
      end
      iso_tab[#iso_tab + 1] = best and {method = name, round = best.round,
        accuracy = ("%.2f%%"):format(100 * best.accuracy),
        weights_remaining = ("%.1f%%"):format(100 * best.weights_remaining),
        crossbars = ("%.0f"):format(best.crossbars)} or
        {method = name, round = "–", accuracy = "never within 0.5 points", crossbars = "–",
          weights_remaining = "–"}
      iso[#iso + 1] = {model = model, method = name, crossbars = best and best.crossbars}
    end
  end
  md[#md + 1] = ("### Crossbars at matched accuracy (mean accuracy within %.1f points of " ..
    "dense, %.2f%%)\n"):format(100 * TOLERANCE, 100 * (dm or 0))
  md[#md + 1] = report.table(iso_tab, {columns = {"method", "round", "weights_remaining",
    "accuracy", "crossbars"}})
  md[#md + 1] = ""
  -- claims: realprune against the paper
  local paper = require("realprune.paper").numbers()
  local ours
  for _, f in ipairs(final) do if f.method == "realprune" then ours = f end end
  if ours then
    local pruned = 1 - ours.weights_remaining
    local loss = (dm or 0) - ours.accuracy
    local function verdict(ok, text) return (ok and "met" or "not met") .. ": " .. text end
    claims[#claims + 1] = {model = model, claim = "weights pruned",
      paper = ("> %.0f%%"):format(100 * paper.weights_pruned),
      ours = ("%.1f%%"):format(100 * pruned),
      verdict = verdict(pruned > paper.weights_pruned, ("%+.1f points"):format(
        100 * (pruned - paper.weights_pruned)))}
    claims[#claims + 1] = {model = model, claim = "accuracy loss against dense",
      paper = "none", ours = ("%.2f points"):format(100 * loss),
      verdict = verdict(loss <= TOLERANCE, ("%s %.1f points"):format(
        loss <= TOLERANCE and "within" or "more than", 100 * TOLERANCE))}
    for _, mode in ipairs{{"forward crossbars", ours.hardware_saving},
      {"training crossbars, transposed copy", ours.training_saving_transposed},
      {"training crossbars, bidirectional", ours.training_saving_bidirectional}} do
      if mode[2] then
        claims[#claims + 1] = {model = model, claim = "hardware saving (" .. mode[1] .. ")",
          paper = ("%.1f%%"):format(100 * paper.hardware_saving),
          ours = ("%.1f%%"):format(100 * mode[2]),
          verdict = verdict(mode[2] >= paper.hardware_saving, ("%+.1f points"):format(
            100 * (mode[2] - paper.hardware_saving)))}
      end
    end
    for _, mode in ipairs{{"transposed copy", ours.speedup_transposed},
      {"bidirectional", ours.speedup_bidirectional}} do
      if mode[2] then
        claims[#claims + 1] = {model = model, claim = "training speedup (" .. mode[1] .. ")",
          paper = ("~%gx"):format(paper.training_speedup), ours = ("%.2fx"):format(mode[2]),
          verdict = verdict(mode[2] >= paper.training_speedup, ("%.0f%% of it"):format(
            100 * mode[2] / paper.training_speedup))}
      end
    end
  end
  -- figures: accuracy against weights remaining (log x) and against crossbars
  local slug = model:gsub("[^%w]+", "_"):gsub("_$", "")
  local pts = {}
  for _, name in ipairs(methods) do
    if name ~= "dense" then
      local list = by[model][name]
      for rnd = 0, last_round(list) do
        local t = at_round(list, rnd)
        if #t > 0 then
          local am, asd = mean_std(t, "accuracy")
          pts[#pts + 1] = {method = name, weights = mean_std(t, "weights_remaining"),
            crossbars = mean_std(t, "crossbars"), accuracy = am, err = asd}
        end
      end
    end
  end
  report.plot(out .. "/accuracy_vs_weights_" .. slug, {rows = pts, x = "weights",
    y = "accuracy", err = "err", series = "method", logx = true,
    title = model .. ": test accuracy against weights remaining (mean ± std over seeds)",
    xlabel = "fraction of prunable weights remaining (log scale)", ylabel = "test accuracy"})
  report.plot(out .. "/accuracy_vs_crossbars_" .. slug, {rows = pts, x = "crossbars",
    y = "accuracy", err = "err", series = "method",
    title = model .. ": test accuracy against the crossbars the network needs",
    xlabel = "crossbars (ISAAC 128x128, 16-bit weights in 2-bit cells)",
    ylabel = "test accuracy"})
  for _, kind in ipairs{{"speedup", "speedup against dense"},
    {"energy_saving", "energy saving against dense"}} do
    for _, mode in ipairs{{"transposed", "error pass on a transposed copy"},
      {"bidirectional", "error pass by bidirectional reads"}} do
      local key, bars = kind[1] .. "_" .. mode[1], {}
      for _, f in ipairs(final) do
        if f[key] then bars[#bars + 1] = {method = f.method, [key] = f[key]} end
      end
      if #bars > 0 then
        report.bars(("%s/%s_%s"):format(out, key, slug), {rows = bars, label = "method",
          stack = {key}, title = ("%s: modeled training after the last round, %s"):format(model,
            mode[2]), ylabel = kind[2]})
      end
    end
  end
end

md[#md + 1] = "## The paper's claims beside ours (realprune)\n"
md[#md + 1] = "Paper: data/paper/realprune.lua (arXiv 2111.09272, abstract). Verdicts are " ..
  "computed from the rows above.\n"
md[#md + 1] = report.table(claims, {columns = {"model", "claim", "paper", "ours", "verdict"}})
md[#md + 1] = ""
md[#md + 1] = "Figures (MODEL: the network's name, e.g. vgg11_width_0_5): " ..
  "accuracy_vs_weights_MODEL.png, accuracy_vs_crossbars_MODEL.png, " ..
  "speedup_{transposed,bidirectional}_MODEL.png, energy_saving_{transposed,bidirectional}_" ..
  "MODEL.png.\n"
assert(rp.core.write_file_atomic(out .. "/report.md", table.concat(md, "\n") .. "\n"))
local cols = results.columns(rows)
local keep = {}
for _, c in ipairs(cols) do if c ~= "run_dir" then keep[#keep + 1] = c end end
assert(rp.core.write_file_atomic(out .. "/results.csv",
  report.table(rows, {format = "csv", columns = keep}) .. "\n"))
assert(rp.core.write_file_atomic(out .. "/summary.json", json.encode{final = all_final,
  claims = claims, iso_accuracy = iso} .. "\n"))
print(("study report in %s (%d rows from %d sweeps)"):format(out, #rows, #dirs))
