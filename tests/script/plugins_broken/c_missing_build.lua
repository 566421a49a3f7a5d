-- A block plugin without its `build` function.
return {
  kind = "block",
  name = "no_build",
  description = "has no build function",
}
