--- train_dense: train one zoo model from scratch on Fashion-MNIST (the dense
-- baseline of the pruning recipes).
--
--     build/realprune run recipes/train_dense.lua --model vgg_small --epochs 5 --lr 0.05
--
-- SGD with momentum 0.9 and weight decay 5e-4, the learning rate annealed to 0
-- by a cosine over the epochs; with --augment, random shifts of up to 2 pixels
-- and horizontal flips. Saves the model to <out>/model.rpk.
return {
  name = "train_dense",
  description = "train a zoo model from scratch on Fashion-MNIST and report test accuracy",
  defaults = {model = "vgg_small", epochs = 5, lr = require("realprune.recipe").training.lr,
    batch = require("realprune.recipe").training.batch, augment = false,
    train_images = 60000},
  quick = {epochs = 1, train_images = 5000},
  run = function(ctx)
    local rp = require "realprune"
    local o = ctx.opts
    local train = rp.data.fashion_mnist{split = "train"}
    if o.train_images < #train then train = train:subset(o.train_images, ctx.seed) end
    local test = rp.data.fashion_mnist{split = "test"}
    local model = rp.models[o.model]{}
    ctx:log("%s on Fashion-MNIST: %d images, %d epochs, batch %d, lr %g, seed %d, %d threads",
      o.model, #train, o.epochs, o.batch, o.lr, ctx.seed, rp.get_threads())
    local t = require("realprune.recipe").training
    local opt = rp.optim.SGD(model:parameters(), {lr = o.lr, momentum = t.momentum,
      weight_decay = t.weight_decay})
    local history = rp.train.fit(model, train:loader{batch_size = o.batch, shuffle = true,
      seed = ctx.seed, augment = o.augment and {pad = 2, flip = true} or nil}, {
      epochs = o.epochs, optimizer = opt, schedule = rp.optim.cosine(opt, {epochs = o.epochs}),
      test = test:loader{batch_size = 500}, log = function(l) ctx:log("%s", l) end})
    for _, h in ipairs(history) do
      ctx:record{method = o.model, epoch = h.epoch, loss = h.loss, accuracy = h.test_accuracy,
        train_accuracy = h.accuracy, seconds = h.seconds}
    end
    rp.save(ctx:path("model.rpk"), {model = model, history = history})
  end,
}
