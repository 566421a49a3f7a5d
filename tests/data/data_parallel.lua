-- Run by `circuit run --nproc 2` (test lua.data_parallel): every rank's circuit.train joins the
-- two ranks; 1280 examples at 64 per rank are 10 global steps, and validation is reduced over
-- ranks, so both ranks report the same accuracy.
local circuit = require "circuit"
local c = circuit.load("resources/examples/mlp.circuit.json")
local d = circuit.data("fashion-mnist", {limit = 1280})
local r = circuit.train(c, d, {batch = 64, device = "cpu", seed = 1})
assert(r.ranks == 2, "expected 2 ranks, got " .. r.ranks)
assert(r.steps == 10, "expected 10 global steps, got " .. r.steps)
print(string.format("rank %d of %d: %s, %d steps, val accuracy %.4f", r.rank, r.ranks, r.status, r.steps, r.val_accuracy))
