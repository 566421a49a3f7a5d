// Lua router plugins behind engine::Router. A router plugin is a table
//
//   { kind = "router", name = "...", description = "...",
//     route = function(logits, ctx) return { experts = [N,k] long, gates = [N,k] } end,
//     observe_load = function(kept_per_slot, ctx) end,    -- optional, training only
//     capacity = false,                                    -- optional: no capacity limit
//     parameters = function(ctx) return { w = tensor } end }  -- optional: learned, as ctx.params
//
// `route` may instead return flat `slot`, `token`, `gate` tensors (any number of assignments
// per token), and may add `probs` ([N, S]; default softmax(logits)) and `losses` (an array of
// scalar tensors added to the training loss). `ctx` is one table per MoE layer that lives as
// long as the model: the layer's settings plus `state`, a table the plugin may keep tensors in.
#include <cmath>
#include <torch/torch.h>

#include <stdexcept>
#include <string>

#include "binding.h"
#include "circuit/routers.h"
#include "engine/detail/router.h"
#include "engine_extension.h"
#include "detail/tensor.h"

namespace script {

namespace {

using at::Tensor;

// Pushes package.loaded.circuit.plugin(name) or throws.
void push_plugin(Host& host, const std::string& name) {
  lua_State* L = host.state();
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_getfield(L, -1, "circuit");
  lua_getfield(L, -1, "plugin");
  lua_remove(L, -2);
  lua_remove(L, -2);
  lua_pushlstring(L, name.data(), name.size());
  lua_pushliteral(L, "router");
  if (auto s = host.call(2, 1); !s) throw std::runtime_error(s.error);
}

class LuaRouter : public engine::Router {
 public:
  LuaRouter(Host& host, const std::string& name, const std::string& file, const engine::MoeConfig& c, torch::nn::Module& layer)
      : host_(host), L_(host.state()), name_(name), file_(file), c_(c) {
    add_linear_logits(c, layer);  // a Lua router routes the layer's learned logits
    push_plugin(host_, name_);
    int plugin = lua_gettop(L_);
    lua_getfield(L_, plugin, "capacity");
    limited_ = lua_isnil(L_, -1) || lua_toboolean(L_, -1);
    lua_pop(L_, 1);
    lua_getfield(L_, plugin, "observe_load");
    has_observe_ = lua_isfunction(L_, -1);
    lua_pop(L_, 1);
    plugin_ = luaL_ref(L_, LUA_REGISTRYINDEX);

    lua_createtable(L_, 0, 16);
    set_field(L_, "layer", c.name);
    set_field(L_, "k", c.k);
    set_field(L_, "experts", c.experts);
    set_field(L_, "slots", c.slots());
    set_field(L_, "features", c.d);
    auto number = [&](const char* key, double v) { lua_pushnumber(L_, v), lua_setfield(L_, -2, key); };
    number("capacity_factor", c.capacity_factor);
    number("aux_loss_coef", c.aux_coef);
    number("z_loss_coef", c.z_coef);
    number("bias_update_rate", c.bias_rate);
    set_field_bool(L_, "renormalize", c.renormalize);
    lua_newtable(L_);
    lua_setfield(L_, -2, "state");
    ctx_ = luaL_ref(L_, LUA_REGISTRYINDEX);
    register_parameters(layer);
  }
  ~LuaRouter() override {
    luaL_unref(L_, LUA_REGISTRYINDEX, plugin_);
    luaL_unref(L_, LUA_REGISTRYINDEX, ctx_);
  }

  engine::Routing route(const engine::RouterInput& in) override {
    int top = lua_gettop(L_);
    lua_rawgeti(L_, LUA_REGISTRYINDEX, plugin_);
    lua_getfield(L_, -1, "route");
    lua_remove(L_, -2);
    push_tensor(L_, in.logits);
    push_ctx(in);
    if (auto s = host_.call(2, 1); !s) throw std::runtime_error(where() + s.error);
    engine::Routing r;
    try {
      r = read_routing(in);
    } catch (...) {
      lua_settop(L_, top);
      throw;
    }
    lua_settop(L_, top);
    return r;
  }

  void observe_load(const Tensor& kept_per_slot) override {
    if (!has_observe_) return;
    lua_rawgeti(L_, LUA_REGISTRYINDEX, plugin_);
    lua_getfield(L_, -1, "observe_load");
    lua_remove(L_, -2);
    push_tensor(L_, kept_per_slot);
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ctx_);
    if (auto s = host_.call(2, 0); !s) throw std::runtime_error(where() + s.error);
  }

  bool limited_by_capacity() const override { return limited_; }

 private:
  // A plugin's `parameters(ctx)` returns {name = initial tensor}: they become learned parameters
  // of the MoE layer (the optimizer trains them, checkpoints carry them), reachable as ctx.params.
  void register_parameters(torch::nn::Module& layer) {
    lua_rawgeti(L_, LUA_REGISTRYINDEX, plugin_);
    lua_getfield(L_, -1, "parameters");
    lua_remove(L_, -2);
    if (lua_isnil(L_, -1)) return lua_pop(L_, 1);
    if (!lua_isfunction(L_, -1)) throw std::runtime_error(where() + "`parameters` must be a function returning {name = tensor}");
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ctx_);
    if (auto s = host_.call(1, 1); !s) throw std::runtime_error(where() + s.error);
    if (!lua_istable(L_, -1)) throw std::runtime_error(where() + "`parameters` must return a table {name = tensor}");
    int t = lua_gettop(L_);
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ctx_);
    lua_newtable(L_);  // ctx.params
    lua_pushnil(L_);
    while (lua_next(L_, t)) {
      if (lua_type(L_, -2) != LUA_TSTRING || !is_tensor(L_, -1))
        throw std::runtime_error(where() + "`parameters` must return a table {name = tensor}");
      std::string key = lua_tostring(L_, -2);
      Tensor p = layer.register_parameter("lua_" + key, check_tensor(L_, -1, "parameters", "value").detach().clone().to(torch::kFloat));
      lua_pop(L_, 1);
      lua_pushvalue(L_, -1);  // the key, for lua_next
      push_tensor(L_, p);
      lua_settable(L_, -4);   // params[key] = parameter
    }
    lua_setfield(L_, -2, "params");
    lua_pop(L_, 2);  // ctx, returned table
  }

  std::string where() const { return "router `" + name_ + "` (" + file_ + ") in MoE `" + c_.name + "`: "; }

  // Ids as floats were cast silently before (2.4 became expert 2): a router that computes them
  // as floats must round them itself.
  void refuse_fractional(const Tensor& ids, const char* key) {
    if (at::isFloatingType(ids.scalar_type()))
      throw std::runtime_error(where() + "`" + key + "` must hold integer ids (a long tensor), got a " + std::string(c10::toString(ids.scalar_type())) +
                               " tensor; round them and convert with :long()");
  }

  void push_ctx(const engine::RouterInput& in) {
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ctx_);
    set_field_bool(L_, "training", in.training);
    set_field(L_, "tokens", in.tokens);
    set_field(L_, "positions", in.positions);
  }

  Tensor field(int t, const char* key) {
    lua_getfield(L_, t, key);
    Tensor v;
    if (is_tensor(L_, -1)) v = check_tensor(L_, -1, "route", key);
    else if (!lua_isnil(L_, -1)) throw std::runtime_error(where() + "`" + key + "` must be a tensor, got " + type_phrase(L_, -1));
    lua_pop(L_, 1);
    return v;
  }

  engine::Routing read_routing(const engine::RouterInput& in) {
    if (!lua_istable(L_, -1)) throw std::runtime_error(where() + "`route` must return a table, got " + type_phrase(L_, -1));
    int t = lua_gettop(L_);
    int64_t n = in.tokens, s = c_.slots();
    engine::Routing r;
    Tensor experts = field(t, "experts"), gates = field(t, "gates");
    if (experts.defined() || gates.defined()) {
      if (!experts.defined() || !gates.defined()) throw std::runtime_error(where() + "return both `experts` and `gates` ([tokens, k])");
      if (experts.dim() != 2 || experts.size(0) != n || gates.sizes() != experts.sizes())
        throw std::runtime_error(where() + "`experts` and `gates` must both be [" + std::to_string(n) + ", k], got " +
                                 c10::str(experts.sizes()) + " and " + c10::str(gates.sizes()));
      int64_t k = experts.size(1);
      refuse_fractional(experts, "experts");
      r.slot = experts.to(torch::kLong).reshape({-1});
      r.token = engine::token_major(n, k);
      r.gate = gates.to(torch::kFloat).reshape({-1});
    } else {
      r.slot = field(t, "slot"), r.token = field(t, "token"), r.gate = field(t, "gate");
      if (!r.slot.defined() || !r.token.defined() || !r.gate.defined())
        throw std::runtime_error(where() + "`route` must return `experts` and `gates`, or `slot`, `token` and `gate`");
      if (r.slot.dim() != 1 || r.token.sizes() != r.slot.sizes() || r.gate.sizes() != r.slot.sizes())
        throw std::runtime_error(where() + "`slot`, `token` and `gate` must be 1-d and equally long");
      refuse_fractional(r.slot, "slot"), refuse_fractional(r.token, "token");
      r.slot = r.slot.to(torch::kLong), r.token = r.token.to(torch::kLong), r.gate = r.gate.to(torch::kFloat);
    }
    // One pass on the host instead of four reductions and four reads: this runs every step.
    // A NaN gate would surface later as "loss became NaN" with no word of the router.
    r.slot = r.slot.cpu().contiguous(), r.token = r.token.cpu().contiguous();
    Tensor gate = r.gate.detach().cpu().contiguous();
    const int64_t *slot = r.slot.data_ptr<int64_t>(), *token = r.token.data_ptr<int64_t>();
    const float* g = gate.data_ptr<float>();
    for (int64_t i = 0; i < r.slot.numel(); ++i) {
      if (!std::isfinite(g[i]))
        throw std::runtime_error(where() + "gates must be finite, got " + (std::isnan(g[i]) ? "NaN" : g[i] > 0 ? "inf" : "-inf") + " for token " + std::to_string(token[i]) +
                                 " (of " + std::to_string(r.slot.numel()) + " assignments)");
      if (slot[i] < 0 || slot[i] >= s)
        throw std::runtime_error(where() + "expert ids must be in 0.." + std::to_string(s - 1) + " (0-based), got " + std::to_string(slot[i]));
      if (token[i] < 0 || token[i] >= n)
        throw std::runtime_error(where() + "token ids must be in 0.." + std::to_string(n - 1) + ", got " + std::to_string(token[i]));
    }
    r.probs = field(t, "probs");
    if (!r.probs.defined()) r.probs = torch::softmax(in.logits, -1);
    lua_getfield(L_, t, "losses");
    if (lua_istable(L_, -1)) {
      lua_Integer count = luaL_len(L_, -1);
      for (lua_Integer i = 1; i <= count; ++i) {
        lua_rawgeti(L_, -1, i);
        if (!is_tensor(L_, -1)) throw std::runtime_error(where() + "losses[" + std::to_string(i) + "] must be a tensor");
        Tensor l = check_tensor(L_, -1, "route", "loss");
        if (l.numel() != 1) throw std::runtime_error(where() + "losses[" + std::to_string(i) + "] must be a scalar");
        r.losses.push_back(l.reshape({}));
        lua_pop(L_, 1);
      }
    }
    lua_pop(L_, 1);
    return r;
  }

  Host& host_;
  lua_State* L_;
  std::string name_, file_;
  engine::MoeConfig c_;
  int plugin_ = LUA_NOREF, ctx_ = LUA_NOREF;
  bool limited_ = true, has_observe_ = false;
};

}  // namespace

std::vector<std::string> register_lua_routers(Host& host) {
  std::vector<std::string> names;
  for (const PluginInfo& p : host.plugins()) {
    if (!p.ok() || p.kind != "router") continue;
    // To the IR a Lua router is a learned linear router (its own parameters are the plugin's).
    circuit::RouterKind kind;
    kind.name = p.name;
    if (auto s = circuit::add_router_kind(kind); !s) throw std::runtime_error(p.file + ": " + s.error);
    Host* h = &host;
    std::string name = p.name, file = p.file;
    engine::register_router(name, [h, name, file](const engine::MoeConfig& c, torch::nn::Module& layer) {
      return std::make_unique<LuaRouter>(*h, name, file, c, layer);
    });
    names.push_back(name);
  }
  return names;
}

}  // namespace script
