--- Training throughput: images/s of one SGD step (forward, loss, backward,
-- update) on random inputs, batch 128, for lenet5, vgg_small and vgg11; the
-- GFLOP/s achieved as a fraction of OpenBLAS sgemm peak; peak memory. GFLOP/s
-- counts the multiply-adds of direct convolution (3 passes); Winograd layers do
-- fewer, so the fraction can pass 100%.
--
--     build/realprune bench/train_throughput.lua [seconds] [torch_results_file]
--
-- With a file of PyTorch results (bench/torch_reference.py output), prints
-- the ratio to PyTorch per model. `make bench` does all of this.
local rp = require "realprune"
local T = rp.tensor

local seconds = tonumber(arg and arg[1] or "") or 5
local torch_file = arg and arg[2]
local batch = 128

-- Multiply-accumulates of one forward pass per image, from the layer shapes.
local function forward_macs(model, shape)
  local macs = 0
  local x = T.zeros{1, shape[1], shape[2], shape[3]}
  local hooks = {}
  for _, l in ipairs(model:prunable()) do
    local f = l.forward
    hooks[#hooks + 1] = {l, f}
    l.forward = function(self, input)
      local y = f(self, input)
      local per_output = self.weight:numel() / self.weight:size(1)
      macs = macs + y:numel() * per_output
      return y
    end
  end
  model:forward(x)
  for _, h in ipairs(hooks) do h[1].forward = h[2] end
  return macs
end

local function sgemm_peak()
  local a, b = T.rand{1024, 1024}, T.rand{1024, 1024}
  a:matmul(b)
  local n, t0 = 0, rp.clock()
  repeat a:matmul(b); n = n + 1 until rp.clock() - t0 > 1
  return 2 * 1024 ^ 3 * n / (rp.clock() - t0) / 1e9
end

local function throughput(name)
  rp.seed(1)
  local m = rp.models[name]{}
  local a = m.arch.args
  local shape = {a.in_channels, a.input_size, a.input_size}
  local macs = forward_macs(m, shape)
  local first = m:prunable()[1]
  local first_macs
  do -- the first layer's input gradient is skipped in training
    local w = first.weight
    local y = first:forward(T.zeros{1, shape[1], shape[2], shape[3]})
    first_macs = y:numel() * w:numel() / w:size(1)
  end
  local x = T.randn{batch, shape[1], shape[2], shape[3]}
  local y = {}
  for i = 1, batch do y[i] = i % a.classes + 1 end
  local opt = rp.optim.SGD(m:parameters(), {lr = 0.01, momentum = 0.9})
  local crit = rp.nn.CrossEntropyLoss()
  rp.nn.skip_input_grad(m)
  local function step()
    crit:forward(m:forward(x), y)
    opt:zero_grad()
    m:backward(x, crit:backward())
    opt:step()
  end
  step()
  local n, t0 = 0, rp.clock()
  repeat step(); n = n + 1 until rp.clock() - t0 > seconds
  local ips = n * batch / (rp.clock() - t0)
  local flops = 2 * (3 * macs - first_macs) -- forward, input grad, weight grad
  return ips, ips * flops / 1e9
end

local torch = {}
if torch_file then
  local f = io.open(torch_file)
  if f then
    for line in f:lines() do
      local name, v = line:match("^(%S+)%s+([%d.]+) img/s")
      if name then torch[name] = tonumber(v) end
      local mb = line:match("^peak_rss_mb (%d+)")
      if mb then torch.peak_rss_mb = tonumber(mb) end
    end
    f:close()
  end
end

local peak = sgemm_peak()
print(("train_throughput: batch %d, %d threads, OpenBLAS %s core, sgemm peak %.0f GFLOP/s")
  :format(batch, rp.get_threads(), rp.core.blas_info(), peak))
print("(GFLOP/s as for direct convolution: above 100% of peak means Winograd saved work)")
print(("%-10s %10s %10s %8s %10s %8s"):format("model", "img/s", "PyTorch", "ratio", "GFLOP/s",
  "of peak"))
local only = os.getenv("REALPRUNE_BENCH_MODELS")
for _, name in ipairs{"lenet5", "vgg_small", "vgg11"} do
  if not only or only:find(name, 1, true) then
    local ips, gflops = throughput(name)
    local ref = torch[name]
    print(("%-10s %10.1f %10s %8s %10.1f %7.0f%%"):format(name, ips,
      ref and ("%.1f"):format(ref) or "-", ref and ("%.2fx"):format(ips / ref) or "-",
      gflops, 100 * gflops / peak))
  end
end
local f = io.open("/proc/self/status")
if f then
  local s = f:read("a")
  f:close()
  local kib = tonumber(s:match("VmHWM:%s*(%d+)"))
  print(("peak_rss_mb %s (this process%s)"):format(math.floor(kib / 1024),
    torch.peak_rss_mb and (", PyTorch " .. torch.peak_rss_mb .. " for vgg11 alone") or ""))
end
