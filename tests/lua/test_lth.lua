-- The lottery-ticket engine: rounds, rewinding, and resuming after SIGKILL.
local lu = require "luaunit"
local rp = require "realprune"
local T = rp.tensor
local H = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lua") ..
  "/helpers.lua")
local tmpdir, read = H.tmpdir, H.read
local BIN = H.BIN
local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lua"

TestLth = {}

function TestLth:test_rounds_and_rewind_to_init()
  rp.seed(3)
  local m = rp.models.lenet5{}
  local init = {}
  for _, p in ipairs(m:parameters()) do init[p.name] = p.value:clone() end
  local data = rp.data.fashion_mnist{split = "test"}:subset(200, 1)
  local s = rp.strategies.copy("realprune")
  s.rounds, s.rate = 2, 0.5
  -- no training: each round prunes, rewinds, and the survivors equal their initial values
  local rows = rp.lth.run{model = m, train = data, test = data, fit = {epochs = 0},
    strategy = s, log = function() end}
  lu.assertEquals(#rows, 3)
  lu.assertEquals(rows[1].sparsity, 0)
  lu.assertTrue(rows[2].sparsity > 0.2 and rows[3].sparsity > rows[2].sparsity)
  lu.assertTrue(rows[3].crossbars <= rows[2].crossbars)
  for _, p in ipairs(m:parameters()) do
    local want = init[p.name]:clone()
    if p.key == "weight" and p.module.mask then want:mul_(p.module.mask) end
    lu.assertEquals(p.value:totable(), want:totable(), p.name)
  end
end

function TestLth:test_late_rewind_and_errors()
  local data = rp.data.fashion_mnist{split = "test"}:subset(200, 1)
  local s = rp.strategies.copy("lth")
  s.rounds = 1
  local rows = rp.lth.run{model = rp.models.lenet5{}, train = data, fit = {epochs = 2},
    strategy = s, rewind = {epoch = 1}, log = function() end}
  lu.assertEquals(#rows, 2)
  local rows2 = rp.lth.run{model = rp.models.lenet5{}, train = data, fit = {epochs = 1},
    strategy = s, rewind = {iteration = 2}, log = function() end}
  lu.assertEquals(#rows2, 2)
  lu.assertErrorMsgContains("the rewind point epoch 5 is past the 1 epochs of round 0", function()
    rp.lth.run{model = rp.models.lenet5{}, train = data, fit = {epochs = 1}, strategy = s,
      rewind = {epoch = 5}, log = function() end}
  end)
  lu.assertErrorMsgContains("rewind must be", function()
    rp.lth.run{model = rp.models.lenet5{}, train = data, strategy = s, rewind = "start"} end)
  lu.assertErrorMsgContains("a schedule (or a strategy) is required", function()
    rp.lth.run{model = rp.models.lenet5{}, train = data} end)
end

function TestLth:test_resume_after_sigkill_gives_the_same_rows()
  local job = here .. "/lth_job.lua"
  local full_dir, cut_dir = tmpdir(), tmpdir()
  assert(os.execute(("%s %s %s %s/rows.txt"):format(BIN, job, full_dir, full_dir)))
  local want = read(full_dir .. "/rows.txt")
  lu.assertNotNil(want)
  -- start the same run, kill it with SIGKILL once round 1 is saved (in round 2)
  local p = io.popen(("%s %s %s %s/rows.txt > /dev/null 2>&1 & echo $!"):format(BIN, job,
    cut_dir, cut_dir))
  local pid = p:read("l")
  p:close()
  local rounds_seen = -1
  local t0 = rp.clock()
  while rp.clock() - t0 < 300 do
    local f = io.open(cut_dir .. "/lth.rpk")
    if f then
      f:close()
      local ok, saved = pcall(rp.load, cut_dir .. "/lth.rpk")
      lu.assertTrue(ok, "the checkpoint is never half-written")
      rounds_seen = saved.round
      if rounds_seen >= 1 then break end
    end
    os.execute("sleep 0.01")
  end
  os.execute("kill -9 " .. pid .. " 2>/dev/null")
  os.execute("sleep 0.2")
  lu.assertTrue(rounds_seen >= 1, "round 1 was saved")
  lu.assertNil(read(cut_dir .. "/rows.txt"), "the run was killed before it finished")
  assert(os.execute(("%s %s %s %s/rows.txt"):format(BIN, job, cut_dir, cut_dir)))
  lu.assertEquals(read(cut_dir .. "/rows.txt"), want)
  os.execute("rm -rf " .. full_dir .. " " .. cut_dir)
end

os.exit(lu.LuaUnit.run())
