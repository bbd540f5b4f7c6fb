--- Checks auto's cost model (rp_conv2d_choose, core/src/conv2d.c) against
-- measured times: reads the output of build/bench/bench_sparse_conv (one or
-- more layer shapes), applies the model's formula with its constants and
-- prints, per measured mask, the measured speed-up of the sparse kernels over
-- dense auto, the model's predicted one, the fastest measured and its pick
-- (dense, the direct kernels or the sparse Winograd products), marking picks of
-- sparse that ran more than 5% slower (SLOWER) and picks that gave up more
-- than 10% to the fastest (MISSED). With --fit, searches a grid of constants for the fewest
-- SLOWER (weighted 3) and MISSED picks.
--
--     build/realprune tools/sparse_choice.lua FILE [--fit]
--
-- docs/results/sparse-choice-2026-12/ holds the measurements the constants
-- were fit to and the command that made them.
local path, fit = arg and arg[1], false
for i = 2, arg and #arg or 0 do if arg[i] == "--fit" then fit = true end end
if not path then
  io.stderr:write("usage: tools/sparse_choice.lua BENCH_SPARSE_CONV_OUTPUT [--fit]\n")
  os.exit(2)
end
local f = io.open(path)
if not f then
  io.stderr:write(("tools/sparse_choice.lua: cannot read %s\n"):format(path))
  os.exit(2)
end
local rows, cur, by_mask = {}, nil, {}
for line in f:lines() do
  local N, C, H, K = line:match("^conv (%d+)x(%d+)x(%d+)x%d+ %-> (%d+)")
  if N then cur = {N = tonumber(N), C = tonumber(C), H = tonumber(H), K = tonumber(K)} end
  local d = line:match("^dense auto%s+([%d.]+) ms")
  if d and cur then cur.dense = tonumber(d) end
  -- "sparse column 50% direct 36.5 ms ... 0.47 of dense MACs; pairs 0.600; ..." (the
  -- kernel and the pairs only in runs that timed both sparse kernels)
  local kind, pct, rest = line:match("^sparse (%a+)%s+(%d+)%%(.*)$")
  if kind and cur and cur.dense then
    local kernel, t = rest:match("^%s*(%a*)%s+([%d.]+) ms")
    local share = rest:match("([%d.]+) of dense MACs")
    local pairs = rest:match("pairs ([%d.]+)")
    local by_output = rest:match("by output") ~= nil
    local key = ("%d %d %d %s %s"):format(cur.C, cur.H, cur.K, kind, pct)
    local r = by_mask[key]
    if not r then
      r = {C = cur.C, H = cur.H, K = cur.K, dense = cur.dense, kind = kind, pct = tonumber(pct),
        share = tonumber(share), pairs = tonumber(pairs), by_output = by_output}
      by_mask[key] = r
      rows[#rows + 1] = r
    end
    if kernel == "winograd" then r.t_winograd = tonumber(t) else r.t_direct = tonumber(t) end
  end
end
f:close()
if #rows == 0 then
  io.stderr:write(("tools/sparse_choice.lua: no bench_sparse_conv rows in %s\n"):format(path))
  os.exit(2)
end

-- the model (conv2d.c): per output position, im2col R*K + (20 + 600/P) R;
-- Winograd `wide` or `narrow` (Cin + Cout <= cut) of that; the direct kernels
-- mac * plan + moves * (1 + 16/P) (Cin + Cout); the sparse Winograd products
-- dense Winograd * (wmoves + (1 - wmoves) * wmac * pairs), wmoves by the plane
-- (wmoves4 for outputs of 8x8 and more, wmoves2 for smaller ones);
-- the cheaper sparse kernel when it costs at most 0.9 of dense; a by-output plan's
-- (element masks) direct multiply-adds cost (1 + wide_rows log2(R / 288)) times
-- as much for R > 288 rows
local C0 = {wide = 0.5, narrow = 0.65, cut = 192, mac = 1.3, moves = 40, wmac = 1.7,
  wmoves4 = 0.45, wmoves2 = 0.15, wide_rows = 0.3}
local function judge(c, r)
  local P, R = r.H * r.H, r.C * 9
  local im2col = R * r.K + (20 + 600 / P) * R
  local dense = (r.C + r.K <= c.cut and c.narrow or c.wide) * im2col
  local mac = c.mac
  if r.by_output and R > 288 then mac = mac * (1 + c.wide_rows * math.log(R / 288, 2)) end
  local direct = mac * r.share * R * r.K + c.moves * (1 + 16 / P) * (r.C + r.K)
  local pick, t = "direct", r.t_direct
  if r.pairs and r.t_winograd then
    local wm = P >= 64 and c.wmoves4 or c.wmoves2
    local wino = dense * (wm + (1 - wm) * c.wmac * r.pairs)
    if wino < direct then pick, t, direct = "winograd", r.t_winograd, wino end
  end
  if direct > 0.9 * dense then pick, t = "dense", r.dense end
  local measured = r.dense / t
  local best = math.max(1, r.dense / r.t_direct, r.t_winograd and r.dense / r.t_winograd or 0)
  local flag = pick ~= "dense" and measured < 0.95 and "SLOWER" or best > 1.1 * measured and
    "MISSED" or ""
  return pick, measured, dense / direct, flag, best
end

local function score(c)
  local slower, missed = 0, 0
  for _, r in ipairs(rows) do
    local _, _, _, flag = judge(c, r)
    if flag == "SLOWER" then
      slower = slower + 1
    elseif flag == "MISSED" then
      missed = missed + 1
    end
  end
  return slower, missed
end

local c = C0
if fit then
  local best, best_score
  for _, wide in ipairs{0.45, 0.5, 0.55, 0.6} do
    for _, narrow in ipairs{0.65, 0.7, 0.75, 0.8} do
      for _, mac in ipairs{0.9, 1.0, 1.15, 1.3} do
        for _, moves in ipairs{20, 40, 80} do
          for _, wmac in ipairs{1.4, 1.7, 2.0} do
            for _, wm4 in ipairs{0.35, 0.45, 0.55} do
              for _, wm2 in ipairs{0.1, 0.15, 0.2} do
                for _, wr in ipairs{0, 0.15, 0.3, 0.45} do
                  local cand = {wide = wide, narrow = narrow, cut = 192, mac = mac, moves = moves,
                    wmac = wmac, wmoves4 = wm4, wmoves2 = wm2, wide_rows = wr}
                  local s, m = score(cand)
                  if not best_score or 3 * s + m < best_score then
                    best, best_score = cand, 3 * s + m
                  end
                end
              end
            end
          end
        end
      end
    end
  end
  c = best
  print(("fit: Winograd %.2f (narrow %.2f), direct %.2f per multiply-add, moves %g; sparse " ..
    "Winograd %.2f per multiply-add, transforms %.2f (8x8 and more) %.2f (smaller); " ..
    "by-output plans %.2f more per doubling of rows"):format(
    c.wide, c.narrow, c.mac, c.moves, c.wmac, c.wmoves4, c.wmoves2, c.wide_rows))
end
print(("%-16s %-8s %5s %8s %8s %8s  %-8s"):format("layer", "mask", "dead", "measured", "model",
  "best", "pick"))
for _, r in ipairs(rows) do
  local pick, measured, predicted, flag, best = judge(c, r)
  print(("%4dx%-2d -> %-5d %-8s %4d%% %7.2fx %7.2fx %7.2fx  %-8s %s"):format(r.C, r.H, r.K,
    r.kind, r.pct, measured, predicted, best, pick, flag))
end
local s, m = score(c)
print(("%d rows: %d sparse picks slower than dense by over 5%%, %d picks giving up over 10%% " ..
  "to the fastest"):format(#rows, s, m))
