// How one circuit differs from another: `circuit diff`, Lua `circuit.diff` and the diff drawing
// all read this one comparison. Nodes are matched by path, through block bodies, so two trials of
// one search space (the same base, other choices) line up node for node.
#pragma once
#include <string>
#include <vector>

#include "base/json.h"
#include "graph.h"
#include "op.h"

namespace circuit {

/// An attribute whose value differs; values as `to_string(AttrValue)` writes them, the op's
/// default where the node does not set it, "" where the attribute does not exist on that side.
struct AttrDelta {
  std::string name, before, after;
};

/// One node that is not the same in both circuits. `before` is A, `after` is B. A node of A that
/// B lacks and a node of B that A lacks with the same op, attributes and wiring are one node
/// renamed (its consumers' wires then count as unchanged).
struct NodeDelta {
  enum class Kind { added, removed, changed, renamed };
  Kind kind = Kind::changed;
  std::string path;                // "blk/fc1" (B's name for a renamed node)
  std::string path_before;         // renamed: A's path
  std::string op_before, op_after;  // "" on the side where the node does not exist
  std::vector<AttrDelta> attrs;
  std::vector<std::string> inputs_before, inputs_after;  // "node:port" each; set when the wiring differs (or on one side only)
  std::string type_before, type_after;                   // output types as text, set when they differ
  Cost cost_before, cost_after;                          // the node's own, bodies included; zero where absent
};

/// What `diff(a, b)` found. Empty `nodes` and equal outputs: the circuits compute the same thing
/// (names and documentation aside).
struct CircuitDiff {
  std::vector<NodeDelta> nodes;  // B's node order, a removed node after the node it followed in A
  std::vector<std::string> outputs_before, outputs_after;  // set when the graph outputs differ
  Cost total_before, total_after;
  bool same() const { return nodes.empty() && outputs_before == outputs_after; }
  int count(NodeDelta::Kind k) const;
};

/// Compares two circuits (each analysed here: shapes and costs come from the cost model).
CircuitDiff diff(const Circuit& a, const Circuit& b);

/// The report `circuit diff` prints: one line per node ("+ added", "- removed", "~ changed" with
/// what changed, "r renamed"), then the totals with their deltas. `a_name` and `b_name` head it.
std::string diff_text(const CircuitDiff& d, const std::string& a_name, const std::string& b_name);

const char* to_string(NodeDelta::Kind k);

/// The diff as data (`circuit diff --json`, Lua `circuit.diff`): {same, added, removed, changed,
/// renamed, nodes = [{kind, path, path_before?, op, op_before?, attrs = [{name, before, after}], inputs_before?,
/// inputs_after?, type_before?, type_after?, params_before, params_after, flops_before,
/// flops_after}], outputs_before?, outputs_after?, total = {params_before, params_after,
/// active_params_before, active_params_after, flops_before, flops_after}}.
base::Json diff_json(const CircuitDiff& d);

/// B with A's removed nodes put back (after the node each followed in A, with A's inputs), so
/// one drawing shows both circuits: what a diff drawing draws.
Circuit diff_union(const Circuit& a, const Circuit& b, const CircuitDiff& d);

}  // namespace circuit
