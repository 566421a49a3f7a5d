return {
  kind = "block",
  name = "oops" "missing comma",
  description = "never loads",
}
