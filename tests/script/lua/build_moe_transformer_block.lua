-- resources/examples/moe_transformer_block.circuit.json: the FFN is an MoE node whose body is
-- one SwiGLU expert. The expert is built in place, through paths ("moe/gate"), to exercise both
-- ways of filling a body.
local circuit = require "circuit"
local c = circuit.new {
  name = "moe_transformer_block",
  doc = "Transformer block whose FFN is a mixture of 8 SwiGLU experts (top-2, one shared expert, switch aux loss).",
}
c:set_symbol("seq", 64)
local x = { "batch", "seq", "d_model:128" }
c:input("x", x)
c:add("ln1", "rms_norm", { "x" })
c:add("attn", "attention", { "ln1" }, { causal = true, heads = 4 })
c:add("res1", "add", { "x", "attn" })
c:add("ln2", "rms_norm", { "res1" })
local expert = circuit.new()
expert:input("x", x)
c:add("moe", "moe", { "ln2" }, {
  aux_loss_coef = 0.01, capacity_factor = 1.25, experts = 8, k = 2,
  router = "topk", shared_experts = 1, z_loss_coef = 0.001,
}, expert)
c:add("moe/gate", "linear", { "x" }, { bias = false, out = 256, out_axis = "hidden" })
c:add("moe/act", "silu", { "gate" })
c:add("moe/up", "linear", { "x" }, { bias = false, out = 256, out_axis = "hidden" })
c:add("moe/mix", "multiply", { "act", "up" })
c:add("moe/down", "linear", { "mix" }, { bias = false, out = 128, out_axis = "d_model" })
c:set_outputs({ "down" }, "moe")
c:add("res2", "add", { "res1", "moe" })
c:set_outputs { "res2" }
return c
