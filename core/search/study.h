// Runs a study: the loop that joins a strategy, an evaluation function and the store. Each
// trial is claimed in the store before it runs and committed when it ends, so the loop can be
// killed at any moment, resumed by calling run_trials again, and run by several processes at once.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "base/result.h"
#include "circuit/graph.h"
#include "search_events.h"
#include "store/store.h"
#include "strategy.h"

namespace events { class Bus; }

namespace search {

/// What an evaluation returns: metrics (objectives, constraint metrics, anything else worth
/// keeping) or a failure message.
struct Evaluation {
  bool ok = true;
  Metrics metrics;
  std::string error;
};

/// Evaluates one claimed trial (its number, seed and circuit are in the record).
using Evaluate = std::function<Evaluation(const store::TrialRecord& trial, const Point& point)>;

/// Trials one call runs when the user does not say (`circuit search`, `circuit.search`, the studio).
inline constexpr int kDefaultTrials = 20;

struct RunConfig {
  std::string strategy = "nsga2";
  uint64_t seed = 0;
  StrategyOptions options;
  /// Distinct per concurrent process: separates their random streams so they propose different
  /// points. Worker 0 alone reproduces a single-process run exactly.
  int worker = 0;
  /// Used only when this call creates the study: its lease length, how often one trial may be
  /// tried before it is failed, and what a joining worker needs (JSON, see store::StudyInfo).
  double lease_seconds = 60;
  int max_attempts = 3;
  std::string settings = "{}";
  int trials = -1;      // trials this call runs (-1: no limit of its own)
  int64_t total = -1;   // stop once the study holds this many trials (-1: no limit)
  std::string protocol; // stored with every trial (JSON)
  /// The circuit text stored with each new trial; null stores none.
  std::function<std::string(const Point&)> circuit_text;
  /// Reference point for the hypervolume, in metric units per objective; empty: not computed.
  Vec reference;
  SearchSink on_event;
  events::Bus* bus = nullptr;  // optional: a LogLine per trial
  /// Checked before each trial: when set, the call stops with stop_reason "cancelled" (the trial
  /// that runs meanwhile finishes and is committed).
  const std::atomic<bool>* cancel = nullptr;
  /// Asked before a trial's circuit trains (training studies): a non-empty answer fails the trial
  /// with it, before anything is allocated. A Lua script's native memory limit answers here.
  std::function<std::string(const circuit::Circuit&)> admit;
};

struct RunSummary {
  int ran = 0, finished = 0, failed = 0, requeued = 0;
  int discarded = 0;        // results not committed: the lease ran out meanwhile (see TrialDone)
  std::string stop_reason;  // "trials", "total", "cancelled", or why the strategy stopped
  FrontUpdate front;        // after the last trial
};

/// Runs trials until `cfg.trials` ran here, the study holds `cfg.total` trials, or the strategy
/// has no new point. Re-queued trials (whose worker's lease ran out) run first, with their stored
/// number, point and seed. While a trial is evaluated, a second connection renews its lease.
/// Errors are store errors; a failing evaluation is a failed trial.
base::Result<RunSummary> run_trials(store::Store& db, int64_t study, const Problem& problem, const Evaluate& evaluate,
                                      const RunConfig& cfg);

/// The front and hypervolume of the finished trials of a study, as run_trials publishes them.
FrontUpdate front_of(const std::vector<store::TrialRecord>& trials, const Problem& problem, const Vec& reference);

}  // namespace search
