--- Checkpoints: `rp.save(path, obj)` and `rp.load(path)`.
--
--     rp.save("run/ckpt.rpk", {model = model, optimizer = opt, epoch = 3, history = h})
--     local ck = rp.load("run/ckpt.rpk")
--     ck.model                      -- rebuilt from its architecture, state restored
--     opt:load_state(ck.optimizer)  -- optimizer state goes back into an optimizer
--
-- What can be saved: nil, booleans, numbers (integers stay integers), strings,
-- tensors, tables of those (shared and cyclic references kept), models — zoo
-- models by name and arguments, any other composition of rp.nn modules by its
-- architecture (Module:architecture(): classes, constructor arguments,
-- settings such as a convolution's algorithm, children, modes) — with every
-- state tensor (masks and batch-norm statistics included) and their
-- train/evaluate mode, and optimizers (their state). Functions and other
-- userdata are an error.
--
-- File format (version 1), all integers little-endian:
--
--     offset 0   8 bytes  magic "\x89RPCK\r\n\x1a"
--            8   4 bytes  format version (uint32, = 1)
--           12   8 bytes  payload length n (uint64)
--           20   n bytes  payload: one value (below)
--         20+n   4 bytes  CRC-32 of the payload (uint32)
--
-- A value is a one-byte tag and its body: "0" nil; "t"/"f" booleans; "i"
-- int64; "d" double; "s" uint64 length + bytes; "x" tensor: uint8 ndim,
-- ndim int64 sizes, float32 data; "{" table: uint64 id, uint64 pair count,
-- then key/value pairs; "r" uint64 id of a table already read; "M" model:
-- a table value {arch= (zoo) or spec= (Module:architecture()), training=,
-- state=, faults=} (state: name -> tensor; faults: the attached stuck-at
-- fault map, rp.faults.serialize, when there is one); "O" optimizer: a
-- table value (see Optimizer:state_table).
--
-- Writes are atomic (temporary file, fsync, rename): a crash or a full disk
-- leaves the previous file intact. Reads check the magic, the version, the
-- length and the checksum before decoding, and every record's sizes against
-- the bytes left, so a truncated, corrupted or foreign file is a clear error.
-- @module realprune.checkpoint

local core = require "realprune.core"
local T = require "realprune.tensor"

local M = {}

-- Architectures equal but for the modules' modes.
local function same_arch(a, b)
  if type(a) ~= type(b) then return false end
  if type(a) ~= "table" then return a == b end
  for k, x in pairs(a) do
    if k ~= "training" and not same_arch(x, b[k]) then return false end
  end
  for k in pairs(b) do
    if k ~= "training" and a[k] == nil then return false end
  end
  return true
end

-- Every module of an architecture in `mode`.
local function one_mode(a, mode)
  if type(a) ~= "table" then return true end
  if a.class and (a.training ~= false) ~= (mode ~= false) then return false end
  for k, x in pairs(a) do
    if k ~= "settings" and type(x) == "table" and not one_mode(x, mode) then return false end
  end
  return true
end

-- The architecture must build a model with the same state tensors (names and
-- shapes; masks aside), or the file could not be loaded: refuse it at save.
local function check_rebuilds(model, spec, where)
  local ok, built = pcall(require("realprune.nn").build, spec)
  local problem
  if not ok then
    problem = tostring(built)
  else
    local want = {}
    for _, e in ipairs(built:state()) do want[e[1]] = e[2]:shape() end
    for _, e in ipairs(model:state()) do
      local name = e[1]
      if not name:match("mask$") then
        local s = want[name]
        if not s then problem = name .. " would not exist" break end
        if table.concat(s, "x") ~= table.concat(e[2]:shape(), "x") then
          problem = name .. " would have another shape" break
        end
        want[name] = nil
      end
    end
    if not problem then
      local extra = next(want)
      if extra and not extra:match("mask$") then problem = extra .. " would be new" end
    end
  end
  if problem then
    error(("rp.save: the model at %s cannot be rebuilt from its architecture (%s): save its " ..
      "state instead (model:state())"):format(where, problem), 0)
  end
end

local MAGIC = "\x89RPCK\r\n\x1a"
M.VERSION = 1

local function is_model(v)
  return type(v) == "table" and type(v.forward) == "function" and type(v.state) == "function"
end

local function is_optimizer(v)
  return type(v) == "table" and type(v.step) == "function" and type(v.state_table) == "function"
end

-- ---------------------------------------------------------------- writing --

local function encoder()
  local parts, ids, next_id = {}, {}, 0
  local put
  local function put_table(v)
    if ids[v] then
      parts[#parts + 1] = "r" .. string.pack("<I8", ids[v])
      return
    end
    next_id = next_id + 1
    ids[v] = next_id
    local keys = {}
    for k in pairs(v) do keys[#keys + 1] = k end
    -- a stable order: numbers first (ascending), then strings, then others
    table.sort(keys, function(a, b)
      local ta, tb = type(a), type(b)
      if ta ~= tb then return ta < tb end
      if ta == "number" or ta == "string" then return a < b end
      return tostring(a) < tostring(b)
    end)
    parts[#parts + 1] = "{" .. string.pack("<I8I8", next_id, #keys)
    for _, k in ipairs(keys) do
      put(k, "a key")
      put(v[k], tostring(k))
    end
  end
  put = function(v, where)
    local tv = type(v)
    if v == nil then parts[#parts + 1] = "0"
    elseif v == true then parts[#parts + 1] = "t"
    elseif v == false then parts[#parts + 1] = "f"
    elseif math.type(v) == "integer" then parts[#parts + 1] = "i" .. string.pack("<i8", v)
    elseif tv == "number" then parts[#parts + 1] = "d" .. string.pack("<d", v)
    elseif tv == "string" then parts[#parts + 1] = "s" .. string.pack("<s8", v)
    elseif T.is_tensor(v) then
      local shape = v:shape()
      parts[#parts + 1] = "x" .. string.pack("<B", #shape)
      for _, d in ipairs(shape) do parts[#parts + 1] = string.pack("<i8", d) end
      parts[#parts + 1] = core.tensor_bytes(v)
    elseif is_model(v) then
      local state = {}
      for _, e in ipairs(v:state()) do state[e[1]] = e[2] end
      parts[#parts + 1] = "M"
      -- a zoo model by its name and arguments while it is what they build (in
      -- one mode throughout); any other by its architecture, checked to rebuild
      local ok, spec = pcall(v.architecture, v)
      if not ok then
        error(("rp.save: the model at %s cannot describe its architecture: %s"):format(where,
          tostring(spec)), 0)
      end
      local by_name = v.arch and v.arch_spec and same_arch(v.arch_spec, spec) and
        one_mode(spec, v.training)
      if not by_name then check_rebuilds(v, spec, where) end
      put({arch = by_name and v.arch or nil, spec = not by_name and spec or nil,
        training = v.training, state = state,
        faults = v.fault_map and require("realprune.faults").serialize(v.fault_map, v) or nil},
        where)
    elseif is_optimizer(v) then
      parts[#parts + 1] = "O"
      put(v:state_table(), where)
    elseif tv == "table" then put_table(v)
    else
      error(("rp.save: cannot save a %s (at %s)"):format(tv, where), 0)
    end
  end
  return put, parts
end

--- Saves `obj` to `path` atomically. Raises an error naming the path when
-- the file cannot be written (the previous file, if any, is kept).
function M.save(path, obj)
  if type(path) ~= "string" then error("rp.save: a path (string) expected", 2) end
  local put, parts = encoder()
  local ok, err = pcall(put, obj, "the top")
  if not ok then error(err, 2) end
  local payload = table.concat(parts)
  local data = MAGIC .. string.pack("<I4I8", M.VERSION, #payload) .. payload ..
    string.pack("<I4", core.crc32(payload))
  local wrote, werr = core.write_file_atomic(path, data)
  -- an I/O failure: the message names the file, not a code location
  if not wrote then error("rp.save: " .. werr, 0) end
  return true
end

-- ---------------------------------------------------------------- reading --

local function decoder(s, path)
  local pos, tables = 1, {}
  local function bad(what)
    error(("rp.load: %s is corrupt: %s at byte %d"):format(path, what, pos + 19), 0)
  end
  local function need(n)
    if n < 0 or pos + n - 1 > #s then bad("a record runs past the end") end
  end
  local function unpack(fmt, size)
    need(size)
    local v, nxt = string.unpack(fmt, s, pos)
    pos = nxt
    return v
  end
  local get
  get = function(depth)
    if depth > 200 then bad("nesting too deep") end
    local tag = unpack("c1", 1)
    if tag == "0" then return nil
    elseif tag == "t" then return true
    elseif tag == "f" then return false
    elseif tag == "i" then return unpack("<i8", 8)
    elseif tag == "d" then return unpack("<d", 8)
    elseif tag == "s" then
      local n = unpack("<I8", 8)
      need(n)
      local v = s:sub(pos, pos + n - 1)
      pos = pos + n
      return v
    elseif tag == "x" then
      local nd = unpack("<B", 1)
      if nd > 5 then bad("a tensor with " .. nd .. " dimensions") end
      local shape, numel = {}, 1
      for i = 1, nd do
        shape[i] = unpack("<i8", 8)
        if shape[i] < 0 or shape[i] > #s then bad("a tensor size of " .. shape[i]) end
        numel = numel * shape[i]
      end
      need(numel * 4)
      local t = core.tensor_from_bytes(shape, s, pos)
      pos = pos + numel * 4
      return t
    elseif tag == "{" then
      local id, n = unpack("<I8", 8), unpack("<I8", 8)
      if n > #s then bad("a table of " .. n .. " entries") end
      local t = {}
      tables[id] = t
      for _ = 1, n do
        local k = get(depth + 1)
        if k == nil then bad("a nil table key") end
        t[k] = get(depth + 1)
      end
      return t
    elseif tag == "r" then
      local id = unpack("<I8", 8)
      if not tables[id] then bad("a reference to an unknown table") end
      return tables[id]
    elseif tag == "M" then
      local rec = get(depth + 1)
      if type(rec) ~= "table" or (type(rec.arch) ~= "table" and type(rec.spec) ~= "table") or
          type(rec.state) ~= "table" then
        bad("a model record without architecture or state")
      end
      local ok, model
      if rec.arch then
        ok, model = pcall(require("realprune.models").build, rec.arch)
      else
        ok, model = pcall(require("realprune.nn").build, rec.spec)
      end
      if not ok then bad("a model record of an architecture this realprune cannot build: " ..
        tostring(model)) end
      M.load_state(model, rec.state, path)
      -- a spec keeps every module's mode
      if rec.arch and rec.training == false then model:evaluate() end
      if rec.faults ~= nil then
        local faults = require "realprune.faults"
        local okf, err = pcall(function() faults.attach(model, faults.deserialize(rec.faults)) end)
        if not okf then bad("a model record whose fault map does not fit it: " .. tostring(err)) end
      end
      return model
    elseif tag == "O" then
      local rec = get(depth + 1)
      if type(rec) ~= "table" then bad("an optimizer record that is not a table") end
      rec.__optimizer_state = true
      return rec
    end
    bad(("an unknown record tag %q"):format(tag))
  end
  return function()
    local v = get(0)
    if pos ~= #s + 1 then bad("extra bytes after the value") end
    return v
  end
end

--- Copies a saved state (name -> tensor) into `model`: every state tensor of
-- the model must be there with the same shape (masks are optional and set
-- with set_mask). A checkpoint of another architecture is an error.
function M.load_state(model, state, where)
  where = where or "the state"
  local names, have, layers = {}, {}, {}
  for _, e in ipairs(model:state()) do
    names[#names + 1] = e[1]
    have[e[1]] = e[2]
  end
  for _, e in ipairs(model:named_modules()) do
    if e[2].prunable_layer then
      local key = (e[1] == "" and "" or e[1] .. ".") .. "mask"
      layers[key] = e[2]
      if have[key] == nil and state[key] ~= nil then names[#names + 1] = key end
    end
  end
  local extra = {}
  for name in pairs(state) do
    if have[name] == nil and not layers[name] then extra[#extra + 1] = tostring(name) end
  end
  table.sort(extra)
  if #extra > 0 then
    error(("rp.load: %s holds %s, which this model does not have (a checkpoint of " ..
      "another model?)"):format(where, extra[1]), 0)
  end
  -- check everything first, so that a mismatch leaves the model untouched
  for _, name in ipairs(names) do
    local src, dst = state[name], have[name]
    if src == nil and not layers[name] then
      error(("rp.load: %s lacks %s (a checkpoint of another model?)"):format(where, name), 0)
    end
    if src ~= nil and not T.is_tensor(src) then
      error(("rp.load: %s: %s is not a tensor"):format(where, name), 0)
    end
    local want = layers[name] and layers[name].weight or dst
    if src ~= nil then
      local a, b = table.concat(want:shape(), "x"), table.concat(src:shape(), "x")
      if a ~= b then
        error(("rp.load: %s: %s is %s in the checkpoint but %s in the model"):format(where,
          name, b, a), 0)
      end
    end
  end
  for _, name in ipairs(names) do
    local src = state[name]
    if layers[name] then
      layers[name]:set_mask(src) -- nil clears a mask the checkpoint does not have
    else
      have[name]:copy(src)
    end
  end
  return model
end

--- Loads what rp.save wrote. Raises an error naming the file if it is
-- missing, truncated, corrupted, of another format or of a newer version.
function M.load(path)
  if type(path) ~= "string" then error("rp.load: a path (string) expected", 2) end
  local s, err = core.read_file(path)
  if not s then error("rp.load: " .. err, 2) end
  local ok, v = pcall(M.decode, s, path)
  if not ok then error(v, 2) end
  return v
end

--- Decodes the bytes of a checkpoint file (`name` is used in messages).
function M.decode(s, name)
  if #s < 24 or s:sub(1, 8) ~= MAGIC then
    error(("rp.load: %s is not a realprune checkpoint (no RPCK magic)"):format(name), 0)
  end
  local version, n = string.unpack("<I4I8", s, 9)
  if version ~= M.VERSION then
    error(("rp.load: %s has format version %d; this realprune reads version %d"):format(name,
      version, M.VERSION), 0)
  end
  if #s ~= 20 + n + 4 then
    error(("rp.load: %s is truncated or has trailing bytes (%d bytes, %d expected)"):format(
      name, #s, 24 + n), 0)
  end
  local payload = s:sub(21, 20 + n)
  if core.crc32(payload) ~= string.unpack("<I4", s, 21 + n) then
    error(("rp.load: %s is corrupt (checksum mismatch)"):format(name), 0)
  end
  return decoder(payload, name)()
end

return M
