// The engine half of the Lua module: the tensor type, training from Lua with callbacks, and Lua
// router plugins against the built-in routers they mirror.
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <iterator>

#include "circuit/circuit_file.h"
#include "engine/model.h"
#include "engine/detail/router.h"
#include "helpers.h"
#include "script/engine_extension.h"
#include "script/detail/tensor.h"

namespace script::test {
namespace {

struct EngineHost : ::testing::Test {
  static void SetUpTestSuite() { install_engine_extension(); }
};

double number_field(lua_State* L, const char* key) {
  lua_getfield(L, -1, key);
  double v = lua_tonumber(L, -1);
  lua_pop(L, 1);
  return v;
}

TEST_F(EngineHost, TensorApiComputesWhatATenDoes) {
  Host h;
  auto s = eval_file(h, lua_dir() + "/tensors.lua");
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_STREQ(lua_tostring(h.state(), -1), "ok");
}

// Runs plugin `lua_kind`'s route and the built-in `cpp_kind`'s on the same logits.
struct RouterPair {
  std::unique_ptr<engine::Router> lua, cpp;
  torch::nn::Module lua_layer, cpp_layer;
};

RouterPair routers(Host& h, const std::string& lua_kind, const std::string& cpp_kind, engine::MoeConfig c) {
  RouterPair p;
  c.router = lua_kind;
  p.lua = engine::make_router(c, p.lua_layer);
  c.router = cpp_kind;
  p.cpp = engine::make_router(c, p.cpp_layer);
  return p;
}

void expect_same(const engine::Routing& a, const engine::Routing& b, const std::string& what) {
  ASSERT_TRUE(torch::equal(a.slot, b.slot)) << what;
  ASSERT_TRUE(torch::equal(a.token, b.token)) << what;
  EXPECT_TRUE(torch::allclose(a.gate, b.gate, 0, 1e-6)) << what << ": " << (a.gate - b.gate).abs().max().item<double>();
  EXPECT_TRUE(torch::allclose(a.probs, b.probs, 0, 1e-6)) << what;
  ASSERT_EQ(a.losses.size(), b.losses.size()) << what;
  for (size_t i = 0; i < a.losses.size(); ++i)
    EXPECT_NEAR(a.losses[i].item<double>(), b.losses[i].item<double>(), 1e-6) << what << " loss " << i;
}

TEST_F(EngineHost, LuaRoutersEqualTheBuiltInRouters) {
  Host h;
  h.load_plugins({source("plugins")});
  auto names = register_lua_routers(h);
  ASSERT_GE(names.size(), 3u);
  engine::MoeConfig c;
  c.name = "moe", c.d = 16, c.experts = 8, c.k = 2, c.aux_coef = 0.01, c.z_coef = 0.001, c.bias_rate = 0.01;
  torch::manual_seed(4);
  for (bool training : {false, true}) {
    auto p = routers(h, "topk_lua", "topk", c);
    engine::RouterInput in;
    in.logits = torch::randn({50, 8}, torch::requires_grad());
    in.tokens = 50, in.training = training;
    engine::Routing a = p.lua->route(in), b = p.cpp->route(in);
    expect_same(a, b, training ? "topk, training" : "topk");
    EXPECT_EQ(a.losses.size(), training ? 2u : 0u);
    if (training) {  // the Lua losses carry gradients to the logits like the built-in ones
      torch::Tensor ga = torch::autograd::grad({a.losses[0] + a.gate.sum()}, {in.logits})[0];
      torch::Tensor gb = torch::autograd::grad({b.losses[0] + b.gate.sum()}, {in.logits})[0];
      EXPECT_TRUE(torch::allclose(ga, gb, 1e-5, 1e-7));
    }
  }
  // Bias balancing: after the same loads, the same bias, so the same choices.
  auto p = routers(h, "aux_free_lua", "aux_free", c);
  engine::RouterInput in;
  in.tokens = 64, in.training = true;
  for (int step = 0; step < 6; ++step) {
    in.logits = torch::randn({64, 8});
    engine::Routing a = p.lua->route(in), b = p.cpp->route(in);
    expect_same(a, b, "aux_free step " + std::to_string(step));
    torch::Tensor load = torch::bincount(b.slot, {}, 8);
    p.lua->observe_load(load), p.cpp->observe_load(load);
  }
  torch::Tensor bias = p.cpp_layer.named_buffers()["selection_bias"];
  EXPECT_GT(bias.abs().sum().item<double>(), 0);  // the bias did move, so the comparison meant something
}

torch::Tensor example_logits() {
  torch::manual_seed(1);
  return torch::randn({40, 8}) * 3;
}

TEST_F(EngineHost, EntropySwitchRoutesUncertainTokensSoftly) {
  Host h;
  h.load_plugins({source("plugins")});
  register_lua_routers(h);
  engine::MoeConfig c;
  c.name = "moe", c.d = 16, c.experts = 8, c.k = 2, c.router = "entropy_switch";
  torch::nn::Module layer;
  auto r = engine::make_router(c, layer);
  engine::RouterInput in;
  in.logits = torch::cat({torch::zeros({5, 8}), example_logits()});  // 5 uniform (uncertain) tokens first
  in.tokens = 45, in.training = true;
  engine::Routing out = r->route(in);
  torch::Tensor per_token = torch::bincount(out.token, {}, 45);
  EXPECT_TRUE(torch::equal(per_token.narrow(0, 0, 5), torch::full({5}, 8, torch::kLong)));  // every expert
  EXPECT_LT(per_token.narrow(0, 5, 40).min().item<int64_t>(), 8);                           // confident ones: k
  EXPECT_EQ(per_token.narrow(0, 5, 40).min().item<int64_t>(), 2);
  torch::Tensor gate_sum = torch::zeros({45}).index_add(0, out.token, out.gate.detach());
  EXPECT_TRUE(torch::allclose(gate_sum, torch::ones({45}), 1e-5, 1e-6));
  ASSERT_EQ(out.losses.size(), 1u);
}

TEST_F(EngineHost, LuaRoutersTrainWhenSelectedByName) {
  for (std::string router : {"topk_lua", "aux_free_lua", "entropy_switch"}) {
    Host h;
    h.load_plugins({source("plugins")});
    register_lua_routers(h);
    auto s = eval_file(h, lua_dir() + "/train_router.lua", {router, source("resources/examples/moe_mlp.circuit.json")});
    ASSERT_TRUE(s.ok()) << router << ": " << s.error;
    lua_State* L = h.state();
    double first = number_field(L, "first"), last = number_field(L, "last");
    std::printf("%s: loss %.3f over the first 5 steps, %.3f over the last 5; test accuracy %.3f\n", router.c_str(), first, last,
                number_field(L, "accuracy"));
    EXPECT_LT(last, 0.7 * first) << router;
    EXPECT_EQ(integer_field(L, "steps"), 40) << router;
    EXPECT_EQ(integer_field(L, "loads"), 40) << router;  // one expert-load event per step reached Lua
    EXPECT_EQ(string_field(L, "status"), "finished");
    EXPECT_GT(number_field(L, "accuracy"), 0.4) << router;  // chance is 0.1
  }
}

// Runs Lua `body` (which gets moe_mlp's path as `f`) on a host with the routers of a plugin
// folder; leaves its one result on the stack.
void run_with_routers(Host& h, const std::string& folder, const std::string& body) {
  h.load_plugins({source(folder)});
  register_lua_routers(h);
  lua_State* L = h.state();
  std::string code = "local f = ... ; " + body;
  ASSERT_EQ(luaL_loadbufferx(L, code.data(), code.size(), "=driver", "t"), LUA_OK);
  lua_pushstring(L, source("resources/examples/moe_mlp.circuit.json").c_str());
  auto s = h.call(1, 1);
  ASSERT_TRUE(s.ok()) << s.error;
}

TEST_F(EngineHost, ALuaErrorInARouterStopsTheRunWithItsTraceback) {
  Host h;
  ASSERT_NO_FATAL_FAILURE(run_with_routers(h, "tests/script/plugins_router_error", R"(
    local circuit = require "circuit"
    local c = circuit.load(f)
    c:set("moe", "router", "broken_router")
    local ok, e = pcall(circuit.train, c, circuit.data("fashion-mnist", {limit = 640, test_limit = 10}), {epochs = 1})
    return {ok = ok, e = e, after = circuit.tensor.ones({2}):sum():item()})"));
  lua_State* L = h.state();
  std::string e = string_field(L, "e");
  EXPECT_NE(e.find("router `broken_router`"), std::string::npos) << e;
  EXPECT_NE(e.find("broken_router.lua:5: expert table exhausted"), std::string::npos) << e;
  EXPECT_NE(e.find("stack traceback"), std::string::npos) << e;
  EXPECT_EQ(number_field(L, "after"), 2);  // the state still works after the failed run
}

TEST_F(EngineHost, ARouterReturningNanGatesOrFloatIdsIsNamed) {
  Host h;
  ASSERT_NO_FATAL_FAILURE(run_with_routers(h, "tests/script/plugins_router_bad", R"(
    local circuit = require "circuit"
    local out = {}
    for _, router in ipairs{"nan_gates", "float_ids"} do
      local c = circuit.load(f)
      c:set("moe", "router", router)
      local ok, e = pcall(circuit.train, c, circuit.data("fashion-mnist", {limit = 640, test_limit = 10}), {epochs = 1})
      out[router] = ok and "trained" or tostring(e)
    end
    return out)"));
  lua_State* L = h.state();
  std::string nan = string_field(L, "nan_gates"), flt = string_field(L, "float_ids");
  EXPECT_NE(nan.find("router `nan_gates`"), std::string::npos) << nan;
  EXPECT_NE(nan.find("gates must be finite, got NaN for token 0"), std::string::npos) << nan;
  EXPECT_EQ(nan.find("loss became NaN"), std::string::npos) << nan;
  EXPECT_NE(flt.find("router `float_ids`"), std::string::npos) << flt;
  EXPECT_NE(flt.find("`experts` must hold integer ids (a long tensor), got a Float tensor"), std::string::npos) << flt;
}

TEST_F(EngineHost, OnStepCanStopARun) {
  Host h;
  std::string code = "local f = ... ; " + std::string(R"(
    local circuit = require "circuit"
    local c = circuit.load(f)
    local run = circuit.train(c, circuit.data("fashion-mnist", {limit = 640, test_limit = 10}), {
      epochs = 3, on_step = function(s) return s.step >= 4 end })
    return {status = run.status, steps = run.steps})");
  lua_State* L = h.state();
  ASSERT_EQ(luaL_loadbufferx(L, code.data(), code.size(), "=driver", "t"), LUA_OK);
  lua_pushstring(L, source("resources/examples/mlp.circuit.json").c_str());
  auto s = h.call(1, 1);
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(string_field(L, "status"), "stopped");
  EXPECT_EQ(integer_field(L, "steps"), 4);
}

// A 159-billion-parameter circuit: compile and train refuse it with the budget message, before any
// weight is allocated (the weights alone would need 636 GB; an attempt would be killed or throw).
TEST_F(EngineHost, OverBudgetCircuitsAreRefusedBeforeAllocating) {
  Host h;
  std::string code = "local f = ... ; " + std::string(R"(
    local circuit = require "circuit"
    local c = circuit.load(f)
    local ok1, compile_err = pcall(circuit.compile, c)
    local ok2, train_err = pcall(circuit.train, c, circuit.data("fashion-mnist", {limit = 64, test_limit = 10}), {})
    return {compiled = ok1, trained = ok2, compile_err = tostring(compile_err), train_err = tostring(train_err)})");
  lua_State* L = h.state();
  ASSERT_EQ(luaL_loadbufferx(L, code.data(), code.size(), "=driver", "t"), LUA_OK);
  lua_pushstring(L, source("tests/data/over_budget.circuit.json").c_str());
  auto s = h.call(1, 1);
  ASSERT_TRUE(s.ok()) << s.error;
  lua_getfield(L, -1, "compiled");
  EXPECT_FALSE(lua_toboolean(L, -1));
  lua_pop(L, 1);
  lua_getfield(L, -1, "trained");
  EXPECT_FALSE(lua_toboolean(L, -1));
  lua_pop(L, 1);
  std::string compile_err = string_field(L, "compile_err"), train_err = string_field(L, "train_err");
  // The script's native memory limit (80 % of the RAM available, as the engine's budget) refuses it first, from the cost model.
  EXPECT_NE(compile_err.find("`circuit.compile` of a model with 159000000010 parameters needs 592.3 GiB"), std::string::npos) << compile_err;
  EXPECT_NE(compile_err.find("its native memory limit is"), std::string::npos) << compile_err;
  // Training asks for weights, gradients, Adam's moments and activations at batch 64: 16 bytes a
  // parameter, 2.4 TB.
  EXPECT_NE(train_err.find("`circuit.train` of a model with 159000000010 parameters (weights, gradients, optimizer state and activations at batch 64) needs 2.4 TiB"),
            std::string::npos)
      << train_err;
  EXPECT_NE(train_err.find("its native memory limit is"), std::string::npos) << train_err;
}

TEST_F(EngineHost, ALuaRouterCanLearnParametersOfItsOwn) {
  Host h;
  h.load_plugins({source("tests/script/plugins_learned")});
  register_lua_routers(h);
  std::string code = "local f = ... ; " + std::string(R"(
    local circuit = require "circuit"
    local c = circuit.load(f)
    local before = circuit.compile(c, 1):params()
    c:set("moe", "router", "temperature_router")
    local m0 = circuit.compile(c, 1)
    local run = circuit.train(c, circuit.data("fashion-mnist", {limit = 640, test_limit = 10}), {epochs = 1})
    return {before = before, with = m0:params(), status = run.status})");
  lua_State* L = h.state();
  ASSERT_EQ(luaL_loadbufferx(L, code.data(), code.size(), "=driver", "t"), LUA_OK);
  lua_pushstring(L, source("resources/examples/moe_mlp.circuit.json").c_str());
  auto s = h.call(1, 1);
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(integer_field(L, "with"), integer_field(L, "before") + 8);  // one temperature per slot
  EXPECT_EQ(string_field(L, "status"), "finished");

  // The parameter is the layer's and gets a gradient through the Lua code.
  auto c = circuit::load_circuit(source("resources/examples/moe_mlp.circuit.json"));
  ASSERT_TRUE(c.ok());
  for (auto& n : c->graph.nodes)
    if (n.op == "moe") n.attrs["router"] = std::string("temperature_router");
  auto m = engine::Model::compile(*c, 2);
  ASSERT_TRUE(m.ok()) << m.error().message;
  torch::Tensor t;
  for (auto& p : (*m)->module().named_parameters())
    if (p.key().find("lua_inv_temperature") != std::string::npos) t = p.value();
  ASSERT_TRUE(t.defined());
  (*m)->set_training(true);
  (*m)->forward({torch::randn({16, 1, 28, 28})})[0].pow(2).sum().backward();
  ASSERT_TRUE(t.grad().defined());
  EXPECT_GT(t.grad().abs().sum().item<double>(), 0);
}

TEST_F(EngineHost, ASearchSpaceBuiltInLuaRunsAStudy) {
  Host h;
  std::string db = std::string(CIRCUIT_BINARY_DIR) + "/lua_search_test.sqlite";
  std::remove(db.c_str());
  auto s = eval_file(h, lua_dir() + "/search.lua", {db});
  ASSERT_TRUE(s.ok()) << s.error;
  lua_State* L = h.state();
  EXPECT_EQ(integer_field(L, "count"), 3);
  EXPECT_EQ(integer_field(L, "ran"), 3);
  EXPECT_EQ(integer_field(L, "finished"), 3);  // all three widths fit under 60k params
  EXPECT_EQ(integer_field(L, "seen"), 3);
  EXPECT_NE(string_field(L, "first").find("hidden="), std::string::npos);
  EXPECT_GE(integer_field(L, "front"), 1);
  EXPECT_EQ(integer_field(L, "wide_params"), 784 * 64 + 64 + 64 * 10 + 10);
  EXPECT_EQ(string_field(L, "label"), "64");
  EXPECT_GT(number_field(L, "hv"), 0);
  // The study is in the store: running again resumes it (no new trial: every point is done).
  Host again;
  s = eval_file(again, lua_dir() + "/search.lua", {db});
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(integer_field(again.state(), "ran"), 0);
}

TEST_F(EngineHost, DataTakesATokenModelsSizesFromItsCircuit) {
  Host h;
  std::string code = "local circuit = require 'circuit'; local c = circuit.load('" + source("resources/examples/mamba2_hybrid.circuit.json") + "')" +
                     R"(
    local small = {train_size = 32, val_size = 8, test_size = 8}
    local function with(extra)
      local o = {circuit = c}
      for k, v in pairs(small) do o[k] = v end
      for k, v in pairs(extra) do o[k] = v end
      return circuit.data("mqar", o):info()
    end
    local ok, e = pcall(circuit.data, "mqar", {circuit = 3})
    return {sized = with({}).classes, given = with({vocab = 100}).classes, plain = circuit.data("mqar", small):info().classes, e = e})";
  auto s = eval(h, code);
  ASSERT_TRUE(s.ok()) << s.error;
  lua_State* L = h.state();
  EXPECT_EQ(number_field(L, "sized"), 128);  // the example's vocabulary
  EXPECT_EQ(number_field(L, "given"), 100);  // an explicit option wins
  EXPECT_EQ(number_field(L, "plain"), 64);   // without a circuit: the default
  EXPECT_NE(string_field(L, "e").find("option `circuit` must be a circuit, got an integer"), std::string::npos) << string_field(L, "e");
}

TEST_F(EngineHost, RenderWritesADiagramFromLua) {
  Host h;
  std::string out = std::string(CIRCUIT_BINARY_DIR) + "/lua_render.svg";
  std::remove(out.c_str());
  std::string code = "local circuit = require 'circuit'; local c = circuit.load('" + source("resources/examples/mlp.circuit.json") +
                     "'); c:render('" + out + "', {overlay = 'params'}); return pcall(c.render, c, 'x.txt')";
  auto s = eval(h, code);
  ASSERT_TRUE(s.ok()) << s.error;
  std::ifstream f(out);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find("<svg"), std::string::npos);
  EXPECT_GT(text.size(), 10000u);
}

}  // namespace
}  // namespace script::test
