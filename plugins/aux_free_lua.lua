-- Auxiliary-loss-free load balancing (DeepSeek-V3) in Lua: a per-expert bias only chooses the
-- experts (top-k of probs + bias); the gates are the unbiased probabilities, so no gradient
-- reaches the bias. After each training step the bias moves toward under-loaded experts:
-- b_e += u * sign(mean load - load_e). The same as the built-in `aux_free` router.
-- The bias lives in ctx.state, one table per MoE layer (it is not saved in checkpoints).
local T = require("circuit").tensor

return {
  kind = "router",
  name = "aux_free_lua",
  description = "Aux-loss-free bias balancing, in Lua (same as built-in aux_free).",
  route = function(logits, ctx)
    ctx.state.bias = ctx.state.bias or T.zeros({ ctx.slots })
    local probs = logits:softmax(-1)
    local _, experts = (probs:detach() + ctx.state.bias):topk(ctx.k, -1)
    local gates = probs:gather(1, experts)
    if ctx.renormalize then gates = gates / gates:sum(-1, true) end
    local losses = {}
    if ctx.training and ctx.z_loss_coef > 0 then losses[1] = logits:logsumexp(-1):pow(2):mean() * ctx.z_loss_coef end
    return { experts = experts, gates = gates, probs = probs, losses = losses }
  end,
  observe_load = function(kept_per_slot, ctx)
    local load = kept_per_slot:narrow(0, 0, ctx.experts):float()
    local step = ((load:mean() - load):sign()) * ctx.bias_update_rate
    local bias = ctx.state.bias
    ctx.state.bias = T.cat({ bias:narrow(0, 0, ctx.experts) + step, bias:narrow(0, ctx.experts, ctx.slots - ctx.experts) })
  end,
}
