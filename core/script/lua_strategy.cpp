#include "lua_strategy.h"

#include <stdexcept>

#include "binding.h"
#include "search/strategy.h"

namespace script {

namespace {

class LuaStrategy : public search::BasicStrategy {
 public:
  LuaStrategy(Host& host, std::string name, std::string file, search::Problem problem, uint64_t seed, search::StrategyOptions options)
      : BasicStrategy(std::move(problem), seed, options), host_(host), L_(host.state()), name_(std::move(name)), file_(std::move(file)) {
    luaL_getsubtable(L_, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
    lua_getfield(L_, -1, "circuit");
    lua_getfield(L_, -1, "plugin");
    lua_remove(L_, -2);
    lua_remove(L_, -2);
    lua_pushlstring(L_, name_.data(), name_.size());
    lua_pushliteral(L_, "strategy");
    if (auto s = host_.call(2, 1); !s) throw std::runtime_error(s.error);
    plugin_ = luaL_ref(L_, LUA_REGISTRYINDEX);

    const search::Problem& p = problem_;
    lua_createtable(L_, 0, 6);
    lua_createtable(L_, int(p.cardinalities.size()), 0);
    for (size_t i = 0; i < p.cardinalities.size(); ++i) {
      lua_createtable(L_, 0, 2);
      set_field(L_, "name", i < p.names.size() ? p.names[i] : "dim" + std::to_string(i + 1));
      set_field(L_, "size", int64_t(p.cardinalities[i]));
      lua_rawseti(L_, -2, lua_Integer(i + 1));
    }
    lua_setfield(L_, -2, "dims");
    lua_createtable(L_, int(p.objectives.size()), 0);
    for (size_t i = 0; i < p.objectives.size(); ++i) {
      lua_createtable(L_, 0, 2);
      set_field(L_, "metric", p.objectives[i].metric);
      set_field(L_, "direction", p.objectives[i].direction == search::Direction::maximize ? "max" : "min");
      lua_rawseti(L_, -2, lua_Integer(i + 1));
    }
    lua_setfield(L_, -2, "objectives");
    lua_createtable(L_, int(p.constraints.size()), 0);
    for (size_t i = 0; i < p.constraints.size(); ++i) {
      lua_createtable(L_, 0, 3);
      set_field(L_, "metric", p.constraints[i].metric);
      if (p.constraints[i].min) lua_pushnumber(L_, *p.constraints[i].min), lua_setfield(L_, -2, "min");
      if (p.constraints[i].max) lua_pushnumber(L_, *p.constraints[i].max), lua_setfield(L_, -2, "max");
      lua_rawseti(L_, -2, lua_Integer(i + 1));
    }
    lua_setfield(L_, -2, "constraints");
    set_field(L_, "seed", int64_t(seed));
    lua_newtable(L_);
    lua_setfield(L_, -2, "state");
    lua_pushlightuserdata(L_, this);
    lua_pushcclosure(L_, &random, 1);
    lua_setfield(L_, -2, "random");
    ctx_ = luaL_ref(L_, LUA_REGISTRYINDEX);
  }
  ~LuaStrategy() override {
    luaL_unref(L_, LUA_REGISTRYINDEX, plugin_);
    luaL_unref(L_, LUA_REGISTRYINDEX, ctx_);
  }
  std::string name() const override { return name_; }

 protected:
  search::Point propose(search::Rng& rng) override {
    rng_ = &rng;
    int top = lua_gettop(L_);
    push_function("ask");
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ctx_);
    auto s = host_.call(1, 1);
    rng_ = nullptr;
    if (!s) throw std::runtime_error(where() + s.error);
    search::Point p;
    size_t dims = problem_.cardinalities.size();
    bool ok = lua_istable(L_, -1) && size_t(luaL_len(L_, -1)) == dims;
    for (size_t i = 0; ok && i < dims; ++i) {
      lua_rawgeti(L_, -1, lua_Integer(i + 1));
      int is_int = 0;
      lua_Integer v = lua_tointegerx(L_, -1, &is_int);
      lua_pop(L_, 1);
      ok = is_int && v >= 0 && v < problem_.cardinalities[i];
      p.choice.push_back(int(v));
    }
    lua_settop(L_, top);
    if (!ok) throw std::runtime_error(where() + "`ask` must return a table of " + std::to_string(dims) + " 0-based choice indices within each dimension's size");
    return p;
  }

  void learn(const search::Trial& t) override {
    push_function("tell");
    lua_createtable(L_, 0, 4);
    set_field(L_, "number", int64_t(t.number));
    set_field_bool(L_, "ok", t.ok);
    lua_createtable(L_, int(t.point.choice.size()), 0);
    for (size_t i = 0; i < t.point.choice.size(); ++i) lua_pushinteger(L_, t.point.choice[i]), lua_rawseti(L_, -2, lua_Integer(i + 1));
    lua_setfield(L_, -2, "point");
    lua_createtable(L_, 0, int(t.metrics.size()));
    for (auto& [k, v] : t.metrics) lua_pushnumber(L_, v), lua_setfield(L_, -2, k.c_str());
    lua_setfield(L_, -2, "metrics");
    lua_rawgeti(L_, LUA_REGISTRYINDEX, ctx_);
    if (auto s = host_.call(2, 0); !s) throw std::runtime_error(where() + s.error);
  }

 private:
  std::string where() const { return "strategy `" + name_ + "` (" + file_ + "): "; }

  void push_function(const char* fn) {
    lua_rawgeti(L_, LUA_REGISTRYINDEX, plugin_);
    lua_getfield(L_, -1, fn);
    lua_remove(L_, -2);
  }

  static int random_impl(lua_State* L) {
    auto* self = static_cast<LuaStrategy*>(lua_touserdata(L, lua_upvalueindex(1)));
    if (!self->rng_) throw LuaError("`ctx.random`: only available while `ask` runs");
    int64_t n = arg_integer(L, 1, "ctx.random", "n");
    if (n < 1) throw LuaError("`ctx.random`: n must be at least 1, got " + std::to_string(n));
    lua_pushinteger(L, self->rng_->below(int(n)));
    return 1;
  }
  static int random(lua_State* L) { return protect<random_impl>(L); }

  Host& host_;
  lua_State* L_;
  std::string name_, file_;
  int plugin_ = LUA_NOREF, ctx_ = LUA_NOREF;
  search::Rng* rng_ = nullptr;
};

}  // namespace

std::vector<std::string> register_lua_strategies(Host& host) {
  std::vector<std::string> names;
  for (const PluginInfo& p : host.plugins()) {
    if (!p.ok() || p.kind != "strategy") continue;
    Host* h = &host;
    std::string name = p.name, file = p.file;
    search::register_strategy(name, [h, name, file](search::Problem problem, uint64_t seed, search::StrategyOptions options) {
      return std::unique_ptr<search::Strategy>(std::make_unique<LuaStrategy>(*h, name, file, std::move(problem), seed, options));
    });
    names.push_back(name);
  }
  return names;
}

}  // namespace script
