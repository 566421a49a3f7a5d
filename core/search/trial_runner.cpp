#include "trial_runner.h"

#include <chrono>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "base/json.h"
#include "engine/experiment.h"
#include "engine/options.h"

namespace search {

using base::Json;

namespace {

// DataOptions' stored fields, in the order the JSON lists them.
struct DataField {
  const char* name;
  int64_t engine::DataOptions::*field;
};
constexpr DataField kDataFields[] = {{"train_limit", &engine::DataOptions::train_limit}, {"test_limit", &engine::DataOptions::test_limit},
                                     {"seq_len", &engine::DataOptions::seq_len},         {"vocab", &engine::DataOptions::vocab},
                                     {"pairs", &engine::DataOptions::pairs},             {"min_classes", &engine::DataOptions::min_classes},
                                     {"train_size", &engine::DataOptions::train_size},   {"val_size", &engine::DataOptions::val_size},
                                     {"test_size", &engine::DataOptions::test_size}};

Json option_json(const engine::TrainOptions& t, const engine::TrainOption& o) {
  engine::OptionValue v = o.get(t);
  if (auto* b = std::get_if<bool>(&v)) return Json::boolean(*b);
  if (auto* s = std::get_if<std::string>(&v)) return Json::string(*s);
  double x = std::get<double>(v);
  return o.kind == engine::TrainOption::Kind::integer ? Json::integer(int64_t(x)) : Json::number(x);
}

}  // namespace

std::string protocol_json(const TrialProtocol& p) {
  Json data = Json::object();
  data.set("name", Json::string(p.data.name));
  data.set("seed", Json::integer(int64_t(p.data.seed)));
  for (const DataField& f : kDataFields) data.set(f.name, Json::integer(p.data.*f.field));
  Json j = Json::object();
  j.set("data", std::move(data));
  for (const engine::TrainOption& o : engine::train_options()) j.set(std::string(o.name), option_json(p.train, o));
  j.set("latency", Json::boolean(p.latency));
  j.set("exit_threshold", Json::number(p.exit_threshold));
  if (!p.versions.empty()) j.set("versions", Json::string(p.versions));
  return base::write_json_line(j);
}

base::Result<TrialProtocol> parse_protocol(const std::string& text) {
  auto j = base::parse_json(text);
  if (!j) return base::Error{"trial protocol: " + j.error().message};
  TrialProtocol p;
  auto num = [](const Json* v, double fallback) { return v && v->is_number() ? (v->kind == Json::Kind::Int ? double(v->i) : v->f) : fallback; };
  if (const Json* d = j->get("data")) {
    if (const Json* n = d->get("name"); n && n->kind == Json::Kind::String) p.data.name = n->s;
    p.data.seed = uint64_t(num(d->get("seed"), 0));
    for (const DataField& f : kDataFields) p.data.*f.field = int64_t(num(d->get(f.name), double(p.data.*f.field)));
  }
  // Every option of the table; one a protocol lacks (written before it was stored) takes its
  // default, which is what such a trial trained with.
  for (const engine::TrainOption& o : engine::train_options()) {
    const Json* v = j->get(o.name);
    if (!v || v->kind == Json::Kind::Null) continue;
    engine::OptionValue value;
    if (v->is_number()) value = v->kind == Json::Kind::Int ? double(v->i) : v->f;
    else if (v->kind == Json::Kind::Bool) value = v->b;
    else if (v->kind == Json::Kind::String) value = v->s;
    else return base::Error{"trial protocol: `" + std::string(o.name) + "` is " + v->kind_name()};
    if (auto err = engine::set_option(p.train, o, value)) return base::Error{"trial protocol: `" + std::string(o.name) + "` " + *err};
  }
  if (const Json* l = j->get("latency"); l && l->kind == Json::Kind::Bool) p.latency = l->b;
  if (const Json* v = j->get("versions"); v && v->kind == Json::Kind::String) p.versions = v->s;
  p.exit_threshold = num(j->get("exit_threshold"), p.exit_threshold);
  return p;
}

Evaluation train_trial(const circuit::Circuit& c, uint64_t seed, const engine::Dataset& d, const TrialProtocol& p) {
  const std::shared_ptr<engine::ProcessGroup>& group = p.train.group;
  if (group && group->rank() == 0) {
    // The other ranks train the same trial with this one (follow_trials).
    Json task = Json::object();
    task.set("circuit", Json::string(circuit::circuit_to_text(c)));
    task.set("seed", Json::integer(int64_t(seed)));
    try {
      group->share(base::write_json_line(task));
    } catch (const std::exception& e) {
      Evaluation ev;
      ev.ok = false;
      ev.error = e.what();
      return ev;
    }
  }
  engine::ExperimentRequest r;
  r.circuit = c;
  r.train = p.train;  // every option of the table, the device and the group
  r.train.seed = seed;
  r.latency = p.latency;
  r.peak_memory = true;
  r.exit_threshold = p.exit_threshold;
  // The data set is shared by every trial of a study and outlives this call.
  engine::ExperimentReport rep = engine::run_experiment(std::move(r), std::shared_ptr<const engine::Dataset>(&d, [](const engine::Dataset*) {}));
  Evaluation ev;
  if (!rep.finished()) {
    ev.ok = false;
    ev.error = rep.status == events::RunStatus::error ? rep.message : "run " + std::string(events::to_string(rep.status)) + ": " + rep.message;
    return ev;
  }
  if (group && group->rank() != 0) return ev;  // rank 0 measures and reports the trial
  const circuit::Cost& total = rep.analysis.total;
  ev.metrics["accuracy"] = rep.train.val.accuracy;
  ev.metrics["loss"] = rep.train.val.loss;
  ev.metrics["test_accuracy"] = rep.test->accuracy;
  ev.metrics["params"] = double(total.params);
  ev.metrics["active_params"] = double(total.active_params);
  ev.metrics["flops"] = double(total.flops);
  ev.metrics["kv_bytes"] = double(circuit::kv_bytes(c, total));
  ev.metrics["train_seconds"] = rep.train.seconds;
  ev.metrics["peak_memory_mb"] = double(*rep.peak_memory) / (1 << 20);
  if (rep.latency) ev.metrics["latency_ms"] = rep.latency->batch1_ms;
  if (rep.expert_load_events) ev.metrics["max_vio"] = rep.mean_max_vio;
  if (rep.exits) {
    ev.metrics["exit_depth"] = rep.exits->avg_depth;
    ev.metrics["exit_cost"] = rep.exits->avg_cost;
    ev.metrics["exit_accuracy"] = rep.exits->accuracy;
  }
  return ev;
}

base::Result<RunSummary> run_training_study(store::Store& db, const std::string& name, const Space& space, const std::string& spec_text,
                                               const engine::Dataset& data, const TrialProtocol& protocol, RunConfig cfg, int64_t* study_id) {
  store::StudyInfo info;
  info.name = name;
  info.spec = spec_with_inline_base(spec_text, space);
  info.strategy = cfg.strategy;
  info.seed = cfg.seed;
  info.lease_seconds = cfg.lease_seconds, info.max_attempts = cfg.max_attempts, info.settings = cfg.settings;
  auto opened = db.open_study(info);
  if (!opened) return opened.error();
  if (study_id) *study_id = opened->id;
  cfg.protocol = protocol_json(protocol);
  if (cfg.on_event) {  // every front end shows a trial by its point's description
    cfg.on_event = [&space, &name, sink = std::move(cfg.on_event)](const SearchEvent& e) {
      if (auto* t = std::get_if<TrialDone>(&e)) {
        TrialDone d = *t;
        if (auto p = parse_point(d.point); p && d.describe.empty()) d.describe = describe(space, *p);
        d.study = name;
        return sink(d);
      }
      sink(e);
    };
  }
  cfg.circuit_text = [&](const Point& p) {
    auto c = apply(space, p);
    return c ? circuit::circuit_to_text(*c) : std::string();
  };
  Evaluate evaluate = [&](const store::TrialRecord& rec, const Point& p) {
    auto cand = realize(space, p);
    if (!cand) return Evaluation{false, {}, cand.error().message};
    if (cfg.admit)
      if (std::string why = cfg.admit(cand->circuit); !why.empty()) return Evaluation{false, {}, why};
    return train_trial(cand->circuit, rec.seed, data, protocol);
  };
  return run_trials(db, opened->id, problem_of(space), evaluate, cfg);
}

base::Status follow_trials(const engine::Dataset& d, const TrialProtocol& p) {
  if (!p.train.group) return base::Status::fail("follow_trials needs a process group");
  for (;;) {
    std::string text;
    try {
      text = p.train.group->share("");
    } catch (const std::exception& e) {
      return base::Status::fail(e.what());
    }
    if (text.empty()) return {};
    auto task = base::parse_json(text);
    const Json* ct = task ? task->get("circuit") : nullptr;
    const Json* sd = task ? task->get("seed") : nullptr;
    if (!ct || !sd) return base::Status::fail("rank 0 handed out an unreadable trial");
    auto c = circuit::parse_circuit(ct->s, "trial from rank 0");
    if (!c) return base::Status::fail(c.error().message);
    Evaluation ev = train_trial(*c, uint64_t(sd->i), d, p);
    // A trial that fails fails on every rank alike (same circuit, same data); only a lost rank ends this loop.
    if (!ev.ok && ev.error.find("lost rank") != std::string::npos) return base::Status::fail(ev.error);
  }
}

FollowerRelease::~FollowerRelease() {
  if (!group_ || group_->rank() != 0) return;
  try {
    group_->share("");
  } catch (const std::exception&) {
    // The followers are gone already; nothing waits for this.
  }
}

}  // namespace search
