#include "pipeline.h"

#include <unistd.h>

#include "base/json.h"
#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/model.h"
#include "engine/options.h"
#include "report.h"

namespace search {

using base::Json;

std::string study_settings_json(const StudyRequest& r) {
  Json j = Json::object();
  j.set("protocol", *base::parse_json(protocol_json(r.protocol)));
  j.set("total", Json::integer(r.cfg.total));
  j.set("population", Json::integer(r.cfg.options.population));
  j.set("reference", Json::string(r.reference));
  std::string s = base::write_json_line(j);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

namespace {

// Adds one call's counts to a running summary; the front and the stop reason are the latest.
void accumulate(RunSummary& sum, RunSummary&& one) {
  sum.ran += one.ran, sum.finished += one.finished, sum.failed += one.failed, sum.requeued += one.requeued, sum.discarded += one.discarded;
  sum.front = std::move(one.front), sum.stop_reason = std::move(one.stop_reason);
}

// Joining a stored study: its spec, strategy, seed and settings replace the request's; the
// training options the user set must agree with the study's (its trials train alike).
base::Status adopt_stored_study(store::Store& db, StudyRequest& r, const std::vector<std::string>& given) {
  auto found = db.find_study(r.name);
  if (!found) return base::Status::fail(found.error().message);
  if (!*found) return base::Status::fail("no study `" + r.name + "` in " + db.path() + " (start it with `circuit search SPEC --study " + r.name + " --db ...`)");
  const store::StudyInfo& info = **found;
  auto space = parse_space(info.spec, "study " + r.name);
  if (!space) return base::Status::fail(space.error().message);
  r.space = std::move(*space);
  r.spec_text = info.spec;
  r.cfg.strategy = info.strategy, r.cfg.seed = info.seed;
  auto settings = base::parse_json(info.settings);
  if (!settings) return base::Status::fail("study `" + r.name + "`: unreadable settings");
  const Json* p = settings->get("protocol");
  if (!p) return base::Status::fail("study `" + r.name + "` was not started by `circuit search` (no training protocol stored)");
  auto protocol = parse_protocol(base::write_json_line(*p));
  if (!protocol) return base::Status::fail("study `" + r.name + "`: " + protocol.error().message);
  for (const std::string& name : given) {
    const engine::TrainOption* o = engine::find_train_option(name);
    if (!o) continue;
    std::string mine = engine::option_text(r.protocol.train, *o), theirs = engine::option_text(protocol->train, *o);
    if (mine != theirs)
      return base::Status::fail("study `" + r.name + "` trains with " + std::string(o->name) + " " + theirs + ", not " + mine +
                                ": every trial of a study trains alike (leave the option out to join it)");
  }
  r.protocol = std::move(*protocol);
  if (const Json* t = settings->get("total"); t && t->kind == Json::Kind::Int) r.cfg.total = t->i;
  if (const Json* n = settings->get("population"); n && n->kind == Json::Kind::Int) r.cfg.options.population = int(n->i);
  if (const Json* ref = settings->get("reference"); ref && ref->kind == Json::Kind::String) r.reference = ref->s;
  return {};
}

}  // namespace

base::Result<StudyOutcome> run_study(StudyRequest r) {
  StudyOutcome out;
  auto say = [&](const std::string& line) {
    if (r.on_log) r.on_log(line);
  };
  if (r.name.empty()) return base::Error{"a study needs a name"};
  auto db = store::Store::open(r.db);
  if (!db) return db.error();
  out.store = (*db)->path();
  if (!r.space) {
    if (auto s = adopt_stored_study(**db, r, r.set_options); !s) return base::Error{s.error};
  }
  auto ref = reference_point(r.space->objectives, r.space->constraints, r.reference);
  if (!ref) return base::Error{"study `" + r.name + "`: " + ref.error().message};
  r.cfg.reference = *ref;

  // Place this rank: its group (torchrun's variables), its share of the cores, its device.
  auto setup = engine::join_from_environment(r.device, r.backend, r.dist_timeout, r.threads < 0 ? 0 : r.threads);
  if (!setup) return setup.error();
  if (r.threads >= 0) engine::configure_runtime(setup->threads);  // -1 (Lua): the process's own setting
  const int threads = engine::runtime_threads();
  r.protocol.train.device = setup->device;
  r.protocol.train.group = setup->group;
  out.rank = setup->config.rank;
  out.device = engine::describe_device(setup->device);

  std::shared_ptr<const engine::Dataset> data = r.data;
  if (!data) {
    auto loaded = engine::load_dataset(r.protocol.data);
    if (!loaded) return base::Error{(setup->group ? "rank " + std::to_string(out.rank) + ": " : std::string()) + loaded.error().message};
    data = std::make_shared<const engine::Dataset>(std::move(*loaded));
  }
  if (setup->group && out.rank != 0) {
    // Rank 0 runs the study and stores every trial; this rank trains each one with it.
    if (auto s = follow_trials(*data, r.protocol); !s) return base::Error{s.error};
    return out;
  }
  FollowerRelease release(setup->group);  // on every way out, Lua errors included

  if (!r.versions.empty()) r.protocol.versions = r.versions;
  // Every trial record names the worker that ran it: its device (and GPU), threads and versions.
  (*db)->set_worker(out.device + ", " + std::to_string(threads) + " thread(s)" + (r.versions.empty() ? "" : ", " + r.versions));
  r.cfg.settings = study_settings_json(r);
  say("study `" + r.name + "` in " + out.store + ": " + r.cfg.strategy + " over " + std::to_string(r.space->count()) + " points, " +
      std::to_string(r.space->objectives.size()) + " objectives; worker " + store::host_name() + ":" + std::to_string(getpid()) + ", " +
      out.device + ", " + std::to_string(threads) + " thread(s)\n" + data->protocol);
  out.protocol = r.protocol;

  if (r.baseline.empty()) {
    auto s = run_training_study(**db, r.name, *r.space, r.spec_text, *data, r.protocol, r.cfg, &out.study_id);
    if (!s) return s.error();
    out.summary = std::move(*s);
  } else {
    // Trial for trial with the baseline: one trial of each per round, until either stops.
    RunConfig main = r.cfg, base = r.cfg;
    main.trials = base.trials = 1;
    base.strategy = r.baseline;
    // Its own random stream: with the study's seed, random search would repeat the study's random
    // first generation trial for trial and the two curves would coincide.
    base.seed = r.cfg.seed + 1;
    out.baseline.emplace();
    int64_t baseline_id = 0;
    for (int t = 0; r.cfg.trials < 0 || t < r.cfg.trials; ++t) {
      auto s = run_training_study(**db, r.name, *r.space, r.spec_text, *data, r.protocol, main, &out.study_id);
      if (!s) return s.error();
      const bool ran = s->ran > 0;
      accumulate(out.summary, std::move(*s));
      if (!ran) break;
      auto b = run_training_study(**db, r.name + "-" + r.baseline, *r.space, r.spec_text, *data, r.protocol, base, &baseline_id);
      if (!b) return b.error();
      accumulate(*out.baseline, std::move(*b));
    }
  }
  if (auto trials = (*db)->trials(out.study_id)) out.trials = std::move(*trials);
  return out;
}

}  // namespace search
