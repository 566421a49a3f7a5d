// Test helpers: build small graphs tersely and infer one op on given input types.
#pragma once
#include <gtest/gtest.h>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "circuit/edit.h"
#include "circuit/op.h"

namespace circuit::test {

/// T({"batch", "d:256"}) -> a tensor type from axis specs.
inline TensorType T(std::vector<std::string> specs, DType d = DType::f32) {
  TensorType t;
  t.dtype = d;
  for (auto& s : specs) t.axes.push_back(*parse_axis(s));
  return t;
}

inline Node N(std::string name, std::string op, std::vector<std::string> inputs = {}, Attrs attrs = {}) {
  Node n{std::move(name), std::move(op), {}, std::move(attrs), {}};
  for (auto& i : inputs) n.inputs.push_back(*parse_port(i));
  return n;
}

inline Node In(std::string name, const TensorType& t) {
  std::vector<std::string> shape;
  for (auto& a : t.axes) shape.push_back(axis_spec(a));
  Attrs at{{"shape", shape}};
  if (t.dtype == DType::i64) at["dtype"] = std::string("i64");
  return N(std::move(name), "input", {}, at);
}

inline Graph G(std::vector<Node> nodes, std::vector<std::string> outputs) {
  Graph g;
  g.nodes = std::move(nodes);
  for (auto& o : outputs) g.outputs.push_back(*parse_port(o));
  return g;
}

/// A circuit of node `n` alone over inputs in0, in1... of the types `ins`, named after its op; every
/// output of `n` is a graph output (a split has one per part). `symbols` are the circuit's sizes;
/// the batch stays free.
inline Circuit one_op(Node n, const std::vector<TensorType>& ins, Bindings symbols = {}) {
  Circuit c;
  c.name = n.op;
  c.symbols = std::move(symbols);
  c.symbols.erase("batch");
  for (size_t k = 0; k < ins.size(); ++k) {
    c.graph.nodes.push_back(In("in" + std::to_string(k), ins[k]));
    n.inputs.push_back(PortRef{"in" + std::to_string(k), 0});
  }
  std::string name = n.name;
  int outputs = n.op == "split" ? int(std::get<std::vector<int64_t>>(n.attrs.at("sizes")).size()) : 1;
  c.graph.nodes.push_back(std::move(n));
  for (int p = 0; p < outputs; ++p) c.graph.outputs.push_back({name, p});
  return c;
}

#ifdef CIRCUIT_SOURCE_DIR
/// An example of resources/examples by name ("moe_mlp"); where it does not load, the test fails
/// and the circuit is empty.
inline Circuit example(const std::string& name) {
  auto c = load_circuit(std::string(CIRCUIT_SOURCE_DIR) + "/resources/examples/" + name + ".circuit.json");
  EXPECT_TRUE(c.ok()) << name << ": " << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : Circuit{};
}
#endif

/// Bindings for tests: batch = 1 (per example) and seq = 16 unless given.
inline Bindings B(Bindings extra = {}) {
  extra["batch"] = 1;
  extra.emplace("seq", 16);
  return extra;
}

/// Result of inferring one node: its output types as text ("[batch, d=512]", joined by " ")
/// or its error; and its cost.
struct One {
  std::string out;
  std::string error;
  Cost cost;
  bool ok() const { return error.empty(); }
};

/// Infers `op` applied to inputs of the given types (or a prepared node `n`, whose inputs are rewired).
inline One infer1(Node n, const std::vector<TensorType>& ins, Bindings b = B()) {
  // Symbols of the given inputs get a value, so a case tests the op, not the input node.
  for (auto& t : ins)
    for (auto& a : t.axes)
      if (!a.size.concrete()) b.emplace(a.size.sym, 4);
  Graph g;
  n.inputs.clear();
  for (size_t k = 0; k < ins.size(); ++k) {
    g.nodes.push_back(In("in" + std::to_string(k), ins[k]));
    n.inputs.push_back(PortRef{"in" + std::to_string(k), 0});
  }
  std::string name = n.name;
  g.nodes.push_back(std::move(n));
  g.outputs = {{name, 0}};
  GraphAnalysis a = analyze(g, b);
  const NodeInfo& info = a.nodes.back();
  One r;
  for (size_t k = 0; k < ins.size(); ++k)
    if (!a.nodes[k].error.empty()) r.error = "bad test input: " + a.nodes[k].error;
  if (!info.error.empty()) r.error = info.error;
  else if (info.blocked) r.error = "blocked";
  for (size_t k = 0; k < info.outputs.size(); ++k) r.out += (k ? " " : "") + to_string(info.outputs[k]);
  r.cost = info.cost;
  return r;
}

inline One infer1(const std::string& op, const std::vector<TensorType>& ins, Attrs attrs = {}, const Bindings& b = B()) {
  return infer1(N("node", op, {}, std::move(attrs)), ins, b);
}

inline std::string source(const std::string& rel) { return std::string(CIRCUIT_SOURCE_DIR) + "/" + rel; }

}  // namespace circuit::test
