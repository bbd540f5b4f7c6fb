--- composed_schedule: a filter stage, then a column stage (rp.prune.sequence),
-- against the column stage alone, on vgg_small / Fashion-MNIST.
--
--     build/realprune run recipes/composed_schedule.lua --filter_rounds 2 --column_rounds 4
--
-- The filter stage removes whole output channels (fine-grained enough for the
-- convolutions to shrink), then the column stage prunes crossbar column
-- segments; both rewind to initialization after every round. The full form
-- (the defaults) uses CIFAR-10 with vgg11 when it is under REALPRUNE_DATA, else
-- all of Fashion-MNIST with vgg_small; --quick is a small Fashion-MNIST run.
return {
  name = "composed_schedule",
  description = "filter stage then column stage (rp.prune.sequence) vs the column stage alone",
  defaults = {model = "vgg_small", full_model = "vgg11", dataset = "auto", train_images = 0,
    test_images = 0, epochs = 2, filter_rate = 0.3, filter_rounds = 2, column_rate = 0.4,
    column_rounds = 4,
    clip = require("realprune.recipe").training.clip},
  quick = {train_images = 3000, test_images = 1000, epochs = 1, filter_rounds = 1,
    column_rounds = 2},
  run = function(ctx)
    local rp = require "realprune"
    local o = ctx.opts
    local train, test, build = require("realprune.recipe").paper_data(ctx, o)
    local column = {granularity = "column", score = "l1", exclude = "first_last"}
    local plans = {
      {"filter+column", rp.prune.sequence{
        rp.prune.iterative{rate = o.filter_rate, rounds = o.filter_rounds, granularity = "filter",
          score = "l1", exclude = "first_last"},
        rp.prune.iterative{rate = o.column_rate, rounds = o.column_rounds, granularity = "column",
          score = "l1", exclude = "first_last"}}},
      {"column", rp.prune.iterative{rate = o.column_rate,
        rounds = o.filter_rounds + o.column_rounds,
        granularity = column.granularity, score = column.score, exclude = column.exclude}},
    }
    local curve = {}
    for _, plan in ipairs(plans) do
      rp.seed(ctx.seed)
      local rows = rp.lth.run{model = build(), train = train, test = test,
        schedule = plan[2],
        fit = require("realprune.recipe").fit(o),
        seed = ctx.seed, dir = ctx:path(plan[1]:gsub("%+", "_")),
        log = function(l) ctx:log("%s", l) end}
      for _, r in ipairs(rows) do
        ctx:record{method = plan[1], round = r.round, sparsity = r.sparsity,
          crossbars = r.crossbars, crossbars_dense = r.crossbars_dense,
          hardware_saving = r.hardware_saving, accuracy = r.accuracy}
        curve[#curve + 1] = ctx.rows[#ctx.rows]
      end
    end
    ctx:plot("accuracy_vs_crossbars", {rows = curve, x = "crossbars", y = "accuracy",
      series = "method", title = "Accuracy against crossbars", xlabel = "crossbars",
      ylabel = "test accuracy"})
  end,
}
