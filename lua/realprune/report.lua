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
  if type(rows) ~= "table" then error("rp.report.table: an array of rows expected", 2) end
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
    error(("rp.report.table: format must be markdown, csv or latex, got %s"):format(
      tostring(fmt)), 2)
  end
  return table.concat(out, "\n")
end

-- ----------------------------------------------------------------- plots --

local function gp_quote(s) return '"' .. tostring(s):gsub('["\\]', "\\%0") .. '"' end

-- Writes base.gp (the settings, then the plot command for PNG and SVG) and
-- runs gnuplot when it is installed. Returns the paths written.
local function render(base, settings, plot)
  local name = base:match("([^/]+)$")
  local gp = {"# gnuplot script written by realprune; run it in this folder: gnuplot " .. name
    .. ".gp",
    "set datafile separator ','"}
  for _, line in ipairs(settings) do if line ~= "" then gp[#gp + 1] = line end end
  for _, line in ipairs{
    "set terminal pngcairo size 900,560 noenhanced font 'sans,11'",
    "set output " .. gp_quote(name .. ".png"),
    plot,
    "set terminal svg size 900,560 noenhanced font 'sans,11'",
    "set output " .. gp_quote(name .. ".svg"),
    "replot",
  } do gp[#gp + 1] = line end
  local f = assert(io.open(base .. ".gp", "w"))
  f:write(table.concat(gp, "\n"), "\n")
  f:close()
  local written = {base .. ".csv", base .. ".gp"}
  local dir = base:match("^(.*)/[^/]*$") or "."
  local ok = os.execute(("cd '%s' && gnuplot '%s.gp' 2>/dev/null"):format(dir:gsub("'", "'\\''"),
    name:gsub("'", "'\\''")))
  if ok then
    written[#written + 1] = base .. ".png"
    written[#written + 1] = base .. ".svg"
  end
  return written
end

--- Writes a line plot: the data as `base.csv`, a gnuplot script `base.gp`, and
-- (when gnuplot is installed) `base.png` and `base.svg`.
-- `o`: {rows=, x=, y=, series= (column whose values name the lines, or nil),
-- title=, xlabel=, ylabel=, logx=, err= (a column of error-bar half-widths,
-- such as a std over seeds: drawn as error bars)}. Returns the paths written.
function report.plot(base, o)
  if type(base) ~= "string" or type(o) ~= "table" or type(o.rows) ~= "table" then
    error("rp.report.plot: plot(path_without_extension, {rows=, x=, y=, ...}) expected", 2)
  end
  local series, names = {}, {}
  for _, r in ipairs(o.rows) do
    -- the CSV's first field: no commas (the data file is comma-separated)
    local key = (o.series and tostring(r[o.series]) or (o.ylabel or o.y)):gsub(",", ";")
    if not series[key] then series[key] = {}; names[#names + 1] = key end
    if type(r[o.x]) == "number" and type(r[o.y]) == "number" then
      table.insert(series[key], {r[o.x], r[o.y], o.err and tonumber(r[o.err]) or 0})
    end
  end
  -- one CSV with a block per series (gnuplot's index), and a header comment
  local csv = {("# %s,%s,%s%s"):format(o.series or "series", o.x, o.y,
    o.err and ("," .. o.err) or "")}
  for i, key in ipairs(names) do
    if i > 1 then csv[#csv + 1] = "\n\n" end -- two blank lines: gnuplot's next index
    table.sort(series[key], function(a, b) return a[1] < b[1] end)
    for _, p in ipairs(series[key]) do
      csv[#csv + 1] = ("%s,%.10g,%.10g"):format(key, p[1], p[2]) ..
        (o.err and (",%.10g"):format(p[3]) or "")
    end
  end
  local f = assert(io.open(base .. ".csv", "w"))
  f:write(table.concat(csv, "\n"), "\n")
  f:close()
  local name = base:match("([^/]+)$")
  local plots = {}
  for i, key in ipairs(names) do
    plots[#plots + 1] = ("%s index %d using %s title %s"):format(gp_quote(name .. ".csv"), i - 1,
      o.err and "2:3:4 with yerrorlines" or "2:3 with linespoints", gp_quote(key))
  end
  return render(base, {
    "set key outside right top",
    "set grid",
    "set offsets graph 0.02, graph 0.02, graph 0.05, graph 0.05",
    "set title " .. gp_quote(o.title or ""),
    "set xlabel " .. gp_quote(o.xlabel or o.x),
    "set ylabel " .. gp_quote(o.ylabel or o.y),
    o.logx and "set logscale x" or "",
  }, "plot " .. table.concat(plots, ", \\\n     "))
end

--- Writes a stacked bar chart, one bar per row: `base.csv`, `base.gp` and
-- (with gnuplot) `base.png` and `base.svg`. `o`: {rows=, label= (the column
-- naming each bar), stack= {columns stacked, bottom first}, title=, ylabel=}.
--
--     rp.report.bars("out/energy", {rows = rows, label = "method",
--       stack = {"xbar", "adc", "dac", "buffer", "write", "reprogram"}, ylabel = "J per image"})
function report.bars(base, o)
  if type(base) ~= "string" or type(o) ~= "table" or type(o.rows) ~= "table" or
      type(o.label) ~= "string" or type(o.stack) ~= "table" or #o.stack == 0 then
    error("rp.report.bars: bars(path_without_extension, {rows=, label=, stack={...}}) expected", 2)
  end
  local csv = {o.label .. "," .. table.concat(o.stack, ",")}
  for _, r in ipairs(o.rows) do
    local line = {(tostring(r[o.label]):gsub(",", ";"))}
    for _, k in ipairs(o.stack) do line[#line + 1] = ("%.10g"):format(tonumber(r[k]) or 0) end
    csv[#csv + 1] = table.concat(line, ",")
  end
  local f = assert(io.open(base .. ".csv", "w"))
  f:write(table.concat(csv, "\n"), "\n")
  f:close()
  local name = base:match("([^/]+)$")
  local cols = {}
  for i, k in ipairs(o.stack) do
    cols[i] = ("%s using %d%s title %s"):format(i == 1 and gp_quote(name .. ".csv") or "''",
      i + 1, i == 1 and ":xtic(1)" or "", gp_quote(k))
  end
  return render(base, {
    "set key outside right top",
    "set grid ytics",
    "set style data histograms",
    "set style histogram rowstacked",
    "set style fill solid 0.85 border -1",
    "set boxwidth 0.6",
    "set yrange [0:*]",
    "set datafile columnheaders",
    "set title " .. gp_quote(o.title or ""),
    "set ylabel " .. gp_quote(o.ylabel or ""),
  }, "plot " .. table.concat(cols, ", \\\n     "))
end

return report
