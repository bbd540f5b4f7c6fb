--- The results of a recipe run: the files every run writes into its output
-- folder, and the summaries over seeds.
--
--     results.write(out, {recipe = r, options = opts, seeds = {1, 2}, plots = 0}, rows)
--
-- writes `results.csv` (the rows, a `method` column first when they have one),
-- `results.json`, `report.md` (the recipe's description, options, the rows,
-- mean ± std over seeds when there are several, and the recipe's own report
-- text) and, when the recipe made no plot, a default plot (`plot.*`).
-- @module realprune.results
local report = require "realprune.report"
local json = require "realprune.json"
local core = require "realprune.core"

local M = {}

local function write(path, text)
  local ok, err = core.write_file_atomic(path, text)
  if not ok then error(err, 0) end
end

--- A plot for runs whose recipe made none: accuracy against sparsity when the
-- rows have both, else the first two numeric columns.
function M.default_plot(out, rows)
  local r1 = rows[1]
  if not r1 then return end
  local x = r1.sparsity and "sparsity" or r1.pruned and "pruned" or r1.epoch and "epoch" or nil
  local y = r1.accuracy and "accuracy" or nil
  if not (x and y) then
    local nums = {}
    for k, v in pairs(r1) do if type(v) == "number" and k ~= "seed" then nums[#nums + 1] = k end end
    table.sort(nums)
    x, y = nums[1], nums[2]
  end
  if x and y then
    report.plot(out .. "/plot", {rows = rows, x = x, y = y, series = r1.method and "method" or nil,
      title = ("%s against %s"):format(y, x)})
  end
end

--- The columns of `rows` (every key of any row): method, round and seed
-- first, then the rest by name.
function M.columns(rows)
  local seen, cols = {}, {}
  for _, r in ipairs(rows) do
    for k, v in pairs(r) do
      if not seen[k] and type(v) ~= "table" then seen[k] = true; cols[#cols + 1] = k end
    end
  end
  table.sort(cols, function(a, b)
    local order = {method = 1, seed = 3, round = 2}
    local oa, ob = order[a] or 9, order[b] or 9
    if oa ~= ob then return oa < ob end
    return a < b
  end)
  return cols
end

-- Mean and sample std of numeric column `c` over rows `g`, and their count.
local function mean_std(g, c)
  local s, n = 0, 0
  for _, r in ipairs(g) do
    if type(r[c]) == "number" then s = s + r[c]; n = n + 1 end
  end
  if n == 0 then return nil end
  local mean, ss = s / n, 0
  for _, r in ipairs(g) do
    if type(r[c]) == "number" then ss = ss + (r[c] - mean) ^ 2 end
  end
  return mean, n > 1 and math.sqrt(ss / (n - 1)) or 0, n
end

--- "0.8412 ± 0.0031": a mean and a std as the reports print them.
function M.mean_std_text(mean, std) return ("%.4g ± %.2g"):format(mean, std) end

--- Groups `rows` by the values of `keys` and returns, per group in
-- first-seen order, {keys = {k = value}, n = distinct seeds, rows = {...},
-- mean = {col = v}, std = {col = sample std}} over the numeric columns
-- `metrics`.
function M.summarize(rows, keys, metrics)
  local groups, order = {}, {}
  for _, r in ipairs(rows) do
    local parts = {}
    for i, k in ipairs(keys) do parts[i] = tostring(r[k]) end
    local id = table.concat(parts, "\0")
    if not groups[id] then groups[id] = {}; order[#order + 1] = id end
    table.insert(groups[id], r)
  end
  local out = {}
  for _, id in ipairs(order) do
    local g = groups[id]
    local s = {keys = {}, n = 0, mean = {}, std = {}, rows = g}
    for _, k in ipairs(keys) do s.keys[k] = g[1][k] end
    local seeds = {}
    for _, r in ipairs(g) do
      if r.seed == nil then s.n = s.n + 1
      elseif not seeds[r.seed] then seeds[r.seed] = true; s.n = s.n + 1 end
    end
    for _, c in ipairs(metrics) do s.mean[c], s.std[c] = mean_std(g, c) end
    out[#out + 1] = s
  end
  return out
end

--- Mean and sample std over seeds of every numeric column of `rows`, one row
-- per method (and round), in the order they first appear: "0.8412 ± 0.0031".
function M.aggregate(rows, cols)
  local metrics = {}
  for _, c in ipairs(cols) do
    if c ~= "seed" and c ~= "round" then metrics[#metrics + 1] = c end
  end
  local out = {}
  for _, s in ipairs(M.summarize(rows, {"method", "round"}, metrics)) do
    local row = {method = s.keys.method, round = s.keys.round, seeds = #s.rows}
    for _, c in ipairs(metrics) do
      if type(s.rows[1][c]) == "number" then row[c] = M.mean_std_text(s.mean[c], s.std[c]) end
    end
    out[#out + 1] = row
  end
  return out
end

--- Writes the result files of a run into `out`. `info`: recipe (the recipe
-- table), options, seeds (the list run), plots (how many plots the recipe
-- made; 0 adds the default plot).
function M.write(out, info, rows)
  local r, opts, seeds = info.recipe, info.options, info.seeds
  if (info.plots or 0) == 0 then M.default_plot(out, rows) end
  local cols = M.columns(rows)
  write(out .. "/results.csv", report.table(rows, {format = "csv", columns = cols}) .. "\n")
  write(out .. "/results.json", json.encode(rows) .. "\n")
  local md = {("# %s\n"):format(r.name), (r.description or "") .. "\n",
    ("Options: `%s`\n"):format(json.encode(opts)), "## Results\n",
    report.table(rows, {columns = cols}), ""}
  if #seeds > 1 then
    md[#md + 1] = "\n## Mean ± std over seeds " .. table.concat(seeds, ", ") .. "\n"
    md[#md + 1] = report.table(M.aggregate(rows, cols))
  end
  if r.report then md[#md + 1] = "\n" .. tostring(r.report(rows, opts, out) or "") end
  write(out .. "/report.md", table.concat(md, "\n") .. "\n")
end

return M
