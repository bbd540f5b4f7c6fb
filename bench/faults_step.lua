--- Training with stuck-at faults attached against without (target: at most
-- 10% more per step): one SGD step of vgg11 at half width (1x32x32, batch 64,
-- 2 threads), dense and 90% column-pruned, with a fault map of MNSIM-2.0's
-- 2019 rates (9% SA0, 1% SA1) attached or not, and with programming
-- variation too (MNSIM-2.0's 1% device to device, NeuroSim's 3.5%-of-range
-- cycle to cycle), measured alternately in one run: `rounds` pairs of
-- `seconds` each, the best of each side (a busy or shared machine slows some
-- rounds; more rounds find its quiet moments).
--
--     build/realprune bench/faults_step.lua [seconds] [rounds]
local rp = require "realprune"
local T = rp.tensor
local common = dofile((arg[0]:gsub("[^/]*$", "")) .. "common.lua")
local seconds = tonumber(arg and arg[1] or "") or 1
local rounds = math.tointeger(tonumber(arg and arg[2] or "")) or 6
rp.set_threads(2)
local cfg = rp.reram.xbar_config(rp.reram.presets.isaac)

local function rate(model)
  local step = common.sgd_step(model, T.randn({64, 1, 32, 32}, rp.generator(1)))
  step()
  local n, t0 = 0, rp.clock()
  repeat step(); n = n + 1 until rp.clock() - t0 > seconds and n >= 3
  return (rp.clock() - t0) / n
end

for _, pruned in ipairs{0, 0.9} do
  rp.seed(1)
  local m = rp.models.vgg11{in_channels = 1, input_size = 32, width = 0.5}
  if pruned > 0 then
    rp.prune.apply(m, {granularity = "column", amount = pruned, xbar = cfg, exclude = "first_last"})
  end
  local p = rp.faults.presets.mnsim2_2019
  local v = rp.faults.variation_presets
  local maps = {
    {"stuck-at", rp.faults.sample(m, cfg, {sa0 = p.sa0, sa1 = p.sa1, seed = 1})},
    {"stuck-at + variation", rp.faults.sample(m, cfg, {sa0 = p.sa0, sa1 = p.sa1, seed = 1,
      sigma_d2d = v.mnsim2.sigma_d2d, sigma_c2c = v.neurosim.sigma_c2c})},
  }
  for _, e in ipairs(maps) do
    local best_plain, best_faulty = math.huge, math.huge
    for _ = 1, rounds do
      rp.faults.detach(m)
      best_plain = math.min(best_plain, rate(m))
      rp.faults.attach(m, e[2])
      best_faulty = math.min(best_faulty, rate(m))
    end
    print(("%s, vgg11/2 %2.0f%% column-pruned: %.1f ms a step without, %.1f ms with " ..
      "(%+.1f%%; target at most +10%%)"):format(e[1], 100 * pruned, 1000 * best_plain,
      1000 * best_faulty, 100 * (best_faulty / best_plain - 1)))
  end
end
