-- A router whose gates become NaN at its third call: the run must stop naming this router.
local calls = 0
return {
  kind = "router", name = "nan_gates", description = "NaN gates from its third call",
  route = function(logits, ctx)
    calls = calls + 1
    local g, e = logits:softmax(-1):topk(ctx.k, -1)
    if calls >= 3 then g = g * (0 / 0) end
    return { experts = e, gates = g }
  end,
}
