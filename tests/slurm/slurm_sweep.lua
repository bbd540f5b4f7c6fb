-- The Slurm backend through a real one-node Slurm (run by test_slurm.sh,
-- which starts the cluster and sets SLURM_CONF): a 2x2 grid over 2 seeds
-- gives the local backend's results; a task cancelled mid-run (scancel)
-- leaves its run unfinished, and the same command again finishes it without
-- repeating the others; a failing run is reported with its log file while
-- the others finish.
local lu = require "luaunit"
local H = require "tests.lua.helpers"
local core = require "realprune.core"
local sweep = require "realprune.sweep"

local TMP = assert(arg[1], "slurm_sweep.lua TMPDIR")
table.remove(arg, 1)
local BIN = core.realpath(H.BIN)
local RECIPE = core.realpath("tests/fixtures/sweep_recipe.lua")

local function cmd(dir, extra)
  return ("%s sweep %s --grid 'lr=0.05,0.1 width=0.5,1' --seeds 1,2 --jobs 2 " ..
    "--train_images 128 --test_images 64 --out '%s' %s"):format(BIN, RECIPE, dir, extra)
end

-- results.csv without its timing columns (and the run hash when asked)
local function comparable(path, drop)
  local text = assert(H.read(path), path)
  local lines, keep = {}, nil
  for line in text:gmatch("[^\n]+") do
    local cells = {}
    for c in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = c end
    if not keep then
      keep = {}
      for i, c in ipairs(cells) do
        keep[i] = not sweep.is_timing(c) and not (drop and drop[c])
      end
    end
    local out = {}
    for i, c in ipairs(cells) do if keep[i] then out[#out + 1] = c end end
    lines[#lines + 1] = table.concat(out, ",")
  end
  return table.concat(lines, "\n")
end

local function attempts(dir)
  local per = {}
  for _, e in ipairs(core.list_dir(dir .. "/runs") or {}) do
    per[e.name] = select(2, (H.read(e.path .. "/attempts.txt") or ""):gsub("start", ""))
  end
  return per
end

TestSlurm = {}

function TestSlurm:test_same_results_as_local()
  local out, code = H.run(cmd(TMP .. "/local", "--epochs 2"))
  lu.assertEquals(code, 0, out)
  -- a folder with a space and a '%' (Slurm's file-name patterns) in its name
  local dir = TMP .. "/slurm 100%"
  out, code = H.run(cmd(dir, "--epochs 2 --backend slurm"))
  lu.assertEquals(code, 0, out)
  lu.assertStrContains(out, "submitted 8 runs as Slurm job array")
  lu.assertStrContains(out, "8 runs: 8 done, 0 running, 0 failed, 0 pending")
  lu.assertEquals(comparable(dir .. "/results.csv"), comparable(TMP .. "/local/results.csv"))
  local script = H.read(dir .. "/slurm/submit-1.sh")
  lu.assertStrContains(script, "#SBATCH --array=1-8%2")
  local logs = 0
  for _, e in ipairs(core.list_dir(dir .. "/slurm")) do
    if e.name:match("^1%-%d+_%d%.out$") then logs = logs + 1 end
  end
  lu.assertEquals(logs, 8)
end

function TestSlurm:test_cancelled_task_resumes_without_repeating_others()
  local dir = TMP .. "/cancel"
  local extra = "--epochs 3 --pause 1 --backend slurm"
  local bg = io.popen(("(%s > %s/first.log 2>&1; echo $? > %s/first.code) & echo $!"):format(
    cmd(dir, extra), TMP, TMP))
  bg:close()
  -- wait for a task that is running with a run in the middle, then cancel it
  local victim
  for _ = 1, 600 do
    local q = io.popen("squeue -h -t R -o %i 2>/dev/null")
    local ids = q:read("a")
    q:close()
    local first = ids:match("(%d+_%d+)")
    if first and next(attempts(dir)) then victim = first; break end
    core.sleep(0.1)
  end
  lu.assertNotNil(victim, "no running task seen")
  core.sleep(1.2) -- inside the run's first epochs
  lu.assertTrue(os.execute("scancel " .. victim))
  for _ = 1, 1200 do
    if H.read(TMP .. "/first.code") then break end
    core.sleep(0.1)
  end
  local first_out = H.read(TMP .. "/first.log") or ""
  lu.assertEquals(tonumber(H.read(TMP .. "/first.code")), sweep.INCOMPLETE, first_out)
  lu.assertStrContains(first_out, "not finished: ")
  lu.assertStrContains(first_out, "7 done")
  local before = attempts(dir)
  local out, code = H.run(cmd(dir, extra))
  lu.assertEquals(code, 0, out)
  lu.assertStrContains(out, "8 runs (7 done before, 1 to run)")
  local after = attempts(dir)
  local repeated = 0
  for hash, n in pairs(after) do
    if n ~= before[hash] then repeated = repeated + 1; lu.assertEquals(n, before[hash] + 1) end
  end
  lu.assertEquals(repeated, 1)
  -- the resumed run ends where an uninterrupted one does (timing and pause aside)
  out, code = H.run(cmd(TMP .. "/cancel_ref", "--epochs 3"))
  lu.assertEquals(code, 0, out)
  local drop = {run = true, pause = true}
  lu.assertEquals(comparable(dir .. "/results.csv", drop),
    comparable(TMP .. "/cancel_ref/results.csv", drop))
end

function TestSlurm:test_failing_run_reported_with_its_log()
  local dir = TMP .. "/failing"
  local out, code = H.run(cmd(dir, "--epochs 1 --fail_lr 0.1 --backend slurm"))
  lu.assertEquals(code, sweep.INCOMPLETE, out)
  lu.assertStrContains(out, "8 runs: 4 done, 0 running, 4 failed, 0 pending")
  local log = out:match("failed: %x+ [^\n]*%(log ([^)]+)%)")
  lu.assertNotNil(log, out)
  lu.assertStrContains(H.read(log) or "", "fails on purpose")
end

os.exit(lu.LuaUnit.run(table.unpack(arg)))
