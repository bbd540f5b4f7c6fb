--- The model zoo: each function takes `{in_channels=, input_size=, classes=, width=}`
-- and returns an nn.Sequential whose `arch` field records how it was built
-- (checkpoints use it to rebuild the model).
--
--     local m = rp.models.vgg_small{}            -- 1x28x28 inputs, 10 classes
--     for _, l in ipairs(m:prunable()) do print(l.name, l.weight:numel()) end
--
-- `width` multiplies every hidden channel and unit count (rounded, at least 1).
-- Defaults: 1x28x28 and 10 classes for lenet5 and vgg_small, 3x32x32 for the
-- vgg and resnet models.
-- @module realprune.models

local nn = require "realprune.nn"

local models = {}

local function options(name, args, in_channels, input_size)
  args = args or {}
  if type(args) ~= "table" then
    error(("rp.models.%s: an options table expected, got %s"):format(name, type(args)), 3)
  end
  local known = {in_channels = true, input_size = true, classes = true, width = true}
  for k in pairs(args) do
    if not known[k] then
      error(("rp.models.%s: unknown option '%s' (in_channels, input_size, classes, width)"):format(
        name, tostring(k)), 3)
    end
  end
  local o = {
    in_channels = args.in_channels or in_channels,
    input_size = args.input_size or input_size,
    classes = args.classes or 10,
    width = args.width or 1,
  }
  for _, k in ipairs{"in_channels", "input_size", "classes"} do
    if math.type(o[k]) ~= "integer" or o[k] < 1 then
      error(("rp.models.%s: %s must be a positive integer, got %s"):format(name, k,
        tostring(o[k])), 3)
    end
  end
  if type(o.width) ~= "number" or not (o.width > 0) then
    error(("rp.models.%s: width must be a positive number, got %s"):format(name,
      tostring(o.width)), 3)
  end
  return o
end

local function w(o, n) return math.max(1, math.floor(n * o.width + 0.5)) end

local function finish(m, name, o)
  m.arch = {name = name, args = {in_channels = o.in_channels, input_size = o.input_size,
    classes = o.classes, width = o.width}}
  -- what the name and arguments build: a checkpoint saves a zoo model by name
  -- only while its architecture is still this (rp.save compares)
  m.arch_spec = m:architecture()
  return m
end

local function too_small(name, o, need)
  error(("rp.models.%s: input_size %d is too small (at least %d)"):format(name, o.input_size,
    need), 3)
end

--- LeNet-5: conv(6, 5x5, pad 2)-ReLU-maxpool2-conv(16, 5x5)-ReLU-maxpool2-fc120-ReLU-fc84-ReLU-fc.
function models.lenet5(args)
  local o = options("lenet5", args, 1, 28)
  local s = ((o.input_size // 2) - 4) // 2
  if s < 1 then too_small("lenet5", o, 12) end
  local c1, c2, f1, f2 = w(o, 6), w(o, 16), w(o, 120), w(o, 84)
  local m = nn.Sequential()
  m:add(nn.Sequential{
    nn.Conv2d(o.in_channels, c1, 5, {padding = 2}), nn.ReLU{inplace = true}, nn.MaxPool2d(2),
    nn.Conv2d(c1, c2, 5), nn.ReLU{inplace = true}, nn.MaxPool2d(2),
  }, "features")
  m:add(nn.Flatten(), "flatten")
  m:add(nn.Sequential{
    nn.Linear(c2 * s * s, f1), nn.ReLU{inplace = true}, nn.Linear(f1, f2), nn.ReLU{inplace = true},
      nn.Linear(f2, o.classes),
  }, "classifier")
  return finish(m, "lenet5", o)
end

--- A small VGG: conv32-ReLU-conv32-ReLU-maxpool2-conv64-ReLU-conv64-ReLU-maxpool2-fc256-ReLU-fc
-- (3x3 convolutions, padding 1, no batch norm).
function models.vgg_small(args)
  local o = options("vgg_small", args, 1, 28)
  local s = o.input_size // 4
  if s < 1 then too_small("vgg_small", o, 4) end
  local c1, c2, f = w(o, 32), w(o, 64), w(o, 256)
  local m = nn.Sequential()
  m:add(nn.Sequential{
    nn.Conv2d(o.in_channels, c1, 3, {padding = 1}), nn.ReLU{inplace = true},
    nn.Conv2d(c1, c1, 3, {padding = 1}), nn.ReLU{inplace = true}, nn.MaxPool2d(2),
    nn.Conv2d(c1, c2, 3, {padding = 1}), nn.ReLU{inplace = true},
    nn.Conv2d(c2, c2, 3, {padding = 1}), nn.ReLU{inplace = true}, nn.MaxPool2d(2),
  }, "features")
  m:add(nn.Flatten(), "flatten")
  m:add(nn.Sequential{nn.Linear(c2 * s * s, f), nn.ReLU{inplace = true}, nn.Linear(f, o.classes)},
    "classifier")
  return finish(m, "vgg_small", o)
end

local vgg_cfg = {
  vgg11 = {64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"},
  vgg16 = {64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
           512, 512, 512, "M"},
}

-- CIFAR VGG: 3x3 conv (no bias) + BN + ReLU, 2x2 max pools, one linear layer.
local function vgg(name, args)
  local o = options(name, args, 3, 32)
  local features = nn.Sequential()
  local c, s = o.in_channels, o.input_size
  for _, v in ipairs(vgg_cfg[name]) do
    if v == "M" then
      features:add(nn.MaxPool2d(2))
      s = s // 2
    else
      local out = w(o, v)
      features:add(nn.Conv2d(c, out, 3, {padding = 1, bias = false}))
      features:add(nn.BatchNorm2d(out))
      features:add(nn.ReLU{inplace = true})
      c = out
    end
  end
  if s < 1 then too_small(name, o, 32) end
  local m = nn.Sequential()
  m:add(features, "features")
  m:add(nn.Flatten(), "flatten")
  m:add(nn.Sequential{nn.Linear(c * s * s, o.classes)}, "classifier")
  return finish(m, name, o)
end

--- VGG-11 for CIFAR (3x32x32): 8 conv layers with batch norm, one linear layer.
function models.vgg11(args) return vgg("vgg11", args) end

--- VGG-16 for CIFAR: 13 conv layers with batch norm, one linear layer (about 14.7 M weights).
function models.vgg16(args) return vgg("vgg16", args) end

-- ResNet basic block: conv3x3-BN-ReLU-conv3x3-BN, plus identity or 1x1 conv + BN, then ReLU.
local function basic_block(cin, cout, stride)
  local branch = nn.Sequential{
    nn.Conv2d(cin, cout, 3, {stride = stride, padding = 1, bias = false}), nn.BatchNorm2d(cout),
    nn.ReLU{inplace = true},
    nn.Conv2d(cout, cout, 3, {padding = 1, bias = false}), nn.BatchNorm2d(cout),
  }
  local shortcut
  if stride ~= 1 or cin ~= cout then
    shortcut = nn.Sequential{nn.Conv2d(cin, cout, 1, {stride = stride, bias = false}),
      nn.BatchNorm2d(cout)}
  end
  return nn.Residual(branch, shortcut, {relu = true})
end

local function resnet(name, args, widths, blocks)
  local o = options(name, args, 3, 32)
  local m = nn.Sequential()
  local c = w(o, widths[1])
  m:add(nn.Conv2d(o.in_channels, c, 3, {padding = 1, bias = false}), "conv1")
  m:add(nn.BatchNorm2d(c), "bn1")
  m:add(nn.ReLU{inplace = true}, "relu")
  local s = o.input_size
  for stage, width in ipairs(widths) do
    local layer = nn.Sequential()
    local out = w(o, width)
    for b = 1, blocks[stage] do
      local stride = (b == 1 and stage > 1) and 2 or 1
      if stride == 2 then s = (s + 1) // 2 end
      layer:add(basic_block(c, out, stride))
      c = out
    end
    m:add(layer, "layer" .. stage)
  end
  if s < 1 then too_small(name, o, 8) end
  m:add(nn.GlobalAvgPool2d(), "pool")
  m:add(nn.Flatten(), "flatten")
  m:add(nn.Linear(c, o.classes), "fc")
  return finish(m, name, o)
end

--- ResNet-20 for CIFAR: 16-32-64 channels, 3 basic blocks per stage.
function models.resnet20(args) return resnet("resnet20", args, {16, 32, 64}, {3, 3, 3}) end

--- ResNet-18 with a CIFAR stem (3x3 conv, no max pool): 64-128-256-512, 2 blocks per stage.
function models.resnet18(args)
  return resnet("resnet18", args, {64, 128, 256, 512}, {2, 2, 2, 2})
end

--- Names of the models, sorted.
function models.list()
  local out = {}
  for k, v in pairs(models) do
    if type(v) == "function" and k ~= "list" and k ~= "build" then out[#out + 1] = k end
  end
  table.sort(out)
  return out
end

--- Builds a model from its `arch` record ({name=, args=}).
function models.build(arch)
  if type(arch) ~= "table" or type(models[arch.name]) ~= "function" or arch.name == "build" or
      arch.name == "list" then
    error(("rp.models.build: unknown architecture %s (known: %s)"):format(
      tostring(type(arch) == "table" and arch.name or arch), table.concat(models.list(), ", ")), 2)
  end
  return models[arch.name](arch.args)
end

return models
