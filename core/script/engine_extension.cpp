// The engine functions of the `circuit` module: data, compile, train, and model objects.
// Lua callbacks (on_step, on_epoch, on_expert_load) run inside training; an error in one, or in
// a Lua router, ends that run with the Lua traceback and comes back to the script as an error,
// never as a crash. docs/lua.md is the reference.
#include "engine_extension.h"

#include <atomic>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>

#include "binding.h"
#include "circuit/analysis.h"
#include "circuit_module.h"
#include "engine/data.h"
#include "engine/distributed.h"
#include "engine/exits.h"
#include "engine/experiment.h"
#include "engine/export.h"
#include "engine/measure.h"
#include "engine/memory.h"
#include "engine/model.h"
#include "engine/options.h"
#include "engine/train.h"
#include "search_functions.h"
#include "detail/tensor.h"

namespace script {

namespace {

constexpr const char* kDataType = "circuit.Dataset";
constexpr const char* kModelType = "circuit.Model";

struct DataBox {
  std::shared_ptr<engine::Dataset> data;
};
struct ModelBox {
  std::shared_ptr<engine::Model> model;
};

template <class T>
T& check_box(lua_State* L, int idx, const char* type, const char* fn, const char* what) {
  if (void* p = luaL_testudata(L, idx, type)) return *static_cast<T*>(p);
  throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " (" + what + ") must be a " + type + ", got " +
                 type_phrase(L, idx));
}

// A model's weights count against the script's native memory (Host::hold_native), as fp32.
size_t model_bytes(const engine::Model& m) { return size_t(m.parameter_count()) * 4; }

void push_model(lua_State* L, std::shared_ptr<engine::Model> m) {
  const void* key = m.get();
  size_t bytes = model_bytes(*m);
  new (lua_newuserdatauv(L, sizeof(ModelBox), 0)) ModelBox{std::move(m)};
  luaL_setmetatable(L, kModelType);
  Host::of(L).hold_native(key, bytes);
}

// Stops counting the model and lets go of it: its weights go back when nothing else (a running
// training) holds them. The userdata stays, holding no model.
void release(lua_State* L, ModelBox& box) {
  if (box.model) Host::of(L).drop_native(box.model.get());
  box.model.reset();
}
// model:close() and the __close of a <close> variable.
int m_close(lua_State* L) {
  auto* box = static_cast<ModelBox*>(luaL_testudata(L, 1, kModelType));
  if (!box) throw LuaError("`model:close`: argument 1 (self) must be a circuit.Model, got " + type_phrase(L, 1));
  release(L, *box);
  return 0;
}
int gc_model(lua_State* L) {
  auto* box = static_cast<ModelBox*>(lua_touserdata(L, 1));
  release(L, *box);
  box->~ModelBox();
  return 0;
}

// Option readers for a table at `t`; a field of the wrong type is an error naming it.
struct Options {
  lua_State* L;
  int t;
  const char* fn;
  bool has(const char* key) {
    if (t == 0) return false;
    lua_getfield(L, t, key);
    bool present = !lua_isnil(L, -1);
    lua_pop(L, 1);
    return present;
  }
  // The option `key` read by `read` when its Lua type is `type`; `fallback` when absent; else an
  // error naming the option and what it got.
  template <class T, class Read>
  T get(const char* key, T fallback, int type, const char* what, Read read) {
    if (!has(key)) return fallback;
    lua_getfield(L, t, key);
    if (lua_type(L, -1) != type) throw LuaError(std::string("`") + fn + "`: option `" + key + "` must be " + what + ", got " + type_phrase(L, -1));
    T v = read(L, -1);
    lua_pop(L, 1);
    return v;
  }
  double number(const char* key, double fallback) {
    return get<double>(key, fallback, LUA_TNUMBER, "a number", [](lua_State* s, int i) { return double(lua_tonumber(s, i)); });
  }
  std::string string(const char* key, const std::string& fallback) {
    return get<std::string>(key, fallback, LUA_TSTRING, "a string", [](lua_State* s, int i) { return std::string(lua_tostring(s, i)); });
  }
  bool boolean(const char* key, bool fallback) {
    return get<bool>(key, fallback, LUA_TBOOLEAN, "a boolean", [](lua_State* s, int i) { return bool(lua_toboolean(s, i)); });
  }
  // Pushes a function option and returns a registry reference to it, or LUA_NOREF.
  int function(const char* key) {
    if (!has(key)) return LUA_NOREF;
    lua_getfield(L, t, key);
    if (!lua_isfunction(L, -1)) throw LuaError(std::string("`") + fn + "`: option `" + key + "` must be a function, got " + type_phrase(L, -1));
    return luaL_ref(L, LUA_REGISTRYINDEX);
  }
};

Options options_at(lua_State* L, int idx, const char* fn) {
  arg_table(L, idx, fn, "options", true);
  return Options{L, lua_istable(L, idx) ? lua_absindex(L, idx) : 0, fn};
}

}  // namespace

void read_train_options(lua_State* L, int idx, const char* fn, engine::TrainOptions& o, std::vector<std::string>* given) {
  if (!lua_istable(L, idx)) return;
  idx = lua_absindex(L, idx);
  for (const engine::TrainOption& opt : engine::train_options()) {
    std::string name(opt.name);
    lua_getfield(L, idx, name.c_str());
    engine::OptionValue v;
    switch (lua_type(L, -1)) {
      case LUA_TNIL: lua_pop(L, 1); continue;
      case LUA_TNUMBER: v = double(lua_tonumber(L, -1)); break;
      case LUA_TBOOLEAN: v = bool(lua_toboolean(L, -1)); break;
      case LUA_TSTRING: v = std::string(lua_tostring(L, -1)); break;
      default: {
        std::string got = type_phrase(L, -1);
        lua_pop(L, 1);
        throw LuaError(std::string("`") + fn + "`: option `" + name + "` " + (opt.kind == engine::TrainOption::Kind::boolean ? "expects true or false" : opt.kind == engine::TrainOption::Kind::choice ? "expects a string" : "expects a number") + ", got " + got);
      }
    }
    lua_pop(L, 1);
    if (auto err = engine::set_option(o, opt, v)) throw LuaError(std::string("`") + fn + "`: option `" + name + "` " + *err);
    if (given) given->push_back(name);
  }
}

namespace {

// ---- circuit.data -------------------------------------------------------------------------------

int l_data(lua_State* L) {
  engine::DataOptions d;
  d.name = arg_string(L, 1, "circuit.data", "name");
  Options o = options_at(L, 2, "circuit.data");
  // A token model's sequence length and vocabulary come from its circuit, as `circuit train` takes
  // them; options given explicitly still win.
  if (o.has("circuit")) {
    lua_getfield(L, lua_absindex(L, 2), "circuit");
    circuit::Document* doc = to_circuit(L, -1);
    if (!doc) throw LuaError("`circuit.data`: option `circuit` must be a circuit, got " + type_phrase(L, -1));
    engine::size_to_circuit(d, doc->circuit());
    lua_pop(L, 1);
  }
  d.seed = uint64_t(o.number("seed", 0));
  d.train_limit = int64_t(o.number("limit", 0));
  d.test_limit = int64_t(o.number("test_limit", 0));
  d.seq_len = int64_t(o.number("seq_len", double(d.seq_len)));
  d.vocab = int64_t(o.number("vocab", double(d.vocab)));
  d.pairs = int64_t(o.number("pairs", double(d.pairs)));
  d.train_size = int64_t(o.number("train_size", double(d.train_size)));
  d.val_size = int64_t(o.number("val_size", double(d.val_size)));
  d.test_size = int64_t(o.number("test_size", double(d.test_size)));
  d.text_path = o.string("text", d.text_path);
  auto ds = engine::load_dataset(d);
  if (!ds) throw LuaError("`circuit.data`: " + ds.error().message);
  // A data set's size is known once it is read (a text file's windows, a limit past the end), so
  // it is counted then; one over the limit is let go before the error.
  auto data = std::make_shared<engine::Dataset>(std::move(*ds));
  size_t bytes = data->bytes();
  if (std::string err = Host::of(L).make_room(bytes, "`circuit.data` of " + d.name + " (" + std::to_string(data->train.x.rows() + data->val.x.rows() +
                                                                                                         data->test.x.rows()) + " examples)");
      !err.empty())
    throw LuaError(err);
  const void* key = data.get();
  new (lua_newuserdatauv(L, sizeof(DataBox), 0)) DataBox{std::move(data)};
  luaL_setmetatable(L, kDataType);
  Host::of(L).hold_native(key, bytes);
  return 1;
}

int gc_data(lua_State* L) {
  auto* box = static_cast<DataBox*>(lua_touserdata(L, 1));
  if (box->data) Host::of(L).drop_native(box->data.get());
  box->~DataBox();
  return 0;
}

int d_info(lua_State* L) {
  const engine::Dataset& d = *check_box<DataBox>(L, 1, kDataType, "data:info", "self").data;
  lua_createtable(L, 0, 8);
  set_field(L, "name", d.name);
  set_field(L, "classes", d.classes);
  set_field(L, "train", d.train.x.rows());
  set_field(L, "val", d.val.x.rows());
  set_field(L, "test", d.test.x.rows());
  set_field(L, "protocol", d.protocol);
  set_field_bool(L, "token_targets", d.token_targets);
  return 1;
}

const engine::Split& split_arg(lua_State* L, const engine::Dataset& d, int idx, const char* fn) {
  std::string s = opt_string(L, idx, fn, "split").value_or("test");
  if (s == "train") return d.train;
  if (s == "val") return d.val;
  if (s == "test") return d.test;
  throw LuaError(std::string("`") + fn + "`: split must be train, val or test, got `" + s + "`");
}

// ---- compile and train ----------------------------------------------------------------------------

std::shared_ptr<engine::Model> compile(lua_State* L, const circuit::Circuit& c, uint64_t seed, const char* fn) {
  register_lua_routers(Host::of(L));
  // Room in the script's native memory first, from the cost model (nothing allocated yet).
  circuit::GraphAnalysis a = circuit::analyze(c);
  if (a.ok())
    if (std::string err = Host::of(L).make_room(size_t(a.total.params) * 4, std::string("`") + fn + "` of a model with " +
                                                                                std::to_string(a.total.params) + " parameters");
        !err.empty())
      throw LuaError(err);
  auto m = engine::Model::compile(c, seed);  // refuses, before allocating, weights beyond the memory budget
  if (!m) throw LuaError(std::string("`") + fn + "`: " + m.error().message);
  return std::shared_ptr<engine::Model>(std::move(*m));
}

int l_compile(lua_State* L) {
  circuit::Document& doc = arg_circuit(L, 1, "circuit.compile");
  push_model(L, compile(L, doc.circuit(), uint64_t(lua_isnoneornil(L, 2) ? 0 : arg_integer(L, 2, "circuit.compile", "seed")), "circuit.compile"));
  return 1;
}

// One Lua callback invoked from C++ during training. The first failure is kept and stops the run.
struct Callbacks {
  lua_State* L;
  Host& host;
  int on_step = LUA_NOREF, on_epoch = LUA_NOREF, on_load = LUA_NOREF;
  std::atomic<bool> cancel{false};
  bool stopped_by_script = false;
  std::string error;

  ~Callbacks() {
    for (int r : {on_step, on_epoch, on_load}) luaL_unref(L, LUA_REGISTRYINDEX, r);
  }
  // Calls the function `ref` with the table on top of the stack; a true result stops the run.
  void call(int ref, const char* which) {
    if (!error.empty()) return lua_pop(L, 1);
    lua_rawgeti(L, LUA_REGISTRYINDEX, ref);
    lua_insert(L, -2);
    if (auto s = host.call(1, 1); !s) {
      error = std::string(which) + ": " + s.error;
      cancel = true;
      return;
    }
    if (lua_toboolean(L, -1)) stopped_by_script = true, cancel = true;
    lua_pop(L, 1);
  }
};

void push_numbers(lua_State* L, const std::vector<double>& v) {
  lua_createtable(L, int(v.size()), 0);
  for (size_t i = 0; i < v.size(); ++i) lua_pushnumber(L, v[i]), lua_rawseti(L, -2, lua_Integer(i + 1));
}
void push_integers(lua_State* L, const std::vector<int64_t>& v) {
  lua_createtable(L, int(v.size()), 0);
  for (size_t i = 0; i < v.size(); ++i) lua_pushinteger(L, v[i]), lua_rawseti(L, -2, lua_Integer(i + 1));
}
void set_number(lua_State* L, const char* key, double v) {
  lua_pushnumber(L, v);
  lua_setfield(L, -2, key);
}

int l_train(lua_State* L) {
  circuit::Document& doc = arg_circuit(L, 1, "circuit.train");
  std::shared_ptr<engine::Dataset> data = check_box<DataBox>(L, 2, kDataType, "circuit.train", "data").data;
  Options o = options_at(L, 3, "circuit.train");
  engine::TrainOptions t;
  read_train_options(L, 3, "circuit.train", t);
  t.seed = uint64_t(o.number("seed", 0));
  t.telemetry_every = int(o.number("telemetry_every", 1));
  t.memory_budget = o.number("memory_budget", t.memory_budget);
  std::string device = o.string("device", "auto");
  // Data parallel the torchrun way: the script itself runs on every rank and each rank's
  // circuit.train joins the same group, so there is nothing to start from here.
  if (o.has("nproc"))
    throw LuaError("`circuit.train`: option `nproc`: run the script on N ranks instead (`circuit run --nproc N SCRIPT`, or torchrun); "
                   "circuit.train then trains data parallel over them");
  std::string backend_name = o.string("backend", "");
  auto backend = engine::parse_backend(backend_name);
  if (!backend) throw LuaError("`circuit.train`: option `backend` must be gloo or nccl, got `" + backend_name + "`");
  auto setup = engine::join_from_environment(device, *backend, o.number("dist_timeout", 0), -1);
  if (!setup) throw LuaError("`circuit.train`: " + setup.error().message);
  t.device = setup->device;
  t.group = setup->group;
  register_lua_routers(Host::of(L));

  Callbacks cb{L, Host::of(L)};
  cb.on_step = o.function("on_step");
  cb.on_epoch = o.function("on_epoch");
  cb.on_load = o.function("on_expert_load");
  events::Bus bus;
  bus.subscribe([&](const events::Event& e) {
    if (auto* s = std::get_if<events::TrainStep>(&e); s && cb.on_step != LUA_NOREF) {
      lua_createtable(L, 0, 8);
      set_field(L, "step", s->step);
      set_field(L, "total_steps", s->total_steps);
      set_field(L, "epoch", int64_t(s->epoch));
      set_number(L, "loss", s->loss);
      set_number(L, "accuracy", s->accuracy);
      set_number(L, "lr", s->lr);
      set_number(L, "examples_per_second", s->examples_per_second);
      cb.call(cb.on_step, "on_step");
    } else if (auto* ep = std::get_if<events::EpochEnd>(&e); ep && cb.on_epoch != LUA_NOREF) {
      lua_createtable(L, 0, 6);
      set_field(L, "epoch", int64_t(ep->epoch));
      set_number(L, "train_loss", ep->train_loss);
      set_number(L, "val_loss", ep->val_loss);
      set_number(L, "val_accuracy", ep->val_accuracy);
      set_number(L, "seconds", ep->seconds);
      cb.call(cb.on_epoch, "on_epoch");
    } else if (auto* l = std::get_if<events::ExpertLoad>(&e); l && cb.on_load != LUA_NOREF) {
      lua_createtable(L, 0, 10);
      set_field(L, "layer", l->layer);
      set_field(L, "step", l->step);
      push_integers(L, l->after);
      lua_setfield(L, -2, "tokens_per_expert");
      set_field(L, "dropped", l->dropped);
      push_numbers(L, l->mean_gate);
      lua_setfield(L, -2, "mean_gate");
      set_number(L, "entropy", l->entropy);
      set_number(L, "load_cv", l->load_cv);
      set_number(L, "max_vio", l->max_vio);
      set_number(L, "active_per_token", l->active_per_token);
      cb.call(cb.on_load, "on_expert_load");
    }
  });
  t.bus = &bus;
  t.cancel = &cb.cancel;
  engine::ExperimentRequest req;
  req.circuit = doc.circuit();
  req.train = t;
  req.test = req.exits = false;  // the script asks for what it wants: model:evaluate, model:measure
  // The run's weights, gradients, optimizer state and activations count against the script's
  // native memory while it trains, from the cost model before anything is allocated.
  struct Held {
    Host& host;
    ~Held() { host.drop_native(this); }
  } held{Host::of(L)};
  size_t bytes = 0;
  if (std::string err = training_room(L, req.circuit, t.batch, t.optimizer, "`circuit.train`", &bytes); !err.empty()) throw LuaError(err);
  if (bytes) held.host.hold_native(&held, bytes);
  engine::ExperimentReport rep = engine::run_experiment(std::move(req), data);
  if (!cb.error.empty()) throw LuaError("`circuit.train`: " + cb.error);
  if (rep.status == events::RunStatus::error) throw LuaError("`circuit.train`: " + rep.message);
  const engine::TrainResult& r = rep.train;
  std::shared_ptr<engine::Model> model = rep.model;

  lua_createtable(L, 0, 10);
  set_field(L, "status", std::string(events::to_string(cb.stopped_by_script ? events::RunStatus::stopped : r.status)));
  set_field(L, "message", r.message);
  set_field(L, "device", rep.device);
  set_field(L, "rank", int64_t(t.group ? t.group->rank() : 0));
  set_field(L, "ranks", int64_t(t.group ? t.group->size() : 1));
  set_field(L, "epochs", int64_t(r.epochs_done));
  set_field(L, "steps", r.steps);
  set_number(L, "seconds", r.seconds);
  set_number(L, "train_loss", r.train_loss);
  set_number(L, "val_loss", r.val.loss);
  set_number(L, "val_accuracy", r.val.accuracy);
  push_model(L, model);
  lua_setfield(L, -2, "model");
  return 1;
}

// ---- model objects -------------------------------------------------------------------------------

engine::Model& model_arg(lua_State* L, const char* fn) {
  auto& box = check_box<ModelBox>(L, 1, kModelType, fn, "self");
  if (!box.model) throw LuaError(std::string("`") + fn + "`: the model was closed (model:close() or a <close> variable)");
  return *box.model;
}
const engine::Dataset& data_arg(lua_State* L, int idx, const char* fn) { return *check_box<DataBox>(L, idx, kDataType, fn, "data").data; }

int m_evaluate(lua_State* L) {
  engine::Model& m = model_arg(L, "model:evaluate");
  const engine::Dataset& d = data_arg(L, 2, "model:evaluate");
  if (auto s = engine::check_fit(m, d); !s) throw LuaError("`model:evaluate`: " + s.error);
  engine::EvalResult r = engine::evaluate(m, d, split_arg(L, d, 3, "model:evaluate"));
  lua_createtable(L, 0, 4);
  set_number(L, "loss", r.loss);
  set_number(L, "accuracy", r.accuracy);
  set_field(L, "examples", r.examples);
  push_numbers(L, r.per_class);
  lua_setfield(L, -2, "per_class");
  return 1;
}

int m_measure(lua_State* L) {
  engine::Model& m = model_arg(L, "model:measure");
  const engine::Dataset& d = data_arg(L, 2, "model:measure");
  Options o = options_at(L, 3, "model:measure");
  int64_t batch = int64_t(o.number("batch", 64));
  engine::Latency lat = engine::measure_latency(m, d, batch, int(o.number("runs", 20)));
  lua_createtable(L, 0, 5);
  set_number(L, "batch1_ms", lat.batch1_ms);
  set_number(L, "batch_ms", lat.batch_ms);
  set_field(L, "batch", lat.batch);
  set_field(L, "runs", int64_t(lat.runs));
  set_field(L, "peak_bytes", engine::measure_peak_memory(m, d, batch));
  return 1;
}

int m_export(lua_State* L) {
  engine::Model& m = model_arg(L, "model:export");
  std::string path = arg_string(L, 2, "model:export", "path");
  auto ends = [&](const char* ext) { return path.size() >= std::strlen(ext) && path.compare(path.size() - std::strlen(ext), std::string::npos, ext) == 0; };
  if (!Host::of(L).options().allow_io && !ends(".pt") && !ends(".onnx"))
    throw LuaError("`model:export`: `" + path + "` is not a .pt or .onnx file; the sandbox only writes model files; run with --allow-io to allow it");
  if (auto s = engine::export_model(m, path); !s) throw LuaError("`model:export`: " + s.error);
  return 0;
}

int m_params(lua_State* L) {
  lua_pushinteger(L, model_arg(L, "model:params").parameter_count());
  return 1;
}

// Early exit: budget calibration on validation, achieved on test (docs/routing.md).
int m_calibrate_exits(lua_State* L) {
  engine::Model& m = model_arg(L, "model:calibrate_exits");
  const engine::Dataset& d = data_arg(L, 2, "model:calibrate_exits");
  Options o = options_at(L, 3, "model:calibrate_exits");
  auto val = engine::profile_exits(m, d, d.val);
  if (!val) throw LuaError("`model:calibrate_exits`: " + val.error().message);
  auto test = engine::profile_exits(m, d, d.test);
  if (!test) throw LuaError("`model:calibrate_exits`: " + test.error().message);
  auto cal = engine::calibrate_budget(*val, o.number("budget", 0.6), int(o.number("depth_cap", 0)));
  if (!cal) throw LuaError("`model:calibrate_exits`: " + cal.error().message);
  auto held = engine::simulate_exits(*test, cal->policy);
  if (!held) throw LuaError("`model:calibrate_exits`: " + held.error().message);
  lua_createtable(L, 0, 8);
  push_numbers(L, cal->policy.thresholds);
  lua_setfield(L, -2, "thresholds");
  set_number(L, "target_cost", cal->target_cost);
  set_number(L, "achieved_cost", held->avg_cost);
  set_number(L, "accuracy", held->accuracy);
  set_number(L, "avg_depth", held->avg_depth);
  set_field(L, "peak_depth", int64_t(held->peak_depth));
  push_integers(L, held->histogram);
  lua_setfield(L, -2, "histogram");
  push_numbers(L, test->cost);
  lua_setfield(L, -2, "head_cost");
  return 1;
}

void make_metatables(lua_State* L) {
  if (luaL_newmetatable(L, kDataType)) {
    const luaL_Reg methods[] = {{"info", protect<d_info>}, {nullptr, nullptr}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc_data);
    lua_setfield(L, -2, "__gc");
  }
  lua_pop(L, 1);
  if (luaL_newmetatable(L, kModelType)) {
    const luaL_Reg methods[] = {{"evaluate", protect<m_evaluate>}, {"measure", protect<m_measure>},
                                {"export", protect<m_export>},     {"params", protect<m_params>},
                                {"calibrate_exits", protect<m_calibrate_exits>}, {"close", protect<m_close>}, {nullptr, nullptr}};
    luaL_newlib(L, methods);
    lua_setfield(L, -2, "__index");
    lua_pushcfunction(L, gc_model);
    lua_setfield(L, -2, "__gc");
    lua_pushcfunction(L, protect<m_close>);
    lua_setfield(L, -2, "__close");
  }
  lua_pop(L, 1);
}

}  // namespace

std::string training_room(lua_State* L, const circuit::Circuit& c, int64_t batch, engine::Optimizer optimizer, const std::string& what,
                          size_t* bytes) {
  circuit::GraphAnalysis a = circuit::analyze(c);
  if (!a.ok()) return {};  // the run refuses it with the circuit's own problem
  size_t need = size_t(engine::training_memory(a, batch, optimizer).total());
  std::string err = Host::of(L).make_room(need, what + " of a model with " + std::to_string(a.total.params) +
                                                    " parameters (weights, gradients, optimizer state and activations at batch " +
                                                    std::to_string(batch) + ")");
  if (err.empty() && bytes) *bytes = need;
  return err;
}

std::shared_ptr<engine::Dataset> arg_dataset(lua_State* L, int idx, const char* fn) {
  return check_box<DataBox>(L, idx, kDataType, fn, "data").data;
}

void install_engine_extension() {
  static std::once_flag once;
  std::call_once(once, [] {
    register_module_extension([](lua_State* L, int module) {
      module = lua_absindex(L, module);
      make_metatables(L);
      const luaL_Reg functions[] = {{"data", protect<l_data>}, {"compile", protect<l_compile>}, {"train", protect<l_train>},
                                    {nullptr, nullptr}};
      lua_pushvalue(L, module);
      luaL_setfuncs(L, functions, 0);
      lua_pop(L, 1);
      open_tensor_functions(L, module);
      open_search_functions(L, module);
    });
  });
}

std::unique_ptr<Host> host_with_plugin_routers() {
  install_engine_extension();
  auto host = std::make_unique<Host>();
  host->load_plugins(default_plugin_folders());
  register_lua_routers(*host);
  return host;
}

}  // namespace script
