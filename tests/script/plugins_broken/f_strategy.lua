return {
  kind = "strategy",
  name = "test_strategy",
  description = "validates only\nsecond line is not listed",
  ask = function() return {} end,
  tell = function() end,
}
