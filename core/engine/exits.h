// Early-exit inference for circuits with several classifier outputs (exit heads): where each
// example leaves under a policy, what that costs, and thresholds calibrated for a compute budget.
// Torch-free: everything here works on the per-head scores an ExitProfile holds, collected once
// by engine::profile_exits (train.h) with one full forward pass over a split. Exiting is
// simulated on those scores, which gives the same decisions as stopping the forward early
// (a head's output does not depend on whether later heads run).
#pragma once
#include <optional>
#include <string_view>
#include <cstdint>
#include <string>
#include <vector>

#include "circuit/analysis.h"
#include "circuit/graph.h"
#include "base/result.h"

namespace engine {

/// What every head predicted for every example of one split. Heads are the circuit's outputs in
/// the order a forward pass reaches them.
struct ExitProfile {
  std::vector<std::string> heads;   // output names, in execution order
  std::vector<int> output_index;    // head -> index in the circuit's outputs
  std::vector<double> cost;         // head -> fraction of the full forward FLOPs spent on reaching it (last = 1)
  int64_t examples = 0;
  // Row-major [head][example]:
  std::vector<float> confidence;    // max softmax probability
  std::vector<float> entropy;       // entropy of the softmax, in nats
  std::vector<int32_t> predicted;   // argmax class
  std::vector<int32_t> label;       // [example]

  size_t at(size_t head, int64_t example) const { return head * size_t(examples) + size_t(example); }
};

/// Cumulative cost of reaching each output of `g` when a forward pass runs only what the outputs
/// so far need (each output's ancestors, in topological order of the outputs), as fractions of
/// the cost of all of them. Returns the outputs' order of execution and their costs.
struct HeadCosts {
  std::vector<int> order;     // output indices, earliest first
  std::vector<double> cost;   // parallel to order
};
HeadCosts head_costs(const circuit::Graph& g, const circuit::GraphAnalysis& a);

/// An inference policy. Every policy exits at the head `max_depth` at the latest.
///  - confidence: at the first head whose max softmax >= its threshold
///  - entropy:    at the first head whose entropy <= its threshold
///  - patience:   at the first head where the last `patience` heads predict the same class (PABEE)
///  - fixed:      always at head `max_depth`
enum class ExitKind { confidence, entropy, patience, fixed };
/// "confidence", "entropy", "patience", "fixed".
const char* to_string(ExitKind k);
/// The kind named `s`, or nullopt.
std::optional<ExitKind> parse_exit_kind(std::string_view s);

struct ExitPolicy {
  ExitKind kind = ExitKind::confidence;
  std::vector<double> thresholds;  // one per head, or a single value for all heads
  int patience = 2;
  int max_depth = 0;               // 1-based head index; 0: the last head
};

/// What a policy achieves on a profile.
struct ExitOutcome {
  double accuracy = 0;
  double avg_cost = 0;    // mean fraction of the full forward computed
  double peak_cost = 0;   // cost of the deepest head any example used
  double avg_depth = 0;   // mean 1-based head index
  int peak_depth = 0;
  std::vector<int64_t> histogram;       // examples leaving at each head
  std::vector<double> head_accuracy;    // accuracy of the examples leaving at each head (0 if none)
};

base::Result<ExitOutcome> simulate_exits(const ExitProfile& p, const ExitPolicy& policy);

/// Budget calibration (DeeR): per-head confidence thresholds chosen on `validation` so that the
/// average cost is `target_cost` (a fraction of the full forward) and no example goes past head
/// `max_depth` (0: no cap). The share leaving at head k follows a geometric law q^k, with q
/// solved for the target; each threshold then lets exactly that share of the validation
/// examples leave. Apply `policy` to held-out data to see the achieved cost.
struct Calibration {
  ExitPolicy policy;
  double target_cost = 0;
  double q = 0;
  std::vector<double> planned_share;  // head -> planned fraction of examples leaving there
  ExitOutcome validation;
};
base::Result<Calibration> calibrate_budget(const ExitProfile& validation, double target_cost, int max_depth = 0);

/// One point of an accuracy-against-cost curve.
struct CurvePoint {
  ExitKind kind = ExitKind::fixed;  // fixed: every example leaves at head `setting`
  double setting = 0;  // threshold, or patience, or head
  /// "head k" for a fixed head, else the kind's name.
  std::string label() const;
  ExitOutcome outcome;
  bool pareto = false;  // no other point is at least as accurate and cheaper
};
/// Every head alone, and sweeps of confidence, entropy and patience, with the Pareto front marked.
std::vector<CurvePoint> accuracy_cost_curve(const ExitProfile& p, int steps = 20);

}  // namespace engine
