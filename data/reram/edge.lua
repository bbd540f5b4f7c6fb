-- An edge-sized chip of ISAAC's tiles: the ISAAC preset (isaac.lua, every
-- constant and its source) with 16 tiles instead of ISAAC-CE's 168.
--
-- The chip size is an assumption, chosen as the smallest number of ISAAC tiles
-- (12 IMAs x 8 crossbars = 96 each) that holds the largest layer of CIFAR
-- VGG-16 for its backward pass in either backward mode: a 4608x512 layer
-- needs 1,152 crossbars for M (or M^T) plus 288 gradient arrays = 1,440, and
-- 16 tiles give 1,536. Such a chip holds dense vgg_small (1,382 crossbars for
-- training), but not dense vgg11 (10,404) or vgg16 (16,940): those are
-- trained in groups reprogrammed every batch, the setting in which ReaLPrune
-- argues that pruning pays most. A fabricated edge chip is smaller still:
-- NeuRRAM (Wan et al., Nature 608, 2022) has 48 cores of 256x256 cells, about
-- 192 arrays of 128x128, less than one VGG-16 layer; the model does not split
-- a layer across reprogramming rounds, so it cannot model that chip.
local isaac = dofile((debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or ".") .. "/isaac.lua")
local edge = {}
for k, v in pairs(isaac) do edge[k] = v end
edge.name = "edge"
edge.description = "edge chip of 16 ISAAC tiles: 1,536 crossbars of 128x128, 2-bit cells; " ..
  "holds vgg16's largest layer but not dense vgg11 or vgg16"
edge.chip_crossbars = 16 * 12 * 8
-- One write driver set per IMA, as isaac.lua assumes: 16 x 12 crossbars at once.
edge.write_parallel = 16 * 12
return edge
