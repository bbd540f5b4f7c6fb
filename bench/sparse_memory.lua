--- Peak memory of pruned training: 4 SGD steps (batch 128) of vgg11 with 90%
-- of a granularity pruned, on the sparse kernels or on the dense ones; run
-- it under /usr/bin/time and compare the maximum resident sizes:
--
--     /usr/bin/time -f %M build/realprune bench/sparse_memory.lua sparse|dense \
--       [column|element]
local rp = require "realprune"
local T = rp.tensor
local common = dofile((arg[0]:gsub("[^/]*$", "")) .. "common.lua")
rp.set_threads(2)
rp.nn.use_sparse(arg[1] == "sparse")
rp.seed(1)
local m = rp.models.vgg11{}
rp.prune.apply(m, {granularity = arg[2] or "column", amount = 0.9, exclude = "first_last"})
local step = common.sgd_step(m, T.randn({128, 3, 32, 32}, rp.generator(1)))
for _ = 1, 4 do step() end
