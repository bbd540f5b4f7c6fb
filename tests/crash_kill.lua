-- Crash safety (make crash-test): a lottery-ticket run killed with SIGKILL at
-- random moments (one per trial, 24 trials by default) leaves a checkpoint that
-- loads, and the resumed run ends with exactly the rows of an uninterrupted run.
--     build/realprune tests/crash_kill.lua [trials] [seed]
local rp = require "realprune"
local BIN = arg[-1] or "build/realprune"
local trials = math.tointeger(tonumber(arg[1] or "")) or 24
local g = rp.generator(math.tointeger(tonumber(arg[2] or "")) or 1)
local job = "tests/lua/lth_job.lua"
local size = 2000 -- training images

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
local function start(dir, wait)
  local cmd = ("%s %s %s %s/rows.txt %d > /dev/null 2>&1"):format(BIN, job, dir, dir, size)
  if wait then return os.execute(cmd) end
  local p = io.popen(cmd .. " & echo $!")
  local pid = p:read("l")
  p:close()
  return pid
end

local full = tmpdir()
local t0 = rp.clock()
assert(start(full, true))
local duration = rp.clock() - t0
local want = assert(read(full .. "/rows.txt"))

local passed, failed = 0, 0
for k = 1, trials do
  local dir = tmpdir()
  local pid = start(dir, false)
  local at = g:uniform(0.02, duration)
  os.execute(("sleep %.3f"):format(at))
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  os.execute("sleep 0.05")
  local ok = true
  if read(dir .. "/lth.rpk") then
    local loaded, err = pcall(rp.load, dir .. "/lth.rpk")
    if not loaded then
      ok = false
      print(("trial %d (kill at %.2f s): corrupt checkpoint: %s"):format(k, at, tostring(err)))
    end
  end
  assert(start(dir, true))
  if read(dir .. "/rows.txt") ~= want then
    ok = false
    print(("trial %d (kill at %.2f s): the resumed rows differ"):format(k, at))
  end
  if ok then passed = passed + 1 else failed = failed + 1 end
  os.execute("rm -rf " .. dir)
end
os.execute("rm -rf " .. full)
print(("crash_kill: %d kills over a %.1f s run: %d passed, %d failed"):format(trials, duration,
  passed, failed))
os.exit(failed == 0 and 0 or 1)
