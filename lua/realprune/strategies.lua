--- Named pruning strategies: plain tables that rp.lth.run understands
-- (`strategy = rp.strategies.realprune`) and that a recipe can copy and change.
--
-- Every strategy leaves the first conv and the last linear layer dense
-- (exclude = "first_last"), as lottery-ticket practice does: at column or filter
-- granularity those layers' groups are whole input filters or whole classes.
--
-- Fields: `prune` (spec defaults: granularity, score, scope, exclude), `rate`
-- (fraction of the alive groups pruned per round), `rounds`, `rewind`, and
-- `follows` / `differs` (what the strategy reproduces and where it departs).
--
--     local s = rp.strategies.copy("realprune")
--     s.rate, s.rounds = 0.3, 6
--     rp.lth.run{model = m, train = d, strategy = s}
-- @module realprune.strategies

local strategies = {}

--- ReaLPrune: iterative lottery-ticket pruning of crossbar column segments.
strategies.realprune = {
  name = "realprune",
  prune = {granularity = "column", score = "l1", scope = "layer", exclude = "first_last"},
  rate = 0.2, rounds = 10, rewind = "init",
  follows = "ReaLPrune (Joardar et al., arXiv 2111.09272): prunes whole crossbar columns " ..
    "(a row block x one output column of the im2col matrix) by magnitude, iteratively, " ..
    "retraining the survivors from their initial values (lottery ticket).",
  differs = "A fixed 20% of each layer's alive column segments per round (the paper tunes " ..
    "per-layer rates).",
}

--- Unstructured lottery ticket (element granularity, global magnitude).
strategies.lth = {
  name = "lth",
  prune = {granularity = "element", score = "l1", scope = "global", exclude = "first_last"},
  rate = 0.2, rounds = 10, rewind = "init",
  follows = "Frankle & Carbin (ICLR 2019) as in open_lth's defaults: 20% of the remaining " ..
    "weights per round, global magnitude ranking, rewind to initialization.",
  differs = "The first conv and the last linear layer stay dense, as for the other " ..
    "strategies; training uses this workbench's recipe, not open_lth's.",
}

--- Crossbar-grain pruning: whole crossbars (tiles) by magnitude.
strategies.cgp = {
  name = "cgp",
  prune = {granularity = "tile", score = "l1", scope = "layer", exclude = "first_last"},
  rate = 0.2, rounds = 10, rewind = "init",
  follows = "Crossbar-grain pruning (Liang et al., 2018): removes whole crossbars whose " ..
    "weights have the least magnitude.",
  differs = "Run inside the same lottery-ticket loop as realprune (rewind to init) so that " ..
    "only the group differs; the original fine-tunes after each step.",
}

--- L1-norm filter pruning with fine-tuning.
strategies.filter = {
  name = "filter",
  prune = {granularity = "filter", score = "l1", scope = "layer", exclude = "first_last"},
  rate = 0.2, rounds = 10, rewind = "none",
  follows = "Li et al. (ICLR 2017): prunes the output channels of least L1 norm and " ..
    "fine-tunes the rest without rewinding.",
  differs = "Iterative (20% per round) rather than one-shot per layer with sensitivity " ..
    "analysis; the next layer's input channels are not removed with the filter.",
}

--- Random column pruning on the realprune schedule (a control).
strategies.random = {
  name = "random",
  prune = {granularity = "column", score = "random", scope = "layer", exclude = "first_last"},
  rate = 0.2, rounds = 10, rewind = "init",
  follows = "A control: the realprune schedule with random instead of magnitude scores.",
  differs = "Not a published method.",
}

--- Crossbar-aligned column pruning: realprune whose row blocks keep whole
-- crossbars of column segments.
strategies.aligned = {
  name = "aligned",
  prune = {granularity = "column", score = "l1", scope = "layer", exclude = "first_last",
    align = true},
  rate = 0.2, rounds = 10, rewind = "init",
  follows = "realprune, with every row block's surviving segments rounded to a multiple " ..
    "of the crossbar's logical columns L (pruning its weakest kept segments or reviving " ..
    "its strongest just-pruned ones, whichever is nearer), so that no crossbar is left " ..
    "partly empty.",
  differs = "Not in the paper: column pruning leaves a partly empty crossbar in most row " ..
    "blocks; this spends that room on alive segments or frees the crossbar.",
}

--- A deep copy of a named strategy (or of a strategy table), to change.
function strategies.copy(s)
  if type(s) == "string" then
    local named = strategies[s]
    if type(named) ~= "table" then error(("strategies.copy: no strategy named %q"):format(s), 2) end
    s = named
  end
  local function copy(v)
    if type(v) ~= "table" then return v end
    local out = {}
    for k, x in pairs(v) do out[k] = copy(x) end
    return out
  end
  return copy(s)
end

--- Names of the strategies.
function strategies.names() return {"realprune", "lth", "cgp", "filter", "random", "aligned"} end

return strategies
