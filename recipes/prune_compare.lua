--- prune_compare: lottery-ticket pruning of vgg_small on Fashion-MNIST with
-- several strategies, one row per strategy and round.
--
--     build/realprune run recipes/prune_compare.lua --strategies realprune,lth,cgp \
--         --train_images 20000 --epochs 3 --rate 0.3 --rounds 7
--
-- Each strategy starts from the same initialization (the seed), trains the
-- dense network for `epochs`, then prunes `rate` of the alive groups per round,
-- rewinding to initialization (filter: no rewind) and retraining `epochs` each
-- round (SGD, lr 0.05, momentum 0.9, weight decay 5e-4, batch 64, cosine per
-- round). Test accuracy is on the full 10,000-image test set. An interrupted
-- run continues with --resume (each strategy's lth.rpk in the output folder).
return {
  name = "prune_compare",
  description = "lottery-ticket pruning of vgg_small with several strategies, round by round",
  defaults = {strategies = "realprune,lth,cgp", model = "vgg_small", train_images = 20000,
    test_images = 10000, epochs = 3, rate = 0.3, rounds = 7, lr = 0.05, batch = 64},
  quick = {train_images = 2000, test_images = 1000, epochs = 1, rounds = 2, rate = 0.5},
  run = function(ctx)
    local rp = require "realprune"
    local o = ctx.opts
    local train = rp.data.fashion_mnist{split = "train"}:subset(o.train_images, ctx.seed)
    local test = rp.data.fashion_mnist{split = "test"}
    if o.test_images < #test then test = test:subset(o.test_images, ctx.seed) end
    for name in o.strategies:gmatch("[^,]+") do
      local s = rp.strategies.copy(name)
      s.rate, s.rounds = o.rate, o.rounds
      rp.seed(ctx.seed)
      local model = rp.models[o.model]{}
      ctx:log("== %s: %s", name, s.follows)
      local rows = rp.lth.run{model = model, train = train, test = test, strategy = s,
        fit = {epochs = o.epochs, lr = o.lr, batch_size = o.batch}, seed = ctx.seed,
        dir = ctx:path(name), log = function(l) ctx:log("%s", l) end}
      for _, r in ipairs(rows) do
        ctx:record{method = name, round = r.round, sparsity = r.sparsity, alive = r.alive,
          crossbars = r.crossbars, crossbars_dense = r.crossbars_dense,
          hardware_saving = r.hardware_saving, accuracy = r.accuracy,
          best_accuracy = r.best_accuracy, seconds = r.seconds}
      end
    end
  end,
}
