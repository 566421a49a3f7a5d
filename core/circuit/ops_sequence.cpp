// Sequence mixers over [..., seq, features]: multi-head self-attention, GRU and LSTM. The
// linear-recurrent mixers (linear attention, Gated DeltaNet, Mamba-2) are in ops_mixers.cpp.
#include "attention.h"
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

// A cache of `per_token` elements per token of context, at most `window` tokens of it (0: all).
InferenceMemory cache(int64_t per_token, int64_t window) {
  InferenceMemory m;
  if (window) m.windowed[window] = per_token;
  else m.per_token = per_token;
  return m;
}

// What both attention ops take alike: the mask and the rotated pairs' layout.
AttrSpec causal_attr() { return bool_attr("causal", false, "mask future positions"); }
AttrSpec window_attr() { return int_attr("window", 0, 0, 1e9, "sliding window: keys at distance < window (0: full)"); }
AttrSpec rope_layout_attr() {
  return enum_attr("rope_layout", "half", {"half", "interleaved"}, "rotated pairs: the two halves (GPT-NeoX, HF Llama) or neighbours (RoFormer)");
}

AttentionLayout layout_of(const OpCall& c) { return *attention_layout(c, seq_axes(c, "attention")->d); }

Cost attention_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "attention");
  AttentionLayout L = layout_of(c);
  const auto& t = c.in[0];
  int64_t d = ax.d, T = c.value(t.axes[size_t(ax.seq)].size), H = L.heads, dh = L.head_dim;
  int64_t seqs = numel(t, c.bindings) / (T * d);  // sequences per example (usually 1)
  int64_t pairs = attention_pairs(T, c.b("causal"), c.i("window"));
  int64_t rows = L.in_rows(), g = L.gate_width();
  Cost r;
  r.params = r.active_params = L.params();
  int64_t per_seq = 2 * T * d * rows + (L.qkv_bias ? T * rows : 0)       // q, k, v projections
                    + 2 * T * L.q_width() * d + (L.out_bias ? T * d : 0)  // output projection
                    + 4 * pairs * H * dh                                   // Q K^T and attention-weighted V
                    + 3 * pairs * H                                        // softmax
                    + (L.qk_norm ? 4 * T * (H + L.kv_heads) * dh : 0)      // square, mean, rsqrt, scale
                    + 3 * T * (H + L.kv_heads) * L.rope_dims               // x cos ± rotated x sin
                    + (g ? 2 * T * d * g + (L.qkv_bias ? T * g : 0) + 4 * T * g + T * L.q_width() : 0);  // gate
  r.flops = seqs * per_seq;
  // Attention weights, q k v, the context, and the gate's values.
  r.activation_bytes = seqs * 4 * (pairs * H + T * rows + T * L.q_width() + T * g);
  r.inference = cache(seqs * 2 * L.kv_width(), c.i("window"));  // keys and values
  return r;
}

std::string rope_text(const AttentionLayout& L) {
  return "RoPE θ=" + to_string(AttrValue(L.rope_theta)) + (L.rope_dims < L.head_dim ? ", " + std::to_string(L.rope_dims) + " of " + std::to_string(L.head_dim) + " dims" : "") +
         (L.rope_interleaved ? ", interleaved" : "");
}

// Open: q k v, their norm and rotation, the scores against every key, their softmax, the weighted
// sum of values, the output gate and the output.
std::vector<OpPart> attention_parts(const OpCall& c) {
  auto ax = *seq_axes(c, "attention");
  AttentionLayout L = layout_of(c);
  const TensorType& x = c.in[0];
  int64_t H = L.heads, KV = L.kv_heads, dh = L.head_dim, w = c.i("window");
  const Axis& seq = x.axes[size_t(ax.seq)];
  TensorType scores = with_features(x, {{"head", Size::of(H)}, {"key", seq.size}});
  TensorType heads = with_features(x, {{"head", Size::of(H)}, {"dh", Size::of(dh)}});
  std::string mask = c.b("causal") ? "causal" : "";
  if (w) mask += (mask.empty() ? "window " : ", window ") + std::to_string(w);
  std::vector<OpPart> p;
  if (KV == H)
    p.push_back({"qkv", "q k v", "linear", {-1}, with_features(x, {{"qkv", Size::of(3)}, {"head", Size::of(H)}, {"dh", Size::of(dh)}}), L.in_params()});
  else
    p.push_back({"qkv", "q k v", "linear · " + std::to_string(KV) + " kv heads", {-1}, with_features(x, {{"head", Size::of(H + 2 * KV)}, {"dh", Size::of(dh)}}),
                 L.in_params()});
  if (L.qk_norm) p.push_back({"qk_norm", "rms q, k", "per head", {int(p.size()) - 1}, p.back().out, L.norm_params()});
  if (L.rope_dims) p.push_back({"rope", "rotate q, k", rope_text(L), {int(p.size()) - 1}, p.back().out, 0});
  int qk = int(p.size()) - 1;
  p.push_back({"scores", "q kᵀ / √" + std::to_string(dh), mask, {qk}, scores, 0, {seq.name}});
  p.push_back({"softmax", "softmax", "over keys", {int(p.size()) - 1}, scores, 0, {"key"}});
  p.push_back({"mix", "Σ weights · v", KV == H ? "" : std::to_string(H / KV) + " heads per kv head", {int(p.size()) - 1, qk}, heads, 0, {seq.name}});
  if (L.gate) p.push_back({"gate", "× σ(gate)", L.gate == 1 ? "per head" : "per element", {-1, int(p.size()) - 1}, heads, L.gate_params()});
  p.push_back({"out", "out", "linear", {int(p.size()) - 1}, x, L.out_params()});
  return p;
}

LatentLayout latent_of(const OpCall& c) { return latent_layout(c, seq_axes(c, "latent_attention")->d); }

Cost latent_attention_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "latent_attention");
  LatentLayout L = latent_of(c);
  const auto& t = c.in[0];
  int64_t d = ax.d, T = c.value(t.axes[size_t(ax.seq)].size), H = L.heads;
  int64_t seqs = numel(t, c.bindings) / (T * d);
  int64_t pairs = attention_pairs(T, c.b("causal"), c.i("window"));
  Cost r;
  r.params = r.active_params = L.params();
  int64_t norms = 4 * T * (L.kv_lora + L.q_lora);  // the latents' RMS norms
  int64_t per_seq = 2 * T * (L.q_params() + L.kv_a_params() + L.kv_b_params() + L.out_params()) + norms  // projections
                    + 2 * pairs * H * L.qk_dim() + 2 * pairs * H * L.v_dim                             // scores, weighted v
                    + 3 * pairs * H + 3 * T * (H + 1) * L.rope;                                       // softmax, rotation
  r.flops = seqs * per_seq;
  r.activation_bytes = seqs * 4 * (pairs * H + T * (L.q_lora + L.kv_lora + L.rope + H * (L.qk_dim() + L.nope + 2 * L.v_dim)));
  r.inference = cache(seqs * (L.kv_lora + L.rope), c.i("window"));  // the latent and the rotary key, not per-head keys
  return r;
}

// Open: the query (through its latent), the shared latent and rotary key, the heads' keys and
// values from the latent, rotation, scores, softmax, weighted values, the output.
std::vector<OpPart> latent_attention_parts(const OpCall& c) {
  auto ax = *seq_axes(c, "latent_attention");
  LatentLayout L = latent_of(c);
  const TensorType& x = c.in[0];
  int64_t H = L.heads;
  const Axis& seq = x.axes[size_t(ax.seq)];
  auto feat = [&](std::vector<Axis> a) { return with_features(x, std::move(a)); };
  std::string mask = c.b("causal") ? "causal" : "";
  if (c.i("window")) mask += (mask.empty() ? "window " : ", window ") + std::to_string(c.i("window"));
  TensorType scores = feat({{"head", Size::of(H)}, {"key", seq.size}});
  return {{"q", "q", L.q_lora ? "linear → " + std::to_string(L.q_lora) + " latent, rms, linear" : "linear", {-1},
           feat({{"head", Size::of(H)}, {"qk", Size::of(L.qk_dim())}}), L.q_params()},
          {"kv_latent", "kv latent", "linear, rms · + rotary key " + std::to_string(L.rope), {-1}, feat({{"latent", Size::of(L.kv_lora + L.rope)}}),
           L.kv_a_params()},
          {"kv", "k v", "linear from the latent", {1}, feat({{"head", Size::of(H)}, {"kv", Size::of(L.nope + L.v_dim)}}), L.kv_b_params()},
          {"rope", "rotate q, k", "RoPE θ=" + to_string(AttrValue(L.rope_theta)) + " on " + std::to_string(L.rope) + " dims", {0, 1},
           feat({{"head", Size::of(H)}, {"qk", Size::of(L.qk_dim())}}), 0},
          {"scores", "q kᵀ / √" + std::to_string(L.qk_dim()), mask, {3, 2}, scores, 0, {seq.name}},
          {"softmax", "softmax", "over keys", {4}, scores, 0, {"key"}},
          {"mix", "Σ weights · v", "", {5, 2}, feat({{"head", Size::of(H)}, {"dv", Size::of(L.v_dim)}}), 0, {seq.name}},
          {"out", "out", "linear", {6}, x, L.out_params()}};
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
  r.inference.state = steps / c.value(c.in[0].axes[size_t(ax.seq)].size) * c.i("layers") * h * (gates == 4 ? 2 : 1);  // h (and c for LSTM)
  return r;
}

OpDef rnn_op(const char* name, const char* doc, int64_t gates, int64_t per_unit, const char* cell, const char* gate_names) {
  OpDef g;
  g.name = name;
  g.category = OpCategory::sequence;
  g.doc = doc;
  g.attrs = {int_attr("hidden", {}, 1, 1e9, "hidden size"), int_attr("layers", 1, 1, 64, "stacked layers"),
             bool_attr("bias", true, "biases"), string_attr("out_axis", "", "name of the output feature axis (default: the input's)"),
             seq_axis_attr()};
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
  at.doc = "Multi-head scaled dot-product self-attention over the sequence axis: grouped-query heads of their own size, rotary "
           "positions, q/k norm and an output gate as options; with none set, PyTorch's MultiheadAttention layout.";
  at.attrs = {int_attr("heads", {}, 1, 4096, "query heads; must divide the feature size unless head_dim is set"),
              int_attr("kv_heads", 0, 0, 4096, "key/value heads, dividing heads: grouped-query (1: multi-query; 0: as heads)"),
              int_attr("head_dim", 0, 0, 65536, "size of each head (0: features / heads)"),
              causal_attr(), window_attr(),
              bool_attr("bias", true, "biases on the q, k, v (and gate) projections, and on the output unless out_bias says otherwise"),
              bool_attr("out_bias", true, "bias on the output projection (unset: as bias)"),
              float_attr("rope_theta", 0.0, 0, 1e12, "rotary position embedding base (0: no rotary positions)"),
              float_attr("rope_fraction", 1.0, 0, 1, "fraction of each head's dimensions rotated (partial rotary)"),
              rope_layout_attr(),
              bool_attr("qk_norm", false, "RMS norm of q and k per head, with a learned scale (Qwen3, OLMo 2)"),
              enum_attr("gate", "none", {"none", "head", "element"}, "learned sigmoid gate on the output, from the input: per head or per element (Qwen3-Next)"),
              float_attr("dropout", 0.0, 0, 0.999, "dropout on attention weights"),
              seq_axis_attr()};
  at.learned = true;
  at.shape = [](const OpCall& c) -> Result<Shapes> {
    auto ax = seq_axes(c, "attention");
    if (!ax) return ax.error();
    if (!c.i("head_dim") && ax->d % c.i("heads"))
      return Error{"heads=" + std::to_string(c.i("heads")) + " does not divide the feature size " + std::to_string(ax->d) +
                   " of axis `" + c.in[0].axes[size_t(ax->feat)].name + "` (or set head_dim)"};
    auto L = attention_layout(c, ax->d);
    if (!L) return L.error();
    return Shapes{c.in[0]};
  };
  at.cost = attention_cost;
  at.consumes = seq_consumes;
  at.parts = attention_parts;
  at.summary = [](const OpCall& c) {
    AttentionLayout L = layout_of(c);
    return "attention" + heads_text(c) + (L.kv_heads != L.heads ? " · " + std::to_string(L.kv_heads) + " kv" : "") +
           (L.rope_dims ? " · RoPE" : "") + (c.b("causal") ? " · causal" : "") +
           (c.i("window") ? " · window " + std::to_string(c.i("window")) : "") + (L.gate ? " · gated" : "");
  };
  r.push_back(std::move(at));

  OpDef ml;
  ml.name = "latent_attention";
  ml.category = OpCategory::sequence;
  ml.doc = "Multi-head latent attention (DeepSeek-V2/V3): q through a low-rank latent, keys and values from one shared latent "
           "plus a rotary key shared by the heads; each head's key is [no-position part | rotary part].";
  ml.attrs = {int_attr("heads", {}, 1, 4096, "attention heads"),
              int_attr("q_lora_rank", 0, 0, 1e6, "rank of the query's latent (0: q projected directly)"),
              int_attr("kv_lora_rank", {}, 1, 1e6, "rank of the shared key/value latent, what the cache keeps per token"),
              int_attr("qk_nope_dim", {}, 0, 65536, "per-head key/query dimensions without positions"),
              int_attr("qk_rope_dim", {}, 2, 65536, "rotary key/query dimensions (even), the rotary key shared by all heads"),
              int_attr("v_head_dim", {}, 1, 65536, "per-head value size"),
              float_attr("rope_theta", 10000.0, 1e-6, 1e12, "rotary position embedding base"),
              rope_layout_attr(), causal_attr(), window_attr(),
              seq_axis_attr()};
  ml.learned = true;
  ml.shape = [](const OpCall& c) -> Result<Shapes> {
    auto ax = seq_axes(c, "latent_attention");
    if (!ax) return ax.error();
    if (c.i("qk_rope_dim") % 2) return Error{"qk_rope_dim=" + std::to_string(c.i("qk_rope_dim")) + " is odd; rotary positions rotate pairs"};
    return Shapes{c.in[0]};
  };
  ml.cost = latent_attention_cost;
  ml.consumes = seq_consumes;
  ml.parts = latent_attention_parts;
  ml.summary = [](const OpCall& c) {
    return "latent attention" + heads_text(c) + " · kv " + std::to_string(c.i("kv_lora_rank")) + (c.b("causal") ? " · causal" : "");
  };
  r.push_back(std::move(ml));

  r.push_back(rnn_op("gru", "Gated recurrent unit over the sequence axis (PyTorch GRU, batch first).", 3, 7, "GRU cell", "r z n"));
  r.push_back(rnn_op("lstm", "Long short-term memory over the sequence axis (PyTorch LSTM, batch first, zero initial state).", 4, 9, "LSTM cell", "i f g o"));
}

}  // namespace circuit::ops

namespace circuit {

Result<AttentionLayout> attention_layout(const OpCall& c, int64_t d) {
  AttentionLayout L;
  L.d = d;
  L.heads = c.i("heads");
  L.kv_heads = c.i("kv_heads") ? c.i("kv_heads") : L.heads;
  if (L.heads % L.kv_heads)
    return Error{"kv_heads=" + std::to_string(L.kv_heads) + " does not divide heads=" + std::to_string(L.heads) + " (each kv head serves a whole group of query heads)"};
  L.head_dim = c.i("head_dim") ? c.i("head_dim") : d / L.heads;
  L.qkv_bias = c.b("bias");
  // out_bias left unset follows bias, so a file that says only bias=false keeps its old meaning.
  L.out_bias = c.node.attrs.count("out_bias") ? c.b("out_bias") : L.qkv_bias;
  L.qk_norm = c.b("qk_norm");
  L.gate = c.s("gate") == "head" ? 1 : c.s("gate") == "element" ? L.head_dim : 0;
  L.rope_theta = c.f("rope_theta");
  if (L.rope_theta > 0) {
    // As Hugging Face: int(head_dim * partial_rotary_factor) dimensions, which must pair up.
    L.rope_dims = int64_t(double(L.head_dim) * c.f("rope_fraction") + 1e-9);
    if (L.rope_dims < 2 || L.rope_dims % 2)
      return Error{"rope_fraction=" + to_string(AttrValue(c.f("rope_fraction"))) + " of head_dim " + std::to_string(L.head_dim) + " rotates " +
                   std::to_string(L.rope_dims) + " dimensions; rotary positions need an even number, at least 2"};
    L.rope_interleaved = c.s("rope_layout") == "interleaved";
  }
  return L;
}

LatentLayout latent_layout(const OpCall& c, int64_t d) {
  LatentLayout L;
  L.d = d, L.heads = c.i("heads"), L.q_lora = c.i("q_lora_rank"), L.kv_lora = c.i("kv_lora_rank");
  L.nope = c.i("qk_nope_dim"), L.rope = c.i("qk_rope_dim"), L.v_dim = c.i("v_head_dim");
  L.rope_theta = c.f("rope_theta"), L.rope_interleaved = c.s("rope_layout") == "interleaved";
  return L;
}

}  // namespace circuit
