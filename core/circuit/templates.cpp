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

}  // namespace circuit
