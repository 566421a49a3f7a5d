-- A router that returns expert ids as floats: refused, not silently truncated.
return {
  kind = "router", name = "float_ids", description = "expert ids as a float tensor",
  route = function(logits, ctx)
    local g, e = logits:softmax(-1):topk(ctx.k, -1)
    return { experts = e:float() + 0.4, gates = g }
  end,
}
