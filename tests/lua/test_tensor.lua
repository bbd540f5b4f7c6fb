-- Tensors from Lua: constructors, shapes, indexing, views, broadcasting,
-- reductions and matmul against plain Lua loops.
local lu = require "luaunit"
local rp = require "realprune"
local T = rp.tensor

local SEED = 20261126
print("test_tensor: seed " .. SEED)

local function naive_matmul(a, b) -- nested tables
  local m, k, n = #a, #b, #b[1]
  local c = {}
  for i = 1, m do
    c[i] = {}
    for j = 1, n do
      local s = 0
      for p = 1, k do s = s + a[i][p] * b[p][j] end
      c[i][j] = s
    end
  end
  return c
end

TestConstructors = {}

function TestConstructors:test_from_nested()
  local t = T.from{{1, 2, 3}, {4, 5, 6}}
  lu.assertEquals(t:shape(), {2, 3})
  lu.assertEquals(t:dim(), 2)
  lu.assertEquals(t:numel(), 6)
  lu.assertEquals(t:size(1), 2)
  lu.assertEquals(t:size(-1), 3)
  lu.assertEquals(#t, 2)
  lu.assertEquals(t:get(2, 3), 6.0)
  lu.assertEquals(t:totable(), {{1, 2, 3}, {4, 5, 6}})
end

function TestConstructors:test_from_deep_and_scalar()
  local t = T.from{{{{{1, 2}}}}}
  lu.assertEquals(t:shape(), {1, 1, 1, 1, 2})
  local s = T.from(3.5)
  lu.assertEquals(s:dim(), 0)
  lu.assertEquals(s:numel(), 1)
  lu.assertEquals(s:totable(), 3.5)
  lu.assertEquals(s:get(), 3.5)
  local e = T.from{}
  lu.assertEquals(e:shape(), {0})
  lu.assertEquals(e:sum(), 0)
end

function TestConstructors:test_from_tensor_copies()
  local a = T.from{1, 2}
  local b = T.from(a)
  b:set(9, 1)
  lu.assertEquals(a:get(1), 1.0)
end

function TestConstructors:test_fills()
  lu.assertEquals(T.zeros{2, 2}:totable(), {{0, 0}, {0, 0}})
  lu.assertEquals(T.ones(2, 3):sum(), 6)
  lu.assertEquals(T.full({3}, 2.5):totable(), {2.5, 2.5, 2.5})
  lu.assertEquals(T.zeros{0, 4}:numel(), 0)
  lu.assertEquals(T.arange(4):totable(), {0, 1, 2, 3})
  lu.assertEquals(T.arange(1, 2, 0.25):totable(), {1, 1.25, 1.5, 1.75})
  lu.assertEquals(T.arange(5, 1, -2):totable(), {5, 3})
  lu.assertEquals(T.arange(0):numel(), 0)
end

function TestConstructors:test_random_seeded()
  rp.seed(SEED)
  local a = T.randn{4, 5}
  local u = T.rand{1000}
  rp.seed(SEED)
  local b = T.randn{4, 5}
  lu.assertEquals(a:totable(), b:totable())
  lu.assertTrue(u:min() >= 0 and u:max() < 1)
  lu.assertAlmostEquals(u:mean(), 0.5, 0.05)
  local g1, g2 = rp.generator(3), rp.generator(3)
  lu.assertEquals(T.rand({7}, g1):totable(), T.rand({7}, g2):totable())
  lu.assertNotEquals(T.rand({7}, g1):totable(), T.rand({7}, rp.generator(4)):totable())
end

TestIndexing = {}

function TestIndexing:test_get_set()
  local t = T.zeros{2, 3, 4}
  t:set(7, 2, 3, 4)
  lu.assertEquals(t:get(2, 3, 4), 7)
  lu.assertEquals(t:sum(), 7)
  lu.assertIs(t:set(1, 1, 1, 1), t)
end

function TestIndexing:test_row_views()
  local t = T.from{{1, 2}, {3, 4}}
  local row = t[2]
  lu.assertEquals(row:totable(), {3, 4})
  lu.assertEquals(t[1][2], 2)
  row[1] = 30 -- writes through the view
  lu.assertEquals(t:get(2, 1), 30)
  t[1] = 5 -- fill a row
  lu.assertEquals(t:totable(), {{5, 5}, {30, 4}})
  t[2] = T.from{8, 9}
  lu.assertEquals(t:totable(), {{5, 5}, {8, 9}})
end

function TestIndexing:test_reshape_is_view()
  local t = T.arange(6)
  local v = t:reshape{2, 3}
  lu.assertEquals(v:shape(), {2, 3})
  v:set(-1, 2, 3)
  lu.assertEquals(t:get(6), -1)
  lu.assertEquals(t:reshape(3, -1):shape(), {3, 2})
  local c = t:clone()
  c:fill(0)
  lu.assertEquals(t:get(6), -1)
end

function TestIndexing:test_copy_broadcasts()
  local t = T.zeros{2, 3}
  lu.assertIs(t:copy(T.from{1, 2, 3}), t)
  lu.assertEquals(t:totable(), {{1, 2, 3}, {1, 2, 3}})
end

TestArithmetic = {}

function TestArithmetic:test_scalars_both_sides()
  local t = T.from{1, 2, 4}
  lu.assertEquals((t + 1):totable(), {2, 3, 5})
  lu.assertEquals((1 + t):totable(), {2, 3, 5})
  lu.assertEquals((t - 1):totable(), {0, 1, 3})
  lu.assertEquals((1 - t):totable(), {0, -1, -3})
  lu.assertEquals((t * 2):totable(), {2, 4, 8})
  lu.assertEquals((8 / t):totable(), {8, 4, 2})
  lu.assertEquals((t / 2):totable(), {0.5, 1, 2})
  lu.assertEquals((-t):totable(), {-1, -2, -4})
  lu.assertEquals(t:totable(), {1, 2, 4}) -- operators never modify operands
end

function TestArithmetic:test_broadcasting()
  local a = T.from{{1, 2, 3}, {4, 5, 6}}   -- 2x3
  lu.assertEquals((a + T.from{10, 20, 30}):totable(), {{11, 22, 33}, {14, 25, 36}})
  lu.assertEquals((a * T.from{{2}, {3}}):totable(), {{2, 4, 6}, {12, 15, 18}})
  local outer = T.from{{1}, {2}} * T.from{1, 10, 100}
  lu.assertEquals(outer:totable(), {{1, 10, 100}, {2, 20, 200}})
  local b3 = T.ones{4, 1, 3} + T.ones{2, 1}
  lu.assertEquals(b3:shape(), {4, 2, 3})
  lu.assertEquals(b3:sum(), 48)
  lu.assertEquals((a - T.from(1)):totable(), {{0, 1, 2}, {3, 4, 5}})
end

function TestArithmetic:test_methods_and_inplace()
  local a = T.from{{1, 2}, {3, 4}}
  lu.assertEquals(a:add(a):totable(), {{2, 4}, {6, 8}})
  lu.assertEquals(a:sub(1):totable(), {{0, 1}, {2, 3}})
  lu.assertEquals(a:mul(a):totable(), {{1, 4}, {9, 16}})
  lu.assertEquals(a:div(T.from{1, 2}):totable(), {{1, 1}, {3, 2}})
  lu.assertIs(a:add_(T.from{10, 20}), a)
  lu.assertEquals(a:totable(), {{11, 22}, {13, 24}})
  a:mul_(0.5):sub_(1):div_(T.from{{1}, {2}})
  lu.assertEquals(a:totable(), {{4.5, 10}, {2.75, 5.5}})
end

TestReductions = {}

function TestReductions:test_whole()
  local t = T.from{{-3, 1}, {2, 0}}
  lu.assertEquals(t:sum(), 0)
  lu.assertEquals(t:mean(), 0)
  lu.assertEquals(t:min(), -3)
  lu.assertEquals(t:max(), 2)
  lu.assertEquals(t:abs():totable(), {{3, 1}, {2, 0}})
  lu.assertEquals(t:norm(1), 6)
  lu.assertAlmostEquals(t:norm(), math.sqrt(14), 1e-12)
  lu.assertEquals(t:norm(math.huge), 3)
  lu.assertEquals(t:count_nonzero(), 3)
  lu.assertEquals(t:argmax(), 3)
end

function TestReductions:test_along_dim()
  local t = T.from{{1, 5, 2}, {7, 0, 3}}
  lu.assertEquals(t:sum(1):totable(), {8, 5, 5})
  lu.assertEquals(t:sum(2):totable(), {8, 10})
  local mean = t:mean(-1):totable()
  lu.assertAlmostEquals(mean[1], 8 / 3, 1e-6)
  lu.assertAlmostEquals(mean[2], 10 / 3, 1e-6)
  lu.assertEquals(t:argmax(2):totable(), {2, 1})
  lu.assertEquals(t:argmax(1):totable(), {2, 1, 2})
end

function TestReductions:test_float_accumulation()
  -- a million 0.1f values: float accumulation would drift far more
  local t = T.full({1000, 1000}, 0.1)
  lu.assertAlmostEquals(t:sum(), 100000, 0.01)
end

TestMatmul = {}

function TestMatmul:test_small()
  local y = T.from{{1, 2}, {3, 4}}:matmul(T.from{{1}, {1}})
  lu.assertEquals(y:totable(), {{3}, {7}})
  lu.assertEquals(T.from{{1, 2}, {3, 4}}:matmul(T.from{1, 1}):totable(), {3, 7})
  lu.assertEquals(T.from{1, 1}:matmul(T.from{{1, 2}, {3, 4}}):totable(), {4, 6})
end

function TestMatmul:test_random_shapes_against_loops()
  local g = rp.generator(SEED)
  local shapes = {{1, 1, 1}, {1, 9, 1}, {9, 1, 1}, {1, 1, 9}, {3, 5, 7}, {17, 33, 2},
                  {64, 1, 65}, {40, 70, 30}}
  for _, s in ipairs(shapes) do
    local a, b = T.randn({s[1], s[2]}, g), T.randn({s[2], s[3]}, g)
    local want = naive_matmul(a:totable(), b:totable())
    local got = a:matmul(b)
    lu.assertEquals(got:shape(), {s[1], s[3]})
    local gt = got:totable()
    for i = 1, s[1] do
      for j = 1, s[3] do
        lu.assertAlmostEquals(gt[i][j], want[i][j], 1e-4 * (1 + math.sqrt(s[2])))
      end
    end
  end
end

TestPrinting = {}

function TestPrinting:test_tostring()
  local s = tostring(T.from{{1, 2}, {3, 4}})
  lu.assertStrContains(s, "realprune.Tensor(float32, 2x2)")
  lu.assertStrContains(s, "[[1, 2],\n [3, 4]]")
  local big = tostring(T.arange(5000))
  lu.assertStrContains(big, "...")
  lu.assertTrue(#big < 200)
  lu.assertStrContains(tostring(T.from(2)), "float32, scalar")
end

function TestPrinting:test_released()
  local keep
  do
    local t <close> = T.ones{2}
    keep = t
  end
  lu.assertEquals(tostring(keep), "realprune.Tensor(released)")
end

TestModule = {}

function TestModule:test_api_names()
  for _, name in ipairs{"from", "zeros", "ones", "full", "rand", "randn", "arange"} do
    lu.assertIsFunction(T[name], name)
  end
  local t = T.zeros{1}
  for _, name in ipairs{"shape", "dim", "numel", "size", "get", "set", "totable", "clone",
      "copy", "fill", "reshape", "sum", "mean", "min", "max", "abs", "norm", "count_nonzero",
      "add", "sub", "mul", "matmul", "argmax"} do
    lu.assertIsFunction(t[name], name)
  end
  lu.assertIsString(rp.VERSION)
  lu.assertStrMatches(rp.VERSION, "%d+%.%d+%.%d+")
  lu.assertIsNumber(rp.clock())
  lu.assertTrue(T.is_tensor(t))
  lu.assertFalse(T.is_tensor({}))
end

function TestModule:test_threads()
  local n = rp.get_threads()
  rp.set_threads(1)
  lu.assertEquals(rp.get_threads(), 1)
  rp.set_threads(n)
  lu.assertEquals(rp.get_threads(), n)
end

function TestModule:test_clock_monotonic()
  local a = rp.clock()
  local b = rp.clock()
  lu.assertTrue(b >= a)
end

os.exit(lu.LuaUnit.run())
