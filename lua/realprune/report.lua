--- Tables of result rows as Markdown, CSV or LaTeX (booktabs).
--
--     print(rp.report.table(rows))                              -- Markdown
--     print(rp.report.table(rows, {format = "csv"}))
--     print(rp.report.table(rows, {format = "latex", columns = {"method", "sparsity"}}))
--
-- `rows` is an array of tables; the columns are `opts.columns` or the keys of
-- the first row in sorted order (with "method", "round", "layer" first when
-- present). Numbers are printed with `opts.digits` significant digits (4).
-- @module realprune.report

local report = {}

local FIRST = {method = 1, round = 2, layer = 3, name = 4}

local function columns_of(rows)
  local cols = {}
  for k, v in pairs(rows[1] or {}) do
    if type(v) ~= "table" and type(v) ~= "function" then cols[#cols + 1] = k end
  end
  table.sort(cols, function(a, b)
    local fa, fb = FIRST[a] or 99, FIRST[b] or 99
    if fa ~= fb then return fa < fb end
    return tostring(a) < tostring(b)
  end)
  return cols
end

local function cell(v, digits)
  if v == nil then return "" end
  if math.type(v) == "float" then
    if v ~= v then return "nan" end
    return (("%." .. digits .. "g"):format(v))
  end
  return tostring(v)
end

local function csv_quote(s)
  if s:find('[,"\n]') then return '"' .. s:gsub('"', '""') .. '"' end
  return s
end

local function latex_escape(s)
  return (s:gsub("([%%&_#%$])", "\\%1"))
end

--- Formats rows as a table (see the module description).
function report.table(rows, opts)
  opts = opts or {}
  if type(rows) ~= "table" then error("report.table: an array of rows expected", 2) end
  local fmt = opts.format or "markdown"
  local cols = opts.columns or columns_of(rows)
  local digits = opts.digits or 4
  local out = {}
  if fmt == "csv" then
    local head = {}
    for i, c in ipairs(cols) do head[i] = csv_quote(tostring(c)) end
    out[1] = table.concat(head, ",")
    for _, r in ipairs(rows) do
      local line = {}
      for i, c in ipairs(cols) do line[i] = csv_quote(cell(r[c], 10)) end
      out[#out + 1] = table.concat(line, ",")
    end
  elseif fmt == "markdown" then
    local head, sep = {}, {}
    for i, c in ipairs(cols) do head[i], sep[i] = tostring(c), "---" end
    out[1] = "| " .. table.concat(head, " | ") .. " |"
    out[2] = "|" .. table.concat(sep, "|") .. "|"
    for _, r in ipairs(rows) do
      local line = {}
      for i, c in ipairs(cols) do line[i] = cell(r[c], digits) end
      out[#out + 1] = "| " .. table.concat(line, " | ") .. " |"
    end
  elseif fmt == "latex" then
    local head = {}
    for i, c in ipairs(cols) do head[i] = latex_escape(tostring(c)) end
    out[1] = "\\begin{tabular}{" .. ("l"):rep(#cols) .. "}"
    out[2] = "\\toprule"
    out[3] = table.concat(head, " & ") .. " \\\\"
    out[4] = "\\midrule"
    for _, r in ipairs(rows) do
      local line = {}
      for i, c in ipairs(cols) do line[i] = latex_escape(cell(r[c], digits)) end
      out[#out + 1] = table.concat(line, " & ") .. " \\\\"
    end
    out[#out + 1] = "\\bottomrule"
    out[#out + 1] = "\\end{tabular}"
  else
    error(("report.table: format must be markdown, csv or latex, got %s"):format(tostring(fmt)), 2)
  end
  return table.concat(out, "\n")
end

return report
