-- A router that fails at its third call: training must stop with this file's line and a traceback.
local calls = 0
local function pick(logits, ctx)
  calls = calls + 1
  if calls == 3 then error("expert table exhausted") end
  local g, e = logits:softmax(-1):topk(ctx.k, -1)
  return { experts = e, gates = g }
end
return {
  kind = "router", name = "broken_router", description = "fails on its third call",
  route = function(logits, ctx) return pick(logits, ctx) end,
}
