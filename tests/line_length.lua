-- Prints every line over 100 columns (characters, not bytes) of the files
-- named on the command line; exits 1 if there is one.  Used by tests/lint.sh.
local found = false
for _, f in ipairs(arg) do
  local n = 0
  for line in io.lines(f) do
    n = n + 1
    local len = utf8.len(line) or #line
    if len > 100 then
      print(("%s:%d: %d columns"):format(f, n, len))
      found = true
    end
  end
end
os.exit(found and 1 or 0)
