#include "trial_runner.h"

#include <chrono>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "base/json.h"
#include "engine/experiment.h"

namespace search {

using base::Json;

std::string protocol_json(const TrialProtocol& p) {
  Json data = Json::object();
  data.set("name", Json::string(p.data.name));
  data.set("seed", Json::integer(int64_t(p.data.seed)));
  data.set("train_limit", Json::integer(p.data.train_limit));
  data.set("test_limit", Json::integer(p.data.test_limit));
  data.set("seq_len", Json::integer(p.data.seq_len));
  data.set("vocab", Json::integer(p.data.vocab));
  data.set("pairs", Json::integer(p.data.pairs));
  data.set("min_classes", Json::integer(p.data.min_classes));
  data.set("train_size", Json::integer(p.data.train_size));
  data.set("val_size", Json::integer(p.data.val_size));
  data.set("test_size", Json::integer(p.data.test_size));
  Json j = Json::object();
  j.set("data", std::move(data));
  j.set("epochs", Json::integer(p.epochs));
  j.set("batch", Json::integer(p.batch));
  j.set("lr", Json::number(p.lr));
  j.set("optimizer", Json::string(engine::to_string(p.optimizer)));
  j.set("latency", Json::boolean(p.latency));
  if (p.precision != engine::Precision::fp32) j.set("precision", Json::string(engine::to_string(p.precision)));
  if (p.tf32) j.set("tf32", Json::boolean(true));
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
    p.data.train_limit = int64_t(num(d->get("train_limit"), 0));
    p.data.test_limit = int64_t(num(d->get("test_limit"), 0));
    p.data.seq_len = int64_t(num(d->get("seq_len"), double(p.data.seq_len)));
    p.data.vocab = int64_t(num(d->get("vocab"), double(p.data.vocab)));
    p.data.pairs = int64_t(num(d->get("pairs"), double(p.data.pairs)));
    p.data.min_classes = int64_t(num(d->get("min_classes"), double(p.data.min_classes)));
    p.data.train_size = int64_t(num(d->get("train_size"), double(p.data.train_size)));
    p.data.val_size = int64_t(num(d->get("val_size"), double(p.data.val_size)));
    p.data.test_size = int64_t(num(d->get("test_size"), double(p.data.test_size)));
  }
  p.epochs = int(num(j->get("epochs"), 1));
  p.batch = int64_t(num(j->get("batch"), 64));
  p.lr = num(j->get("lr"), 1e-3);
  if (const Json* o = j->get("optimizer"); o && o->kind == Json::Kind::String) {
    auto k = engine::parse_optimizer(o->s);
    if (!k) return base::Error{"trial protocol: unknown optimizer `" + o->s + "` (adamw or sgd)"};
    p.optimizer = *k;
  }
  if (const Json* l = j->get("latency"); l && l->kind == Json::Kind::Bool) p.latency = l->b;
  if (const Json* t = j->get("tf32"); t && t->kind == Json::Kind::Bool) p.tf32 = t->b;
  if (const Json* x = j->get("precision"); x && x->kind == Json::Kind::String) {
    auto k = engine::parse_precision(x->s);
    if (!k) return base::Error{"trial protocol: unknown precision `" + x->s + "` (fp32 or bf16)"};
    p.precision = *k;
  }
  if (const Json* v = j->get("versions"); v && v->kind == Json::Kind::String) p.versions = v->s;
  p.exit_threshold = num(j->get("exit_threshold"), p.exit_threshold);
  return p;
}

Evaluation train_trial(const circuit::Circuit& c, uint64_t seed, const engine::Dataset& d, const TrialProtocol& p) {
  if (p.group && p.group->rank() == 0) {
    // The other ranks train the same trial with this one (follow_trials).
    Json task = Json::object();
    task.set("circuit", Json::string(circuit::circuit_to_text(c)));
    task.set("seed", Json::integer(int64_t(seed)));
    try {
      p.group->share(base::write_json_line(task));
    } catch (const std::exception& e) {
      Evaluation ev;
      ev.ok = false;
      ev.error = e.what();
      return ev;
    }
  }
  engine::ExperimentRequest r;
  r.circuit = c;
  r.train.epochs = p.epochs, r.train.batch = p.batch, r.train.lr = p.lr, r.train.optimizer = p.optimizer, r.train.seed = seed;
  r.train.device = p.device, r.train.precision = p.precision, r.train.tf32 = p.tf32;
  r.train.group = p.group;
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
  if (p.group && p.group->rank() != 0) return ev;  // rank 0 measures and reports the trial
  const circuit::Cost& total = rep.analysis.total;
  ev.metrics["accuracy"] = rep.train.val.accuracy;
  ev.metrics["loss"] = rep.train.val.loss;
  ev.metrics["test_accuracy"] = rep.test->accuracy;
  ev.metrics["params"] = double(total.params);
  ev.metrics["active_params"] = double(total.active_params);
  ev.metrics["flops"] = double(total.flops);
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
  cfg.circuit_text = [&](const Point& p) {
    auto c = apply(space, p);
    return c ? circuit::circuit_to_text(*c) : std::string();
  };
  Evaluate evaluate = [&](const store::TrialRecord& rec, const Point& p) {
    auto cand = realize(space, p);
    if (!cand) return Evaluation{false, {}, cand.error().message};
    return train_trial(cand->circuit, rec.seed, data, protocol);
  };
  return run_study(db, opened->id, problem_of(space), evaluate, cfg);
}

base::Status follow_trials(const engine::Dataset& d, const TrialProtocol& p) {
  if (!p.group) return base::Status::fail("follow_trials needs a process group");
  for (;;) {
    std::string text;
    try {
      text = p.group->share("");
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

void release_followers(const TrialProtocol& p) {
  if (!p.group || p.group->rank() != 0) return;
  try {
    p.group->share("");
  } catch (const std::exception&) {
    // The followers are gone already; nothing waits for this.
  }
}

}  // namespace search
