-- Crash safety (make crash-test): a run killed with SIGKILL at random moments
-- (one per trial, 24 trials by default) leaves checkpoints that load and
-- result files that are whole, and the resumed run ends with exactly the
-- results of an uninterrupted run. Three jobs:
--   lth     a lottery-ticket run (tests/lua/lth_job.lua); compares its rows
--   recipe  `realprune run recipes/quickstart.lua` at a small size, resumed
--           with --resume; compares results.csv, results.json and report.md
--   sweep   a local `realprune sweep` (2x2 grid, 2 seeds, 2 workers), its
--           whole process group killed, then the same command again;
--           compares results.csv and report.md without their timings
--     build/realprune tests/crash_kill.lua [trials] [seed] [lth|recipe|sweep]
local rp = require "realprune"
local BIN = arg[-1] or "build/realprune"
local trials = math.tointeger(tonumber(arg[1] or "")) or 24
local g = rp.generator(math.tointeger(tonumber(arg[2] or "")) or 1)
local kind = arg[3] or "lth"
if kind ~= "lth" and kind ~= "recipe" and kind ~= "sweep" then
  error("crash_kill: job must be lth, recipe or sweep", 0)
end
local size = 2000 -- training images of the lth job
local RECIPE = "recipes/quickstart.lua --train_images 800 --test_images 200 --epochs 1 " ..
  "--rounds 3 --rate 0.5 --strategies realprune,lth"
local RESULTS = {"results.csv", "results.json", "report.md"}
local SWEEP = "sweep tests/fixtures/sweep_recipe.lua --grid 'lr=0.05,0.1 width=0.5,1' " ..
  "--seeds 1,2 --jobs 2 --epochs 3 --train_images 256 --test_images 128"

local function tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p " .. d))
  return d
end
local function read(p)
  local f = io.open(p)
  if not f then return nil end
  local s = f:read("a")
  f:close()
  return s
end
local function start(dir, wait, resume)
  local cmd
  if kind == "lth" then
    cmd = ("%s tests/lua/lth_job.lua %s %s/rows.txt %d > /dev/null 2>&1"):format(BIN, dir, dir,
      size)
  elseif kind == "sweep" then
    cmd = ("%s %s --out %s > /dev/null 2>&1"):format(BIN, SWEEP, dir)
    -- its own process group (setsid), so that the kill takes the workers too
    if not wait then cmd = "setsid sh -c " .. ("'exec %s'"):format(cmd:gsub("'", "'\\''")) end
  else
    cmd = ("%s run %s --out %s%s > /dev/null 2>&1"):format(BIN, RECIPE, dir,
      resume and " --resume" or "")
  end
  if wait then return os.execute(cmd) end
  local p = io.popen(cmd .. " & echo $!")
  local pid = p:read("l")
  p:close()
  return pid
end

-- What a finished run leaves: the rows (lth) or the result files (recipe).
local function results(dir)
  if kind == "lth" then return read(dir .. "/rows.txt") end
  if kind == "sweep" then
    local is_timing = require("realprune.sweep").is_timing
    local csv, keep = {}, nil
    for line in (read(dir .. "/results.csv") or ""):gmatch("[^\n]+") do
      local cells, out = {}, {}
      for c in (line .. ","):gmatch("([^,]*),") do cells[#cells + 1] = c end
      if not keep then
        keep = {}
        for i, c in ipairs(cells) do keep[i] = not is_timing(c) end
      end
      for i, c in ipairs(cells) do if keep[i] then out[#out + 1] = c end end
      csv[#csv + 1] = table.concat(out, ",")
    end
    -- the command names the trial's --out folder; timings differ from run to run
    local md = (read(dir .. "/report.md") or ""):gsub("## Timings.*$", ""):gsub(
      "\nCommand: [^\n]*", "")
    return table.concat(csv, "\n") .. "\n----\n" .. md
  end
  local parts = {}
  for _, name in ipairs(RESULTS) do parts[#parts + 1] = read(dir .. "/" .. name) or "" end
  return table.concat(parts, "\n----\n")
end

-- Every checkpoint under dir loads; every JSON result is whole (a killed run
-- may not have written them yet, but never leaves half of one; a kill during
-- a write leaves only the NAME.tmp.PID file that would have been renamed, and
-- the resumed run's next write of NAME removes it).
local function check_files(dir)
  local p = io.popen("find " .. dir .. " -name '*.rpk' -o -name '*.json'")
  local bad = {}
  for path in p:lines() do
    if path:match("%.rpk$") then
      local ok, err = pcall(rp.load, path)
      if not ok then bad[#bad + 1] = path .. ": " .. tostring(err) end
    else
      local text = read(path) or ""
      if not text:match("^%s*[%[{].*[%]}]%s*$") then bad[#bad + 1] = path .. ": not whole JSON" end
    end
  end
  p:close()
  return bad
end

local full = tmpdir()
local t0 = rp.clock()
assert(start(full, true))
local duration = rp.clock() - t0
local want = assert(results(full))

local passed, failed = 0, 0
for k = 1, trials do
  local dir = tmpdir()
  local pid = start(dir, false)
  local at = g:uniform(0.02, duration)
  os.execute(("sleep %.3f"):format(at))
  os.execute((kind == "sweep" and "kill -9 -%s 2>/dev/null" or "kill -9 %s 2>/dev/null"):format(
    pid))
  os.execute("sleep 0.05")
  local ok = true
  for _, problem in ipairs(check_files(dir)) do
    ok = false
    print(("trial %d (kill at %.2f s): %s"):format(k, at, problem))
  end
  assert(start(dir, true, true))
  if results(dir) ~= want then
    ok = false
    print(("trial %d (kill at %.2f s): the resumed results differ"):format(k, at))
  end
  local p = io.popen("find " .. dir .. " -name '*.tmp.*'")
  for left in p:lines() do
    ok = false
    print(("trial %d (kill at %.2f s): %s left after the resumed run"):format(k, at, left))
  end
  p:close()
  if ok then passed = passed + 1 else failed = failed + 1 end
  os.execute("rm -rf " .. dir)
end
os.execute("rm -rf " .. full)
print(("crash_kill %s: %d kills over a %.1f s run: %d passed, %d failed"):format(kind, trials,
  duration, passed, failed))
os.exit(failed == 0 and 0 or 1)
