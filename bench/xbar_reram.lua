--- Speed of the crossbar mapping and the ReRAM model (targets: mapping a
-- masked vgg16 with its transposed counts under 100 ms, a simulation of vgg16
-- under 10 ms), so that sweeps over chips and masks stay interactive.
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
local column = rp.models.vgg16{}
rp.prune.apply(column, {granularity = "column", amount = 0.9, xbar = cfg})
local cmap = rp.xbar.map(column, cfg)
print(("xbar_reram: map masked vgg16 (%.1f%% alive, %d of %d crossbars; M^T %d of %d): %.1f ms " ..
  "(target 100)"):format(100 * map.total.alive / map.total.weights, map.total.crossbars,
  map.total.crossbars_dense, map.total.crossbars_transposed, map.total.crossbars_transposed_dense,
  t_map * 1e3))
for _, name in ipairs{"isaac", "pipelayer", "rpu", "edge"} do
  local a = rp.reram.presets[name]
  local c = rp.reram.xbar_config(a)
  local d, p = dense, cmap
  if c.cell_bits ~= cfg.cell_bits or c.weight_bits ~= cfg.weight_bits then
    d = rp.xbar.map(rp.models.vgg16{}, c)
    local pm = rp.models.vgg16{}
    rp.prune.apply(pm, {granularity = "column", amount = 0.9, xbar = c})
    p = rp.xbar.map(pm, c)
  end
  local t_dense = timeit(function() rp.reram.simulate(d, a, {batch = 128}) end)
  local t_pruned = timeit(function() rp.reram.simulate(p, a, {batch = 128}) end)
  print(("xbar_reram: simulate vgg16 on %-9s dense %.2f ms, 90%% column-pruned %.2f ms " ..
    "(target 10)"):format(name, t_dense * 1e3, t_pruned * 1e3))
end
