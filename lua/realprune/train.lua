--- Training and evaluation loops.
--
--     local history = rp.train.fit(model, train_loader, {
--       epochs = 5,
--       optimizer = rp.optim.SGD(model:parameters(), {lr = 0.05, momentum = 0.9,
--                                                     weight_decay = 5e-4}),
--       test = test_loader,               -- evaluated after every epoch
--     })
--     print(history[#history].test_accuracy)
--
-- On a terminal, fit shows a progress bar (epoch, batch, loss, accuracy,
-- images/s, ETA); otherwise it prints one line per epoch. A NaN or infinite
-- loss stops training with an error naming the epoch and the batch.
-- @module realprune.train

local core = require "realprune.core"
local nn = require "realprune.nn"
local optim = require "realprune.optim"

local train = {}

--- The training settings used wherever a caller gives none (SGD with momentum
-- 0.9 and weight decay 5e-4, lr 0.05, batches of 64, the gradient norm clipped
-- at 5 by the recipes): the one place these numbers live.
train.defaults = {lr = 0.05, batch = 64, momentum = 0.9, weight_decay = 5e-4, clip = 5.0}

local function as_loader(v, fn, what)
  if type(v) == "table" and type(v.epoch) == "function" then return v end
  if type(v) == "table" and type(v.loader) == "function" then
    return v:loader{batch_size = 256}
  end
  error(("%s: %s must be a loader (ds:loader{...}) or a data set, got %s"):format(fn, what,
    type(v)), 3)
end

local function clock_str(s)
  s = math.max(0, math.floor(s + 0.5))
  if s >= 3600 then return ("%d:%02d:%02d"):format(s // 3600, s % 3600 // 60, s % 60) end
  return ("%d:%02d"):format(s // 60, s % 60)
end

--- Accuracy and mean loss of `model` on a loader or data set, in evaluation
-- mode (the model's mode is restored afterwards).
-- @treturn table {accuracy=, loss=, correct=, total=}
function train.evaluate(model, loader)
  loader = as_loader(loader, "rp.train.evaluate", "the loader")
  local was_training = model.training
  model:evaluate()
  local crit = nn.CrossEntropyLoss()
  local correct, total, loss_sum = 0, 0, 0
  for x, y in loader:epoch(1) do
    local out = model:forward(x)
    loss_sum = loss_sum + crit:forward(out, y) * #y
    correct = correct + core.count_correct(out, y)
    total = total + #y
  end
  if was_training then model:train() end
  return {accuracy = correct / total, loss = loss_sum / total, correct = correct, total = total}
end

--- Trains `model` on `loader`. Options: `epochs` (default 1), `optimizer`
-- (default SGD lr 0.05, momentum 0.9, weight decay 5e-4), `schedule` (from
-- rp.optim; stepped before each epoch), `test` (loader or data set evaluated
-- after each epoch), `progress` (true/false; default: a bar on a terminal),
-- `start_epoch` (to resume; default 1), `on_epoch` (function(row) called
-- after each epoch), `on_batch` (function(epoch, batch) after each update),
-- `clip_grad_norm` (max global gradient norm), `log` (function(line);
-- default print), `round` (named in divergence errors). A NaN or infinite
-- loss, or a non-finite weight after an update, stops training with an error
-- naming the epoch, the batch (and the round) and, for weights, the parameter.
-- @treturn table history: one row per epoch {epoch=, loss=, accuracy=,
--   test_loss=, test_accuracy=, lr=, seconds=, images_per_s=}
function train.fit(model, loader, o)
  o = o or {}
  if type(model) ~= "table" or type(model.forward) ~= "function" then
    error("rp.train.fit: a model expected", 2)
  end
  loader = as_loader(loader, "rp.train.fit", "the training loader")
  local epochs = o.epochs or 1
  if math.type(epochs) ~= "integer" or epochs < 0 then
    error("rp.train.fit: epochs must be an integer >= 0", 2)
  end
  local test = o.test and as_loader(o.test, "rp.train.fit", "test") or nil
  local opt = o.optimizer or optim.SGD(model:parameters(),
    {lr = o.lr or 0.05, momentum = 0.9, weight_decay = 5e-4})
  local crit = nn.CrossEntropyLoss()
  local log = o.log or print
  local progress = o.progress
  if progress == nil then progress = core.isatty(1) end
  local history = {}
  local nb = #loader
  local first = nn.skip_input_grad(model)
  for epoch = o.start_epoch or 1, epochs do
    if o.schedule then o.schedule:step(epoch - 1) end
    model:train()
    local t0, last_draw = core.clock(), 0
    local loss_sum, correct, seen = 0, 0, 0
    for x, y, b in loader:epoch(epoch) do
      local out = model:forward(x)
      local loss = crit:forward(out, y)
      if loss ~= loss or loss == math.huge or loss == -math.huge then
        if progress then io.stdout:write("\n") end
        error(("rp.train.fit: the loss is %s at epoch %d, batch %d%s (lower the learning " ..
          "rate or set clip_grad_norm)"):format(tostring(loss), epoch, b,
          o.round and (", round " .. o.round) or ""), 2)
      end
      opt:zero_grad()
      model:backward(x, crit:backward())
      if o.clip_grad_norm then train.clip_grad_norm(opt.params, o.clip_grad_norm) end
      opt:step()
      -- divergence: a non-finite weight is reported within the batch that made it
      for _, p in ipairs(opt.params) do
        if p.value:count_nonfinite() > 0 then
          if progress then io.stdout:write("\n") end
          error(("rp.train.fit: %d non-finite values in %s after the update of epoch %d, " ..
            "batch %d%s (gradient norm %.4g; lower the learning rate or set clip_grad_norm)")
            :format(p.value:count_nonfinite(), p.name or "a parameter", epoch, b,
              o.round and (", round " .. o.round) or "", p.grad:norm()), 2)
        end
      end
      if o.on_batch then o.on_batch(epoch, b) end
      loss_sum = loss_sum + loss * #y
      correct = correct + core.count_correct(out, y)
      seen = seen + #y
      if progress then
        local now = core.clock()
        if now - last_draw > 0.1 or b == nb then
          last_draw = now
          local rate = seen / math.max(now - t0, 1e-9)
          local left = (loader:samples() - seen) / rate
          io.stdout:write(("\repoch %d/%d  batch %d/%d  loss %.4f  acc %5.2f%%  %.0f img/s  " ..
            "ETA %s  ")
            :format(epoch, epochs, b, nb, loss_sum / seen, 100 * correct / seen, rate,
              clock_str(left)))
          io.stdout:flush()
        end
      end
    end
    local seconds = core.clock() - t0
    local row = {epoch = epoch, loss = loss_sum / seen, accuracy = correct / seen,
      lr = opt.lr, seconds = seconds, images_per_s = seen / seconds}
    if test then
      local r = train.evaluate(model, test)
      row.test_loss, row.test_accuracy = r.loss, r.accuracy
    end
    history[#history + 1] = row
    if progress then io.stdout:write("\r\27[K") end
    log(("epoch %d/%d  loss %.4f  acc %.2f%%%s  lr %.4g  %.1fs  %.0f img/s"):format(epoch, epochs,
      row.loss, 100 * row.accuracy,
      row.test_accuracy and ("  test loss %.4f  test acc %.2f%%"):format(row.test_loss,
        100 * row.test_accuracy) or "", row.lr, seconds, row.images_per_s))
    if o.on_epoch then o.on_epoch(row) end
  end
  if first then first.need_grad_input = nil end
  return history
end

--- Scales the gradients of `params` (records from model:parameters()) so
-- that their global L2 norm is at most `max_norm`; returns the norm before.
function train.clip_grad_norm(params, max_norm)
  local sq = 0
  for _, p in ipairs(params) do sq = sq + p.grad:norm() ^ 2 end
  local norm = math.sqrt(sq)
  if norm > max_norm and norm > 0 then
    local s = max_norm / norm
    for _, p in ipairs(params) do p.grad:mul_(s) end
  end
  return norm
end

return train
