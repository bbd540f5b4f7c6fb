--- Time of one pruning step on vgg16 (target: under 200 ms), per granularity.
--     build/realprune bench/prune_step.lua
local rp = require "realprune"
local base = rp.models.vgg16{}
print("prune_step: vgg16, 14.7 M prunable weights, amount 0.2")
for _, spec in ipairs{
    {granularity = "column"}, {granularity = "tile"}, {granularity = "filter"},
    {granularity = "channel"}, {granularity = "row"}, {granularity = "block", block = {16, 16}},
    {granularity = "column", scope = "global"}, {granularity = "element"},
    {granularity = "element", scope = "global"}} do
  local m = base:clone()
  spec.amount = 0.2
  rp.prune.apply(m, spec) -- a first step (masks exist from here on)
  local t0 = rp.clock()
  rp.prune.apply(m, spec)
  print(("%-9s %-6s %8.1f ms"):format(spec.granularity, spec.scope or "layer",
    (rp.clock() - t0) * 1e3))
end
