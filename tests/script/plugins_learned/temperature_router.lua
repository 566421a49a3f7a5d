-- Top-k routing with a learned temperature per expert: a router with parameters of its own.
local T = require("circuit").tensor
return {
  kind = "router", name = "temperature_router", description = "top-k with a learned per-expert temperature",
  parameters = function(ctx) return { inv_temperature = T.ones({ ctx.slots }) } end,
  route = function(logits, ctx)
    local probs = (logits * ctx.params.inv_temperature):softmax(-1)
    local gates, experts = probs:topk(ctx.k, -1)
    return { experts = experts, gates = gates / gates:sum(-1, true), probs = probs }
  end,
}
