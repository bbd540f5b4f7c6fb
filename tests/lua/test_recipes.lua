-- Every recipe in recipes/ at a tiny size: the files it writes and the sanity
-- of their numbers; the runner's option errors.
local lu = require "luaunit"
local rp = require "realprune"
local H = require "tests.lua.helpers" -- the suites run from the source folder
local run, tmpdir, read = H.run, H.tmpdir, H.read
local BIN = H.BIN

-- results.csv as a list of rows keyed by the header
local function csv(path)
  local text = assert(read(path), "no " .. path)
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local head = {}
  for h in lines[1]:gmatch("[^,]+") do head[#head + 1] = h end
  local rows = {}
  for i = 2, #lines do
    local row, k = {}, 0
    for v in (lines[i] .. ","):gmatch("([^,]*),") do
      k = k + 1
      row[head[k]] = tonumber(v) or v
    end
    rows[#rows + 1] = row
  end
  return rows, head
end

local TINY = {
  quickstart = "--train_images 300 --test_images 100 --epochs 1 --rounds 1 --rate 0.5",
  prune_compare = "--train_images 300 --test_images 100 --epochs 1 --rounds 1 --strategies " ..
    "realprune,filter",
  train_dense = "--train_images 300 --epochs 1 --model lenet5",
  composed_schedule = "--train_images 300 --test_images 100 --epochs 1 --filter_rounds 1 " ..
    "--column_rounds 1",
  rewind_ablation = "--train_images 300 --test_images 100 --epochs 2 --rounds 1",
  hardware_sweep = "--train_images 300 --test_images 100 --epochs 1 --rounds 1 --sizes 64 " ..
    "--cell_bits 4",
  paper_study = "--train_images 200 --test_images 100 --rounds 1 --width 0.125 --method aligned",
  fault_study = "--train_images 200 --test_images 100 --rounds 1 --width 0.125 --epochs 1 " ..
    "--methods dense,realprune,aware --rates 0,0.05 --draws 1 --aware_rates 0.05",
}

-- recipes that model ReRAM training, and the plot each must write
local MODELS_HARDWARE = {quickstart = "energy_breakdown", prune_compare = "energy_breakdown",
  hardware_sweep = "speedup_vs_headroom"}

TestRecipes = {}

-- paper_study's control trains the ticket's final mask from another
-- initialization: its starting weights differ from the ticket's, its masks
-- are the ticket's; method dense trains dense_epochs and prunes nothing.
function TestRecipes:test_paper_study_control_reinitializes()
  local out = tmpdir()
  local log, code = run(("%s run recipes/paper_study.lua --quick --rounds 1 --method realprune " ..
    "--out %s"):format(BIN, out))
  lu.assertEquals(code, 0, log)
  local ticket = rp.load(out .. "/realprune/lth.rpk")
  local control = rp.load(out .. "/realprune_reinit/lth.rpk")
  local differ, masks = 0, 0
  for k, w in pairs(ticket.rewind_state) do
    if k:match("weight$") and control.rewind_state[k] then
      if w:sub(control.rewind_state[k]):abs():max() > 0 then differ = differ + 1 end
    end
  end
  for k, m in pairs(ticket.state) do
    if k:match("mask$") then
      masks = masks + 1
      lu.assertEquals(m:sub(control.state[k]):abs():max(), 0, k)
    end
  end
  lu.assertTrue(differ > 0 and masks > 0, ("%d weights differ, %d masks"):format(differ, masks))
  local rows = csv(out .. "/results.csv")
  local methods = {}
  for _, r in ipairs(rows) do methods[r.method] = (methods[r.method] or 0) + 1 end
  lu.assertEquals(methods, {realprune = 2, ["realprune+reinit"] = 1})
  out = tmpdir()
  log, code = run(("%s run recipes/paper_study.lua --quick --method dense --out %s"):format(BIN,
    out))
  lu.assertEquals(code, 0, log)
  rows = csv(out .. "/results.csv")
  lu.assertEquals(#rows, 1)
  lu.assertEquals(rows[1].sparsity, 0)
  out = tmpdir()
  log, code = run(("%s run recipes/paper_study.lua --quick --rounds 1 --train_images 200 " ..
    "--method sensitive --out %s"):format(BIN, out))
  lu.assertEquals(code, 0, log)
  lu.assertStrContains(log, "sensitivity: per-layer rates")
  rows = csv(out .. "/results.csv")
  lu.assertTrue(rows[2].sparsity > 0)
  log, code = run(("%s run recipes/paper_study.lua --quick --method nope --out %s"):format(BIN,
    tmpdir()))
  lu.assertEquals(code, 1)
  lu.assertStrContains(log, "option --method expects dense or a strategy")
end

function TestRecipes:test_every_recipe_runs_small()
  local entries = rp.core.list_dir("recipes")
  local n = 0
  for _, e in ipairs(entries) do
    local name = e.name:match("^(.*)%.lua$")
    if name then
      n = n + 1
      lu.assertNotNil(TINY[name], "a tiny configuration for recipes/" .. e.name)
      local out = tmpdir()
      local log, code = run(("%s run recipes/%s %s --out %s"):format(BIN, e.name, TINY[name], out))
      lu.assertEquals(code, 0, log)
      for _, f in ipairs{"config.json", "results.csv", "results.json", "report.md", "log.txt"} do
        lu.assertNotNil(read(out .. "/" .. f), name .. " wrote " .. f)
      end
      local listing = io.popen("ls " .. out):read("a")
      lu.assertNotNil(listing:find("%.gp\n"), name .. " wrote a plot script")
      if os.execute("command -v gnuplot > /dev/null") then
        lu.assertNotNil(listing:find("%.png\n"), name .. " rendered a plot")
      end
      local rows, head = csv(out .. "/results.csv")
      lu.assertTrue(#rows > 0, name .. " recorded rows")
      lu.assertEquals(head[1], "method")
      for _, r in ipairs(rows) do
        for _, k in ipairs{"sparsity", "pruned", "accuracy", "hardware_saving"} do
          if r[k] then
            lu.assertTrue(r[k] >= 0 and r[k] <= 1, ("%s %s = %s"):format(name, k, r[k]))
          end
        end
        if r.crossbars and r.crossbars_dense then
          lu.assertTrue(r.crossbars <= r.crossbars_dense)
        end
      end
      lu.assertStrContains(read(out .. "/config.json"), '"recipe":"' .. name .. '"')
      if name == "fault_study" then
        -- the fault-aware arms: remapping keeps the crossbars and moves segments;
        -- every row has the training's cell writes and lifetime
        local by = {}
        for _, r in ipairs(rows) do
          by[r.method] = r
          lu.assertTrue(r.cell_writes > 0 and r.lifetime_trainings > 0, r.method)
        end
        for _, arm in ipairs{"realprune/packed", "realprune/in-place", "fault-aware/in-place"} do
          lu.assertNotNil(by[arm], arm)
          lu.assertEquals(by[arm .. "+remap"].crossbars, by[arm].crossbars)
          lu.assertEquals(by[arm].moved, 0)
          lu.assertTrue(by[arm .. "+remap"].moved > 0, arm)
        end
      end
      if MODELS_HARDWARE[name] then
        -- the report says which chip and backward mode it modeled, and why
        local report = read(out .. "/report.md")
        lu.assertStrContains(report, "Modeled ReRAM training: preset isaac")
        lu.assertStrContains(report, "error pass on a transposed copy")
        lu.assertStrContains(report, "just holds the dense network")
        lu.assertNotNil(listing:find(MODELS_HARDWARE[name] .. "%.gp\n"), name .. " plot")
        local modeled = 0
        for _, r in ipairs(rows) do
          if type(r.training_saving) == "number" then
            modeled = modeled + 1
            lu.assertTrue(r.training_saving >= 0 and r.training_saving <= 1, name)
            lu.assertTrue(r.speedup >= 1 - 1e-9, name .. ": a pruned network is never slower")
            lu.assertTrue(r.chip_crossbars > 0)
          end
        end
        lu.assertTrue(modeled > 0, name .. " modeled the hardware")
      end
      os.execute("rm -rf " .. out)
    end
  end
  lu.assertTrue(n >= 3)
end

-- rp.results: columns in their order, mean and sample std by hand
function TestRecipes:test_results_summaries()
  local rows = {{method = "a", seed = 1, accuracy = 1, note = "x"},
    {method = "a", seed = 2, accuracy = 3}, {method = "b", seed = 1, accuracy = 0.5}}
  lu.assertEquals(rp.results.columns(rows), {"method", "seed", "accuracy", "note"})
  local agg = rp.results.aggregate(rows, rp.results.columns(rows))
  -- a: mean 2, std sqrt(((1-2)^2 + (3-2)^2) / 1) = 1.41; b: one seed, std 0
  lu.assertEquals(#agg, 2)
  lu.assertEquals({agg[1].method, agg[1].seeds, agg[1].accuracy}, {"a", 2, "2 ± 1.4"})
  lu.assertEquals({agg[2].method, agg[2].seeds, agg[2].accuracy}, {"b", 1, "0.5 ± 0"})
end

-- Stacked bars (rp.report.bars): one bar per row, the stack's columns in order,
-- stacked (not side by side), the data as CSV beside the gnuplot script.
function TestRecipes:test_stacked_bars()
  local out = tmpdir()
  local rows = {{method = "dense", xbar = 3, adc = 2, write = 1},
    {method = "a,b", xbar = 1.5, adc = 0.25}}
  local written = rp.report.bars(out .. "/energy", {rows = rows, label = "method",
    stack = {"xbar", "adc", "write"}, title = "energy", ylabel = "J"})
  lu.assertEquals(written[1], out .. "/energy.csv")
  lu.assertEquals(read(out .. "/energy.csv"),
    "method,xbar,adc,write\ndense,3,2,1\na;b,1.5,0.25,0\n")
  local gp = read(out .. "/energy.gp")
  lu.assertStrContains(gp, "set style histogram rowstacked")
  lu.assertStrContains(gp, 'plot "energy.csv" using 2:xtic(1) title "xbar", \\\n' ..
    "     '' using 3 title \"adc\", \\\n     '' using 4 title \"write\"")
  if os.execute("command -v gnuplot > /dev/null") then
    lu.assertNotNil(read(out .. "/energy.png"), "rendered")
  end
  lu.assertErrorMsgContains("report.bars: bars(path_without_extension, {rows=, label=, " ..
    "stack={...}})",
    function() rp.report.bars(out .. "/x", {rows = rows, label = "method", stack = {}}) end)
  os.execute("rm -rf " .. out)
end

-- rp.json: sorted keys, integers and floats apart, escapes, null for what JSON
-- cannot hold; functions and non-string keys skipped.
function TestRecipes:test_json()
  lu.assertEquals(rp.json.encode{zeta = 1, alpha = {2, 2.5, "x"}, mid = {b = true, a = false}},
    '{"alpha":[2,2.5,"x"],"mid":{"a":false,"b":true},"zeta":1}')
  lu.assertEquals(rp.json.encode{s = 'q"\\\n\t\1', n = 0 / 0, i = math.huge, f = print},
    [[{"i":null,"n":null,"s":"q\"\\\n\t\u0001"}]])
  lu.assertEquals(rp.json.encode{}, "[]")
  lu.assertEquals(rp.json.encode(3), "3")
  lu.assertEquals(rp.json.encode(0.1), "0.1")
  lu.assertEquals(rp.json.encode(2 ^ 60), "1.152921505e+18")
  lu.assertEquals(rp.json.encode(1 << 60), "1152921504606846976") -- integers in full
  lu.assertEquals(rp.json.encode{n = 123456789}, '{"n":123456789}')
end

function TestRecipes:test_option_errors_and_list()
  local out, code = run(BIN .. " run recipes/train_dense.lua --epochs many")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, 'option --epochs expects an integer, got "many"')
  out, code = run(BIN .. " run recipes/train_dense.lua --epochs 2.5")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, 'option --epochs expects an integer, got "2.5"')
  out, code = run(BIN .. " run recipes/train_dense.lua --lr fast")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, 'option --lr expects a number, got "fast"')
  out, code = run(BIN .. " run recipes/train_dense.lua --epoch 3")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, "unknown option --epoch; valid options: --augment, --batch, --epochs")
  out, code = run(BIN .. " run recipes/train_dense.lua --augment maybe")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, 'option --augment expects true or false, got "maybe"')
  out, code = run(BIN .. " run")
  lu.assertEquals(code, 2)
  lu.assertStrContains(out, "a recipe expected")
  out, code = run(BIN .. " run recipes/nope.lua")
  lu.assertEquals(code, 1)
  lu.assertStrContains(out, "recipes/nope.lua")
  out, code = run(BIN .. " list")
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "quickstart")
  out, code = run(BIN .. " run recipes/train_dense.lua --help")
  lu.assertEquals(code, 0)
  lu.assertStrContains(out, "--epochs")
end

-- --resume without --out continues the newest run in results/NAME (the run
-- folders are named by their start time), not the oldest or the last listed.
function TestRecipes:test_resume_without_out_continues_the_newest_run()
  local cwd = tmpdir()
  local root = io.popen("pwd"):read("l")
  local bin = BIN:sub(1, 1) == "/" and BIN or (root .. "/" .. BIN)
  local cmd = ("cd %s && %s run %s/recipes/train_dense.lua --train_images 100 --epochs 1 " ..
    "--model lenet5"):format(cwd, bin, root)
  for _, stamp in ipairs{"20260101-000000", "20260301-000000", "20260201-000000"} do
    local log, code = run(cmd .. " --out results/train_dense/" .. stamp)
    lu.assertEquals(code, 0, log)
  end
  local log, code = run(cmd .. " --resume")
  lu.assertEquals(code, 0, log)
  lu.assertStrContains(log, "results in results/train_dense/20260301-000000")
  local listing = io.popen("ls " .. cwd .. "/results/train_dense"):read("a")
  lu.assertEquals(select(2, listing:gsub("\n", "")), 3, "no new run folder: " .. listing)
  os.execute("rm -rf " .. cwd)
end

function TestRecipes:test_seeds_give_mean_and_std()
  local out = tmpdir()
  local log, code = run(("%s recipes/train_dense.lua --train_images 200 --epochs 1 --model " ..
    "lenet5 " ..
    "--seeds 1,2 --out %s"):format(BIN, out))
  lu.assertEquals(code, 0, log)
  local rows = csv(out .. "/results.csv")
  lu.assertEquals(#rows, 2)
  lu.assertStrContains(read(out .. "/report.md"), "Mean ± std over seeds 1, 2")
  os.execute("rm -rf " .. out)
end

-- A full disk (simulated with a file-size limit) while a recipe saves its
-- round checkpoint: a clear error naming the file, no crash, and the last
-- good checkpoint kept (the run resumes from it once there is room again).
function TestRecipes:test_full_disk_keeps_the_last_checkpoint()
  local out = tmpdir()
  local args = "--train_images 200 --test_images 100 --epochs 1 --rate 0.5 --strategies realprune"
  local log, code = run(("%s run recipes/quickstart.lua %s --rounds 1 --out %s"):format(BIN, args,
    out))
  lu.assertEquals(code, 0, log)
  local ckpt = out .. "/realprune/lth.rpk"
  local before = assert(read(ckpt))
  -- one more round, with files limited to 256 KB: the checkpoint cannot be written
  log, code = run(("ulimit -f 256; %s run recipes/quickstart.lua %s --rounds 2 --resume --out %s")
    :format(BIN, args, out))
  lu.assertNotEquals(code, 0, log)
  lu.assertStrContains(log, ckpt)
  lu.assertStrContains(log, "File too large")
  lu.assertNil(log:find("Segmentation", 1, true), log)
  lu.assertEquals(read(ckpt), before, "the round-1 checkpoint is kept as it was")
  lu.assertEquals(rp.load(ckpt).round, 1)
  -- with room again, --resume continues from round 1 and finishes
  log, code = run(("%s run recipes/quickstart.lua %s --rounds 2 --resume --out %s"):format(BIN,
    args, out))
  lu.assertEquals(code, 0, log)
  lu.assertStrContains(log, "resuming from " .. ckpt .. " after round 1")
  lu.assertEquals(rp.load(ckpt).round, 2)
  os.execute("rm -rf " .. out)
end

-- An --out folder that already holds a run is reused only with --resume (its
-- checkpoints would otherwise be picked up and its results mixed with the new ones).
function TestRecipes:test_out_folder_with_a_run_needs_resume()
  local out = tmpdir()
  local args = "--train_images 100 --test_images 50 --epochs 1 --rounds 1 --strategies realprune"
  local log, code = run(("%s run recipes/quickstart.lua %s --out %s"):format(BIN, args, out))
  lu.assertEquals(code, 0, log)
  local before = read(out .. "/results.csv")
  log, code = run(("%s run recipes/quickstart.lua %s --out %s"):format(BIN, args, out))
  lu.assertNotEquals(code, 0, log)
  lu.assertStrContains(log, out .. " already holds a run (config.json): pass --resume")
  lu.assertEquals(read(out .. "/results.csv"), before)
  log, code = run(("%s run recipes/quickstart.lua %s --out %s --resume"):format(BIN, args, out))
  lu.assertEquals(code, 0, log)
  lu.assertEquals(read(out .. "/results.csv"), before)
  os.execute("rm -rf " .. out)
end

-- An output folder that cannot be created or written: a clear error naming it.
function TestRecipes:test_unwritable_output_folder()
  local base = tmpdir()
  local args = "--train_images 100 --test_images 50 --epochs 1 --rounds 1 --strategies realprune"
  -- a path through a regular file
  local file = base .. "/a_file"
  io.open(file, "w"):close()
  local log, code = run(("%s run recipes/quickstart.lua %s --out %s/out"):format(BIN, args, file))
  lu.assertNotEquals(code, 0, log)
  lu.assertStrContains(log, "cannot create the folder " .. file
    .. ": a file of that name is in the way")
  -- a folder without write permission (as an unprivileged user when run as root,
  -- since root may write anywhere)
  local ro = base .. "/read_only"
  os.execute("mkdir -p " .. ro .. " && chmod 555 " .. ro .. " && chmod 755 " .. base)
  local as_user = ""
  if H.run("id -u") == "0\n" then
    if not os.execute("command -v setpriv > /dev/null") then return end
    as_user = "setpriv --reuid=65534 --regid=65534 --clear-groups "
    -- the unprivileged user must reach the binary, the recipes and the data
    local _, c = run(as_user .. BIN .. " -e 'print(1)'")
    if c ~= 0 then return end
  end
  log, code = run(("%s%s run recipes/quickstart.lua %s --out %s"):format(as_user, BIN, args, ro))
  lu.assertNotEquals(code, 0, log)
  lu.assertStrContains(log, ro .. "/config.json")
  lu.assertStrContains(log, "Permission denied")
  lu.assertNil(log:find("Segmentation", 1, true), log)
  local listing = io.popen("ls -A " .. ro):read("a")
  lu.assertEquals(listing, "", "nothing written into the read-only folder")
  os.execute("chmod 755 " .. ro .. "; rm -rf " .. base)
end

os.exit(lu.LuaUnit.run())
