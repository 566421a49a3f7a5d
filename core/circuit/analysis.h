// Shape inference and cost over a circuit, full or incremental. The analysis is kept beside the
// graph (never inside it) so a graph stays plain data and several views can analyse one graph.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "graph.h"
#include "op.h"

namespace circuit {

/// A located problem: the node's path ("blk/fc1") and a message that already names it.
struct Diagnostic {
  std::string node;
  std::string message;
};

/// Per-node result. `error` is this node's own problem; `blocked` means an upstream node failed
/// so this node could not be checked (it gets no message of its own, to keep errors at their cause).
struct NodeInfo {
  Shapes outputs;
  Cost cost;
  std::string error;
  bool blocked = false;
  std::unique_ptr<GraphAnalysis> body;
  bool ok() const { return error.empty() && !blocked; }
};

/// The analysis of one graph level. `nodes` is parallel to Graph::nodes.
struct GraphAnalysis {
  std::vector<NodeInfo> nodes;
  std::vector<int> order;        // topological order of node indices (nodes on a cycle are left out)
  std::vector<int> position;     // node index -> place in `order` (-1 on a cycle)
  std::vector<std::vector<std::pair<int, int>>> sources;    // node -> per input port (source index, port); -1 if unresolved
  std::vector<std::vector<std::pair<int, int>>> consumers;  // node -> (consumer index, input port)
  Shapes outputs;                // the graph's output types (when they could be inferred)
  std::vector<int> inputs;       // indices of `input` nodes
  std::string error;             // graph-level problem (bad output reference)
  Cost total;
  int failed = 0;                // nodes with an error of their own (this level only)
  int nested_failed = 0;         // same, including bodies
  int64_t moe_layers = 0;        // MoE nodes in the whole circuit, bodies included

  bool ok() const { return failed == 0 && nested_failed == 0 && error.empty(); }
  /// Every problem, recursively, with paths, in topological order.
  std::vector<Diagnostic> diagnostics(const Graph& g, const std::string& prefix = "") const;
};

/// Walks an analysed graph in topological order, passing values of any kind (a tensor, a
/// variable name in generated code) along its edges. `inputs` are bound to the `input` nodes in
/// order; `visit(node_index, input_values, input_types)` returns the node's output values.
/// Returns the values of the graph's outputs.
template <class V, class Visit>
std::vector<V> walk(const Graph& g, const GraphAnalysis& a, const std::vector<V>& inputs, Visit&& visit) {
  std::vector<std::vector<V>> vals(g.nodes.size());
  for (size_t k = 0; k < a.inputs.size() && k < inputs.size(); ++k) vals[size_t(a.inputs[k])] = {inputs[k]};
  std::vector<V> in;
  std::vector<TensorType> types;
  for (int i : a.order) {
    if (g.nodes[size_t(i)].is_input()) continue;
    in.clear(), types.clear();
    for (size_t q = 0; q < g.nodes[size_t(i)].inputs.size(); ++q) {
      auto [src, port] = a.sources[size_t(i)][q];
      in.push_back(vals[size_t(src)][size_t(port)]);
      types.push_back(a.nodes[size_t(src)].outputs[size_t(port)]);
    }
    vals[size_t(i)] = visit(i, in, types);
  }
  std::vector<V> out;
  for (auto& r : g.outputs) out.push_back(vals[size_t(g.find(r.node))][size_t(r.port)]);
  return out;
}

/// Full analysis of a graph with symbols bound by `b`.
GraphAnalysis analyze(const Graph& g, const Bindings& b);
/// The structure alone, no node inferred: sources, consumers, topological order, inputs. For a
/// graph whose types are known otherwise (the diagram's drawing of an op's parts).
GraphAnalysis wire_up(const Graph& g);
/// Full analysis of a circuit (its symbols, `batch` = 1).
GraphAnalysis analyze(const Circuit& c);
/// Bindings used for a circuit's costs: its symbols plus `batch` = 1.
Bindings cost_bindings(const Circuit& c);
/// The context (tokens) at which inference memory is reported: the circuit's `context` symbol,
/// else its `seq`, else 4096.
int64_t inference_context(const Circuit& c);
/// Bytes a sequence keeps at inference at inference_context(c), with the cache in bf16: the
/// `kv_bytes` metric of searches.
int64_t kv_bytes(const Circuit& c, const Cost& total);

/// Re-analyses after the nodes in `dirty` changed attributes or bodies (not structure): only
/// those nodes and whatever downstream sees a changed output are recomputed; totals are updated
/// by difference. After a structural change (nodes added, removed, reconnected) call analyze().
void reanalyze(GraphAnalysis& a, const Graph& g, const Bindings& b, const std::vector<int>& dirty);

}  // namespace circuit
