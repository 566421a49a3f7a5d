-- A script that fails two calls deep: the error names this file and line 4, with a traceback.
local circuit = require "circuit"
local function inner(c)
  c:add("fc", "linear", { "x" }, { out = "wide" })
end
local function outer()
  local c = circuit.new { name = "broken" }
  c:input("x", { "batch", "d:8" })
  inner(c)
end
outer()
