--- The names of the core's enumerations (realprune/names.h), for checking
-- options and for error messages that list the valid names. The lists
-- themselves live once, in the core:
--
--     local names = require "realprune.names"
--     names.has("granularity", "column")   --> true
--     names.plain("score")                 --> "l1, l2, random"
--     names.quoted("encoding")             --> '"offset" or "differential"'
-- @module realprune.names
local core = require "realprune.core"

local M = {}

--- The lists by kind: conv2d_algorithm, granularity, score, scope, encoding.
M.lists = core.names

local function list(kind)
  return M.lists[kind] or error(("realprune.names: no names of kind %s"):format(tostring(kind)), 3)
end

--- Whether `name` is one of the names of `kind`.
function M.has(kind, name)
  for _, n in ipairs(list(kind)) do if n == name then return true end end
  return false
end

--- The names of `kind` separated by commas: "l1, l2, random".
function M.plain(kind)
  return table.concat(list(kind), ", ")
end

--- The names of `kind` quoted, the last after "or": '"layer" or "global"'.
function M.quoted(kind)
  local l, q = list(kind), {}
  for i, n in ipairs(l) do q[i] = ("%q"):format(n) end
  if #q < 2 then return q[1] or "" end
  return table.concat(q, ", ", 1, #q - 1) .. " or " .. q[#q]
end

return M
