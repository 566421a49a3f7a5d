// Hypervolume and non-dominated sorting against naive peers in the same run, and our NSGA-II
// with the SQLite store on ZDT1/2/3 (30 variables, 101 levels each): median hypervolume over 5
// seeds and per-trial overhead of strategy + store. bench/peer_optuna.py runs Optuna the same way.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "search/pareto.h"
#include "search/study.h"

using namespace search;
using Clock = std::chrono::steady_clock;

static double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

static double naive_hv2(std::vector<Vec> pts, const Vec& ref) {  // O(N^2): filter the front pairwise, then sweep
  std::vector<Vec> front;
  for (auto& p : pts) {
    bool dom = false;
    for (auto& q : pts) dom |= dominates(q, p);
    if (!dom) front.push_back(p);
  }
  return hypervolume(front, ref);
}

static size_t naive_sort(const std::vector<Vec>& pts) {  // Deb's O(M N^2) fast non-dominated sort
  size_t n = pts.size();
  std::vector<std::vector<int>> S(n);
  std::vector<int> cnt(n, 0), cur;
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < n; ++j)
      if (dominates(pts[i], pts[j])) S[i].push_back(int(j));
      else if (dominates(pts[j], pts[i])) ++cnt[i];
  for (size_t i = 0; i < n; ++i)
    if (!cnt[i]) cur.push_back(int(i));
  size_t fronts = 0;
  while (!cur.empty()) {
    ++fronts;
    std::vector<int> next;
    for (int i : cur)
      for (int j : S[size_t(i)])
        if (--cnt[size_t(j)] == 0) next.push_back(j);
    cur = std::move(next);
  }
  return fronts;
}

static Metrics zdt(int which, const Point& p) {
  const size_t n = p.choice.size();
  auto x = [&](size_t i) { return p.choice[i] / 100.0; };
  double g = 0;
  for (size_t i = 1; i < n; ++i) g += x(i);
  g = 1 + 9 * g / double(n - 1);
  double f1 = x(0), h;
  if (which == 1) h = 1 - std::sqrt(f1 / g);
  else if (which == 2) h = 1 - (f1 / g) * (f1 / g);
  else h = 1 - std::sqrt(f1 / g) - (f1 / g) * std::sin(10 * M_PI * f1);
  return {{"f1", f1}, {"f2", g * h}};
}

int main(int argc, char** argv) {
  // bench_search [BUDGET] [SEEDS] [ZDT problems, e.g. 1,2,3] [--no-peer]
  int budget = argc > 1 ? std::atoi(argv[1]) : 500;
  int seeds = argc > 2 ? std::max(1, std::atoi(argv[2])) : 5;
  std::string problems = argc > 3 && argv[3][0] != '-' ? argv[3] : "1,2,3";
  bool peer_run = !(argc > 1 && std::string(argv[argc - 1]) == "--no-peer");
  Rng rng(1);
  std::vector<Vec> p2, p3;
  for (int i = 0; i < 10000; ++i) {
    double a = rng.uniform();
    p2.push_back({a, 1 - std::sqrt(a) + 0.3 * rng.uniform()});
    p3.push_back({rng.uniform(), rng.uniform(), rng.uniform()});
  }
  auto t = Clock::now();
  double hv = hypervolume(p2, {1.1, 1.4});
  double ours = ms_since(t);
  t = Clock::now();
  double hv_naive = naive_hv2(p2, {1.1, 1.4});
  double peer = ms_since(t);
  std::printf("hypervolume, 10000 2-D points: ours %.3f ms, naive O(N^2) %.1f ms (%.0fx); values %.9f %.9f\n", ours, peer, peer / ours, hv, hv_naive);
  t = Clock::now();
  auto f = nondominated_fronts(p3);
  ours = ms_since(t);
  t = Clock::now();
  size_t nf = naive_sort(p3);
  peer = ms_since(t);
  std::printf("non-dominated sort, 10000 3-D points: ours %.2f ms, Deb fast-NDS O(MN^2) %.1f ms (%.0fx); fronts %zu %zu\n", ours, peer, peer / ours, f.size(), nf);
  t = Clock::now();
  double hv3 = hypervolume(p3, {1, 1, 1});
  std::printf("hypervolume, 10000 3-D points: %.2f ms (%.6f)\n", ms_since(t), hv3);
  // Four objectives (a study's accuracy, params, latency, memory): uniform points, and points on
  // a front where none dominates another (the worst case: every point stays in every slice).
  std::vector<Vec> p4, s4;
  for (int i = 0; i < 10000; ++i) {
    p4.push_back({rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform()});
    Vec v{rng.uniform() + 1e-9, rng.uniform() + 1e-9, rng.uniform() + 1e-9, rng.uniform() + 1e-9};
    double norm = std::sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2] + v[3] * v[3]);
    for (double& x : v) x = 1 - x / norm;  // on a concave front: none dominates another
    s4.push_back(v);
  }
  t = Clock::now();
  double hv4 = hypervolume(p4, {1, 1, 1, 1});
  double u4 = ms_since(t);
  auto front4 = nondominated_fronts(p4).front().size();
  std::printf("hypervolume, 10000 4-D points: %.1f ms (%.6f; %zu on the front)\n", u4, hv4, front4);
  for (size_t n : {size_t(1000), size_t(10000)}) {
    std::vector<Vec> part(s4.begin(), s4.begin() + std::ptrdiff_t(n));
    t = Clock::now();
    double v = hypervolume(part, {1, 1, 1, 1});
    std::printf("hypervolume, %zu 4-D points all on the front: %.1f ms (%.6f)\n", n, ms_since(t), v);
  }

  std::printf("\nNSGA-II on ZDT (30 variables x 101 levels, population 50, %d trials, SQLite store, %d seeds)\n", budget, seeds);
  for (int which = 1; which <= 3; ++which) {
    if (problems.find(char('0' + which)) == std::string::npos) continue;
    std::vector<double> hvs, over;
    for (uint64_t seed = 0; seed < uint64_t(seeds); ++seed) {
      auto path = std::filesystem::temp_directory_path() / ("bench_search_" + std::to_string(getpid()) + ".db");
      for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s);
      auto db = std::move(*store::Store::open(path.string()));
      auto st = *db->open_study({0, "zdt", "", "[]", "nsga2", seed, 0});
      Problem pr;
      pr.cardinalities.assign(30, 101);
      pr.objectives = {{"f1", Direction::minimize}, {"f2", Direction::minimize}};
      RunConfig cfg;
      cfg.seed = seed, cfg.trials = budget, cfg.options.population = 50;
      double eval_ms = 0;
      auto t0 = Clock::now();
      auto r = run_trials(*db, st.id, pr, [&](auto&, const Point& p) {
        auto e0 = Clock::now();
        Evaluation e{true, zdt(which, p), ""};
        eval_ms += ms_since(e0);
        return e;
      }, cfg);
      double total = ms_since(t0);
      std::vector<Vec> objs;
      auto trials = *db->trials(st.id);
      for (auto& tr : trials) objs.push_back({tr.metrics["f1"], tr.metrics["f2"]});
      hvs.push_back(hypervolume(objs, {1.1, 11}));
      over.push_back((total - eval_ms) / budget);
      for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(path.string() + s);
      if (!r) std::fprintf(stderr, "%s\n", r.error().message.c_str());
    }
    std::sort(hvs.begin(), hvs.end());
    std::sort(over.begin(), over.end());
    std::printf("ours  ZDT%d: median hypervolume %.4f (ref 1.1, 11; seeds %.4f..%.4f), per-trial overhead %.3f ms\n", which,
                hvs[hvs.size() / 2], hvs.front(), hvs.back(), over[over.size() / 2]);
  }
  std::fflush(stdout);
  if (peer_run) {
    std::string cmd = "/usr/bin/python3 " CIRCUIT_SOURCE_DIR "/bench/peer_optuna.py " + std::to_string(budget) + " " + std::to_string(seeds) + " " + problems;
    return std::system(cmd.c_str());
  }
  return 0;
}
