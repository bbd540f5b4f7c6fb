--- Faulty weights a pruned network meets on one chip, by placement: vgg_small at
-- half width, 70% of its column segments pruned (first and last layers dense),
-- on 32x32 crossbars of 8-bit weights in 2-bit cells whose rows keep their
-- place, with a whole-chip map of 0.9% SA0 + 0.1% SA1. Packed (as ReaLPrune
-- counts crossbars) and in place, each restricted and remapped, and the
-- fault-aware pruning of the same network (rp.prune.apply's faults).
--
--     build/realprune bench/fault_placement.lua
local rp = require "realprune"
rp.seed(1)
local m = rp.models.vgg_small{width = 0.5}
local cfg = rp.xbar.config{rows = 32, cols = 32, weight_bits = 8, cell_bits = 2,
  compact_rows = false}
local chip = rp.faults.sample(m, cfg, {sa0 = 0.009, sa1 = 0.001, seed = 2})
print(("chip: %d cells, %d stuck, %d faulty weights"):format(chip.total.cells,
  chip.total.sa0 + chip.total.sa1, chip.total.faulty))
local aware = m:clone()
local spec = {granularity = "column", amount = 0.7, xbar = cfg, exclude = "first_last"}
rp.prune.apply(m, spec)
spec.faults = chip
rp.prune.apply(aware, spec)
local function show(name, f)
  print(("%-28s %5d crossbars %7d cells %6d stuck %6d faulty weights %5d moved"):format(name,
    f.total.crossbars, f.total.cells, f.total.sa0 + f.total.sa1, f.total.faulty,
    f.total.moved or 0))
end
for _, pl in ipairs{"packed", "in_place"} do
  local o = {placement = pl}
  show("realprune, " .. pl, rp.faults.restrict(chip, m, o))
  show("realprune, " .. pl .. ", remap", rp.faults.remap(chip, m, o))
end
local o = {placement = "in_place"}
show("fault-aware, in_place", rp.faults.restrict(chip, aware, o))
show("fault-aware, in_place, remap", rp.faults.remap(chip, aware, o))
