--- Time of each pass (forward, input gradient, weight gradient) of 3x3
-- convolutions of several sizes at batch 128, by im2col and by Winograd
-- F(2x2,3x3) and F(4x4,3x3), to see how close each runs to the sgemm peak
-- (GFLOP/s counted as for the direct convolution) and which is fastest where.
--     build/realprune bench/conv_passes.lua
local rp = require "realprune"
local T, core = rp.tensor, rp.core
local function bench(name, gflop, f)
  f()
  local t0 = rp.clock()
  for _ = 1, 20 do f() end
  local t = (rp.clock() - t0) / 20
  print(("  %-18s %7.2f ms  %6.1f GFLOP/s"):format(name, t * 1e3, gflop / t))
end
for _, c in ipairs{{32, 32, 28}, {32, 64, 14}, {64, 64, 14}, {64, 128, 16}, {128, 256, 8},
                   {256, 256, 8}, {512, 512, 4}, {512, 512, 2}} do
  local cin, cout, s = c[1], c[2], c[3]
  local gflop = 2 * 128 * cout * cin * 9 * s * s / 1e9
  print(("conv %d->%d @%d: %.2f GFLOP per pass"):format(cin, cout, s, gflop))
  for _, algo in ipairs{"im2col", "winograd", "winograd4"} do
    local conv = rp.nn.Conv2d(cin, cout, 3, {padding = 1, bias = false, algorithm = algo})
    local x = T.randn{128, cin, s, s}
    local y = conv:forward(x)
    local gy = T.randn(y:shape())
    local gx = T.zeros(x:shape())
    local ws = T.zeros{select(2, core.conv2d_shapes(x, conv.weight, 3, 3, 1, 1, 1, 1, algo))}
    bench(algo .. " fwd", gflop, function()
      core.conv2d_forward(y, x, conv.weight, nil, ws, 3, 3, 1, 1, 1, 1, algo) end)
    bench(algo .. " bwd input", gflop, function()
      core.conv2d_backward_input(gx, gy, conv.weight, ws, 3, 3, 1, 1, 1, 1, algo) end)
    bench(algo .. " bwd params", gflop, function()
      core.conv2d_backward_params(conv.grad_weight, nil, gy, x, ws, 3, 3, 1, 1, 1, 1, 1, algo) end)
  end
end
