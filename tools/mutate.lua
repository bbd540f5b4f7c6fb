--- Mutation testing: `make mutate` (or build/realprune tools/mutate.lua [TEXT ...]).
--
-- Copies the working tree into a scratch folder (MUTATE_DIR, default
-- /tmp/realprune-mutate), builds it once, then for every mutant of
-- tests/mutants.lua (or those whose file or `breaks` contains one of the TEXTs): applies
-- it, rebuilds, runs the ctest suites its `tests` pattern names, and puts the
-- file back. Every pattern's suites must first pass on the unmutated copy. A
-- mutant is killed when the build or a test fails (or its ctest run takes
-- longer than MUTATE_TIMEOUT seconds, 600 by default). Prints every mutant's result,
-- the kill rate and each survivor with its file, line, change and tests.
-- Exit status 1 when a mutant's original text is not found exactly once (the
-- list must move with the code) or fewer than 90% are killed.

local list_path = "tests/mutants.lua"
local patterns = {}
for i = 1, arg and #arg or 0 do patterns[#patterns + 1] = arg[i] end
local scratch = os.getenv("MUTATE_DIR") or "/tmp/realprune-mutate"
local timeout = tonumber(os.getenv("MUTATE_TIMEOUT") or "600")
local jobs = os.getenv("JOBS") or "2"

-- true when the command succeeded; an interrupt (Ctrl-C) stops the whole run
local function sh(cmd)
  local ok, how, code = os.execute(cmd)
  if how == "signal" or (how == "exit" and (code == 130 or code == 143)) then
    print("mutate: interrupted")
    os.exit(1)
  end
  return ok == true or ok == 0
end

local function quote(s) return "'" .. tostring(s):gsub("'", "'\\''") .. "'" end

local function read(path)
  local f = assert(io.open(path, "rb"), "mutate: cannot read " .. path)
  local s = f:read("a")
  f:close()
  return s
end

local function write(path, s)
  local f = assert(io.open(path, "wb"), "mutate: cannot write " .. path)
  f:write(s)
  f:close()
end

-- plain-text occurrences of `needle` in `s`: the count and the first position
local function occurrences(s, needle)
  local n, first, at = 0, nil, 1
  while true do
    local i = s:find(needle, at, true)
    if not i then break end
    n, first, at = n + 1, first or i, i + 1
  end
  return n, first
end

local function line_of(s, pos)
  local _, lines = s:sub(1, pos):gsub("\n", "")
  return lines + 1
end

local mutants = dofile(list_path)
local selected = {}
for i, m in ipairs(mutants) do
  m.id = i
  local wanted = #patterns == 0
  for _, p in ipairs(patterns) do
    if m.file:find(p, 1, true) or m.breaks:find(p, 1, true) then wanted = true end
  end
  if wanted then selected[#selected + 1] = m end
end

-- every original text must occur exactly once, in the tree as it is
local stale = 0
for _, m in ipairs(selected) do
  local n, pos = occurrences(read(m.file), m.from)
  if n ~= 1 then
    stale = stale + 1
    print(("mutate: mutant %d (%s): its original text occurs %d times in %s (expected once)")
      :format(m.id, m.breaks, n, m.file))
  else
    m.line = line_of(read(m.file), pos)
  end
end
if stale > 0 then
  print("mutate: update tests/mutants.lua to the code")
  os.exit(1)
end

print(("mutate: %d mutants; scratch tree %s"):format(#selected, scratch))
-- a fresh copy (files deleted from the tree must not linger), and the scratch
-- binary must load the scratch tree's Lua files, not whatever the environment names
assert(sh("rm -rf " .. quote(scratch .. "/src") .. " && mkdir -p " .. quote(scratch .. "/src")))
local env = "env -u REALPRUNE_LUA_DIR -u REALPRUNE_SHARE -u LUA_PATH -u LUA_CPATH "
assert(sh("git ls-files -co --exclude-standard | tar -cf - -T - | (cd " .. quote(scratch
  .. "/src") ..
  " && tar -xf -)"), "mutate: cannot copy the tree")
local src, build = scratch .. "/src", scratch .. "/build"
local log = scratch .. "/mutate.log"
local function build_tree()
  return sh(("cmake -S %s -B %s -DCMAKE_BUILD_TYPE=RelWithDebInfo > %s 2>&1 && " ..
    "cmake --build %s -j %s >> %s 2>&1"):format(quote(src), quote(build), quote(log), quote(build),
    jobs, quote(log)))
end
if not build_tree() then
  print("mutate: the unmutated tree does not build; see " .. log)
  os.exit(1)
end
local function run_tests(pattern)
  return sh(("cd %s && %stimeout %d ctest --test-dir %s -R %s -j %s > %s 2>&1"):format(
    quote(src), env, timeout, quote(build), quote(pattern), jobs, quote(log)))
end
-- every pattern's suites must pass on the unmutated tree, or a kill means nothing
local baseline = {}
for _, m in ipairs(selected) do
  if not baseline[m.tests] then
    baseline[m.tests] = true
    if not run_tests(m.tests) then
      print(("mutate: ctest -R '%s' fails on the unmutated tree; see %s"):format(m.tests, log))
      os.exit(1)
    end
    if read(log):find("No tests were found", 1, true) then
      print(("mutate: ctest -R '%s' matches no test"):format(m.tests))
      os.exit(1)
    end
  end
end

local results, killed = {}, 0
local t_start = os.time()
for k, m in ipairs(selected) do
  local path = src .. "/" .. m.file
  local original = read(path)
  local i = original:find(m.from, 1, true)
  write(path, original:sub(1, i - 1) .. m.to .. original:sub(i + #m.from))
  local how
  if not build_tree() then
    how = "killed (build)"
  elseif not run_tests(m.tests) then
    how = "killed"
  else
    how = "SURVIVED"
  end
  write(path, original)
  if how == "SURVIVED" and read(log):find("No tests were found", 1, true) then
    print(("mutate: mutant %d (%s): ctest -R '%s' matches no test"):format(m.id, m.breaks, m.tests))
    os.exit(1)
  end
  if how ~= "SURVIVED" then killed = killed + 1 end
  results[#results + 1] = {m = m, how = how}
  print(("[%2d/%d] %-15s %s:%d  %s  (tests: %s)"):format(k, #selected, how, m.file, m.line,
    m.breaks, m.tests))
  io.stdout:flush()
end
build_tree() -- leave the scratch tree built unmutated

local rate = #selected > 0 and killed / #selected or 1
print(("\nmutate: %d of %d mutants killed (%.1f%%) in %d s"):format(killed, #selected, 100 * rate,
  os.time() - t_start))
local survivors = 0
for _, r in ipairs(results) do
  if r.how == "SURVIVED" then
    survivors = survivors + 1
    if survivors == 1 then print("survivors:") end
    print(("  %s:%d  %s\n    - %s\n    + %s\n    tests run: ctest -R '%s'"):format(r.m.file,
      r.m.line, r.m.breaks, r.m.from:gsub("\n", "\\n"), r.m.to:gsub("\n", "\\n"), r.m.tests))
  end
end
os.exit(rate >= 0.9 and 0 or 1)
