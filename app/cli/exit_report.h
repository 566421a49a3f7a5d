// The early-exit part of `circuit train`'s report: per-head accuracy, a budget-calibrated policy
// (thresholds from validation, achieved compute on test) and the accuracy-against-compute curve.
#pragma once
#include <string>

#include "engine/data.h"
#include "engine/model.h"

namespace cli {

/// What to calibrate for. `budget` is a fraction of the full forward's FLOPs; `depth_cap` a
/// 1-based head (0: none); `json_path` receives the whole report when set.
struct ExitReportOptions {
  double budget = 0.6;
  int depth_cap = 0;
  std::string json_path;
};

/// Prints the report to stdout. Returns 0, or 1 with a message on stderr when it cannot be made.
int print_exit_report(engine::Model& m, const engine::Dataset& d, const ExitReportOptions& o);

}  // namespace cli
