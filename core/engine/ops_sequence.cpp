// Lowerings of the sequence family (core/circuit/ops_sequence.cpp): multi-head self-attention, GRUs
// and LSTMs. All act on [.., seq, features]: the sequence axis is moved next to the features and every
// other axis folded into one batch, the same way in all three forms.
#include <cmath>
#include <limits>

#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"

namespace engine::detail {

namespace {

using at::Tensor;
using base::Result;
using Strings = std::vector<std::string>;

// ---- attention

// Multi-head self-attention with the parameter layout of nn.MultiheadAttention (in_proj_weight
// [3d, d], in_proj_bias, out_proj), written out so the TorchScript export can mirror it exactly.
struct Attention : torch::nn::Module {
  int64_t d, heads, window;
  bool causal;
  double dropout;
  Tensor in_w, in_b;
  torch::nn::Linear out{nullptr};
  Attention(int64_t d_, int64_t h, bool c, int64_t w, bool bias, double p) : d(d_), heads(h), window(w), causal(c), dropout(p) {
    in_w = register_parameter("in_proj_weight", torch::empty({3 * d, d}));
    torch::nn::init::xavier_uniform_(in_w);
    if (bias) in_b = register_parameter("in_proj_bias", torch::zeros({3 * d}));
    out = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(d, d).bias(bias)));
    if (bias) torch::nn::init::zeros_(out->bias);
  }
  // x: [B, T, d]
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1), dh = d / heads;
    auto qkv = torch::linear(x, in_w, in_b).chunk(3, -1);
    auto split = [&](const Tensor& t) { return t.reshape({B, T, heads, dh}).transpose(1, 2); };
    Tensor q = split(qkv[0]), k = split(qkv[1]), v = split(qkv[2]);
    Tensor scores = torch::matmul(q, k.transpose(-2, -1)) / std::sqrt(double(dh));
    if (causal || window) {
      auto pos = torch::arange(T, x.options().dtype(torch::kLong));
      Tensor dist = pos.unsqueeze(1) - pos.unsqueeze(0);  // query - key
      Tensor blocked = causal && window ? (dist < 0).logical_or(dist.abs() >= window) : causal ? dist < 0 : dist.abs() >= window;
      scores = scores.masked_fill(blocked, -std::numeric_limits<float>::infinity());
    }
    Tensor w = torch::softmax(scores, -1);
    if (dropout > 0) w = torch::dropout(w, dropout, is_training());
    Tensor ctx = torch::matmul(w, v).transpose(1, 2).reshape({B, T, d});
    return out(ctx);
  }
};

Result<Fn> compile_attention(Compiler& c, const Site& s) {
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1;
  auto at = c.add(s, std::make_shared<Attention>(s.size(f), s.i("heads"), s.b("causal"), s.i("window"), s.b("bias"), s.f("dropout")));
  return unary([at, sa, f](const Tensor& x) {
    Tensor y = sa == f - 1 ? x : x.movedim(sa, f - 1);
    auto shape = y.sizes().vec();
    Tensor r = at->forward(y.reshape({-1, shape[size_t(f - 1)], shape[size_t(f)]})).reshape(shape);
    return sa == f - 1 ? r : r.movedim(f - 1, sa);
  });
}

Strings script_attention(Script& w, const Site& s, const Strings& in) {
  const std::string& x = in[0];
  std::string v = w.fresh(s.node.name);
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1, d = s.t().axes[size_t(f)].size.n, h = s.i("heads");
  std::string y = w.fresh("y"), shape = w.fresh("shape"), T = w.fresh("T"), q = w.fresh("q"), k = w.fresh("k"), val = w.fresh("v"),
              sc = w.fresh("scores"), qkv = w.fresh("qkv");
  w.line(y + " = " + ts_movedim(x, sa, f - 1));
  w.line(shape + " = " + y + ".shape");
  w.line(T + " = " + y + ".size(" + std::to_string(f - 1) + ")");
  w.line(y + " = " + y + ".reshape([-1, " + T + ", " + std::to_string(d) + "])");
  w.line(qkv + " = torch.linear(" + y + ", " + w.self("in_proj_weight") + ", " +
                (s.b("bias") ? w.self("in_proj_bias") : "None") + ").chunk(3, -1)");
  std::string bt = y + ".size(0), " + T + ", " + std::to_string(h) + ", " + std::to_string(d / h);
  w.line(q + " = " + qkv + "[0].reshape([" + bt + "]).transpose(1, 2)");
  w.line(k + " = " + qkv + "[1].reshape([" + bt + "]).transpose(1, 2)");
  w.line(val + " = " + qkv + "[2].reshape([" + bt + "]).transpose(1, 2)");
  w.line(sc + " = torch.matmul(" + q + ", " + k + ".transpose(-2, -1)) / " + ts_num(std::sqrt(double(d / h))));
  if (s.b("causal") || s.i("window")) {
    std::string pos = w.fresh("pos"), dist = w.fresh("dist"), blk = w.fresh("blocked");
    w.line(pos + " = torch.arange(" + T + ", device=" + sc + ".device)");
    w.line(dist + " = " + pos + ".unsqueeze(1) - " + pos + ".unsqueeze(0)");
    std::string causal = dist + " < 0", window = dist + ".abs() >= " + std::to_string(s.i("window"));
    w.line(blk + " = " + (s.b("causal") && s.i("window") ? "(" + causal + ").logical_or(" + window + ")" : s.b("causal") ? causal : window));
    w.line(sc + " = " + sc + ".masked_fill(" + blk + ", float('-inf'))");
  }
  w.line(sc + " = torch.softmax(" + sc + ", -1)");
  w.line(y + " = torch.matmul(" + sc + ", " + val + ").transpose(1, 2).reshape([" + y + ".size(0), " + T + ", " + std::to_string(d) + "])");
  w.line(y + " = torch.linear(" + y + ", " + w.self("out_proj__weight") + ", " +
                (s.b("bias") ? w.self("out_proj__bias") : "None") + ").reshape(" + shape + ")");
  w.line(v + " = " + ts_movedim(y, f - 1, sa));
  return {v};
}

// ---- gru and lstm: PyTorch's modules and their torch.gru / torch.lstm calls

template <bool Lstm>
Result<Fn> compile_rnn(Compiler& c, const Site& s) {
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1, h = s.i("hidden");
  auto run = [sa, f, h](auto rnn) {
    return unary([rnn, sa, f, h](const Tensor& x) {
      Tensor y = sa == f - 1 ? x : x.movedim(sa, f - 1);
      auto shape = y.sizes().vec();
      Tensor r = std::get<0>(rnn->forward(y.reshape({-1, shape[size_t(f - 1)], shape[size_t(f)]})));
      shape[size_t(f)] = h;
      r = r.reshape(shape);
      return sa == f - 1 ? r : r.movedim(f - 1, sa);
    });
  };
  if constexpr (Lstm)
    return run(c.add(s, torch::nn::LSTM(torch::nn::LSTMOptions(s.size(f), h).num_layers(s.i("layers")).bias(s.b("bias")).batch_first(true))));
  else
    return run(c.add(s, torch::nn::GRU(torch::nn::GRUOptions(s.size(f), h).num_layers(s.i("layers")).bias(s.b("bias")).batch_first(true))));
}

template <bool Lstm>
Strings script_rnn(Script& w, const Site& s, const Strings& in) {
  const std::string& x = in[0];
  std::string v = w.fresh(s.node.name);
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1, hdim = s.i("hidden"), layers = s.i("layers");
  bool bias = s.b("bias");
  std::string y = w.fresh("y"), shape = w.fresh("shape");
  w.line(y + " = " + ts_movedim(x, sa, f - 1));
  w.line(shape + " = " + y + ".shape");
  w.line(y + " = " + y + ".reshape([-1, " + y + ".size(" + std::to_string(f - 1) + "), " + std::to_string(s.t().axes[size_t(f)].size.n) + "])");
  std::string params;
  for (int64_t l = 0; l < layers; ++l) {
    std::string L = std::to_string(l);
    params += (l ? ", " : "") + w.self("weight_ih_l" + L) + ", " + w.self("weight_hh_l" + L);
    if (bias) params += ", " + w.self("bias_ih_l" + L) + ", " + w.self("bias_hh_l" + L);
  }
  std::string zeros = "torch.zeros([" + std::to_string(layers) + ", " + y + ".size(0), " + std::to_string(hdim) + "], dtype=" + y +
                      ".dtype, device=" + y + ".device)";
  std::string state = Lstm ? "[" + zeros + ", " + zeros + "]" : zeros;
  w.line(y + " = torch." + (Lstm ? "lstm(" : "gru(") + y + ", " + state + ", [" + params + "], " + (bias ? "True" : "False") + ", " +
         std::to_string(layers) + ", 0.0, False, False, True)[0]");
  w.line(y + " = " + y + ".reshape(" + shape + "[:-1] + [" + std::to_string(hdim) + "])");
  w.line(v + " = " + ts_movedim(y, f - 1, sa));
  return {v};
}

// ---- ONNX forms


// Attention::forward on [B, T, d] after the sequence axis is moved next to the features and every
// other axis folded into B (script_attention writes the same lines).
std::string attention_graph(Onnx& o, const Site& s, const std::string& in) {
  Folded fold(o, s, in);
  const std::string& y3 = fold.y3;
  int64_t d = s.size(fold.f), h = s.i("heads"), dh = d / h;
  bool causal = s.b("causal");
  int64_t window = s.i("window");
  auto qkv = onnx_qkv_heads(o, y3, o.weight("in_proj_weight"), s.b("bias") ? o.weight("in_proj_bias") : "", d, h);
  // Heads before time (keys also transposed for q k^T).
  std::string q = o.transpose(qkv[0], {0, 2, 1, 3}), kt = o.transpose(qkv[1], {0, 2, 3, 1}), v = o.transpose(qkv[2], {0, 2, 1, 3});
  std::string scores = o.op("Div", {o.op("MatMul", {q, kt}), o.scalar_f(std::sqrt(double(dh)))});
  if (causal || window) {
    // The mask is built for the run-time sequence length, so a symbolic `seq` stays symbolic.
    std::string T = o.op("Gather", {o.op("Shape", {y3}), o.scalar_i(1)}, {attr_i("axis", 0)});
    std::string pos = o.op("Range", {o.scalar_i(0), T, o.scalar_i(1)});
    std::string dist = o.op("Sub", {o.op("Unsqueeze", {pos, o.ints({1})}), o.op("Unsqueeze", {pos, o.ints({0})})});  // query - key
    std::string future = causal ? o.op("Less", {dist, o.scalar_i(0)}) : "";
    std::string far = window ? o.op("GreaterOrEqual", {o.op("Abs", {dist}), o.scalar_i(window)}) : "";
    std::string blocked = causal && window ? o.op("Or", {future, far}) : causal ? future : far;
    scores = o.op("Where", {blocked, o.scalar_f(-INFINITY), scores});
  }
  std::string ctx = o.transpose(o.op("MatMul", {o.op("Softmax", {scores}, {attr_i("axis", -1)}), v}), {0, 2, 1, 3});
  ctx = o.op("Reshape", {ctx, o.ints({0, 0, d})});
  return fold.unfold(o, o.linear(ctx, 3, o.weight("out_proj.weight"), s.b("bias") ? o.weight("out_proj.bias") : ""), d);
}

// PyTorch stacks GRU gates as (r, z, n) and ONNX as (z, r, h); LSTM gates as (i, f, g, o) and ONNX
// as (i, o, f, c). `order` lists PyTorch's gate blocks in ONNX's order.
at::Tensor onnx_gates(const at::Tensor& w, int64_t h, const std::vector<int64_t>& order) {
  std::vector<at::Tensor> blocks;
  for (int64_t g : order) blocks.push_back(w.narrow(0, g * h, h));
  return torch::cat(blocks);
}

// torch.gru / torch.lstm (batch first, zero initial state) on [B, T, features] after the sequence
// axis is moved next to the features and the other axes folded into B. ONNX's GRU and LSTM read
// [T, B, features] (their batch-first layout is not implemented by common runtimes) and have one
// layer per node.
template <bool Lstm>
std::string rnn_graph(Onnx& o, const Site& s, const std::string& in) {
  int64_t hid = s.i("hidden"), layers = s.i("layers");
  const std::vector<int64_t> order = Lstm ? std::vector<int64_t>{0, 3, 1, 2} : std::vector<int64_t>{1, 0, 2};
  Folded fold(o, s, in);
  std::string seq = o.transpose(fold.y3, {1, 0, 2});
  for (int64_t l = 0; l < layers; ++l) {
    std::string L = std::to_string(l);
    std::vector<at::Tensor> w{o.trained(o.key("weight_ih_l" + L)), o.trained(o.key("weight_hh_l" + L))};
    if (s.b("bias")) w.push_back(o.trained(o.key("bias_ih_l" + L))), w.push_back(o.trained(o.key("bias_hh_l" + L)));
    if (!o.error.empty()) return {};
    // Initializers [directions = 1, gates * hidden, ...]; the two biases are concatenated (Wb, Rb).
    std::vector<std::string> args{seq, o.derived(o.key("W_l" + L), onnx_gates(w[0], hid, order).unsqueeze(0)),
                                  o.derived(o.key("R_l" + L), onnx_gates(w[1], hid, order).unsqueeze(0))};
    if (s.b("bias")) args.push_back(o.derived(o.key("B_l" + L), torch::cat({onnx_gates(w[2], hid, order), onnx_gates(w[3], hid, order)}).unsqueeze(0)));
    std::string out;
    if (Lstm) {
      out = o.op("LSTM", args, {attr_i("hidden_size", hid)});
    } else {
      // linear_before_reset: PyTorch applies the reset gate after the recurrent product and its bias.
      out = o.op("GRU", args, {attr_i("hidden_size", hid), attr_i("linear_before_reset", 1)});
    }
    seq = o.op("Squeeze", {out, o.ints({1})});  // [T, directions = 1, B, hidden] -> [T, B, hidden]
  }
  return fold.unfold(o, o.transpose(seq, {1, 0, 2}), hid);
}

Strings onnx_attention(Onnx& o, const Site& s, const Strings& in) { return o.result(s, attention_graph(o, s, in[0])); }
template <bool Lstm>
Strings onnx_rnn(Onnx& o, const Site& s, const Strings& in) {
  return o.result(s, rnn_graph<Lstm>(o, s, in[0]));
}

}  // namespace

void add_sequence_lowerings(std::vector<Lowering>& t) {
  t.push_back(CIRCUIT_LOWERING(attention));
  t.push_back({.op = "gru", .compile = compile_rnn<false>, .torchscript = script_rnn<false>, .onnx = onnx_rnn<false>});
  t.push_back({.op = "lstm", .compile = compile_rnn<true>, .torchscript = script_rnn<true>, .onnx = onnx_rnn<true>});
}

}  // namespace engine::detail
