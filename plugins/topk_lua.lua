-- Top-k softmax routing with the switch load-balancing loss and the router z-loss, written in
-- Lua against the same interface as the built-in `topk` router (and equal to it: the tests
-- compare assignments and gates). Select it with router = "topk_lua" on an moe node.
--
-- route(logits [N, S], ctx) -> { experts [N, k] long, gates [N, k], probs [N, S], losses }
-- Expert ids are 0-based, as in the engine.
return {
  kind = "router",
  name = "topk_lua",
  description = "Top-k softmax routing with switch aux loss and z-loss, in Lua (same as built-in topk).",
  route = function(logits, ctx)
    local probs = logits:softmax(-1)
    local gates, experts = probs:topk(ctx.k, -1)
    if ctx.renormalize then gates = gates / gates:sum(-1, true) end
    local losses = {}
    if ctx.training then
      if ctx.aux_loss_coef > 0 then
        -- alpha * S * sum_e f_e * P_e: f counts assignments (no gradient), P carries the gradient.
        local f = experts:reshape({-1}):bincount(ctx.slots):float() / experts:numel()
        losses[#losses + 1] = (f * probs:mean(0)):sum() * (ctx.aux_loss_coef * ctx.slots)
      end
      if ctx.z_loss_coef > 0 then
        losses[#losses + 1] = logits:logsumexp(-1):pow(2):mean() * ctx.z_loss_coef
      end
    end
    return { experts = experts, gates = gates, probs = probs, losses = losses }
  end,
}
