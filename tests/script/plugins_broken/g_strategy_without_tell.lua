return {
  kind = "strategy",
  name = "half_strategy",
  description = "ask but no tell",
  ask = function() return {} end,
  tell = "not a function",
}
