--- JSON encoding of plain Lua data, deterministic: object keys sorted,
-- integers as integers, floats with 10 significant digits, non-finite
-- numbers as null; tables with string keys become objects (other keys and
-- function values are skipped), sequences become arrays.
--
--     rp.json.encode{method = "realprune", accuracy = 0.9, rounds = {1, 2}}
--     --> {"accuracy":0.9,"method":"realprune","rounds":[1,2]}
--
-- json.decode reads what realprune writes back (a sweep reads its runs'
-- results.json and status.json): objects become tables with string keys,
-- arrays sequences, null nil; integers stay integers. Debian's lua-cjson does
-- not sort keys (files would differ from run to run) and lua-dkjson would be
-- one more package for the same few lines.
-- @module realprune.json

local json = {}

local ESCAPES = {['"'] = '\\"', ["\\"] = "\\\\", ["\n"] = "\\n", ["\t"] = "\\t", ["\r"] = "\\r"}

local function string_of(s)
  return '"' .. s:gsub('[%c"\\]', function(c)
    return ESCAPES[c] or ("\\u%04x"):format(c:byte())
  end) .. '"'
end

local function encode(v, out)
  local t = type(v)
  if t == "table" then
    if #v > 0 or next(v) == nil then
      out[#out + 1] = "["
      for i, x in ipairs(v) do
        if i > 1 then out[#out + 1] = "," end
        encode(x, out)
      end
      out[#out + 1] = "]"
    else
      local keys = {}
      for k, x in pairs(v) do
        if type(k) == "string" and type(x) ~= "function" then keys[#keys + 1] = k end
      end
      table.sort(keys)
      out[#out + 1] = "{"
      for i, k in ipairs(keys) do
        if i > 1 then out[#out + 1] = "," end
        out[#out + 1] = string_of(k) .. ":"
        encode(v[k], out)
      end
      out[#out + 1] = "}"
    end
  elseif t == "string" then
    out[#out + 1] = string_of(v)
  elseif t == "number" then
    if v ~= v or v == math.huge or v == -math.huge then out[#out + 1] = "null"
    elseif math.type(v) == "integer" then out[#out + 1] = tostring(v)
    else out[#out + 1] = ("%.10g"):format(v) end
  elseif t == "boolean" then
    out[#out + 1] = tostring(v)
  else
    out[#out + 1] = "null"
  end
end

--- The JSON text of `v`.
function json.encode(v)
  local out = {}
  encode(v, out)
  return table.concat(out)
end

local UNESCAPES = {['"'] = '"', ["\\"] = "\\", ["/"] = "/", b = "\b", f = "\f", n = "\n",
  r = "\r", t = "\t"}

local decode_value

local function decode_error(text, pos, what)
  local line = select(2, text:sub(1, pos):gsub("\n", "")) + 1
  error(("rp.json.decode: %s at line %d (byte %d)"):format(what, line, pos), 0)
end

local function skip(text, pos)
  return text:find("[^ \t\r\n]", pos) or #text + 1
end

local function decode_string(text, pos)
  local out, i = {}, pos + 1
  while true do
    local j = text:find('["\\]', i)
    if not j then decode_error(text, pos, "unterminated string") end
    out[#out + 1] = text:sub(i, j - 1)
    if text:sub(j, j) == '"' then return table.concat(out), j + 1 end
    local c = text:sub(j + 1, j + 1)
    if c == "u" then
      local hex = text:match("^%x%x%x%x", j + 2)
      if not hex then decode_error(text, j, "bad \\u escape") end
      out[#out + 1] = utf8.char(tonumber(hex, 16))
      i = j + 6
    else
      local u = UNESCAPES[c]
      if not u then decode_error(text, j, "bad escape") end
      out[#out + 1] = u
      i = j + 2
    end
  end
end

function decode_value(text, pos)
  pos = skip(text, pos)
  local c = text:sub(pos, pos)
  if c == "{" then
    local obj = {}
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "}" then return obj, pos + 1 end
    while true do
      if text:sub(pos, pos) ~= '"' then decode_error(text, pos, "object key expected") end
      local key
      key, pos = decode_string(text, pos)
      pos = skip(text, pos)
      if text:sub(pos, pos) ~= ":" then decode_error(text, pos, "':' expected") end
      obj[key], pos = decode_value(text, pos + 1)
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "}" then return obj, pos + 1 end
      if d ~= "," then decode_error(text, pos, "',' or '}' expected") end
      pos = skip(text, pos + 1)
    end
  elseif c == "[" then
    local arr, n = {}, 0
    pos = skip(text, pos + 1)
    if text:sub(pos, pos) == "]" then return arr, pos + 1 end
    while true do
      n = n + 1
      arr[n], pos = decode_value(text, pos)
      pos = skip(text, pos)
      local d = text:sub(pos, pos)
      if d == "]" then return arr, pos + 1 end
      if d ~= "," then decode_error(text, pos, "',' or ']' expected") end
      pos = pos + 1
    end
  elseif c == '"' then
    return decode_string(text, pos)
  else
    local num = text:match("^-?%d+%.?%d*[eE]?[-+]?%d*", pos)
    if num and #num > 0 then
      local v = num:find("[.eE]") and tonumber(num) or math.tointeger(tonumber(num))
      if not v then decode_error(text, pos, "bad number") end
      return v, pos + #num
    end
    if text:sub(pos, pos + 3) == "true" then return true, pos + 4 end
    if text:sub(pos, pos + 4) == "false" then return false, pos + 5 end
    if text:sub(pos, pos + 3) == "null" then return nil, pos + 4 end
    decode_error(text, pos, "value expected")
  end
end

--- The Lua value of JSON `text` (an error names the line and byte of a
-- problem).
function json.decode(text)
  if type(text) ~= "string" then error("rp.json.decode: a string expected", 2) end
  local v, pos = decode_value(text, 1)
  pos = skip(text, pos)
  if pos <= #text then decode_error(text, pos, "text after the value") end
  return v
end

return json
