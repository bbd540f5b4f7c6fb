--- Where realprune's shipped files are: the data folder (ReRAM presets, the
-- paper's numbers) and the recipes, found from this module's own location,
-- so it works from any working directory, under `realprune` and under stock
-- `lua5.4` alike:
--
--     rp.paths.data_dir()                 -- .../data
--     rp.paths.data("reram/isaac.lua")    -- the file's path, or nil, message
--     rp.paths.recipes_dir()
--
-- In the source tree the module sits in lua/realprune/ beside data/ and
-- recipes/; installed, in share/lua/5.4/realprune/ beside share/realprune/.
-- REALPRUNE_SHARE names another root (holding data/ and recipes/).
-- @module realprune.paths

local paths = {}

local function is_file(p)
  local f = io.open(p, "rb")
  if f then f:close() end
  return f ~= nil
end

local here = debug.getinfo(1, "S").source:match("^@(.*)/[^/]*$") or "."

--- The folders tried for the shipped files, in order.
function paths.roots()
  local roots = {}
  local env = os.getenv("REALPRUNE_SHARE")
  if env and env ~= "" then roots[#roots + 1] = env end
  roots[#roots + 1] = here .. "/../.."             -- source tree: lua/realprune -> .
  -- installed: share/lua/5.4/realprune -> share/realprune
  roots[#roots + 1] = here .. "/../../../realprune"
  return roots
end

local function root()
  for _, r in ipairs(paths.roots()) do
    if is_file(r .. "/data/paper/realprune.lua") then return r end
  end
  return nil
end

--- The data folder (data/: reram/ presets, paper/ numbers).
function paths.data_dir()
  local r = root()
  return r and (r .. "/data") or nil
end

--- The recipes folder.
function paths.recipes_dir()
  local r = root()
  return r and (r .. "/recipes") or nil
end

--- The path of a shipped data file, or nil and a message naming where it looked.
function paths.data(rel)
  local tried = {}
  for _, r in ipairs(paths.roots()) do
    local p = r .. "/data/" .. rel
    if is_file(p) then return p end
    tried[#tried + 1] = p
  end
  return nil, ("rp.paths.data: no %s (looked in %s)"):format(rel, table.concat(tried, ", "))
end

return paths
