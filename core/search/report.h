// A study's report files: the Pareto front, hypervolume-over-trials, parallel-coordinates and
// scatter-matrix plots (SVG, drawn here as plain SVG text: a plot needs none of the diagram
// machinery), a CSV of every trial, and an HTML page holding them all.
#pragma once
#include <string>
#include <vector>

#include "pareto.h"
#include "space.h"
#include "store/store.h"

namespace search {

struct StrategyComparison;

/// One line of a hypervolume plot: the hypervolume after each finished trial of a study.
struct HypervolumeSeries {
  std::string label;            // "nsga2 (seed 1)", "random (baseline)"
  std::vector<double> values;   // after trial 1, 2, ... in finishing order
  size_t samples = 0;           // 0: exact; else a Monte Carlo estimate over this many samples
};

/// How hypervolume_series computes: exact, or estimated from a fixed set of uniform samples in the
/// box between the best values and the reference (the same samples for every trial, so the curve
/// still only rises). Automatic: exact in up to three objectives and for small studies, estimated
/// where exact sweeps would take minutes (4+ objectives with hundreds of feasible trials: 6-D,
/// 300 front points take 4 s per evaluation, 1,000 take minutes).
enum class HypervolumeMethod { automatic, exact, estimate };

/// Hypervolume of the feasible finished trials after each trial, in finishing order. Each trial
/// costs a check against the running front; the volume is computed again only when the front grew.
HypervolumeSeries hypervolume_series(const std::vector<store::TrialRecord>& trials, const std::vector<Objective>& objectives,
                                     const std::vector<Constraint>& constraints, const Vec& reference, const std::string& label,
                                     HypervolumeMethod method = HypervolumeMethod::automatic, size_t samples = 20000);

/// Scatter of every finished trial on the first two objectives, the Pareto front joined, with
/// `baseline` trials (another study, e.g. random search) in grey.
std::string front_svg(const std::string& title, const std::vector<store::TrialRecord>& trials,
                      const std::vector<store::TrialRecord>& baseline, const std::vector<Objective>& objectives,
                      const std::vector<Constraint>& constraints);
struct SeedBand;
/// Hypervolume curves; `bands` (seed_bands) shade each strategy's lowest..highest over its studies.
std::string hypervolume_svg(const std::string& title, const std::vector<HypervolumeSeries>& series, const std::vector<SeedBand>& bands = {});
/// Parallel coordinates: one line per finished trial across every objective (better is up) and
/// every searched choice (labelled axes); colour is Pareto rank (red: the front), dashed lines
/// violate a constraint.
std::string parallel_svg(const std::string& title, const std::vector<store::TrialRecord>& trials, const Space& space);
/// Each pair of objectives once (the lower triangle), the front over all objectives in red.
std::string scatter_matrix_svg(const std::string& title, const std::vector<store::TrialRecord>& trials, const std::vector<Objective>& objectives,
                               const std::vector<Constraint>& constraints);
/// One self-contained page: the given SVG plots inline and a table of every trial with its
/// point, Pareto rank and metrics, for someone without the studio.
std::string report_html(const std::string& title, const std::vector<std::string>& svgs, const std::vector<store::TrialRecord>& trials,
                        const Space& space, const StrategyComparison* comparison = nullptr);
/// One study's outcome in a comparison of strategies.
struct StudyResult {
  std::string label;     // the study, with its store when there are several
  std::string strategy;  // nsga2, evolution, random, or a Lua strategy's name
  std::vector<double> hypervolume;  // after each trial (hypervolume_series)
  double final_hypervolume() const { return hypervolume.empty() ? 0 : hypervolume.back(); }
};

/// Final hypervolume per strategy over its studies (seeds), and each pair of strategies told
/// apart or not (TECHNIQUES.md §5: mean ± std, and a warning when a difference is within seed
/// noise: |mean_a - mean_b| <= 2 standard errors of the difference).
struct StrategyComparison {
  struct Row {
    std::string strategy;
    size_t studies = 0;
    double mean = 0, std = 0;  // std: sample standard deviation (0 for one study)
  };
  struct Pair {
    std::string a, b;
    double difference = 0;  // mean_a - mean_b
    double noise = 0;       // 2 standard errors of the difference
    bool decidable = false;  // both strategies have two studies or more
    bool within_noise = true;
    std::string verdict;    // one line for people
  };
  std::vector<Row> rows;
  std::vector<Pair> pairs;
};
StrategyComparison compare_strategies(const std::vector<StudyResult>& results);
/// One strategy's hypervolume over its studies (seeds), trial by trial: the mean, lowest and
/// highest at each trial count, over the studies that ran that many trials.
struct SeedBand {
  std::string strategy;
  size_t studies = 0;
  std::vector<double> mean, lo, hi;
};
/// A band per strategy, in the order strategies first appear in `results`.
std::vector<SeedBand> seed_bands(const std::vector<StudyResult>& results);
/// The comparison as the CLI prints it: a table, then one line per pair.
std::string comparison_text(const StrategyComparison& c);
/// The fronts of several studies on the first two objectives, one colour each (feasible trials).
std::string fronts_svg(const std::string& title, const std::vector<std::pair<std::string, const std::vector<store::TrialRecord>*>>& studies,
                       const std::vector<Objective>& objectives, const std::vector<Constraint>& constraints);

/// A study read from a store to compare with another: its record, space and trials.
struct ComparedStudy {
  store::StudyInfo info;
  Space space;
  std::vector<store::TrialRecord> trials;
};
/// Reads study `name` from `db` for a comparison with a study of space `like`; the error says
/// when it is missing or optimises other objectives than `like` (which, and how).
base::Result<ComparedStudy> read_comparable(store::Store& db, const std::string& name, const Space& like);

/// Every trial: number, status, point, each metric, seconds, error.
std::string trials_csv(const std::vector<store::TrialRecord>& trials);

/// The hypervolume reference point of a study in metric units: for a maximised metric 0, for a
/// minimised one its constraint's upper bound; `given` ("metric=value,...") overrides. Errors
/// name an objective that has neither.
base::Result<Vec> reference_point(const std::vector<Objective>& objectives, const std::vector<Constraint>& constraints,
                                     const std::string& given);

}  // namespace search
