--- Peak memory of pruned training: 4 SGD steps (batch 128) of vgg11 with 90%
-- of a granularity pruned, on the sparse kernels or on the dense ones; run
-- it under /usr/bin/time and compare the maximum resident sizes:
--
--     /usr/bin/time -f %M build/realprune bench/sparse_memory.lua sparse|dense \
--       [column|element]
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn
rp.set_threads(2)
rp.nn.use_sparse(arg[1] == "sparse")
rp.seed(1)
local m = rp.models.vgg11{}
rp.prune.apply(m, {granularity = arg[2] or "column", amount = 0.9, exclude = "first_last"})
local x = T.randn({128, 3, 32, 32}, rp.generator(1))
local labels = {} for i = 1, 128 do labels[i] = (i % 10) + 1 end
local opt = rp.optim.SGD(m:parameters(), {lr = 0.01, momentum = 0.9})
local crit = nn.CrossEntropyLoss()
for _ = 1, 4 do
  opt:zero_grad()
  crit:forward(m:forward(x), labels)
  m:backward(x, crit:backward())
  opt:step()
end
