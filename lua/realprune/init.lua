--- realprune: crossbar-aware pruning of CNNs for ReRAM accelerators.
--
--     local rp = require "realprune"
--     rp.seed(1)
--     local x = rp.tensor.randn{2, 3}
--     print(x:matmul(rp.tensor.ones{3, 1}))
--
-- Submodules (`rp.tensor`, ...) are loaded on first use.
-- @module realprune

local core = require "realprune.core"

local rp = {}

--- Version string of the workbench ("major.minor.patch").
rp.VERSION = core.VERSION

--- The C module, for code that needs the raw functions.
rp.core = core

--- Reseeds the default generator used by `rp.tensor.rand`/`randn` and every
-- random choice that is not given its own generator.
-- @tparam integer n seed
-- @usage rp.seed(42)
function rp.seed(n)
  if math.type(n) ~= "integer" then
    error(("bad argument #1 to 'seed' (integer expected, got %s)"):format(
      math.type(n) or type(n)), 2)
  end
  core.default_generator():seed(n)
end

--- A new random generator with its own state.
-- @tparam integer seed
-- @treturn realprune.Generator with `:uniform([a,b])`, `:normal([m,s])`,
--   `:integer(n)` / `:integer(m,n)`, `:seed(n)`, `:clone()`, `:state()`, `:set_state(s)`
-- @usage local g = rp.generator(7); local x = rp.tensor.rand({3}, g)
rp.generator = core.generator

--- The generator used when none is given.
rp.default_generator = core.default_generator

--- Monotonic wall-clock seconds (for timing; never goes backwards).
rp.clock = core.clock

--- Sets the number of threads used by OpenBLAS.
-- @tparam integer n at least 1
function rp.set_threads(n)
  core.set_threads(n)
end

--- The number of threads OpenBLAS uses.
rp.get_threads = core.get_threads

-- Default thread count: all cores, unless REALPRUNE_THREADS says otherwise.
do
  local env = os.getenv("REALPRUNE_THREADS")
  local n = math.min(core.cpu_count(), 1024)
  if env and env ~= "" then
    n = math.tointeger(tonumber(env))
    if not n or n < 1 then
      error(("realprune: REALPRUNE_THREADS must be a positive integer, got %q"):format(env))
    end
  end
  core.set_threads(n)
end

--- Saves a tensor, a model (architecture + state), an optimizer's state or a
-- plain table of those to `path`, atomically (see realprune.checkpoint).
-- @usage rp.save("ckpt.rpk", {model = m, optimizer = opt, epoch = 3})
function rp.save(path, obj)
  return require("realprune.checkpoint").save(path, obj)
end

--- Loads what rp.save wrote; models come back rebuilt with their state.
function rp.load(path)
  return require("realprune.checkpoint").load(path)
end

-- Submodules, loaded on first access: rp.tensor -> require "realprune.tensor".
local submodules = {
  tensor = true, nn = true, models = true, optim = true, data = true, train = true,
  checkpoint = true, xbar = true, reram = true, prune = true, lth = true, strategies = true,
  report = true, json = true, paths = true, paper = true, recipe = true, results = true,
  names = true, faults = true, sweep = true,
}

return setmetatable(rp, {
  __index = function(t, key)
    if submodules[key] then
      local m = require("realprune." .. key)
      rawset(t, key, m)
      return m
    end
    return nil
  end,
})
