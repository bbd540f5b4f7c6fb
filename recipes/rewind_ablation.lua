--- rewind_ablation: ReaLPrune with rewinding to initialization against late
-- rewinding (to the weights after epoch 1 of the dense training) and against
-- no rewinding (fine-tuning), on vgg_small / Fashion-MNIST.
--
--     build/realprune run recipes/rewind_ablation.lua --rounds 4 --epochs 2
--
-- The full form (the defaults) uses CIFAR-10 with vgg11 when it is under
-- REALPRUNE_DATA, else all of Fashion-MNIST with vgg_small.
return {
  name = "rewind_ablation",
  description = "realprune with rewind to init, late rewinding (epoch 1) and fine-tuning",
  defaults = {model = "vgg_small", full_model = "vgg11", dataset = "auto", train_images = 0,
    test_images = 0, epochs = 2, rate = 0.45, rounds = 4,
    clip = require("realprune.recipe").training.clip},
  quick = {train_images = 3000, test_images = 1000, epochs = 2, rounds = 2, rate = 0.55},
  run = function(ctx)
    local rp = require "realprune"
    local o = ctx.opts
    local train, test, build = require("realprune.recipe").paper_data(ctx, o)
    for _, variant in ipairs{{"init", "init"}, {"epoch1", {epoch = 1}}, {"none", "none"}} do
      local s = rp.strategies.copy("realprune")
      s.rate, s.rounds = o.rate, o.rounds
      rp.seed(ctx.seed)
      local rows = rp.lth.run{model = build(), train = train, test = test,
        strategy = s, rewind = variant[2], fit = require("realprune.recipe").fit(o),
        seed = ctx.seed, dir = ctx:path(variant[1]), log = function(l) ctx:log("%s", l) end}
      for _, r in ipairs(rows) do
        ctx:record{method = "rewind=" .. variant[1], round = r.round, sparsity = r.sparsity,
          crossbars = r.crossbars, crossbars_dense = r.crossbars_dense,
          hardware_saving = r.hardware_saving, accuracy = r.accuracy}
      end
    end
  end,
}
