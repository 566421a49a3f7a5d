-- resources/examples/mlp.circuit.json, built through the circuit module.
local circuit = require "circuit"
local c = circuit.new { name = "mlp", doc = "Two-hidden-layer MLP for Fashion-MNIST (28x28 grey images, 10 classes)." }
c:input("image", { "batch", "channels:1", "height:28", "width:28" })
c:add("flat", "flatten", "image", { name = "pixels" })
c:add("fc1", "linear", { "flat" }, { out = 256, out_axis = "hidden" })
c:add("act1", "relu", { "fc1" })
c:add("fc2", "linear", { "act1" }, { out = 128, out_axis = "hidden" })
c:add("act2", "relu", { "fc2" })
c:add("logits", "linear", { "act2" }, { out = 10, out_axis = "class" })
c:set_outputs { "logits" }
return c
