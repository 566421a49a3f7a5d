#include "templates.h"

#include <algorithm>

#include "op.h"

namespace circuit {

Node input_node(const std::string& name, const TensorType& t) {
  Node n{name, "input", {}, {}, {}};
  std::vector<std::string> shape;
  for (auto& a : t.axes) shape.push_back(axis_spec(a));
  n.attrs["shape"] = shape;
  if (t.dtype == DType::i64) n.attrs["dtype"] = std::string("i64");
  return n;
}

Circuit starter_circuit() {
  Circuit c;
  c.name = "untitled";
  TensorType t;
  t.axes = {*parse_axis("batch"), *parse_axis("pixels:784")};
  c.graph.nodes.push_back(input_node("x", t));
  c.graph.outputs = {{"x", 0}};
  return c;
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

Result<Node> metaformer_block(const std::string& name, const TensorType& in, const std::string& mixer) {
  int64_t d = in.axes.empty() ? 0 : in.axes.back().size.n;
  // Heads that divide the features: 64-wide heads where they fit, else as many as divide d up to 4.
  int64_t heads = d >= 128 && d % 64 == 0 ? d / 64 : d % 4 == 0 ? 4 : d % 2 == 0 ? 2 : 1;
  Node mix;
  if (mixer == "attention") mix = op("mixer", "attention", {{"norm1", 0}}, {{"heads", heads}, {"causal", true}});
  else if (mixer == "pooling") mix = op("mixer", "pool1d", {{"norm1", 0}}, {{"kernel", int64_t(3)}});
  else if (mixer == "conv") mix = op("mixer", "conv1d", {{"norm1", 0}}, {{"depthwise", true}, {"kernel", int64_t(4)}});
  else if (mixer == "identity") mix = op("mixer", "dropout", {{"norm1", 0}}, {{"p", 0.0}});
  else if (mixer == "gated_delta") mix = op("mixer", "gated_delta", {{"norm1", 0}}, {{"heads", heads}});
  else if (mixer == "mamba2") mix = op("mixer", "mamba2", {{"norm1", 0}}, {{"heads", heads}});
  else {
    std::string all;
    for (const char* m : kMetaformerMixers) all += (all.empty() ? "" : ", ") + std::string(m);
    return Error{"no MetaFormer token mixer `" + mixer + "` (mixers: " + all + ")"};
  }
  Graph g;
  g.nodes.push_back(input_node("x", in));
  g.nodes.push_back(op("norm1", "rms_norm", {{"x", 0}}));
  g.nodes.push_back(std::move(mix));
  g.nodes.push_back(op("res1", "add", {{"x", 0}, {"mixer", 0}}));
  g.nodes.push_back(op("norm2", "rms_norm", {{"res1", 0}}));
  g.nodes.push_back(ffn_block("ffn", in, 4 * d));
  g.nodes.back().inputs = {{"norm2", 0}};
  g.nodes.push_back(op("res2", "add", {{"res1", 0}, {"ffn", 0}}));
  g.outputs = {{"res2", 0}};
  return Node{name, "block", {}, {}, Box<Graph>(std::move(g))};
}

Result<Node> palette_node(const Graph& g, const std::string& op, const TensorType* in, const Bindings& b) {
  int64_t features = in && !in->axes.empty() ? resolve(in->axes.back().size, b) : 64;
  if (features <= 0) features = 64;
  const std::string metaformer = "template:metaformer:";
  if (op == "template:ffn" || op == "template:glu_ffn" || op.rfind(metaformer, 0) == 0) {
    if (!in) return Error{"a block template is sized from the node it follows: select one, then add the block"};
    if (op == "template:ffn") return ffn_block(g.unique_name("ffn"), *in, 4 * features);
    if (op == "template:glu_ffn") return glu_ffn_block(g.unique_name("glu_ffn"), *in, 4 * features);
    return metaformer_block(g.unique_name("metaformer"), *in, op.substr(metaformer.size()));
  }
  const OpDef* def = find_op(op);
  if (!def) return Error{"there is no op named `" + op + "`"};
  Node n;
  n.name = g.unique_name(op);
  n.op = op;
  n.inputs.assign(size_t(std::max(def->min_inputs, 1)), PortRef{});
  for (auto& spec : def->attrs)
    if (!spec.default_value && spec.type == AttrType::Int) n.attrs[spec.name] = int64_t(spec.name == "classes" ? 10 : features);
  return n;
}

std::optional<std::vector<PortRef>> wire_into(const Node& to, const PortRef& from) {
  std::vector<PortRef> in = to.inputs;
  if (std::find(in.begin(), in.end(), from) != in.end()) return std::nullopt;
  const OpDef* def = find_op(to.op);
  auto free_port = std::find_if(in.begin(), in.end(), [](auto& p) { return !p.connected(); });
  if (free_port != in.end()) *free_port = from;
  else if (def && (def->max_inputs < 0 || int(in.size()) < def->max_inputs)) in.push_back(from);
  else if (!in.empty()) in[0] = from;
  else in.push_back(from);
  return in;
}

}  // namespace circuit
