// The circuit graph: nodes with typed ports, edges stored as each input port's source, and
// hierarchical blocks (a node may own a sub-graph). Plain data: all analysis lives in analysis.h
// and all undoable edits in edit.h.
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "attr.h"
#include "axis.h"

namespace circuit {

/// An output port of a node, named by node name and port index. Empty node: not connected.
struct PortRef {
  std::string node;
  int port = 0;
  bool connected() const { return !node.empty(); }
  bool operator==(const PortRef&) const = default;
};
/// "fc1" for port 0, "split:1" otherwise; parse_port is the inverse.
std::string to_string(const PortRef& p);
Result<PortRef> parse_port(std::string_view s);

/// A pointer that copies what it points to, so nodes with bodies stay value types.
template <class T>
class Box {
 public:
  Box() = default;
  Box(T v) : p_(std::make_unique<T>(std::move(v))) {}
  Box(const Box& o) : p_(o.p_ ? std::make_unique<T>(*o.p_) : nullptr) {}
  Box(Box&&) noexcept = default;
  Box& operator=(const Box& o) { p_ = o.p_ ? std::make_unique<T>(*o.p_) : nullptr; return *this; }
  Box& operator=(Box&&) noexcept = default;
  explicit operator bool() const { return bool(p_); }
  T& operator*() const { return *p_; }
  T* operator->() const { return p_.get(); }
  T* get() const { return p_.get(); }
  void reset() { p_.reset(); }

 private:
  std::unique_ptr<T> p_;
};

struct Graph;

/// One node: an instance of an op. `inputs[i]` is the source of input port i.
struct Node {
  std::string name;  // unique within its graph; the node's identity
  std::string op;    // key into the op registry
  std::vector<PortRef> inputs;
  Attrs attrs;       // only what the user set; defaults come from the op's schema
  Box<Graph> body;   // blocks: the sub-graph; MoE: one expert
  /// A graph input (op `input`): the one op the IR itself gives a meaning, so every layer asks here.
  bool is_input() const { return op == "input"; }
};

/// A graph: nodes in file order (any order; analysis sorts them) and the graph's outputs.
/// The graph's inputs are its `input` nodes, in node order.
struct Graph {
  std::vector<Node> nodes;
  std::vector<PortRef> outputs;

  /// Index of the node named `name`, or -1. Amortised O(1); the index rebuilds after changes.
  int find(std::string_view name) const;
  Node* node(std::string_view name);
  const Node* node(std::string_view name) const;
  /// Call after adding, removing or renaming nodes through `nodes` directly.
  void invalidate_index() { index_valid_ = false; }
  /// A name not used in this graph: `base`, else base2, base3, ...
  std::string unique_name(std::string_view base) const;
  /// Names of the `input` nodes in order: the graph's (or block's) input ports.
  std::vector<int> input_nodes() const;

 private:
  mutable std::unordered_map<std::string, int> index_;
  mutable bool index_valid_ = false;
};

/// A whole circuit document: the top graph plus values for symbolic sizes used for costs.
struct Circuit {
  std::string name;
  std::string doc;
  Bindings symbols;  // e.g. {"seq": 64}; `batch` is always 1 for per-example costs
  Graph graph;
};

/// Resolves "blk/inner/fc1" through block bodies. Returns the graph holding the node and its index.
struct NodeLocation {
  Graph* graph = nullptr;
  int index = -1;
  Node* node() const { return graph && index >= 0 ? &graph->nodes[size_t(index)] : nullptr; }
};
NodeLocation locate(Graph& g, std::string_view path);
/// The graph at `path` ("" is the top graph, "blk" is blk's body), or null.
Graph* graph_at(Graph& g, std::string_view path);
const Graph* graph_at(const Graph& g, std::string_view path);
/// The node at `path`, or null.
const Node* node_at(const Graph& g, std::string_view path);

/// A node path cut at its last '/': "blk/fc1" -> {"blk", "fc1"}, "fc1" -> {"", "fc1"}.
struct PathParts {
  std::string parent, name;
};
PathParts split_path(std::string_view path);
/// The inverse: {"blk", "fc1"} -> "blk/fc1", {"", "fc1"} -> "fc1".
std::string join_path(std::string_view parent, std::string_view name);
/// Whether `path` is `ancestor` or a node inside it: "blk/fc1" is within "blk", "blk2" is not.
bool path_within(std::string_view path, std::string_view ancestor);

}  // namespace circuit
