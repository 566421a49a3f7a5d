-- DeepSeekMoE's claim at matched active parameters: fine-grained experts with shared experts beat
-- coarse experts (Dai et al. 2024, DeepSeekMoE: "fine-grained expert segmentation" and "shared
-- expert isolation" each lower the loss at the same compute). Here, on `text`, a 2-layer model
-- imported from Mixtral's config and shrunk:
--   coarse: 8 experts of width W, top-2 (Mixtral-like);
--   fine:   each expert cut into 4 of width W/4: 2 shared + top-6 of 30 routed (DeepSeekMoE-like),
-- the same total and active expert parameters. Three seeds each; validation loss and MaxVio
-- (mean over the second half of training), and whether the direction matches the claim.
--
--   circuit run scripts/fine_grained_moe.lua [EPOCHS] [SEEDS] [TEXT]
--
-- TEXT defaults to the `text` data set's file (the GPL, 35 KB: about 490 sequences of 64 bytes
-- for training), so the default 30 epochs are ~240 steps.
local circuit = require "circuit"

local epochs = tonumber(arg[1] or "30") // 1
local seeds = tonumber(arg[2] or "3") // 1
local text = arg[3]

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local coarse = circuit.import(here .. "/../tests/data/hf/full/mixtral-8x7b.json", { layers = 2, width = 64, vocab = 128, seq = 64 })
local width = coarse:get("layer0/ffn/gate", "out")

-- The fine-grained model: every MoE layer's experts cut into 4, 2 of the 32 always on.
local fine = coarse:copy()
for _, layer in ipairs({ "layer0", "layer1" }) do
  local moe = layer .. "/ffn"
  fine:set(moe, "experts", 30)
  fine:set(moe, "shared_experts", 2)
  fine:set(moe, "k", 6)
  fine:set(moe .. "/gate", "out", width // 4)
  fine:set(moe .. "/up", "out", width // 4)
end

local data = circuit.data("text", { circuit = coarse, text = text })
local ci, fi = coarse:info(), fine:info()
print(("coarse: %d params, %d active; fine + shared: %d params, %d active (expert width %d vs %d)"):format(
  ci.params, ci.active_params, fi.params, fi.active_params, width, width // 4))
print(("%s, %d epoch(s), seeds 1..%d\n"):format(data.protocol or "text", epochs, seeds))
print(("%-16s %6s %10s %10s %9s"):format("model", "seed", "val loss", "MaxVio", "seconds"))

local function run(name, c, seed)
  local vio, n, steps = 0, 0, 0
  local r = circuit.train(c, data, {
    epochs = epochs, batch = 64, seed = seed, lr = 3e-3,
    on_step = function(s) steps = s.total_steps end,
    on_expert_load = function(l)
      if steps > 0 and l.step > steps / 2 then vio, n = vio + l.max_vio, n + 1 end
    end,
  })
  local v = vio / math.max(n, 1)
  print(("%-16s %6d %10.4f %10.3f %9.1f"):format(name, seed, r.val_loss, v, r.seconds))
  return r.val_loss, v
end

local function mean_std(xs)
  local m = 0
  for _, x in ipairs(xs) do m = m + x end
  m = m / #xs
  local s = 0
  for _, x in ipairs(xs) do s = s + (x - m) ^ 2 end
  return m, #xs > 1 and math.sqrt(s / (#xs - 1)) or 0
end

local loss, vio = { coarse = {}, fine = {} }, { coarse = {}, fine = {} }
for seed = 1, seeds do
  loss.coarse[seed], vio.coarse[seed] = run("coarse top-2/8", coarse, seed)
  loss.fine[seed], vio.fine[seed] = run("fine 2+6/30", fine, seed)
end

local cm, cs = mean_std(loss.coarse)
local fm, fs = mean_std(loss.fine)
local cv = mean_std(vio.coarse)
local fv = mean_std(vio.fine)
print(("\nvalidation loss: coarse %.4f ± %.4f, fine + shared %.4f ± %.4f (mean ± std over %d seeds)"):format(cm, cs, fm, fs, seeds))
print(("MaxVio: coarse %.3f, fine + shared %.3f"):format(cv, fv))
local gap, noise = cm - fm, math.max(cs, fs)
local verdict
if gap > 2 * noise then
  verdict = "matches the published direction: fine-grained + shared is better, beyond seed noise"
elseif gap > 0 then
  verdict = "the published direction, but within seed noise (gap " .. ("%.4f"):format(gap) .. " vs std " .. ("%.4f"):format(noise) .. ")"
else
  verdict = "does NOT match the published direction at this scale (coarse is as good or better)"
end
print("verdict: " .. verdict)
