-- Modules, masks, the model zoo, optimizers, schedules and the training loop.
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn

local SEED = 11
print("test_nn: seed " .. SEED)

TestMasks = {}

function TestMasks:test_masked_weights_stay_zero_with_no_state()
  rp.seed(SEED)
  local m = nn.Sequential{nn.Conv2d(2, 3, 3, {padding = 1}), nn.ReLU(), nn.Flatten(),
    nn.Linear(3 * 4 * 4, 5)}
  local conv = m:prunable()[1]
  local mask = T.ones(conv.weight:shape())
  local flat = mask:reshape{-1}
  for i = 1, flat:numel(), 3 do flat[i] = 0 end
  conv:set_mask(mask)
  for i = 1, flat:numel(), 3 do lu.assertEquals(conv.weight:reshape{-1}[i], 0) end
  local opt = rp.optim.SGD(m:parameters(), {lr = 0.1, momentum = 0.9, weight_decay = 0.01})
  local x = T.randn{4, 2, 4, 4}
  local crit = nn.CrossEntropyLoss()
  for _ = 1, 3 do
    crit:forward(m:forward(x), {1, 2, 3, 4})
    opt:zero_grad()
    m:backward(x, crit:backward())
    for i = 1, flat:numel(), 3 do lu.assertEquals(conv.grad_weight:reshape{-1}[i], 0) end
    opt:step()
  end
  local w, buf = conv.weight:reshape{-1}, opt.state[1]:reshape{-1}
  for i = 1, flat:numel(), 3 do
    lu.assertEquals(w[i], 0)
    lu.assertEquals(buf[i], 0)
  end
  lu.assertTrue(w:count_nonzero() > 0)
  -- a weight written behind the mask's back is zero again in forward
  conv.weight:reshape{-1}[1] = 5
  m:forward(x)
  lu.assertEquals(conv.weight:reshape{-1}[1], 0)
  -- Adam keeps its moments at zero too
  local adam = rp.optim.Adam(m:parameters(), {lr = 0.01})
  crit:forward(m:forward(x), {1, 2, 3, 4})
  adam:zero_grad()
  m:backward(x, crit:backward())
  adam:step()
  lu.assertEquals(adam.state[1].m:reshape{-1}[1], 0)
  lu.assertEquals(adam.state[1].v:reshape{-1}[4], 0)
  conv:set_mask(nil)
  lu.assertNil(conv.mask)
  lu.assertErrorMsgContains("Conv2d:set_mask: mask 2x2 does not match the weight 3x2x3x3",
    function() conv:set_mask(T.ones{2, 2}) end)
end

-- The core's update kernels skip masked entries themselves (the layers also
-- zero masked weights and gradients; this is the last line of that defence):
-- a gradient, weight decay or momentum at a masked entry changes nothing.
function TestMasks:test_update_kernels_skip_masked_entries()
  local core = rp.core
  local mask = T.from{1, 0, 1, 0}
  local w, g = T.from{1, 2, 3, 4}, T.from{0.5, 0.5, 0.5, 0.5}
  local buf = T.from{0, 0.25, 0, 0.25}
  core.sgd_step(w, g, buf, mask, 0.1, 0.9, 0.01, false)
  lu.assertEquals({w:get(2), w:get(4), buf:get(2), buf:get(4)}, {2, 4, 0.25, 0.25})
  lu.assertTrue(w:get(1) ~= 1 and buf:get(1) ~= 0)
  -- without momentum and with Nesterov's: the general loop, weight decay by hand
  w = T.from{1, 2, 3, 4}
  core.sgd_step(w, g, nil, mask, 0.1, 0, 0.01, false)
  lu.assertEquals({w:get(2), w:get(4)}, {2, 4})
  lu.assertAlmostEquals(w:get(1), 1 - 0.1 * (0.5 + 0.01 * 1), 1e-6)
  w, buf = T.from{1, 2, 3, 4}, T.from{0, 0.25, 0, 0.25}
  core.sgd_step(w, g, buf, mask, 0.1, 0.9, 0.01, true)
  lu.assertEquals({w:get(2), w:get(4), buf:get(2), buf:get(4)}, {2, 4, 0.25, 0.25})
  local d = 0.5 + 0.01 * 3 -- b = 0.9 * 0 + d; Nesterov: w -= lr (d + 0.9 b)
  lu.assertAlmostEquals(w:get(3), 3 - 0.1 * (d + 0.9 * d), 1e-6)
  local m, v = T.zeros{4}, T.zeros{4}
  core.adam_step(w, g, m, v, mask, 0.1, 0.9, 0.999, 1e-8, 0.01, 1)
  lu.assertEquals({w:get(2), m:get(2), v:get(4)}, {2, 0, 0})
  lu.assertTrue(m:get(1) ~= 0)
end

-- SGD with momentum over more values than one vector holds (the lanes and the
-- tail): the masked step keeps masked weights and momenta bit for bit, gives
-- the unmasked step's bits elsewhere, and both follow the formula
-- b = 0.9 b + (g + 0.01 w), w = w - 0.1 b (a plain Lua loop, in doubles).
function TestMasks:test_sgd_momentum_lanes_against_a_plain_loop()
  local core, n = rp.core, 37
  local gen = rp.generator(3)
  local w0, g, b0 = T.randn({n}, gen), T.randn({n}, gen), T.randn({n}, gen)
  local mask = T.zeros{n}
  for i = 1, n do if (i * 7) % 3 ~= 0 then mask[i] = 1 end end
  local wm, bm, wu, bu = w0:clone(), b0:clone(), w0:clone(), b0:clone()
  core.sgd_step(wm, g, bm, mask, 0.1, 0.9, 0.01, false)
  core.sgd_step(wu, g, bu, nil, 0.1, 0.9, 0.01, false)
  for i = 1, n do
    local nb = 0.9 * b0[i] + (g[i] + 0.01 * w0[i])
    local nw = w0[i] - 0.1 * nb
    lu.assertAlmostEquals(bu[i], nb, 1e-5 * math.max(1, math.abs(nb)))
    lu.assertAlmostEquals(wu[i], nw, 1e-5 * math.max(1, math.abs(nw)))
    if mask[i] ~= 0 then
      lu.assertEquals({wm[i], bm[i]}, {wu[i], bu[i]}, "entry " .. i)
    else
      lu.assertEquals({wm[i], bm[i]}, {w0[i], b0[i]}, "masked entry " .. i)
    end
  end
end

-- Batch norm normalizes by sqrt(var + 1e-5) (PyTorch's eps), checked by hand on
-- a channel whose variance is near eps, where eps matters.
function TestMasks:test_batch_norm_epsilon()
  local bn = nn.BatchNorm2d(1)
  local vals = {0.001, -0.002, 0.003, 0.0005, -0.001, 0.002, 0, -0.0025}
  local x = T.from{{{{vals[1], vals[2]}, {vals[3], vals[4]}}},
                   {{{vals[5], vals[6]}, {vals[7], vals[8]}}}}
  local y = bn:forward(x):reshape{-1}:totable()
  local mean, var = 0, 0
  for _, v in ipairs(vals) do mean = mean + v / 8 end
  for _, v in ipairs(vals) do var = var + (v - mean) ^ 2 / 8 end -- biased, as in training
  local order = {1, 2, 3, 4, 5, 6, 7, 8}
  for i, k in ipairs(order) do
    local want = (vals[k] - mean) / math.sqrt(var + 1e-5)
    lu.assertAlmostEquals(y[i], want, 1e-5 * math.max(1, math.abs(want)))
  end
  -- evaluation uses the running statistics with the same eps: a running
  -- variance near eps, so that eps matters
  bn:evaluate()
  bn.running_mean:fill(0.0005)
  bn.running_var:fill(2e-6)
  local ye = bn:forward(x):reshape{-1}:totable()
  for i = 1, 8 do
    local want = (vals[i] - 0.0005) / math.sqrt(2e-6 + 1e-5)
    lu.assertAlmostEquals(ye[i], want, 1e-5 * math.max(1, math.abs(want)))
  end
end

TestConvAlgorithms = {}

-- Winograd and im2col agree (forward, input, weight and bias gradients) on
-- odd sizes, every padding, batches of several chunks and masked weights.
function TestConvAlgorithms:test_winograd_matches_im2col()
  local g = rp.generator(SEED)
  for _, c in ipairs{{2, 3, 4, 6, 6, 1}, {3, 5, 7, 7, 5, 1}, {2, 4, 3, 5, 8, 0},
                     {1, 2, 2, 4, 4, 2}, {5, 17, 19, 9, 11, 1}, {300, 16, 16, 2, 2, 1},
                     {9, 20, 24, 30, 3, 1}, {2, 3, 3, 1, 1, 1}} do
    local N, C, K, H, W, pad = table.unpack(c)
    local mods = {}
    for i, algo in ipairs{"im2col", "winograd", "winograd4"} do
      mods[i] = nn.Conv2d(C, K, 3, {padding = pad, algorithm = algo, generator = rp.generator(1)})
    end
    local mask = T.rand({K, C, 3, 3}, g)
    local flat = mask:reshape{-1}
    for i = 1, flat:numel() do flat[i] = flat[i] < 0.5 and 0 or 1 end
    for _, m in ipairs(mods) do m:set_mask(mask) end
    mods[1].bias:copy(T.randn({K}, g))
    for i = 2, 3 do mods[i].bias:copy(mods[1].bias) end
    local x = T.randn({N, C, H, W}, g)
    local ya = mods[1]:forward(x):clone()
    local r = T.randn(ya:shape(), g)
    local gxa = mods[1]:backward(x, r):clone()
    for i, tol in ipairs{false, 1e-5, 5e-5} do -- F(4x4) rounds more
      if tol then
        local yb = mods[i]:forward(x)
        local gxb = mods[i]:backward(x, r)
        local what = table.concat(c, ",") .. " " .. mods[i].algorithm
        local function close(a, b, name)
          local scale = math.max(a:abs():max(), 1e-6)
          local err = a:sub(b):abs():max() / scale
          lu.assertTrue(err < tol, ("%s %s: relative difference %g"):format(what, name, err))
        end
        close(ya, yb, "output")
        close(gxa, gxb, "grad_input")
        close(mods[1].grad_weight, mods[i].grad_weight, "grad_weight")
        close(mods[1].grad_bias, mods[i].grad_bias, "grad_bias")
        local gw = mods[i].grad_weight:reshape{-1}
        for j = 1, flat:numel() do
          if flat[j] == 0 then lu.assertEquals(gw[j], 0) end
        end
      end
    end
  end
end

-- The same thread count gives the same bits (several chunks per thread, the
-- weight gradient summed over threads); another thread count agrees closely.
function TestConvAlgorithms:test_winograd_same_threads_same_bits()
  local g = rp.generator(SEED)
  local x = T.randn({40, 16, 9, 7}, g)
  local function run(threads)
    local before = rp.get_threads()
    rp.set_threads(threads)
    local m = nn.Conv2d(16, 16, 3, {padding = 1, generator = rp.generator(2)})
    local y = m:forward(x)
    local out = {y:clone(), m:backward(x, y):clone(), m.grad_weight:clone()}
    rp.set_threads(before)
    return out
  end
  local a, b, one = run(2), run(2), run(1)
  for j = 1, 3 do
    local ta, tb = a[j]:reshape{-1}:totable(), b[j]:reshape{-1}:totable()
    for i = 1, #ta do
      if ta[i] ~= tb[i] then
        lu.fail(("result %d differs at %d: %.9g %.9g"):format(j, i, ta[i], tb[i]))
      end
    end
    local err = a[j]:sub(one[j]):abs():max() / a[j]:abs():max()
    lu.assertTrue(err < 1e-5, ("result %d: 1 and 2 threads differ by %g"):format(j, err))
  end
end

-- The separate gradient kernels give what the fused one gives, for both
-- algorithms.
function TestConvAlgorithms:test_separate_and_fused_backward_agree()
  local core, g = rp.core, rp.generator(SEED)
  local x, w = T.randn({5, 16, 8, 6}, g), T.randn({18, 16, 3, 3}, g)
  local dy = T.randn({5, 18, 8, 6}, g)
  for _, algo in ipairs{"im2col", "winograd", "winograd4"} do
    local _, n = core.conv2d_shapes(x, w, 3, 3, 1, 1, 1, 1, algo)
    local ws = T.zeros{n}
    local dx1, dw1, db1 = T.zeros(x:shape()), T.zeros(w:shape()), T.zeros{18}
    local dx2, dw2, db2 = T.zeros(x:shape()), T.zeros(w:shape()), T.zeros{18}
    core.conv2d_backward_input(dx1, dy, w, ws, 3, 3, 1, 1, 1, 1, algo)
    core.conv2d_backward_params(dw1, db1, dy, x, ws, 3, 3, 1, 1, 1, 1, 0.5, algo)
    core.conv2d_backward(dx2, dw2, db2, dy, x, w, ws, 3, 3, 1, 1, 1, 1, 0.5, algo)
    for _, pair in ipairs{{dx1, dx2}, {dw1, dw2}, {db1, db2}} do
      lu.assertEquals(pair[1]:sub(pair[2]):abs():max(), 0, algo)
    end
    lu.assertTrue(dx1:abs():max() > 0 and dw1:abs():max() > 0)
  end
end

-- The weight and bias gradients are linear in `scale` for every algorithm,
-- separate and fused, and for linear layers: scale 2.5 gives 2.5 times scale
-- 1, accumulated onto what the gradient buffers already hold.
function TestConvAlgorithms:test_gradient_scale_is_linear()
  local core, g = rp.core, rp.generator(SEED + 7)
  local cases = {
    {algo = "im2col", x = {3, 4, 7, 5}, w = {6, 4, 3, 3}, s = 1, p = 1},
    {algo = "im2col", x = {3, 4, 9, 8}, w = {5, 4, 2, 3}, s = 2, p = 0},
    {algo = "winograd", x = {3, 16, 8, 6}, w = {18, 16, 3, 3}, s = 1, p = 1},
    {algo = "winograd4", x = {3, 16, 9, 10}, w = {18, 16, 3, 3}, s = 1, p = 1},
  }
  for _, c in ipairs(cases) do
    local x, w = T.randn(c.x, g), T.randn(c.w, g)
    local kh, kw = c.w[3], c.w[4]
    local _, n = core.conv2d_shapes(x, w, kh, kw, c.s, c.s, c.p, c.p, c.algo)
    local ho = (c.x[3] + 2 * c.p - kh) // c.s + 1
    local wo = (c.x[4] + 2 * c.p - kw) // c.s + 1
    local dy = T.randn({c.x[1], c.w[1], ho, wo}, g)
    local ws = T.zeros{n}
    local start_w, start_b = T.randn(c.w, g), T.randn({c.w[1]}, g)
    for _, fused in ipairs{false, true} do
      local grads = {}
      for _, scale in ipairs{1, 2.5} do
        local dw, db = start_w:clone(), start_b:clone()
        if fused then
          core.conv2d_backward(nil, dw, db, dy, x, w, ws, kh, kw, c.s, c.s, c.p, c.p, scale, c.algo)
        else
          core.conv2d_backward_params(dw, db, dy, x, ws, kh, kw, c.s, c.s, c.p, c.p, scale, c.algo)
        end
        grads[scale] = {dw:sub(start_w), db:sub(start_b)}
      end
      for k = 1, 2 do
        local one, more = grads[1][k], grads[2.5][k]
        local err = more:sub(one:mul(2.5)):abs():max() / one:abs():max()
        lu.assertTrue(one:abs():max() > 0, c.algo)
        lu.assertTrue(err < 1e-5, ("%s fused=%s %s: scale 2.5 off by %g"):format(c.algo,
          tostring(fused), k == 1 and "weight" or "bias", err))
      end
    end
  end
  -- linear layers
  local x, dy = T.randn({7, 13}, g), T.randn({7, 5}, g)
  local start_w, start_b = T.randn({5, 13}, g), T.randn({5}, g)
  local grads = {}
  for _, scale in ipairs{1, 2.5} do
    local dw, db = start_w:clone(), start_b:clone()
    core.linear_backward_params(dw, db, dy, x, scale)
    grads[scale] = {dw:sub(start_w), db:sub(start_b)}
  end
  for k = 1, 2 do
    local err = grads[2.5][k]:sub(grads[1][k]:mul(2.5)):abs():max() / grads[1][k]:abs():max()
    lu.assertTrue(err < 1e-6, "linear: " .. err)
  end
end

-- OpenMP may start fewer threads than asked for (here OMP_THREAD_LIMIT=1 with
-- 2 asked): every image is still computed and no stale partial sum is added.
function TestConvAlgorithms:test_smaller_thread_team()
  local BIN = os.getenv("REALPRUNE_BIN") or "build/realprune"
  local code = [[
    local rp = require "realprune"
    rp.set_threads(THREADS)
    for _, algo in ipairs{"im2col", "winograd", "winograd4"} do
      local x = rp.tensor.randn({8, 16, 12, 12}, rp.generator(3))
      local m = rp.nn.Conv2d(16, 16, 3, {padding = 1, algorithm = algo,
        generator = rp.generator(1)})
      for _ = 1, 2 do -- the second call finds data of the first in the workspace
        m:zero_grad()
        local y = m:forward(x)
        m:backward(x, y)
      end
      local y = m:forward(x):reshape{-1}:totable()
      local s = 0
      for i = 1, #y do s = s + math.abs(y[i]) end
      io.write(("%s %.6g %.6g\n"):format(algo, s, m.grad_weight:abs():sum()))
    end]]
  local function run(prefix, threads)
    local p = io.popen(("%s %s -e '%s' 2>&1"):format(prefix, BIN, code:gsub("THREADS", threads)))
    local out = p:read("a")
    p:close()
    return out
  end
  local want, got = run("", 1), run("OMP_THREAD_LIMIT=1", 2)
  local w, g = {}, {}
  for a, s1, s2 in want:gmatch("(%S+) (%S+) (%S+)") do w[a] = {tonumber(s1), tonumber(s2)} end
  for a, s1, s2 in got:gmatch("(%S+) (%S+) (%S+)") do g[a] = {tonumber(s1), tonumber(s2)} end
  for _, algo in ipairs{"im2col", "winograd", "winograd4"} do
    lu.assertNotNil(w[algo], want)
    lu.assertNotNil(g[algo], got)
    for j = 1, 2 do
      lu.assertTrue(math.abs(w[algo][j] - g[algo][j]) <= 1e-4 * w[algo][j],
        ("%s: %s vs %s"):format(algo, want, got))
    end
  end
end

function TestConvAlgorithms:test_bad_algorithm()
  lu.assertErrorMsgContains('Conv2d: algorithm must be "auto", "im2col", "winograd", '
    .. '"winograd4" or "sparse", got fft',
    function() nn.Conv2d(3, 3, 3, {algorithm = "fft"}) end)
  lu.assertErrorMsgContains("Conv2d: the winograd algorithm needs a 3x3 kernel with stride 1, "
    .. "got kernel 5x5, stride 1x1", function() nn.Conv2d(3, 3, 5, {algorithm = "winograd"}) end)
  lu.assertErrorMsgContains("winograd algorithm needs a 3x3 kernel", function()
    rp.core.conv2d_shapes(T.zeros{1, 1, 4, 4}, T.zeros{1, 1, 3, 3}, 3, 3, 2, 2, 0, 0, "winograd")
  end)
  lu.assertErrorMsgContains("winograd algorithm needs a 3x3 kernel", function()
    nn.Conv2d(3, 3, {3, 1}, {algorithm = "winograd4"}) end)
  lu.assertErrorMsgContains("Conv2d:backward: call forward first", function()
    nn.Conv2d(3, 3, 3):backward(T.zeros{1, 3, 4, 4}, T.zeros{1, 3, 2, 2}) end)
  -- no channels at all: shapes, not a division by zero
  local ys = rp.core.conv2d_shapes(T.zeros{1, 0, 5, 5}, T.zeros{0, 0, 3, 3}, 3, 3, 1, 1, 1, 1,
    "winograd4")
  lu.assertEquals(ys, {1, 0, 5, 5})
  lu.assertErrorMsgContains("invalid option 'fft'", function()
    rp.core.conv2d_shapes(T.zeros{1, 1, 4, 4}, T.zeros{1, 1, 3, 3}, 3, 3, 1, 1, 0, 0, "fft")
  end)
end

TestPooling = {}

-- The 2x2 window's vector path (rows of 21 outputs: two vectors of 8, one
-- of 4 and a tail) against a plain reading of the rule: the first of equal
-- values wins, and a NaN wins over numbers (the first NaN of the window).
function TestPooling:test_maxpool_2x2_ties_and_nan_against_a_plain_loop()
  local N, C, H, W = 2, 3, 6, 42
  local g = rp.generator(SEED)
  local x = T.zeros{N, C, H, W}
  local flat = x:reshape{-1}
  local r = T.rand({flat:numel()}, g)
  for i = 1, flat:numel() do
    local u = r[i]
    flat[i] = u < 0.05 and 0 / 0 or math.floor(u * 4) -- few values: many ties
  end
  local pool = nn.MaxPool2d(2)
  local y = pool:forward(x)
  local gx = pool:backward(x, T.ones(y:shape()))
  local want_gx = T.zeros{N, C, H, W}
  for n = 1, N do
    for c = 1, C do
      for oy = 1, H // 2 do
        for ox = 1, W // 2 do
          local best, at
          for dy = 0, 1 do
            for dx = 0, 1 do
              local v = x[n][c][2 * oy - 1 + dy][2 * ox - 1 + dx]
              if at == nil or v > best or (v ~= v and best == best) then
                best, at = v, {2 * oy - 1 + dy, 2 * ox - 1 + dx}
              end
            end
          end
          local got = y[n][c][oy][ox]
          if best ~= best then
            lu.assertTrue(got ~= got, ("NaN expected at %d %d %d %d"):format(n, c, oy, ox))
          else
            lu.assertEquals(got, best)
          end
          want_gx[n][c][at[1]][at[2]] = 1
        end
      end
    end
  end
  for i, v in ipairs(want_gx:reshape{-1}:totable()) do
    lu.assertEquals(gx:reshape{-1}[i], v, "gradient at " .. i)
  end
end

-- A channel whose values sit far from 0 (1e3 + noise of 0.1): the one-pass
-- mean and variance must not cancel. The normalized output has mean 0 and
-- variance 1, computed here in double from the output.
function TestPooling:test_batchnorm_far_from_zero()
  local x = T.randn({4, 2, 5, 5}, rp.generator(SEED)):mul(0.1):add(1e3)
  local bn = nn.BatchNorm2d(2)
  local y = bn:forward(x)
  for c = 1, 2 do
    local s, ss, n = 0, 0, 0
    for i = 1, 4 do for h = 1, 5 do for w = 1, 5 do
      local v = y[i][c][h][w]
      s, ss, n = s + v, ss + v * v, n + 1
    end end end
    lu.assertAlmostEquals(s / n, 0, 2e-2)
    lu.assertAlmostEquals(ss / n - (s / n) ^ 2, 1, 5e-2)
  end
end

-- The passes run over blocks of channels, image by image (batchnorm2d.c):
-- each channel's values must be those of the channel normalized alone. Shapes
-- that make several blocks with a short last one (40 channels of 32x32 in
-- blocks of 32, and 16 backward; 300 channels of 1x3, in blocks of 256), with
-- and without the fused ReLU, in training and evaluation.
function TestPooling:test_batchnorm_channels_as_if_alone()
  for _, s in ipairs{{4, 40, 32, 32}, {3, 300, 1, 3}, {2, 9, 3, 5}} do
    local N, C, H, W = s[1], s[2], s[3], s[4]
    local g = rp.generator(SEED)
    local xt, gy = T.randn(s, g):totable(), T.randn(s, g)
    -- channels far apart (channel c near 300 c): each channel's sums shifted by
    -- another channel's value would round differently
    for n = 1, N do for c = 1, C do for h = 1, H do for w = 1, W do
      xt[n][c][h][w] = xt[n][c][h][w] + 300 * c
    end end end end
    local x = T.from(xt)
    xt = x:totable()
    local gamma, beta = T.randn({C}, g), T.randn({C}, g):mul(0.5)
    local gyt = gy:totable()
    for _, relu in ipairs{false, true} do
      local bn = nn.BatchNorm2d(C)
      bn.weight:copy(gamma)
      bn.bias:copy(beta)
      local y = bn:forward(x, relu):totable()
      local gx = bn:backward(x, gy):totable()
      bn:evaluate()
      local ye = bn:forward(x, relu):totable()
      for _, c in ipairs{1, 2, C - 1, C} do
        local function plane(t)
          local out = {}
          for n = 1, N do out[n] = {t[n][c]} end
          return T.from(out)
        end
        local one = nn.BatchNorm2d(1)
        one.weight:fill(gamma[c])
        one.bias:fill(beta[c])
        local y1 = one:forward(plane(xt), relu):totable()
        local gx1 = one:backward(plane(xt), plane(gyt)):totable()
        one:evaluate()
        local ye1 = one:forward(plane(xt), relu):totable()
        local what = ("%dx%dx%dx%d channel %d relu %s"):format(N, C, H, W, c, tostring(relu))
        for n = 1, N do
          lu.assertEquals(y[n][c], y1[n][1], "output, " .. what)
          lu.assertEquals(gx[n][c], gx1[n][1], "input gradient, " .. what)
          lu.assertEquals(ye[n][c], ye1[n][1], "evaluation, " .. what)
        end
        for _, k in ipairs{"grad_weight", "grad_bias", "running_mean", "running_var", "save_mean",
          "save_invstd"} do
          lu.assertEquals(bn[k][c], one[k][1], k .. ", " .. what)
        end
      end
    end
  end
end

TestModels = {}

function TestModels:test_zoo_shapes_and_names()
  local expect = {lenet5 = {5, 61470}, vgg_small = {6, 870176}, vgg11 = {9, 9222848},
    vgg16 = {14, 14715584}, resnet20 = {22, 270896}, resnet18 = {21, 11164352}}
  for name, e in pairs(expect) do
    local m = rp.models[name]{}
    local layers = m:prunable()
    local n = 0
    for _, l in ipairs(layers) do n = n + l.weight:numel() end
    lu.assertEquals(#layers, e[1], name)
    lu.assertEquals(n, e[2], name)
  end
  local names = {}
  for _, l in ipairs(rp.models.vgg_small{}:prunable()) do names[#names + 1] = l.name end
  lu.assertEquals(names, {"features.1", "features.3", "features.6", "features.8",
    "classifier.1", "classifier.3"})
  local r = rp.models.resnet20{}:prunable()
  lu.assertEquals({r[1].name, r[2].name, r[8].name, r[9].name, r[22].name},
    {"conv1", "layer1.1.branch.1", "layer2.1.branch.1", "layer2.1.branch.4", "fc"})
  local m = rp.models.lenet5{classes = 3, width = 2, input_size = 32, in_channels = 3}
  lu.assertEquals(m:forward(T.zeros{2, 3, 32, 32}):shape(), {2, 3})
  lu.assertErrorMsgContains("models.vgg11: input_size 16 is too small", function()
    rp.models.vgg11{input_size = 16}
  end)
  lu.assertErrorMsgContains("models.lenet5: unknown option 'depth'", function()
    rp.models.lenet5{depth = 3}
  end)
end

function TestModels:test_inplace_relu_gives_the_same_gradients()
  for _, name in ipairs{"lenet5", "resnet20"} do
    rp.seed(SEED)
    local a = rp.models[name]{width = 0.5}
    local b = a:clone()
    for _, nm in ipairs(b:named_modules()) do
      if nm[2].class_name == "ReLU" then nm[2].inplace = false end
    end
    local shape = {2, a.arch.args.in_channels, a.arch.args.input_size, a.arch.args.input_size}
    local x = T.randn(shape)
    local crit = nn.CrossEntropyLoss()
    for _, m in ipairs{a, b} do
      crit:forward(m:forward(x:clone()), {1, 2})
      m:zero_grad()
      m:backward(x:clone(), crit:backward())
    end
    local pa, pb = a:parameters(), b:parameters()
    for i = 1, #pa do
      lu.assertEquals(rp.core.tensor_bytes(pa[i].grad), rp.core.tensor_bytes(pb[i].grad),
        name .. " " .. pa[i].name)
    end
  end
end

-- Sequential runs a BatchNorm2d and the in-place ReLU after it as one pass;
-- the modules called one by one are the reference, bit for bit: outputs,
-- every gradient, the running statistics, in training and in evaluation.
-- One channel has gamma = beta = 0 (every normalized value exactly 0, which
-- the ReLU stops), another a negative gamma.
function TestModels:test_fused_batchnorm_relu_gives_the_same_bits()
  rp.seed(SEED)
  local function net()
    local g = rp.generator(5)
    return nn.Sequential{nn.Conv2d(2, 4, 3, {padding = 1, generator = g}), nn.BatchNorm2d(4),
      nn.ReLU{inplace = true}, nn.MaxPool2d(2), nn.Conv2d(4, 3, 3, {padding = 1, generator = g}),
      nn.BatchNorm2d(3), nn.ReLU{inplace = true}, nn.Flatten(), nn.Linear(3 * 3 * 3, 5,
        {generator = g})}
  end
  local a, b = net(), net()
  for _, m in ipairs{a, b} do
    m.modules[2].weight:copy(T.from({0.5, 0, -1.25, 2}))
    m.modules[2].bias:copy(T.from({0.1, 0, 0.3, -0.2}))
  end
  local x = T.randn{6, 2, 6, 6}
  local labels = {1, 2, 3, 4, 5, 1}
  local crit = nn.CrossEntropyLoss()
  local function one_by_one(m, input)
    local inputs, h = {}, input
    for i, mod in ipairs(m.modules) do inputs[i] = h; h = mod:forward(h) end
    return h, inputs
  end
  for round = 1, 2 do
    local ya = a:forward(x)
    local yb, inputs = one_by_one(b, x)
    lu.assertTrue(a.modules[3].fused, "the ReLU was not fused")
    lu.assertNil(b.modules[3].fused)
    lu.assertEquals(rp.core.tensor_bytes(ya), rp.core.tensor_bytes(yb), "output, round " .. round)
    crit:forward(ya, labels)
    local g = crit:backward():clone()
    a:zero_grad(); b:zero_grad()
    local ga = a:backward(x, g)
    local gb = g
    for i = #b.modules, 1, -1 do gb = b.modules[i]:backward(inputs[i], gb) end
    lu.assertEquals(rp.core.tensor_bytes(ga), rp.core.tensor_bytes(gb), "input gradient")
    local pa, pb = a:parameters(), b:parameters()
    for i = 1, #pa do
      lu.assertEquals(rp.core.tensor_bytes(pa[i].grad), rp.core.tensor_bytes(pb[i].grad),
        pa[i].name .. ", round " .. round)
    end
    for _, k in ipairs{"running_mean", "running_var"} do
      local ra, rb = a.modules[2][k], b.modules[2][k]
      lu.assertEquals(rp.core.tensor_bytes(ra), rp.core.tensor_bytes(rb), k)
    end
    -- the stopped channel passes no gradient to beta through the ReLU
    lu.assertEquals(a.modules[2].grad_bias[2], 0)
    for _, m in ipairs{a, b} do
      rp.optim.SGD(m:parameters(), {lr = 0.1}):step()
    end
  end
  a:evaluate(); b:evaluate()
  local ya = a:forward(x)
  lu.assertNil(a.modules[3].fused, "fused in evaluation: nothing to hand back")
  lu.assertEquals(rp.core.tensor_bytes(ya), rp.core.tensor_bytes((one_by_one(b, x))), "evaluation")
  -- a ReLU that is not in place, or called alone, is not fused
  a:train()
  a.modules[3].inplace = false
  a:forward(x)
  lu.assertNil(a.modules[3].fused)
  lu.assertNil(a.modules[2].relu_fused)
end

function TestModels:test_fused_batchnorm_backward_bad_beta()
  local bn = nn.BatchNorm2d(2)
  local x = T.randn{3, 2, 2, 2}
  bn:forward(x, true)
  local gx = T.zeros{3, 2, 2, 2}
  local ok, err = pcall(rp.core.batchnorm2d_backward, gx, bn.grad_weight, bn.grad_bias,
    T.ones{3, 2, 2, 2}, x, bn.weight, bn.save_mean, bn.save_invstd, T.zeros{3})
  lu.assertFalse(ok)
  lu.assertStrContains(err, "batchnorm2d")
  lu.assertStrContains(err, "2 values")
end

function TestModels:test_clone_is_independent()
  local m = rp.models.lenet5{}
  local c = m:clone()
  c:prunable()[1].weight:fill(0)
  lu.assertTrue(m:prunable()[1].weight:count_nonzero() > 0)
  lu.assertEquals(c.arch, m.arch)
end

function TestModels:test_pool_output_shape_of_a_bad_shape()
  lu.assertEquals(nn.MaxPool2d(2):output_shape{1, 2, 8, 6}, {1, 2, 4, 3})
  lu.assertErrorMsgContains("rp.nn.MaxPool2d:output_shape: an N x C x H x W shape expected, " ..
    "got 1x2",
    function() nn.MaxPool2d(2):output_shape{1, 2} end)
  lu.assertErrorMsgContains("rp.nn.AvgPool2d:output_shape: an N x C x H x W shape expected",
    function() nn.AvgPool2d(2):output_shape{3} end)
end

function TestModels:test_bad_arguments()
  lu.assertErrorMsgContains("Conv2d: in_channels must be an integer >= 1, got 0", function()
    nn.Conv2d(0, 3, 3) end)
  lu.assertErrorMsgContains("Conv2d: kernel size must be an integer or {h, w}", function()
    nn.Conv2d(1, 3, 2.5) end)
  lu.assertErrorMsgContains("Linear: out_features must be an integer >= 1", function()
    nn.Linear(3, -1) end)
  lu.assertErrorMsgContains("Dropout: probability must be in [0, 1)", function() nn.Dropout(1) end)
  lu.assertErrorMsgContains("conv2d: input 2x2x5x5 has 2 channels, the weight 3x1x3x3 expects 1",
    function() nn.Conv2d(1, 3, 3):forward(T.zeros{2, 2, 5, 5}) end)
  lu.assertErrorMsgContains("Linear:forward: input must be N x 4, got 2x5", function()
    nn.Linear(4, 2):forward(T.zeros{2, 5}) end)
  lu.assertErrorMsgContains("cross_entropy: label 11 of sample 1 is out of range 1..10",
    function() nn.CrossEntropyLoss():forward(T.zeros{1, 10}, {11}) end)
  lu.assertErrorMsgContains("1 labels expected, got 2", function()
    nn.CrossEntropyLoss():forward(T.zeros{1, 10}, {1, 2}) end)
  lu.assertErrorMsgContains("SGD: option lr is required", function()
    rp.optim.SGD(rp.models.lenet5{}:parameters(), {}) end)
end

TestSchedules = {}

function TestSchedules:test_values()
  local opt = rp.optim.SGD(rp.models.lenet5{}:parameters(), {lr = 0.1})
  local s = rp.optim.step(opt, {step_size = 2, gamma = 0.5})
  lu.assertEquals({s:lr(0), s:lr(1), s:lr(2), s:lr(5)}, {0.1, 0.1, 0.05, 0.025})
  local ms = rp.optim.multistep(opt, {milestones = {1, 3}})
  lu.assertAlmostEquals(ms:lr(3), 0.001, 1e-12)
  local c = rp.optim.cosine(opt, {epochs = 4})
  lu.assertAlmostEquals(c:lr(2), 0.05, 1e-12)
  lu.assertAlmostEquals(c:lr(4), 0, 1e-12)
  local w = rp.optim.warmup(opt, {epochs = 2, after = c})
  lu.assertAlmostEquals(w:lr(0), 0.05, 1e-12)
  lu.assertAlmostEquals(w:lr(2), 0.1, 1e-12)
  w:step(0)
  lu.assertAlmostEquals(opt.lr, 0.05, 1e-12)
end

TestTraining = {}

local function tiny_run(seed)
  rp.seed(seed)
  local ds = rp.data.fashion_mnist{split = "test"}:subset(384, seed)
  local m = rp.models.lenet5{}
  local opt = rp.optim.SGD(m:parameters(), {lr = 0.01, momentum = 0.9, weight_decay = 5e-4})
  local h = rp.train.fit(m, ds:loader{batch_size = 64, shuffle = true, seed = seed},
    {epochs = 2, optimizer = opt, progress = false, log = function() end, test = ds})
  local bytes = {}
  for _, p in ipairs(m:parameters()) do bytes[#bytes + 1] = rp.core.tensor_bytes(p.value) end
  return table.concat(bytes), h
end

function TestTraining:test_bit_identical_with_same_seed()
  local a, ha = tiny_run(SEED)
  local b = tiny_run(SEED)
  lu.assertTrue(a == b, "weights differ between two runs with the same seed")
  local c = tiny_run(SEED + 1)
  lu.assertFalse(a == c)
  lu.assertEquals(#ha, 2)
  lu.assertTrue(ha[2].loss < ha[1].loss, "the loss goes down")
  lu.assertTrue(ha[2].test_accuracy > 0.3, "a little training beats chance (10%)")
end

function TestTraining:test_nan_loss_stops_with_epoch_and_batch()
  local ds = rp.data.fashion_mnist{split = "test"}:subset(256)
  local m = rp.models.lenet5{}
  local opt = rp.optim.SGD(m:parameters(), {lr = 1e6})
  lu.assertErrorMsgContains("rp.train.fit: the loss is", function()
    rp.train.fit(m, ds:loader{batch_size = 32}, {epochs = 3, optimizer = opt, progress = false,
      log = function() end})
  end)
end

function TestTraining:test_non_finite_weights_are_reported_with_the_layer()
  local ds = rp.data.fashion_mnist{split = "test"}:subset(128)
  local m = rp.models.lenet5{}
  local opt = rp.optim.SGD(m:parameters(), {lr = 0.01})
  -- a gradient hook that poisons one layer's gradient in the first batch
  local layer = m:prunable()[2]
  local backward = layer.backward
  layer.backward = function(l, x, gy)
    local g = backward(l, x, gy)
    l.grad_weight:reshape{-1}[1] = math.huge
    return g
  end
  lu.assertErrorMsgContains("non-finite values in features.4.weight after the update of epoch " ..
    "1, batch 1, round 3",
    function()
      rp.train.fit(m, ds:loader{batch_size = 32}, {epochs = 1, optimizer = opt, progress = false,
        log = function() end, round = 3})
    end)
end

function TestTraining:test_evaluate_restores_mode_and_counts()
  local ds = rp.data.fashion_mnist{split = "test"}:subset(100)
  local m = rp.models.vgg11{in_channels = 1, input_size = 32, width = 0.125}
  local small = rp.models.lenet5{}
  small:train()
  local r = rp.train.evaluate(small, ds)
  lu.assertEquals(r.total, 100)
  lu.assertTrue(r.accuracy >= 0 and r.accuracy <= 1)
  lu.assertTrue(small.training)
  lu.assertErrorMsgContains("rp.train.evaluate: the loader must be a loader", function()
    rp.train.evaluate(m, 5) end)
end

function TestTraining:test_clip_grad_norm()
  local m = nn.Linear(3, 2)
  for _, p in ipairs(m:parameters()) do p.grad:fill(10) end
  local before = rp.train.clip_grad_norm(m:parameters(), 1)
  lu.assertAlmostEquals(before, 10 * math.sqrt(8), 1e-6)
  local sq = 0
  for _, p in ipairs(m:parameters()) do sq = sq + p.grad:norm() ^ 2 end
  lu.assertAlmostEquals(math.sqrt(sq), 1, 1e-5)
end

os.exit(lu.LuaUnit.run())
