--- The table of data/reram/README.md: dense against 90%-column-pruned
-- vgg_small, vgg11 and vgg16 (CIFAR shapes for the VGGs, Fashion-MNIST for
-- vgg_small), on every preset's crossbars in both backward modes, on three
-- chips: ISAAC-CE's 16,128 crossbars, one that just holds the dense
-- network's training arrays, and the edge preset's 1,536.
--
--     build/realprune tools/reram_table.lua > /tmp/table.md
--
-- Pruning: rp.prune.apply with granularity "column", amount 0.9, l1 scores of
-- the seed-1 initialization (every layer at 90% of its column segments).
local rp = require "realprune"

local chips = {
  {label = "16,128", over = {chip_crossbars = 16128}},
  {label = "dense", over = {chip_crossbars = "dense", chip_headroom = 0}},
  {label = "edge 1,536", over = {chip_crossbars = rp.reram.presets.edge.chip_crossbars}},
}
local out = {"| model | preset | backward | chip | crossbars dense | crossbars pruned | " ..
  "forward saving | training saving | speedup | energy saving |",
  "|---|---|---|---|---|---|---|---|---|---|"}
for _, mname in ipairs{"vgg_small", "vgg11", "vgg16"} do
  for _, pname in ipairs{"isaac", "pipelayer", "rpu"} do
    local preset = rp.reram.presets[pname]
    local cfg = rp.reram.xbar_config(preset)
    rp.seed(1)
    local dense_model = rp.models[mname]{}
    local dense = rp.xbar.map(dense_model, cfg)
    local pruned_model = dense_model:clone()
    rp.prune.apply(pruned_model, {granularity = "column", amount = 0.9, xbar = cfg})
    local pruned = rp.xbar.map(pruned_model, cfg)
    for _, backward in ipairs{"transposed_copy", "bidirectional"} do
      for _, chip in ipairs(chips) do
        local over = {backward = backward}
        for k, v in pairs(chip.over) do over[k] = v end
        if backward == "transposed_copy" and preset.gradient == "outer_product" then
          over.gradient = "arrays" -- in-place updates need one array for every pass
        end
        local arch = rp.reram.preset(preset, over)
        local ok, c = pcall(rp.reram.compare, dense, pruned, arch, {batch = 64})
        if ok then
          out[#out + 1] = ("| %s | %s | %s | %s | %d | %d | %.1f%% | %.1f%% | %.2fx | %.1f%% |")
            :format(mname, pname, backward .. (over.gradient and " (arrays)" or ""),
              chip.label == "dense" and ("%d (dense)"):format(c.a.chip_crossbars) or chip.label,
              c.a.crossbars, c.b.crossbars, 100 * c.forward_saving, 100 * c.hardware_saving,
              c.speedup, 100 * c.energy_saving)
        else
          out[#out + 1] = ("| %s | %s | %s | %s | — | — | — | — | %s | |"):format(mname, pname,
            backward, chip.label, (tostring(c):match("cannot hold layer [^,]+") or tostring(c)))
        end
      end
    end
  end
end
print(table.concat(out, "\n"))
