-- Entropy-switched routing (after DynMoLE): a token whose router distribution is uncertain
-- (Tsallis entropy of order 2 above a threshold) is routed softly to every expert, weighted by
-- its probabilities; a confident token goes to its top-k experts. An entropy penalty pushes
-- the router toward confident decisions. No built-in equivalent: a demonstration of what a
-- plugin can do with the tensor API.
--
-- The threshold is a fraction of the largest possible Tsallis entropy, 1 - 1/S.
local T = require("circuit").tensor

local threshold = 0.9     -- soft routing above 90 % of the maximum entropy
local penalty = 0.01      -- weight of the mean Tsallis entropy in the loss

return {
  kind = "router",
  name = "entropy_switch",
  description = "Soft routing for uncertain tokens, top-k for confident ones (Tsallis entropy switch).",
  route = function(logits, ctx)
    local n, s = ctx.tokens, ctx.slots
    local probs = logits:softmax(-1)
    local tsallis = 1 - probs:pow(2):sum(-1)              -- [N]
    local soft = tsallis:gt((1 - 1 / s) * threshold)     -- [N] bool
    local top_gates, top_experts = probs:topk(ctx.k, -1)
    top_gates = top_gates / top_gates:sum(-1, true)

    -- Flat assignments: every slot for soft tokens, k slots for the others.
    local all_token = T.arange(n):repeat_interleave(s)
    local all_slot = T.arange(s):reshape({ 1, s }):expand({ n, s }):reshape({ -1 })
    local keep_all = soft:repeat_interleave(s)
    local top_token = T.arange(n):repeat_interleave(ctx.k)
    local keep_top = soft:logical_not():repeat_interleave(ctx.k)
    local idx_all = keep_all:nonzero():reshape({ -1 })
    local idx_top = keep_top:nonzero():reshape({ -1 })
    local token = T.cat({ all_token:index_select(0, idx_all), top_token:index_select(0, idx_top) })
    local slot = T.cat({ all_slot:index_select(0, idx_all), top_experts:reshape({ -1 }):index_select(0, idx_top) })
    local gate = T.cat({ probs:reshape({ -1 }):index_select(0, idx_all), top_gates:reshape({ -1 }):index_select(0, idx_top) })
    local losses = {}
    if ctx.training then losses[1] = tsallis:mean() * penalty end
    return { slot = slot, token = token, gate = gate, probs = probs, losses = losses }
  end,
}
