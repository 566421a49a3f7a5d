// Search strategies behind one ask/tell interface. A strategy proposes points (ask) and learns
// from finished trials (tell); it never sees circuits or training, so the same strategies drive
// architecture search, a synthetic benchmark (ZDT) or a Lua plugin's trial loop. Every strategy is
// seeded: the k-th ask draws from its own stream mix_seed(seed, k), so the same seed and the same
// tells give the same asks, and a strategy rebuilt from stored trials continues deterministically.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "pareto.h"
#include "point.h"
#include "space.h"

namespace search {

/// What a strategy optimises: the shape of the space, the objectives and constraints, and an
/// optional check that refuses a point before any training (invalid circuit, params too high).
struct Problem {
  std::vector<std::string> names;  // dimension names (for messages); may be empty
  std::vector<int> cardinalities;  // choices per dimension
  std::vector<Objective> objectives;
  std::vector<Constraint> constraints;
  /// Why `point` must not be proposed, or "" when it may. Null: every point may.
  std::function<std::string(const Point&)> reject;
};

/// The problem of a search space. Its `reject` realises the circuit (shape inference) and checks
/// the constraints on static metrics (params, active_params, flops); results are cached.
Problem problem_of(const Space& space);

/// A finished (or failed) evaluation as a strategy sees it.
struct Trial {
  int number = 0;  // 1-based, in the order trials were claimed
  Point point;
  bool ok = false;  // false: failed (no usable metrics)
  Metrics metrics;
};

/// The trial's objectives as a minimisation vector, or nullopt when a metric is missing or NaN.
std::optional<Vec> objective_vector(const Problem& p, const Metrics& m);
/// Sum of constraint violations over constraints whose metric is present (0: feasible).
double total_violation(const Problem& p, const Metrics& m);

/// Tuning of the built-in strategies (defaults follow the papers, scaled for small budgets).
struct StrategyOptions {
  int population = 50;         // evolution, NSGA-II
  int sample = 10;             // regularized evolution: tournament size S
  double crossover = 0.9;      // NSGA-II: probability of uniform crossover
  double mutation = -1;        // NSGA-II: per-dimension mutation probability; <0: 1/dimensions
  int max_tries = 200;         // proposals tried per ask before giving up
};

/// The ask/tell interface. Not thread-safe: one strategy per search loop.
class Strategy {
 public:
  virtual ~Strategy() = default;
  virtual std::string name() const = 0;
  /// The next point to evaluate: never one already asked, told or marked pending, and never one
  /// the problem rejects. nullopt: the strategy found no new acceptable point.
  virtual std::optional<Point> ask() = 0;
  /// A finished or failed trial (asked by this strategy or by another process).
  virtual void tell(const Trial& t) = 0;
  /// A point someone else is evaluating: do not propose it.
  virtual void mark_pending(const Point& p) = 0;
  /// Why the last ask() returned nullopt ("" otherwise).
  virtual std::string last_error() const = 0;
};

/// Shared machinery: de-duplication, the per-ask random stream, and the reject loop. Subclasses
/// only propose a candidate from their state and learn from trials.
class BasicStrategy : public Strategy {
 public:
  BasicStrategy(Problem problem, uint64_t seed, StrategyOptions options);
  std::optional<Point> ask() final;
  void tell(const Trial& t) final;
  void mark_pending(const Point& p) final { seen_.insert(key(p)); }
  std::string last_error() const final { return error_; }
  const Problem& problem() const { return problem_; }

 protected:
  virtual Point propose(Rng& rng) = 0;
  virtual void learn(const Trial& t) = 0;
  /// Changes one dimension (with more than one choice) to a different value.
  Point mutate_one(const Point& p, Rng& rng) const;

  Problem problem_;
  uint64_t seed_;
  StrategyOptions opt_;

 private:
  std::set<std::string> seen_;
  uint64_t asks_ = 0;
  std::string error_;
};

/// Uniform random search: the baseline every other strategy is compared against.
class RandomSearch : public BasicStrategy {
 public:
  using BasicStrategy::BasicStrategy;
  std::string name() const override { return "random"; }

 protected:
  Point propose(Rng& rng) override;
  void learn(const Trial&) override {}
};

/// Regularized (aging) evolution, Real et al. 2019: a population of the P most recent trials;
/// the best of S sampled members (constraint-domination, then Pareto rank) is mutated in one
/// dimension; the oldest member dies.
class RegularizedEvolution : public BasicStrategy {
 public:
  using BasicStrategy::BasicStrategy;
  std::string name() const override { return "evolution"; }

 protected:
  Point propose(Rng& rng) override;
  void learn(const Trial& t) override;

 private:
  struct Member { Point point; Vec objectives; double violation; };
  std::vector<Member> population_;  // oldest first
};

/// NSGA-II (Deb et al. 2002) with constraint-domination, over discrete choices: the first P
/// trials are random; then parents are the elite P of (previous parents + new trials) by
/// constrained rank and crowding distance, offspring come from binary tournaments, uniform
/// crossover and per-dimension reset mutation. Asynchronous: the elite set is rebuilt each time
/// P more trials have been told.
class Nsga2 : public BasicStrategy {
 public:
  using BasicStrategy::BasicStrategy;
  std::string name() const override { return "nsga2"; }

 protected:
  Point propose(Rng& rng) override;
  void learn(const Trial& t) override;

 private:
  struct Member { Point point; Vec objectives; double violation; int rank = 0; double crowding = 0; };
  void select_parents();
  std::vector<Member> archive_;   // every told ok trial, in tell order
  std::vector<Member> parents_;
  size_t selected_upto_ = 0;      // archive_ prefix already considered for parents_
};

/// Makes an added strategy (a Lua `strategy` plugin) from the problem, seed and options.
using StrategyFactory = std::function<std::unique_ptr<Strategy>(Problem problem, uint64_t seed, StrategyOptions options)>;
/// Adds (or replaces) a strategy for searches run on the calling thread afterwards (a Lua
/// strategy must run on the thread of its Lua state). Built-in names cannot be shadowed.
void register_strategy(const std::string& name, StrategyFactory make);

/// "random", "evolution" (or "regularized_evolution"), "nsga2", or one added with
/// register_strategy on this thread; an error lists the names.
base::Result<std::unique_ptr<Strategy>> make_strategy(std::string_view name, Problem problem, uint64_t seed,
                                                         StrategyOptions options = {});
/// Names make_strategy accepts on this thread.
std::vector<std::string> strategy_names();

}  // namespace search
