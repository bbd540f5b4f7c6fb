--- Layers as Torch7-style modules: `m:forward(x)`, `m:backward(x, grad_y)`.
--
--     local nn = require("realprune").nn
--     local m = nn.Sequential{
--       nn.Conv2d(1, 8, 3, {padding = 1}), nn.ReLU(), nn.MaxPool2d(2),
--       nn.Flatten(), nn.Linear(8 * 14 * 14, 10),
--     }
--     local y = m:forward(x)                 -- x: N x 1 x 28 x 28
--     local loss = nn.CrossEntropyLoss()
--     print(loss:forward(y, labels))         -- labels: {3, 1, ...} (1-based)
--     m:zero_grad()
--     m:backward(x, loss:backward())
--
-- A module owns its output and gradient buffers and reuses them from batch to
-- batch: `forward` returns `m.output`, which the next call overwrites (clone
-- it to keep it). `backward` returns `m.grad_input` and *adds* the parameter
-- gradients into `grad_weight`/`grad_bias`; call `zero_grad` between steps.
--
-- Conv2d and Linear are the prunable layers: `layer:set_mask(mask)` (a 0/1
-- tensor of the weight's shape, or nil to clear) makes the masked weights
-- exactly 0 in forward and backward; optimizers leave them and their state at 0.
--
-- Initialization: conv and linear weights are Kaiming-normal (std =
-- sqrt(2 / fan_in), fan_in = in_channels * kh * kw or in_features) and
-- biases 0. PyTorch's defaults differ: Kaiming-uniform with a = sqrt(5)
-- (std = 1 / sqrt(3 fan_in)) and biases uniform in +-1/sqrt(fan_in).
-- BatchNorm2d starts with weight 1, bias 0, running mean 0, running var 1.
-- @module realprune.nn

local core = require "realprune.core"
local names = require "realprune.names"
local T = require "realprune.tensor"

local nn = {}

-- ---------------------------------------------------------------- classes --

-- A copy of constructor arguments with only plain data (numbers, strings,
-- booleans, tables of those): what a saved architecture can hold. Modules,
-- generators and functions are left out (modules are saved as children).
local function plain(v)
  local t = type(v)
  if t == "number" or t == "string" or t == "boolean" then return v end
  if t ~= "table" or getmetatable(v) ~= nil then return nil end
  local c = {}
  for k, x in pairs(v) do
    if type(k) == "string" or math.type(k) == "integer" then c[k] = plain(x) end
  end
  return c
end

local function class(name, parent)
  local cls = {}
  cls.__index = cls
  cls.__name = "realprune.nn." .. name
  cls.class_name = name
  setmetatable(cls, {
    __index = parent,
    __call = function(c, ...)
      local obj = setmetatable({}, c)
      local args = table.pack(...)
      local kept = {n = args.n}
      for i = 1, args.n do kept[i] = plain(args[i]) end
      obj.__args = kept -- the constructor's arguments, for saving the architecture
      obj:__init(...)
      return obj
    end,
  })
  cls.__tostring = function(self) return self:describe("") end
  return cls
end

local function same_shape(t, shape)
  local s = t:shape()
  if #s ~= #shape then return false end
  for i = 1, #s do if s[i] ~= shape[i] then return false end end
  return true
end

-- A buffer owned by the module, reallocated only when the shape changes.
local function buffer(self, key, shape)
  local b = rawget(self, key)
  if b == nil or not same_shape(b, shape) then
    b = T.zeros(shape)
    self[key] = b
  end
  return b
end

-- One workspace for every convolution in this Lua state: the kernels keep
-- nothing in it from one call to the next (columns, Winograd tiles and
-- partial sums are rebuilt by each call), so layers run one after another
-- can share it and a network needs the largest layer's workspace, not the sum.
local shared_workspace
local function workspace(n)
  if shared_workspace == nil or shared_workspace:numel() < n then
    shared_workspace = T.zeros{n}
  end
  return shared_workspace
end

local function pair(v, what, fn)
  if type(v) == "number" then
    if math.type(v) ~= "integer" then
      error(("%s: %s must be an integer or {h, w}, got %s"):format(fn, what, v), 3)
    end
    return v, v
  elseif type(v) == "table" and math.type(v[1]) == "integer" and math.type(v[2]) == "integer" then
    return v[1], v[2]
  end
  error(("%s: %s must be an integer or {h, w}, got %s"):format(fn, what, tostring(v)), 3)
end

local function check_tensor(x, fn, what)
  if not T.is_tensor(x) then
    error(("%s: %s must be a realprune.Tensor, got %s"):format(fn, what, type(x)), 3)
  end
end

local function check_count(n, fn, what, min)
  if math.type(n) ~= "integer" or n < (min or 1) then
    error(("%s: %s must be an integer >= %d, got %s"):format(fn, what, min or 1, tostring(n)), 3)
  end
end

local function shape_str(t) return table.concat(t:shape(), "x") end

-- ----------------------------------------------------------------- Module --

--- Base class of every layer.
local Module = class("Module")
nn.Module = Module

function Module:__init()
  self.training = true
end

--- Children in order, as an array of {name, module}.
function Module:children()
  return {}
end

-- Per-module settings that may change after construction and are saved.
local SETTINGS = {"algorithm", "inplace", "p", "relu", "eps", "momentum", "need_grad_input"}
local IS_SETTING = {}
for _, k in ipairs(SETTINGS) do IS_SETTING[k] = true end

--- The module's architecture as plain data (docs/design.md, "Saving any
-- model"): its class, constructor arguments, settings, mode and children;
-- `rp.nn.build` makes the same module again (with fresh parameters).
--
--     local again = rp.nn.build(model:architecture())
function Module:architecture()
  local a = {class = self.class_name, args = self.__args or {n = 0}, training = self.training,
    settings = {}}
  for _, k in ipairs(SETTINGS) do
    local v = rawget(self, k)
    if type(v) == "string" or type(v) == "number" or type(v) == "boolean" then a.settings[k] = v end
  end
  return a
end

--- A module from an architecture (Module:architecture()); an unknown class
-- or a malformed description is an error.
function nn.build(a)
  if type(a) ~= "table" or type(a.class) ~= "string" then
    error("rp.nn.build: an architecture table (from Module:architecture()) expected", 2)
  end
  local cls = nn[a.class]
  if type(cls) ~= "table" or not cls.class_name or a.class == "Module" then
    error(("rp.nn.build: unknown module class %q"):format(a.class), 2)
  end
  local m
  if a.class == "Sequential" then
    m = nn.Sequential{}
    for i, c in ipairs(a.children or {}) do
      if type(c) ~= "table" or type(c.name) ~= "string" then
        error(("rp.nn.build: child %d of a Sequential has no name"):format(i), 2)
      end
      m:add(nn.build(c.module), c.name)
    end
  elseif a.class == "Residual" then
    m = nn.Residual(nn.build(a.branch), a.shortcut and nn.build(a.shortcut) or nil,
      {relu = a.settings and a.settings.relu})
  else
    local args = a.args or {n = 0}
    m = cls(table.unpack(args, 1, args.n or #args))
  end
  for k, v in pairs(a.settings or {}) do
    local tv = type(v)
    if not IS_SETTING[k] or (tv ~= "string" and tv ~= "number" and tv ~= "boolean") then
      error(("rp.nn.build: %s has an unknown setting %s"):format(a.class, tostring(k)), 2)
    end
    m[k] = v
  end
  m.training = a.training ~= false
  return m
end

--- Sets training mode (batch statistics, dropout on) here and below; returns self.
function Module:train()
  self.training = true
  for _, c in ipairs(self:children()) do c[2]:train() end
  return self
end

--- Sets evaluation mode (running statistics, dropout off); returns self.
function Module:evaluate()
  self.training = false
  for _, c in ipairs(self:children()) do c[2]:evaluate() end
  return self
end

--- Every module below and including this one as an array of {name, module},
-- depth first, names joined with "." ("features.1").
function Module:named_modules(prefix, out)
  out = out or {}
  out[#out + 1] = {prefix or "", self}
  for _, c in ipairs(self:children()) do
    local name = (prefix and prefix ~= "") and (prefix .. "." .. c[1]) or c[1]
    c[2]:named_modules(name, out)
  end
  return out
end

--- Own parameters as records {name=, value=, grad=, module=, key=}.
function Module:own_parameters()
  return {}
end

--- All parameters below this module (records with `value`, `grad`,
-- `module`, `key` and the full `name`), in a stable order.
function Module:parameters()
  local out = {}
  for _, nm in ipairs(self:named_modules()) do
    for _, p in ipairs(nm[2]:own_parameters()) do
      p.name = nm[1] == "" and p.key or (nm[1] .. "." .. p.key)
      out[#out + 1] = p
    end
  end
  return out
end

--- The conv and linear layers in order; each gets its stable `name`.
function Module:prunable()
  local out = {}
  for _, nm in ipairs(self:named_modules()) do
    local m = nm[2]
    if m.prunable_layer then
      m.name = nm[1]
      out[#out + 1] = m
    end
  end
  return out
end

--- Sets every parameter gradient to 0.
function Module:zero_grad()
  for _, p in ipairs(self:parameters()) do p.grad:fill(0) end
end

--- Named state tensors: parameters, running statistics and masks, as an
-- array of {name, tensor} (what checkpoints store).
function Module:state()
  local out = {}
  for _, nm in ipairs(self:named_modules()) do
    local m = nm[2]
    for _, key in ipairs(m.state_keys or {}) do
      local t = rawget(m, key)
      if t then
        out[#out + 1] = {nm[1] == "" and key or (nm[1] .. "." .. key), t}
      end
    end
  end
  return out
end

local function deep_copy(v, memo)
  if type(v) ~= "table" and not T.is_tensor(v) then return v end
  if memo[v] then return memo[v] end
  if T.is_tensor(v) then
    local c = v:clone()
    memo[v] = c
    return c
  end
  local c = {}
  memo[v] = c
  for k, x in pairs(v) do c[deep_copy(k, memo)] = deep_copy(x, memo) end
  return setmetatable(c, getmetatable(v))
end

--- A deep copy: parameters, buffers and masks are cloned.
function Module:clone()
  return deep_copy(self, {})
end

function Module:extra_repr() return "" end

--- The output shape for an input of shape `s` (a table, batch first),
-- computed without running the layer. Prunable layers remember the shapes
-- they see as `in_shape` and `out_shape` (the crossbar model uses them).
function Module:output_shape(s) return s end

function Module:describe(indent)
  local kids = self:children()
  local head = self.class_name .. "(" .. self:extra_repr()
  if #kids == 0 then return head .. ")" end
  local lines = {head}
  for _, c in ipairs(kids) do
    lines[#lines + 1] = indent .. "  (" .. c[1] .. "): " .. c[2]:describe(indent .. "  ")
  end
  lines[#lines + 1] = indent .. ")"
  return table.concat(lines, "\n")
end

-- --------------------------------------------------------------- prunable --

local Prunable = class("Prunable", Module)

--- Sets the pruning mask (a 0/1 tensor of the weight's shape), or clears it
-- with nil. Masked weights become 0 at once; returns self.
function Prunable:set_mask(mask)
  if mask == nil then
    self.mask = nil
    return self
  end
  check_tensor(mask, "rp.nn." .. self.class_name .. ":set_mask", "mask")
  if not same_shape(mask, self.weight:shape()) then
    error(("rp.nn.%s:set_mask: mask %s does not match the weight %s"):format(self.class_name,
      shape_str(mask), shape_str(self.weight)), 2)
  end
  -- every value 0 or 1: none below 0 or above 1, and the nonzeros sum to their count
  if mask:count_nonfinite() > 0 or mask:min() < 0 or mask:max() > 1 or
      mask:sum() ~= mask:count_nonzero() then
    error(("rp.nn.%s:set_mask: a mask holds only 0 and 1"):format(self.class_name), 2)
  end
  return self:adopt_mask(mask:clone())
end

-- set_mask without the copy, for masks made for this layer alone (rp.prune).
function Prunable:adopt_mask(mask)
  self.mask, self.sparse_refused = mask, nil
  core.apply_mask(self.weight, mask)
  core.apply_mask(self.grad_weight, mask)
  -- the plan follows the mask at once (where a sparse kernel may run)
  if self.sparse_plan and (self.algorithm == "auto" or self.algorithm == "sparse") then
    self:sparse_plan()
  end
  return self
end

function Prunable:own_parameters()
  local ps = {{value = self.weight, grad = self.grad_weight, module = self, key = "weight"}}
  if self.bias then
    ps[2] = {value = self.bias, grad = self.grad_bias, module = self, key = "bias"}
  end
  return ps
end

local function kaiming(self, shape, fan_in, gen)
  self.weight = T.randn(shape, gen):mul_(math.sqrt(2 / fan_in))
  self.grad_weight = T.zeros(shape)
end

-- ---------------------------------------------------------------- Conv2d --

--- `Conv2d(in_channels, out_channels, k, {stride=1, padding=0, bias=true, generator=})`;
-- k, stride and padding are a number or {h, w}.
local Conv2d = class("Conv2d", Prunable)
nn.Conv2d = Conv2d

local sparse_enabled = true

--- Turns sparse execution on or off for every layer whose algorithm is
-- "auto" (on by default; "sparse" layers stay sparse); returns the previous
-- setting (with no argument, only returns it). Off, masked layers train on
-- the dense kernels as before, which is how bench/sparse_train.lua measures
-- what sparse execution saves.
function nn.use_sparse(on)
  local was = sparse_enabled
  if on ~= nil then sparse_enabled = on and true or false end
  return was
end
Conv2d.prunable_layer = true
Conv2d.kind = "conv"
Conv2d.state_keys = {"weight", "bias", "mask"}

function Conv2d:__init(cin, cout, k, opts)
  Module.__init(self)
  opts = opts or {}
  check_count(cin, "rp.nn.Conv2d", "in_channels")
  check_count(cout, "rp.nn.Conv2d", "out_channels")
  self.in_channels, self.out_channels = cin, cout
  self.kh, self.kw = pair(k, "kernel size", "rp.nn.Conv2d")
  self.sh, self.sw = pair(opts.stride or 1, "stride", "rp.nn.Conv2d")
  self.ph, self.pw = pair(opts.padding or 0, "padding", "rp.nn.Conv2d")
  if self.kh < 1 or self.kw < 1 or self.sh < 1 or self.sw < 1 or self.ph < 0 or self.pw < 0 then
    error("rp.nn.Conv2d: kernel and stride must be >= 1 and padding >= 0", 2)
  end
  local algo = opts.algorithm or "auto"
  if not names.has("conv2d_algorithm", algo) then
    error(("rp.nn.Conv2d: algorithm must be %s, got %s"):format(names.quoted("conv2d_algorithm"),
      tostring(algo)), 2)
  end
  if algo:match("^winograd") and (self.kh ~= 3 or self.kw ~= 3 or self.sh ~= 1 or self.sw ~= 1) then
    error(("rp.nn.Conv2d: the winograd algorithm needs a 3x3 kernel with stride 1, got kernel "
      .. "%dx%d, stride %dx%d"):format(self.kh, self.kw, self.sh, self.sw), 2)
  end
  self.algorithm = algo
  kaiming(self, {cout, cin, self.kh, self.kw}, cin * self.kh * self.kw, opts.generator)
  if opts.bias ~= false then
    self.bias, self.grad_bias = T.zeros{cout}, T.zeros{cout}
  end
end

-- " winograd 39% of dense": the sparse kernels a layer ran and their share
-- of the dense multiply-adds (of the alive filter pairs' on Winograd's)
local function sparse_share(self)
  local info, kernel = self.sparse_run.info, self.sparse_ran or "direct"
  local share = kernel == "winograd" and info.pair_macs / (self.in_channels * self.out_channels)
    or info.macs / info.macs_dense
  return (" %s %.0f%% of dense"):format(kernel, 100 * share)
end

function Conv2d:extra_repr()
  return ("%d, %d, kernel=%dx%d, stride=%dx%d, padding=%dx%d%s%s"):format(self.in_channels,
    self.out_channels, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw,
    self.bias and "" or ", bias=false", self.mask and ", masked" or "")
    .. ((self.algorithm or "auto") ~= "auto" and ", " .. self.algorithm or "")
    .. (self.runs and (", runs " .. self.runs .. (self.runs == "sparse" and self.sparse_run and
      sparse_share(self) or "")) or "")
end

function Conv2d:output_shape(s)
  if #s ~= 4 or s[2] ~= self.in_channels then
    error(("rp.nn.Conv2d: input shape %s does not fit %d input channels"):format(
      table.concat(s, "x"), self.in_channels), 0)
  end
  local h = (s[3] + 2 * self.ph - self.kh) // self.sh + 1
  local w = (s[4] + 2 * self.pw - self.kw) // self.sw + 1
  if h < 1 or w < 1 then
    error(("rp.nn.Conv2d: input %s is smaller than the kernel"):format(table.concat(s, "x")), 0)
  end
  self.in_shape, self.out_shape = s, {s[1], self.out_channels, h, w}
  return self.out_shape
end

--- The sparse execution plan of the layer's mask (docs/design.md, "Sparse
-- execution"): `{plan=, hash=, info={blocks=, rows_alive=, packed=, macs=,
-- macs_dense=, ...}}`, or nil without a mask (and not forced to "sparse").
-- Built when the mask is set and rebuilt only when the mask's nonzeros have
-- changed since (a mask edited in place, `layer.mask:copy(...)`), never per
-- batch.
function Conv2d:sparse_plan()
  -- with faults attached, the plan keeps the faulty weights too (rp.faults)
  local m, sp = self.fault_support or self.mask, self.sparse_exec
  if not m and self.algorithm ~= "sparse" then return nil end
  if not m and sp and not sp.masked then return sp end -- forced sparse, no mask: all alive
  -- the faulty weights' support is built by rp.faults.attach and never edited
  -- (a changed mask is the fault check's error): no digest per batch for it
  if sp and self.fault_support and sp.support == m and sp.masked == (self.mask ~= nil) then
    return sp
  end
  m = m or T.ones(self.weight:shape())
  local digest = core.mask_digest(m)
  if not sp or sp.digest ~= digest or sp.masked ~= (self.mask ~= nil) then
    local C = self.weight:size(1)
    -- stride 1 runs the direct kernels, which also take one block per output
    -- (unstructured masks); -1 lets the plan weigh that too
    local any = self.sh == 1 and self.sw == 1
    local plan = core.sparse_plan(m, self.weight:numel() // C, C, any and -1 or 0)
    local info = core.sparse_info(plan)
    sp = {plan = plan, hash = info.hash, digest = digest, info = info, masked = self.mask ~= nil}
    self.sparse_exec = sp
  end
  sp.support = self.fault_support
  return sp
end

-- The weights a layer computes with: its own, or with stuck-at faults or
-- programming variation attached (rp.faults) the ones its cells hold, kept
-- for the backward pass.
local function used_weight(self, where)
  if not self.faults and not self.variation then
    self.fault_used = nil
    -- a map with no stuck cell here still belongs to this mask
    if self.fault_hash ~= nil then require("realprune.faults").check_mask(self, where) end
    return self.weight
  end
  local w = buffer(self, "fault_weight", self.weight:shape())
  require("realprune.faults").effective(self, w, where)
  self.fault_used = w
  return w
end

-- The masked entries of a layer's weight gradient are 0 after its backward
-- pass: the dense kernels' gradient is masked; the sparse kernels, on the plan
-- of the mask itself, write the plan's weights only and leave the masked
-- entries as zero_grad and earlier passes left them (with faults attached the
-- plan holds faulty masked weights too, and the mask is applied).
local function mask_grad(self, sp)
  -- (the forward pass's plan must still be the layer's: a mask set or pruned in
  -- between has a new plan, and the old one's gradient is masked)
  if self.mask and not (sp and sp.masked and sp.support == nil and sp == self.sparse_exec) then
    core.apply_mask(self.grad_weight, self.mask)
  end
end

function Conv2d:forward(x)
  check_tensor(x, "rp.nn.Conv2d:forward", "input")
  if self.mask then core.apply_mask(self.weight, self.mask) end
  local weight = used_weight(self, "rp.nn.Conv2d:forward")
  -- what runs: the algorithm asked for, or auto's choice from shapes and mask
  -- (the plan, and the mask's hash, only where it can be used; with faults the
  -- plan is of the alive and the faulty weights)
  local run = self.algorithm
  local dense_algo = run
  local sp = (run == "sparse" or (run == "auto" and sparse_enabled)) and self:sparse_plan() or nil
  if run == "auto" then
    run = core.conv2d_choose(x, self.weight, self.kh, self.kw, self.sh, self.sw, self.ph,
      self.pw, sp and sp.plan)
  end
  self.runs = run
  if run == "sparse" then
    local ys, ws = core.conv2d_sparse_shapes(x, weight, self.kh, self.kw, self.sh, self.sw,
      self.ph, self.pw, sp.plan)
    local y = buffer(self, "output", ys)
    self.workspace_size, self.sparse_run = ws, sp
    self.sparse_ran = core.conv2d_sparse_kernel(x, weight, self.kh, self.kw, self.sh, self.sw,
      self.ph, self.pw, sp.plan)
    core.conv2d_sparse_forward(y, x, weight, self.bias, workspace(ws), self.kh, self.kw,
      self.sh, self.sw, self.ph, self.pw, sp.plan)
    return y
  end
  local ys, ws = core.conv2d_shapes(x, weight, self.kh, self.kw, self.sh, self.sw,
    self.ph, self.pw, dense_algo)
  local y = buffer(self, "output", ys)
  self.workspace_size, self.sparse_run, self.dense_algo = ws, nil, dense_algo
  local cols = workspace(ws)
  core.conv2d_forward(y, x, weight, self.bias, cols, self.kh, self.kw, self.sh, self.sw,
    self.ph, self.pw, dense_algo)
  return y
end

function Conv2d:backward(x, gy)
  if not self.workspace_size then error("rp.nn.Conv2d:backward: call forward first", 2) end
  local gx = buffer(self, "grad_input", x:shape())
  local sp = self.sparse_run -- the forward pass's plan: the gradient of what it computed
  if sp then
    core.conv2d_sparse_backward(self.need_grad_input ~= false and gx or nil, self.grad_weight,
      self.grad_bias, gy, x, self.fault_used or self.weight, workspace(self.workspace_size),
      self.kh, self.kw, self.sh, self.sw, self.ph, self.pw, 1, sp.plan)
  else
    core.conv2d_backward(self.need_grad_input ~= false and gx or nil, self.grad_weight,
      self.grad_bias, gy, x, self.fault_used or self.weight,
      workspace(self.workspace_size), self.kh, self.kw, self.sh, self.sw, self.ph, self.pw, 1,
      self.dense_algo or self.algorithm)
  end
  mask_grad(self, sp)
  return gx
end

-- ---------------------------------------------------------------- Linear --

--- `Linear(in_features, out_features, {bias=true, generator=})`; input N x in_features.
local Linear = class("Linear", Prunable)
nn.Linear = Linear
Linear.prunable_layer = true
Linear.kind = "linear"
Linear.state_keys = {"weight", "bias", "mask"}

function Linear:__init(fin, fout, opts)
  Module.__init(self)
  opts = opts or {}
  check_count(fin, "rp.nn.Linear", "in_features")
  check_count(fout, "rp.nn.Linear", "out_features")
  self.in_features, self.out_features = fin, fout
  kaiming(self, {fout, fin}, fin, opts.generator)
  if opts.bias ~= false then
    self.bias, self.grad_bias = T.zeros{fout}, T.zeros{fout}
  end
end

function Linear:extra_repr()
  return ("%d, %d%s%s"):format(self.in_features, self.out_features,
    self.bias and "" or ", bias=false", self.mask and ", masked" or "")
end

function Linear:output_shape(s)
  if #s ~= 2 or s[2] ~= self.in_features then
    error(("rp.nn.Linear: input shape %s does not fit %d input features"):format(
      table.concat(s, "x"), self.in_features), 0)
  end
  self.in_shape, self.out_shape = s, {s[1], self.out_features}
  return self.out_shape
end

-- A masked Linear layer is a 1x1 convolution of N images of 1x1 pixels: the
-- sparse direct kernels run it on the same plan (M = in x out, row blocks
-- only), when its multiply-adds, at 1.15 each (its own constant, measured on
-- the shape below; rp_conv2d_choose's are for 3x3 layers), are at most
-- LINEAR_SPARSE_SHARE of the dense product's. Against one OpenBLAS product
-- the blocks only win when few are alive: on a 3136 x 256 layer, batch 128,
-- 90% of the column segments pruned ran 1.33x faster, 70% 0.73x, 95% of the
-- elements 0.93x (tests/lua/test_sparse.lua checks the results).
local LINEAR_SPARSE_SHARE = 0.15

--- The sparse plan of a masked Linear layer (as Conv2d:sparse_plan), or nil.
function Linear:sparse_plan()
  local m, sp = self.mask, self.sparse_exec
  if not m then return nil end
  local digest = core.mask_digest(m)
  if not sp or sp.digest ~= digest then
    local plan = core.sparse_plan(m, self.in_features, self.out_features, 0)
    local info = core.sparse_info(plan)
    sp = {plan = plan, hash = info.hash, digest = digest, info = info, masked = true}
    self.sparse_exec = sp
  end
  return sp
end

-- views of a Linear layer's tensors as a 1x1 convolution's
local function as_conv(t, rows, cols) return t:reshape{rows, cols, 1, 1} end

function Linear:forward(x)
  check_tensor(x, "rp.nn.Linear:forward", "input")
  if x:dim() ~= 2 or x:size(2) ~= self.in_features then
    error(("rp.nn.Linear:forward: input must be N x %d, got %s"):format(self.in_features,
      shape_str(x)), 2)
  end
  if self.mask then core.apply_mask(self.weight, self.mask) end
  local weight = used_weight(self, "rp.nn.Linear:forward")
  local N, fin, fout = x:size(1), self.in_features, self.out_features
  local y = buffer(self, "output", {N, fout})
  -- a mask found too dense is not looked at again (no digest per batch) until
  -- it is set or pruned; an in-place edit then keeps the (correct) dense product
  local sp = sparse_enabled and not self.faults and not self.variation and
    not self.sparse_refused and
    self:sparse_plan() or nil
  if sp and 1.15 * sp.info.macs > LINEAR_SPARSE_SHARE * sp.info.macs_dense then
    self.sparse_refused, sp = true, nil
  end
  if sp then
    local x4, w4 = as_conv(x, N, fin), as_conv(weight, fout, fin)
    local _, ws = core.conv2d_sparse_shapes(x4, w4, 1, 1, 1, 1, 0, 0, sp.plan)
    core.conv2d_sparse_forward(as_conv(y, N, fout), x4, w4, self.bias, workspace(ws), 1, 1, 1,
      1, 0, 0, sp.plan)
    self.runs, self.sparse_run, self.workspace_size = "sparse", sp, ws
    return y
  end
  core.linear_forward(y, x, weight, self.bias)
  self.runs, self.sparse_run = "dense", nil
  return y
end

function Linear:backward(x, gy)
  local gx = buffer(self, "grad_input", x:shape())
  local sp = self.sparse_run -- the forward pass's plan
  if sp then
    local N, fin, fout = x:size(1), self.in_features, self.out_features
    core.conv2d_sparse_backward(self.need_grad_input ~= false and as_conv(gx, N, fin) or nil,
      as_conv(self.grad_weight, fout, fin), self.grad_bias, as_conv(gy, N, fout),
      as_conv(x, N, fin), as_conv(self.weight, fout, fin), workspace(self.workspace_size),
      1, 1, 1, 1, 0, 0, 1, sp.plan)
  else
    if self.need_grad_input ~= false then
      core.linear_backward_input(gx, gy, self.fault_used or self.weight)
    end
    core.linear_backward_params(self.grad_weight, self.grad_bias, gy, x)
  end
  mask_grad(self, sp)
  return gx
end

-- ------------------------------------------------------------------ ReLU --

--- `ReLU([{inplace=false}])`: max(0, x). In place, the output overwrites the
-- input and the input gradient overwrites the incoming gradient (half the
-- memory; right when nothing else needs the input afterwards, as after a
-- convolution or batch norm, whose backward passes do not read their output).
local ReLU = class("ReLU", Module)
nn.ReLU = ReLU

function ReLU:__init(opts)
  Module.__init(self)
  self.inplace = opts and opts.inplace or false
end

function ReLU:extra_repr() return self.inplace and "inplace=true" or "" end

function ReLU:forward(x)
  check_tensor(x, "rp.nn.ReLU:forward", "input")
  local y = self.inplace and x or buffer(self, "output", x:shape())
  core.relu_forward(y, x)
  self.output, self.fused = y, nil
  return y
end

function ReLU:backward(_, gy)
  -- fused into the batch norm before it (Sequential): that one applies the mask
  if self.fused then return gy end
  local gx = self.inplace and gy or buffer(self, "grad_input", gy:shape())
  core.relu_backward(gx, gy, self.output)
  return gx
end

-- --------------------------------------------------------------- pooling --

local function pool_init(self, name, k, stride, padding)
  Module.__init(self)
  self.kh, self.kw = pair(k, "kernel size", name)
  self.sh, self.sw = pair(stride or k, "stride", name)
  self.ph, self.pw = pair(padding or 0, "padding", name)
end

local function pool_shape(self, s)
  if type(s) ~= "table" or #s ~= 4 then
    error(("rp.nn.%s:output_shape: an N x C x H x W shape expected, got %s"):format(
      self.class_name, type(s) == "table" and table.concat(s, "x") or type(s)), 2)
  end
  local h = (s[3] + 2 * self.ph - self.kh) // self.sh + 1
  local w = (s[4] + 2 * self.pw - self.kw) // self.sw + 1
  if #s ~= 4 or h < 1 or w < 1 then
    error(("rp.nn.%s: input shape %s does not fit the window"):format(self.class_name,
      table.concat(s, "x")), 0)
  end
  return {s[1], s[2], h, w}
end

local function pool_repr(self)
  return ("kernel=%dx%d, stride=%dx%d%s"):format(self.kh, self.kw, self.sh, self.sw,
    (self.ph > 0 or self.pw > 0) and (", padding=%dx%d"):format(self.ph, self.pw) or "")
end

--- `MaxPool2d(k[, stride[, padding]])`: stride defaults to k.
local MaxPool2d = class("MaxPool2d", Module)
nn.MaxPool2d = MaxPool2d
MaxPool2d.extra_repr = pool_repr
MaxPool2d.output_shape = pool_shape

function MaxPool2d:__init(k, stride, padding) pool_init(self, "MaxPool2d", k, stride, padding) end

function MaxPool2d:forward(x)
  check_tensor(x, "rp.nn.MaxPool2d:forward", "input")
  local ys = core.pool2d_shape(x, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)
  local y, ix = buffer(self, "output", ys), buffer(self, "indices", ys)
  core.maxpool2d_forward(y, ix, x, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)
  return y
end

function MaxPool2d:backward(x, gy)
  local gx = buffer(self, "grad_input", x:shape())
  core.maxpool2d_backward(gx, gy, self.indices)
  return gx
end

--- `AvgPool2d(k[, stride[, padding]])`: padding counts in the average.
local AvgPool2d = class("AvgPool2d", Module)
nn.AvgPool2d = AvgPool2d
AvgPool2d.extra_repr = pool_repr
AvgPool2d.output_shape = pool_shape

function AvgPool2d:__init(k, stride, padding) pool_init(self, "AvgPool2d", k, stride, padding) end

function AvgPool2d:forward(x)
  check_tensor(x, "rp.nn.AvgPool2d:forward", "input")
  local ys = core.pool2d_shape(x, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)
  local y = buffer(self, "output", ys)
  core.avgpool2d_forward(y, x, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)
  return y
end

function AvgPool2d:backward(x, gy)
  local gx = buffer(self, "grad_input", x:shape())
  core.avgpool2d_backward(gx, gy, self.kh, self.kw, self.sh, self.sw, self.ph, self.pw)
  return gx
end

--- `GlobalAvgPool2d()`: N x C x H x W -> N x C x 1 x 1 (PyTorch's AdaptiveAvgPool2d(1)).
local GlobalAvgPool2d = class("GlobalAvgPool2d", Module)
nn.GlobalAvgPool2d = GlobalAvgPool2d

function GlobalAvgPool2d:output_shape(s) return {s[1], s[2], 1, 1} end

function GlobalAvgPool2d:forward(x)
  check_tensor(x, "rp.nn.GlobalAvgPool2d:forward", "input")
  if x:dim() ~= 4 then
    error("rp.nn.GlobalAvgPool2d:forward: input must be N x C x H x W, got " .. shape_str(x), 2)
  end
  local h, w = x:size(3), x:size(4)
  local y = buffer(self, "output", {x:size(1), x:size(2), 1, 1})
  core.avgpool2d_forward(y, x, h, w, h, w, 0, 0)
  return y
end

function GlobalAvgPool2d:backward(x, gy)
  local gx = buffer(self, "grad_input", x:shape())
  local h, w = x:size(3), x:size(4)
  core.avgpool2d_backward(gx, gy, h, w, h, w, 0, 0)
  return gx
end

-- ----------------------------------------------------------- BatchNorm2d --

--- `BatchNorm2d(channels, {momentum=0.1, eps=1e-5})` with PyTorch semantics.
local BatchNorm2d = class("BatchNorm2d", Module)
nn.BatchNorm2d = BatchNorm2d
BatchNorm2d.state_keys = {"weight", "bias", "running_mean", "running_var"}

function BatchNorm2d:__init(c, opts)
  Module.__init(self)
  opts = opts or {}
  check_count(c, "rp.nn.BatchNorm2d", "channels")
  self.channels = c
  self.momentum = opts.momentum or 0.1
  self.eps = opts.eps or 1e-5
  self.weight, self.bias = T.ones{c}, T.zeros{c}
  self.grad_weight, self.grad_bias = T.zeros{c}, T.zeros{c}
  self.running_mean, self.running_var = T.zeros{c}, T.ones{c}
  self.save_mean, self.save_invstd = T.zeros{c}, T.zeros{c}
end

function BatchNorm2d:extra_repr()
  return ("%d, eps=%g, momentum=%g"):format(self.channels, self.eps, self.momentum)
end

function BatchNorm2d:own_parameters()
  return {{value = self.weight, grad = self.grad_weight, module = self, key = "weight"},
          {value = self.bias, grad = self.grad_bias, module = self, key = "bias"}}
end

-- `relu` (Sequential's fusion of a BatchNorm2d and the in-place ReLU after
-- it): the output is max(0, normalized), in the same pass, and the backward
-- pass takes the ReLU output's gradient.
function BatchNorm2d:forward(x, relu)
  check_tensor(x, "rp.nn.BatchNorm2d:forward", "input")
  if x:dim() ~= 4 or x:size(2) ~= self.channels then
    error(("rp.nn.BatchNorm2d:forward: input must be N x %d x H x W, got %s"):format(self.channels,
      shape_str(x)), 2)
  end
  local y = buffer(self, "output", x:shape())
  relu = relu == true
  if self.training then
    core.batchnorm2d_forward_train(y, x, self.weight, self.bias, self.running_mean,
      self.running_var, self.save_mean, self.save_invstd, self.momentum, self.eps, relu)
  else
    core.batchnorm2d_forward_eval(y, x, self.weight, self.bias, self.running_mean,
      self.running_var, self.eps, relu)
  end
  self.relu_fused = relu and self.training or nil
  return y
end

function BatchNorm2d:backward(x, gy)
  local gx = buffer(self, "grad_input", x:shape())
  -- fused with a ReLU: its mask comes from x, the parameters and the saved
  -- statistics, as the forward pass computed them
  core.batchnorm2d_backward(gx, self.grad_weight, self.grad_bias, gy, x, self.weight,
    self.save_mean, self.save_invstd, self.relu_fused and self.bias or nil)
  return gx
end

-- --------------------------------------------------------------- Dropout --

--- `Dropout(p)`: in training, zeroes each value with probability p and
-- scales the rest by 1/(1-p); identity in evaluation. Draws from the
-- default generator unless `m.generator` is set.
local Dropout = class("Dropout", Module)
nn.Dropout = Dropout

function Dropout:__init(p)
  Module.__init(self)
  p = p == nil and 0.5 or p
  if type(p) ~= "number" or not (p >= 0 and p < 1) then
    error(("rp.nn.Dropout: probability must be in [0, 1), got %s"):format(tostring(p)), 2)
  end
  self.p = p
end

function Dropout:extra_repr() return ("p=%g"):format(self.p) end

function Dropout:forward(x)
  check_tensor(x, "rp.nn.Dropout:forward", "input")
  if not self.training or self.p == 0 then
    self.output = x
    return x
  end
  local y, noise = buffer(self, "output_buf", x:shape()), buffer(self, "noise", x:shape())
  core.dropout_forward(y, noise, x, self.p, self.generator)
  self.output = y
  return y
end

function Dropout:backward(_, gy)
  if not self.training or self.p == 0 then return gy end
  local gx = buffer(self, "grad_input", gy:shape())
  core.dropout_backward(gx, gy, self.noise)
  return gx
end

-- --------------------------------------------------------------- Flatten --

--- `Flatten()`: N x ... -> N x (product of the rest), a view.
local Flatten = class("Flatten", Module)
nn.Flatten = Flatten

function Flatten:output_shape(s)
  local n = 1
  for i = 2, #s do n = n * s[i] end
  return {s[1], n}
end

function Flatten:forward(x)
  check_tensor(x, "rp.nn.Flatten:forward", "input")
  self.output = x:reshape{x:size(1), -1}
  return self.output
end

function Flatten:backward(x, gy)
  self.grad_input = gy:reshape(x:shape())
  return self.grad_input
end

-- ------------------------------------------------------------ Sequential --

--- `Sequential{m1, m2, ...}`: children named "1", "2", ...; `s:add(m[, name])`
-- appends (names such as "features" give stable paths like "features.3").
local Sequential = class("Sequential", Module)
nn.Sequential = Sequential

function Sequential:__init(list)
  Module.__init(self)
  self.modules, self.names = {}, {}
  for _, m in ipairs(list or {}) do self:add(m) end
end

function Sequential:add(m, name)
  if type(m) ~= "table" or type(m.forward) ~= "function" then
    error(("rp.nn.Sequential:add: a module expected, got %s"):format(type(m)), 2)
  end
  local i = #self.modules + 1
  self.modules[i] = m
  self.names[i] = name or tostring(i)
  self[self.names[i]] = self[self.names[i]] == nil and m or self[self.names[i]]
  return self
end

function Sequential:architecture()
  local a = Module.architecture(self)
  a.args, a.children = {n = 0}, {}
  for i, m in ipairs(self.modules) do
    a.children[i] = {name = self.names[i], module = m:architecture()}
  end
  return a
end

function Sequential:children()
  local out = {}
  for i, m in ipairs(self.modules) do out[i] = {self.names[i], m} end
  return out
end

function Sequential:output_shape(s)
  for _, m in ipairs(self.modules) do s = m:output_shape(s) end
  return s
end

-- A BatchNorm2d followed by an in-place ReLU runs as one pass (the same bits
-- as the two one after the other, one read and write of the activations
-- fewer each way): the ReLU is told, and its backward pass hands the
-- gradient on to the batch norm's, which applies the mask.
local function fuses(m, nxt)
  return nxt ~= nil and m.forward == BatchNorm2d.forward and
    m.backward == BatchNorm2d.backward and nxt.forward == ReLU.forward and
    nxt.backward == ReLU.backward and nxt.inplace == true
end

function Sequential:forward(x)
  self.inputs = self.inputs or {}
  local mods, i = self.modules, 1
  while mods[i] do
    local m, nxt = mods[i], mods[i + 1]
    self.inputs[i] = x
    if fuses(m, nxt) then
      x = m:forward(x, true)
      self.inputs[i + 1] = x
      nxt.output, nxt.fused = x, m.relu_fused
      i = i + 2
    else
      x = m:forward(x)
      i = i + 1
    end
  end
  self.output = x
  return x
end

function Sequential:backward(x, gy)
  local n = #self.modules
  for i = n, 1, -1 do
    gy = self.modules[i]:backward(i == 1 and x or self.inputs[i], gy)
  end
  self.grad_input = gy
  return gy
end

-- -------------------------------------------------------------- Residual --

--- `Residual(branch[, shortcut[, {relu=false}]])`: y = branch(x) + shortcut(x),
-- the shortcut being the identity when absent; with `relu=true`, y is passed
-- through a ReLU (the ResNet basic block).
local Residual = class("Residual", Module)
nn.Residual = Residual

function Residual:__init(branch, shortcut, opts)
  Module.__init(self)
  if type(branch) ~= "table" or type(branch.forward) ~= "function" then
    error("rp.nn.Residual: a branch module expected", 2)
  end
  if shortcut ~= nil and (type(shortcut) ~= "table" or type(shortcut.forward) ~= "function") then
    error("rp.nn.Residual: the shortcut must be a module or nil", 2)
  end
  self.branch, self.shortcut = branch, shortcut
  self.relu = opts and opts.relu or false
end

function Residual:extra_repr() return self.relu and "relu=true" or "" end

function Residual:architecture()
  local a = Module.architecture(self)
  a.args = {n = 0}
  a.branch = self.branch:architecture()
  a.shortcut = self.shortcut and self.shortcut:architecture() or nil
  return a
end

function Residual:children()
  local out = {{"branch", self.branch}}
  if self.shortcut then out[2] = {"shortcut", self.shortcut} end
  return out
end

function Residual:output_shape(s)
  local b = self.branch:output_shape(s)
  if self.shortcut then self.shortcut:output_shape(s) end
  return b
end

function Residual:forward(x)
  local b = self.branch:forward(x)
  local s = self.shortcut and self.shortcut:forward(x) or x
  if not same_shape(b, s:shape()) then
    error(("rp.nn.Residual:forward: branch output %s and shortcut output %s differ"):format(
      shape_str(b), shape_str(s)), 2)
  end
  local y = buffer(self, "output", b:shape())
  y:copy(b):add_(s)
  if self.relu then core.relu_forward(y, y) end
  return y
end

function Residual:backward(x, gy)
  if self.relu then
    local g = buffer(self, "grad_sum", gy:shape())
    core.relu_backward(g, gy, self.output)
    gy = g
  end
  local gb = self.branch:backward(x, gy)
  local gx = buffer(self, "grad_input", x:shape())
  gx:copy(gb)
  if self.shortcut then
    gx:add_(self.shortcut:backward(x, gy))
  else
    gx:add_(gy)
  end
  return gx
end

-- ------------------------------------------------------ CrossEntropyLoss --

--- `CrossEntropyLoss()`: softmax cross-entropy, mean over the batch.
-- `loss:forward(logits, labels) -> number`, labels 1-based (a Lua array or a
-- tensor); `loss:backward() -> gradient` with respect to the logits.
local CrossEntropyLoss = class("CrossEntropyLoss", Module)
nn.CrossEntropyLoss = CrossEntropyLoss

function CrossEntropyLoss:forward(logits, labels)
  check_tensor(logits, "rp.nn.CrossEntropyLoss:forward", "logits")
  local probs = buffer(self, "probs", logits:shape())
  self.loss = core.cross_entropy_forward(probs, logits, labels)
  self.labels = labels
  return self.loss
end

function CrossEntropyLoss:backward(logits, labels)
  if logits then self:forward(logits, labels) end
  if not self.probs then error("rp.nn.CrossEntropyLoss:backward: call forward first", 2) end
  local g = buffer(self, "grad_input", self.probs:shape())
  core.cross_entropy_backward(g, self.probs, self.labels)
  return g
end

--- Marks the layer that first sees the model's input as not needing the
-- gradient with respect to that input (training never uses it; it costs a
-- full backward GEMM). The model's `backward` then returns zeros. Returns
-- the layer, or nil if the model does not start with a conv or linear layer.
function nn.skip_input_grad(model)
  local m = model
  while m and m.class_name == "Sequential" do m = m.modules[1] end
  if m and m.prunable_layer then
    m.need_grad_input = false
    return m
  end
  return nil
end

--- Number of rows of logits whose largest value is at the (1-based) label.
function nn.count_correct(logits, labels)
  return core.count_correct(logits, labels)
end

return nn
