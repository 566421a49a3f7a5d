-- MQAR reproduction (Zoology, Based, Gated DeltaNet): the same two-layer token model with each
-- sequence mixer, at matched parameter counts, trained on multi-query associative recall with
-- several seeds; prints recall accuracy (mean ± std over seeds) as a table and, given a path,
-- writes it as an SVG plot. Then it says whether the direction the papers report holds here:
-- attention and the hybrids recall better than pure recurrent mixers of the same size, and the
-- gated delta rule beats plain linear attention.
--
--   circuit run --allow-io scripts/hybrid_mqar.lua [SEEDS] [EPOCHS] [TRAIN_SIZE] [PLOT.svg] [MIXER,...] [SEQ:VOCAB:PAIRS]
--
-- Defaults: 3 seeds, 4 epochs, 8,000 training sequences, no plot, every mixer, 32:32:4: sequences
-- of 32 tokens over a vocabulary of 32 holding 4 key-value pairs, then queries of those keys;
-- only the answers are scored (accuracy = recalled values / queries). That size learns in seconds
-- per model on 2 CPU cores; 64:64:8 needs many more steps before any model leaves chance.
local circuit = require "circuit"

local seeds = tonumber(arg[1] or "3") // 1
local epochs = tonumber(arg[2] or "4") // 1
local train_size = tonumber(arg[3] or "8000") // 1
local plot = arg[4] ~= "" and arg[4] or nil
local SEQ, VOCAB, PAIRS = (arg[6] or "32:32:4"):match("^(%d+):(%d+):(%d+)$")
assert(SEQ, "SEQ:VOCAB:PAIRS takes three integers, e.g. 64:64:8")
SEQ, VOCAB, PAIRS = tonumber(SEQ) // 1, tonumber(VOCAB) // 1, tonumber(PAIRS) // 1

-- Mixer layers of each model: a pure mixer is used in both layers, a hybrid alternates.
local models = {
  { name = "attention", layers = { "attention", "attention" } },
  { name = "gru", layers = { "gru", "gru" } },
  { name = "lstm", layers = { "lstm", "lstm" } },
  { name = "linear_attention", layers = { "linear_attention", "linear_attention" } },
  { name = "gated_delta", layers = { "gated_delta", "gated_delta" } },
  { name = "mamba2", layers = { "mamba2", "mamba2" } },
  { name = "hybrid gd+swa", layers = { "gated_delta", "swa" } },
  { name = "hybrid mamba2+attn", layers = { "mamba2", "attention" } },
}
if arg[5] and arg[5] ~= "" and arg[5] ~= "all" then
  local keep = {}
  for m in arg[5]:gmatch("[^,]+") do keep[m] = true end
  local chosen = {}
  for _, m in ipairs(models) do if keep[m.name] then chosen[#chosen + 1] = m end end
  models = chosen
end

local function mixer_attrs(kind, d)
  if kind == "attention" then return "attention", { heads = 2, causal = true } end
  if kind == "swa" then return "attention", { heads = 2, causal = true, window = 16 } end
  if kind == "gru" or kind == "lstm" then return kind, { hidden = d } end
  if kind == "linear_attention" then return kind, { heads = 2 } end
  if kind == "gated_delta" then return kind, { heads = 2 } end
  if kind == "mamba2" then return kind, { heads = 4, state = 16 } end
  error("unknown mixer " .. kind)
end

-- tokens -> embedding -> [norm -> mixer -> add -> norm -> MLP -> add] x 2 -> norm -> logits
local function build(m, d)
  local c = circuit.new { name = m.name, symbols = { seq = SEQ } }
  c:input("tokens", { "batch", "seq" }, "i64")
  c:add("embed", "embedding", "tokens", { num = VOCAB, dim = d, out_axis = "d" })
  local prev = "embed"
  for i, kind in ipairs(m.layers) do
    local op, attrs = mixer_attrs(kind, d)
    c:add("norm" .. i, "rms_norm", prev)
    c:add("mix" .. i, op, "norm" .. i, attrs)
    c:add("res" .. i, "add", { prev, "mix" .. i })
    c:add("fnorm" .. i, "rms_norm", "res" .. i)
    c:add("up" .. i, "linear", "fnorm" .. i, { out = 2 * d, out_axis = "hidden" })
    c:add("act" .. i, "gelu", "up" .. i)
    c:add("down" .. i, "linear", "act" .. i, { out = d, out_axis = "d" })
    c:add("out" .. i, "add", { "res" .. i, "down" .. i })
    prev = "out" .. i
  end
  c:add("final", "rms_norm", prev)
  c:add("logits", "linear", "final", { out = VOCAB, out_axis = "vocab" })
  c:set_outputs({ "logits" })
  return c
end

-- The width whose parameter count is closest to `target` (widths divisible by 8, so every head
-- count above divides them).
local function matched(m, target)
  local best, best_d, best_gap
  for d = 16, 256, 8 do
    local c = build(m, d)
    local gap = math.abs(c:info().params - target)
    if not best_gap or gap < best_gap then best, best_d, best_gap = c, d, gap end
  end
  return best, best_d
end

local target = build({ name = "attention", layers = { "attention", "attention" } }, 64):info().params
print(("MQAR: seq %d, vocab %d, %d pairs; %d training sequences, %d epoch(s), seeds 1..%d; widths matched to %d params\n")
  :format(SEQ, VOCAB, PAIRS, train_size, epochs, seeds, target))
print(("%-20s %6s %9s %18s %9s"):format("model", "width", "params", "recall accuracy", "seconds"))

local rows = {}
for _, m in ipairs(models) do
  local c, d = matched(m, target)
  local accs, seconds = {}, 0
  for seed = 1, seeds do
    local data = circuit.data("mqar", { seed = seed, seq_len = SEQ, vocab = VOCAB, pairs = PAIRS, train_size = train_size,
                                        val_size = 1000, test_size = 1000 })
    local run = circuit.train(c, data, { epochs = epochs, batch = 64, lr = 3e-3, seed = seed, device = "cpu" })
    accs[#accs + 1] = run.model:evaluate(data, "test").accuracy
    seconds = seconds + run.seconds
  end
  local mean = 0
  for _, a in ipairs(accs) do mean = mean + a end
  mean = mean / #accs
  local var = 0
  for _, a in ipairs(accs) do var = var + (a - mean) ^ 2 end
  local std = #accs > 1 and math.sqrt(var / (#accs - 1)) or 0
  rows[#rows + 1] = { name = m.name, mean = mean, std = std }
  print(("%-20s %6s %9d %10.1f%% ± %4.1f %9.1f"):format(m.name, d, c:info().params, 100 * mean, 100 * std, seconds))
end

-- The published direction, checked on this run's means: each claim is printed with the mixers
-- it holds against and those it does not.
local by = {}
for _, r in ipairs(rows) do by[r.name] = r.mean end
local recurrent = { "gru", "lstm", "linear_attention", "gated_delta", "mamba2" }
local function claim(text, winner, rivals)
  if not by[winner] then return end
  local beats, not_beats = {}, {}
  for _, n in ipairs(rivals) do
    if by[n] and n ~= winner then
      if by[winner] > by[n] then beats[#beats + 1] = n else not_beats[#not_beats + 1] = n end
    end
  end
  if #beats + #not_beats == 0 then return end
  local verdict = #not_beats == 0 and "holds" or ("does NOT hold against " .. table.concat(not_beats, ", "))
  print(("%-62s %s"):format(text, verdict))
end
print("")
claim("attention recalls better than the pure recurrent mixers:", "attention", recurrent)
claim("hybrid gd+swa recalls better than the pure recurrent mixers:", "hybrid gd+swa", recurrent)
claim("hybrid mamba2+attn recalls better than the pure recurrent mixers:", "hybrid mamba2+attn", recurrent)
claim("gated delta recalls better than plain linear attention:", "gated_delta", { "linear_attention" })

if plot then
  -- Bars with ±1 std whiskers, one per model.
  local W, left, top, bar = 760, 150, 30, 28
  local H = top + #rows * (bar + 8) + 30
  local out = {}
  local function add(s) out[#out + 1] = s end
  add(('<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="DejaVu Sans" font-size="12">'):format(W, H))
  add(('<text x="%d" y="18" font-weight="bold">MQAR recall accuracy, %d seed(s), matched %d params</text>'):format(left, seeds, target))
  local scale = (W - left - 80)  -- room for the value after a full bar
  for i, r in ipairs(rows) do
    local y = top + (i - 1) * (bar + 8)
    add(('<text x="%d" y="%.1f" text-anchor="end">%s</text>'):format(left - 8, y + bar * 0.65, r.name))
    add(('<rect x="%d" y="%d" width="%.1f" height="%d" fill="#4a78b5"/>'):format(left, y, scale * r.mean, bar))
    local lo, hi = math.max(0, r.mean - r.std), math.min(1, r.mean + r.std)
    add(('<line x1="%.1f" x2="%.1f" y1="%.1f" y2="%.1f" stroke="black"/>'):format(left + scale * lo, left + scale * hi, y + bar / 2, y + bar / 2))
    add(('<text x="%.1f" y="%.1f">%.1f%%</text>'):format(left + scale * hi + 6, y + bar * 0.65, 100 * r.mean))
  end
  local axis_y = top + #rows * (bar + 8)
  add(('<line x1="%d" x2="%d" y1="%d" y2="%d" stroke="black"/>'):format(left, left + scale, axis_y, axis_y))
  for k = 0, 4 do
    local x = left + scale * k / 4
    add(('<text x="%.1f" y="%d" text-anchor="middle">%d%%</text>'):format(x, axis_y + 16, 25 * k))
  end
  add("</svg>")
  local f = assert(io.open(plot, "w"))
  f:write(table.concat(out, "\n"), "\n")
  f:close()
  print("\nwrote " .. plot)
end
