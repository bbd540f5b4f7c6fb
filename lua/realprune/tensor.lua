--- Tensors: float32, contiguous, row-major, up to 5 dimensions.
--
--     local T = require("realprune").tensor
--     local a = T.from{{1, 2}, {3, 4}}     -- 2x2
--     local b = T.ones{2, 1}
--     print(a:matmul(b))                   -- [[3], [7]]
--     print(a + 1, a * a, a:sum(), a:argmax())
--
-- Indices are 1-based.  `t[i]` is row i along the first dimension: a view
-- sharing t's storage (a number for a 1-D tensor); `t[i] = v` fills or copies
-- into it.  `t:reshape(shape)` is a view as well; `t:clone()` copies.
-- Elementwise arithmetic (`+ - * /`, `add sub mul div`, and the in-place
-- `add_ sub_ mul_ div_`) broadcasts as NumPy does: shapes are aligned on the
-- right and a size of 1 stretches.  Numbers mix with tensors on either side.
-- A tensor closed with `<close>` (or collected) is released, and using it
-- afterwards is an error.
-- @module realprune.tensor

local core = require "realprune.core"

local T = {}

--- A tensor from a nested table of numbers, a number (0-dimensional) or a
-- tensor (copied). Ragged tables are an error.
-- @usage T.from{{1, 2, 3}, {4, 5, 6}}
T.from = core.from

--- Zeros of the given shape (`{d1, d2, ...}` or `d1, d2, ...`).
-- @usage T.zeros{2, 3}
T.zeros = core.zeros

--- Ones of the given shape.
T.ones = core.ones

--- `full(shape, v)`: every element is v.
-- @usage T.full({2, 2}, 0.5)
T.full = core.full

--- `rand(shape[, gen])`: uniform in [0, 1), from gen or the default generator.
T.rand = core.rand

--- `randn(shape[, gen])`: standard normal, from gen or the default generator.
T.randn = core.randn

--- `arange(n)`: 0, 1, ..., n-1 (as Python's range); `arange(a, b[, step])`.
T.arange = core.arange

--- The table of tensor methods; modules may add their own.
T.methods = core.tensor_methods

--- True if v is a live or released tensor.
function T.is_tensor(v)
  return getmetatable(v) == core.tensor_metatable
end

return T
