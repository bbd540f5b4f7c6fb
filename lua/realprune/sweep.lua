--- Sweeps: one recipe over a grid of options times seeds, on this machine or
-- as one Slurm job array (`realprune sweep`, docs/design.md "Sweeps").
--
--     realprune sweep recipes/quickstart.lua
--         --grid "rate=0.3,0.45 strategies=[realprune,cgp],[lth]" --seeds 1,2,3
--         --jobs 2 --out sweeps/qs --epochs 1
--     realprune sweep recipes/quickstart.lua ... --backend slurm --slurm "--partition=cpu"
--     realprune sweep --status sweeps/qs
--
-- Every run is a normal recipe run in `DIR/runs/<hash>/`, where the hash is
-- that of the run's identity: the recipe's name, every option after
-- defaults, the seed and --quick (never the thread count). A run is carried
-- out by a task, `realprune sweep --task DIR LIST INDEX` (LIST: a plan file
-- of `hash<TAB>JSON argv` lines), which locks the run's folder (flock: the
-- lock dies with its process), skips a run whose status.json says done,
-- else runs the recipe with --resume and writes status.json (done or
-- failed, the seconds, threads and host). The local backend keeps `--jobs`
-- tasks running as child processes; the Slurm backend submits one job array
-- whose tasks are the same command. Afterwards the sweep aggregates what is
-- done into DIR/results.csv and DIR/report.md.
-- @module realprune.sweep

local core = require "realprune.core"
local json = require "realprune.json"
local recipe = require "realprune.recipe"
local report = require "realprune.report"
local results = require "realprune.results"

local M = {}

local NAME = "realprune sweep"

--- Exit status of a task whose run another process holds (never used: tasks
-- wait for the lock) and of a sweep that finished with failed or unfinished
-- runs.
M.INCOMPLETE = 3

local function fail(fmt, ...) error(NAME .. ": " .. fmt:format(...), 0) end

local function read(path) return (core.read_file(path)) end

local function write(path, text)
  local ok, err = core.write_file_atomic(path, text)
  if not ok then fail("%s", err) end
end

local function mkdir(path)
  local ok, err = core.mkdir(path)
  if not ok then fail("%s", err) end
end

local function read_json(path)
  local text = read(path)
  if not text then return nil end
  local ok, v = pcall(json.decode, text)
  return ok and v or nil
end

-- ------------------------------------------------------------ parsing --

-- Splits `text` at `sep` characters outside brackets; returns the pieces.
local function split_outside_brackets(text, sep_pattern, what)
  local parts, depth, cur = {}, 0, {}
  for ch in text:gmatch(".") do
    if ch == "[" then depth = depth + 1 end
    if ch == "]" then
      depth = depth - 1
      if depth < 0 then fail("%s: a ']' without its '[' in %q", what, text) end
    end
    if depth == 0 and ch:match(sep_pattern) then
      parts[#parts + 1] = table.concat(cur)
      cur = {}
    else
      cur[#cur + 1] = ch
    end
  end
  if depth ~= 0 then fail("%s: a '[' without its ']' in %q", what, text) end
  parts[#parts + 1] = table.concat(cur)
  return parts
end

--- Parses a --grid text, `"key=v1,v2 key2=a,b"`, into an ordered list of
-- {key =, values = {...}}. A value holding commas is written in brackets
-- (`strategies=[realprune,cgp],[lth]`). Empty values and keys given twice
-- are errors.
function M.parse_grid(text)
  local grid, seen = {}, {}
  for _, item in ipairs(split_outside_brackets(text, "%s", "--grid")) do
    if item ~= "" then
      local key, list = item:match("^([%w_%-]+)=(.*)$")
      if not key then fail("--grid: %q is not key=value1,value2,...", item) end
      key = key:gsub("-", "_")
      if seen[key] then fail("--grid: key %s given twice", key) end
      seen[key] = true
      local values, vseen = {}, {}
      for _, v in ipairs(split_outside_brackets(list, ",", "--grid " .. key)) do
        local inner = v:match("^%[(.*)%]$")
        v = inner or v
        if v == "" then fail("--grid: key %s has an empty value (in %q)", key, item) end
        if vseen[v] then fail("--grid: key %s lists %q twice", key, v) end
        vseen[v] = true
        values[#values + 1] = v
      end
      grid[#grid + 1] = {key = key, values = values}
    end
  end
  if #grid == 0 and text:match("%S") == nil then fail("--grid: empty (give key=v1,v2 ...)") end
  return grid
end

--- Parses `--seeds 1,2,3` into a list of integers (each once).
function M.parse_seeds(text)
  local seeds, seen = {}, {}
  for s in (text .. ","):gmatch("([^,]*),") do
    local v = math.tointeger(tonumber(s))
    if not v then
      fail("--seeds expects integers separated by commas (1,2,3), got %q", text)
    end
    if seen[v] then fail("--seeds lists %d twice", v) end
    seen[v] = true
    seeds[#seeds + 1] = v
  end
  return seeds
end

local SWEEP_VALUE = {grid = true, seeds = true, jobs = true, backend = true, out = true,
  slurm = true, status = true}
local SWEEP_FLAG = {dry_run = true}
local NOT_PASSED = {seed = "--seed is the sweep's: give --seeds 1,2,3",
  resume = "a sweep always resumes its runs; run the same command again to continue it",
  help = "see realprune sweep --help"}

--- Parses the sweep's command line (after `sweep`): returns {recipe =,
-- grid =, seeds =, jobs =, backend =, out =, slurm =, dry_run =, status =,
-- args = the options passed through to the recipe}.
function M.parse_args(args)
  local sw = {args = {}}
  local i = 1
  while i <= #args do
    local a = args[i]
    local key, inline = a:match("^%-%-([%w_%-]+)=(.*)$")
    key = key or a:match("^%-%-([%w_%-]+)$")
    local k = key and key:gsub("-", "_")
    if k and SWEEP_VALUE[k] then
      local v = inline
      if not v then
        i = i + 1
        v = args[i]
        if v == nil then fail("--%s needs a value", key) end
      end
      if sw[k] ~= nil then fail("--%s given twice", key) end
      sw[k] = v
    elseif k and SWEEP_FLAG[k] then
      sw[k] = true
    elseif k and NOT_PASSED[k] then
      fail("--%s: %s", key, NOT_PASSED[k])
    elseif k and not sw.recipe then
      fail("the recipe comes first, then its options (got %s before it)", a)
    elseif k then
      sw.args[#sw.args + 1] = a
      if not inline and args[i + 1] and not args[i + 1]:match("^%-%-") then
        i = i + 1
        sw.args[#sw.args + 1] = args[i]
      end
    elseif not sw.recipe then
      sw.recipe = a
    else
      fail("unexpected argument %q (one recipe, then --options)", a)
    end
    i = i + 1
  end
  if sw.status then return sw end
  if not sw.recipe then fail("a recipe expected (realprune sweep recipes/NAME.lua --grid ...)") end
  local jobs = math.tointeger(tonumber(sw.jobs or "1"))
  if not jobs or jobs < 1 then fail("--jobs expects a positive integer, got %q", sw.jobs) end
  sw.jobs_given = sw.jobs ~= nil
  sw.jobs = jobs
  sw.backend = sw.backend or "local"
  if sw.backend ~= "local" and sw.backend ~= "slurm" then
    fail("--backend expects local or slurm, got %q", sw.backend)
  end
  if sw.slurm and sw.backend ~= "slurm" then fail("--slurm needs --backend slurm") end
  sw.grid = sw.grid and M.parse_grid(sw.grid) or {}
  sw.seeds = sw.seeds and M.parse_seeds(sw.seeds) or {1}
  return sw
end

-- ----------------------------------------------------------- planning --

--- The 64-bit FNV-1a hash of `s` (an integer).
function M.fnv1a64(s)
  local h = -3750763034362895579 -- the offset basis 14695981039346656037, as a signed integer
  local prime = 1099511628211
  local byte = string.byte
  for i = 1, #s do h = (h ~ byte(s, i)) * prime end
  return h
end

--- The hash naming a run's folder: FNV-1a 64 of `s` finished with
-- MurmurHash3's fmix64 (so that texts differing in their last bytes differ in
-- every digit), as 16 hex digits.
function M.hash(s)
  local h = M.fnv1a64(s)
  h = (h ~ (h >> 33)) * 0xff51afd7ed558ccd
  h = (h ~ (h >> 33)) * 0xc4ceb9fe1a85ec53
  h = h ~ (h >> 33)
  return ("%016x"):format(h)
end

local function valid_keys(r)
  local names = {}
  for k in pairs(r.defaults) do names[#names + 1] = k end
  table.sort(names)
  return table.concat(names, ", ")
end

-- The recipe option keys given in a passed-through argument list.
local function passed_keys(args)
  local keys = {}
  for _, a in ipairs(args) do
    local key = a:match("^%-%-([%w_%-]+)")
    if key then keys[key:gsub("-", "_")] = true end
  end
  return keys
end

-- An option value as the identity writes it: floats with all 17 digits (the
-- JSON files' 10 would merge 0.1 and 0.1000000000001 into one run).
local function exact(v)
  if math.type(v) == "float" then return ("%.17g"):format(v) end
  return v
end

--- The identity of a run: the text its folder's hash is taken of.
function M.identity(r, opts, seed, quick)
  local o = {}
  for k, v in pairs(opts) do if k ~= "threads" then o[k] = exact(v) end end
  return json.encode{recipe = r.name, options = o, seed = seed, quick = quick or false}
end

--- Plans the sweep `sw` (from parse_args): loads the recipe, checks the grid
-- and the passed options against it, and returns {recipe =, runs = {...}}
-- with each run {hash =, seed =, point = {value per grid key}, args =
-- {recipe argv}, options = merged options}. Every check happens here,
-- before any run starts.
function M.plan(sw)
  local path = sw.recipe
  local r = recipe.load(recipe.find(path))
  local passed = passed_keys(sw.args)
  local ok, err = pcall(recipe.parse, r, sw.args)
  if not ok then fail("%s: %s", r.name, err) end
  for _, g in ipairs(sw.grid) do
    if r.defaults[g.key] == nil then
      fail("--grid: %s is not an option of recipe %s (valid: %s)", g.key, r.name, valid_keys(r))
    end
    if passed[g.key] then fail("--grid: %s is also given as --%s", g.key, g.key) end
    local by_value = {}
    for _, v in ipairs(g.values) do
      local okv, parsed = pcall(recipe.parse, r, {"--" .. g.key, v})
      if not okv then fail("--grid %s=%s: %s", g.key, v, parsed) end
      local id = tostring(exact(parsed[g.key]))
      if by_value[id] then
        fail("--grid: %s lists %s and %s, which are the same value", g.key, by_value[id], v)
      end
      by_value[id] = v
    end
  end
  local runs, seen = {}, {}
  local quick = passed.quick and select(2, recipe.parse(r, sw.args)).quick or false
  local point, n = {}, #sw.grid
  local function visit(level)
    if level > n then
      for _, seed in ipairs(sw.seeds) do
        local args = {}
        for _, a in ipairs(sw.args) do args[#args + 1] = a end
        for j, g in ipairs(sw.grid) do
          args[#args + 1] = "--" .. g.key
          args[#args + 1] = point[j]
        end
        args[#args + 1] = "--seed"
        args[#args + 1] = tostring(seed)
        local opts = recipe.parse(r, args)
        local hash = M.hash(M.identity(r, opts, seed, quick))
        if not seen[hash] then
          seen[hash] = true
          runs[#runs + 1] = {hash = hash, seed = seed, point = {table.unpack(point, 1, n)},
            args = args, options = opts}
        end
      end
      return
    end
    for _, v in ipairs(sw.grid[level].values) do
      point[level] = v
      visit(level + 1)
    end
  end
  visit(1)
  return {recipe = r, path = core.realpath(r.path) or r.path, runs = runs}
end

-- ------------------------------------------------------------- a run --

local function run_dir(dir, hash) return dir .. "/runs/" .. hash end

--- The state of a run: "done", "failed", "running" (its lock is held) or
-- "pending" (never started, or interrupted), and its status.json.
function M.state(dir, hash)
  local rd = run_dir(dir, hash)
  local st = read_json(rd .. "/status.json")
  if core.lock_held(rd .. "/.lock") then return "running", st end
  if st and (st.state == "done" or st.state == "failed") then return st.state, st end
  return "pending", st
end

-- Line `index` of a plan file: the run's hash and its argv (recipe path first).
local function plan_line(list, index)
  local f = io.open(list)
  if not f then fail("--task: cannot read the plan file %s", list) end
  local n = 0
  for line in f:lines() do
    n = n + 1
    if n == index then
      f:close()
      local hash, argv = line:match("^(%x+)\t(.*)$")
      if not hash then fail("--task: line %d of %s is not hash<TAB>argv", index, list) end
      return hash, json.decode(argv)
    end
  end
  f:close()
  fail("--task: %s has %d lines, no line %d", list, n, index)
end

--- Carries out one run (`realprune sweep --task DIR LIST INDEX`): waits for
-- the run's lock, returns at once when it is done, else runs the recipe in
-- DIR/runs/<hash> with --resume and writes status.json. Returns the exit code.
function M.task(dir, list, index)
  local hash, argv = plan_line(list, math.tointeger(tonumber(index)) or
    fail("--task: a line number expected, got %q", tostring(index)))
  local rd = run_dir(dir, hash)
  mkdir(rd)
  local lock, why = core.lock_file(rd .. "/.lock", true)
  if not lock then
    fail("--task: %s (the file system of the sweep's folder must support flock: on Lustre, " ..
      "mount with -o flock)", why)
  end
  local st = read_json(rd .. "/status.json")
  if st and st.state == "done" then lock:unlock(); return 0 end
  -- an earlier attempt's status goes: if this one dies, the run is pending
  os.remove(rd .. "/status.json")
  local threads, host = core.get_threads(), core.hostname()
  local f = io.open(rd .. "/attempts.txt", "a")
  if f then
    f:write(("%s start host=%s pid=%d threads=%d%s\n"):format(os.date("!%Y-%m-%dT%H:%M:%SZ"),
      host, core.getpid(), threads, os.getenv("SLURM_JOB_ID") and
      (" slurm_job=" .. os.getenv("SLURM_JOB_ID")) or ""))
    f:close()
  end
  write(rd .. "/run.json", json.encode{hash = hash, recipe = argv[1],
    args = {table.unpack(argv, 2)}, threads = threads, host = host} .. "\n")
  local t0 = core.clock()
  local args = {table.unpack(argv, 2)}
  args[#args + 1] = "--out"
  args[#args + 1] = rd
  args[#args + 1] = "--resume"
  local ok, err = pcall(function() recipe.run(recipe.load(argv[1]), args) end)
  if not ok and tostring(err):find("interrupted!", 1, true) then
    -- Ctrl-C: not a failure of the run; it stays pending and resumes
    lock:unlock()
    return 130
  end
  local status = {state = ok and "done" or "failed", seconds = core.clock() - t0,
    threads = threads, host = host, finished = os.date("!%Y-%m-%dT%H:%M:%SZ"),
    error = not ok and tostring(err) or nil}
  write(rd .. "/status.json", json.encode(status) .. "\n")
  if not ok then io.stderr:write(NAME, ": run ", hash, " failed: ", tostring(err), "\n") end
  lock:unlock()
  return ok and 0 or 1
end

-- ------------------------------------------------------------ backends --

local function label(sw, run)
  local parts = {}
  for j, g in ipairs(sw.grid) do parts[#parts + 1] = g.key .. "=" .. run.point[j] end
  parts[#parts + 1] = "seed=" .. run.seed
  return table.concat(parts, " ")
end

local function write_plan_file(path, runs, plan)
  local lines = {}
  for i, run in ipairs(runs) do
    local argv = {plan.path}
    for _, a in ipairs(run.args) do argv[#argv + 1] = a end
    lines[i] = run.hash .. "\t" .. json.encode(argv)
  end
  write(path, table.concat(lines, "\n") .. "\n")
end

local function counts(dir, runs)
  local c = {done = 0, failed = 0, running = 0, pending = 0}
  for _, run in ipairs(runs) do
    local s = M.state(dir, run.hash)
    c[s] = c[s] + 1
  end
  return c
end

local function totals_text(c, n)
  return ("%d runs: %d done, %d running, %d failed, %d pending"):format(n, c.done, c.running,
    c.failed, c.pending)
end

-- Runs the pending runs as child tasks, `sw.jobs` at a time.
local function run_local(sw, plan, dir, pending, threads)
  local list = dir .. "/plan.tsv"
  write_plan_file(list, pending, plan)
  local exe = core.exe_path()
  local running, next_run, finished = {}, 1, 0
  local function start()
    local run = pending[next_run]
    local rd = run_dir(dir, run.hash)
    mkdir(rd)
    local pid, err = core.spawn({exe, "sweep", "--task", dir, list, tostring(next_run)},
      {env = {REALPRUNE_THREADS = tostring(threads)}, output = rd .. "/output.txt"})
    if not pid then fail("%s", err) end
    running[pid] = run
    next_run = next_run + 1
  end
  local n_running = 0
  while next_run <= #pending or n_running > 0 do
    while next_run <= #pending and n_running < sw.jobs do
      start()
      n_running = n_running + 1
    end
    local pid, code = core.wait_child()
    if not pid then fail("%s", code) end
    local run = running[pid]
    if run then
      running[pid] = nil
      n_running = n_running - 1
      finished = finished + 1
      local rd = run_dir(dir, run.hash)
      local st = read_json(rd .. "/status.json")
      if code ~= 0 and code ~= 130 and not st then
        -- the task itself died (a signal, or an error before its status)
        write(rd .. "/status.json", json.encode{state = "failed", exit = code,
          error = ("the task ended with code %d before writing its status"):format(code)} ..
          "\n")
        st = read_json(rd .. "/status.json")
      end
      print(("[%d/%d] %s  %s  %s%s"):format(finished, #pending,
        st and st.state or "failed", run.hash, label(sw, run),
        st and st.seconds and ("  %.1f s"):format(st.seconds) or
        (" (log " .. rd .. "/output.txt)")))
    end
  end
end

local function shell_quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

-- "1-3,5,7-8": the array indices 1..n as ranges
local function array_spec(n, jobs)
  return ("1-%d%s"):format(n, jobs and ("%" .. jobs) or "")
end

local function next_submission(dir)
  local n = 0
  for _, e in ipairs(core.list_dir(dir .. "/slurm") or {}) do
    local k = math.tointeger(tonumber(e.name:match("^submit%-(%d+)%.sh$") or ""))
    if k and k > n then n = k end
  end
  return n + 1
end

-- The batch script of a submission: the array and its options, then the
-- task command (paths quoted for the shell). The job name and the output
-- files go on sbatch's command line (see sbatch_args), where they can be quoted.
local function batch_script(sw, dir, list, count)
  local exe = core.exe_path()
  return table.concat({
    "#!/bin/sh",
    "# realprune sweep: one task per run; each task resumes its run, so a",
    "# requeued or preempted task continues where it stopped.",
    ("#SBATCH --array=%s"):format(array_spec(count, sw.jobs_given and sw.jobs or nil)),
    "#SBATCH --open-mode=append",
    "#SBATCH --requeue",
    "export REALPRUNE_THREADS=\"${SLURM_CPUS_PER_TASK:-1}\"",
    ("exec %s sweep --task %s %s \"$SLURM_ARRAY_TASK_ID\""):format(shell_quote(exe),
      shell_quote(dir), shell_quote(list)),
  }, "\n") .. "\n"
end

-- The log file of task `index` of job `job` in submission n; with job = "%A"
-- and index = "%a", the pattern sbatch's --output takes ('%' in the folder
-- doubled so that Slurm keeps it).
local function log_path(dir, n, job, index)
  local d = job == "%A" and dir:gsub("%%", "%%%%") or dir
  return ("%s/slurm/%d-%s_%s.out"):format(d, n, job, index)
end

-- sbatch's command line for the script of submission n.
local function sbatch_args(sw, dir, n, script_path)
  local name = ("realprune-%s"):format(sw.name):gsub("[^%w_%-]", "_")
  return ("sbatch --parsable --job-name=%s --output=%s %s %s"):format(name,
    shell_quote(log_path(dir, n, "%A", "%a")), sw.slurm or "", shell_quote(script_path))
end

local function has_command(name)
  return os.execute(("command -v %s >/dev/null 2>&1"):format(name)) == true
end

local function poll_seconds()
  return tonumber(os.getenv("REALPRUNE_SWEEP_POLL") or "") or 5
end

-- Submits the pending runs as one job array, waits for it and returns the
-- log file of each run (by hash).
local function run_slurm(sw, plan, dir, pending)
  if not has_command("sbatch") then
    fail("--backend slurm needs Slurm's sbatch on the PATH, and it is not there; " ..
      "on one machine use --backend local --jobs N")
  end
  mkdir(dir .. "/slurm")
  local n = next_submission(dir)
  local list = ("%s/slurm/submit-%d.tsv"):format(dir, n)
  local script_path = ("%s/slurm/submit-%d.sh"):format(dir, n)
  write_plan_file(list, pending, plan)
  write(script_path, batch_script(sw, dir, list, #pending))
  local errfile = dir .. "/slurm/sbatch.err"
  local cmd = sbatch_args(sw, dir, n, script_path)
  local p = io.popen(cmd .. " 2>" .. shell_quote(errfile))
  local out = p:read("a")
  p:close()
  local job
  for line in out:gmatch("[^\n]+") do job = line:match("^%s*(%d+)") or job end
  if not job then
    fail("sbatch refused the job array (%s): %s", cmd,
      ((out .. (read(errfile) or "")):gsub("%s+$", "")))
  end
  os.remove(errfile)
  print(("submitted %d runs as Slurm job array %s (%s); waiting"):format(#pending, job,
    script_path))
  local last, warned
  while true do
    -- squeue fails for a job that has left the controller's memory ("Invalid
    -- job id"): the array is over; any other failure (a controller timeout)
    -- is retried, never taken for the end
    local q = io.popen(("squeue -h -j %s -o %%T 2>&1; echo \"<exit:$?>\""):format(job))
    local text = q:read("a")
    q:close()
    local code = tonumber(text:match("<exit:(%d+)>%s*$"))
    text = text:gsub("<exit:%d+>%s*$", "")
    local left
    if code == 0 then
      left = select(2, text:gsub("[^\n]+", ""))
    elseif text:find("Invalid job id", 1, true) then
      left = 0
    elseif not warned then
      print(("squeue failed (%s); retrying"):format((text:gsub("%s+$", ""))))
      warned = true
    end
    if left then
      local line = totals_text(counts(dir, pending), #pending) ..
        (", %d in the queue"):format(left)
      if line ~= last then print(line); last = line end
      if left == 0 then break end
    end
    core.sleep(poll_seconds())
  end
  local logs = {}
  for i, run in ipairs(pending) do logs[run.hash] = log_path(dir, n, job, i) end
  return logs
end

-- --------------------------------------------------------- aggregation --

--- Whether a column holds timings (reported, never compared).
function M.is_timing(col)
  return col == "seconds" or col:match("_seconds$") ~= nil or col:match("^seconds_") ~= nil or
    col:match("img_per_s$") ~= nil
end

--- The columns that tell a run's rows apart (besides the grid's keys): the
-- recipe's `row_keys` when it names them, else every column holding strings
-- (such as `method`) and the index columns round, epoch, layer, step and
-- iteration that the rows have, options excluded.
function M.row_keys(rows, declared, options)
  if declared then return declared end
  local INDEX = {"round", "epoch", "layer", "step", "iteration"}
  local has, strings = {}, {}
  for _, r in ipairs(rows) do
    for k, v in pairs(r) do
      has[k] = true
      if type(v) == "string" and k ~= "run" and options[k] == nil and
          not k:match("^option_") then
        strings[k] = true
      end
    end
  end
  local keys = {}
  for k in pairs(strings) do keys[#keys + 1] = k end
  table.sort(keys, function(a, b)
    if a == "method" or b == "method" then return a == "method" end
    return a < b
  end)
  for _, k in ipairs(INDEX) do
    if has[k] and not strings[k] and options[k] == nil then keys[#keys + 1] = k end
  end
  return keys
end

--- Every done run's rows with its options as columns (an option whose name
-- a row already uses is `option_<name>`), `run` (the hash) and `seconds`
-- (the run's wall time), in plan order.
function M.collect(dir, sweep, runs)
  local rows = {}
  for _, run in ipairs(runs) do
    local rd = run_dir(dir, run.hash)
    local st = read_json(rd .. "/status.json")
    if st and st.state == "done" then
      for _, row in ipairs(read_json(rd .. "/results.json") or {}) do
        for k, v in pairs(run.options) do
          if type(v) ~= "table" then
            if row[k] == nil then row[k] = v elseif row[k] ~= v then row["option_" .. k] = v end
          end
        end
        row.seed = run.seed
        row.run = run.hash
        if row.seconds == nil then row.seconds = st.seconds end
        rows[#rows + 1] = row
      end
    end
  end
  return rows
end

local function summary_rows(groups, keys, metrics)
  local out = {}
  for _, s in ipairs(groups) do
    local row = {seeds = s.n}
    for _, k in ipairs(keys) do row[k] = s.keys[k] end
    for _, c in ipairs(metrics) do
      if s.mean[c] then row[c] = results.mean_std_text(s.mean[c], s.std[c]) end
    end
    out[#out + 1] = row
  end
  return out
end

local function summary_columns(keys, metrics)
  local t = {}
  for _, k in ipairs(keys) do t[#t + 1] = k end
  t[#t + 1] = "seeds"
  for _, m in ipairs(metrics) do t[#t + 1] = m end
  return t
end

-- The plot of the report: y = accuracy (else the first metric) against the
-- rows' sparsity, pruned, round or the first numeric grid key, one line per
-- remaining group, mean ± std as error bars.
local function plot(dir, groups, keys, metrics, sweep)
  local y
  for _, c in ipairs(metrics) do if c == "accuracy" then y = c end end
  y = y or metrics[1]
  if not y then return nil end
  local x
  for _, c in ipairs{"sparsity", "pruned"} do
    for _, m in ipairs(metrics) do if m == c and not x then x = c end end
  end
  local xkey
  if not x then
    for _, k in ipairs(keys) do
      if not xkey and groups[1] and type(groups[1].keys[k]) == "number" and
          (k == "round" or k == "epoch") then xkey = k end
    end
    for _, g in ipairs(sweep.grid) do
      if not xkey and groups[1] and type(groups[1].keys[g.key]) == "number" then xkey = g.key end
    end
    if not xkey then return nil end
    x = xkey
  end
  local rows = {}
  for _, s in ipairs(groups) do
    local parts = {}
    for _, k in ipairs(keys) do
      if k ~= xkey and k ~= "round" then parts[#parts + 1] = k .. "=" .. tostring(s.keys[k]) end
    end
    local xv = xkey and s.keys[xkey] or s.mean[x]
    if type(xv) == "number" and s.mean[y] then
      rows[#rows + 1] = {series = #parts > 0 and table.concat(parts, " ") or y, x = xv,
        y = s.mean[y], err = s.std[y]}
    end
  end
  if #rows == 0 then return nil end
  report.plot(dir .. "/sweep_plot", {rows = rows, x = "x", y = "y", err = "err",
    series = "series", xlabel = x, ylabel = y .. " (mean ± std over seeds)",
    title = ("%s: %s against %s"):format(sweep.name, y, x)})
  return ("sweep_plot.png: %s against %s, mean ± sample std over seeds."):format(y, x)
end

--- Writes DIR/results.csv and DIR/report.md from the runs that are done.
function M.aggregate(dir, sweep, runs)
  local rows = M.collect(dir, sweep, runs)
  local cols = results.columns(rows)
  local grid_keys, is_key = {}, {run = true, seed = true}
  for _, g in ipairs(sweep.grid) do
    grid_keys[#grid_keys + 1] = g.key
    is_key[g.key] = true
  end
  local first = {}
  for _, k in ipairs(grid_keys) do first[#first + 1] = k end
  for _, k in ipairs{"seed", "run"} do first[#first + 1] = k end
  local rest = {}
  for _, c in ipairs(cols) do if not is_key[c] then rest[#rest + 1] = c end end
  local ordered = {}
  for _, c in ipairs(first) do ordered[#ordered + 1] = c end
  for _, c in ipairs(rest) do ordered[#ordered + 1] = c end
  write(dir .. "/results.csv", report.table(rows, {format = "csv", columns = ordered}) .. "\n")
  -- group keys: the grid's, then the recipe's own row keys
  local keys = {}
  for _, k in ipairs(grid_keys) do keys[#keys + 1] = k end
  local options = runs[1] and runs[1].options or {}
  local row_key = {}
  for _, k in ipairs(M.row_keys(rows, sweep.row_keys, options)) do
    if not is_key[k] then keys[#keys + 1] = k; row_key[k] = true end
  end
  local metrics, timing = {}, {}
  for _, c in ipairs(rest) do
    local numeric = false
    for _, r in ipairs(rows) do if type(r[c]) == "number" then numeric = true; break end end
    local is_option = options[c] ~= nil or c:match("^option_")
    if numeric and not is_option and not row_key[c] then
      if M.is_timing(c) then timing[#timing + 1] = c else metrics[#metrics + 1] = c end
    end
  end
  local groups = results.summarize(rows, keys, metrics)
  local merged = 0
  for _, g in ipairs(groups) do if #g.rows > g.n then merged = merged + 1 end end
  local c = counts(dir, runs)
  local md = {("# Sweep of %s\n"):format(sweep.name),
    ("Command: `realprune sweep %s`\n"):format(sweep.command or ""),
    ("Grid: %s; seeds %s; %s.\n"):format(#sweep.grid > 0 and sweep.grid_text or "(none)",
      table.concat(sweep.seeds, ","), totals_text(c, #runs)),
    "## Mean ± sample std over seeds\n",
    "One row per grid point and per the recipe's own row keys; `seeds` is how many seeds " ..
      "the row averages.\n",
    #groups > 0 and report.table(summary_rows(groups, keys, metrics),
      {columns = summary_columns(keys, metrics)}) or "(no run is done yet)", ""}
  if merged > 0 then
    md[#md + 1] = ("Note: %d group%s hold more than one row per seed (rows that no key " ..
      "tells apart are averaged together); a recipe names its row keys with `row_keys`.\n")
      :format(merged, merged == 1 and "" or "s")
  end
  local p = #groups > 0 and plot(dir, groups, keys, metrics, sweep)
  if p then md[#md + 1] = p .. "\n" end
  if #timing > 0 then
    md[#md + 1] = "## Timings (reported, not compared)\n"
    md[#md + 1] = report.table(summary_rows(results.summarize(rows, keys, timing), keys, timing),
      {columns = summary_columns(keys, timing)})
    md[#md + 1] = ""
  end
  local bad = {}
  for _, run in ipairs(runs) do
    local s, st = M.state(dir, run.hash)
    if s ~= "done" then
      bad[#bad + 1] = ("- %s `%s` %s%s"):format(s, run.hash, label(sweep, run),
        st and st.error and (": " .. st.error:gsub("\n.*", "")) or "")
    end
  end
  if #bad > 0 then
    md[#md + 1] = "## Runs not done\n"
    md[#md + 1] = table.concat(bad, "\n") .. "\n"
  end
  write(dir .. "/report.md", table.concat(md, "\n") .. "\n")
  return rows
end

-- -------------------------------------------------------------- status --

--- Prints one line per run of the sweep in `dir` (done, running, failed,
-- pending) and the totals; returns the counts.
function M.status(dir)
  local sweep = read_json(dir .. "/sweep.json")
  if not sweep then fail("--status: %s holds no sweep (no readable sweep.json)", dir) end
  local c = {done = 0, failed = 0, running = 0, pending = 0}
  local lines = {}
  for _, run in ipairs(sweep.runs) do
    local s, st = M.state(dir, run.hash)
    c[s] = c[s] + 1
    lines[#lines + 1] = ("%-8s %s  %s%s"):format(s, run.hash, label(sweep, run),
      s == "done" and st and st.seconds and ("  %.1f s"):format(st.seconds) or
      s == "failed" and st and st.error and ("  " .. st.error:gsub("\n.*", "")) or "")
  end
  io.write(table.concat(lines, "\n"), #lines > 0 and "\n" or "")
  print(totals_text(c, #sweep.runs))
  return c
end

-- ---------------------------------------------------------------- main --

--- The record of a planned sweep that sweep.json holds: the recipe, grid,
-- seeds, backend, the threads each run gets, the command, and every run's
-- hash, seed, grid point and options.
function M.describe(sw, plan, args, threads)
  local grid_text = {}
  for _, g in ipairs(sw.grid) do
    local vs = {}
    for i, v in ipairs(g.values) do vs[i] = v:find(",") and ("[" .. v .. "]") or v end
    grid_text[#grid_text + 1] = g.key .. "=" .. table.concat(vs, ",")
  end
  local sweep = {recipe = plan.path, name = plan.recipe.name, grid = sw.grid,
    grid_text = table.concat(grid_text, " "), seeds = sw.seeds, backend = sw.backend,
    jobs = sw.jobs, args = sw.args, version = require("realprune").VERSION,
    threads_per_run = threads or "SLURM_CPUS_PER_TASK (1 unless --slurm sets --cpus-per-task)",
    planned = os.date("!%Y-%m-%dT%H:%M:%SZ"), row_keys = plan.recipe.row_keys, runs = {}}
  local cmd = {shell_quote(sw.recipe)}
  for _, a in ipairs(args) do
    if a ~= sw.recipe then cmd[#cmd + 1] = a:match("^[%w_%-%.=/,]+$") and a or shell_quote(a) end
  end
  sweep.command = table.concat(cmd, " ")
  for i, run in ipairs(plan.runs) do
    sweep.runs[i] = {hash = run.hash, seed = run.seed, point = run.point, options = run.options}
  end
  return sweep
end

--- `realprune sweep ...`: returns the exit code (0: every run done).
function M.main(args)
  if args[1] == "--task" then
    if not (args[2] and args[3] and args[4]) then fail("--task DIR LIST INDEX expected") end
    return M.task(args[2], args[3], args[4])
  end
  if args[1] == "--help" or args[1] == "-h" or #args == 0 then
    print(M.usage)
    return #args == 0 and 2 or 0
  end
  local sw = M.parse_args(args)
  if sw.status then
    local c = M.status(sw.status)
    return (c.failed == 0 and c.pending == 0 and c.running == 0) and 0 or M.INCOMPLETE
  end
  local plan = M.plan(sw)
  sw.name = plan.recipe.name
  local dir = sw.out or ("results/" .. plan.recipe.name .. "/sweep")
  local threads = sw.backend == "local" and math.max(1, core.get_threads() // sw.jobs) or nil
  if sw.dry_run and sw.backend == "slurm" then
    local abs = dir:sub(1, 1) == "/" and dir or (core.realpath(".") .. "/" .. dir)
    local n, todo = next_submission(abs), 0
    for _, run in ipairs(plan.runs) do
      if M.state(abs, run.hash) ~= "done" then todo = todo + 1 end
    end
    local script = ("%s/slurm/submit-%d.sh"):format(abs, n)
    io.write(batch_script(sw, abs, ("%s/slurm/submit-%d.tsv"):format(abs, n), todo))
    print(("# %d of %d runs to submit, with: %s"):format(todo, #plan.runs,
      sbatch_args(sw, abs, n, script)))
    return 0
  end
  if sw.dry_run then
    for _, run in ipairs(plan.runs) do
      print(("%-8s %s  %s"):format(M.state(dir, run.hash), run.hash, label(sw, run)))
    end
    print(("%d runs; threads per run: %d (a dry run: nothing was started or written)"):format(
      #plan.runs, threads))
    return 0
  end
  mkdir(dir)
  dir = core.realpath(dir) or dir
  local lock, why = core.lock_file(dir .. "/sweep.lock")
  if not lock then
    fail("%s is in use by another sweep (%s); wait for it to end, or give another --out", dir,
      why)
  end
  local sweep = M.describe(sw, plan, args, threads)
  write(dir .. "/sweep.json", json.encode(sweep) .. "\n")
  local pending = {}
  for _, run in ipairs(plan.runs) do
    if M.state(dir, run.hash) ~= "done" then pending[#pending + 1] = run end
  end
  print(("sweep of %s: %d runs (%d done before, %d to run) in %s, backend %s%s"):format(
    sweep.name, #plan.runs, #plan.runs - #pending, #pending, dir, sw.backend,
    threads and (", %d at a time with %d thread%s each"):format(sw.jobs, threads,
      threads == 1 and "" or "s") or ""))
  local logs = {}
  if #pending > 0 then
    if sw.backend == "local" then
      run_local(sw, plan, dir, pending, threads)
    else
      logs = run_slurm(sw, plan, dir, pending)
    end
  end
  M.aggregate(dir, sweep, sweep.runs)
  local c = counts(dir, plan.runs)
  for _, run in ipairs(plan.runs) do
    local s, st = M.state(dir, run.hash)
    if s == "failed" then
      print(("failed: %s %s: %s (log %s)"):format(run.hash, label(sweep, run),
        st and st.error and st.error:gsub("\n.*", "") or "?",
        logs[run.hash] or (run_dir(dir, run.hash) .. "/output.txt")))
    elseif s ~= "done" then
      print(("not finished: %s %s (cancelled, preempted or killed; the same command resumes " ..
        "it)%s"):format(run.hash, label(sweep, run),
        logs[run.hash] and (" (log " .. logs[run.hash] .. ")") or ""))
    end
  end
  print(totals_text(c, #plan.runs))
  print(("results in %s/results.csv and %s/report.md"):format(dir, dir))
  lock:unlock()
  return (c.done == #plan.runs) and 0 or M.INCOMPLETE
end

M.usage = [[
usage: realprune sweep RECIPE [--grid "key=v1,v2 key2=a,b"] [--seeds 1,2,3] [--jobs N]
                       [--backend local|slurm] [--slurm "sbatch options"] [--dry-run]
                       [--out DIR] [recipe options]
       realprune sweep --status DIR

The grid's cross product times the seeds is the set of runs; a value holding
commas goes in brackets (strategies=[realprune,cgp],[lth]). Each run lives in
DIR/runs/<hash of its options>/ as a normal recipe run (DIR defaults to
results/RECIPE/sweep). Running the same command again continues the sweep:
finished runs are never repeated, interrupted and failed ones run again.
--jobs N runs N at a time here, each with max(1, threads / N) threads (threads:
REALPRUNE_THREADS or the core count); with --backend slurm, N caps the array's
running tasks and each task gets SLURM_CPUS_PER_TASK threads. DIR gets
sweep.json, results.csv and report.md (mean ± sample std over seeds).]]

return M
