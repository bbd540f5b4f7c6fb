-- rp.save / rp.load: round trips, and clear errors for truncated, corrupted,
-- foreign and mismatched files; writes are atomic.
local lu = require "luaunit"
local rp = require "realprune"
local T = rp.tensor

local H = require "tests.lua.helpers" -- the suites run from the source folder
local dir, path = H.scratch()

local read = H.read
local write = H.write

TestCheckpoint = {}

function TestCheckpoint:test_values_round_trip()
  local shared = {1, 2}
  local obj = {a = 1, b = 2.5, c = "text\0bytes", d = true, e = false, n = math.mininteger,
    t = T.from{{1, 2}, {3, 4}}, nested = {shared, shared}, empty = {}, s = T.zeros{0, 3}}
  obj.self = obj
  rp.save(path("v.rpk"), obj)
  local back = rp.load(path("v.rpk"))
  lu.assertEquals(back.a, 1)
  lu.assertEquals(math.type(back.a), "integer")
  lu.assertEquals(back.b, 2.5)
  lu.assertEquals(back.c, "text\0bytes")
  lu.assertEquals({back.d, back.e, back.n}, {true, false, math.mininteger})
  lu.assertEquals(back.t:totable(), {{1, 2}, {3, 4}})
  lu.assertIs(back.nested[1], back.nested[2])
  lu.assertIs(back.self, back)
  lu.assertEquals(back.s:shape(), {0, 3})
  lu.assertEquals(rp.load(path("v.rpk")).t:sum(), 10)
end

-- CRC-32 (IEEE 802.3, as zlib) of the standard check string.
function TestCheckpoint:test_crc32_known_answer()
  lu.assertEquals(rp.core.crc32("123456789"), 0xCBF43926)
  lu.assertEquals(rp.core.crc32(""), 0)
  -- continued over pieces, as the writer does
  lu.assertEquals(rp.core.crc32("6789", rp.core.crc32("12345")), 0xCBF43926)
end

-- A checkpoint of format version 1, checked in (tests/fixtures/gen_checkpoint.lua
-- wrote it), keeps loading with everything it holds.
function TestCheckpoint:test_checked_in_checkpoint_keeps_loading()
  local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lua"
  local fixtures = here .. "/../fixtures"
  local got = rp.load(fixtures .. "/checkpoint_v1.rpk")
  local want = dofile(fixtures .. "/checkpoint_content.lua")(rp)
  for _, k in ipairs{"kind", "version_note", "integer", "negative", "float", "big", "text",
      "yes", "no"} do
    lu.assertEquals(got[k], want[k], k)
    lu.assertEquals(math.type(got[k]), math.type(want[k]), k)
  end
  lu.assertEquals(got.list, want.list)
  lu.assertIs(got.nested[1], got.nested[2])
  lu.assertEquals(got.nested.deeper.level, 3)
  lu.assertEquals(got.tensor:totable(), want.tensor:totable())
  lu.assertEquals(got.empty:shape(), {0, 2})
  local n = 0
  for name, t in pairs(want.state) do
    lu.assertEquals(got.state[name]:totable(), t:totable(), name)
    n = n + 1
  end
  lu.assertEquals(n, 9) -- conv weight, bias, mask; batch norm weight, bias, mean, var; linear
  -- the zoo model comes back by name with its state; the optimizer's state loads
  lu.assertEquals(got.zoo.arch.name, "lenet5")
  for _, e in ipairs(want.zoo:state()) do
    local back
    for _, g in ipairs(got.zoo:state()) do if g[1] == e[1] then back = g[2] end end
    lu.assertEquals(back:totable(), e[2]:totable(), e[1])
  end
  local opt = rp.optim.SGD(got.zoo:parameters(), {lr = 0.1, momentum = 0.9})
  opt:load_state(got.optimizer)
  lu.assertEquals(opt.state[1]:totable(), want.optimizer.state[1]:totable())
  -- the file's version and checksum are the current format's
  local bytes = read(fixtures .. "/checkpoint_v1.rpk")
  lu.assertEquals(string.unpack("<I4", bytes, 9), 1)
  lu.assertEquals(require("realprune.checkpoint").VERSION, 1)
  -- a version this realprune has no reader for, older or newer, is refused
  for _, v in ipairs{0, 2} do
    write(path("v.rpk"), bytes:sub(1, 8) .. string.pack("<I4", v) .. bytes:sub(13))
    lu.assertErrorMsgContains(("has format version %d; this realprune reads version 1"):format(v),
      function() rp.load(path("v.rpk")) end)
  end
end

function TestCheckpoint:test_model_and_optimizer()
  rp.seed(3)
  local m = rp.models.vgg_small{width = 0.25}
  local layer = m:prunable()[3]
  local mask = T.ones(layer.weight:shape())
  mask:reshape{-1}:copy(T.rand({mask:numel()}, rp.generator(1)):sub(0.5):abs():mul(0):add(1))
  mask:reshape{-1}[5] = 0
  layer:set_mask(mask)
  local opt = rp.optim.Adam(m:parameters(), {lr = 1e-3})
  local x = T.randn{2, 1, 28, 28}
  local crit = rp.nn.CrossEntropyLoss()
  crit:forward(m:forward(x), {1, 2})
  opt:zero_grad(); m:backward(x, crit:backward()); opt:step()
  rp.save(path("m.rpk"), {model = m, optimizer = opt})
  local ck = rp.load(path("m.rpk"))
  lu.assertEquals(ck.model.arch, m.arch)
  local y = m:forward(x):clone()
  lu.assertEquals(ck.model:forward(x):totable(), y:totable())
  lu.assertEquals(ck.model:prunable()[3].mask:sum(), mask:sum())
  local opt2 = rp.optim.Adam(ck.model:parameters(), {lr = 1e-3}):load_state(ck.optimizer)
  lu.assertEquals(opt2.steps, 1)
  lu.assertEquals(opt2.state[1].v:totable(), opt.state[1].v:totable())
  lu.assertErrorMsgContains("a saved SGD state expected, got Adam", function()
    rp.optim.SGD(ck.model:parameters(), {lr = 1}):load_state(ck.optimizer)
  end)
end

-- Any composition of rp.nn modules round-trips with its architecture, masks,
-- batch-norm statistics, settings and mode: the loaded model gives the same
-- outputs bit for bit (docs/design.md, "Saving any model").
function TestCheckpoint:test_any_model_round_trips()
  local nn = rp.nn
  rp.seed(21)
  local block = nn.Sequential{nn.Conv2d(4, 4, 3, {padding = 1, bias = false}), nn.BatchNorm2d(4)}
  local m = nn.Sequential{nn.Conv2d(1, 4, 3, {padding = 1, algorithm = "im2col"}),
    nn.BatchNorm2d(4), nn.ReLU{inplace = true}, nn.Residual(block, nil, {relu = true}),
    nn.MaxPool2d(2), nn.AvgPool2d(2, 1), nn.Dropout(0.25), nn.Flatten(), nn.Linear(4 * 3 * 3, 5)}
  m:add(nn.Linear(5, 3), "head")
  local mod = m.modules
  local mask = T.ones(mod[1].weight:shape())
  mask:reshape{-1}[2] = 0
  mod[1]:set_mask(mask)
  local x = T.randn{6, 1, 8, 8}
  m:forward(x) -- moves the batch-norm statistics
  m:evaluate()
  mod[7]:train() -- one module's own mode
  mod[4].branch.modules[1].algorithm = "winograd" -- a setting changed after construction
  mod[7].p = 0 -- dropout off, so outputs can be compared
  local y = m:forward(x):clone()
  rp.save(path("any.rpk"), {model = m})
  local back = rp.load(path("any.rpk")).model
  lu.assertEquals(back:forward(x):sub(y):abs():max(), 0)
  local bm = back.modules
  lu.assertFalse(back.training)
  lu.assertTrue(bm[7].training)
  lu.assertEquals(bm[1].algorithm, "im2col")
  lu.assertEquals(bm[4].branch.modules[1].algorithm, "winograd")
  lu.assertTrue(bm[3].inplace and bm[4].relu)
  lu.assertEquals(bm[1].mask:totable(), mask:totable())
  lu.assertEquals(bm[2].running_var:totable(), mod[2].running_var:totable())
  lu.assertIs(back.head, back.modules[10])
  -- the same printout, but for what each layer ran last (state of a run, not saved)
  local function saved(s) return (s:gsub(", runs [%w ]+%%? ?[%w ]*", "")) end
  lu.assertEquals(saved(tostring(back)), saved(tostring(m)))
  -- the architecture alone builds the same modules with new parameters (and no masks)
  local again = rp.nn.build(m:architecture())
  lu.assertEquals(saved(tostring(again)), (saved(tostring(m)):gsub(", masked", "")))
  lu.assertErrorMsgContains('rp.nn.build: unknown module class "Nope"', function()
    rp.nn.build{class = "Nope"} end)
  -- zoo models keep their name and arguments while they are what those build
  local zoo = rp.models.lenet5{}
  rp.save(path("zoo.rpk"), zoo)
  lu.assertEquals(rp.load(path("zoo.rpk")).arch.name, "lenet5")
  zoo:evaluate()
  rp.save(path("zoo.rpk"), zoo)
  local z = rp.load(path("zoo.rpk"))
  lu.assertEquals(z.arch.name, "lenet5")
  lu.assertFalse(z.training or z:prunable()[1].training)
  -- ... and by their architecture once changed: a new head, a setting
  zoo:add(nn.Linear(10, 2), "head2")
  zoo:prunable()[1].algorithm = "im2col"
  rp.save(path("zoo.rpk"), zoo)
  z = rp.load(path("zoo.rpk"))
  lu.assertNotNil(z.head2)
  lu.assertEquals(z:prunable()[1].algorithm, "im2col")
  -- batch-norm settings changed after construction come back
  local b = nn.Sequential{nn.Conv2d(1, 2, 3), nn.BatchNorm2d(2)}
  b.modules[2].eps, b.modules[2].momentum = 1e-3, 0.5
  rp.save(path("bn.rpk"), b)
  local bb = rp.load(path("bn.rpk")).modules[2]
  lu.assertEquals({bb.eps, bb.momentum}, {1e-3, 0.5})
  -- a model whose state no longer matches its architecture is refused at save
  local nobias = nn.Sequential{nn.Linear(3, 2)}
  nobias.modules[1].bias = nil
  lu.assertErrorMsgContains("1.bias would be new", function() rp.save(path("nb.rpk"), nobias) end)
  lu.assertErrorMsgContains("rp.nn.build: Linear has an unknown setting weird", function()
    rp.nn.build{class = "Linear", args = {3, 2, n = 2}, settings = {weird = 1}} end)
end

function TestCheckpoint:test_other_model_is_an_error()
  local m = rp.models.lenet5{}
  rp.save(path("l.rpk"), m)
  local state = rp.load(path("l.rpk")):state()
  local named = {}
  for _, e in ipairs(state) do named[e[1]] = e[2] end
  local other = rp.models.vgg_small{}
  lu.assertErrorMsgContains("which this model does not have", function()
    rp.checkpoint.load_state(other, named, "l.rpk")
  end)
  local wider = rp.models.lenet5{width = 2}
  lu.assertErrorMsgContains("features.1.weight is 6x1x5x5 in the checkpoint but 12x1x5x5",
    function()
    rp.checkpoint.load_state(wider, named, "l.rpk")
  end)
end

function TestCheckpoint:test_bad_files()
  rp.save(path("good.rpk"), {x = T.ones{100}})
  local good = read(path("good.rpk"))
  write(path("trunc.rpk"), good:sub(1, #good - 50))
  lu.assertErrorMsgContains("trunc.rpk is truncated", function() rp.load(path("trunc.rpk")) end)
  local flipped = good:sub(1, 100) .. string.char((good:byte(101) + 1) % 256) .. good:sub(102)
  write(path("flip.rpk"), flipped)
  lu.assertErrorMsgContains("flip.rpk is corrupt (checksum mismatch)", function()
    rp.load(path("flip.rpk"))
  end)
  write(path("foreign.rpk"), "PK\3\4 this is a zip file, not a checkpoint at all........")
  lu.assertErrorMsgContains("foreign.rpk is not a realprune checkpoint", function()
    rp.load(path("foreign.rpk"))
  end)
  write(path("empty.rpk"), "")
  lu.assertErrorMsgContains("empty.rpk is not a realprune checkpoint", function()
    rp.load(path("empty.rpk"))
  end)
  write(path("v9.rpk"), good:sub(1, 8) .. string.pack("<I4", 9) .. good:sub(13))
  lu.assertErrorMsgContains("has format version 9", function() rp.load(path("v9.rpk")) end)
  lu.assertErrorMsgContains("cannot open " .. path("missing.rpk"), function()
    rp.load(path("missing.rpk"))
  end)
  -- a payload that passes the checksum but lies about a size
  local payload = "x" .. string.pack("<B", 1) .. string.pack("<i8", 1000000)
  local data = "\x89RPCK\r\n\x1a" .. string.pack("<I4I8", 1, #payload) .. payload ..
    string.pack("<I4", rp.core.crc32(payload))
  write(path("lie.rpk"), data)
  lu.assertErrorMsgContains("lie.rpk is corrupt", function() rp.load(path("lie.rpk")) end)
end

function TestCheckpoint:test_unsavable_and_failed_writes()
  lu.assertErrorMsgContains("rp.save: cannot save a function (at f)", function()
    rp.save(path("f.rpk"), {f = print})
  end)
  -- a module class of the user's own saves, but this realprune cannot rebuild it
  local Mine = setmetatable({class_name = "Mine"}, {__index = rp.nn.ReLU})
  Mine.__index = Mine
  local odd = rp.nn.Sequential{setmetatable(rp.nn.ReLU(), Mine)}
  odd.modules[1].class_name = "Mine"
  lu.assertErrorMsgContains("cannot be rebuilt from its architecture", function()
    rp.save(path("n.rpk"), odd)
  end)
  lu.assertNil(io.open(path("n.rpk"))) -- nothing written
  rp.save(path("keep.rpk"), {v = 1})
  lu.assertErrorMsgContains("cannot write " .. dir .. "/nodir/x.rpk", function()
    rp.save(dir .. "/nodir/x.rpk", {v = 2})
  end)
  lu.assertEquals(rp.load(path("keep.rpk")).v, 1)
  -- no temporary files left behind
  local p = io.popen("ls " .. dir)
  local listing = p:read("a")
  p:close()
  lu.assertNotStrContains(listing, ".tmp.")
end

function TestCheckpoint:test_full_disk_keeps_the_last_good_checkpoint()
  local BIN = os.getenv("REALPRUNE_BIN") or "build/realprune"
  local target = path("full.rpk")
  rp.save(target, {v = 1})
  -- a file-size limit of 64 KiB stands in for a full disk
  local script = path("fill.lua")
  write(script, ('local rp = require "realprune"\n' ..
    'local ok, err = pcall(rp.save, %q, {v = 2, big = rp.tensor.zeros{100000}})\n' ..
    'print(ok, err)\n'):format(target))
  local p = io.popen(("sh -c 'ulimit -f 64; %s %s' 2>&1"):format(BIN, script))
  local out = p:read("a")
  p:close()
  lu.assertStrContains(out, "false")
  lu.assertStrContains(out, "cannot write " .. target .. ": File too large")
  lu.assertEquals(rp.load(target).v, 1)
  local listing = io.popen("ls " .. dir):read("a")
  lu.assertNotStrContains(listing, ".tmp.")
end

-- A writer killed mid-write leaves NAME.tmp.PID; the next successful save of
-- NAME removes it once that process is gone, and leaves a live writer's alone.
function TestCheckpoint:test_stale_temporary_files_are_swept()
  local target = path("swept.rpk")
  local p = io.popen("sh -c 'echo $$'")
  local dead = p:read("l")
  p:close()
  write(target .. ".tmp." .. dead, "half a checkpoint")
  write(target .. ".tmp.1", "a live writer's file") -- pid 1 always exists
  write(target .. ".tmpx.5", "not ours")
  rp.save(target, {v = 3})
  lu.assertEquals(rp.load(target).v, 3)
  lu.assertNil(io.open(target .. ".tmp." .. dead), "the dead writer's file is removed")
  lu.assertNotNil(io.open(target .. ".tmp.1"), "the live writer's file stays")
  lu.assertNotNil(io.open(target .. ".tmpx.5"), "other files stay")
  os.remove(target .. ".tmp.1")
  os.remove(target .. ".tmpx.5")
end

local rc = lu.LuaUnit.run()
os.execute("rm -rf " .. dir)
os.exit(rc)
