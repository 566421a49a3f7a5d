#include "templates.h"

namespace circuit {

Node input_node(const std::string& name, const TensorType& t) {
  Node n{name, "input", {}, {}, {}};
  std::vector<std::string> shape;
  for (auto& a : t.axes) shape.push_back(axis_spec(a));
  n.attrs["shape"] = shape;
  if (t.dtype == DType::i64) n.attrs["dtype"] = std::string("i64");
  return n;
}

static Node op(std::string name, std::string kind, std::vector<PortRef> in, Attrs attrs = {}) {
  return Node{std::move(name), std::move(kind), std::move(in), std::move(attrs), {}};
}

Node ffn_block(const std::string& name, const TensorType& in, int64_t hidden, const std::string& activation) {
  const Axis& feat = in.axes.back();
  Graph g;
  g.nodes.push_back(input_node("x", in));
  g.nodes.push_back(op("up", "linear", {{"x", 0}}, {{"out", hidden}, {"out_axis", std::string("hidden")}}));
  g.nodes.push_back(op("act", activation, {{"up", 0}}));
  g.nodes.push_back(op("down", "linear", {{"act", 0}}, {{"out", feat.size.n}, {"out_axis", feat.name}}));
  g.outputs = {{"down", 0}};
  return Node{name, "block", {}, {}, Box<Graph>(std::move(g))};
}

Node glu_ffn_block(const std::string& name, const TensorType& in, int64_t hidden, const std::string& activation) {
  const Axis& feat = in.axes.back();
  Graph g;
  g.nodes.push_back(input_node("x", in));
  g.nodes.push_back(op("gate", "linear", {{"x", 0}}, {{"out", hidden}, {"out_axis", std::string("hidden")}, {"bias", false}}));
  g.nodes.push_back(op("act", activation, {{"gate", 0}}));
  g.nodes.push_back(op("up", "linear", {{"x", 0}}, {{"out", hidden}, {"out_axis", std::string("hidden")}, {"bias", false}}));
  g.nodes.push_back(op("mix", "multiply", {{"act", 0}, {"up", 0}}));
  g.nodes.push_back(op("down", "linear", {{"mix", 0}}, {{"out", feat.size.n}, {"out_axis", feat.name}, {"bias", false}}));
  g.outputs = {{"down", 0}};
  return Node{name, "block", {}, {}, Box<Graph>(std::move(g))};
}

}  // namespace circuit
