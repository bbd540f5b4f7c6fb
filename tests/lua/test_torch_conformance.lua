-- Layers, loss and optimizers against values computed by PyTorch
-- (tests/fixtures/gen_torch.py -> tests/fixtures/torch_reference.lua).
local lu = require "luaunit"
local rp = require "realprune"
local T, nn = rp.tensor, rp.nn

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "tests/lua"
local ref = dofile(here .. "/../fixtures/torch_reference.lua")

local function tensor(r) return T.from(r.data):reshape(r.shape) end

local function close(got, want, what, tol)
  tol = tol or 1e-4
  lu.assertEquals(got:shape(), want.shape, what .. ": shape")
  local g = got:reshape{-1}:totable()
  local worst, at = 0, 0
  for i, w in ipairs(want.data) do
    local e = math.abs(g[i] - w) / (1 + math.abs(w))
    if e > worst then worst, at = e, i end
  end
  if worst > tol then
    lu.fail(("%s: element %d is %.7g, PyTorch %.7g (relative error %.2g > %.1g)"):format(what,
      at, g[at], want.data[at], worst, tol))
  end
end

local function run(layer, case)
  local x = tensor(case.input)
  local y = layer:forward(x)
  close(y, case.output, "output")
  layer:zero_grad()
  local gx = layer:backward(x, tensor(case.grad_output))
  close(gx, case.grad_input, "grad_input")
  if case.grad_weight then close(layer.grad_weight, case.grad_weight, "grad_weight") end
  if case.grad_bias then close(layer.grad_bias, case.grad_bias, "grad_bias") end
end

TestConformance = {}

-- Every case with the automatic choice; the 3x3 stride-1 ones also with each
-- algorithm forced (the wide ones take Winograd when automatic, the narrow
-- ones im2col).
for _, name in ipairs{"conv_3x3_pad1", "conv_rect_stride", "conv_1x1_stride2", "conv_1x1",
    "conv_5x5_pad2", "conv_3x3_wide_pad1", "conv_3x3_wide_pad0", "conv_3x3_wide_pad2"} do
  local c = ref[name].config
  local winograd_ok = c.k[1] == 3 and c.k[2] == 3 and c.stride[1] == 1 and c.stride[2] == 1
  for _, algo in ipairs(winograd_ok and {"auto", "im2col", "winograd", "winograd4"} or {"auto"}) do
    TestConformance["test_" .. name .. (algo == "auto" and "" or "_" .. algo)] = function()
      local case = ref[name]
      local m = nn.Conv2d(c.cin, c.cout, c.k, {stride = c.stride, padding = c.padding,
        bias = c.bias, algorithm = algo})
      m.weight:copy(tensor(case.weight))
      if c.bias then m.bias:copy(tensor(case.bias)) end
      run(m, case)
    end
  end
end

for _, name in ipairs{"linear", "linear_nobias"} do
  TestConformance["test_" .. name] = function()
    local case = ref[name]
    local m = nn.Linear(case.config.fin, case.config.fout, {bias = case.config.bias})
    m.weight:copy(tensor(case.weight))
    if case.config.bias then m.bias:copy(tensor(case.bias)) end
    run(m, case)
  end
end

function TestConformance:test_relu() run(nn.ReLU(), ref.relu) end
function TestConformance:test_flatten() run(nn.Flatten(), ref.flatten) end
function TestConformance:test_global_avgpool() run(nn.GlobalAvgPool2d(), ref.global_avgpool) end

for _, name in ipairs{"maxpool_2", "maxpool_3_2", "maxpool_3_2_pad1"} do
  TestConformance["test_" .. name] = function()
    local c = ref[name].config
    run(nn.MaxPool2d(c.k, c.stride, c.padding), ref[name])
  end
end

for _, name in ipairs{"avgpool_2", "avgpool_3_2_pad1"} do
  TestConformance["test_" .. name] = function()
    local c = ref[name].config
    run(nn.AvgPool2d(c.k, c.stride, c.padding), ref[name])
  end
end

function TestConformance:test_batchnorm_train_and_eval()
  local case = ref.batchnorm
  local m = nn.BatchNorm2d(3)
  m.weight:copy(tensor(case.weight))
  m.bias:copy(tensor(case.bias))
  run(m, case)
  close(m.running_mean, case.running_mean, "running_mean")
  close(m.running_var, case.running_var, "running_var")
  m:evaluate()
  close(m:forward(tensor(case.eval_input)), case.eval_output, "eval output")
end

function TestConformance:test_cross_entropy()
  local case = ref.cross_entropy
  local crit = nn.CrossEntropyLoss()
  local logits = tensor(case.logits)
  lu.assertAlmostEquals(crit:forward(logits, case.labels), case.loss, 1e-6)
  close(crit:backward(), case.grad, "grad")
  -- labels as a tensor give the same
  lu.assertAlmostEquals(crit:forward(logits, T.from(case.labels)), case.loss, 1e-6)
end

local function opt_run(case, make)
  local layer = nn.Linear(3, 4, {bias = false})
  layer.weight:copy(tensor(case.weight))
  local opt = make(layer:parameters())
  for _, g in ipairs(case.grads) do
    opt:zero_grad()
    layer.grad_weight:copy(tensor(g))
    opt:step()
  end
  close(layer.weight, case.result, "weight after 3 steps", 1e-5)
end

function TestConformance:test_sgd_momentum_wd()
  opt_run(ref.sgd_momentum_wd, function(p)
    return rp.optim.SGD(p, {lr = 0.1, momentum = 0.9, weight_decay = 0.01}) end)
end

function TestConformance:test_sgd_nesterov()
  opt_run(ref.sgd_nesterov, function(p)
    return rp.optim.SGD(p, {lr = 0.05, momentum = 0.8, nesterov = true}) end)
end

function TestConformance:test_sgd_plain()
  opt_run(ref.sgd_plain, function(p) return rp.optim.SGD(p, {lr = 0.2}) end)
end

function TestConformance:test_adam()
  opt_run(ref.adam, function(p)
    return rp.optim.Adam(p, {lr = 0.01, betas = {0.9, 0.99}, eps = 1e-6, weight_decay = 0.001})
  end)
end

os.exit(lu.LuaUnit.run())
