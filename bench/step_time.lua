--- One SGD step of vgg11 (3x32x32, batch 128, 2 threads, momentum 0.9) with a
-- granularity's groups pruned: the best mean of 4 runs of 3 steps, in ms.
-- For A/B comparisons of two builds, run alternately:
--
--     build/realprune bench/step_time.lua [granularity] [amount] [sparse 1|0]
--
-- (defaults: column 0.9 1; amount 0: dense; sparse 0: the masks on the dense
-- kernels, rp.nn.use_sparse(false)).
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn
local common = dofile((arg[0]:gsub("[^/]*$", "")) .. "common.lua")
rp.set_threads(2)
local gran, amount = arg and arg[1] or "column", tonumber(arg and arg[2] or "") or 0.9
local model = rp.models.vgg11{}
rp.seed(1)
if amount > 0 then
  rp.prune.apply(model, {granularity = gran, amount = amount, exclude = "first_last"})
end
rp.nn.use_sparse((arg and arg[3] or "1") ~= "0")
nn.skip_input_grad(model)
local step = common.sgd_step(model, T.randn({128, 3, 32, 32}, rp.generator(1)))
step()
step()
local best = math.huge
for _ = 1, 4 do
  local t0 = rp.clock()
  for _ = 1, 3 do step() end
  best = math.min(best, (rp.clock() - t0) / 3)
end
print(("%.1f ms"):format(best * 1e3))
