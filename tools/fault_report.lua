--- The figures and table of a fault_study sweep: accuracy against the
-- stuck-at rate per method, mean ± sample std over the sweep's seeds, with
-- crossbars, stuck cells, cell writes of training and the most-written
-- cell's lifetime in trainings; the fault-aware arms (method "aware") in a
-- figure of their own.
--
--     build/realprune tools/fault_report.lua SWEEP_DIR OUT_DIR > OUT_DIR/table.md
local rp = require "realprune"
local results = require "realprune.results"
local json = require "realprune.json"
local sweep = require "realprune.sweep"
local dir, out = arg[1], arg[2]
local rec = json.decode(assert(io.open(dir .. "/sweep.json")):read("a"))
local rows = sweep.collect(dir, rec, rec.runs)
local fields = {"accuracy", "crossbars", "stuck_cells", "cell_writes", "lifetime_trainings"}
for _, r in ipairs(rows) do
  for _, k in ipairs(fields) do r[k] = tonumber(r[k]) or 0 end
end
local g = results.summarize(rows, {"method", "rate"}, fields)
local main, aware = {}, {}
local lines = {"| method | stuck-at rate | seeds | accuracy | crossbars | stuck cells | " ..
  "cell writes | lifetime (trainings) |", "|---|---|---|---|---|---|---|---|"}
for _, s in ipairs(g) do
  local m = s.keys.method
  local pts = m:find("/", 1, true) and aware or main
  pts[#pts + 1] = {method = m, rate = s.keys.rate, accuracy = s.mean.accuracy,
    err = s.std.accuracy}
  lines[#lines + 1] = ("| %s | %g | %d | %.2f ± %.2f%% | %.0f | %.0f | %.3g | %.3g |"):format(m,
    s.keys.rate, s.n, 100 * s.mean.accuracy, 100 * s.std.accuracy, s.mean.crossbars,
    s.mean.stuck_cells, s.mean.cell_writes, s.mean.lifetime_trainings)
end
rp.report.plot(out .. "/accuracy_vs_fault_rate", {rows = main, x = "rate", y = "accuracy",
  err = "err", series = "method",
  title = "test accuracy against the stuck-at rate (mean ± std over seeds)",
  xlabel = "fraction of cells stuck (90% SA0, 10% SA1)", ylabel = "test accuracy"})
if #aware > 0 then
  rp.report.plot(out .. "/fault_aware", {rows = aware, x = "rate", y = "accuracy",
    err = "err", series = "method",
    title = "fault-aware pruning and remapping at equal crossbars (mean ± std over seeds)",
    xlabel = "fraction of cells stuck (90% SA0, 10% SA1)", ylabel = "test accuracy"})
end
print(table.concat(lines, "\n"))
