-- A search space built in Lua over a circuit built in Lua, and a short random search through the
-- store. Arguments: the store path. Returns what the test checks.
local circuit = require "circuit"
local db = ...
local c = circuit.new { name = "tiny" }
c:input("image", { "batch", "channels:1", "height:28", "width:28" })
c:add("flat", "flatten", "image", { name = "pixels" })
c:add("fc1", "linear", "flat", { out = 32, out_axis = "hidden" })
c:add("act", "relu", "fc1")
c:add("logits", "linear", "act", { out = 10, out_axis = "class" })
c:set_outputs { "logits" }
local space = circuit.space {
  name = "widths", base = c,
  choices = { { name = "hidden", node = "fc1", attr = "out", values = { 16, 32, 64 } } },
  objectives = { { metric = "accuracy", direction = "max" }, { metric = "params", direction = "min" } },
  constraints = { { metric = "params", max = 60000 } },
}
local seen = {}
local r = circuit.search(space, circuit.data("fashion-mnist", { limit = 320, test_limit = 10 }), {
  study = "widths", db = db, strategy = "random", trials = 3, latency = false,
  on_trial = function(t) seen[#seen + 1] = t.describe end,
})
local wide = space:circuit({ 2 })
return { count = space:count(), ran = r.ran, finished = r.finished, front = #r.front, seen = #seen,
         first = seen[1], wide_params = wide:info().params, hv = r.hypervolume, label = space:dims()[1].labels[3] }
