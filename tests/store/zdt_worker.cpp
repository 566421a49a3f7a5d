// A search worker whose trials cost nothing but an optional sleep (ZDT1 over six 11-way choices),
// so the store is what a test or benchmark exercises: the fault tests and bench_store run many of
// these as real processes on one study.
//   zdt_worker STORE STUDY [--total N] [--trials N] [--sleep-ms M] [--lease S] [--attempts A]
//                          [--worker W] [--population P]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

#include "search/study.h"

int main(int argc, char** argv) {
  if (argc < 3) return std::fputs("usage: zdt_worker STORE STUDY [--total N] [--trials N] [--sleep-ms M] [--lease S] [--attempts A] [--worker W] [--population P]\n", stderr), 2;
  std::string db_name = argv[1], study = argv[2];
  search::RunConfig cfg;
  cfg.seed = 1, cfg.options.population = 10, cfg.strategy = "nsga2";
  int sleep_ms = 0;
  store::StudyInfo info{0, study, "zdt1", "[]", "nsga2", 1, 0};
  for (int i = 3; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    double v = std::atof(argv[i + 1]);
    if (k == "--total") cfg.total = int64_t(v);
    else if (k == "--trials") cfg.trials = int(v);
    else if (k == "--sleep-ms") sleep_ms = int(v);
    else if (k == "--lease") info.lease_seconds = v;
    else if (k == "--attempts") info.max_attempts = int(v);
    else if (k == "--worker") cfg.worker = int(v);
    else if (k == "--population") cfg.options.population = int(v);
    else return std::fprintf(stderr, "zdt_worker: unknown option %s\n", k.c_str()), 2;
  }
  auto db = store::Store::open(db_name);
  if (!db) return std::fprintf(stderr, "zdt_worker: %s\n", db.error().message.c_str()), 1;
  (*db)->set_worker("zdt worker " + std::to_string(cfg.worker));
  auto st = (*db)->open_study(info);
  if (!st) return std::fprintf(stderr, "zdt_worker: %s\n", st.error().message.c_str()), 1;
  search::Problem problem;
  problem.cardinalities.assign(6, 11);
  problem.objectives = {{"f1", search::Direction::minimize}, {"f2", search::Direction::minimize}};
  cfg.on_event = [](const search::SearchEvent& e) {
    if (auto* t = std::get_if<search::TrialDone>(&e)) {
      std::printf("trial %d %s\n", t->number, t->discarded ? "discarded: lease lost" : t->ok ? "finished" : "failed");
      std::fflush(stdout);
    }
  };
  auto zdt1 = [&](const store::TrialRecord&, const search::Point& pt) {
    if (sleep_ms) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
    double g = 0;
    for (size_t i = 1; i < pt.choice.size(); ++i) g += pt.choice[i] / 10.0;
    g = 1 + 9 * g / double(pt.choice.size() - 1);
    double f1 = pt.choice[0] / 10.0;
    return search::Evaluation{true, {{"f1", f1}, {"f2", g * (1 - std::sqrt(f1 / g))}}, ""};
  };
  auto r = search::run_trials(**db, st->id, problem, zdt1, cfg);
  if (!r) return std::fprintf(stderr, "zdt_worker: %s\n", r.error().message.c_str()), 1;
  std::printf("ran %d (%d finished, %d failed, %d discarded); stopped: %s\n", r->ran, r->finished, r->failed, r->discarded,
              r->stop_reason.c_str());
  return 0;
}
