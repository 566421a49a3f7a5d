#include "strategy.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

namespace search {

Problem problem_of(const Space& space) {
  Problem p;
  for (auto& d : space.dims) p.names.push_back(d.name), p.cardinalities.push_back(d.size());
  p.objectives = space.objectives;
  p.constraints = space.constraints;
  // The space is copied into the closure so a Problem outlives the Space it came from.
  auto cache = std::make_shared<std::map<std::string, std::string>>();
  auto sp = std::make_shared<Space>(space);
  p.reject = [sp, cache](const Point& pt) -> std::string {
    auto k = key(pt);
    if (auto it = cache->find(k); it != cache->end()) return it->second;
    std::string why;
    auto c = realize(*sp, pt);
    if (!c) why = c.error().message;
    else
      for (auto& con : sp->constraints)
        if (auto m = c->static_metrics.find(con.metric); m != c->static_metrics.end() && con.violation(m->second) > 0) {
          why = describe(*sp, pt) + ": " + con.metric + " = " + std::to_string(int64_t(m->second)) + " violates the constraint" +
                (con.max ? " <= " + std::to_string(int64_t(*con.max)) : "") + (con.min ? " >= " + std::to_string(int64_t(*con.min)) : "");
          break;
        }
    if (cache->size() < 100000) (*cache)[k] = why;
    return why;
  };
  return p;
}

std::optional<Vec> objective_vector(const Problem& p, const Metrics& m) {
  Vec v;
  for (auto& o : p.objectives) {
    auto it = m.find(o.metric);
    if (it == m.end() || std::isnan(it->second)) return std::nullopt;
    v.push_back(o.direction == Direction::maximize ? -it->second : it->second);
  }
  return v;
}

double total_violation(const Problem& p, const Metrics& m) {
  double v = 0;
  for (auto& c : p.constraints)
    if (auto it = m.find(c.metric); it != m.end()) v += c.violation(it->second);
  return v;
}

BasicStrategy::BasicStrategy(Problem problem, uint64_t seed, StrategyOptions options)
    : problem_(std::move(problem)), seed_(seed), opt_(options) {
  if (opt_.mutation < 0) opt_.mutation = 1.0 / std::max<size_t>(1, problem_.cardinalities.size());
}

std::optional<Point> BasicStrategy::ask() {
  Rng rng(mix_seed(seed_, asks_++));
  error_.clear();
  std::string last_reject;
  int duplicates = 0;
  // The strategy's own proposals first, then uniform samples: a strategy stuck on a corner of
  // the space (every mutation already seen) still finds new points while there are any.
  for (int attempt = 0; attempt < 2 * opt_.max_tries; ++attempt) {
    Point p = attempt < opt_.max_tries ? propose(rng) : random_point(problem_.cardinalities, rng);
    std::string k = key(p);
    if (seen_.count(k)) { ++duplicates; continue; }
    if (problem_.reject)
      if (std::string why = problem_.reject(p); !why.empty()) { last_reject = why; continue; }
    seen_.insert(std::move(k));
    return p;
  }
  error_ = "no new acceptable point after " + std::to_string(2 * opt_.max_tries) + " tries (" + std::to_string(duplicates) +
           " already seen" + (last_reject.empty() ? "" : "; last rejected: " + last_reject) + ")";
  return std::nullopt;
}

void BasicStrategy::tell(const Trial& t) {
  seen_.insert(key(t.point));
  // A strategy rebuilt from stored trials continues with the ask stream after them.
  asks_ = std::max<uint64_t>(asks_, uint64_t(std::max(0, t.number)));
  learn(t);
}

Point BasicStrategy::mutate_one(const Point& p, Rng& rng) const {
  std::vector<int> movable;
  for (size_t i = 0; i < problem_.cardinalities.size(); ++i)
    if (problem_.cardinalities[i] > 1) movable.push_back(int(i));
  Point q = p;
  if (movable.empty()) return q;
  int d = movable[size_t(rng.below(int(movable.size())))];
  int n = problem_.cardinalities[size_t(d)];
  q.choice[size_t(d)] = (p.choice[size_t(d)] + 1 + rng.below(n - 1)) % n;
  return q;
}

Point RandomSearch::propose(Rng& rng) { return random_point(problem_.cardinalities, rng); }

void RegularizedEvolution::learn(const Trial& t) {
  if (!t.ok) return;
  auto v = objective_vector(problem_, t.metrics);
  if (!v) return;
  population_.push_back({t.point, *v, total_violation(problem_, t.metrics)});
  if (int(population_.size()) > opt_.population) population_.erase(population_.begin());
}

Point RegularizedEvolution::propose(Rng& rng) {
  if (int(population_.size()) < opt_.population) return random_point(problem_.cardinalities, rng);
  std::vector<Vec> objs;
  std::vector<double> viol;
  std::vector<int> picked;
  for (int s = 0; s < opt_.sample; ++s) {
    int i = rng.below(int(population_.size()));
    picked.push_back(i);
    objs.push_back(population_[size_t(i)].objectives);
    viol.push_back(population_[size_t(i)].violation);
  }
  // Several objectives have no single best: take a random member of the sample's first front.
  auto fronts = constrained_fronts(objs, viol);
  const auto& best = fronts.front();
  int parent = picked[size_t(best[size_t(rng.below(int(best.size())))])];
  return mutate_one(population_[size_t(parent)].point, rng);
}

void Nsga2::learn(const Trial& t) {
  if (!t.ok) return;
  auto v = objective_vector(problem_, t.metrics);
  if (!v) return;
  archive_.push_back({t.point, *v, total_violation(problem_, t.metrics)});
  // Generations are counted in tells, not asks, so a strategy rebuilt from stored trials
  // selects the same parents as the one that asked them.
  if (archive_.size() >= selected_upto_ + size_t(opt_.population)) select_parents();
}

void Nsga2::select_parents() {
  std::vector<Member> pool = parents_;
  pool.insert(pool.end(), archive_.begin() + long(selected_upto_), archive_.end());
  selected_upto_ = archive_.size();
  std::vector<Vec> objs;
  std::vector<double> viol;
  for (auto& m : pool) objs.push_back(m.objectives), viol.push_back(m.violation);
  auto fronts = constrained_fronts(objs, viol);
  std::vector<Member> next;
  for (size_t r = 0; r < fronts.size() && int(next.size()) < opt_.population; ++r) {
    auto crowd = crowding_distance(objs, fronts[r]);
    std::vector<size_t> order(fronts[r].size());
    std::iota(order.begin(), order.end(), size_t(0));
    // Most isolated first; ties keep pool order, so selection is deterministic.
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return crowd[a] > crowd[b]; });
    for (size_t k : order) {
      if (int(next.size()) >= opt_.population) break;
      Member m = pool[size_t(fronts[r][k])];
      m.rank = int(r), m.crowding = crowd[k];
      next.push_back(std::move(m));
    }
  }
  parents_ = std::move(next);
}

Point Nsga2::propose(Rng& rng) {
  if (parents_.empty()) return random_point(problem_.cardinalities, rng);
  auto tournament = [&]() -> const Member& {
    const Member& a = parents_[size_t(rng.below(int(parents_.size())))];
    const Member& b = parents_[size_t(rng.below(int(parents_.size())))];
    if (a.rank != b.rank) return a.rank < b.rank ? a : b;
    if (a.crowding != b.crowding) return a.crowding > b.crowding ? a : b;
    return rng.below(2) ? a : b;
  };
  const Member& p1 = tournament();
  const Member& p2 = tournament();
  Point child = p1.point;
  if (rng.uniform() < opt_.crossover)
    for (size_t d = 0; d < child.choice.size(); ++d)
      if (rng.below(2)) child.choice[d] = p2.point.choice[d];
  for (size_t d = 0; d < child.choice.size(); ++d) {
    int n = problem_.cardinalities[d];
    if (n > 1 && rng.uniform() < opt_.mutation) child.choice[d] = (child.choice[d] + 1 + rng.below(n - 1)) % n;
  }
  return child;
}

namespace {
std::map<std::string, StrategyFactory>& added_strategies() {
  thread_local std::map<std::string, StrategyFactory> added;
  return added;
}
}  // namespace

void register_strategy(const std::string& name, StrategyFactory make) { added_strategies()[name] = std::move(make); }

std::vector<std::string> strategy_names() {
  std::vector<std::string> names = {"random", "evolution", "nsga2"};
  for (auto& [name, make] : added_strategies()) names.push_back(name);
  return names;
}

base::Result<std::unique_ptr<Strategy>> make_strategy(std::string_view name, Problem problem, uint64_t seed,
                                                         StrategyOptions options) {
  if (problem.cardinalities.empty()) return base::Error{"the search space has no dimensions"};
  for (size_t i = 0; i < problem.cardinalities.size(); ++i)
    if (problem.cardinalities[i] < 1) return base::Error{"dimension " + std::to_string(i) + " has no choices"};
  if (options.population < 2) return base::Error{"strategy population must be at least 2"};
  if (name == "random") return std::unique_ptr<Strategy>(std::make_unique<RandomSearch>(std::move(problem), seed, options));
  if (name == "evolution" || name == "regularized_evolution")
    return std::unique_ptr<Strategy>(std::make_unique<RegularizedEvolution>(std::move(problem), seed, options));
  if (name == "nsga2") return std::unique_ptr<Strategy>(std::make_unique<Nsga2>(std::move(problem), seed, options));
  if (auto it = added_strategies().find(std::string(name)); it != added_strategies().end()) {
    try {
      return it->second(std::move(problem), seed, options);
    } catch (const std::exception& e) {
      return base::Error{"strategy `" + std::string(name) + "`: " + e.what()};
    }
  }
  std::string list;
  for (auto& n : strategy_names()) list += (list.empty() ? "" : ", ") + n;
  return base::Error{"unknown strategy `" + std::string(name) + "` (available: " + list + ")"};
}

}  // namespace search
