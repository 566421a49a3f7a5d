-- resources/examples/transformer_block.circuit.json: the FFN is a block (a nested graph).
local circuit = require "circuit"
local c = circuit.new {
  name = "transformer_block",
  doc = "Pre-norm transformer block: causal attention and a GELU FFN, each with a residual.",
  symbols = { seq = 64 },
}
local x = { "batch", "seq", "d_model:128" }
c:input("x", x)
c:add("ln1", "layer_norm", { "x" })
c:add("attn", "attention", { "ln1" }, { causal = true, heads = 4 })
c:add("res1", "add", { "x", "attn" })
c:add("ln2", "layer_norm", { "res1" })
local ffn = circuit.new()
ffn:input("x", x)
ffn:add("up", "linear", { "x" }, { out = 512, out_axis = "hidden" })
ffn:add("act", "gelu", { "up" })
ffn:add("down", "linear", { "act" }, { out = 128, out_axis = "d_model" })
ffn:set_outputs { "down" }
c:add("ffn", "block", { "ln2" }, {}, ffn)
c:add("res2", "add", { "res1", "ffn" })
c:set_outputs { "res2" }
return c
