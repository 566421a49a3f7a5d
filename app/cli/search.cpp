// `circuit search` (run or resume a study), `circuit report` (front and hypervolume plots, CSV)
// and `circuit replay` (re-train one stored trial from its protocol).
#include <algorithm>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <unistd.h>

#include "circuit/circuit_file.h"
#include "base/file.h"
#include "base/json.h"
#include "args.h"
#include "launch.h"
#include "engine/distributed.h"
#include "commands.h"
#include "engine/model.h"
#include "engine/options.h"
#include "script/engine_extension.h"
#include "script/lua_strategy.h"
#include "search/report.h"
#include "search/spos.h"
#include "search/space.h"
#include "search/strategy.h"
#include "search/study.h"
#include "search/pipeline.h"
#include "search/trial_runner.h"
#include "store/store.h"

namespace cli {

namespace {

std::string search_usage() {
  return "usage: circuit search SPEC.search.json --study NAME [options]\n"
    "  --db STORE           a file or a PostgreSQL URL (default circuit-studies.sqlite)\n"
    "  --strategy NAME      nsga2 | evolution | random | a Lua strategy plugin (default nsga2)\n"
    "  --trials N           trials this process runs (default 20)\n"
    "  --total N            stop when the study holds N trials (several processes may share one)\n"
    "  --seed S             strategy seed (default 0)      --worker W   distinct per concurrent process\n"
    "  --population P       population of evolution and NSGA-II (default 50; use less for small budgets)\n"
    "  --data NAME          " + engine::data_set_names() + " (default fashion-mnist)\n"
    "  --limit N            training examples per trial (default 6400)\n"
    "  --threads T          LibTorch threads (0: every core)\n"
    "  --reference m=v,...  hypervolume reference (default: 0 for maximised, the constraint for minimised)\n"
    "  --no-latency         do not measure latency\n"
    "  --lease SECONDS      a new study's lease: a trial whose worker is silent this long is run again (default 60)\n"
    "  --attempts N         a new study's limit on how often one trial is tried (default 3)\n"
    CIRCUIT_DEVICE_USAGE
    CIRCUIT_DIST_USAGE
    "training of each trial (as circuit train; stored with every trial, so `circuit replay` repeats it):\n" +
    engine::train_options_usage() +
    "--db takes a file (SQLite) or postgresql://user@host[:port]/db, which workers on any number of\n"
    "machines share (`circuit worker --db URL --study NAME` joins without the spec).\n"
    "A killed search resumes where it stopped when run again with the same --study and --db.\n";
}

const char* kWorkerUsage =
    "usage: circuit worker --db STORE --study NAME [--trials N] [--threads T] [--worker W] [--device D]\n"
    "  joins a study started by `circuit search` (on this or another machine) and runs its trials until\n"
    "  the study is complete, with the spec, strategy and training protocol stored with it\n"
    "  --trials N   stop after N trials here       --worker W   random stream (default: from host and pid)\n"
    "  --device D   cpu | cuda | cuda:N | auto (auto); the training options are the study's: one given\n"
    "               here must agree with it (--lr, --epochs, ... as circuit search)\n"
    CIRCUIT_DIST_USAGE;

const char* kReportUsage =
    "usage: circuit report STUDY [--db STORE] [-o DIR] [--baseline STUDY] [--reference m=v,...]\n"
    "  writes DIR/STUDY_front.svg, DIR/STUDY_hypervolume.svg (against the baseline study, e.g. a\n"
    "  random search at the same budget), DIR/STUDY_parallel.svg (every trial over every objective\n"
    "  and choice), DIR/STUDY_scatter.svg (each pair of objectives), DIR/STUDY_trials.csv and\n"
    "  DIR/STUDY_report.html (the plots and the trial table on one self-contained page)\n"
    "  --compare STUDY[@STORE]  another study (of any store: a file or a postgresql:// URL; default --db)\n"
    "             on the same objectives, repeatable: final hypervolume mean ± std per strategy, whether\n"
    "             each difference is within seed noise, both fronts in DIR/STUDY_compare_fronts.svg\n";

std::string spos_usage() {
  return "usage: circuit spos SPEC.search.json [options]\n"
    "  single-path one-shot search: a weight-sharing supernet, NSGA-II over sub-networks with\n"
    "  inherited weights, and Kendall's tau against stand-alone training of a few of them\n"
    "  --steps N        supernet training steps, one sampled sub-network each (default 1000)\n"
    "  --candidates M   sub-networks evaluated with inherited weights (default 100)\n"
    "  --population P   NSGA-II population of that search (default 20)\n"
    "  --check K        sub-networks re-trained alone for the rank correlation (default 8)\n"
    "  --data NAME  --limit N  --seed S  --threads T\n"
    CIRCUIT_DEVICE_USAGE
    "training of the stand-alone check runs (the supernet takes its batch, lr and weight decay):\n" +
    engine::train_options_usage();
}

const char* kReplayUsage = "usage: circuit replay STUDY TRIAL [--db FILE] [--threads T] [--device D]\n";

// What a result depends on besides its protocol: our version and LibTorch's (and CUDA's).
std::string versions() {
  engine::TorchBuild b = engine::torch_build();
  return std::string("circuit ") + CIRCUIT_VERSION + ", LibTorch " + b.version + (b.cuda.empty() ? "" : ", CUDA " + b.cuda);
}

struct StudySpec {
  store::StudyInfo info;
  search::Space space;
};

base::Result<StudySpec> stored_study(store::Store& db, const std::string& name) {
  auto found = db.find_study(name);
  if (!found) return found.error();
  if (!*found) return base::Error{"no study `" + name + "` in " + db.path()};
  auto space = search::parse_space((*found)->spec, "study " + name);
  if (!space) return space.error();
  return StudySpec{**found, std::move(*space)};
}

bool write_text(const std::string& path, const std::string& text) {
  if (auto s = base::write_file_atomic(path, text); !s) {
    std::fprintf(stderr, "%s\n", s.error.c_str());
    return false;
  }
  return true;
}

std::string metric_line(const search::Metrics& m) {
  std::string s;
  char b[64];
  for (const char* k : {"accuracy", "test_accuracy", "params", "flops", "latency_ms", "max_vio"}) {
    auto it = m.find(k);
    if (it == m.end()) continue;
    if (std::string(k) == "params" || std::string(k) == "flops") std::snprintf(b, sizeof b, "%s %.0f", k, it->second);
    else std::snprintf(b, sizeof b, "%s %.4g", k, it->second);
    s += (s.empty() ? "" : ", ") + std::string(b);
  }
  return s;
}

}  // namespace

namespace {

// --nproc: this command again on N ranks; rank 0 runs the study, the others train with it.
int launch_search_ranks(const char* command, int nproc, const std::vector<std::string>& args) {
  if (std::getenv("WORLD_SIZE"))
    return std::fprintf(stderr, "circuit %s: --nproc %d under a launcher that set WORLD_SIZE: use one or the other\n", command, nproc), 2;
  std::vector<std::string> rank_args{command};
  for (auto& a : without_nproc(args)) rank_args.push_back(a);
  return launch_ranks(nproc, rank_args, 10);
}

// Prints a study's trials and fronts as they come; what `circuit search` and `circuit worker` show.
void print_events(search::StudyRequest& r) {
  r.on_log = [](const std::string& line) { std::fprintf(stderr, "%s\n", line.c_str()); };
  r.cfg.on_event = [](const search::SearchEvent& e) {
    if (auto* t = std::get_if<search::TrialDone>(&e)) {
      const std::string& what = t->describe.empty() ? t->point : t->describe;
      if (t->discarded)
        std::printf("trial %3d  %s\n           lost its lease while it ran here (another worker took it back): result discarded\n",
                    t->number, what.c_str());
      else if (t->ok) std::printf("trial %3d  %s\n           %s  (%.1f s)\n", t->number, what.c_str(), metric_line(t->metrics).c_str(), t->seconds);
      else std::printf("trial %3d  %s\n           failed: %s\n", t->number, what.c_str(), t->error.c_str());
    } else if (auto* f = std::get_if<search::FrontUpdate>(&e)) {
      std::printf("           %d trials done, front of %zu, hypervolume %.6g\n", f->trials_done, f->front.size(), f->hypervolume);
    }
    std::fflush(stdout);
  };
}

int run_search(search::StudyRequest& r, const char* who) {
  std::unique_ptr<script::Host> lua;  // Lua routers a space may name, Lua strategies
  try {
    lua = script::host_with_plugin_routers();
    script::register_lua_strategies(*lua);
  } catch (const std::exception& e) {
    return std::fprintf(stderr, "%s: %s\n", who, e.what()), 2;
  }
  r.versions = versions();
  print_events(r);
  base::Result<search::StudyOutcome> out = base::Error{"not run"};
  try {
    out = search::run_study(r);
  } catch (const std::exception& e) {  // a Lua strategy's error, with its traceback
    return std::fprintf(stderr, "%s: %s\n", who, e.what()), 1;
  }
  if (!out) return std::fprintf(stderr, "%s: %s\n", who, out.error().message.c_str()), 1;
  if (out->rank != 0) return 0;  // a follower: rank 0 reports the study
  const search::RunSummary& sum = out->summary;
  std::printf("\n%d trials run here (%d finished, %d failed, %d resumed after a lost worker, %d discarded after a lost lease); stopped: %s\n",
              sum.ran, sum.finished, sum.failed, sum.requeued, sum.discarded, sum.stop_reason.c_str());
  std::printf("front: %zu trials, hypervolume %.6g; `circuit report %s --db %s` draws it\n", sum.front.front.size(), sum.front.hypervolume,
              r.name.c_str(), out->store.c_str());
  return 0;
}

}  // namespace

int search(const std::vector<std::string>& args) {
  search::StudyRequest r;
  r.cfg.trials = search::kDefaultTrials;
  r.protocol.data.train_limit = 6400;
  r.threads = 0;
  std::string spec_path;
  DistOptions dist;
  Args table("circuit search", search_usage());
  table.positional(spec_path).text("--study", r.name).text("--db", r.db).text("--strategy", r.cfg.strategy).number("--trials", r.cfg.trials)
      .number("--total", r.cfg.total).number("--seed", r.cfg.seed).number("--worker", r.cfg.worker).number("--population", r.cfg.options.population)
      .text("--data", r.protocol.data.name).number("--limit", r.protocol.data.train_limit).number("--threads", r.threads).text("--reference", r.reference)
      .set("--no-latency", r.protocol.latency, false).number("--lease", r.cfg.lease_seconds).number("--attempts", r.cfg.max_attempts);
  add_train_options(table, r.protocol.train, &r.set_options);
  add_device_option(table, r.device);
  add_dist_options(table, dist);
  if (auto rc = table.parse(args)) return *rc;
  if (spec_path.empty() && !r.name.empty()) return worker(args);  // join a stored study
  if (dist.nproc > 1) return launch_search_ranks("search", dist.nproc, args);
  if (spec_path.empty() || r.name.empty()) return std::fputs(search_usage().c_str(), stderr), 2;
  if (r.cfg.lease_seconds <= 0 || r.cfg.max_attempts < 1)
    return std::fprintf(stderr, "circuit search: --lease must be positive and --attempts at least 1\n"), 2;
  r.backend = dist.backend, r.dist_timeout = dist.timeout_s;
  auto space = search::load_space(spec_path);
  if (!space) return std::fprintf(stderr, "%s\n", space.error().message.c_str()), 2;
  r.space = std::move(*space);
  engine::size_to_circuit(r.protocol.data, r.space->base);  // token tasks take the base circuit's sizes
  auto text = base::read_file(spec_path);
  if (!text) return std::fprintf(stderr, "%s\n", text.error().message.c_str()), 2;
  r.spec_text = *text;
  return run_search(r, "circuit search");
}

int worker(const std::vector<std::string>& args) {
  search::StudyRequest r;
  r.cfg.trials = -1;  // until the study is complete
  r.threads = 0;
  std::string ignored;
  bool worker_given = false;
  DistOptions dist;
  Args table("circuit worker", kWorkerUsage);
  table.positional(ignored).text("--db", r.db).text("--study", r.name).number("--trials", r.cfg.trials).number("--threads", r.threads)
      .value("--worker", [&](const std::string& v) -> std::optional<std::string> {
        auto x = Args::parse_number(v);
        if (!x) return "expects a number, got `" + v + "`";
        r.cfg.worker = int(*x), worker_given = true;
        return std::nullopt;
      });
  add_train_options(table, r.protocol.train, &r.set_options);
  add_device_option(table, r.device);
  add_dist_options(table, dist);
  if (auto rc = table.parse(args)) return *rc;
  if (dist.nproc > 1) return launch_search_ranks("worker", dist.nproc, args);
  if (r.db.empty() || r.name.empty()) return std::fputs(kWorkerUsage, stderr), 2;
  if (!store::is_url(r.db) && !std::filesystem::exists(r.db))
    return std::fprintf(stderr, "circuit worker: no store at %s\n", r.db.c_str()), 2;
  r.backend = dist.backend, r.dist_timeout = dist.timeout_s;
  // Its own random stream unless told: distinct workers propose distinct points.
  if (!worker_given) r.cfg.worker = int(std::hash<std::string>()(store::host_name()) % 100000) * 100 + int(getpid() % 100) + 1;
  return run_search(r, "circuit worker");
}

int report(const std::vector<std::string>& args) {
  std::string study, db_path = "circuit-studies.sqlite", out = ".", baseline, reference;
  std::vector<std::string> compares;
  Args table("circuit report", kReportUsage);
  table.positional(study).text("--db", db_path).text("-o", out).text("--baseline", baseline).text("--reference", reference);
  table.value("--compare", [&](const std::string& v) -> std::optional<std::string> {
    compares.push_back(v);
    return std::nullopt;
  });
  if (auto rc = table.parse(args)) return *rc;
  if (study.empty()) return std::fputs(kReportUsage, stderr), 2;
  if (!store::is_url(db_path) && !std::filesystem::exists(db_path))
    return std::fprintf(stderr, "circuit report: no store at %s\n", db_path.c_str()), 2;
  auto db = store::Store::open(db_path);
  if (!db) return std::fprintf(stderr, "%s\n", db.error().message.c_str()), 2;
  auto s = stored_study(**db, study);
  if (!s) return std::fprintf(stderr, "circuit report: %s\n", s.error().message.c_str()), 2;
  auto trials = (*db)->trials(s->info.id);
  if (!trials) return std::fprintf(stderr, "%s\n", trials.error().message.c_str()), 1;
  std::vector<store::TrialRecord> base_trials;
  std::string base_strategy;
  if (!baseline.empty()) {
    auto b = stored_study(**db, baseline);
    if (!b) return std::fprintf(stderr, "circuit report: %s\n", b.error().message.c_str()), 2;
    auto bt = (*db)->trials(b->info.id);
    if (!bt) return std::fprintf(stderr, "%s\n", bt.error().message.c_str()), 1;
    base_trials = *bt;
    base_strategy = b->info.strategy;
  }
  auto ref = search::reference_point(s->space.objectives, s->space.constraints, reference);
  if (!ref) return std::fprintf(stderr, "circuit report: %s\n", ref.error().message.c_str()), 2;
  std::vector<search::HypervolumeSeries> series = {
      search::hypervolume_series(*trials, s->space.objectives, s->space.constraints, *ref, study + " (" + s->info.strategy + ")")};
  if (!baseline.empty())
    series.push_back(search::hypervolume_series(base_trials, s->space.objectives, s->space.constraints, *ref, baseline + " (" + base_strategy + ")"));
  // Other studies, from any store, on the same objectives: their fronts and hypervolume curves
  // beside this one's, and the strategies compared over seeds.
  std::vector<search::StudyResult> results = {{study, s->info.strategy, series.front().values}};
  std::vector<std::vector<store::TrialRecord>> compared;
  compared.reserve(compares.size());  // the fronts below point into it
  std::vector<std::pair<std::string, const std::vector<store::TrialRecord>*>> fronts = {{study + " (" + s->info.strategy + ")", &*trials}};
  for (const std::string& which : compares) {
    size_t at = which.find('@');
    std::string name = which.substr(0, at), path = at == std::string::npos ? db_path : which.substr(at + 1);
    if (!store::is_url(path) && !std::filesystem::exists(path)) return std::fprintf(stderr, "circuit report: --compare %s: no store at %s\n", which.c_str(), path.c_str()), 2;
    auto other_db = store::Store::open(path);
    if (!other_db) return std::fprintf(stderr, "circuit report: --compare %s: %s\n", which.c_str(), other_db.error().message.c_str()), 2;
    auto o = search::read_comparable(**other_db, name, s->space);
    if (!o) return std::fprintf(stderr, "circuit report: --compare %s: %s\n", which.c_str(), o.error().message.c_str()), 2;
    compared.push_back(std::move(o->trials));
    std::string label = name + (at == std::string::npos ? "" : "@" + store::display_name(path));
    series.push_back(search::hypervolume_series(compared.back(), s->space.objectives, s->space.constraints, *ref, label + " (" + o->info.strategy + ")"));
    results.push_back({label, o->info.strategy, series.back().values});
    fronts.push_back({label + " (" + o->info.strategy + ")", &compared.back()});
  }
  std::optional<search::StrategyComparison> comparison;
  if (!compares.empty()) comparison = search::compare_strategies(results);

  std::filesystem::create_directories(out);
  std::string stem = out + "/" + study;
  std::vector<std::string> plots = {
      search::front_svg(study + ": Pareto front", *trials, base_trials, s->space.objectives, s->space.constraints),
      search::hypervolume_svg(study + ": hypervolume after each trial", series, comparison ? search::seed_bands(results) : std::vector<search::SeedBand>{}),
      search::parallel_svg(study + ": every trial over every objective and choice", *trials, s->space),
      search::scatter_matrix_svg(study + ": objectives in pairs", *trials, s->space.objectives, s->space.constraints)};
  std::vector<std::string> files = {"_front.svg", "_hypervolume.svg", "_parallel.svg", "_scatter.svg"};
  if (comparison) {
    plots.push_back(search::fronts_svg(study + " and the studies compared: fronts", fronts, s->space.objectives, s->space.constraints));
    files.push_back("_compare_fronts.svg");
  }
  for (size_t i = 0; i < plots.size(); ++i)
    if (!write_text(stem + files[i], plots[i])) return 1;
  if (!write_text(stem + "_trials.csv", search::trials_csv(*trials)) ||
      !write_text(stem + "_report.html", search::report_html(study + " (" + s->info.strategy + ")", plots, *trials, s->space,
                                                             comparison ? &*comparison : nullptr)))
    return 1;
  for (auto& se : series)
    std::printf("%-40s %zu trials, hypervolume %.6g%s\n", se.label.c_str(), se.values.size(), se.values.empty() ? 0.0 : se.values.back(),
                se.samples ? (" (estimated from " + std::to_string(se.samples) + " Monte Carlo samples)").c_str() : "");
  std::printf("wrote %s_front.svg, _hypervolume.svg, _parallel.svg, _scatter.svg%s, _trials.csv and _report.html (all of them on one page)\n",
              stem.c_str(), comparison ? ", _compare_fronts.svg" : "");
  if (comparison) std::fputs(("\n" + search::comparison_text(*comparison)).c_str(), stdout);
  return 0;
}

int spos(const std::vector<std::string>& args) {
  std::string spec_path;
  search::SposOptions o;
  o.standalone.data.train_limit = 6400;
  o.standalone.latency = false;
  std::string device = "auto";
  int threads = 0;
  Args table("circuit spos", spos_usage());
  table.positional(spec_path).number("--steps", o.steps).number("--candidates", o.candidates).number("--population", o.population)
      .number("--check", o.check).number("--limit", o.standalone.data.train_limit).number("--seed", o.seed)
      .number("--threads", threads).text("--data", o.standalone.data.name);
  add_device_option(table, device);
  add_train_options(table, o.standalone.train);
  if (auto rc = table.parse(args)) return *rc;
  if (spec_path.empty()) return std::fputs(spos_usage().c_str(), stderr), 2;
  std::unique_ptr<script::Host> lua;
  try {
    lua = script::host_with_plugin_routers();
  } catch (const std::exception& e) {
    return std::fprintf(stderr, "circuit spos: %s\n", e.what()), 2;
  }
  auto space = search::load_space(spec_path);
  if (!space) return std::fprintf(stderr, "%s\n", space.error().message.c_str()), 2;
  auto placed = engine::join_from_environment(device, engine::Backend::automatic, 0, threads);
  if (!placed) return std::fprintf(stderr, "circuit spos: %s\n", placed.error().message.c_str()), 2;
  o.standalone.train.device = placed->device;
  engine::RuntimeInfo rt = engine::configure_runtime(placed->threads);
  auto data = engine::load_dataset(o.standalone.data);
  if (!data) return std::fprintf(stderr, "%s\n", data.error().message.c_str()), 2;
  std::fprintf(stderr, "SPOS over `%s` (%lld points), %d thread(s)\n%s\n", space->name.c_str(), (long long)space->count(), rt.threads,
               data->protocol.c_str());
  auto r = search::run_spos(*space, *data, o, [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); });
  if (!r) return std::fprintf(stderr, "circuit spos: %s\n", r.error().message.c_str()), 1;
  std::printf("supernet: %lld shared weights, %lld distinct sub-networks trained, %.1f s; loss by tenths:", (long long)r->shared_parameters,
              (long long)r->sampled_circuits, r->supernet_seconds);
  for (double l : r->loss) std::printf(" %.3f", l);
  std::printf("\nsearch: %zu sub-networks evaluated with inherited weights in %.1f s; Pareto front:\n", r->candidates.size(), r->search_seconds);
  for (auto& c : r->candidates)
    if (c.on_front) std::printf("  %-60s %s\n", c.describe.c_str(), metric_line(c.metrics).c_str());
  std::printf("rank check: %zu sub-networks re-trained alone (%.1f s)\n", r->check.size(), r->check_seconds);
  std::printf("  %-60s %10s %10s\n", "sub-network", "inherited", "alone");
  for (size_t i = 0; i < r->check.size(); ++i)
    std::printf("  %-60s %10.4f %10.4f\n", r->check_points[i].c_str(), r->check[i].first, r->check[i].second);
  std::printf("Kendall tau (inherited vs stand-alone validation accuracy): %.3f%s\n", r->kendall_tau,
              r->check.size() < 5 ? "  (too few samples to mean much)" : "");
  return 0;
}

int replay(const std::vector<std::string>& args) {
  std::string study, trial, db_path = "circuit-studies.sqlite", device = "auto";
  int threads = 0;
  Args table("circuit replay", kReplayUsage);
  table.positional(study).positional(trial).text("--db", db_path).number("--threads", threads);
  add_device_option(table, device);
  if (auto rc = table.parse(args)) return *rc;
  int number = trial.empty() ? 0 : std::atoi(trial.c_str());
  if (study.empty() || number <= 0) return std::fputs(kReplayUsage, stderr), 2;
  if (!store::is_url(db_path) && !std::filesystem::exists(db_path))
    return std::fprintf(stderr, "circuit replay: no store at %s\n", db_path.c_str()), 2;
  std::unique_ptr<script::Host> lua;
  try {
    lua = script::host_with_plugin_routers();
  } catch (const std::exception& e) {
    return std::fprintf(stderr, "circuit replay: %s\n", e.what()), 2;
  }
  auto db = store::Store::open(db_path);
  if (!db) return std::fprintf(stderr, "%s\n", db.error().message.c_str()), 2;
  auto s = stored_study(**db, study);
  if (!s) return std::fprintf(stderr, "circuit replay: %s\n", s.error().message.c_str()), 2;
  auto rec = (*db)->trial(s->info.id, number);
  if (!rec) return std::fprintf(stderr, "%s\n", rec.error().message.c_str()), 1;
  if (!*rec) return std::fprintf(stderr, "circuit replay: study `%s` has no trial %d\n", study.c_str(), number), 2;
  const store::TrialRecord& t = **rec;
  auto protocol = search::parse_protocol(t.protocol);
  if (!protocol) return std::fprintf(stderr, "circuit replay: %s\n", protocol.error().message.c_str()), 1;
  auto placed = engine::join_from_environment(device, engine::Backend::automatic, 0, threads);
  if (!placed) return std::fprintf(stderr, "circuit replay: %s\n", placed.error().message.c_str()), 2;
  protocol->train.device = placed->device;
  auto c = circuit::parse_circuit(t.circuit, study + " trial " + std::to_string(number));
  if (!c) return std::fprintf(stderr, "circuit replay: %s\n", c.error().message.c_str()), 1;
  engine::configure_runtime(placed->threads);
  auto data = engine::load_dataset(protocol->data);
  if (!data) return std::fprintf(stderr, "%s\n", data.error().message.c_str()), 2;
  std::printf("replaying trial %d of `%s` (seed %llu): %s\n", number, study.c_str(), (unsigned long long)t.seed, t.protocol.c_str());
  search::Evaluation ev = search::train_trial(*c, t.seed, *data, *protocol);
  if (!ev.ok) return std::fprintf(stderr, "circuit replay: %s\n", ev.error.c_str()), 1;
  std::printf("%-16s %14s %14s\n", "metric", "stored", "replayed");
  std::string differ;
  for (auto& [k, v] : ev.metrics) {
    auto it = t.metrics.find(k);
    bool timing = k == "latency_ms" || k == "train_seconds";
    std::printf("%-16s %14.6g %14.6g%s\n", k.c_str(), it == t.metrics.end() ? NAN : it->second, v, timing ? "  (timing: varies)" : "");
    if (!timing && (it == t.metrics.end() || std::abs(it->second - v) > 1e-9 * std::max(1.0, std::abs(v)))) differ += " " + k;
  }
  // Same seed, data and threads give the same run bit for bit; another thread count or machine may not.
  if (differ.empty()) std::printf("replay: the same metrics as stored (timings aside)\n");
  else std::printf("replay: differs from the stored trial in:%s (another machine or thread count?)\n", differ.c_str());
  return 0;
}

}  // namespace cli
