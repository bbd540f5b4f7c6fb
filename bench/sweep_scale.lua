--- Sweep bookkeeping at scale (targets of docs/design.md "Sweeps"):
--   planning a sweep of 10,000 runs (10x10x10 grid x 10 seeds: parsing,
--   checking, hashing, writing sweep.json)          target < 2 s
--   `realprune sweep --status` of it (a new process) target < 1 s
--   the aggregated results.csv and report.md of 1,000 finished runs (3 rows
--   each, made up here: status.json and results.json per run) target < 5 s
--
--     build/realprune bench/sweep_scale.lua
local core = require "realprune.core"
local json = require "realprune.json"
local sweep = require "realprune.sweep"

local dir = os.tmpname()
os.remove(dir)
assert(core.mkdir(dir))
local BIN = core.exe_path()

local function values(list) return table.concat(list, ",") end
local lrs, widths, epochs, seeds = {}, {}, {}, {}
for i = 1, 10 do
  lrs[i] = ("%g"):format(0.01 * i)
  widths[i] = ("%g"):format(0.5 + 0.1 * i)
  epochs[i] = tostring(i)
  seeds[i] = tostring(i)
end
local args = {"tests/fixtures/sweep_recipe.lua", "--grid",
  ("lr=%s width=%s epochs=%s"):format(values(lrs), values(widths), values(epochs)),
  "--seeds", values(seeds), "--out", dir}

local t0 = core.clock()
local sw = sweep.parse_args(args)
local plan = sweep.plan(sw)
local record = sweep.describe(sw, plan, args, 1)
assert(core.write_file_atomic(dir .. "/sweep.json", json.encode(record) .. "\n"))
local t_plan = core.clock() - t0

t0 = core.clock()
-- every run is pending: the exit status says the sweep is incomplete
local _, _, code = os.execute(("%s sweep --status %s > /dev/null"):format(BIN, dir))
assert(code == sweep.INCOMPLETE, "sweep --status failed")
local t_status = core.clock() - t0

-- 1,000 finished runs
local runs = {}
for i = 1, 1000 do runs[i] = record.runs[i] end
for i, run in ipairs(runs) do
  local rd = dir .. "/runs/" .. run.hash
  assert(core.mkdir(rd))
  local rows = {}
  for e = 1, 3 do
    rows[e] = {method = "sgd", round = e, seed = run.seed, accuracy = 0.5 + 0.001 * ((i * 7 + e) %
      97), loss = 1 + 0.01 * e}
  end
  assert(core.write_file_atomic(rd .. "/results.json", json.encode(rows)))
  assert(core.write_file_atomic(rd .. "/status.json", json.encode{state = "done", seconds = 1.5}))
end
local agg = {grid = record.grid, grid_text = record.grid_text, seeds = record.seeds,
  name = record.name, command = record.command}
t0 = core.clock()
local rows = sweep.aggregate(dir, agg, runs)
local t_report = core.clock() - t0
assert(#rows == 3000)

print(("sweep bookkeeping: plan %d runs %.2f s (target 2), --status %.2f s (target 1), " ..
  "report of %d runs %.2f s (target 5)"):format(#plan.runs, t_plan, t_status, #runs, t_report))
os.execute("rm -rf " .. dir)
