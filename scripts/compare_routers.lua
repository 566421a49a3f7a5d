-- Router comparison: the same MoE classifier (resources/examples/moe_mlp.circuit.json, 8
-- experts, top-2) trained with each router on the same Fashion-MNIST subset and seed; prints
-- test accuracy and expert-load balance (mean MaxVio and experts per token over the last half
-- of training) as a table.
--
--   circuit run scripts/compare_routers.lua [LIMIT] [EPOCHS] [ROUTER,...]
local circuit = require "circuit"

local limit = tonumber(arg[1] or "6400") // 1
local epochs = tonumber(arg[2] or "1") // 1
local routers = {}
for r in (arg[3] or "topk,aux_free,relu,topk_lua,aux_free_lua,entropy_switch"):gmatch("[^,]+") do routers[#routers + 1] = r end

local here = arg[0]:match("^(.*)/[^/]*$") or "."
local base = circuit.load(here .. "/../resources/examples/moe_mlp.circuit.json")
local data = circuit.data("fashion-mnist", { limit = limit })
print(("%d training images, %d epoch(s), seed 1\n"):format(limit, epochs))
print(("%-16s %9s %9s %10s %14s %9s"):format("router", "accuracy", "val loss", "MaxVio", "experts/token", "seconds"))
for _, router in ipairs(routers) do
  local c = base:copy()
  c:set("moe", "router", router)
  local vio, active, n, steps = 0, 0, 0, 0
  local run = circuit.train(c, data, {
    epochs = epochs, batch = 64, seed = 1,
    on_step = function(s) steps = s.total_steps end,
    on_expert_load = function(l)
      if steps > 0 and l.step > steps / 2 then vio, active, n = vio + l.max_vio, active + l.active_per_token, n + 1 end
    end,
  })
  local test = run.model:evaluate(data, "test")
  print(("%-16s %8.2f%% %9.4f %10.3f %14.2f %9.1f"):format(router, 100 * test.accuracy, run.val_loss, vio / math.max(n, 1),
    active / math.max(n, 1), run.seconds))
end
