#include "spos.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <map>
#include <memory>

#include "engine/supernet.h"
#include "engine/train.h"
#include "strategy.h"

namespace search {

namespace {

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

double kendall_tau(const std::vector<double>& a, const std::vector<double>& b) {
  double concordant = 0, discordant = 0, ties_a = 0, ties_b = 0;
  for (size_t i = 0; i < a.size(); ++i)
    for (size_t j = i + 1; j < a.size(); ++j) {
      double da = a[i] - a[j], db = b[i] - b[j];
      if (da == 0 && db == 0) continue;
      if (da == 0) ++ties_a;
      else if (db == 0) ++ties_b;
      else if ((da > 0) == (db > 0)) ++concordant;
      else ++discordant;
    }
  double denom = std::sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b));
  return denom > 0 ? (concordant - discordant) / denom : 0;
}

base::Result<SposResult> run_spos(const Space& space, const engine::Dataset& d, const SposOptions& o, const SposProgress& progress) {
  auto say = [&](const std::string& m) {
    if (progress) progress(m);
  };
  Problem problem = problem_of(space);
  const engine::TrainOptions& train = o.standalone.train;
  engine::SharedWeights bank(o.seed, train.lr, train.weight_decay, train.device);
  std::map<std::string, std::shared_ptr<engine::Model>> models;  // point key -> model bound to the bank
  auto model_of = [&](const Point& p) -> base::Result<std::shared_ptr<engine::Model>> {
    auto it = models.find(key(p));
    if (it != models.end()) return it->second;
    auto cand = realize(space, p);
    if (!cand) return cand.error();
    auto m = bank.bind(cand->circuit);
    if (!m) return m.error();
    models[key(p)] = *m;
    return *m;
  };

  SposResult r;
  // 1. Supernet: one uniformly sampled valid circuit per step.
  Rng rng(mix_seed(o.seed, 1));
  auto t0 = std::chrono::steady_clock::now();
  double tenth_sum = 0;
  int64_t tenth_n = 0, tenth = std::max<int64_t>(1, o.steps / 10);
  for (int64_t step = 0; step < o.steps; ++step) {
    Point p;
    int tries = 0;
    do {
      p = random_point(problem.cardinalities, rng);
    } while (problem.reject && !problem.reject(p).empty() && ++tries < 1000);
    if (tries >= 1000) return base::Error{"SPOS: no valid circuit found in 1000 samples of the space"};
    auto m = model_of(p);
    if (!m) return base::Error{"SPOS: " + describe(space, p) + ": " + m.error().message};
    auto loss = bank.train_step(**m, d, step, train.batch);
    if (!loss) return loss.error();
    tenth_sum += *loss, ++tenth_n;
    if ((step + 1) % tenth == 0 || step + 1 == o.steps) {
      r.loss.push_back(tenth_sum / double(tenth_n));
      say("supernet step " + std::to_string(step + 1) + "/" + std::to_string(o.steps) + ", loss " + std::to_string(r.loss.back()) + ", " +
          std::to_string(models.size()) + " circuits sampled");
      tenth_sum = 0, tenth_n = 0;
    }
  }
  r.supernet_seconds = seconds_since(t0);
  r.sampled_circuits = int64_t(models.size());
  r.shared_parameters = bank.parameter_count();

  // 2. Search with inherited weights: NSGA-II over the space's objectives and constraints.
  auto evaluate = [&](const Point& p) -> Metrics {
    Metrics out;
    auto cand = realize(space, p);
    auto m = model_of(p);
    if (!cand || !m) return out;
    if (auto s = bank.recalibrate(**m, d, o.recalibrate, train.batch); !s) return out;
    engine::EvalResult e = engine::evaluate(**m, d, d.val);
    out = cand->static_metrics;
    out["accuracy"] = e.accuracy;
    out["loss"] = e.loss;
    return out;
  };
  StrategyOptions so;
  so.population = std::max(2, o.population);
  auto strategy = make_strategy("nsga2", problem, mix_seed(o.seed, 2), so);
  if (!strategy) return strategy.error();
  t0 = std::chrono::steady_clock::now();
  for (int i = 1; i <= o.candidates; ++i) {
    auto p = (*strategy)->ask();
    if (!p) break;
    Metrics m = evaluate(*p);
    (*strategy)->tell({i, *p, !m.empty(), m});
    if (!m.empty()) r.candidates.push_back({*p, describe(space, *p), m, false});
  }
  r.search_seconds = seconds_since(t0);
  {
    std::vector<Vec> pts;
    std::vector<double> violation;
    std::vector<Direction> dirs;
    for (auto& ob : space.objectives) dirs.push_back(ob.direction);
    for (auto& c : r.candidates) {
      Vec v;
      for (auto& ob : space.objectives) v.push_back(c.metrics.count(ob.metric) ? c.metrics.at(ob.metric) : NAN);
      pts.push_back(to_minimization(v, dirs));
      violation.push_back(total_violation(problem, c.metrics));
    }
    auto fronts = constrained_fronts(pts, violation);
    if (!fronts.empty())
      for (int i : fronts[0]) r.candidates[size_t(i)].on_front = violation[size_t(i)] == 0;
  }
  say("searched " + std::to_string(r.candidates.size()) + " sub-networks with inherited weights");

  // 3. Trust check: re-train a few evaluated sub-networks alone, compare the rankings.
  t0 = std::chrono::steady_clock::now();
  std::vector<size_t> order(r.candidates.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  Rng pick(mix_seed(o.seed, 3));
  for (size_t i = order.size(); i > 1; --i) std::swap(order[i - 1], order[size_t(pick.below(int(i)))]);
  order.resize(std::min<size_t>(order.size(), size_t(std::max(0, o.check))));
  std::vector<double> inherited, alone;
  for (size_t i : order) {
    const SposCandidate& c = r.candidates[i];
    auto cand = realize(space, c.point);
    if (!cand) continue;
    Evaluation e = train_trial(cand->circuit, mix_seed(o.seed, 1000 + i), d, o.standalone);
    if (!e.ok) continue;
    inherited.push_back(c.metrics.at("accuracy"));
    alone.push_back(e.metrics.at("accuracy"));
    r.check.push_back({inherited.back(), alone.back()});
    r.check_points.push_back(c.describe);
    say("stand-alone " + std::to_string(r.check.size()) + "/" + std::to_string(order.size()) + ": " + c.describe);
  }
  r.kendall_tau = kendall_tau(inherited, alone);
  r.check_seconds = seconds_since(t0);
  return r;
}

}  // namespace search
