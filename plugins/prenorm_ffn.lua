-- Pre-norm residual feed-forward block: y = x + down(act(up(norm(x)))), or with `glu = true`
-- the gated form y = x + down(act(gate(norm(x))) * up(norm(x))) (SwiGLU with silu, GeGLU with gelu).
--
--   local ffn = circuit.plugin("prenorm_ffn", "block")
--   c:add("ffn1", "block", {"x"}, {}, ffn.build{shape = c:shape("x"), hidden = 512, glu = true})
local circuit = require "circuit"

local function feature_axis(shape)
  local last = shape[#shape]
  local name, size = tostring(last):match("^([%w_]+):(%d+)$")
  if not name then
    error(("prenorm_ffn: the last axis of `shape` must have a concrete size like \"d_model:128\", got %q"):format(tostring(last)), 3)
  end
  return name, tonumber(size) // 1
end

return {
  kind = "block",
  name = "prenorm_ffn",
  description = "Pre-norm residual FFN block x + ffn(norm(x)); GLU-gated with glu = true.",
  params = {
    shape = "input axes, e.g. {\"batch\", \"seq\", \"d_model:128\"} (the last one is the feature axis)",
    hidden = "hidden size (default 4 x features)",
    activation = "gelu (default), relu or silu",
    glu = "gated linear unit: act(gate) * up (default false)",
    norm = "rms_norm (default) or layer_norm",
    bias = "biases on the linear layers (default: true, false with glu)",
  },
  build = function(p)
    assert(type(p) == "table" and type(p.shape) == "table", "prenorm_ffn: build{shape = ..., hidden = ...} needs `shape`")
    local axis, d = feature_axis(p.shape)
    local hidden = p.hidden or 4 * d
    local act = p.activation or "gelu"
    local bias = p.bias
    if bias == nil then bias = not p.glu end
    local b = circuit.new { name = "prenorm_ffn" }
    b:input("x", p.shape)
    b:add("norm", p.norm or "rms_norm", { "x" })
    local mixed
    if p.glu then
      b:add("gate", "linear", { "norm" }, { out = hidden, out_axis = "hidden", bias = bias })
      b:add("act", act, { "gate" })
      b:add("up", "linear", { "norm" }, { out = hidden, out_axis = "hidden", bias = bias })
      b:add("mix", "multiply", { "act", "up" })
      mixed = "mix"
    else
      b:add("up", "linear", { "norm" }, { out = hidden, out_axis = "hidden", bias = bias })
      b:add("act", act, { "up" })
      mixed = "act"
    end
    b:add("down", "linear", { mixed }, { out = d, out_axis = axis, bias = bias })
    b:add("res", "add", { "x", "down" })
    b:set_outputs { "res" }
    return b
  end,
}
