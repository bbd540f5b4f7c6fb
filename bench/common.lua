--- What the Lua benchmarks share; each loads it from beside itself:
--
--     local common = dofile((arg[0]:gsub("[^/]*$", "")) .. "common.lua")
local rp = require "realprune"

local common = {}

--- One SGD step (lr 0.01, momentum 0.9, cross-entropy) of `model` on the
-- batch `x`, labels cycling through 1..10: returns a function that runs one.
function common.sgd_step(model, x)
  local labels = {}
  for i = 1, x:size(1) do labels[i] = i % 10 + 1 end
  local opt = rp.optim.SGD(model:parameters(), {lr = 0.01, momentum = 0.9})
  local crit = rp.nn.CrossEntropyLoss()
  return function()
    opt:zero_grad()
    crit:forward(model:forward(x), labels)
    model:backward(x, crit:backward())
    opt:step()
  end
end

return common
