-- The lottery-ticket engine: rounds, rewinding, and resuming after SIGKILL.
local lu = require "luaunit"
local rp = require "realprune"
local H = require "tests.lua.helpers" -- the suites run from the source folder
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

-- Every round starts from its rewind point, after real training: every state
-- tensor (weights, biases, batch-norm weights and running statistics) equals
-- the rewind point's, and masked weights are exactly 0.
local function conv_bn()
  local nn = rp.nn
  return nn.Sequential{nn.Conv2d(1, 6, 3, {padding = 1}), nn.BatchNorm2d(6), nn.ReLU(),
    nn.MaxPool2d(2), nn.Conv2d(6, 8, 3, {padding = 1}), nn.BatchNorm2d(8), nn.ReLU(),
    nn.MaxPool2d(2), nn.Flatten(), nn.Linear(8 * 7 * 7, 10)}
end

local function state_of(m)
  local s = {}
  for _, e in ipairs(m:state()) do s[e[1]] = e[2]:clone() end
  return s
end

-- A state (`now`, with its round's masks) equals `want` with those masks
-- applied to the weights, and its masked weights are exactly 0.
local function assert_starts_at(now, want, what)
  local checked = 0
  for name, t in pairs(now) do
    if not name:match("mask$") then
      local mask = now[name:gsub("weight$", "mask")]
      local expect = want[name]:clone()
      if mask and name:match("weight$") then
        expect:mul_(mask)
        local dead = mask:mul(-1):add(1) -- 1 where masked
        lu.assertEquals(t:mul(dead):abs():max(), 0, what .. ": masked weights of " .. name)
      end
      lu.assertEquals(t:sub(expect):abs():max(), 0, what .. ": " .. name)
      checked = checked + 1
    end
  end
  lu.assertTrue(now["2.running_mean"] ~= nil and now["2.running_var"] ~= nil, what)
  return checked
end

local function differs(a, b)
  for name, t in pairs(a) do
    if not name:match("mask$") and t:sub(b[name]):abs():max() > 0 then return true end
  end
  return false
end

function TestLth:test_every_round_starts_from_its_rewind_point()
  local data = rp.data.fashion_mnist{split = "test"}:subset(96, 2)
  local batches = 3 -- 96 images in batches of 32
  local function run(rewind, epochs)
    rp.seed(5)
    local m = conv_bn()
    local init = state_of(m)
    local starts, ends = {}, {}
    local s = rp.strategies.copy("realprune")
    s.rounds, s.rate = 2, 0.4
    rp.lth.run{model = m, train = data, fit = {epochs = epochs, batch_size = 32}, strategy = s,
      rewind = rewind, log = function() end,
      on_start = function(round) starts[round] = state_of(m) end,
      on_round = function(row) ends[row.round] = state_of(m) end}
    lu.assertTrue(differs(ends[0], init), "round 0 trained")
    lu.assertTrue(ends[0]["2.running_mean"]:sub(init["2.running_mean"]):abs():max() > 0,
      "batch norm statistics moved")
    lu.assertTrue(ends[0]["2.weight"]:sub(init["2.weight"]):abs():max() > 0,
      "batch norm weights moved")
    return init, starts, ends
  end
  -- rewinding to init: rounds 1 and 2 start from the initial state
  local init, starts = run("init", 1)
  for r = 1, 2 do assert_starts_at(starts[r], init, "init, round " .. r) end
  -- {epoch = 1} with one epoch per round: the state after round 0
  local _, starts_e, ends_e = run({epoch = 1}, 1)
  for r = 1, 2 do assert_starts_at(starts_e[r], ends_e[0], "epoch 1, round " .. r) end
  -- {iteration = 3} (3 batches: one epoch): the same point
  local _, starts_i = run({iteration = batches}, 1)
  for r = 1, 2 do
    assert_starts_at(starts_i[r], starts_e[r], "iteration 3 = epoch 1, round " .. r)
  end
  -- {iteration = 2} of 2 epochs: neither the start nor the end of round 0
  local init2, starts_2, ends_2 = run({iteration = 2}, 2)
  lu.assertTrue(differs(starts_2[1], init2) and differs(starts_2[1], ends_2[0]))
  assert_starts_at(starts_2[2], starts_2[1], "iteration 2, round 2 as round 1")
  -- "none": each round goes on from where the last one ended
  local _, starts_n, ends_n = run("none", 1)
  for r = 1, 2 do assert_starts_at(starts_n[r], ends_n[r - 1], "none, round " .. r) end
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
