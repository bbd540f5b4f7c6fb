-- `realprune sweep` on this machine: grid and seed parsing, run identities,
-- every bad input refused before a run starts, a 2x2 grid over 2 seeds with
-- 2 workers, re-runs that repeat nothing, a changed grid reusing its shared
-- runs, a failing run reported while the others finish, the lock against a
-- second sweep, --status, the aggregation against a plain recomputation, and
-- the Slurm backend's dry run and missing-sbatch message. (A real Slurm is
-- tested by tests/slurm/test_slurm.sh.)
local lu = require "luaunit"
local H = require "tests.lua.helpers"
local sweep = require "realprune.sweep"
local json = require "realprune.json"
local core = require "realprune.core"

local RECIPE = "tests/fixtures/sweep_recipe.lua"
local GRID = "'lr=0.05,0.1 width=0.5,1'"

local function sweep_cmd(dir, extra)
  return ("%s sweep %s --grid %s --seeds 1,2 --jobs 2 --epochs 1 --train_images 128 " ..
    "--test_images 64 --out %s %s"):format(H.BIN, RECIPE, GRID, dir, extra or "")
end

-- The rows of a CSV file as tables of strings (no quoted commas here).
local function csv_rows(path)
  local text = assert(H.read(path), path)
  local lines = {}
  for line in text:gmatch("[^\n]+") do lines[#lines + 1] = line end
  local head, rows = {}, {}
  for c in (lines[1] .. ","):gmatch("([^,]*),") do head[#head + 1] = c end
  for i = 2, #lines do
    local row, j = {}, 0
    for c in (lines[i] .. ","):gmatch("([^,]*),") do j = j + 1; row[head[j]] = c end
    rows[#rows + 1] = row
  end
  return rows, head
end

local function attempts(dir)
  local n, per = 0, {}
  for _, e in ipairs(core.list_dir(dir .. "/runs") or {}) do
    local text = H.read(e.path .. "/attempts.txt") or ""
    local k = select(2, text:gsub("start", ""))
    per[e.name] = k
    n = n + k
  end
  return n, per
end

TestSweepParse = {}

function TestSweepParse:test_grid_brackets_and_order()
  local g = sweep.parse_grid("strategies=[realprune,cgp],[lth] rate=0.3,0.45")
  lu.assertEquals(g, {{key = "strategies", values = {"realprune,cgp", "lth"}},
    {key = "rate", values = {"0.3", "0.45"}}})
end

function TestSweepParse:test_grid_errors()
  for text, want in pairs{["lr="] = "empty value", ["lr=0.1,,0.2"] = "empty value",
    ["lr=1 lr=2"] = "given twice", ["lr"] = "is not key=value", ["lr=[1"] = "without its",
    ["lr=1,1"] = "twice", ["lr=1]"] = "without its"} do
    local ok, err = pcall(sweep.parse_grid, text)
    lu.assertFalse(ok, text)
    lu.assertStrContains(err, "realprune sweep: --grid")
    lu.assertStrContains(err, want)
  end
end

function TestSweepParse:test_seeds()
  lu.assertEquals(sweep.parse_seeds("3,1,2"), {3, 1, 2})
  for _, bad in ipairs{"1,x", "", "1,,2", "1.5", "1,1"} do
    local ok, err = pcall(sweep.parse_seeds, bad)
    lu.assertFalse(ok, bad)
    lu.assertStrContains(err, "--seeds")
  end
end

function TestSweepParse:test_hash_is_stable_and_spreads()
  -- FNV-1a 64 test vectors (Fowler, Noll, Vo: the reference test suite)
  lu.assertEquals(("%016x"):format(sweep.fnv1a64("")), "cbf29ce484222325")
  lu.assertEquals(("%016x"):format(sweep.fnv1a64("a")), "af63dc4c8601ec8c")
  lu.assertEquals(("%016x"):format(sweep.fnv1a64("foobar")), "85944171f73967e8")
  -- a pinned folder name: a change here would re-run every existing sweep
  lu.assertEquals(sweep.hash('{"options":{"lr":0.1},"quick":false,"recipe":"x","seed":1}'),
    "77ed98a748466c3b")
  lu.assertEquals(#sweep.hash("x"), 16)
  local h1, h2 = sweep.hash('{"seed":1}'), sweep.hash('{"seed":2}')
  local same = 0
  for i = 1, 16 do if h1:sub(i, i) == h2:sub(i, i) then same = same + 1 end end
  lu.assertTrue(same < 8, h1 .. " " .. h2)
end

function TestSweepParse:test_identity_ignores_threads_only()
  local r = {name = "x"}
  local a = sweep.identity(r, {lr = 0.1, threads = 1}, 1)
  lu.assertEquals(a, sweep.identity(r, {lr = 0.1, threads = 8}, 1))
  lu.assertNotEquals(a, sweep.identity(r, {lr = 0.1}, 2))
  lu.assertNotEquals(a, sweep.identity(r, {lr = 0.2}, 1))
  lu.assertNotEquals(a, sweep.identity(r, {lr = 0.1}, 1, true))
end

function TestSweepParse:test_plan_is_the_cross_product_times_seeds()
  local plan = sweep.plan(sweep.parse_args{RECIPE, "--grid", "lr=0.05,0.1 width=0.5,1,2",
    "--seeds", "1,2", "--epochs", "3"})
  lu.assertEquals(#plan.runs, 12)
  local seen = {}
  for _, run in ipairs(plan.runs) do
    lu.assertNil(seen[run.hash])
    seen[run.hash] = true
    lu.assertEquals(run.options.epochs, 3)
    lu.assertEquals(run.options.lr, tonumber(run.point[1]))
  end
  -- the same point planned again has the same hash; the default written out
  -- is the same run
  local again = sweep.plan(sweep.parse_args{RECIPE, "--grid", "lr=0.05", "--seeds", "1",
    "--epochs", "3", "--width", "0.5"})
  lu.assertTrue(seen[again.runs[1].hash])
  local default = sweep.plan(sweep.parse_args{RECIPE, "--seeds", "1", "--epochs", "2"})
  local explicit = sweep.plan(sweep.parse_args{RECIPE, "--seeds", "1"})
  lu.assertEquals(default.runs[1].hash, explicit.runs[1].hash)
end

-- Every bad input is refused with a message naming it, and no folder is made.
function TestSweepParse:test_bad_input_refused_before_any_run()
  local dir = H.tmpdir() .. "/never"
  local cases = {
    {"--grid 'foo=1,2'",
      "foo is not an option of recipe sweep_test (valid: epochs, fail_file, fail_lr"},
    {"--grid 'lr='", "empty value"},
    {"--grid 'lr=0.1' --lr 0.2", "lr is also given as --lr"},
    {"--grid 'lr=abc'", 'option --lr expects a number, got "abc"'},
    {"--grid 'epochs=1,two'", 'option --epochs expects an integer, got "two"'},
    {"--grid 'lr=1 lr=2'", "key lr given twice"},
    {"--seeds 1,x", "--seeds expects integers"},
    {"--jobs 0", "--jobs expects a positive integer"},
    {"--backend pbs", "--backend expects local or slurm"},
    {"--seed 3", "give --seeds"},
    {"--epochs x", 'option --epochs expects an integer, got "x"'},
    {"--slurm '--partition=x'", "--slurm needs --backend slurm"},
    {"--grid 'lr=0.1,0.10'", "lr lists 0.1 and 0.10, which are the same value"},
  }
  for _, c in ipairs(cases) do
    local out, code = H.run(("%s sweep %s %s --out %s"):format(H.BIN, RECIPE, c[1], dir))
    lu.assertEquals(code, 2, c[1] .. ": " .. out)
    lu.assertStrContains(out, "realprune sweep: ")
    lu.assertStrContains(out, c[2])
    lu.assertNil(H.read(dir .. "/sweep.json"), c[1])
  end
  local out, code = H.run(H.BIN .. " sweep --status " .. dir)
  lu.assertEquals(code, 2)
  lu.assertStrContains(out, "holds no sweep")
  out, code = H.run(H.BIN .. " sweep --quick " .. RECIPE)
  lu.assertEquals(code, 2)
  lu.assertStrContains(out, "the recipe comes first")
end

-- Floats that the JSON files would print alike are still different runs.
function TestSweepParse:test_close_floats_are_different_runs()
  local plan = sweep.plan(sweep.parse_args{RECIPE, "--grid", "lr=0.1,0.1000000000001"})
  lu.assertEquals(#plan.runs, 2)
  lu.assertNotEquals(plan.runs[1].hash, plan.runs[2].hash)
end

-- Rows told apart by a string column and an index column (epoch) are
-- grouped by them, not averaged together; mean ± sample std by hand.
function TestSweepParse:test_aggregate_groups_by_row_keys()
  local dir = H.tmpdir()
  local runs = {}
  local acc = {[1] = {0.5, 0.7}, [2] = {0.6, 0.9}}
  for seed = 1, 2 do
    local hash = ("%016x"):format(seed)
    runs[seed] = {hash = hash, seed = seed, point = {"0.1"}, options = {lr = 0.1}}
    local rd = dir .. "/runs/" .. hash
    assert(core.mkdir(rd))
    local rows = {}
    for epoch = 1, 2 do
      for _, phase in ipairs{"train", "test"} do
        rows[#rows + 1] = {phase = phase, epoch = epoch, seed = seed,
          accuracy = acc[epoch][seed] + (phase == "test" and 0.01 or 0)}
      end
    end
    H.write(rd .. "/results.json", json.encode(rows))
    H.write(rd .. "/status.json", json.encode{state = "done", seconds = 1})
  end
  local sw = {name = "t", grid = {{key = "lr", values = {"0.1"}}}, grid_text = "lr=0.1",
    seeds = {1, 2}}
  local rows = sweep.aggregate(dir, sw, runs)
  lu.assertEquals(#rows, 8)
  local md = H.read(dir .. "/report.md")
  lu.assertStrContains(md, "| lr | phase | epoch | seeds | accuracy |")
  local m, sd = (0.6 + 0.9) / 2, math.sqrt(((0.6 - 0.75) ^ 2 + (0.9 - 0.75) ^ 2) / 1)
  lu.assertStrContains(md, ("| 0.1 | train | 2 | 2 | %.4g ± %.2g |"):format(m, sd))
  lu.assertStrContains(md, ("| 0.1 | test | 2 | 2 | %.4g ± %.2g |"):format(m + 0.01, sd))
  lu.assertNotStrContains(md, "more than one row per seed")
end

function TestSweepParse:test_json_round_trip()
  local v = {a = 1, b = {1.5, "x\"y\n", true, false}, c = {}, d = {k = -2e-7}}
  lu.assertEquals(json.decode(json.encode(v)), v)
  lu.assertEquals(json.decode("[1, null, 3]")[3], 3)
  local ok, err = pcall(json.decode, '{"a": }')
  lu.assertFalse(ok)
  lu.assertStrContains(err, "rp.json.decode: value expected at line 1")
end

TestSweepLocal = {}

function TestSweepLocal:test_grid_seeds_rerun_reuse_and_report()
  local dir = H.tmpdir()
  local out, code = H.run(sweep_cmd(dir))
  lu.assertEquals(code, 0, out)
  lu.assertStrContains(out, "8 runs: 8 done, 0 running, 0 failed, 0 pending")
  lu.assertStrContains(out, "2 at a time with 1 thread each")
  local rows, head = csv_rows(dir .. "/results.csv")
  lu.assertEquals(#rows, 8) -- one epoch: one row per run
  lu.assertEquals({head[1], head[2], head[3], head[4]}, {"lr", "width", "seed", "run"})
  local plan = json.decode(H.read(dir .. "/sweep.json"))
  lu.assertEquals(#plan.runs, 8)
  lu.assertEquals(plan.threads_per_run, 1)
  for _, run in ipairs(plan.runs) do
    local rd = dir .. "/runs/" .. run.hash
    lu.assertEquals(json.decode(H.read(rd .. "/status.json")).state, "done")
    lu.assertNotNil(H.read(rd .. "/config.json"), "a normal recipe run")
    lu.assertNotNil(H.read(rd .. "/results.csv"))
  end
  lu.assertEquals((attempts(dir)), 8)

  -- a task for a finished run (as an orphaned or second worker would start)
  -- returns at once without running it again
  out, code = H.run(("%s sweep --task %s %s/plan.tsv 1"):format(H.BIN, dir, dir))
  lu.assertEquals(code, 0, out)
  lu.assertEquals((attempts(dir)), 8)
  -- the same command again: nothing runs, the same results
  local before = H.read(dir .. "/results.csv")
  out, code = H.run(sweep_cmd(dir))
  lu.assertEquals(code, 0, out)
  lu.assertStrContains(out, "8 runs (8 done before, 0 to run)")
  lu.assertEquals((attempts(dir)), 8)
  lu.assertEquals(H.read(dir .. "/results.csv"), before)

  -- a changed grid reuses the 4 runs of lr=0.05 and plans 4 more
  out, code = H.run((sweep_cmd(dir)):gsub("lr=0.05,0.1", "lr=0.05,0.2"))
  lu.assertEquals(code, 0, out)
  lu.assertStrContains(out, "8 runs (4 done before, 4 to run)")
  lu.assertEquals((attempts(dir)), 12)

  -- the report: mean ± sample std over the seeds of each grid point,
  -- recomputed here from results.csv
  local md = H.read(dir .. "/report.md")
  rows = csv_rows(dir .. "/results.csv")
  local by = {}
  for _, r in ipairs(rows) do
    local k = r.lr .. "|" .. r.width
    by[k] = by[k] or {}
    table.insert(by[k], tonumber(r.accuracy))
  end
  local checked = 0
  for k, accs in pairs(by) do
    lu.assertEquals(#accs, 2)
    local mean = (accs[1] + accs[2]) / 2
    local std = math.sqrt(((accs[1] - mean) ^ 2 + (accs[2] - mean) ^ 2) / 1)
    local lr, width = k:match("^(.*)|(.*)$")
    local line = ("| %s | %s | sgd | 1 | 2 | %s |"):format(lr, width,
      ("%.4g ± %.2g"):format(mean, std))
    lu.assertStrContains(md, line)
    checked = checked + 1
  end
  lu.assertEquals(checked, 4)
  lu.assertStrContains(md, "## Timings (reported, not compared)")

  -- --status: one line per run and the totals
  out, code = H.run(H.BIN .. " sweep --status " .. dir)
  lu.assertEquals(code, 0, out)
  local lines = select(2, out:gsub("\ndone ", "")) + (out:match("^done ") and 1 or 0)
  lu.assertEquals(lines, 8)
  lu.assertStrContains(out, "8 runs: 8 done, 0 running, 0 failed, 0 pending")
end

function TestSweepLocal:test_failing_run_is_reported_others_finish()
  local dir = H.tmpdir()
  local out, code = H.run(sweep_cmd(dir, "--fail_lr 0.1"))
  lu.assertEquals(code, sweep.INCOMPLETE, out)
  lu.assertStrContains(out, "8 runs: 4 done, 0 running, 4 failed, 0 pending")
  lu.assertStrContains(out, "lr 0.1 fails on purpose (fail_lr) (log " .. dir)
  lu.assertEquals(#csv_rows(dir .. "/results.csv"), 4)
  lu.assertStrContains(H.read(dir .. "/report.md"), "## Runs not done")
  out = H.run(H.BIN .. " sweep --status " .. dir)
  lu.assertStrContains(out, "failed   ")
  lu.assertStrContains(out, "4 failed")
  -- failed runs run again on the next call; done ones do not
  local _, per = attempts(dir)
  out, code = H.run(sweep_cmd(dir, "--fail_lr 0.1"))
  lu.assertEquals(code, sweep.INCOMPLETE, out)
  local _, per2 = attempts(dir)
  local again = 0
  for hash, n in pairs(per2) do
    if n ~= per[hash] then again = again + 1; lu.assertEquals(n, 2) end
  end
  lu.assertEquals(again, 4)
end

-- A failed run whose retry is killed is pending again (its old failure does
-- not stand in for the retry), and the next call finishes it.
function TestSweepLocal:test_killed_retry_of_a_failed_run_is_pending()
  local dir, path = H.scratch()
  local flag = path("fail-now")
  H.write(flag, "")
  local cmd = ("%s sweep %s --grid 'lr=0.05' --epochs 2 --train_images 64 --test_images 32 " ..
    "--fail_file %s --out %s/s"):format(H.BIN, RECIPE, flag, dir)
  local out, code = H.run(cmd)
  lu.assertEquals(code, sweep.INCOMPLETE, out)
  lu.assertStrContains(out, "1 failed")
  os.remove(flag)
  local p = io.popen(("SWEEP_TEST_PAUSE=30 setsid sh -c %q > /dev/null 2>&1 & echo $!"):format(
    "exec " .. cmd))
  local pid = p:read("l")
  p:close()
  local started = false
  for _ = 1, 200 do
    local n = attempts(dir .. "/s")
    if n == 2 then started = true; break end
    core.sleep(0.05)
  end
  lu.assertTrue(started, "the retry did not start")
  core.sleep(0.3)
  os.execute("kill -9 -" .. pid)
  core.sleep(0.2)
  out = H.run(H.BIN .. " sweep --status " .. dir .. "/s")
  lu.assertStrContains(out, "1 runs: 0 done, 0 running, 0 failed, 1 pending")
  out, code = H.run(cmd)
  lu.assertEquals(code, 0, out)
end

function TestSweepLocal:test_second_sweep_on_the_same_folder_is_refused()
  local dir = H.tmpdir()
  local lock = assert(core.lock_file(dir .. "/sweep.lock"))
  local out, code = H.run(sweep_cmd(dir))
  lu.assertEquals(code, 2, out)
  lu.assertStrContains(out, "is in use by another sweep")
  lu.assertStrContains(out, "process " .. core.getpid())
  lu.assertNil(H.read(dir .. "/sweep.json"))
  lock:unlock()
  out, code = H.run(sweep_cmd(dir))
  lu.assertEquals(code, 0, out)
end

function TestSweepLocal:test_folder_with_space_and_quote()
  local dir = H.tmpdir() .. "/it's a dir"
  local out, code = H.run(("%s sweep %s --grid 'lr=0.05' --epochs 1 --train_images 64 " ..
    "--test_images 32 --out %q"):format(H.BIN, RECIPE, dir))
  lu.assertEquals(code, 0, out)
  lu.assertEquals(#csv_rows(dir .. "/results.csv"), 1)
  out, code = H.run(("%s sweep --status %q"):format(H.BIN, dir))
  lu.assertEquals(code, 0, out)
end

function TestSweepLocal:test_slurm_dry_run_and_missing_sbatch()
  local dir = H.tmpdir() .. "/dry"
  local out, code = H.run(sweep_cmd(dir, "--backend slurm --slurm '--partition=cpu'") ..
    " --dry-run")
  lu.assertEquals(code, 0, out)
  lu.assertStrContains(out, "#SBATCH --array=1-8%2")
  lu.assertStrContains(out, "sweep --task")
  lu.assertStrContains(out, "--partition=cpu")
  lu.assertStrContains(out, "8 of 8 runs to submit, with: sbatch --parsable " ..
    "--job-name=realprune-sweep_test --output=")
  lu.assertNil(H.read(dir .. "/sweep.json"), "a dry run writes nothing")
  local bin = core.realpath(H.BIN)
  out, code = H.run(("PATH=/nonexistent %s"):format(sweep_cmd(dir, "--backend slurm"):gsub(
    "^%S+", bin)))
  lu.assertEquals(code, 2, out)
  lu.assertStrContains(out, "needs Slurm's sbatch on the PATH")
  lu.assertStrContains(out, "--backend local --jobs N")
end

function TestSweepLocal:test_local_dry_run_lists_the_plan()
  local dir = H.tmpdir() .. "/dry"
  local out, code = H.run(sweep_cmd(dir, "--dry-run"))
  lu.assertEquals(code, 0, out)
  lu.assertEquals(select(2, out:gsub("\npending ", "")) + (out:match("^pending ") and 1 or 0), 8)
  lu.assertNil(H.read(dir .. "/sweep.json"))
end

os.exit(lu.LuaUnit.run())
