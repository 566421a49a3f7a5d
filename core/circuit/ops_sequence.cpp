// Sequence mixers over [..., seq, features]: multi-head self-attention, GRU and LSTM. The
// linear-recurrent mixers (linear attention, Gated DeltaNet, Mamba-2) are in ops_mixers.cpp.
#include "ops_common.h"
#include <algorithm>

namespace circuit::ops {

Result<SeqAxes> seq_axes(const OpCall& c, const char* what) {
  const auto& t = c.in[0];
  if (t.rank() < 2) return input_error(0, std::string(what) + " expects [..., seq, features], got " + to_string(t));
  auto s = pick_axis(0, t, c.s("seq_axis"), -2);
  if (!s) return s.error();
  int f = int(t.rank()) - 1;
  if (*s == f) return input_error(0, "the sequence axis cannot be the feature axis (the last)");
  auto d = concrete(0, t.axes[size_t(f)], what);
  if (!d) return d.error();
  return SeqAxes{*s, f, *d};
}

namespace {

// Query-key pairs actually scored, per sequence: causal masks the future, a window of w keeps
// keys at distance < w (on the left only when causal).
int64_t attention_pairs(int64_t T, bool causal, int64_t w) {
  if (!w || w >= T) return causal ? T * (T + 1) / 2 : T * T;
  int64_t pairs = 0;
  for (int64_t i = 0; i < T; ++i) pairs += std::min(i, w - 1) + 1 + (causal ? 0 : std::min(T - 1 - i, w - 1));
  return pairs;
}

Cost attention_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "attention");
  const auto& t = c.in[0];
  int64_t d = ax.d, T = c.value(t.axes[size_t(ax.seq)].size);
  int64_t seqs = numel(t, c.bindings) / (T * d);  // sequences per example (usually 1)
  bool bias = c.b("bias");
  int64_t pairs = attention_pairs(T, c.b("causal"), c.i("window"));
  Cost r;
  r.params = r.active_params = 4 * d * d + (bias ? 4 * d : 0);
  int64_t per_seq = 2 * T * d * 4 * d + (bias ? 4 * T * d : 0)  // q, k, v and output projections
                    + 2 * pairs * d + 2 * pairs * d               // Q K^T and attention-weighted V
                    + 3 * pairs * c.i("heads");                   // softmax
  r.flops = seqs * per_seq;
  r.activation_bytes = seqs * pairs * c.i("heads") * 4 + seqs * 4 * T * d * 4;  // attention weights, q, k, v, context
  return r;
}

// Open: q k v, the scores against every key, their softmax, the weighted sum of values, the output.
std::vector<OpPart> attention_parts(const OpCall& c) {
  auto ax = *seq_axes(c, "attention");
  const TensorType& x = c.in[0];
  int64_t d = ax.d, H = c.i("heads"), dh = d / H, b = c.b("bias") ? 1 : 0, w = c.i("window");
  const Axis& seq = x.axes[size_t(ax.seq)];
  TensorType scores = with_features(x, {{"head", Size::of(H)}, {"key", seq.size}});
  std::string mask = c.b("causal") ? "causal" : "";
  if (w) mask += (mask.empty() ? "window " : ", window ") + std::to_string(w);
  return {{"qkv", "q k v", "linear", {-1}, with_features(x, {{"qkv", Size::of(3)}, {"head", Size::of(H)}, {"dh", Size::of(dh)}}), 3 * d * d + b * 3 * d},
          {"scores", "q kᵀ / √" + std::to_string(dh), mask, {0}, scores, 0, {seq.name}},
          {"softmax", "softmax", "over keys", {1}, scores, 0, {"key"}},
          {"mix", "Σ weights · v", "", {2, 0}, with_features(x, {{"head", Size::of(H)}, {"dh", Size::of(dh)}}), 0, {seq.name}},
          {"out", "out", "linear", {3}, x, d * d + b * d}};
}

// Open, per layer: the gates' projection of the input and of the previous hidden state, and the
// cell that blends them step by step (its recurrence feeds h back into the gates).
std::vector<OpPart> rnn_parts(const OpCall& c, int64_t gates, const char* cell, const char* gate_names) {
  auto ax = *seq_axes(c, c.def.name.c_str());
  const TensorType& x = c.in[0];
  int64_t h = c.i("hidden"), b = c.b("bias") ? 1 : 0;
  std::string out_name = c.s("out_axis").empty() ? x.axes[size_t(ax.feat)].name : c.s("out_axis");
  std::vector<OpPart> p;
  for (int64_t l = 0, in = ax.d; l < c.i("layers"); ++l, in = h) {
    std::string n = c.i("layers") > 1 ? std::to_string(l + 1) : "";
    p.push_back({"gates" + n, "gates " + std::string(gate_names), "linear of x and the last h", {int(p.size()) - 1},
                 with_features(x, {{"gate", Size::of(gates)}, {"hidden", Size::of(h)}}), gates * h * (in + h) + b * 2 * gates * h});
    p.push_back({"cell" + n, cell, "step by step", {int(p.size()) - 1}, with_features(x, {{out_name, Size::of(h)}}), 0,
                 {x.axes[size_t(ax.seq)].name}});
  }
  return p;
}

// Recurrent layers with `gates` gate blocks per layer (GRU 3, LSTM 4); `per_unit` FLOPs per hidden
// unit and step for the gate nonlinearities and blends (GRU 7: 3 activations, 4 products and sums;
// LSTM 9: 5 activations, 3 products, 1 sum). PyTorch keeps two bias vectors per gate block.
Cost rnn_cost(const OpCall& c, int64_t gates, int64_t per_unit) {
  auto ax = *seq_axes(c, c.def.name.c_str());
  const auto& t = c.in[0];
  int64_t h = c.i("hidden"), steps = numel(t, c.bindings) / ax.d;  // time steps x sequences
  bool bias = c.b("bias");
  Cost r;
  for (int64_t l = 0, in = ax.d; l < c.i("layers"); ++l, in = h) {
    r.params += gates * h * (in + h) + (bias ? 2 * gates * h : 0);
    r.flops += steps * (2 * gates * h * (in + h) + (bias ? 2 * gates * h : 0) + per_unit * h);
  }
  r.active_params = r.params;
  return r;
}

OpDef rnn_op(const char* name, const char* doc, int64_t gates, int64_t per_unit, const char* cell, const char* gate_names) {
  OpDef g;
  g.name = name;
  g.category = OpCategory::sequence;
  g.doc = doc;
  g.attrs = {int_attr("hidden", {}, 1, 1e9, "hidden size"), int_attr("layers", 1, 1, 64, "stacked layers"),
             bool_attr("bias", true, "biases"), string_attr("out_axis", "", "name of the output feature axis (default: the input's)"),
             string_attr("seq_axis", "", "sequence axis (default: second to last)")};
  g.learned = true;
  g.shape = [](const OpCall& c) -> Result<Shapes> {
    auto ax = seq_axes(c, c.def.name.c_str());
    if (!ax) return ax.error();
    TensorType t = c.in[0];
    Axis& f = t.axes[size_t(ax->feat)];
    f = Axis{c.s("out_axis").empty() ? f.name : c.s("out_axis"), Size::of(c.i("hidden"))};
    return Shapes{t};
  };
  g.cost = [gates, per_unit](const OpCall& c, const Shapes&) { return rnn_cost(c, gates, per_unit); };
  g.consumes = seq_consumes;
  g.parts = [gates, cell, gate_names](const OpCall& c) { return rnn_parts(c, gates, cell, gate_names); };
  g.summary = [](const OpCall& c) {
    return c.def.name + " · " + std::to_string(c.i("hidden")) + (c.i("layers") > 1 ? " × " + std::to_string(c.i("layers")) : "");
  };
  return g;
}

}  // namespace

std::vector<std::vector<std::string>> seq_consumes(const OpCall& c) {
  auto ax = *seq_axes(c, c.def.name.c_str());
  return {{c.in[0].axes[size_t(ax.seq)].name, c.in[0].axes[size_t(ax.feat)].name}};
}

void register_sequence_ops(std::vector<OpDef>& r) {
  OpDef at;
  at.name = "attention";
  at.category = OpCategory::sequence;
  at.doc = "Multi-head scaled dot-product self-attention over the sequence axis (PyTorch MultiheadAttention layout).";
  at.attrs = {int_attr("heads", {}, 1, 4096, "attention heads; must divide the feature size"),
              bool_attr("causal", false, "mask future positions"),
              int_attr("window", 0, 0, 1e9, "sliding window: keys at distance < window (0: full)"),
              bool_attr("bias", true, "biases on the projections"),
              float_attr("dropout", 0.0, 0, 0.999, "dropout on attention weights"),
              string_attr("seq_axis", "", "sequence axis (default: second to last)")};
  at.learned = true;
  at.shape = [](const OpCall& c) -> Result<Shapes> {
    auto ax = seq_axes(c, "attention");
    if (!ax) return ax.error();
    if (ax->d % c.i("heads"))
      return Error{"heads=" + std::to_string(c.i("heads")) + " does not divide the feature size " + std::to_string(ax->d) +
                   " of axis `" + c.in[0].axes[size_t(ax->feat)].name + "`"};
    return Shapes{c.in[0]};
  };
  at.cost = attention_cost;
  at.consumes = seq_consumes;
  at.parts = attention_parts;
  at.summary = [](const OpCall& c) {
    return "attention" + heads_text(c) + (c.b("causal") ? " · causal" : "") + (c.i("window") ? " · window " + std::to_string(c.i("window")) : "");
  };
  r.push_back(std::move(at));

  r.push_back(rnn_op("gru", "Gated recurrent unit over the sequence axis (PyTorch GRU, batch first).", 3, 7, "GRU cell", "r z n"));
  r.push_back(rnn_op("lstm", "Long short-term memory over the sequence axis (PyTorch LSTM, batch first, zero initial state).", 4, 9, "LSTM cell", "i f g o"));
}

}  // namespace circuit::ops
