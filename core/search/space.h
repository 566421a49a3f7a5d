// A search space over circuits: a base circuit plus named dimensions (attribute choices, op
// alternatives in a slot, repeat counts), the objectives to optimise and the constraints to
// respect. Written as a `.search.json` file (docs/search.md). Applying a point yields a circuit
// that passed shape inference, or an error naming the choice, the node and the shape problem.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "circuit/analysis.h"
#include "circuit/graph.h"
#include "base/result.h"
#include "pareto.h"
#include "point.h"

namespace search {

/// Sets attribute `attr` of every node in `nodes` (paths like "blk/fc1") to one of `values`.
struct AttrChoice {
  std::vector<std::string> nodes;
  std::string attr;
  std::vector<circuit::AttrValue> values;
};

/// Replaces node `node` by one of `alternatives` (op, attrs and body; name and inputs are the slot's).
struct OpChoice {
  std::string node;
  std::vector<circuit::Node> alternatives;
  std::vector<std::string> labels;  // parallel to alternatives; the op name unless given
};

/// Repeats node `node` (one input, one output of the same type) `counts[i]` times in sequence;
/// copies are named node_2, node_3, ... and the last copy feeds the original's consumers.
struct RepeatChoice {
  std::string node;
  std::vector<int> counts;
};

/// One named dimension of the space.
struct Dimension {
  std::string name;
  std::variant<AttrChoice, OpChoice, RepeatChoice> kind;
  int size() const;
  /// The choice for people: "128", "attention", "x3".
  std::string label(int index) const;
};

/// A named metric to minimise or maximise.
struct Objective {
  std::string metric;
  Direction direction = Direction::minimize;
};

/// A bound on a named metric (either side optional). `params`, `active_params` and `flops`
/// come from the IR, so they are checked before any training.
struct Constraint {
  std::string metric;
  std::optional<double> min, max;
  /// 0 when satisfied; otherwise the distance to the bound relative to its size.
  double violation(double value) const;
};

/// The metrics the IR gives for a circuit without training: params, active_params, flops.
inline constexpr const char* kStaticMetrics[] = {"params", "active_params", "flops"};
bool is_static_metric(std::string_view metric);

/// A whole search space.
struct Space {
  std::string name;
  circuit::Circuit base;
  std::vector<Dimension> dims;
  std::vector<Objective> objectives;
  std::vector<Constraint> constraints;

  /// Number of choices per dimension.
  std::vector<int> cardinalities() const;
  /// Number of distinct points (saturates at INT64_MAX).
  int64_t count() const;
};

/// The format version this build reads and writes.
inline constexpr int kSearchFormatVersion = 1;

/// Parses a `.search.json` text. `source` names it in messages; a relative `base` path is
/// resolved against `base_dir`. Errors read "source:line:col: what was expected".
base::Result<Space> parse_space(std::string_view text, const std::string& source, const std::string& base_dir = ".");
base::Result<Space> load_space(const std::string& path);

/// The circuit for `point`, without analysis. Errors name the dimension and the node.
base::Result<circuit::Circuit> apply(const Space& space, const Point& point);

/// A point made concrete: its circuit and the IR's metrics for it.
struct Candidate {
  circuit::Circuit circuit;
  circuit::Cost cost;
  Metrics static_metrics;  // params, active_params, flops, kv_bytes
};

/// apply() then shape inference. A shape problem becomes an error that names the point's
/// choices and the first failing node: "width=96 mixer=pool: node `moe/x` ...".
base::Result<Candidate> realize(const Space& space, const Point& point);

/// A `.search.json` text with its base circuit inlined, so a study's stored spec stands alone.
std::string spec_with_inline_base(std::string_view text, const Space& space);
/// "width=128 mixer=attention depth=x2".
std::string describe(const Space& space, const Point& point);

/// Uniformly random point.
Point random_point(const std::vector<int>& cardinalities, Rng& rng);

}  // namespace search
