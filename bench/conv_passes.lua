--- Time of each pass (forward, input gradient, weight gradient) of 3x3 convolutions
-- of several sizes at batch 128, to see how close each runs to the sgemm peak.
--     build/realprune bench/conv_passes.lua
local rp = require "realprune"
local T, core = rp.tensor, rp.core
local function bench(name, f) f(); local t0 = rp.clock(); for i = 1, 20 do f() end; print(name, ("%.2f ms"):format((rp.clock() - t0) / 20 * 1e3)) end
for _, c in ipairs{{32, 32, 28}, {64, 64, 14}, {256, 256, 8}, {512, 512, 4}} do
  local cin, cout, s = c[1], c[2], c[3]
  local conv = rp.nn.Conv2d(cin, cout, 3, {padding = 1, bias = false})
  local x = T.randn{128, cin, s, s}
  local y = conv:forward(x)
  local gy = T.randn(y:shape())
  local gx = T.zeros(x:shape())
  local ws = conv.workspace
  print(("conv %d->%d @%d: %.2f GFLOP per pass"):format(cin, cout, s, 2 * 128 * cout * cin * 9 * s * s / 1e9))
  bench("  forward", function() core.conv2d_forward(y, x, conv.weight, nil, ws, 3, 3, 1, 1, 1, 1) end)
  bench("  backward input", function() core.conv2d_backward_input(gx, gy, conv.weight, ws, 3, 3, 1, 1, 1, 1) end)
  bench("  backward params", function() core.conv2d_backward_params(conv.grad_weight, nil, gy, x, ws, 3, 3, 1, 1, 1, 1) end)
end
