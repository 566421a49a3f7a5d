-- Proposes a point with one dimension too few: the search must stop with a clear message.
return {
  kind = "strategy", name = "bad_strategy", description = "returns a short point",
  ask = function(ctx) return { 0 } end,
  tell = function(trial, ctx) end,
}
