--- Optimizers and learning-rate schedules.
--
--     local opt = rp.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9,
--                                                   weight_decay = 5e-4})
--     local sched = rp.optim.cosine(opt, {epochs = 10})   -- call sched:step() per epoch
--     opt:zero_grad(); model:backward(x, g); opt:step()
--
-- Updates follow PyTorch (torch.optim.SGD and Adam, weight decay added to the
-- gradient). A parameter whose layer has a pruning mask is only updated where
-- the mask is 1; masked weights and their momentum / moments stay 0. The mask
-- is looked up at every step, so masks set after the optimizer was made count.
-- @module realprune.optim

local core = require "realprune.core"
local T = require "realprune.tensor"

local optim = {}

local function check_params(params, fn)
  if type(params) ~= "table" or #params == 0 then
    error(fn .. ": a non-empty list of parameters (model:parameters()) expected", 3)
  end
  for i, p in ipairs(params) do
    if type(p) ~= "table" or not T.is_tensor(p.value) or not T.is_tensor(p.grad) then
      error(("%s: parameter %d is not a {value=, grad=} record from model:parameters()"):format(
        fn, i), 3)
    end
  end
end

local function mask_of(p)
  return p.key == "weight" and p.module and p.module.mask or nil
end

-- A layer counts the updates of its weights (`layer.updates`): the writes
-- of its cells, for programming variation and endurance (rp.faults).
local function written(p)
  if p.key == "weight" and p.module then p.module.updates = (p.module.updates or 0) + 1 end
end

local function number_opt(opts, key, default, fn, min)
  local v = opts[key]
  if v == nil then return default end
  if type(v) ~= "number" or v ~= v or (min and v < min) then
    error(("%s: option %s must be a number%s, got %s"):format(fn, key,
      min and (" >= " .. min) or "", tostring(v)), 3)
  end
  return v
end

local Optimizer = {}
Optimizer.__index = Optimizer

--- Sets every parameter's gradient to 0.
function Optimizer:zero_grad()
  for _, p in ipairs(self.params) do p.grad:fill(0) end
end

--- Sets the learning rate.
function Optimizer:set_lr(lr)
  if type(lr) ~= "number" or lr < 0 then
    error(("rp.optim.%s:set_lr: learning rate must be a number >= 0, got %s"):format(self.kind,
      tostring(lr)), 2)
  end
  self.lr = lr
end

function Optimizer:get_lr() return self.lr end

local HYPER = {"lr", "momentum", "weight_decay", "nesterov", "beta1", "beta2", "eps", "steps"}

--- The optimizer's state as a plain table (what rp.save stores): its kind,
-- hyperparameters, step count and per-parameter buffers.
function Optimizer:state_table()
  local t = {kind = self.kind, buffers = {}, names = {}}
  for _, k in ipairs(HYPER) do t[k] = self[k] end
  for i, p in ipairs(self.params) do
    t.names[i] = p.name or tostring(i)
    t.buffers[i] = self.state[i]
  end
  return t
end

--- Restores a state saved with rp.save (or returned by state_table) into this
-- optimizer, which must be of the same kind over the same parameters.
function Optimizer:load_state(t)
  if type(t) ~= "table" or t.kind ~= self.kind then
    error(("rp.optim.%s:load_state: a saved %s state expected, got %s"):format(self.kind,
      self.kind, type(t) == "table" and tostring(t.kind) or type(t)), 2)
  end
  if #t.names ~= #self.params then
    error(("rp.optim.%s:load_state: the saved state has %d parameters, this optimizer %d")
      :format(self.kind, #t.names, #self.params), 2)
  end
  local function check(i, saved)
    local want = table.concat(self.params[i].value:shape(), "x")
    local got = table.concat(saved:shape(), "x")
    if want ~= got then
      error(("rp.optim.%s:load_state: buffer of parameter %d (%s) is %s, the parameter is %s")
        :format(self.kind, i, t.names[i], got, want), 3)
    end
    return saved:clone()
  end
  local state = {}
  for i = 1, #self.params do
    local b = t.buffers[i]
    if T.is_tensor(b) then
      state[i] = check(i, b)
    elseif type(b) == "table" then
      state[i] = {m = check(i, b.m), v = check(i, b.v)}
    end
  end
  for _, k in ipairs(HYPER) do if t[k] ~= nil then self[k] = t[k] end end
  self.state = state
  return self
end

--- `SGD(params, {lr=, momentum=0, nesterov=false, weight_decay=0})`.
function optim.SGD(params, opts)
  check_params(params, "rp.optim.SGD")
  opts = opts or {}
  local self = setmetatable({params = params, kind = "SGD"}, Optimizer)
  self.lr = number_opt(opts, "lr", nil, "rp.optim.SGD", 0)
  if not self.lr then error("rp.optim.SGD: option lr is required", 2) end
  self.momentum = number_opt(opts, "momentum", 0, "rp.optim.SGD", 0)
  self.weight_decay = number_opt(opts, "weight_decay", 0, "rp.optim.SGD", 0)
  self.nesterov = opts.nesterov and true or false
  if self.nesterov and self.momentum == 0 then
    error("rp.optim.SGD: nesterov needs a momentum > 0", 2)
  end
  self.state = {}
  self.step = function(s)
    for i, p in ipairs(s.params) do
      local buf
      if s.momentum ~= 0 then
        buf = s.state[i]
        if not buf then buf = T.zeros(p.value:shape()); s.state[i] = buf end
      end
      core.sgd_step(p.value, p.grad, buf, mask_of(p), s.lr, s.momentum, s.weight_decay,
        s.nesterov)
      written(p)
    end
  end
  return self
end

--- `Adam(params, {lr=1e-3, betas={0.9, 0.999}, eps=1e-8, weight_decay=0})`.
function optim.Adam(params, opts)
  check_params(params, "rp.optim.Adam")
  opts = opts or {}
  local self = setmetatable({params = params, kind = "Adam"}, Optimizer)
  self.lr = number_opt(opts, "lr", 1e-3, "rp.optim.Adam", 0)
  local betas = opts.betas or {0.9, 0.999}
  self.beta1, self.beta2 = betas[1], betas[2]
  if type(self.beta1) ~= "number" or type(self.beta2) ~= "number" or self.beta1 < 0 or
      self.beta1 >= 1 or self.beta2 < 0 or self.beta2 >= 1 then
    error("rp.optim.Adam: betas must be two numbers in [0, 1)", 2)
  end
  self.eps = number_opt(opts, "eps", 1e-8, "rp.optim.Adam", 0)
  self.weight_decay = number_opt(opts, "weight_decay", 0, "rp.optim.Adam", 0)
  self.state, self.steps = {}, 0
  self.step = function(s)
    s.steps = s.steps + 1
    for i, p in ipairs(s.params) do
      local st = s.state[i]
      if not st then
        st = {m = T.zeros(p.value:shape()), v = T.zeros(p.value:shape())}
        s.state[i] = st
      end
      core.adam_step(p.value, p.grad, st.m, st.v, mask_of(p), s.lr, s.beta1, s.beta2, s.eps,
        s.weight_decay, s.steps)
      written(p)
    end
  end
  return self
end

-- ------------------------------------------------------------ schedules --
-- A schedule sets the optimizer's learning rate from the epoch (counted from
-- 0); rp.train.fit calls sched:step(epoch) before every epoch. Each is also a
-- plain function: sched:lr(epoch).

local Schedule = {}
Schedule.__index = Schedule

function Schedule:step(epoch)
  self.optimizer:set_lr(self:lr(epoch))
end

local function schedule(opt, fn, name)
  if type(opt) ~= "table" or type(opt.set_lr) ~= "function" then
    error(name .. ": an optimizer expected", 3)
  end
  return setmetatable({optimizer = opt, base_lr = opt.lr, lr = fn, name = name}, Schedule)
end

--- `step(opt, {step_size=, gamma=0.1})`: lr * gamma^floor(epoch / step_size).
function optim.step(opt, o)
  o = o or {}
  local size, gamma = o.step_size, o.gamma or 0.1
  if math.type(size) ~= "integer" or size < 1 then
    error("rp.optim.step: step_size must be an integer >= 1", 2)
  end
  return schedule(opt, function(self, e) return self.base_lr * gamma ^ (e // size) end, "step")
end

--- `multistep(opt, {milestones={...}, gamma=0.1})`: multiply by gamma at each milestone.
function optim.multistep(opt, o)
  o = o or {}
  local ms, gamma = o.milestones, o.gamma or 0.1
  if type(ms) ~= "table" then
    error("rp.optim.multistep: milestones (a list of epochs) expected", 2)
  end
  return schedule(opt, function(self, e)
    local k = 0
    for _, m in ipairs(ms) do if e >= m then k = k + 1 end end
    return self.base_lr * gamma ^ k
  end, "multistep")
end

--- `cosine(opt, {epochs=, min_lr=0})`: cosine annealing from lr to min_lr.
function optim.cosine(opt, o)
  o = o or {}
  local n, min_lr = o.epochs, o.min_lr or 0
  if math.type(n) ~= "integer" or n < 1 then
    error("rp.optim.cosine: epochs must be an integer >= 1", 2)
  end
  return schedule(opt, function(self, e)
    return min_lr + (self.base_lr - min_lr) * (1 + math.cos(math.pi * math.min(e, n) / n)) / 2
  end, "cosine")
end

--- `warmup(opt, {epochs=, after=schedule})`: linear warm-up over `epochs`
-- (from lr/epochs up to lr), then `after` (shifted) or the constant lr.
function optim.warmup(opt, o)
  o = o or {}
  local n, after = o.epochs, o.after
  if math.type(n) ~= "integer" or n < 1 then
    error("rp.optim.warmup: epochs must be an integer >= 1", 2)
  end
  return schedule(opt, function(self, e)
    if e < n then return self.base_lr * (e + 1) / n end
    return after and after:lr(e - n) or self.base_lr
  end, "warmup")
end

return optim
