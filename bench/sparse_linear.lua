--- A masked Linear layer (3136 -> 256, vgg_small's first, batch 128, 2 threads):
-- forward and backward on the sparse kernels against the dense product, best of
-- five rounds of ten each, with what auto runs:
--
--     build/realprune bench/sparse_linear.lua
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn
rp.set_threads(2)

for _, spec in ipairs{{"column", 0.7}, {"column", 0.9}, {"element", 0.95}, {"filter", 0.9}} do
  rp.seed(1)
  local l = nn.Linear(3136, 256)
  rp.prune.apply(nn.Sequential{l}, {granularity = spec[1], amount = spec[2]})
  local x = T.randn({128, 3136}, rp.generator(2))
  local gy = T.randn({128, 256}, rp.generator(3))
  local function best(on)
    rp.nn.use_sparse(on)
    local b = 1e9
    for _ = 1, 5 do
      local t0 = rp.clock()
      for _ = 1, 10 do l:forward(x); l:backward(x, gy) end
      b = math.min(b, (rp.clock() - t0) / 10)
    end
    return b
  end
  local dense = best(false)
  local auto = best(true)
  print(("%-8s %3.0f%%  dense %6.2f ms  auto %6.2f ms (%s)  %.2fx"):format(spec[1],
    100 * spec[2], 1e3 * dense, 1e3 * auto, l.runs, dense / auto))
end
