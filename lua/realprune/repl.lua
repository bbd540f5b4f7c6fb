--- How the REPL shows values: tensors pretty-printed, tables one level deep.
--
--     local repl = require "realprune.repl"
--     print(repl.format({1, 2, name = "x"}))   --> {1, 2, name = "x"}
-- @module realprune.repl

local M = {}

--- Entries of a table shown before "..." is printed.
M.max_entries = 20

local function scalar(v)
  if type(v) == "string" then
    return ("%q"):format(v)
  end
  if math.type(v) == "float" and v == math.floor(v) and math.abs(v) < 1e15 then
    return ("%.1f"):format(v)
  end
  return tostring(v)
end

local function is_identifier(k)
  return type(k) == "string" and k:match("^[%a_][%w_]*$") ~= nil
end

--- A one-line description of a value: tables are shown one level deep,
-- other values with tostring (which pretty-prints tensors).
-- @param v any value
-- @treturn string
function M.format(v)
  if type(v) ~= "table" or getmetatable(v) and getmetatable(v).__tostring then
    return type(v) == "string" and scalar(v) or
      (type(v) == "number" and scalar(v) or tostring(v))
  end
  local parts, n, shown = {}, #v, 0
  for i = 1, n do
    shown = shown + 1
    if shown > M.max_entries then break end
    local x = v[i]
    parts[#parts + 1] = type(x) == "table" and "{...}" or scalar(x)
  end
  local keys = {}
  for k in pairs(v) do
    if not (math.type(k) == "integer" and k >= 1 and k <= n) then
      keys[#keys + 1] = k
    end
  end
  table.sort(keys, function(a, b)
    if type(a) == type(b) and (type(a) == "string" or type(a) == "number") then
      return a < b
    end
    return type(a) < type(b)
  end)
  for _, k in ipairs(keys) do
    shown = shown + 1
    if shown > M.max_entries then break end
    local x = v[k]
    local key = is_identifier(k) and k or ("[" .. scalar(k) .. "]")
    parts[#parts + 1] = key .. " = " .. (type(x) == "table" and "{...}" or
      (type(x) == "userdata" and tostring(x):match("^[^\n]*") or scalar(x)))
  end
  if shown > M.max_entries then
    parts[#parts + 1] = ("... (%d entries)"):format(n + #keys)
  end
  return "{" .. table.concat(parts, ", ") .. "}"
end

--- Prints each value on its own line (what the REPL does with results).
function M.show(...)
  for i = 1, select("#", ...) do
    print(M.format((select(i, ...))))
  end
end

return M
