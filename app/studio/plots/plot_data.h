// Plain value types the studio's panels fill and the plot windows draw. No Qt, no ImGui: the
// conversions from core events live here too so they can be tested without a window.
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "events/events.h"

namespace studio {

/// One named series of (x, y) points; x and y have the same length.
struct Curve {
  std::string name;
  std::vector<double> x, y;
  std::vector<double> lo, hi;  // optional: a band around y (same length), drawn shaded
  void push(double xv, double yv) {
    x.push_back(xv);
    y.push_back(yv);
  }
  bool empty() const { return x.empty(); }
};

/// Training curves of one run: per-step train loss/accuracy and per-epoch validation, all on a
/// step axis (an epoch is placed at the last step seen before it ended).
struct TrainingCurves {
  Curve train_loss{"train loss"}, train_accuracy{"train accuracy"};
  Curve val_loss{"validation loss"}, val_accuracy{"validation accuracy"};
  int64_t last_step = 0;
  bool empty() const { return train_loss.empty() && val_loss.empty(); }
};
void add(TrainingCurves& curves, const events::TrainStep& step);
void add(TrainingCurves& curves, const events::EpochEnd& epoch);

/// Expert load of one MoE layer over the recorded training steps. Row i of `tokens_after` holds,
/// for steps[i], the routing assignments each expert slot kept after the capacity limit.
struct ExpertLoadHistory {
  std::string layer;
  int experts = 0;  // widest `after` seen; older rows are padded with zeros
  std::vector<int64_t> steps;
  std::vector<std::vector<int64_t>> tokens_after;
  std::vector<int64_t> tokens;   // tokens routed in the step
  std::vector<int64_t> dropped;  // assignments over capacity
  std::vector<double> max_vio;   // (max - mean) / mean of kept load
  std::vector<double> entropy;   // mean router entropy per token, nats

  size_t size() const { return steps.size(); }
  /// Share of the step's kept assignments that went to `expert` (0 when nothing was kept).
  double share(size_t row, int expert) const;
  /// Dropped assignments as a share of all assignments of the step.
  double dropped_share(size_t row) const;
};

/// Appends one event. A second event for the step last recorded (micro-batches, gradient
/// accumulation) is merged into that row: counts add up, MaxVio keeps the worst, entropy is
/// averaged by tokens. Events for another layer than a non-empty `history.layer` are ignored.
void add(ExpertLoadHistory& history, const events::ExpertLoad& load);

/// Expert load of every MoE layer, in the order layers first reported.
struct ExpertLoads {
  std::vector<ExpertLoadHistory> layers;
  bool empty() const { return layers.empty(); }
};
void add(ExpertLoads& loads, const events::ExpertLoad& load);

/// How many examples left the network at each exit (early-exit circuits).
struct ExitHistogram {
  std::vector<std::string> exits;  // labels, e.g. "exit 1" or the node path
  std::vector<int64_t> counts;
  bool empty() const { return counts.empty(); }
};

/// An objective of a study as plotted: its metric name and whether lower is better.
struct PlotObjective {
  std::string name;
  bool minimise = true;
};

/// A searched choice, as a parallel-coordinates axis: its name and each value's label.
struct ChoiceAxis {
  std::string name;
  std::vector<std::string> labels;
};

/// One evaluated configuration of a study.
struct TrialPoint {
  int64_t id = -1;
  std::map<std::string, double> values;  // objective name -> value
  bool feasible = true;                  // met every constraint
  bool on_front = false;                 // non-dominated in the study (all objectives)
  int rank = 0;                          // Pareto rank among feasible trials (0: the front)
  std::vector<int> choice;               // per ChoiceAxis: the value's index (-1: unknown)
};

/// The trials of a study and of a random-search baseline, for the Pareto scatter.
struct ParetoPoints {
  std::vector<PlotObjective> objectives;
  std::vector<ChoiceAxis> choices;
  std::vector<TrialPoint> trials;
  std::vector<TrialPoint> baseline;  // random search on the same space, drawn in grey
  bool empty() const { return trials.empty() && baseline.empty(); }
  const PlotObjective* objective(const std::string& name) const;

  /// The study trials' values by column (NaN where missing), one per objective and one per
  /// choice: filled by index(), which the plots call once per update, so that frames over
  /// 100,000 trials read arrays instead of maps.
  std::vector<std::vector<double>> objective_columns, choice_columns;
  void index();
  /// Whether the columns match the trials (index() ran since they last changed).
  bool indexed() const;
  /// The column of an objective or a choice, or null (also before index()).
  const std::vector<double>* column(const std::string& name, bool choice) const;
};

/// The parallel-coordinates view's state, kept across updates: axis order, direction, scale, and
/// the brushed range of each axis (in its data units; a choice axis in value indices).
struct ParallelAxes {
  struct Axis {
    std::string name;
    bool choice = false;
    bool flip = false;  // objectives start flipped when minimised, so better is always up
    bool log = false;
    bool brushed = false;
    double lo = 0, hi = 0;  // the brush
  };
  std::vector<Axis> axes;
  /// Adds the axes of `points` that are new (objectives first, then choices) and drops those that
  /// went; the others keep their place and state.
  void sync(const ParetoPoints& points);
  /// The trial's value on axis `a`, or NaN.
  double value(const TrialPoint& t, const Axis& a, const ParetoPoints& points) const;
  /// Study trials inside every brush (all of them when nothing is brushed).
  std::vector<int64_t> selected(const ParetoPoints& points) const;
  bool any_brush() const;
  /// Moves axis `from` to position `to`, keeping the others' order.
  void move(size_t from, size_t to);
  int index(const std::string& name) const;
};

/// Hypervolume of the front after each trial number, for the study and its baseline.
struct HypervolumeHistory {
  Curve study{"study"}, baseline{"random search"};
  size_t samples = 0;  // > 0: estimated from this many Monte Carlo samples
  bool empty() const { return study.empty() && baseline.empty(); }
};

/// Several studies side by side (the search dock's comparison): each study's trials, each
/// strategy's hypervolume over its studies (mean, band lowest..highest), and the strategies'
/// final hypervolume compared (search::compare_strategies) as rows and one verdict per pair.
struct StudyComparisonView {
  struct Study {
    std::string label, strategy;
    std::vector<TrialPoint> trials;
  };
  struct Row {
    std::string strategy;
    size_t studies = 0;
    double mean = 0, std = 0;
  };
  std::vector<PlotObjective> objectives;
  std::vector<Study> studies;      // the shown study first
  std::vector<Curve> hypervolume;  // one per strategy
  std::vector<Row> rows;
  std::vector<std::string> verdicts;
  bool empty() const { return studies.size() < 2; }
};

}  // namespace studio
