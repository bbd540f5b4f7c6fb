--- Throughput of elementwise tensor operations from Lua (GB/s of output).
--     build/realprune bench/tensor_ops.lua
local rp = require "realprune"
local T = rp.tensor

local function timeit(f)
  local w0 = rp.clock()
  repeat f() until rp.clock() - w0 > 0.2 -- warm up: the heap reaches its steady size
  local reps, t0 = 0, rp.clock()
  repeat f(); reps = reps + 1 until rp.clock() - t0 > 0.3
  return (rp.clock() - t0) / reps
end

local n = 1 << 22
local a, b, row = T.rand{1024, 4096}, T.rand{1024, 4096}, T.rand{4096}
print(("tensor_ops: %d floats per operand"):format(n))
local cases = {
  {"a + b (new tensor)", function() return a + b end},
  {"a:add_(b) in place", function() return a:add_(b) end},
  {"a:mul_(row) broadcast", function() return a:mul_(row) end},
  {"a * 2 (scalar)", function() return a * 2 end},
  {"a:sum()", function() return a:sum() end},
  {"a:sum(1) along rows", function() return a:sum(1) end},
}
for _, c in ipairs(cases) do
  local dt = timeit(c[2])
  print(("%-26s %8.2f ms  %6.2f GB/s"):format(c[1], dt * 1e3, n * 4 / dt / 1e9))
end
