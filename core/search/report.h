// A study's report files: the Pareto front plot and the hypervolume-over-trials plot (SVG, drawn
// here as plain SVG text: a plot needs none of the diagram machinery) and a CSV of every trial.
#pragma once
#include <string>
#include <vector>

#include "pareto.h"
#include "space.h"
#include "store/store.h"

namespace search {

/// One line of a hypervolume plot: the hypervolume after each finished trial of a study.
struct HypervolumeSeries {
  std::string label;            // "nsga2 (seed 1)", "random (baseline)"
  std::vector<double> values;   // after trial 1, 2, ... in finishing order
};

/// Hypervolume of the feasible finished trials after each trial, in finishing order.
HypervolumeSeries hypervolume_series(const std::vector<store::TrialRecord>& trials, const std::vector<Objective>& objectives,
                                     const std::vector<Constraint>& constraints, const Vec& reference, const std::string& label);

/// Scatter of every finished trial on the first two objectives, the Pareto front joined, with
/// `baseline` trials (another study, e.g. random search) in grey.
std::string front_svg(const std::string& title, const std::vector<store::TrialRecord>& trials,
                      const std::vector<store::TrialRecord>& baseline, const std::vector<Objective>& objectives,
                      const std::vector<Constraint>& constraints);
std::string hypervolume_svg(const std::string& title, const std::vector<HypervolumeSeries>& series);
/// Every trial: number, status, point, each metric, seconds, error.
std::string trials_csv(const std::vector<store::TrialRecord>& trials);

/// The hypervolume reference point of a study in metric units: for a maximised metric 0, for a
/// minimised one its constraint's upper bound; `given` ("metric=value,...") overrides. Errors
/// name an objective that has neither.
base::Result<Vec> reference_point(const std::vector<Objective>& objectives, const std::vector<Constraint>& constraints,
                                     const std::string& given);

}  // namespace search
