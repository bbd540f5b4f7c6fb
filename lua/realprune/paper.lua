--- The ReaLPrune paper's reported numbers (data/paper/realprune.lua, each with
-- its source) and a table of ours beside them.
--
--     rp.paper.numbers().hardware_saving   --> 0.772
--     print(rp.paper.beside(row, "vgg_small"))
-- @module realprune.paper

local paths = require "realprune.paths"

local paper = {}

local cached

--- The paper's headline numbers: weights_pruned, accuracy_loss,
-- hardware_saving, training_speedup and their source.
function paper.numbers()
  if not cached then
    local p, err = paths.data("paper/realprune.lua")
    if not p then error(err, 2) end
    cached = dofile(p)
  end
  return cached
end

--- A Markdown table of the paper's headline numbers beside one of our rows
-- ({pruned= or sparsity=, hardware_saving=, training_saving=, speedup=});
-- "" without a row. `what` names the network modeled.
function paper.beside(row, what)
  if not row then return "" end
  local p = paper.numbers()
  local pruned = row.pruned or row.sparsity
  local lines = {"## Beside the paper (" .. p.source .. ")", "",
    "| | paper | this run |", "|---|---|---|",
    ("| weights pruned | > %.0f%% | %.1f%% |"):format(100 * p.weights_pruned, 100 * pruned),
    ("| hardware saving | %.1f%% | %.1f%% of the forward crossbars%s |"):format(
      100 * p.hardware_saving, 100 * row.hardware_saving, row.training_saving and
      (("; %.1f%% of all training arrays"):format(100 * row.training_saving)) or "")}
  if row.speedup then
    lines[#lines + 1] = ("| training speedup | ~%dx | %.1fx (modeled%s) |"):format(
      p.training_speedup, row.speedup, what and (", " .. what) or "")
  end
  lines[#lines + 1] = ""
  return table.concat(lines, "\n")
end

return paper
