// Linear-recurrent sequence mixers over [..., seq, features] (TECHNIQUES.md, hybrid blocks): linear
// attention, Gated DeltaNet, Mamba-2 and Mamba-1, the short 1-D convolution they use, and 1-D
// average pooling (PoolFormer's token mixer). All four mixers
// run one gated linear recurrence with a [dk, dv] state per head (engine/detail/recurrence.h);
// their parameter counts below are the formulas docs/cost.md states.
//
// FLOPs of a recurrence are counted in its recurrent form, per position and head: reading the
// state out (q S) and writing it (k v^T) are 2 dk dv each, the delta rule's S^T k another 2 dk dv.
// The chunked form training runs does more arithmetic than that, to run it in parallel.
#include "ops_common.h"

namespace circuit::ops {

namespace {

const AttrSpec kSeqAxis = seq_axis_attr();
AttrSpec chunk_attr() { return int_attr("chunk", 64, 1, 4096, "positions per chunk of the parallel form (training and inference)"); }
AttrSpec conv_attr(int64_t def) { return int_attr("conv", def, 0, 64, "kernel of the short causal depthwise convolution (0: none)"); }

Error not_dividing(const char* what, int64_t n, const char* of, int64_t size, const OpCall& c, const SeqAxes& ax) {
  return Error{std::string(what) + "=" + std::to_string(n) + " does not divide " + of + " " + std::to_string(size) + " of axis `" +
               c.in[0].axes[size_t(ax.feat)].name + "`"};
}

// Positions (time steps x sequences) per example.
int64_t positions(const OpCall& c, const SeqAxes& ax) { return numel(c.in[0], c.bindings) / ax.d; }
// Sequences per example (usually 1): what inference state is kept for, one each.
int64_t sequences(const OpCall& c, const SeqAxes& ax) { return positions(c, ax) / c.value(c.in[0].axes[size_t(ax.seq)].size); }

// ---- conv1d

struct Conv1d {
  int64_t in, out, groups, k;
};
Conv1d conv1d_geometry(const OpCall& c, const SeqAxes& ax) {
  int64_t out = c.i("out") ? c.i("out") : ax.d;
  return {ax.d, out, c.b("depthwise") ? ax.d : 1, c.i("kernel")};
}

Result<Shapes> conv1d_shape(const OpCall& c) {
  auto ax = seq_axes(c, "conv1d");
  if (!ax) return ax.error();
  auto g = conv1d_geometry(c, *ax);
  if (c.b("depthwise") && g.out != g.in)
    return Error{"a depthwise conv1d keeps the feature size " + std::to_string(g.in) + " of axis `" +
                 c.in[0].axes[size_t(ax->feat)].name + "`: set out to 0 or " + std::to_string(g.in) + ", got " + std::to_string(c.i("out"))};
  TensorType t = c.in[0];
  Axis& f = t.axes[size_t(ax->feat)];
  f = Axis{c.s("out_axis").empty() ? f.name : c.s("out_axis"), Size::of(g.out)};
  return Shapes{t};
}

Cost conv1d_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "conv1d");
  auto g = conv1d_geometry(c, ax);
  bool bias = c.b("bias");
  Cost r;
  r.params = r.active_params = g.out * (g.in / g.groups) * g.k + (bias ? g.out : 0);
  r.flops = positions(c, ax) * (2 * g.out * (g.in / g.groups) * g.k + (bias ? g.out : 0));
  if (c.b("causal")) r.inference.state = sequences(c, ax) * (g.k - 1) * g.in;  // the last k - 1 inputs
  return r;
}

// ---- linear attention

Result<Shapes> linear_attention_shape(const OpCall& c) {
  auto ax = seq_axes(c, "linear_attention");
  if (!ax) return ax.error();
  if (ax->d % c.i("heads")) return not_dividing("heads", c.i("heads"), "the feature size", ax->d, c, *ax);
  return Shapes{c.in[0]};
}

// Parameters: q, k, v and output projections, 4 d^2 (+ 4 d biases).
Cost linear_attention_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "linear_attention");
  int64_t d = ax.d, H = c.i("heads"), dh = d / H, P = positions(c, ax);
  bool bias = c.b("bias");
  int64_t dv = dh + (c.b("normalize") ? 1 : 0);  // normalising carries a column of ones through the state
  Cost r;
  r.params = r.active_params = 4 * d * d + (bias ? 4 * d : 0);
  r.flops = P * (8 * d * d + (bias ? 4 * d : 0) + 2 * d /* feature maps */ + H * 4 * dh * dv + (c.b("normalize") ? d : 0));
  if (c.b("causal")) r.inference.state = sequences(c, ax) * H * dh * dv;  // Σ φ(k) vᵀ per head
  return r;
}

// Open: q k v, the feature map, the (causal) sum of phi(k) v^T read out by phi(q), the output.
std::vector<OpPart> linear_attention_parts(const OpCall& c) {
  auto ax = *seq_axes(c, "linear_attention");
  int64_t d = ax.d, H = c.i("heads"), dh = d / H, b = c.b("bias") ? 1 : 0;
  const TensorType& x = c.in[0];
  TensorType heads = with_features(x, {{"head", Size::of(H)}, {"dh", Size::of(dh)}});
  std::string seq = x.axes[size_t(ax.seq)].name;
  return {{"qkv", "q k v", "linear", {-1}, with_features(x, {{"qkv", Size::of(3)}, {"head", Size::of(H)}, {"dh", Size::of(dh)}}), 3 * d * d + b * 3 * d},
          {"phi", "φ(q), φ(k)", c.s("feature_map"), {0}, with_features(x, {{"qkv", Size::of(3)}, {"head", Size::of(H)}, {"dh", Size::of(dh)}})},
          {"state", "φ(q)ᵀ Σ φ(k) vᵀ", std::string(c.b("causal") ? "causal" : "all positions") + (c.b("normalize") ? " · ÷ φ(q)ᵀΣφ(k)" : ""),
           {1}, heads, 0, {seq}},
          {"out", "out", "linear", {2}, x, d * d + b * d}};
}

// ---- gated delta

// H value heads of dh; Hk query/key heads (Hk divides H: each serves H / Hk value heads, as
// Qwen3-Next's 16 q/k heads serve 32 value heads); qk = 2 Hk dh, the q and k widths together.
struct Heads {
  int64_t H, dh, inner, Hk, qk;
};
Heads gated_delta_heads(const OpCall& c, const SeqAxes& ax) {
  int64_t H = c.i("heads"), dh = c.i("head_dim") ? c.i("head_dim") : ax.d / H, Hk = c.i("key_heads") ? c.i("key_heads") : H;
  return {H, dh, H * dh, Hk, 2 * Hk * dh};
}

Result<Shapes> gated_delta_shape(const OpCall& c) {
  auto ax = seq_axes(c, "gated_delta");
  if (!ax) return ax.error();
  if (!c.i("head_dim") && ax->d % c.i("heads")) return not_dividing("heads", c.i("heads"), "the feature size", ax->d, c, *ax);
  if (c.i("key_heads") && c.i("heads") % c.i("key_heads"))
    return Error{"key_heads=" + std::to_string(c.i("key_heads")) + " does not divide heads=" + std::to_string(c.i("heads")) +
                 " (each query/key head serves a whole group of value heads)"};
  return Shapes{c.in[0]};
}

// Parameters, with inner = heads * head_dim, qk = 2 key_heads head_dim and K the short-conv kernel:
//   q, k, v projections d (qk + inner); beta and decay projections 2 d heads; A_log and dt_bias
//   2 heads; short conv over q, k, v (qk + inner) K (no bias); output gate d inner; output norm
//   head_dim; output projection inner d.
Cost gated_delta_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "gated_delta");
  auto [H, dh, inner, Hk, qk] = gated_delta_heads(c, ax);
  int64_t d = ax.d, K = c.i("conv"), P = positions(c, ax), proj = qk + inner;
  bool gate = c.b("gate");
  Cost r;
  r.params = d * proj + 2 * d * H + 2 * H + proj * K + (gate ? d * inner : 0) + dh + inner * d;
  r.active_params = r.params;
  r.flops = P * (2 * d * (proj + 2 * H) + 2 * proj * K + proj /* SiLU */ + 3 * qk /* L2 norms, scale */ +
                 6 * H /* sigmoid, softplus, decay */ + H * 6 * dh * dh + 4 * inner /* RMS norm */ +
                 (gate ? 2 * d * inner + 2 * inner : 0) + 2 * inner * d);
  r.inference.state = sequences(c, ax) * (H * dh * dh + (K ? proj * (K - 1) : 0));  // the delta-rule state, the conv's last inputs
  return r;
}

// Open: q k v through the short conv and L2 norms, beta and the decay from their own projections,
// the delta-rule state, the normed and gated read-out, the output projection.
std::vector<OpPart> gated_delta_parts(const OpCall& c) {
  auto ax = *seq_axes(c, "gated_delta");
  auto [H, dh, inner, Hk, qk] = gated_delta_heads(c, ax);
  int64_t d = ax.d, K = c.i("conv"), proj = qk + inner;
  const TensorType& x = c.in[0];
  std::string seq = x.axes[size_t(ax.seq)].name;
  TensorType qkv = Hk == H ? with_features(x, {{"qkv", Size::of(3)}, {"head", Size::of(H)}, {"dh", Size::of(dh)}})
                           : with_features(x, {{"head", Size::of(2 * Hk + H)}, {"dh", Size::of(dh)}});
  TensorType heads = with_features(x, {{"head", Size::of(H)}, {"dh", Size::of(dh)}}), per_head = with_features(x, {{"head", Size::of(H)}});
  std::vector<OpPart> p;
  p.push_back({"qkv", "q k v", Hk == H ? "linear" : "linear · " + std::to_string(Hk) + " q/k heads", {-1}, qkv, d * proj});
  if (K) p.push_back({"conv", "conv " + std::to_string(K), "causal, depthwise · SiLU", {0}, qkv, proj * K, {seq}});
  else p.push_back({"act", "SiLU", "", {0}, qkv});
  p.push_back({"l2", "L2 norm", "q and k", {1}, qkv, 0, {"dh"}});
  p.push_back({"beta", "β", "linear · sigmoid", {-1}, per_head, d * H});
  p.push_back({"decay", "log α", "linear · −eᴬ softplus(· + dt)", {-1}, per_head, d * H + 2 * H});
  p.push_back({"state", "delta rule", "S ← αS(I − βkkᵀ) + βvkᵀ", {2, 3, 4}, heads, 0, {seq}});
  std::vector<int> norm_in{5};
  if (c.b("gate")) p.push_back({"gate", "gate", "linear · SiLU", {-1}, heads, d * inner}), norm_in.push_back(6);
  p.push_back({"norm", c.b("gate") ? "norm ⊙ gate" : "norm", "RMS per head", norm_in, heads, dh});
  p.push_back({"out", "out", "linear", {int(p.size()) - 1}, x, inner * d});
  return p;
}

// ---- mamba2

struct Ssd {
  int64_t inner, H, P, N;
};
Ssd mamba2_geometry(const OpCall& c, const SeqAxes& ax) {
  int64_t inner = c.i("expand") * ax.d, H = c.i("heads");
  return {inner, H, inner / H, c.i("state")};
}

Result<Shapes> mamba2_shape(const OpCall& c) {
  auto ax = seq_axes(c, "mamba2");
  if (!ax) return ax.error();
  auto g = mamba2_geometry(c, *ax);
  if (g.inner % g.H) return not_dividing("heads", g.H, "the inner size (expand x features)", g.inner, c, *ax);
  return Shapes{c.in[0]};
}

// Parameters, with inner = expand d, N the state size, K the conv kernel:
//   input projection d (2 inner + 2 N + heads) (z, x, B, C, dt); conv over x, B, C
//   (inner + 2 N)(K + 1) with biases (none when K = 0); dt_bias, A_log and D 3 heads; gated RMS norm inner;
//   output projection inner d.
Cost mamba2_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "mamba2");
  auto g = mamba2_geometry(c, ax);
  int64_t d = ax.d, K = c.i("conv"), P = positions(c, ax), xbc = g.inner + 2 * g.N;
  Cost r;
  r.params = d * (2 * g.inner + 2 * g.N + g.H) + (K ? xbc * (K + 1) : 0) + 3 * g.H + g.inner + g.inner * d;
  r.active_params = r.params;
  r.flops = P * (2 * d * (2 * g.inner + 2 * g.N + g.H) + (K ? xbc * (2 * K + 1) : 0) + xbc /* SiLU */ + 4 * g.H /* dt, decay */ +
                 g.inner /* x dt */ + g.H * 4 * g.N * g.P + 2 * g.inner /* D skip */ + 3 * g.inner /* gate */ +
                 4 * g.inner /* RMS norm */ + 2 * g.inner * d);
  r.inference.state = sequences(c, ax) * (g.H * g.P * g.N + (K ? xbc * (K - 1) : 0));  // the SSD state, the conv's last inputs
  return r;
}

// Open: the input projection's four parts (gate z, x B C, dt), the short conv over x B C, the decay
// from dt, the SSD state, the D skip, the gated norm and the output projection.
std::vector<OpPart> mamba2_parts(const OpCall& c) {
  auto ax = *seq_axes(c, "mamba2");
  auto g = mamba2_geometry(c, ax);
  int64_t d = ax.d, K = c.i("conv"), xbc = g.inner + 2 * g.N;
  const TensorType& x = c.in[0];
  std::string seq = x.axes[size_t(ax.seq)].name;
  TensorType inner = with_features(x, {{"inner", Size::of(g.inner)}}), xbc_t = with_features(x, {{"xBC", Size::of(xbc)}});
  TensorType per_head = with_features(x, {{"head", Size::of(g.H)}}), heads = with_features(x, {{"head", Size::of(g.H)}, {"dh", Size::of(g.P)}});
  std::vector<OpPart> p;
  p.push_back({"z", "z", "linear", {-1}, inner, d * g.inner});
  p.push_back({"xbc", "x B C", "linear", {-1}, xbc_t, d * xbc});
  p.push_back({"dt", "Δ", "linear", {-1}, per_head, d * g.H});
  if (K) p.push_back({"conv", "conv " + std::to_string(K), "causal, depthwise · SiLU", {1}, xbc_t, xbc * (K + 1), {seq}});
  else p.push_back({"act", "SiLU", "", {1}, xbc_t});
  p.push_back({"decay", "log a", "−eᴬ softplus(Δ + dt)", {2}, per_head, 2 * g.H});
  p.push_back({"state", "SSD", "state " + std::to_string(g.N) + " per head", {3, 4}, heads, 0, {seq}});
  p.push_back({"skip", "+ D x", "per head", {5, 3}, heads, g.H});
  p.push_back({"norm", "norm ⊙ gate", "RMS · SiLU(z)", {6, 0}, inner, g.inner});
  p.push_back({"out", "out", "linear", {7}, x, g.inner * d});
  return p;
}

// ---- mamba (Mamba-1, the selective scan of Jamba, Samba and Falcon-Mamba)

// inner channels, each with its own state of N and its own decay per state, exp(Δ A[c, n]); R the
// rank of Δ's projection (0: ceil(features / 16), as Mamba's "auto").
struct Selective {
  int64_t inner, N, R, K;
};
Selective mamba_geometry(const OpCall& c, const SeqAxes& ax) {
  int64_t R = c.i("dt_rank") ? c.i("dt_rank") : (ax.d + 15) / 16;
  return {c.i("expand") * ax.d, c.i("state"), R, c.i("conv")};
}

Result<Shapes> mamba_shape(const OpCall& c) {
  auto ax = seq_axes(c, "mamba");
  if (!ax) return ax.error();
  return Shapes{c.in[0]};
}

// Parameters, with inner = expand d, N the state size, R the rank of Δ, K the conv kernel:
//   input projection d 2 inner (x and the gate z; + 2 inner biases); depthwise conv inner K
//   (+ inner biases); x_proj inner (R + 2 N) (Δ, B, C); dt_proj R inner + inner; A_log inner N;
//   D inner; output projection inner d (+ d); Jamba's learned norms of Δ, B and C R + 2 N.
Cost mamba_cost(const OpCall& c, const Shapes&) {
  auto ax = *seq_axes(c, "mamba");
  auto [inner, N, R, K] = mamba_geometry(c, ax);
  int64_t d = ax.d, P = positions(c, ax), dbc = R + 2 * N;
  bool bias = c.b("bias"), learned_norm = c.s("dbc_norm") == "rms";
  Cost r;
  r.params = 2 * d * inner + (bias ? 2 * inner : 0) + (K ? inner * K + (c.b("conv_bias") ? inner : 0) : 0) + inner * dbc + R * inner + inner +
             inner * N + inner + inner * d + (bias ? d : 0) + (learned_norm ? dbc : 0);
  r.active_params = r.params;
  r.flops = P * (4 * d * inner + (K ? inner * (2 * K + 1) : 0) + inner /* SiLU */ + 2 * inner * dbc + (c.s("dbc_norm") != "none" ? 4 * dbc : 0) +
                 2 * R * inner + 2 * inner /* dt bias, softplus */ + 2 * inner * N /* exp(Δ A) */ + 3 * inner * N /* a h + Δ B x */ +
                 2 * inner * N /* C h */ + 2 * inner /* D skip */ + 3 * inner /* gate */ + 2 * inner * d);
  r.inference.state = sequences(c, ax) * (inner * N + (K ? inner * (K - 1) : 0));  // the scan's state, the conv's last inputs
  return r;
}

// Open: the input projection's two halves (x, gate z), the short conv over x, Δ B C from x, Δ
// through its own projection and softplus, the selective scan, the D skip, the gate, the output.
std::vector<OpPart> mamba_parts(const OpCall& c) {
  auto ax = *seq_axes(c, "mamba");
  auto [inner, N, R, K] = mamba_geometry(c, ax);
  int64_t d = ax.d, dbc = R + 2 * N, b = c.b("bias") ? 1 : 0;
  const TensorType& x = c.in[0];
  std::string seq = x.axes[size_t(ax.seq)].name, norm = c.s("dbc_norm");
  TensorType in = with_features(x, {{"inner", Size::of(inner)}});
  std::vector<OpPart> p;
  p.push_back({"z", "z", "linear", {-1}, in, d * inner + b * inner});
  p.push_back({"x", "x", "linear", {-1}, in, d * inner + b * inner});
  if (K) p.push_back({"conv", "conv " + std::to_string(K), "causal, depthwise · SiLU", {1}, in, inner * K + (c.b("conv_bias") ? inner : 0), {seq}});
  else p.push_back({"act", "SiLU", "", {1}, in});
  p.push_back({"dbc", "Δ B C", norm == "none" ? "linear" : "linear · RMS each", {2}, with_features(x, {{"dbc", Size::of(dbc)}}),
               inner * dbc + (norm == "rms" ? dbc : 0)});
  p.push_back({"dt", "Δ", "softplus(linear · rank " + std::to_string(R) + ")", {3}, in, R * inner + inner});
  p.push_back({"state", "selective scan", "h ← exp(ΔA) h + ΔBx, C h · state " + std::to_string(N) + " per channel", {2, 3, 4}, in, inner * N, {seq}});
  p.push_back({"skip", "+ D x", "per channel", {5, 2}, in, inner});
  p.push_back({"gate", "⊙ SiLU(z)", "", {6, 0}, in});
  p.push_back({"out", "out", "linear", {7}, x, inner * d + b * d});
  return p;
}

// ---- pool1d

Result<Shapes> pool1d_shape(const OpCall& c) {
  auto ax = seq_axes(c, "pool1d");
  if (!ax) return ax.error();
  return Shapes{c.in[0]};
}

}  // namespace

void register_mixer_ops(std::vector<OpDef>& r) {
  OpDef pl;
  pl.name = "pool1d";
  pl.category = OpCategory::sequence;
  pl.doc = "Average over a window of the sequence axis, per feature (PoolFormer's token mixer); the sequence keeps its length, "
           "zeros padding the edges count in the average.";
  pl.attrs = {int_attr("kernel", 3, 1, 1024, "window size"), bool_attr("causal", true, "output t averages inputs t-kernel+1 .. t (else centred)"),
              kSeqAxis};
  pl.shape = pool1d_shape;
  pl.cost = [](const OpCall& c, const Shapes& out) {
    Cost r = elementwise_cost(c, out, c.i("kernel"));
    auto ax = *seq_axes(c, "pool1d");
    if (c.b("causal")) r.inference.state = sequences(c, ax) * (c.i("kernel") - 1) * ax.d;  // the last kernel - 1 inputs
    return r;
  };
  pl.consumes = [](const OpCall& c) {
    auto ax = *seq_axes(c, "pool1d");
    return std::vector<std::vector<std::string>>{{c.in[0].axes[size_t(ax.seq)].name}};
  };
  r.push_back(std::move(pl));

  OpDef cv;
  cv.name = "conv1d";
  cv.category = OpCategory::sequence;
  cv.doc = "1-D convolution over the sequence axis of [..., seq, features]; the sequence keeps its length (causal: pads the past only).";
  cv.attrs = {int_attr("out", 0, 0, 1e9, "output features (0: the input's)"), int_attr("kernel", 4, 1, 1024, "kernel size"),
              bool_attr("causal", true, "output t sees inputs t-kernel+1 .. t only (else centred)"),
              bool_attr("depthwise", false, "one filter per feature (groups = features)"), bool_attr("bias", true, "learned bias"),
              string_attr("out_axis", "", "name of the output feature axis (default: the input's)"), kSeqAxis};
  cv.learned = true;
  cv.shape = conv1d_shape;
  cv.cost = conv1d_cost;
  cv.summary = [](const OpCall& c) {
    return std::string(c.b("depthwise") ? "dw conv " : "conv ") + std::to_string(c.i("kernel")) + (c.b("causal") ? " · causal" : "");
  };
  cv.consumes = seq_consumes;
  r.push_back(std::move(cv));

  OpDef la;
  la.name = "linear_attention";
  la.category = OpCategory::sequence;
  la.doc = "Multi-head linear attention: phi(q) (sum phi(k) v^T), optionally normalised by phi(q) . sum phi(k); causal runs as a chunked recurrence.";
  la.attrs = {int_attr("heads", {}, 1, 4096, "heads; must divide the feature size"),
              enum_attr("feature_map", "elu+1", {"elu+1", "relu"}, "phi applied to queries and keys"),
              bool_attr("causal", true, "each position sees the past only"),
              bool_attr("normalize", true, "divide by phi(q) . sum phi(k) (else scale q by head_dim^-1/2)"),
              bool_attr("bias", false, "biases on the projections"), chunk_attr(), kSeqAxis};
  la.learned = true;
  la.shape = linear_attention_shape;
  la.cost = linear_attention_cost;
  la.consumes = seq_consumes;
  la.parts = linear_attention_parts;
  la.summary = [](const OpCall& c) { return "linear attention" + heads_text(c) + (c.b("causal") ? " · causal" : ""); };
  r.push_back(std::move(la));

  OpDef gd;
  gd.name = "gated_delta";
  gd.category = OpCategory::sequence;
  gd.doc = "Gated DeltaNet: S_t = S_{t-1} a_t (I - b_t k_t k_t^T) + b_t v_t k_t^T, o_t = S_t q_t, per head, with L2-normalised q and k, "
           "b = sigmoid, a = exp(g) from a softplus-parameterised decay, short causal convolutions and a gated RMS-normed output.";
  gd.attrs = {int_attr("heads", {}, 1, 4096, "value heads"), int_attr("head_dim", 0, 0, 65536, "key and value size per head (0: features / heads)"),
              int_attr("key_heads", 0, 0, 4096, "query/key heads, dividing heads: each serves heads / key_heads value heads (0: as heads)"),
              conv_attr(4), bool_attr("gate", true, "gate the output with SiLU(W_g x)"), chunk_attr(), kSeqAxis};
  gd.learned = true;
  gd.shape = gated_delta_shape;
  gd.cost = gated_delta_cost;
  gd.consumes = seq_consumes;
  gd.parts = gated_delta_parts;
  gd.summary = [](const OpCall& c) { return "gated delta" + heads_text(c); };
  r.push_back(std::move(gd));

  OpDef mb;
  mb.name = "mamba2";
  mb.category = OpCategory::sequence;
  mb.doc = "Mamba-2 (SSD): a per-head scalar decay exp(dt A) with input-dependent dt, B and C, a short causal convolution, "
           "a D skip and a SiLU-gated RMS-normed output.";
  mb.attrs = {int_attr("heads", {}, 1, 4096, "heads; must divide expand x features"), int_attr("state", 16, 1, 4096, "state size N per head"),
              int_attr("expand", 2, 1, 16, "inner size = expand x features"), conv_attr(4), chunk_attr(), kSeqAxis};
  mb.learned = true;
  mb.shape = mamba2_shape;
  mb.cost = mamba2_cost;
  mb.consumes = seq_consumes;
  mb.parts = mamba2_parts;
  mb.summary = [](const OpCall& c) { return "mamba-2" + heads_text(c) + " · state " + std::to_string(c.i("state")); };
  r.push_back(std::move(mb));

  OpDef m1;
  m1.name = "mamba";
  m1.category = OpCategory::sequence;
  m1.doc = "Mamba-1 (the selective scan of Jamba, Samba and Falcon-Mamba): per channel a state of N with a decay per state, "
           "h_t = exp(Δ_t A) h_{t-1} + Δ_t B_t x_t, y_t = C_t h_t + D x_t, with input-dependent Δ (low rank, softplus), B and C, "
           "a short causal convolution and a SiLU gate.";
  m1.attrs = {int_attr("state", 16, 1, 4096, "state size N per channel"), int_attr("expand", 2, 1, 16, "channels = expand x features"),
              int_attr("dt_rank", 0, 0, 65536, "rank of Δ's projection (0: features / 16, rounded up)"), conv_attr(4),
              bool_attr("conv_bias", true, "a bias on the short convolution"), bool_attr("bias", false, "biases on the input and output projections"),
              enum_attr("dbc_norm", "none", {"none", "rms", "rms_unscaled"},
                        "RMS norm of Δ, B and C before use: rms learns a scale for each (Jamba), rms_unscaled has none (Falcon-Mamba)"),
              chunk_attr(), kSeqAxis};
  m1.learned = true;
  m1.shape = mamba_shape;
  m1.cost = mamba_cost;
  m1.consumes = seq_consumes;
  m1.parts = mamba_parts;
  m1.summary = [](const OpCall& c) { return "mamba · state " + std::to_string(c.i("state")); };
  r.push_back(std::move(m1));
}

}  // namespace circuit::ops
