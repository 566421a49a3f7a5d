// Lowerings of the linear-recurrent mixers (core/circuit/ops_mixers.cpp): conv1d, pool1d, linear
// attention, Gated DeltaNet, Mamba-2 and Mamba-1. Each mixer's forward is one function over [B, T, d]
// (every other axis folded into B, the sequence axis next to the features) and one TorchScript
// method written line for line the same; a node's script calls that method with its tensors.
//
// ONNX: the mixers' chunked recurrence carries a state from chunk to chunk, which ONNX can only
// write as a Loop or Scan whose body is a subgraph; this exporter writes flat graphs, so it refuses
// them with that reason (TorchScript exports them). Non-causal linear attention has no recurrence
// and exports.
#include <cmath>

#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"
#include "engine/detail/recurrence.h"
#include "engine/detail/sequence.h"

namespace engine::detail {

namespace {

using at::Tensor;
using base::Result;
using Strings = std::vector<std::string>;

// ---- shared pieces

// Depthwise filters [channels, 1, K] with the bound torch.nn.Conv1d uses (fan-in K).
Tensor depthwise_init(int64_t channels, int64_t K) { return torch::empty({channels, 1, K}).uniform_(-1 / std::sqrt(double(K)), 1 / std::sqrt(double(K))); }
// Mamba's decay initialisation: A in [1, 16], and dt in [1e-3, 1e-1] log-uniformly, stored as
// softplus^-1(dt) so that softplus(x + dt_bias) starts at dt.
Tensor a_log_init(int64_t H) { return torch::empty({H}).uniform_(1, 16).log(); }
Tensor dt_bias_init(int64_t H) {
  Tensor dt = torch::empty({H}).uniform_(std::log(1e-3), std::log(1e-1)).exp().clamp_min(1e-4);
  return dt + torch::log(-torch::expm1(-dt));
}

const char* const kTimeConvScript = R"(
def time_conv(self, x: Tensor, weight: Tensor, bias: Optional[Tensor], groups: int, before: int, after: int) -> Tensor:
    y = torch.constant_pad_nd(x.transpose(1, 2), [before, after])
    return torch.conv1d(y, weight, bias, [1], [0], [1], groups).transpose(1, 2)
)";

// ---- conv1d

struct Conv1d : torch::nn::Module {
  Tensor weight, bias;
  int64_t groups;
  bool causal;
  Conv1d(int64_t in, int64_t out, int64_t K, bool depthwise, bool causal_, bool has_bias) : groups(depthwise ? in : 1), causal(causal_) {
    double bound = 1 / std::sqrt(double(in / groups * K));
    weight = register_parameter("weight", torch::empty({out, in / groups, K}).uniform_(-bound, bound));
    if (has_bias) bias = register_parameter("bias", torch::empty({out}).uniform_(-bound, bound));
  }
  Tensor forward(const Tensor& x) { return time_conv(x, weight, bias, groups, causal); }
};

int64_t conv1d_out(const Site& s) { return s.i("out") ? s.i("out") : s.size(s.rank() - 1); }

Result<Fn> compile_conv1d(Compiler& c, const Site& s) {
  return compile_mixer<Conv1d>(c, s, conv1d_out(s), s.i("kernel"), s.b("depthwise"), s.b("causal"), s.b("bias"));
}
Strings script_conv1d(Script& w, const Site& s, const Strings& in) {
  w.method(kTimeConvScript);
  auto [before, after] = time_conv_padding(s.i("kernel"), s.b("causal"));
  int64_t groups = s.b("depthwise") ? s.size(s.rank() - 1) : 1;
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "self.time_conv(" + y + ", " + w.self("weight") + ", " + (s.b("bias") ? w.self("bias") : "None") + ", " + std::to_string(groups) +
           ", " + std::to_string(before) + ", " + std::to_string(after) + ")";
  })};
}
// ONNX: [.., seq, features] folded to [B, features, T], `op` (Conv or AveragePool, whose pads may
// differ before and after), and unfolded to `out` features.
std::string onnx_over_time(Onnx& o, const Site& s, const std::string& x, int64_t out,
                           const std::function<std::string(const std::string&)>& op) {
  Folded fold(o, s, x);
  return fold.unfold(o, o.transpose(op(o.transpose(fold.y3, {0, 2, 1})), {0, 2, 1}), out);
}

Strings onnx_conv1d(Onnx& o, const Site& s, const Strings& in) {
  int64_t K = s.i("kernel"), d = s.size(s.rank() - 1);
  auto [before, after] = time_conv_padding(K, s.b("causal"));
  return o.result(s, onnx_over_time(o, s, in[0], conv1d_out(s), [&](const std::string& t) {
    std::vector<std::string> args{t, o.weight("weight")};
    if (s.b("bias")) args.push_back(o.weight("bias"));
    return o.op("Conv", args, {attr_ints("kernel_shape", {K}), attr_ints("pads", {before, after}), attr_i("group", s.b("depthwise") ? d : 1)});
  }));
}

Strings onnx_pool1d(Onnx& o, const Site& s, const Strings& in) {
  int64_t K = s.i("kernel");
  auto [before, after] = time_conv_padding(K, s.b("causal"));
  return o.result(s, onnx_over_time(o, s, in[0], s.size(s.rank() - 1), [&](const std::string& t) {
    return o.op("AveragePool", {t}, {attr_ints("kernel_shape", {K}), attr_ints("pads", {before, after}), attr_i("count_include_pad", 1)});
  }));
}

// ---- pool1d: the same fold and padding as conv1d, then an average (zeros counted, as PyTorch's
// avg_pool1d with count_include_pad and ONNX's AveragePool with count_include_pad=1 do)

Result<Fn> compile_pool1d(Compiler&, const Site& s) {
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1, K = s.i("kernel");
  auto [before, after] = time_conv_padding(K, s.b("causal"));
  return unary([=](const Tensor& x) {
    return on_sequences(x, sa, f, [&](const Tensor& y) {
      return torch::avg_pool1d(torch::constant_pad_nd(y.transpose(1, 2), {before, after}), {K}, {1}).transpose(1, 2);
    });
  });
}
Strings script_pool1d(Script& w, const Site& s, const Strings& in) {
  auto [before, after] = time_conv_padding(s.i("kernel"), s.b("causal"));
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "torch.avg_pool1d(torch.constant_pad_nd(" + y + ".transpose(1, 2), [" + std::to_string(before) + ", " + std::to_string(after) +
           "]), [" + std::to_string(s.i("kernel")) + "], [1]).transpose(1, 2)";
  })};
}

constexpr std::string_view kNoOnnxRecurrence =
    "its chunked recurrence passes a state from chunk to chunk, which ONNX can only express as a Loop or Scan with a subgraph body, "
    "and this exporter writes flat graphs; export TorchScript (.pt) instead";

// ---- linear attention

struct LinearAttention : torch::nn::Module {
  int64_t H, chunk;
  bool elu, causal, normalize;
  Tensor w_qkv, b_qkv, w_o, b_o;
  LinearAttention(int64_t d, int64_t heads, bool elu_, bool causal_, bool normalize_, bool bias, int64_t chunk_)
      : H(heads), chunk(chunk_), elu(elu_), causal(causal_), normalize(normalize_) {
    w_qkv = register_parameter("w_qkv", linear_init(3 * d, d));
    w_o = register_parameter("w_o", linear_init(d, d));
    if (bias) b_qkv = register_parameter("b_qkv", torch::zeros({3 * d})), b_o = register_parameter("b_o", torch::zeros({d}));
  }
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1), d = x.size(2), dh = d / H;
    auto qkv = torch::linear(x, w_qkv, b_qkv).reshape({B, T, 3, H, dh}).transpose(1, 3).unbind(2);  // [B, H, T, dh] each
    auto phi = [&](const Tensor& t) { return elu ? torch::elu(t) + 1 : torch::relu(t); };
    Tensor q = phi(qkv[0]), k = phi(qkv[1]), v = qkv[2];
    if (!normalize) q = q * (1 / std::sqrt(double(dh)));
    // Normalising carries a column of ones through the same product: its output is phi(q) . sum phi(k).
    if (normalize) v = torch::cat({v, torch::ones_like(v.narrow(-1, 0, 1))}, -1);
    Tensor o = causal ? recurrence_chunked({q, k, v, torch::zeros_like(q.select(-1, 0)), torch::ones_like(q.select(-1, 0)), false}, chunk)
                      : torch::matmul(q, torch::matmul(k.transpose(-1, -2), v));
    if (normalize) o = o.narrow(-1, 0, dh) / (o.narrow(-1, dh, 1) + 1e-6);
    return torch::linear(o.transpose(1, 2).reshape({B, T, d}), w_o, b_o);
  }
};

const char* const kLinearAttentionScript = R"(
def linear_attention(self, x: Tensor, w_qkv: Tensor, b_qkv: Optional[Tensor], w_o: Tensor, b_o: Optional[Tensor], H: int, elu: bool, causal: bool, normalize: bool, chunk: int) -> Tensor:
    B = x.size(0)
    T = x.size(1)
    d = x.size(2)
    dh = d // H
    qkv = torch.linear(x, w_qkv, b_qkv).reshape([B, T, 3, H, dh]).transpose(1, 3).unbind(2)
    q = qkv[0]
    k = qkv[1]
    v = qkv[2]
    if elu:
        q = torch.elu(q) + 1
        k = torch.elu(k) + 1
    else:
        q = torch.relu(q)
        k = torch.relu(k)
    if not normalize:
        q = q * (1.0 / float(dh) ** 0.5)
    if normalize:
        v = torch.cat([v, torch.ones_like(v.narrow(-1, 0, 1))], -1)
    if causal:
        o = self.recurrence_chunked(q, k, v, torch.zeros_like(q.select(-1, 0)), torch.ones_like(q.select(-1, 0)), False, chunk)
    else:
        o = torch.matmul(q, torch.matmul(k.transpose(-1, -2), v))
    if normalize:
        o = o.narrow(-1, 0, dh) / (o.narrow(-1, dh, 1) + 1e-6)
    return torch.linear(o.transpose(1, 2).reshape([B, T, d]), w_o, b_o)
)";

Result<Fn> compile_linear_attention(Compiler& c, const Site& s) {
  return compile_mixer<LinearAttention>(c, s, s.i("heads"), s.s("feature_map") == "elu+1", s.b("causal"), s.b("normalize"), s.b("bias"),
                                        s.i("chunk"));
}
Strings script_linear_attention(Script& w, const Site& s, const Strings& in) {
  w.method(kRecurrenceScript);
  w.method(kLinearAttentionScript);
  bool bias = s.b("bias");
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "self.linear_attention(" + y + ", " + w.self("w_qkv") + ", " + (bias ? w.self("b_qkv") : "None") + ", " + w.self("w_o") + ", " +
           (bias ? w.self("b_o") : "None") + ", " + std::to_string(s.i("heads")) + ", " + ts_bool(s.s("feature_map") == "elu+1") + ", " +
           ts_bool(s.b("causal")) + ", " + ts_bool(s.b("normalize")) + ", " + std::to_string(s.i("chunk")) + ")";
  })};
}

// Without the causal mask linear attention has no recurrence: phi(q) (phi(k)^T v), two products
// ONNX writes flat. The normaliser phi(q) . sum_t phi(k) is the column of ones the engine carries.
Strings onnx_linear_attention(Onnx& o, const Site& s, const Strings& in) {
  if (s.b("causal")) return o.refuse(s, std::string(kNoOnnxRecurrence) + " (a non-causal linear_attention exports)");
  Folded fold(o, s, in[0]);
  int64_t d = s.size(fold.f), H = s.i("heads"), dh = d / H;
  bool bias = s.b("bias"), normalize = s.b("normalize");
  auto qkv = onnx_qkv_heads(o, fold.y3, o.weight("w_qkv"), bias ? o.weight("b_qkv") : "", H, H, dh);
  auto heads = [&](const std::string& t) { return o.transpose(t, {0, 2, 1, 3}); };  // [B, H, T, dh]
  auto phi = [&](const std::string& t) { return s.s("feature_map") == "elu+1" ? o.op("Add", {o.op("Elu", {t}), o.scalar_f(1)}) : o.op("Relu", {t}); };
  std::string q = phi(heads(qkv[0])), k = phi(heads(qkv[1])), v = heads(qkv[2]);
  if (!normalize) q = o.op("Mul", {q, o.scalar_f(1 / std::sqrt(double(dh)))});
  std::string y = o.op("MatMul", {q, o.op("MatMul", {o.transpose(k, {0, 1, 3, 2}), v})});
  if (normalize) {
    std::string ksum = o.op("ReduceSum", {k, o.ints({2})}, {attr_i("keepdims", 1)});                        // [B, H, 1, dh]
    std::string den = o.op("ReduceSum", {o.op("Mul", {q, ksum}), o.ints({3})}, {attr_i("keepdims", 1)});  // [B, H, T, 1]
    y = o.op("Div", {y, o.op("Add", {den, o.scalar_f(1e-6)})});
  }
  y = o.op("Reshape", {o.transpose(y, {0, 2, 1, 3}), o.ints({0, 0, d})});
  return o.result(s, fold.unfold(o, o.linear(y, 3, o.weight("w_o"), bias ? o.weight("b_o") : ""), d));
}

// ---- gated delta

// Hk query/key heads serve H value heads (Hk divides H; Hk = H without grouping): q and k are
// projected Hk heads wide and repeated to H, each k head to the H / Hk value heads after it.
struct GatedDelta : torch::nn::Module {
  int64_t H, dh, Hk, K, chunk;
  Tensor w_qkv, conv, w_beta, w_a, A_log, dt_bias, w_gate, norm, w_o;
  GatedDelta(int64_t d, int64_t heads, int64_t head_dim, int64_t key_heads, int64_t kernel, bool gate, int64_t chunk_)
      : H(heads), dh(head_dim ? head_dim : d / heads), Hk(key_heads ? key_heads : heads), K(kernel), chunk(chunk_) {
    int64_t inner = H * dh, proj = 2 * Hk * dh + inner;
    w_qkv = register_parameter("w_qkv", linear_init(proj, d));
    if (K) conv = register_parameter("conv", depthwise_init(proj, K));
    w_beta = register_parameter("w_beta", linear_init(H, d));
    w_a = register_parameter("w_a", linear_init(H, d));
    A_log = register_parameter("A_log", a_log_init(H));
    dt_bias = register_parameter("dt_bias", dt_bias_init(H));
    if (gate) w_gate = register_parameter("w_gate", linear_init(inner, d));
    norm = register_parameter("norm", torch::ones({dh}));
    w_o = register_parameter("w_o", linear_init(d, inner));
  }
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1), inner = H * dh, kw = Hk * dh;
    Tensor qkv = torch::linear(x, w_qkv);
    if (conv.defined()) qkv = time_conv(qkv, conv, {}, 2 * kw + inner, true);
    qkv = torch::silu(qkv);
    auto heads = [&](int64_t from, int64_t n) { return qkv.narrow(-1, from, n * dh).reshape({B, T, n, dh}).transpose(1, 2); };  // [B, n, T, dh]
    Tensor q = heads(0, Hk), k = heads(kw, Hk), v = heads(2 * kw, H);
    if (Hk != H) q = q.repeat_interleave(H / Hk, 1), k = k.repeat_interleave(H / Hk, 1);
    q = l2norm(q) * (1 / std::sqrt(double(dh))), k = l2norm(k);
    Tensor beta = torch::sigmoid(torch::linear(x, w_beta)).transpose(1, 2);                               // [B, H, T]
    Tensor g = (-A_log.exp() * torch::softplus(torch::linear(x, w_a) + dt_bias)).transpose(1, 2);          // log decay
    Tensor o = rms(recurrence_chunked({q, k, v, g, beta, true}, chunk).transpose(1, 2), norm, 1e-6);  // [B, T, H, dh]
    if (w_gate.defined()) o = o * torch::silu(torch::linear(x, w_gate).reshape({B, T, H, dh}));
    return torch::linear(o.reshape({B, T, inner}), w_o);
  }
};

const char* const kGatedDeltaScript = R"(
def gated_delta(self, x: Tensor, w_qkv: Tensor, conv: Optional[Tensor], w_beta: Tensor, w_a: Tensor, A_log: Tensor, dt_bias: Tensor, w_gate: Optional[Tensor], norm: Tensor, w_o: Tensor, H: int, dh: int, Hk: int, chunk: int) -> Tensor:
    B = x.size(0)
    T = x.size(1)
    inner = H * dh
    kw = Hk * dh
    qkv = torch.linear(x, w_qkv)
    if conv is not None:
        qkv = self.time_conv(qkv, conv, None, 2 * kw + inner, conv.size(2) - 1, 0)
    qkv = torch.silu(qkv)
    q = qkv.narrow(-1, 0, kw).reshape([B, T, Hk, dh]).transpose(1, 2)
    k = qkv.narrow(-1, kw, kw).reshape([B, T, Hk, dh]).transpose(1, 2)
    v = qkv.narrow(-1, 2 * kw, inner).reshape([B, T, H, dh]).transpose(1, 2)
    if Hk != H:
        q = q.repeat_interleave(H // Hk, 1)
        k = k.repeat_interleave(H // Hk, 1)
    q = self.l2norm(q) * (1.0 / float(dh) ** 0.5)
    k = self.l2norm(k)
    beta = torch.sigmoid(torch.linear(x, w_beta)).transpose(1, 2)
    g = (-A_log.exp() * torch.softplus(torch.linear(x, w_a) + dt_bias)).transpose(1, 2)
    o = self.rms(self.recurrence_chunked(q, k, v, g, beta, True, chunk).transpose(1, 2), norm, 1e-6)
    if w_gate is not None:
        o = o * torch.silu(torch.linear(x, w_gate).reshape([B, T, H, dh]))
    return torch.linear(o.reshape([B, T, inner]), w_o)
)";

Result<Fn> compile_gated_delta(Compiler& c, const Site& s) {
  return compile_mixer<GatedDelta>(c, s, s.i("heads"), s.i("head_dim"), s.i("key_heads"), s.i("conv"), s.b("gate"), s.i("chunk"));
}
Strings script_gated_delta(Script& w, const Site& s, const Strings& in) {
  for (const char* m : {kRecurrenceScript, kNormScript, kTimeConvScript, kGatedDeltaScript}) w.method(m);
  int64_t H = s.i("heads"), dh = s.i("head_dim") ? s.i("head_dim") : s.size(s.rank() - 1) / H, Hk = s.i("key_heads") ? s.i("key_heads") : H;
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "self.gated_delta(" + y + ", " + w.self("w_qkv") + ", " + (s.i("conv") ? w.self("conv") : "None") + ", " + w.self("w_beta") + ", " +
           w.self("w_a") + ", " + w.self("A_log") + ", " + w.self("dt_bias") + ", " + (s.b("gate") ? w.self("w_gate") : "None") + ", " +
           w.self("norm") + ", " + w.self("w_o") + ", " + std::to_string(H) + ", " + std::to_string(dh) + ", " + std::to_string(Hk) + ", " +
           std::to_string(s.i("chunk")) + ")";
  })};
}

// ---- mamba2

struct Mamba2 : torch::nn::Module {
  int64_t inner, H, P, N, chunk;
  Tensor w_in, conv, conv_b, dt_bias, A_log, D, norm, w_out;
  Mamba2(int64_t d, int64_t heads, int64_t state, int64_t expand, int64_t K, int64_t chunk_)
      : inner(expand * d), H(heads), P(expand * d / heads), N(state), chunk(chunk_) {
    w_in = register_parameter("w_in", linear_init(2 * inner + 2 * N + H, d));
    if (K) {
      conv = register_parameter("conv", depthwise_init(inner + 2 * N, K));
      conv_b = register_parameter("conv_b", torch::empty({inner + 2 * N}).uniform_(-1 / std::sqrt(double(K)), 1 / std::sqrt(double(K))));
    }
    dt_bias = register_parameter("dt_bias", dt_bias_init(H));
    A_log = register_parameter("A_log", a_log_init(H));
    D = register_parameter("D", torch::ones({H}));
    norm = register_parameter("norm", torch::ones({inner}));
    w_out = register_parameter("w_out", linear_init(d, inner));
  }
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1);
    Tensor zxbcdt = torch::linear(x, w_in);
    Tensor z = zxbcdt.narrow(-1, 0, inner), xbc = zxbcdt.narrow(-1, inner, inner + 2 * N), dt = zxbcdt.narrow(-1, 2 * inner + 2 * N, H);
    if (conv.defined()) xbc = time_conv(xbc, conv, conv_b, inner + 2 * N, true);
    xbc = torch::silu(xbc);
    Tensor xs = xbc.narrow(-1, 0, inner).reshape({B, T, H, P});
    Tensor Bm = xbc.narrow(-1, inner, N).unsqueeze(1), Cm = xbc.narrow(-1, inner + N, N).unsqueeze(1);  // [B, 1, T, N]: shared by the heads
    dt = torch::softplus(dt + dt_bias);                               // [B, T, H]
    Tensor g = (dt * -A_log.exp()).transpose(1, 2);                   // [B, H, T]
    Tensor v = (xs * dt.unsqueeze(-1)).transpose(1, 2);               // [B, H, T, P]
    Tensor y = recurrence_chunked({Cm, Bm, v, g, torch::ones_like(g), false}, chunk).transpose(1, 2) + xs * D.unsqueeze(-1);
    y = y.reshape({B, T, inner}) * torch::silu(z);
    return torch::linear(rms(y, norm, 1e-5), w_out);
  }
};

const char* const kMamba2Script = R"(
def mamba2(self, x: Tensor, w_in: Tensor, conv: Optional[Tensor], conv_b: Optional[Tensor], dt_bias: Tensor, A_log: Tensor, D: Tensor, norm: Tensor, w_out: Tensor, inner: int, H: int, N: int, chunk: int) -> Tensor:
    B = x.size(0)
    T = x.size(1)
    P = inner // H
    zxbcdt = torch.linear(x, w_in)
    z = zxbcdt.narrow(-1, 0, inner)
    xbc = zxbcdt.narrow(-1, inner, inner + 2 * N)
    dt = zxbcdt.narrow(-1, 2 * inner + 2 * N, H)
    if conv is not None:
        xbc = self.time_conv(xbc, conv, conv_b, inner + 2 * N, conv.size(2) - 1, 0)
    xbc = torch.silu(xbc)
    xs = xbc.narrow(-1, 0, inner).reshape([B, T, H, P])
    Bm = xbc.narrow(-1, inner, N).unsqueeze(1)
    Cm = xbc.narrow(-1, inner + N, N).unsqueeze(1)
    dt = torch.softplus(dt + dt_bias)
    g = (dt * -A_log.exp()).transpose(1, 2)
    v = (xs * dt.unsqueeze(-1)).transpose(1, 2)
    y = self.recurrence_chunked(Cm, Bm, v, g, torch.ones_like(g), False, chunk).transpose(1, 2) + xs * D.unsqueeze(-1)
    y = y.reshape([B, T, inner]) * torch.silu(z)
    return torch.linear(self.rms(y, norm, 1e-5), w_out)
)";

Result<Fn> compile_mamba2(Compiler& c, const Site& s) {
  return compile_mixer<Mamba2>(c, s, s.i("heads"), s.i("state"), s.i("expand"), s.i("conv"), s.i("chunk"));
}
Strings script_mamba2(Script& w, const Site& s, const Strings& in) {
  for (const char* m : {kRecurrenceScript, kNormScript, kTimeConvScript, kMamba2Script}) w.method(m);
  bool conv = s.i("conv") > 0;
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "self.mamba2(" + y + ", " + w.self("w_in") + ", " + (conv ? w.self("conv") : "None") + ", " + (conv ? w.self("conv_b") : "None") +
           ", " + w.self("dt_bias") + ", " + w.self("A_log") + ", " + w.self("D") + ", " + w.self("norm") + ", " + w.self("w_out") + ", " +
           std::to_string(s.i("expand") * s.size(s.rank() - 1)) + ", " + std::to_string(s.i("heads")) + ", " + std::to_string(s.i("state")) +
           ", " + std::to_string(s.i("chunk")) + ")";
  })};
}

// ---- mamba (Mamba-1)

// The selective scan is the recurrence with one head per channel: q = C and k = B shared by every
// channel ([B, 1, T, N]), v = Δ x (a value of size 1), and a decay per state, g = Δ A
// ([B, inner, T, N]): the per-key-dimension (GLA) form of recurrence_chunked. Parameters are
// initialised as Mamba's reference does: A = -[1 .. N] per channel (S4D-real), Δ's projection
// uniform in ±R^-1/2 with its bias at softplus^-1 of a log-uniform dt in [1e-3, 1e-1].
struct Mamba : torch::nn::Module {
  int64_t inner, N, R, chunk, norm;  // norm: 0 none, 1 learned scale (Jamba), 2 unscaled (Falcon-Mamba)
  Tensor w_in, b_in, conv, conv_b, w_x, w_dt, dt_bias, A_log, D, w_out, b_out, dt_norm, b_norm, c_norm;
  Mamba(int64_t d, int64_t state, int64_t expand, int64_t rank, int64_t K, bool conv_bias, bool bias, int64_t norm_, int64_t chunk_)
      : inner(expand * d), N(state), R(rank), chunk(chunk_), norm(norm_) {
    w_in = register_parameter("w_in", linear_init(2 * inner, d));
    if (bias) b_in = register_parameter("b_in", torch::zeros({2 * inner}));
    if (K) conv = register_parameter("conv", depthwise_init(inner, K));
    if (K && conv_bias) conv_b = register_parameter("conv_b", torch::empty({inner}).uniform_(-1 / std::sqrt(double(K)), 1 / std::sqrt(double(K))));
    w_x = register_parameter("w_x", linear_init(R + 2 * N, inner));
    w_dt = register_parameter("w_dt", torch::empty({inner, R}).uniform_(-1 / std::sqrt(double(R)), 1 / std::sqrt(double(R))));
    dt_bias = register_parameter("dt_bias", dt_bias_init(inner));
    A_log = register_parameter("A_log", torch::arange(1, N + 1, torch::kFloat).log().repeat({inner, 1}));
    D = register_parameter("D", torch::ones({inner}));
    w_out = register_parameter("w_out", linear_init(d, inner));
    if (bias) b_out = register_parameter("b_out", torch::zeros({d}));
    if (norm == 1) {
      dt_norm = register_parameter("dt_norm", torch::ones({R}));
      b_norm = register_parameter("b_norm", torch::ones({N}));
      c_norm = register_parameter("c_norm", torch::ones({N}));
    }
  }
  Tensor normed(const Tensor& x, const Tensor& w) const {
    if (!norm) return x;
    Tensor y = x * torch::rsqrt(x.pow(2).mean(-1, true) + 1e-6);
    return w.defined() ? y * w : y;
  }
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1);
    Tensor xz = torch::linear(x, w_in, b_in);
    Tensor xs = xz.narrow(-1, 0, inner), z = xz.narrow(-1, inner, inner);
    if (conv.defined()) xs = time_conv(xs, conv, conv_b, inner, true);
    xs = torch::silu(xs);
    Tensor dbc = torch::linear(xs, w_x);
    Tensor dt = normed(dbc.narrow(-1, 0, R), dt_norm), Bm = normed(dbc.narrow(-1, R, N), b_norm), Cm = normed(dbc.narrow(-1, R + N, N), c_norm);
    dt = torch::softplus(torch::linear(dt, w_dt, dt_bias));          // [B, T, inner]
    Tensor g = dt.transpose(1, 2).unsqueeze(-1) * -A_log.exp().unsqueeze(1);  // [B, inner, T, N]
    Tensor v = (xs * dt).transpose(1, 2).unsqueeze(-1);                // [B, inner, T, 1]
    Tensor y = recurrence_chunked({Cm.unsqueeze(1), Bm.unsqueeze(1), v, g, torch::ones({B, inner, T}, x.options()), false}, chunk);
    y = (y.squeeze(-1).transpose(1, 2) + xs * D) * torch::silu(z);
    return torch::linear(y, w_out, b_out);
  }
};

const char* const kMambaScript = R"(
def mamba_norm(self, x: Tensor, w: Optional[Tensor], norm: int) -> Tensor:
    if norm == 0:
        return x
    y = x * torch.rsqrt(x.pow(2).mean(-1, True) + 1e-6)
    if w is not None:
        y = y * w
    return y

def mamba(self, x: Tensor, w_in: Tensor, b_in: Optional[Tensor], conv: Optional[Tensor], conv_b: Optional[Tensor], w_x: Tensor, w_dt: Tensor, dt_bias: Tensor, A_log: Tensor, D: Tensor, w_out: Tensor, b_out: Optional[Tensor], dt_norm: Optional[Tensor], b_norm: Optional[Tensor], c_norm: Optional[Tensor], inner: int, N: int, R: int, norm: int, chunk: int) -> Tensor:
    B = x.size(0)
    T = x.size(1)
    xz = torch.linear(x, w_in, b_in)
    xs = xz.narrow(-1, 0, inner)
    z = xz.narrow(-1, inner, inner)
    if conv is not None:
        xs = self.time_conv(xs, conv, conv_b, inner, conv.size(2) - 1, 0)
    xs = torch.silu(xs)
    dbc = torch.linear(xs, w_x)
    dt = self.mamba_norm(dbc.narrow(-1, 0, R), dt_norm, norm)
    Bm = self.mamba_norm(dbc.narrow(-1, R, N), b_norm, norm)
    Cm = self.mamba_norm(dbc.narrow(-1, R + N, N), c_norm, norm)
    dt = torch.softplus(torch.linear(dt, w_dt, dt_bias))
    g = dt.transpose(1, 2).unsqueeze(-1) * -A_log.exp().unsqueeze(1)
    v = (xs * dt).transpose(1, 2).unsqueeze(-1)
    y = self.recurrence_chunked(Cm.unsqueeze(1), Bm.unsqueeze(1), v, g, torch.ones([B, inner, T], dtype=x.dtype, device=x.device), False, chunk)
    y = (y.squeeze(-1).transpose(1, 2) + xs * D) * torch.silu(z)
    return torch.linear(y, w_out, b_out)
)";

int64_t mamba_rank(const Site& s) { return s.i("dt_rank") ? s.i("dt_rank") : (s.size(s.rank() - 1) + 15) / 16; }
int64_t mamba_norm(const Site& s) { return s.s("dbc_norm") == "none" ? 0 : s.s("dbc_norm") == "rms" ? 1 : 2; }

Result<Fn> compile_mamba(Compiler& c, const Site& s) {
  return compile_mixer<Mamba>(c, s, s.i("state"), s.i("expand"), mamba_rank(s), s.i("conv"), s.b("conv_bias"), s.b("bias"), mamba_norm(s),
                              s.i("chunk"));
}
Strings script_mamba(Script& w, const Site& s, const Strings& in) {
  for (const char* m : {kRecurrenceScript, kTimeConvScript, kMambaScript}) w.method(m);
  bool conv = s.i("conv") > 0, bias = s.b("bias"), learned = mamba_norm(s) == 1;
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "self.mamba(" + y + ", " + w.self("w_in") + ", " + ts_optional(w, bias, "b_in") + ", " + ts_optional(w, conv, "conv") + ", " +
           ts_optional(w, conv && s.b("conv_bias"), "conv_b") + ", " + w.self("w_x") + ", " + w.self("w_dt") + ", " + w.self("dt_bias") + ", " +
           w.self("A_log") + ", " + w.self("D") + ", " + w.self("w_out") + ", " + ts_optional(w, bias, "b_out") + ", " +
           ts_optional(w, learned, "dt_norm") + ", " + ts_optional(w, learned, "b_norm") + ", " + ts_optional(w, learned, "c_norm") + ", " +
           std::to_string(s.i("expand") * s.size(s.rank() - 1)) + ", " + std::to_string(s.i("state")) + ", " + std::to_string(mamba_rank(s)) +
           ", " + std::to_string(mamba_norm(s)) + ", " + std::to_string(s.i("chunk")) + ")";
  })};
}

}  // namespace

void add_mixer_lowerings(std::vector<Lowering>& t) {
  t.push_back({.op = "conv1d", .compile = compile_conv1d, .torchscript = script_conv1d, .onnx = onnx_conv1d});
  t.push_back({.op = "pool1d", .compile = compile_pool1d, .torchscript = script_pool1d, .onnx = onnx_pool1d});
  t.push_back({.op = "linear_attention", .compile = compile_linear_attention, .torchscript = script_linear_attention, .onnx = onnx_linear_attention});
  t.push_back({.op = "gated_delta", .compile = compile_gated_delta, .torchscript = script_gated_delta, .onnx_refusal = kNoOnnxRecurrence});
  t.push_back({.op = "mamba2", .compile = compile_mamba2, .torchscript = script_mamba2, .onnx_refusal = kNoOnnxRecurrence});
  t.push_back({.op = "mamba", .compile = compile_mamba, .torchscript = script_mamba, .onnx_refusal = kNoOnnxRecurrence});
}

}  // namespace engine::detail
