-- Sparse execution (docs/design.md, "Sparse execution"): the compacted kernels
-- equal the masked dense computation for every pruning granularity, sparsity,
-- shape, stride and padding; auto chooses from shapes and mask; plans follow
-- the mask; masked weights stay 0; results are deterministic; bad masks are
-- refused.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn
local core = require "realprune.core"

local SEED = 31
print("test_sparse: seed " .. SEED)

local XBAR = rp.xbar.config{rows = 16, cols = 16, weight_bits = 8, cell_bits = 4} -- L = 8

-- max |a - b| relative to max(1, max |b|)
local function rel_err(a, b)
  return (a - b):abs():max() / math.max(1, b:abs():max())
end

-- Forward, input and weight gradients of `conv` run as `algo`.
local function run(conv, algo, x, gy)
  conv.algorithm = algo
  local y = conv:forward(x):clone()
  conv:zero_grad()
  local gx = conv:backward(x, gy):clone()
  return y, gx, conv.grad_weight:clone(), conv.grad_bias and conv.grad_bias:clone()
end

local function compare(conv, x, what)
  local g = rp.generator(SEED)
  local y = conv:forward(x)
  local gy = T.randn(y:shape(), g)
  local yd, gxd, gwd, gbd = run(conv, "im2col", x, gy)
  local ys, gxs, gws, gbs = run(conv, "sparse", x, gy)
  lu.assertEquals(conv.runs, "sparse", what)
  lu.assertTrue(rel_err(ys, yd) < 1e-5, what .. ": output")
  lu.assertTrue(rel_err(gxs, gxd) < 1e-5, what .. ": input gradient")
  lu.assertTrue(rel_err(gws, gwd) < 1e-5, what .. ": weight gradient")
  if gbd then lu.assertTrue(rel_err(gbs, gbd) < 1e-5, what .. ": bias gradient") end
  if conv.mask then
    -- masked weights and their gradients exactly 0
    local dead = (T.ones(conv.mask:shape()) - conv.mask)
    lu.assertEquals((conv.weight * dead):abs():max(), 0, what)
    lu.assertEquals((gws * dead):abs():max(), 0, what)
  end
end

TestSparse = {}

function TestSparse:test_every_granularity_and_sparsity()
  local shapes = {
    {cin = 7, cout = 9, k = 3, stride = 1, padding = 1, hw = {9, 7}},
    {cin = 5, cout = 6, k = {2, 3}, stride = 2, padding = {1, 0}, hw = {8, 9}},
    {cin = 12, cout = 4, k = 1, stride = 1, padding = 0, hw = {5, 5}},
  }
  local n = 0
  for si, s in ipairs(shapes) do
    for _, gran in ipairs{"element", "column", "tile", "row", "filter", "channel", "block"} do
      for _, amount in ipairs{0, 0.5, 0.9, 0.99} do
        local conv = nn.Conv2d(s.cin, s.cout, s.k, {stride = s.stride, padding = s.padding,
          generator = rp.generator(si)})
        local spec = {granularity = gran, amount = amount, xbar = XBAR}
        if gran == "block" then spec.block = {3, 2} end
        rp.prune.apply(nn.Sequential{conv}, spec)
        local x = T.randn({3, s.cin, s.hw[1], s.hw[2]}, rp.generator(7))
        compare(conv, x, ("shape %d, %s %.2f"):format(si, gran, amount))
        n = n + 1
      end
    end
  end
  lu.assertEquals(n, 3 * 7 * 4)
end

function TestSparse:test_all_dead_and_unmasked()
  local conv = nn.Conv2d(4, 3, 3, {padding = 1, generator = rp.generator(1)})
  conv:set_mask(T.zeros(conv.weight:shape()))
  local x = T.randn({2, 4, 5, 5}, rp.generator(2))
  compare(conv, x, "all dead")
  -- the output is the bias alone
  conv.algorithm = "sparse"
  local y = conv:forward(x)
  local yt, b = y:totable(), conv.bias:totable()
  for n = 1, 2 do
    for c = 1, 3 do lu.assertEquals(yt[n][c][3][2], b[c]) end
  end
  -- forced sparse without a mask: every block alive, the dense result
  local free = nn.Conv2d(4, 3, 3, {padding = 1, generator = rp.generator(1)})
  compare(free, x, "no mask")
end

-- The sparse Winograd products on the alive filter pairs (docs/design.md,
-- "Sparse Winograd"), pinned: F(2x2) and F(4x4) layers, odd planes, no
-- padding, every granularity, all-dead and unmasked layers.
function TestSparse:test_winograd_kernels_equal_masked_dense()
  local shapes = {
    {cin = 20, cout = 24, hw = {9, 7}, padding = 1, tile = 2},
    {cin = 100, cout = 96, hw = {10, 9}, padding = 1, tile = 4},
    {cin = 17, cout = 33, hw = {6, 6}, padding = 0, tile = 2},
  }
  local n = 0
  for si, s in ipairs(shapes) do
    for _, gran in ipairs{"element", "column", "tile", "filter", "channel"} do
      for _, amount in ipairs{0, 0.5, 0.9, 0.99} do
        local conv = nn.Conv2d(s.cin, s.cout, 3, {padding = s.padding,
          generator = rp.generator(si)})
        rp.prune.apply(nn.Sequential{conv}, {granularity = gran, amount = amount, xbar = XBAR})
        local x = T.randn({3, s.cin, s.hw[1], s.hw[2]}, rp.generator(7))
        local plan = conv:sparse_plan().plan
        lu.assertEquals(core.sparse_plan_kernel(plan, "winograd"), "auto")
        local what = ("shape %d, %s %.2f"):format(si, gran, amount)
        compare(conv, x, what)
        lu.assertEquals(conv.sparse_ran, "winograd", what)
        lu.assertStrContains(tostring(conv), "runs sparse winograd", what)
        n = n + 1
      end
    end
    -- an all-dead layer: the bias alone, no gradient into the input
    local conv = nn.Conv2d(s.cin, s.cout, 3, {padding = s.padding, generator = rp.generator(1)})
    conv:set_mask(T.zeros(conv.weight:shape()))
    core.sparse_plan_kernel(conv:sparse_plan().plan, "winograd")
    local x = T.randn({2, s.cin, s.hw[1], s.hw[2]}, rp.generator(2))
    compare(conv, x, "all dead")
    lu.assertEquals(core.sparse_info(conv:sparse_plan().plan).rectangles, 0)
  end
  lu.assertEquals(n, 3 * 5 * 4)
  -- forced sparse without a mask: one rectangle of every pair
  local free = nn.Conv2d(20, 24, 3, {padding = 1, generator = rp.generator(1)})
  free.algorithm = "sparse"
  core.sparse_plan_kernel(free:sparse_plan().plan, "winograd")
  compare(free, T.randn({2, 20, 9, 7}, rp.generator(2)), "no mask")
  lu.assertEquals(core.sparse_info(free:sparse_plan().plan).rectangles, 1)
end

-- The rectangles cover every alive pair exactly once (an independent count
-- from the mask), and dead column segments give runs of whole input channels.
function TestSparse:test_pair_rectangles()
  local conv = nn.Conv2d(64, 48, 3, {padding = 1, generator = rp.generator(5)})
  rp.prune.apply(nn.Sequential{conv}, {granularity = "column", amount = 0.6})
  local m, alive = conv.mask:totable(), 0
  for k = 1, 48 do
    for c = 1, 64 do
      local any = false
      for i = 1, 3 do for j = 1, 3 do any = any or m[k][c][i][j] ~= 0 end end
      if any then alive = alive + 1 end
    end
  end
  local info = conv:sparse_plan().info
  lu.assertEquals(info.pairs, alive)
  -- 576 rows in 128-row segments: 5 row blocks, so at most 5 runs of whole
  -- channels and 4 channels across two blocks, each with a rectangle for its rest
  lu.assertTrue(info.rectangles >= 5 and info.rectangles <= 13, "rectangles " .. info.rectangles)
  lu.assertTrue(info.pair_macs >= alive, "the cost counts every pair")
  -- weights the mask kills count as 0 whatever their value
  local c2 = nn.Conv2d(20, 24, 3, {padding = 1, generator = rp.generator(8)})
  rp.prune.apply(nn.Sequential{c2}, {granularity = "element", amount = 0.5})
  local x = T.randn({2, 20, 6, 6}, rp.generator(3))
  c2.algorithm = "im2col"
  local want = c2:forward(x):clone()
  local plan = c2:sparse_plan().plan
  core.sparse_plan_kernel(plan, "winograd")
  local raw = T.randn(c2.weight:shape(), rp.generator(4)) * (T.ones(c2.mask:shape()) - c2.mask)
    + c2.weight
  local ys, wsize = core.conv2d_sparse_shapes(x, raw, 3, 3, 1, 1, 1, 1, plan)
  local y = T.zeros(ys)
  core.conv2d_sparse_forward(y, x, raw, c2.bias, T.zeros{wsize}, 3, 3, 1, 1, 1, 1, plan)
  lu.assertTrue(rel_err(y, want) < 1e-5, "masked weights with values")
  -- a workspace left full of NaN: the tiles padded to whole register tiles (2
  -- images of 6x6, 18 tiles, padded to 64) are zeroed before they are summed
  local gy = T.randn(want:shape(), rp.generator(5))
  c2:zero_grad()
  c2:backward(x, gy)
  local gw_want = c2.grad_weight:clone()
  local gw = T.zeros(c2.weight:shape())
  core.conv2d_sparse_backward(nil, gw, nil, gy, x, c2.weight, T.full({wsize}, 0 / 0), 3, 3, 1, 1,
    1, 1, 1.0, plan)
  lu.assertTrue(rel_err(gw, gw_want) < 1e-5, "weight gradient over a NaN workspace")
  -- a strided layer cannot run them: a clear error at the call
  local strided = nn.Conv2d(8, 8, 3, {stride = 2, padding = 1, generator = rp.generator(5)})
  strided.algorithm = "sparse"
  core.sparse_plan_kernel(strided:sparse_plan().plan, "winograd")
  local ok, err = pcall(strided.forward, strided, T.randn({1, 8, 8, 8}, rp.generator(1)))
  lu.assertFalse(ok)
  lu.assertStrContains(err, "pinned to the Winograd kernels")
  local ok2, err2 = pcall(core.sparse_plan_kernel, strided:sparse_plan().plan, "fast")
  lu.assertFalse(ok2)
  lu.assertStrContains(err2, 'unknown name "fast"')
end

function TestSparse:test_auto_chooses_from_mask_and_shape()
  -- a wide layer at 90% column sparsity runs sparse; at 0% and 50% element masks, dense
  local function choice(gran, amount)
    local conv = nn.Conv2d(64, 64, 3, {padding = 1, generator = rp.generator(3)})
    if amount > 0 then
      rp.prune.apply(nn.Sequential{conv}, {granularity = gran, amount = amount})
    end
    conv:forward(T.randn({2, 64, 8, 8}, rp.generator(4)))
    return conv.runs, tostring(conv)
  end
  local runs, printed = choice("column", 0.9)
  lu.assertEquals(runs, "sparse")
  lu.assertStrContains(printed, "runs sparse")
  lu.assertEquals((choice("column", 0)), "winograd")
  lu.assertEquals((choice("element", 0.5)), "winograd")
  -- an unstructured mask at 95%: one block per output, on the direct kernels
  local conv = nn.Conv2d(64, 64, 3, {padding = 1, generator = rp.generator(3)})
  rp.prune.apply(nn.Sequential{conv}, {granularity = "element", amount = 0.95})
  conv:forward(T.randn({2, 64, 8, 8}, rp.generator(4)))
  lu.assertEquals(conv.runs, "sparse")
  lu.assertTrue(conv:sparse_plan().info.by_output)
  lu.assertEquals((choice("filter", 0.95)), "sparse")
end

-- The crossovers bench/bench_sparse_conv measured (docs/design.md, "The
-- choice"): a narrow layer (32 -> 32 channels on 28x28) with 55% of its column
-- segments pruned ran 1.33x faster on the sparse kernels, so auto picks them;
-- a wide one (256 -> 256 on 8x8) at 50% ran 0.85x, so auto keeps Winograd;
-- between the sparse kernels it takes the cheaper by the model.
function TestSparse:test_auto_follows_the_measured_crossovers()
  local function choice(cin, cout, hw, amount)
    local conv = nn.Conv2d(cin, cout, 3, {padding = 1, generator = rp.generator(3)})
    rp.prune.apply(nn.Sequential{conv}, {granularity = "column", amount = amount})
    conv:forward(T.randn({2, cin, hw, hw}, rp.generator(4)))
    local info = conv:sparse_plan().info
    return conv.runs, info.macs / info.macs_dense
  end
  local runs, share = choice(32, 32, 28, 0.55)
  lu.assertTrue(share > 0.4 and share < 0.5, "multiply-adds left: " .. share)
  lu.assertEquals(runs, "sparse")
  runs, share = choice(256, 256, 8, 0.5)
  lu.assertTrue(share > 0.45 and share < 0.55, "multiply-adds left: " .. share)
  lu.assertEquals(runs, "winograd4")
  -- a wide layer on 4x4 planes (512 -> 512) at 70%: the sparse Winograd
  -- products ran 1.41x dense, the direct kernels 1.21x; at 90% 3.21x and 3.13x,
  -- near enough that the model keeps the direct ones
  local conv = nn.Conv2d(512, 512, 3, {padding = 1, generator = rp.generator(3)})
  rp.prune.apply(nn.Sequential{conv}, {granularity = "column", amount = 0.7})
  conv:forward(T.randn({2, 512, 4, 4}, rp.generator(4)))
  lu.assertEquals(conv.runs, "sparse")
  lu.assertEquals(conv.sparse_ran, "winograd")
  local before = conv.sparse_ran
  rp.prune.apply(nn.Sequential{conv}, {granularity = "column", amount = 0.9})
  conv:forward(T.randn({2, 512, 4, 4}, rp.generator(4)))
  lu.assertEquals(conv.sparse_ran, "direct", "after " .. before)
  -- element masks on the same layer (by-output plans): at 90% the direct
  -- kernels ran 0.83-0.97x dense (docs/results/sparse-choice-2026-12), so auto
  -- keeps Winograd; at 99% they ran 5.3x
  local function element(amount)
    local c = nn.Conv2d(512, 512, 3, {padding = 1, generator = rp.generator(3)})
    rp.prune.apply(nn.Sequential{c}, {granularity = "element", amount = amount})
    c:forward(T.randn({2, 512, 4, 4}, rp.generator(4)))
    return c.runs, c:sparse_plan().info.by_output
  end
  local runs90, by_output = element(0.9)
  lu.assertTrue(by_output, "an element mask gets a by-output plan")
  lu.assertEquals(runs90, "winograd")
  lu.assertEquals((element(0.99)), "sparse")
end

function TestSparse:test_plan_follows_the_mask()
  local conv = nn.Conv2d(6, 8, 3, {padding = 1, algorithm = "sparse",
    generator = rp.generator(5)})
  rp.prune.apply(nn.Sequential{conv}, {granularity = "column", amount = 0.5, xbar = XBAR})
  local x = T.randn({2, 6, 6, 6}, rp.generator(6))
  conv:forward(x)
  local first = conv.sparse_exec
  conv:forward(x)
  lu.assertIs(conv.sparse_exec, first) -- not rebuilt per batch
  -- a mask edited behind the layer's back: the next forward uses a new plan
  local m = conv.mask:clone()
  m:fill(1)
  conv.mask:copy(m)
  compare(conv, x, "mask copied in place")
  lu.assertNotIs(conv.sparse_exec, first)
  lu.assertEquals(conv.sparse_exec.info.packed, conv.weight:numel())
  -- a pruning step rebuilds it at once
  rp.prune.apply(nn.Sequential{conv}, {granularity = "filter", amount = 0.5, xbar = XBAR})
  lu.assertEquals(conv.sparse_exec.info.packed, conv.mask:count_nonzero())
  -- pruned between the forward and the backward pass: the gradient the
  -- forward's plan computes is masked with the new mask
  conv:forward(x)
  rp.prune.apply(nn.Sequential{conv}, {granularity = "element", amount = 0.5, xbar = XBAR})
  conv:zero_grad()
  conv:backward(x, T.randn(conv.output:shape(), rp.generator(7)))
  local dead = T.ones(conv.mask:shape()) - conv.mask
  lu.assertEquals((conv.grad_weight * dead):abs():max(), 0)
  lu.assertTrue(conv.grad_weight:abs():max() > 0)
end

-- A masked Linear layer runs the sparse kernels as a 1x1 convolution when
-- few blocks are alive, with the dense layer's results; else the dense product.
function TestSparse:test_linear()
  local l = nn.Linear(300, 40, {generator = rp.generator(8)})
  rp.prune.apply(nn.Sequential{l}, {granularity = "column", amount = 0.95, xbar = XBAR})
  local x = T.randn({37, 300}, rp.generator(9))
  local gy = T.randn({37, 40}, rp.generator(10))
  local function pass(on)
    rp.nn.use_sparse(on)
    local y = l:forward(x):clone()
    l:zero_grad()
    local gx = l:backward(x, gy):clone()
    return y, gx, l.grad_weight:clone(), l.grad_bias:clone(), l.runs
  end
  local yd, gxd, gwd, gbd, rd = pass(false)
  local ys, gxs, gws, gbs, rs = pass(true)
  lu.assertEquals({rd, rs}, {"dense", "sparse"})
  lu.assertTrue(gxd:abs():max() > 0)
  lu.assertTrue(rel_err(ys, yd) < 1e-5, "output")
  lu.assertTrue(rel_err(gxs, gxd) < 1e-5, "input gradient")
  lu.assertTrue(rel_err(gws, gwd) < 1e-5, "weight gradient")
  lu.assertTrue(rel_err(gbs, gbd) < 1e-5, "bias gradient")
  local dead = T.ones(l.mask:shape()) - l.mask
  lu.assertEquals((gws * dead):abs():max(), 0)
  -- half pruned: the dense product
  local half = nn.Linear(300, 40, {generator = rp.generator(8)})
  rp.prune.apply(nn.Sequential{half}, {granularity = "column", amount = 0.5, xbar = XBAR})
  half:forward(x)
  lu.assertEquals(half.runs, "dense")
end

-- The plan cache's check: which values are nonzero, not their values; any
-- one moved nonzero changes it; the same on 1 and 2 threads (integer sums).
function TestSparse:test_mask_digest()
  local n = 300000 -- above the size that runs in parallel
  local m = T.zeros{n}
  for i = 1, n, 7 do m[i] = 1 end
  local d = rp.core.mask_digest(m)
  local scaled = m:clone()
  for i = 1, n, 7 do scaled[i] = 0.5 + (i % 3) end
  lu.assertEquals(rp.core.mask_digest(scaled), d)
  local threads = rp.get_threads()
  rp.set_threads(1)
  local one = rp.core.mask_digest(m)
  rp.set_threads(threads)
  lu.assertEquals(one, d)
  for _, at in ipairs{1, 2, 150001, n - 1} do
    local moved = m:clone()
    if moved[at] ~= 0 then moved[at] = 0; moved[at + 1] = 1 else moved[at] = 1 end
    lu.assertNotEquals(rp.core.mask_digest(moved), d, "changed at " .. at)
  end
  lu.assertNotEquals(rp.core.mask_digest(T.zeros{n}), rp.core.mask_digest(T.zeros{n + 1}))
  -- two 16-row segments moved by 4 filters in opposite directions keep the sum
  -- of the alive indices; a nearly linear hash of the index gave these two masks
  -- of a 512 x 4608 layer one digest
  local R, K, D, L = 4608, 512, 4 * 4608, 16
  local s1, s2 = 65664, 426928
  local m1, m2 = T.zeros{R * K}, T.zeros{R * K}
  for k = 0, R * K - 1, L do
    if (k // L) % 3 ~= 0 then
      for t = 1, L do m1[k + t], m2[k + t] = 1, 1 end
    end
  end
  for t = 1, L do
    m1[s1 + t], m1[s2 + D + t], m1[s1 + D + t], m1[s2 + t] = 1, 1, 0, 0
    m2[s1 + t], m2[s2 + D + t], m2[s1 + D + t], m2[s2 + t] = 0, 0, 1, 1
  end
  lu.assertNotEquals(rp.core.mask_digest(m1), rp.core.mask_digest(m2))
end

function TestSparse:test_training_keeps_masked_weights_at_zero_and_is_deterministic()
  local function train(seed)
    rp.seed(seed)
    local m = rp.models.vgg11{in_channels = 1, input_size = 32, width = 0.25, classes = 10}
    rp.prune.apply(m, {granularity = "column", amount = 0.9, exclude = "first_last"})
    local opt = rp.optim.SGD(m:parameters(), {lr = 0.05, momentum = 0.9, weight_decay = 5e-4})
    local crit = nn.CrossEntropyLoss()
    local g = rp.generator(seed)
    for _ = 1, 2 do
      local x = T.randn({8, 1, 32, 32}, g)
      local labels = {}
      for i = 1, 8 do labels[i] = g:integer(10) end
      opt:zero_grad()
      crit:forward(m:forward(x), labels)
      m:backward(x, crit:backward())
      opt:step()
    end
    return m, opt
  end
  local a, opt = train(3)
  local b = train(3)
  local sparse_layers = 0
  for i, l in ipairs(a:prunable()) do
    if l.runs == "sparse" then sparse_layers = sparse_layers + 1 end
    lu.assertEquals(l.weight:totable(), b:prunable()[i].weight:totable()) -- same bits
    if l.mask then
      local dead = T.ones(l.mask:shape()) - l.mask
      lu.assertEquals((l.weight * dead):abs():max(), 0)
    end
  end
  lu.assertTrue(sparse_layers >= 2)
  -- the momentum buffers of masked weights stay 0 too
  local state, checked = opt:state_table(), 0
  for i, p in ipairs(opt.params) do
    local owner = p.module
    if owner.mask and p.key == "weight" then
      local dead = T.ones(owner.mask:shape()) - owner.mask
      lu.assertEquals((state.buffers[i] * dead):abs():max(), 0)
      checked = checked + 1
    end
  end
  lu.assertTrue(checked >= 2)
end

function TestSparse:test_bad_masks()
  local conv = nn.Conv2d(2, 3, 3)
  lu.assertErrorMsgContains("rp.nn.Conv2d:set_mask: mask 3x2x3 does not match the weight 3x2x3x3",
    function() conv:set_mask(T.ones{3, 2, 3}) end)
  local half = T.ones(conv.weight:shape()):mul(0.5)
  lu.assertErrorMsgContains("rp.nn.Conv2d:set_mask: a mask holds only 0 and 1",
    function() conv:set_mask(half) end)
  local nan = T.ones(conv.weight:shape())
  nan:reshape{-1}[1] = 0 / 0
  lu.assertErrorMsgContains("a mask holds only 0 and 1", function() conv:set_mask(nan) end)
  lu.assertIsNil(conv.mask)
  -- a plan for another weight, or a weight without outputs: errors, not crashes
  local plan = rp.core.sparse_plan(T.ones{3, 18}, 18, 3)
  local x = T.zeros{1, 2, 4, 4}
  lu.assertErrorMsgContains("sparse plan is for a 18x3 matrix", function()
    rp.core.conv2d_sparse_shapes(x, T.zeros{4, 2, 3, 3}, 3, 3, 1, 1, 1, 1, plan) end)
  lu.assertError(function()
    rp.core.conv2d_sparse_shapes(x, T.zeros{0, 2, 3, 3}, 3, 3, 1, 1, 1, 1, plan) end)
  lu.assertErrorMsgContains("a mask of 5 values for a 18x3 matrix", function()
    rp.core.sparse_plan(T.ones{5}, 18, 3) end)
  -- use_sparse with no argument only reads the setting
  lu.assertTrue(rp.nn.use_sparse())
  lu.assertTrue(rp.nn.use_sparse())
end

os.exit(lu.LuaUnit.run())
