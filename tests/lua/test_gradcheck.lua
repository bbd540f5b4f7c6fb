-- Finite-difference gradient checks for every layer: the analytic gradients
-- of f(x) = sum(layer(x) .* r) (r fixed and random; the sum accumulated in
-- double) against central differences, for the input and every parameter.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn

local SEED = 4242
print("test_gradcheck: seed " .. SEED)

local function f_of(layer, x, r)
  local y = layer:forward(x)
  local s = 0
  local yt, rt = y:reshape{-1}:totable(), r:reshape{-1}:totable()
  for i = 1, #yt do s = s + yt[i] * rt[i] end -- double accumulation
  return s
end

-- Checks up to `samples` coordinates of tensor `v` (an input or a parameter).
local function check_coords(what, layer, x, r, v, analytic, g, eps, samples)
  local flat, grad = v:reshape{-1}, analytic:reshape{-1}
  local n = flat:numel()
  local worst = 0
  for _ = 1, math.min(samples, n) do
    local i = g:integer(n)
    local old = flat[i]
    flat[i] = old + eps
    local fp = f_of(layer, x, r)
    flat[i] = old - eps
    local fm = f_of(layer, x, r)
    flat[i] = old
    local num = (fp - fm) / (2 * eps)
    local err = math.abs(num - grad[i]) / math.max(1, math.abs(num))
    if err > worst then worst = err end
    if err > 2e-2 then
      lu.fail(("%s: d/d[%d] analytic %.6g, numeric %.6g"):format(what, i, grad[i], num))
    end
  end
  return worst
end

local function gradcheck(layer, shape, opts)
  opts = opts or {}
  local g = rp.generator(SEED)
  local x = T.randn(shape, g)
  if opts.input then x = opts.input(x) end
  local y = layer:forward(x)
  local r = T.randn(y:shape(), g)
  layer:zero_grad()
  local gx = layer:backward(x, r):clone()
  local eps = opts.eps or 1e-2
  local samples = opts.samples or 25
  check_coords("input", layer, x, r, x, gx, g, eps, samples)
  for _, p in ipairs(layer:parameters()) do
    check_coords(p.name, layer, x, r, p.value, p.grad:clone(), g, eps, samples)
  end
end

-- Inputs spread out so that no finite difference crosses a ReLU or max-pool kink.
local function spread(x)
  local n = x:numel()
  local perm = T.arange(n):reshape(x:shape())
  return perm:mul(0.37):sub(0.37 * n / 2):div(n / 8)
end

TestGradcheck = {}

function TestGradcheck:test_conv2d_3x3()
  gradcheck(nn.Conv2d(3, 4, 3, {padding = 1, generator = rp.generator(1)}), {2, 3, 6, 6})
end

function TestGradcheck:test_conv2d_rect_stride_nobias()
  gradcheck(nn.Conv2d(2, 3, {3, 2}, {stride = {2, 1}, padding = {1, 0}, bias = false,
    generator = rp.generator(2)}), {2, 2, 7, 5})
end

function TestGradcheck:test_conv2d_1x1()
  gradcheck(nn.Conv2d(4, 3, 1, {generator = rp.generator(3)}), {3, 4, 3, 3})
end

function TestGradcheck:test_conv2d_small_maps_batched_chunks()
  -- 2x2 outputs: several images share one GEMM chunk
  gradcheck(nn.Conv2d(3, 5, 3, {padding = 1, generator = rp.generator(4)}), {9, 3, 2, 2})
end

function TestGradcheck:test_conv2d_winograd()
  -- odd sizes (partial 2x2 tiles), padding 0, 1 and 2, several chunks
  gradcheck(nn.Conv2d(3, 4, 3, {padding = 1, algorithm = "winograd",
    generator = rp.generator(6)}), {2, 3, 7, 5})
  gradcheck(nn.Conv2d(2, 3, 3, {algorithm = "winograd", bias = false,
    generator = rp.generator(7)}), {3, 2, 6, 5})
  gradcheck(nn.Conv2d(2, 2, 3, {padding = 2, algorithm = "winograd",
    generator = rp.generator(8)}), {2, 2, 3, 2})
  gradcheck(nn.Conv2d(16, 16, 3, {padding = 1, generator = rp.generator(9)}), {70, 16, 2, 2},
    {samples = 10})
end

function TestGradcheck:test_conv2d_winograd4()
  gradcheck(nn.Conv2d(3, 4, 3, {padding = 1, algorithm = "winograd4",
    generator = rp.generator(10)}), {2, 3, 9, 7})
  gradcheck(nn.Conv2d(2, 3, 3, {algorithm = "winograd4", bias = false,
    generator = rp.generator(11)}), {2, 2, 10, 6})
  gradcheck(nn.Conv2d(2, 2, 3, {padding = 2, algorithm = "winograd4",
    generator = rp.generator(12)}), {2, 2, 3, 5})
end

function TestGradcheck:test_linear()
  gradcheck(nn.Linear(6, 4, {generator = rp.generator(5)}), {3, 6})
end

function TestGradcheck:test_relu()
  gradcheck(nn.ReLU(), {2, 3, 4, 4}, {input = spread, eps = 1e-3})
end

function TestGradcheck:test_maxpool()
  gradcheck(nn.MaxPool2d(2), {2, 2, 6, 6}, {input = spread, eps = 1e-3})
  gradcheck(nn.MaxPool2d(3, 2, 1), {2, 2, 7, 7}, {input = spread, eps = 1e-3})
end

function TestGradcheck:test_avgpool()
  gradcheck(nn.AvgPool2d(2), {2, 2, 6, 6})
  gradcheck(nn.AvgPool2d(3, 2, 1), {2, 2, 7, 7})
  gradcheck(nn.GlobalAvgPool2d(), {2, 3, 4, 5})
end

function TestGradcheck:test_batchnorm_train()
  local bn = nn.BatchNorm2d(3)
  bn.weight:copy(T.from{0.5, 1.5, -1})
  bn.bias:copy(T.from{0.1, -0.2, 0.3})
  gradcheck(bn, {4, 3, 3, 3}, {eps = 1e-2})
end

function TestGradcheck:test_dropout_with_fixed_noise()
  local d = nn.Dropout(0.3)
  local fwd = d.forward
  d.forward = function(layer, x) layer.generator = rp.generator(9); return fwd(layer, x) end
  gradcheck(d, {3, 10})
end

function TestGradcheck:test_residual_block()
  local g = rp.generator(6)
  local branch = nn.Sequential{nn.Conv2d(3, 3, 3, {padding = 1, generator = g}), nn.ReLU(),
    nn.Conv2d(3, 3, 3, {padding = 1, generator = g})}
  local shortcut = nn.Sequential{nn.Conv2d(3, 3, 1, {generator = g})}
  gradcheck(nn.Residual(branch, shortcut), {2, 3, 4, 4}, {eps = 5e-3})
  gradcheck(nn.Residual(nn.Sequential{nn.Conv2d(3, 3, 3, {padding = 1, generator = g})}),
    {2, 3, 4, 4}, {eps = 5e-3})
end

function TestGradcheck:test_small_network()
  local g = rp.generator(7)
  local m = nn.Sequential{nn.Conv2d(1, 2, 3, {padding = 1, generator = g}), nn.BatchNorm2d(2),
    nn.AvgPool2d(2), nn.Flatten(), nn.Linear(8, 3, {generator = g})}
  gradcheck(m, {3, 1, 4, 4}, {samples = 10})
end

function TestGradcheck:test_cross_entropy()
  local crit = nn.CrossEntropyLoss()
  local g = rp.generator(8)
  local z = T.randn({4, 5}, g)
  local labels = {2, 5, 1, 3}
  crit:forward(z, labels)
  local grad = crit:backward():clone():reshape{-1}:totable()
  local flat = z:reshape{-1}
  for i = 1, 20 do
    local old = flat[i]
    flat[i] = old + 1e-2
    local fp = crit:forward(z, labels)
    flat[i] = old - 1e-2
    local fm = crit:forward(z, labels)
    flat[i] = old
    lu.assertAlmostEquals(grad[i], (fp - fm) / 2e-2, 1e-3)
  end
end

-- sparse execution (docs/design.md): column-pruned layers on the compacted kernels,
-- stride 2 (im2col) and stride 1 (the direct kernels; a rectangular kernel, its own
-- padding per side)
function TestGradcheck:test_conv2d_sparse()
  local xbar = rp.xbar.config{rows = 8, cols = 8, weight_bits = 8, cell_bits = 4}
  for _, opts in ipairs{{k = 3, padding = 1, stride = 2}, {k = {3, 2}, padding = {1, 2}}} do
    local c = nn.Conv2d(6, 5, opts.k, {padding = opts.padding, stride = opts.stride,
      algorithm = "sparse", generator = rp.generator(2)})
    rp.prune.apply(nn.Sequential{c}, {granularity = "column", amount = 0.6, xbar = xbar})
    gradcheck(c, {2, 6, 7, 7})
    lu.assertEquals(c.runs, "sparse")
  end
end

os.exit(lu.LuaUnit.run())
