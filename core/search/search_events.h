// Events a running search publishes after every trial. They live here, not in core/events, so the
// search layer can grow them without touching the shared variant; run_study also forwards a
// one-line summary to an events::Bus as a LogLine.
#pragma once
#include <functional>
#include <string>
#include <variant>
#include <vector>

#include "pareto.h"
#include "point.h"

namespace search {

/// A trial finished or failed.
struct TrialDone {
  int number = 0;
  std::string point;      // key()
  std::string describe;   // "width=128 mixer=attention" when a space is known
  bool ok = false;
  Metrics metrics;
  std::string error;
  double seconds = 0;
  /// The trial's lease ran out while it ran here and another worker took it back: this result
  /// was not committed (the trial's committed result comes from that worker).
  bool discarded = false;
  std::string study;      // the study's name, when the runner knows it (a baseline runs beside it)
};

/// The study's Pareto front (feasible trials, first front) and its hypervolume after a trial.
struct FrontUpdate {
  int trials_done = 0;              // finished + failed, all processes
  std::vector<int> front;           // trial numbers on the front
  std::vector<Vec> objectives;      // their objectives in metric units (not negated)
  double hypervolume = 0;           // against RunConfig::reference; 0 without one
};

using SearchEvent = std::variant<TrialDone, FrontUpdate>;
using SearchSink = std::function<void(const SearchEvent&)>;

}  // namespace search
