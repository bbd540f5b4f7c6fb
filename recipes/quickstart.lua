--- quickstart: the main job of `make run`.
--
-- For now it exercises the tensor core the way the training engine will use
-- it: a conv layer's weights viewed as the crossbar matrix (cin*kh*kw rows,
-- cout columns), a magnitude threshold that keeps 10% of them, and the GEMM
-- that computes one batch of that layer's outputs through OpenBLAS.
--
--     build/realprune recipes/quickstart.lua [seed]

local rp = require "realprune"
local T = rp.tensor

local seed = math.tointeger(tonumber(arg and arg[1] or "")) or 1
rp.seed(seed)
print(("realprune %s, seed %d, %d OpenBLAS threads (%s core)"):format(
  rp.VERSION, seed, rp.get_threads(), rp.core.blas_info()))

-- A 3x3 conv with 64 input and 128 output channels, Kaiming-normal weights.
local cout, cin, k = 128, 64, 3
local fan_in = cin * k * k
local w = T.randn{cout, cin, k, k} * math.sqrt(2 / fan_in)
print(("conv weight %s: mean %.4f, std %.4f, |w|max %.4f"):format(
  table.concat(w:shape(), "x"), w:mean(),
  math.sqrt((w * w):mean() - w:mean() ^ 2), w:abs():max()))

-- The crossbar view: rows = inputs (cin*kh*kw), columns = outputs.
local m = w:reshape{cout, fan_in}
print(("crossbar matrix: %d rows x %d columns -> %d x %d crossbars of 128x8 weights"):format(
  fan_in, cout, math.ceil(fan_in / 128), math.ceil(cout / 8)))

-- Keep the 10% largest magnitudes (a threshold from a sorted sample).
local mags = m:abs():reshape{-1}:totable()
table.sort(mags)
local thr = mags[math.floor(0.9 * #mags) + 1]
local kept = 0
for _, x in ipairs(mags) do if x >= thr then kept = kept + 1 end end
print(("magnitude threshold %.4f keeps %d of %d weights (%.1f%%)"):format(
  thr, kept, #mags, 100 * kept / #mags))

-- One batch of im2col columns through the layer: [positions, fan_in] x [fan_in, cout].
local positions = 32 * 16 * 16 -- batch 32, 16x16 outputs
local cols = T.randn{positions, fan_in}
local wt = T.zeros{fan_in, cout}
for r = 1, fan_in do -- transpose by rows (a real kernel does this in C)
  for c = 1, cout do wt:set(m:get(c, r), r, c) end
end
local t0 = rp.clock()
local reps = 5
local out
for _ = 1, reps do out = cols:matmul(wt) end
local dt = (rp.clock() - t0) / reps
print(("GEMM %dx%d x %dx%d: %.2f ms, %.1f GFLOP/s; output mean %.4f"):format(
  positions, fan_in, fan_in, cout, dt * 1e3, 2 * positions * fan_in * cout / dt / 1e9,
  out:mean()))
