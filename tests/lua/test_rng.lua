-- Generators: reproducible streams, independent generators, saved state.
local lu = require "luaunit"
local rp = require "realprune"

local SEED = 77
print("test_rng: seed " .. SEED)

TestGenerator = {}

function TestGenerator:test_same_seed_same_stream()
  local a, b = rp.generator(SEED), rp.generator(SEED)
  for _ = 1, 100 do
    lu.assertEquals(a:uniform(), b:uniform())
    lu.assertEquals(a:normal(), b:normal())
    lu.assertEquals(a:integer(10), b:integer(10))
  end
end

function TestGenerator:test_default_generator_follows_seed()
  rp.seed(SEED)
  local x = rp.tensor.randn{50}:totable()
  local g = rp.generator(SEED)
  local y = rp.tensor.randn({50}, g):totable()
  lu.assertEquals(x, y)
  rp.seed(SEED)
  lu.assertEquals(rp.default_generator():uniform(), rp.generator(SEED):uniform())
end

function TestGenerator:test_state_roundtrip_and_clone()
  local g = rp.generator(SEED)
  g:normal() -- leaves a spare Box-Muller value in the state
  local s = g:state()
  local c = g:clone()
  local want = {g:normal(), g:uniform(), g:integer(1000)}
  lu.assertEquals({c:normal(), c:uniform(), c:integer(1000)}, want)
  local h = rp.generator(1):set_state(s)
  lu.assertEquals({h:normal(), h:uniform(), h:integer(1000)}, want)
end

function TestGenerator:test_ranges()
  local g = rp.generator(SEED)
  local seen = {}
  for _ = 1, 2000 do
    local k = g:integer(3, 6)
    lu.assertTrue(k >= 3 and k <= 6)
    seen[k] = true
    local u = g:uniform(-2, 2)
    lu.assertTrue(u >= -2 and u < 2)
  end
  lu.assertEquals(seen, {[3] = true, [4] = true, [5] = true, [6] = true})
  lu.assertEquals(math.type(g:integer(5)), "integer")
end

function TestGenerator:test_different_seeds_differ()
  lu.assertNotEquals(rp.generator(1):uniform(), rp.generator(2):uniform())
  lu.assertStrContains(tostring(rp.generator(1)), "realprune.Generator")
end

os.exit(lu.LuaUnit.run())
