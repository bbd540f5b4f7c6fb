--- train_dense: train one zoo model from scratch on Fashion-MNIST and report
-- test accuracy per epoch (the dense baseline of the pruning recipes).
--
--     build/realprune recipes/train_dense.lua [model] [epochs] [lr] [seed] [augment] [batch]
--     build/realprune recipes/train_dense.lua vgg_small 5 0.05 1
--
-- SGD with momentum 0.9 and weight decay 5e-4, batch 64 by default, the learning rate
-- annealed to 0 by a cosine over the epochs; with augment = 1, random shifts
-- of up to 2 pixels and horizontal flips. Saves the model to results/<model>.rpk.

local rp = require "realprune"

local model_name = arg and arg[1] or "vgg_small"
local epochs = math.tointeger(tonumber(arg and arg[2] or "")) or 5
local lr = tonumber(arg and arg[3] or "") or 0.05
local seed = math.tointeger(tonumber(arg and arg[4] or "")) or 1
local augment = (arg and arg[5] or "0") == "1"
local batch = math.tointeger(tonumber(arg and arg[6] or "")) or 64

rp.seed(seed)
local train = rp.data.fashion_mnist{split = "train"}
local test = rp.data.fashion_mnist{split = "test"}
local model = rp.models[model_name]{}
print(("%s on Fashion-MNIST: %d epochs, batch %d, lr %g, seed %d, augmentation %s, %d threads")
  :format(model_name, epochs, batch, lr, seed, augment and "on" or "off", rp.get_threads()))
local opt = rp.optim.SGD(model:parameters(), {lr = lr, momentum = 0.9, weight_decay = 5e-4})
local schedule = rp.optim.cosine(opt, {epochs = math.max(1, epochs)})
local t0 = rp.clock()
local history = rp.train.fit(model, train:loader{batch_size = batch, shuffle = true, seed = seed,
  augment = augment and {pad = 2, flip = true} or nil}, {epochs = epochs, optimizer = opt, schedule = schedule,
  test = test:loader{batch_size = 500}})
print(("final test accuracy %.2f%% after %d epochs, %.0f s"):format(
  100 * history[#history].test_accuracy, epochs, rp.clock() - t0))
os.execute("mkdir -p results")
rp.save("results/" .. model_name .. ".rpk", {model = model, history = history})
