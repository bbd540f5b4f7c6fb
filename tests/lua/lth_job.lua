-- A small lottery-ticket run used by test_lth.lua and tests/crash_kill.lua:
-- arg[1] = dir, arg[2] = rows file, arg[3] = training images (1200).
local rp = require "realprune"
local dir, out = arg[1], arg[2]
local n_train = math.tointeger(tonumber(arg[3] or "")) or 1200
local train = rp.data.fashion_mnist{split = "test"}:subset(n_train, 1)
local test = rp.data.fashion_mnist{split = "test"}:subset(200, 2)
local s = rp.strategies.copy("realprune")
s.rounds, s.rate = 4, 0.4
local rows = rp.lth.run{model = rp.models.lenet5{}, train = train, test = test,
  fit = {epochs = 2, lr = 0.02, batch_size = 50}, strategy = s, dir = dir, seed = 7,
  log = function() end}
local f = assert(io.open(out, "w"))
for _, r in ipairs(rows) do
  f:write(("%d %.17g %d %d %.17g %.17g\n"):format(r.round, r.sparsity, r.alive, r.crossbars,
    r.accuracy, r.best_accuracy))
end
f:close()
