-- Builds a small MLP (optionally with a pre-norm FFN block from the plugin), prints what the
-- analysis says about it, and shows that edits undo.
--
--   circuit run scripts/build_mlp.lua [HIDDEN] [OUT.circuit.json]
local circuit = require "circuit"

local hidden = math.tointeger(tonumber(arg[1] or "256")) or error("HIDDEN must be an integer, got " .. tostring(arg[1]))
local c = circuit.new { name = "mlp_from_lua", doc = "An MLP built by scripts/build_mlp.lua." }
c:input("image", { "batch", "channels:1", "height:28", "width:28" })
c:add("flat", "flatten", "image", { name = "pixels" })
c:add("fc1", "linear", "flat", { out = hidden, out_axis = "hidden" })
c:add("act1", "relu", "fc1")
-- A residual FFN block from the shipped `block` plugin, fitted to fc1's output.
local ffn = circuit.plugin("prenorm_ffn", "block")
c:add("ffn", "block", "act1", {}, ffn.build { shape = c:shape("act1"), hidden = 2 * hidden })
c:add("logits", "linear", "ffn", { out = 10, out_axis = "class" })
c:set_outputs { "logits" }

local function report(title)
  local i = c:info()
  print(("%s: %d nodes, %d params, %d FLOPs per example, ok = %s"):format(title, i.nodes, i.params, i.flops, tostring(i.ok)))
end

for _, path in ipairs(c:nodes()) do
  local n = c:node(path)
  local out = n.outputs[1] and table.concat(n.outputs[1], " ") or "?"
  print(("  %-8s %-8s [%s]  %d params"):format(path, n.op, out, n.params))
end
report("built")
c:set("fc1", "out", 2 * hidden)
report("fc1 doubled")
for _, d in ipairs(c:diagnostics()) do print("  problem: " .. d.message) end
local _, what = c:undo()
report("undid `" .. what .. "`")
if arg[2] then
  c:save(arg[2])
  print("saved " .. arg[2])
end
