-- The smallest valid router plugin: validation only (real routers need the tensor type).
return {
  kind = "router",
  name = "test_router",
  description = "validates only",
  route = function(logits, k) return logits end,
}
