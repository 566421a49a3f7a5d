-- Trains moe_mlp (the file named by the second argument) with the router named by the first on a Fashion-MNIST subset and
-- returns the mean loss of the first and the last 5 steps, and what stopping returned.
local circuit = require "circuit"
local router, example = ...
local c = circuit.load(example)
c:set("moe", "router", router)
local data = circuit.data("fashion-mnist", { limit = 1280, test_limit = 200 })
local losses, loads = {}, 0
local run = circuit.train(c, data, {
  epochs = 2, batch = 64, lr = 3e-3, seed = 3,
  on_step = function(s) losses[#losses + 1] = s.loss end,
  on_expert_load = function(l) loads = loads + 1; assert(#l.tokens_per_expert == 8) end,
})
local function mean(a, b) local s = 0; for k = a, b do s = s + losses[k] end; return s / (b - a + 1) end
local eval = run.model:evaluate(data, "test")
return { first = mean(1, 5), last = mean(#losses - 4, #losses), steps = run.steps, status = run.status, loads = loads,
         accuracy = eval.accuracy }
