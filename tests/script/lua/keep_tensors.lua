-- Keeps 64 MiB tensors until the native memory limit stops it (circuit run --memory).
local circuit = require "circuit"
local kept = {}
for i = 1, 1000 do kept[i] = circuit.tensor.ones{4096, 4096} end
