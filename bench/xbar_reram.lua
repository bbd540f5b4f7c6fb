--- Speed of the crossbar mapping and the ReRAM model (targets: mapping a
-- masked vgg16 under 50 ms, a simulation under 10 ms).
--     build/realprune bench/xbar_reram.lua
local rp = require "realprune"

local function timeit(f)
  f()
  local n, t0 = 0, rp.clock()
  repeat f(); n = n + 1 until rp.clock() - t0 > 1
  return (rp.clock() - t0) / n
end

local m = rp.models.vgg16{}
local g = rp.generator(1)
for _, l in ipairs(m:prunable()) do
  -- a mask of roughly 10% alive weights
  local mask = rp.tensor.rand(l.weight:shape(), g):sub(0.9)
  mask:copy(mask:div(mask:abs():add(1e-12)):add(1):mul(0.5)) -- 1 where > 0.9, else 0
  l:set_mask(mask)
end
local arch = rp.reram.presets.isaac
local cfg = rp.reram.xbar_config(arch)
local map
local t_map = timeit(function() map = rp.xbar.map(m, cfg) end)
local dense = rp.xbar.map(rp.models.vgg16{}, cfg)
local t_sim = timeit(function() rp.reram.simulate(map, arch, {batch = 128}) end)
local t_sim_dense = timeit(function() rp.reram.simulate(dense, arch, {batch = 128}) end)
print(("xbar_reram: map masked vgg16 (%.1f%% alive, %d of %d crossbars): %.1f ms"):format(
  100 * map.total.alive / map.total.weights, map.total.crossbars, map.total.crossbars_dense,
  t_map * 1e3))
print(("xbar_reram: simulate pruned vgg16 on isaac: %.2f ms; dense: %.2f ms"):format(
  t_sim * 1e3, t_sim_dense * 1e3))
