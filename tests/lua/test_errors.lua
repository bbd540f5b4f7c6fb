-- Bad input to every public tensor function raises a Lua error that names the
-- function and the problem; nothing crashes.
local lu = require "luaunit"
local rp = require "realprune"
local T = rp.tensor

local function released()
  local t <close> = T.ones{2, 2}
  return t
end

local m = T.from{{1, 2, 3}, {4, 5, 6}} -- 2x3
local v = T.from{1, 2}

-- {what, function, text the message must contain}
local cases = {
  -- constructors
  {"zeros negative size", function() return T.zeros{2, -1} end,
    "bad argument #1 to 'zeros' (size 2 of the shape must be non-negative, got -1)"},
  {"zeros wrong type", function() return T.zeros("x") end,
    "bad argument #1 to 'zeros' (shape (table of sizes) expected, got string)"},
  {"zeros float size", function() return T.zeros{2.5} end,
    "bad argument #1 to 'zeros' (size 1 of the shape must be an integer, got number)"},
  {"zeros too many dims", function() return T.zeros{1, 1, 1, 1, 1, 1} end,
    "bad argument #1 to 'zeros' (a shape has at most 5 sizes, got 6)"},
  {"zeros huge", function() return T.zeros{1 << 20, 1 << 20, 1 << 20} end,
    "bad argument #1 to 'zeros' (shape is too large"},
  {"ones varargs negative", function() return T.ones(3, -2) end,
    "bad argument #2 to 'ones' (size 2 of the shape must be non-negative, got -2)"},
  {"full missing value", function() return T.full({2}) end,
    "bad argument #2 to 'full' (number expected, got no value)"},
  {"full string value", function() return T.full({2}, "a") end,
    "bad argument #2 to 'full' (number expected, got string)"},
  {"rand bad generator", function() return T.rand({2}, {}) end,
    "bad argument #2 to 'rand' (realprune.Generator expected, got table)"},
  {"randn negative", function() return T.randn{-3} end,
    "bad argument #1 to 'randn' (size 1 of the shape must be non-negative, got -3)"},
  {"arange zero step", function() return T.arange(0, 5, 0) end,
    "bad argument #3 to 'arange' (step must be a finite non-zero number)"},
  {"arange string", function() return T.arange("x") end,
    "bad argument #1 to 'arange' (number expected, got string)"},
  {"arange infinite", function() return T.arange(math.huge) end,
    "bad argument #1 to 'arange' (bounds must be finite)"},
  {"from ragged", function() return T.from{{1, 2}, {3}} end,
    "bad argument #1 to 'from' (ragged nested table: element [2] has 1 entries, expected 2)"},
  {"from ragged depth", function() return T.from{{1, 2}, 3} end,
    "bad argument #1 to 'from' (ragged nested table: element [2] is a number, expected a table " ..
      "of 2)"},
  {"from non-number", function() return T.from{{1, "x"}} end,
    "bad argument #1 to 'from' (element [1][2] is a string, expected a number)"},
  {"from too deep", function() return T.from{{{{{{1}}}}}} end,
    "bad argument #1 to 'from' (nested table deeper than 5 levels)"},
  {"from wrong type", function() return T.from("abc") end,
    "bad argument #1 to 'from' (table expected, got string)"},
  {"from released", function() return T.from(released()) end,
    "bad argument #1 to 'from' (tensor has been released)"},
  -- indexing
  {"get out of range", function() return m:get(3, 1) end,
    "bad argument #1 to 'get' (index 3 is out of range 1..2 for dimension 1)"},
  {"get zero index", function() return m:get(1, 0) end,
    "bad argument #2 to 'get' (index 0 is out of range 1..3 for dimension 2)"},
  {"get wrong count", function() return m:get(1) end,
    "bad argument #1 to 'get' (2 indices expected for a 2-dimensional tensor, got 1)"},
  {"get float index", function() return m:get(1.5, 1) end,
    "bad argument #1 to 'get' (number has no integer representation)"},
  {"set non-number", function() return m:set("x", 1, 1) end,
    "bad argument #1 to 'set' (number expected, got string)"},
  {"set out of range", function() return m:set(1, 1, 4) end,
    "bad argument #3 to 'set' (index 4 is out of range 1..3 for dimension 2)"},
  {"size out of range", function() return m:size(3) end,
    "bad argument #1 to 'size' (dimension 3 is out of range 1..2 for a 2-dimensional tensor)"},
  {"row out of range", function() return m[3] end,
    "Tensor:__index: index 3 is out of range 1..2"},
  {"row assign bad value", function() m[1] = "x" end,
    "Tensor:__newindex: number or realprune.Tensor expected, got string"},
  {"row assign wrong shape", function() m[1] = T.ones{4} end,
    "Tensor:__newindex: shapes 3 and 4 cannot be broadcast"},
  {"len of scalar", function() return #T.from(1) end,
    "Tensor:__len: a 0-dimensional tensor has no length"},
  -- shapes
  {"reshape wrong count", function() return m:reshape{4, 2} end,
    "Tensor:reshape: cannot reshape 2x3 (6 elements) to 4x2 (8 elements)"},
  {"reshape negative", function() return m:reshape{-2, 3} end,
    "Tensor:reshape: size of dimension 1 must be non-negative (or one -1), got -2"},
  {"reshape no shape", function() return m:reshape() end,
    "bad argument #1 to 'reshape' (shape expected)"},
  {"copy wrong shape", function() return m:copy(T.ones{2, 2}) end,
    "Tensor:copy: shapes 2x3 and 2x2 cannot be broadcast together"},
  {"copy wrong type", function() return m:copy({1, 2, 3}) end,
    "bad argument #1 to 'copy' (realprune.Tensor expected, got table)"},
  {"fill wrong type", function() return m:fill(nil) end,
    "bad argument #1 to 'fill' (number expected, got nil)"},
  -- arithmetic
  {"add shapes", function() return m + v end,
    "Tensor:add: shapes 2x3 and 2 cannot be broadcast together (dimension 2: 3 vs 2)"},
  {"add string", function() return m + "1" end,
    "bad argument #2 to 'add' (realprune.Tensor or number expected, got string)"},
  {"sub table", function() return {} - m end,
    "bad argument #1 to 'sub' (realprune.Tensor or number expected, got table)"},
  {"mul method wrong type", function() return m:mul(true) end,
    "bad argument #1 to 'mul' (realprune.Tensor or number expected, got boolean)"},
  {"div shapes", function() return m:div(T.ones{3, 2}) end,
    "Tensor:div: shapes 2x3 and 3x2 cannot be broadcast together"},
  {"add_ grows shape", function() return v:add_(m) end,
    "Tensor:add_: shapes 2 and 2x3 cannot be broadcast together"},
  {"mul_ wrong type", function() return m:mul_("2") end,
    "bad argument #1 to 'mul_' (realprune.Tensor or number expected, got string)"},
  {"matmul inner", function() return m:matmul(m) end,
    "Tensor:matmul: matmul of 2x3 and 2x3: inner sizes 3 and 2 differ"},
  {"matmul 3-D", function() return T.ones{2, 2, 2}:matmul(m) end,
    "Tensor:matmul: matmul needs a 2-D and a 1-D or 2-D operand, got 2x2x2 and 2x3"},
  {"matmul wrong type", function() return m:matmul(3) end,
    "bad argument #1 to 'matmul' (realprune.Tensor expected, got number)"},
  -- reductions
  {"min empty", function() return T.zeros{0}:min() end, "Tensor:min: min of an empty tensor"},
  {"max empty", function() return T.zeros{0}:max() end, "Tensor:max: max of an empty tensor"},
  {"argmax empty", function() return T.zeros{0}:argmax() end,
    "Tensor:argmax: argmax of an empty tensor"},
  {"sum bad dim", function() return m:sum(3) end,
    "bad argument #1 to 'sum' (dimension 3 is out of range 1..2 for a 2-dimensional tensor)"},
  {"argmax bad dim", function() return m:argmax(0) end,
    "bad argument #1 to 'argmax' (dimension 0 is out of range 1..2"},
  {"norm bad p", function() return m:norm(-1) end,
    "bad argument #1 to 'norm' (norm order p must be positive, got -1)"},
  -- module level
  {"seed float", function() rp.seed(1.5) end,
    "bad argument #1 to 'seed' (integer expected, got float)"},
  {"seed string", function() rp.seed("x") end,
    "bad argument #1 to 'seed' (integer expected, got string)"},
  {"generator float", function() return rp.generator(0.5) end,
    "bad argument #1 to 'generator' (seed must be an integer, got a float)"},
  {"set_threads zero", function() rp.set_threads(0) end,
    "bad argument #1 to 'set_threads' (thread count must be in 1..1024, got 0)"},
  {"generator integer empty", function() return rp.generator(1):integer(5, 1) end,
    "bad argument #1 to 'integer' (empty interval 5..1)"},
  {"generator bad state", function() return rp.generator(1):set_state("abc") end,
    "bad argument #1 to 'set_state' (generator state of 41 bytes expected, got 3)"},
}

-- every method on a released tensor
local methods = {"shape", "dim", "numel", "size", "get", "set", "totable", "clone", "copy",
  "fill", "reshape", "sum", "mean", "min", "max", "abs", "norm", "count_nonzero", "add", "sub",
  "mul", "div", "add_", "sub_", "mul_", "div_", "matmul", "argmax"}
for _, name in ipairs(methods) do
  -- compiled as a real method call, as a user would write it
  local call = assert(load("local r = ...; return r:" .. name .. "(1)"))
  cases[#cases + 1] = {"released " .. name, function() return call(released()) end,
    "calling '" .. name .. "' on bad self (tensor has been released)"}
end
cases[#cases + 1] = {"released operand", function() return m + released() end,
  "bad argument #2 to 'add' (tensor has been released)"}
cases[#cases + 1] = {"released matmul operand", function() return m:matmul(released()) end,
  "bad argument #1 to 'matmul' (tensor has been released)"}
cases[#cases + 1] = {"released len", function() return #released() end,
  "bad argument #1 to 'len' (tensor has been released)"}
cases[#cases + 1] = {"released index", function() return released()[1] end,
  "tensor has been released"}

TestBadInput = {}

for i, case in ipairs(cases) do
  TestBadInput[("test_%02d_%s"):format(i, case[1]:gsub("%W", "_"))] = function()
    lu.assertErrorMsgContains(case[3], case[2])
  end
end

-- Finalizers that change a table being converted, or release a tensor an
-- operation is using, run at allocation points; they must never crash.
function TestBadInput:test_finalizers_during_calls()
  local row = {}
  for i = 1, 2000 do row[i] = i end
  local close = getmetatable(T.zeros{1}).__close
  for _ = 1, 30 do
    local nested = {row, row}
    for _ = 1, 20 do setmetatable({}, {__gc = function() nested[2] = 7 end}) end
    pcall(T.from, nested)
    local a = T.ones{64, 64}
    for _ = 1, 20 do setmetatable({}, {__gc = function() close(a) end}) end
    pcall(function() return a * 2, a + a, a:matmul(a), a:sum(1), a:clone() end)
  end
  collectgarbage()
  lu.assertEquals(T.from{{1, 2}}:sum(), 3)
end

function TestBadInput:test_empty_and_nan_shapes()
  lu.assertEquals(T.zeros{0, 1 << 20}:sum(1):shape(), {1 << 20})
  lu.assertErrorMsgContains("shape is too large",
    function() return T.zeros{0, 1 << 40, 1 << 40} end)
  lu.assertEquals(T.from{1, 0 / 0, 2}:argmax(), 2)
  lu.assertEquals(T.from{{1, 0 / 0}, {3, 2}}:argmax(2):totable(), {2, 1})
end

function TestBadInput:test_close_twice_is_harmless()
  local t = T.ones{3}
  local mt = getmetatable(t)
  mt.__close(t)
  mt.__close(t)
  mt.__gc(t)
  lu.assertEquals(tostring(t), "realprune.Tensor(released)")
end

function TestBadInput:test_views_outlive_their_source()
  local view
  do
    local t <close> = T.arange(6)
    view = t:reshape{2, 3}
  end
  collectgarbage()
  lu.assertEquals(view:sum(), 15)
end

function TestBadInput:test_state_intact_after_errors()
  local t = T.from{1, 2, 3}
  pcall(function() return t:add_(T.ones{2}) end)
  pcall(function() return t:copy(T.ones{4}) end)
  lu.assertEquals(t:totable(), {1, 2, 3})
end

-- docs/design.md, "Errors": after the caller's position, a message starts with
-- the Lua-visible name of what failed.
function TestBadInput:test_messages_start_with_the_lua_visible_name()
  local nn, optim = rp.nn, rp.optim
  local model = rp.models.lenet5{}
  local calls = {
    {"rp.nn.Conv2d:", function() nn.Conv2d(1, 2, 3, {algorithm = "fft"}) end},
    {"rp.nn.Conv2d:forward:", function() nn.Conv2d(1, 2, 3):forward(3) end},
    {"rp.nn.Conv2d:backward:", function() nn.Conv2d(1, 2, 3):backward(T.zeros{1, 1, 4, 4},
      T.zeros{1, 2, 2, 2}) end},
    {"rp.nn.Linear:", function() nn.Linear(0, 2) end},
    {"rp.nn.Linear:set_mask:", function() nn.Linear(3, 2):set_mask(T.ones{3}) end},
    {"rp.nn.BatchNorm2d:forward:", function() nn.BatchNorm2d(3):forward(T.zeros{1, 2, 4, 4}) end},
    {"rp.nn.Dropout:", function() nn.Dropout(1.5) end},
    {"rp.nn.Sequential:add:", function() nn.Sequential{}:add(42) end},
    {"rp.nn.MaxPool2d:output_shape:", function() nn.MaxPool2d(2):output_shape{1, 2} end},
    {"rp.optim.SGD:", function() optim.SGD(model:parameters(), {}) end},
    {"rp.optim.SGD:set_lr:", function()
      optim.SGD(model:parameters(), {lr = 0.1}):set_lr(-1) end},
    {"rp.optim.Adam:load_state:", function()
      optim.Adam(model:parameters()):load_state({kind = "SGD"}) end},
    {"rp.optim.cosine:", function() optim.cosine(optim.SGD(model:parameters(), {lr = 1}),
      {epochs = 0}) end},
    {"rp.models.lenet5:", function() rp.models.lenet5{depth = 3} end},
    {"rp.prune.apply:", function() rp.prune.apply(model, {granularity = "stripes"}) end},
    {"rp.prune.iterative:", function() rp.prune.iterative{rate = 2} end},
    {"rp.report.table:", function() rp.report.table({}, {format = "html"}) end},
    {"rp.xbar.config:", function() rp.xbar.config{signed = "two's complement"} end},
    {"rp.reram.preset:", function() rp.reram.preset("nope") end},
  }
  for _, c in ipairs(calls) do
    local ok, err = pcall(c[2])
    lu.assertFalse(ok, c[1])
    local msg = tostring(err):gsub("^[^:]*:%d+: ", "", 1)
    lu.assertEquals(msg:sub(1, #c[1]), c[1], msg)
  end
end

os.exit(lu.LuaUnit.run())
