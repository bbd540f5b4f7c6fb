--- prune_compare: lottery-ticket pruning of vgg_small on Fashion-MNIST with
-- several strategies; one table of rounds per strategy, then a summary at
-- matched sparsity.
--
--     build/realprune recipes/prune_compare.lua [strategies] [train_images] [epochs] [rate] [rounds] [seed]
--     build/realprune recipes/prune_compare.lua realprune,lth,cgp 20000 3 0.3 7 1
--
-- Each strategy starts from the same initialization (the seed), trains the
-- dense network for `epochs`, then prunes `rate` of the alive groups per round
-- for `rounds` rounds, rewinding to initialization and retraining `epochs` each
-- round (SGD, lr 0.05, momentum 0.9, weight decay 5e-4, batch 64, cosine per
-- round). Test accuracy is on the full 10,000-image test set. Results go to
-- results/prune_compare/<strategy>.csv and are resumed from there (lth.rpk).

local rp = require "realprune"

local names = {}
for n in (arg and arg[1] or "realprune,lth,cgp"):gmatch("[^,]+") do names[#names + 1] = n end
local n_train = math.tointeger(tonumber(arg and arg[2] or "")) or 20000
local epochs = math.tointeger(tonumber(arg and arg[3] or "")) or 3
local rate = tonumber(arg and arg[4] or "") or 0.3
local rounds = math.tointeger(tonumber(arg and arg[5] or "")) or 7
local seed = math.tointeger(tonumber(arg and arg[6] or "")) or 1

local train = rp.data.fashion_mnist{split = "train"}:subset(n_train, seed)
local test = rp.data.fashion_mnist{split = "test"}
local out = "results/prune_compare"
os.execute("mkdir -p " .. out)
local cols = {"round", "sparsity", "alive", "crossbars", "crossbars_dense", "hardware_saving",
  "accuracy", "best_accuracy", "seconds"}
local all = {}
for _, name in ipairs(names) do
  local s = rp.strategies.copy(name)
  s.rate, s.rounds = rate, rounds
  rp.seed(seed)
  local model = rp.models.vgg_small{}
  print(("== %s: %s"):format(name, s.follows))
  local rows = rp.lth.run{model = model, train = train, test = test, strategy = s,
    fit = {epochs = epochs, lr = 0.05, batch_size = 64}, seed = seed, dir = out .. "/" .. name}
  local f = assert(io.open(out .. "/" .. name .. ".csv", "w"))
  f:write(rp.report.table(rows, {format = "csv", columns = cols}), "\n")
  f:close()
  print(rp.report.table(rows, {columns = cols}))
  all[name] = rows
end
-- summary: the last round of each strategy and the dense baseline
local summary = {}
for _, name in ipairs(names) do
  local rows = all[name]
  local last, dense = rows[#rows], rows[1]
  summary[#summary + 1] = {method = name, sparsity = last.sparsity, accuracy = last.accuracy,
    dense_accuracy = dense.accuracy, accuracy_change = last.accuracy - dense.accuracy,
    crossbars = last.crossbars, crossbars_dense = last.crossbars_dense,
    hardware_saving = last.hardware_saving}
end
print(rp.report.table(summary, {columns = {"method", "sparsity", "accuracy", "dense_accuracy",
  "accuracy_change", "crossbars", "crossbars_dense", "hardware_saving"}}))
