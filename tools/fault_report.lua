--- The figure and table of a fault_study sweep: accuracy against the stuck-at
-- rate per method, mean ± sample std over the sweep's seeds.
--
--     build/realprune tools/fault_report.lua SWEEP_DIR OUT_DIR > OUT_DIR/table.md
local rp = require "realprune"
local results = require "realprune.results"
local json = require "realprune.json"
local sweep = require "realprune.sweep"
local dir, out = arg[1], arg[2]
local rec = json.decode(assert(io.open(dir .. "/sweep.json")):read("a"))
local rows = sweep.collect(dir, rec, rec.runs)
local g = results.summarize(rows, {"method", "rate"}, {"accuracy", "cells", "stuck_cells"})
local pts, lines = {}, {"| method | stuck-at rate | seeds | accuracy | cells | stuck cells |",
  "|---|---|---|---|---|---|"}
for _, s in ipairs(g) do
  pts[#pts + 1] = {method = s.keys.method, rate = s.keys.rate, accuracy = s.mean.accuracy,
    err = s.std.accuracy}
  lines[#lines + 1] = ("| %s | %g | %d | %.2f ± %.2f%% | %.0f | %.0f |"):format(s.keys.method,
    s.keys.rate, s.n, 100 * s.mean.accuracy, 100 * s.std.accuracy, s.mean.cells,
    s.mean.stuck_cells)
end
rp.report.plot(out .. "/accuracy_vs_fault_rate", {rows = pts, x = "rate", y = "accuracy",
  err = "err", series = "method",
  title = "test accuracy against the stuck-at rate (mean ± std over seeds)",
  xlabel = "fraction of cells stuck (90% SA0, 10% SA1)", ylabel = "test accuracy"})
print(table.concat(lines, "\n"))
