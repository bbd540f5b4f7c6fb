--- JSON encoding of plain Lua data, deterministic: object keys sorted,
-- integers as integers, floats with 10 significant digits, non-finite
-- numbers as null; tables with string keys become objects (other keys and
-- function values are skipped), sequences become arrays.
--
--     rp.json.encode{method = "realprune", accuracy = 0.9, rounds = {1, 2}}
--     --> {"accuracy":0.9,"method":"realprune","rounds":[1,2]}
--
-- realprune writes JSON (config.json, results.json, mappings) and never reads
-- it back, so a small encoder serves: Debian's lua-cjson does not sort keys
-- (files would differ from run to run) and lua-dkjson would be one more
-- package for the same few lines.
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

return json
