--- Pruned training speed: images/s of one SGD step (forward, loss, backward,
-- momentum update) of vgg11 (3x32x32) and vgg_small (1x28x28), batch 128, on
-- random inputs, with 0/50/70/90/95% of the groups of a granularity pruned
-- (column segments, tiles, filters, elements), as ratios to the dense step of
-- the same build (the same masked network on the dense kernels,
-- rp.nn.use_sparse(false)), measured alternately in the same run; with a file
-- of PyTorch results
-- (bench/torch_reference.py --masked), the ratio to PyTorch training the same
-- masked network. Then the wall time of a lottery-ticket run (rp.lth.run,
-- 5 rounds of 1 epoch on 10,000 Fashion-MNIST images, rate 0.45 a round)
-- with sparse execution on (auto) and off (every layer dense).
--
--     build/realprune bench/sparse_train.lua [seconds] [torch_results_file] [--no-lth]
--
-- REALPRUNE_BENCH_GRANULARITIES (say "element") measures only the granularities it
-- names; REALPRUNE_BENCH_ROUNDS sets the alternations per row (5).
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn
local common = dofile((arg[0]:gsub("[^/]*$", "")) .. "common.lua")

local seconds = tonumber(arg and arg[1] or "") or 3
local torch_file = arg and arg[2] ~= "--no-lth" and arg[2] or nil
local no_lth = false
for i = 1, arg and #arg or 0 do if arg[i] == "--no-lth" then no_lth = true end end
local batch = 128
rp.set_threads(2)

-- images/s of training `model` on inputs of `shape`; as in rp.train.fit (and
-- PyTorch, whose input needs no gradient), the first layer computes no input
-- gradient
local function step_rate(model, shape)
  nn.skip_input_grad(model)
  local step = common.sgd_step(model, T.randn({batch, shape[1], shape[2], shape[3]},
    rp.generator(1)))
  step()
  local n, t0 = 0, rp.clock()
  repeat step(); n = n + 1 until rp.clock() - t0 > seconds and n >= 2
  return n * batch / (rp.clock() - t0)
end

-- The masks-only (dense kernels) and sparse rates of one model, measured
-- alternately `rounds` times each (the best of each; REALPRUNE_BENCH_ROUNDS,
-- 5 by default), so that a neighbour's load on a shared machine hits both alike.
local rounds = tonumber(os.getenv("REALPRUNE_BENCH_ROUNDS") or "") or 5
local function paired_rates(model, shape)
  local best_dense, best_sparse = 0, 0
  for _ = 1, rounds do
    rp.nn.use_sparse(false)
    best_dense = math.max(best_dense, step_rate(model, shape))
    rp.nn.use_sparse(true)
    best_sparse = math.max(best_sparse, step_rate(model, shape))
  end
  return best_dense, best_sparse
end

local function torch_rates()
  local t = {}
  if not torch_file then return t end
  local f = io.open(torch_file)
  if not f then return t end
  for line in f:lines() do
    local name, rate = line:match("^(%S+)%s+([%d.]+) img/s")
    if name then t[name] = tonumber(rate) end
  end
  f:close()
  return t
end

local MODELS = {
  vgg11 = {build = function() return rp.models.vgg11{} end, shape = {3, 32, 32}},
  vgg_small = {build = function() return rp.models.vgg_small{} end, shape = {1, 28, 28}},
}
local torch = torch_rates()
-- REALPRUNE_BENCH_GRANULARITIES="element tile" measures only those
local granularities = {}
local wanted = os.getenv("REALPRUNE_BENCH_GRANULARITIES") or "column tile filter element"
for g in wanted:gmatch("%S+") do
  granularities[#granularities + 1] = g
end
print(("sparse training, batch %d, %d threads, %s"):format(batch, rp.get_threads(),
  rp.core.blas_info()))
for _, name in ipairs{"vgg11", "vgg_small"} do
  local spec = MODELS[name]
  rp.seed(1)
  local dense = step_rate(spec.build(), spec.shape)
  local pt = torch[name .. "_masked"]
  print(("%-10s dense %8.1f img/s%s"):format(name, dense, pt and
    ("  (PyTorch with 90%% masked: %.1f)"):format(pt) or ""))
  print(("  %-8s %5s %10s %10s %8s %10s  %s"):format("masks", "pruned", "img/s",
    "masks-only", "vs dense", "vs PyTorch", "layers sparse"))
  for _, gran in ipairs(granularities) do
    for _, amount in ipairs{0.5, 0.7, 0.9, 0.95} do
      rp.seed(1)
      local m = spec.build()
      rp.prune.apply(m, {granularity = gran, amount = amount, exclude = "first_last"})
      local masks_only, rate = paired_rates(m, spec.shape)
      local sparse, total = 0, 0
      for _, l in ipairs(m:prunable()) do
        if l.kind == "conv" then
          total = total + 1
          if l.runs == "sparse" then sparse = sparse + 1 end
        end
      end
      print(("  %-8s %4.0f%% %10.1f %10.1f %7.2fx %10s  %d of %d"):format(gran, 100 * amount,
        rate, masks_only, rate / masks_only, pt and ("%.2fx"):format(rate / pt) or "-", sparse,
        total))
    end
  end
end

-- a lottery-ticket run with sparse execution on and off
if not no_lth then
  local train = rp.data.fashion_mnist{split = "train"}:subset(10000)
  local test = rp.data.fashion_mnist{split = "test"}:subset(2000)
  local times = {}
  for _, on in ipairs{false, true} do
    rp.nn.use_sparse(on)
    rp.seed(1)
    local t0 = rp.clock()
    local rows = rp.lth.run{model = rp.models.vgg_small{}, train = train, test = test,
      strategy = rp.strategies.realprune, schedule = rp.prune.iterative{rate = 0.45, rounds = 5},
      fit = {epochs = 1, lr = 0.05, batch_size = 128}, progress = false, log = function() end}
    times[on] = rp.clock() - t0
    local last = rows[#rows] or {}
    print(("lottery ticket (vgg_small, 5 rounds x 1 epoch, 10000 images), sparse %s: %.1f s%s")
      :format(on and "on " or "off", times[on], last.accuracy and
        (", last round %.2f%%"):format(100 * last.accuracy) or ""))
  end
  rp.nn.use_sparse(true)
  print(("lottery ticket with sparse execution: %.0f%% of the dense-kernel time")
    :format(100 * times[true] / times[false]))
end
