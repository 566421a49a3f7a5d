#include "search_functions.h"

#include "engine/distributed.h"

#include <filesystem>
#include <memory>

#include "base/file.h"
#include "binding.h"
#include "circuit/circuit_file.h"
#include "base/json.h"
#include "circuit_module.h"
#include "engine_extension.h"
#include "host.h"
#include "search/report.h"
#include "search/space.h"
#include "search/strategy.h"
#include "search/study.h"
#include "search/pipeline.h"
#include "search/trial_runner.h"
#include "store/store.h"

namespace script {

namespace {

constexpr const char* kSpaceType = "circuit.SearchSpace";

struct SpaceBox {
  std::shared_ptr<search::Space> space;
  std::string text;  // the spec as JSON, base circuit inline (what a study stores)
};

// A Lua value as JSON: tables with only 1..n keys are arrays, others objects; a circuit object
// becomes its JSON (so `base = c` works).
base::Json to_json(lua_State* L, int idx, int depth = 0) {
  using base::Json;
  idx = lua_absindex(L, idx);
  if (depth > 64) throw LuaError("`circuit.space`: the spec table nests too deep");
  switch (lua_type(L, idx)) {
    case LUA_TBOOLEAN: return Json::boolean(lua_toboolean(L, idx));
    case LUA_TNUMBER: return lua_isinteger(L, idx) ? Json::integer(lua_tointeger(L, idx)) : Json::number(lua_tonumber(L, idx));
    case LUA_TSTRING: return Json::string(lua_tostring(L, idx));
    case LUA_TUSERDATA:
      if (circuit::Document* d = to_circuit(L, idx)) {
        auto j = base::parse_json(circuit::circuit_to_text(d->circuit()));
        if (j) return *j;
      }
      break;
    case LUA_TTABLE: {
      lua_Integer n = luaL_len(L, idx);
      int keys = 0;
      lua_pushnil(L);
      while (lua_next(L, idx)) ++keys, lua_pop(L, 1);
      if (keys == n && n > 0) {
        Json a = Json::array();
        for (lua_Integer k = 1; k <= n; ++k) {
          lua_rawgeti(L, idx, k);
          a.push(to_json(L, -1, depth + 1));
          lua_pop(L, 1);
        }
        return a;
      }
      Json o = Json::object();
      lua_pushnil(L);
      while (lua_next(L, idx)) {
        if (lua_type(L, -2) != LUA_TSTRING) throw LuaError("`circuit.space`: table keys must be strings or 1..n");
        std::string key = lua_tostring(L, -2);
        o.set(key, to_json(L, -1, depth + 1));
        lua_pop(L, 1);
      }
      return o;
    }
    default: break;
  }
  throw LuaError("`circuit.space`: cannot put " + type_phrase(L, idx) + " in a search spec");
}

SpaceBox& arg_space(lua_State* L, int idx, const char* fn) {
  if (void* p = luaL_testudata(L, idx, kSpaceType)) return *static_cast<SpaceBox*>(p);
  throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " must be a search space (circuit.space), got " + type_phrase(L, idx));
}

search::Point arg_point(lua_State* L, int idx, const search::Space& s, const char* fn) {
  arg_table(L, idx, fn, "point");
  search::Point p;
  auto card = s.cardinalities();
  if (size_t(luaL_len(L, idx)) != card.size())
    throw LuaError(std::string("`") + fn + "`: a point has one 0-based choice per dimension (" + std::to_string(card.size()) + ")");
  for (size_t i = 0; i < card.size(); ++i) {
    lua_rawgeti(L, idx, lua_Integer(i + 1));
    int ok = 0;
    lua_Integer v = lua_tointegerx(L, -1, &ok);
    lua_pop(L, 1);
    if (!ok || v < 0 || v >= card[i])
      throw LuaError(std::string("`") + fn + "`: choice " + std::to_string(i + 1) + " (" + s.dims[i].name + ") must be an integer in 0.." +
                     std::to_string(card[i] - 1));
    p.choice.push_back(int(v));
  }
  return p;
}

void push_point(lua_State* L, const search::Point& p) {
  lua_createtable(L, int(p.choice.size()), 0);
  for (size_t i = 0; i < p.choice.size(); ++i) lua_pushinteger(L, p.choice[i]), lua_rawseti(L, -2, lua_Integer(i + 1));
}

void push_metrics(lua_State* L, const search::Metrics& m) {
  lua_createtable(L, 0, int(m.size()));
  for (auto& [k, v] : m) lua_pushnumber(L, v), lua_setfield(L, -2, k.c_str());
}

int l_space(lua_State* L) {
  std::string text;
  std::string dir = ".";
  if (lua_type(L, 1) == LUA_TSTRING) {
    std::string path = lua_tostring(L, 1);
    auto s = search::load_space(path);
    if (!s) throw LuaError("`circuit.space`: " + s.error().message);
    auto spec = base::read_file(path);
    if (!spec) throw LuaError("`circuit.space`: " + spec.error().message);
    text = search::spec_with_inline_base(*spec, *s);
    new (lua_newuserdatauv(L, sizeof(SpaceBox), 0)) SpaceBox{std::make_shared<search::Space>(std::move(*s)), text};
  } else {
    arg_table(L, 1, "circuit.space", "spec");
    base::Json j = to_json(L, 1);
    if (!j.get("format")) j.members.insert(j.members.begin(), {"format", base::Json::string("search")});
    if (!j.get("version")) j.members.insert(j.members.begin() + 1, {"version", base::Json::integer(search::kSearchFormatVersion)});
    text = base::write_json(j);
    auto s = search::parse_space(text, "circuit.space table", std::filesystem::current_path().string());
    if (!s) throw LuaError("`circuit.space`: " + s.error().message);
    new (lua_newuserdatauv(L, sizeof(SpaceBox), 0)) SpaceBox{std::make_shared<search::Space>(std::move(*s)), text};
  }
  luaL_setmetatable(L, kSpaceType);
  return 1;
}

int s_count(lua_State* L) {
  lua_pushinteger(L, arg_space(L, 1, "space:count").space->count());
  return 1;
}

int s_dims(lua_State* L) {
  const search::Space& s = *arg_space(L, 1, "space:dims").space;
  lua_createtable(L, int(s.dims.size()), 0);
  for (size_t i = 0; i < s.dims.size(); ++i) {
    lua_createtable(L, 0, 3);
    set_field(L, "name", s.dims[i].name);
    set_field(L, "size", int64_t(s.dims[i].size()));
    lua_createtable(L, s.dims[i].size(), 0);
    for (int k = 0; k < s.dims[i].size(); ++k) lua_pushstring(L, s.dims[i].label(k).c_str()), lua_rawseti(L, -2, k + 1);
    lua_setfield(L, -2, "labels");
    lua_rawseti(L, -2, lua_Integer(i + 1));
  }
  return 1;
}

int s_circuit(lua_State* L) {
  const search::Space& s = *arg_space(L, 1, "space:circuit").space;
  auto c = search::realize(s, arg_point(L, 2, s, "space:circuit"));
  if (!c) throw LuaError("`space:circuit`: " + c.error().message);
  push_circuit(L, circuit::Document(c->circuit));
  return 1;
}

int s_describe(lua_State* L) {
  const search::Space& s = *arg_space(L, 1, "space:describe").space;
  std::string d = search::describe(s, arg_point(L, 2, s, "space:describe"));
  lua_pushlstring(L, d.data(), d.size());
  return 1;
}

int s_random(lua_State* L) {
  const search::Space& s = *arg_space(L, 1, "space:random").space;
  search::Rng rng(uint64_t(lua_isnoneornil(L, 2) ? 0 : arg_integer(L, 2, "space:random", "seed")));
  push_point(L, search::random_point(s.cardinalities(), rng));
  return 1;
}

int s_gc(lua_State* L) {
  static_cast<SpaceBox*>(lua_touserdata(L, 1))->~SpaceBox();
  return 0;
}

// circuit.search(space, data, options): runs (or resumes) a study and returns its summary.
int l_search(lua_State* L) {
  SpaceBox& box = arg_space(L, 1, "circuit.search");
  std::shared_ptr<engine::Dataset> data = arg_dataset(L, 2, "circuit.search");
  arg_table(L, 3, "circuit.search", "options");
  auto str = [&](const char* k, const std::string& fallback) {
    lua_getfield(L, 3, k);
    std::string v = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : fallback;
    lua_pop(L, 1);
    return v;
  };
  auto num = [&](const char* k, double fallback) {
    lua_getfield(L, 3, k);
    double v = lua_type(L, -1) == LUA_TNUMBER ? lua_tonumber(L, -1) : fallback;
    lua_pop(L, 1);
    return v;
  };
  std::string study = str("study", ""), db_path = str("db", "circuit-studies.sqlite");
  if (study.empty()) throw LuaError("`circuit.search`: option `study` (a name) is required");
  auto ends = [&](const std::string& e) { return db_path.size() >= e.size() && db_path.compare(db_path.size() - e.size(), e.size(), e) == 0; };
  // A database server is not a file the sandbox guards; any other file must look like a store.
  if (!Host::of(L).options().allow_io && !ends(".sqlite") && !store::is_url(db_path))
    throw LuaError("`circuit.search`: the store `" + db_path + "` must end in .sqlite or be a postgresql:// URL in the sandbox; run with --allow-io to allow it");
  search::StudyRequest r;
  r.db = db_path, r.name = study;
  search::RunConfig& cfg = r.cfg;
  cfg.strategy = str("strategy", "nsga2");
  cfg.trials = int(num("trials", search::kDefaultTrials));
  cfg.total = int64_t(num("total", -1));
  cfg.seed = uint64_t(num("seed", 0));
  cfg.worker = int(num("worker", 0));
  cfg.options.population = int(num("population", 50));
  cfg.lease_seconds = num("lease", cfg.lease_seconds);
  cfg.max_attempts = int(num("attempts", cfg.max_attempts));
  read_train_options(L, 3, "circuit.search", r.protocol.train, &r.set_options);
  lua_getfield(L, 3, "latency");
  r.protocol.latency = lua_isnil(L, -1) ? true : lua_toboolean(L, -1);
  lua_pop(L, 1);
  r.device = str("device", "auto");
  // Under `circuit run --nproc N` (or torchrun) every trial trains data parallel: rank 0 runs
  // the study, the other ranks train each trial with it and return { rank = r } alone.
  std::string backend = str("backend", "");
  if (auto b = engine::parse_backend(backend)) r.backend = *b;
  else throw LuaError("`circuit.search`: option `backend` must be gloo or nccl, got `" + backend + "`");
  r.dist_timeout = num("dist_timeout", 0);
  r.space = *box.space;
  r.spec_text = box.text;
  r.reference = str("reference", "");
  r.data = data;
  int on_trial = LUA_NOREF;
  lua_getfield(L, 3, "on_trial");
  if (lua_isfunction(L, -1)) on_trial = luaL_ref(L, LUA_REGISTRYINDEX);
  else lua_pop(L, 1);
  struct Unref {
    lua_State* L;
    int ref;
    ~Unref() { luaL_unref(L, LUA_REGISTRYINDEX, ref); }
  } unref{L, on_trial};

  const search::Space& space = *box.space;
  std::string callback_error;
  cfg.on_event = [&](const search::SearchEvent& e) {
    auto* t = std::get_if<search::TrialDone>(&e);
    if (!t || on_trial == LUA_NOREF || !callback_error.empty()) return;
    lua_rawgeti(L, LUA_REGISTRYINDEX, on_trial);
    lua_createtable(L, 0, 5);
    set_field(L, "number", int64_t(t->number));
    set_field_bool(L, "ok", t->ok);
    set_field(L, "describe", t->describe.empty() ? t->point : t->describe);
    push_metrics(L, t->metrics);
    lua_setfield(L, -2, "metrics");
    set_field(L, "error", t->error);
    if (auto s = Host::of(L).call(1, 0); !s) callback_error = "on_trial: " + s.error;
  };
  // Each trial's training memory (weights, gradients, optimizer state, activations at the batch,
  // from the cost model) must fit in the script's native memory limit beside what it holds;
  // a trial that does not fails with the message, before it allocates.
  const int64_t batch = r.protocol.train.batch;
  const engine::Optimizer optimizer = r.protocol.train.optimizer;
  cfg.admit = [L, batch, optimizer](const circuit::Circuit& c) { return training_room(L, c, batch, optimizer, "a `circuit.search` trial"); };
  register_lua_routers(Host::of(L));
  auto out = search::run_study(std::move(r));  // a Lua strategy's error passes through with its traceback
  if (!callback_error.empty()) throw LuaError("`circuit.search`: " + callback_error);
  if (!out) throw LuaError("`circuit.search`: " + out.error().message);
  if (out->rank != 0) {
    lua_createtable(L, 0, 1);
    set_field(L, "rank", int64_t(out->rank));
    return 1;
  }
  const search::RunSummary* summary = &out->summary;
  const std::vector<store::TrialRecord>* trials = &out->trials;
  lua_createtable(L, 0, 6);
  set_field(L, "ran", int64_t(summary->ran));
  set_field(L, "finished", int64_t(summary->finished));
  set_field(L, "failed", int64_t(summary->failed));
  set_field(L, "stop_reason", summary->stop_reason);
  lua_pushnumber(L, summary->front.hypervolume);
  lua_setfield(L, -2, "hypervolume");
  lua_createtable(L, int(summary->front.front.size()), 0);
  int k = 0;
  for (int number : summary->front.front) {
    for (auto& t : *trials)
      if (t.number == number) {
        lua_createtable(L, 0, 3);
        set_field(L, "number", int64_t(number));
        auto p = search::parse_point(t.point);
        set_field(L, "describe", p ? search::describe(space, *p) : t.point);
        if (p) {
          push_point(L, *p);
          lua_setfield(L, -2, "point");
        }
        push_metrics(L, t.metrics);
        lua_setfield(L, -2, "metrics");
        lua_rawseti(L, -2, ++k);
      }
  }
  lua_setfield(L, -2, "front");
  return 1;
}

}  // namespace

void open_search_functions(lua_State* L, int module) {
  module = lua_absindex(L, module);
  if (luaL_newmetatable(L, kSpaceType)) {
    const luaL_Reg methods[] = {{"count", protect<s_count>},       {"dims", protect<s_dims>},     {"circuit", protect<s_circuit>},
                                {"describe", protect<s_describe>}, {"random", protect<s_random>}, {nullptr, nullptr}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, s_gc);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  const luaL_Reg functions[] = {{"space", protect<l_space>}, {"search", protect<l_search>}, {nullptr, nullptr}};
  lua_pushvalue(L, module);
  luaL_setfuncs(L, functions, 0);
  lua_pop(L, 1);
}

}  // namespace script
