-- luacheck configuration (Debian lua-check); `make lint` and the test suite
-- run `luacheck .`.
std = "lua54"
max_line_length = 100
-- Methods keep the arguments of the interface they implement (Module:backward
-- of a layer without parameters, callbacks), so unused arguments are allowed.
unused_args = false
-- `not (x > 0)` is how a check rejects NaN along with the bad values.
ignore = {"581"}
exclude_files = {"build/", "build-*/", "tests/fixtures/torch_reference.lua"}
files["tests/"] = {
  -- LuaUnit finds test classes and functions as globals named Test*/test*.
  allow_defined_top = true,
  globals = {"lu"},
}
files["tests/lua/"] = {allow_defined_top = true}
