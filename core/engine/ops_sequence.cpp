// Lowerings of the sequence family (core/circuit/ops_sequence.cpp): multi-head self-attention, GRUs
// and LSTMs. All act on [.., seq, features]: the sequence axis is moved next to the features and every
// other axis folded into one batch, the same way in all three forms.
#include <cmath>
#include <limits>

#include "circuit/attention.h"
#include "engine/detail/lowering.h"
#include "engine/detail/onnx_writer.h"
#include "engine/detail/sequence.h"
#include "engine/detail/torch_compat.h"

namespace engine::detail {

namespace {

using at::Tensor;
using base::Result;
using Strings = std::vector<std::string>;

// ---- attention

// Rotary position embedding of x [B, h, T, dh] (positions 0..T-1) on its first r dimensions, as
// Hugging Face computes it: inverse frequencies 1 / theta^(2i/r) in float32; the rotated pairs are
// the two halves (x_i, x_{i+r/2}) or neighbours (x_2i, x_2i+1).
Tensor rope(const Tensor& x, int64_t r, double theta, bool interleaved) {
  int64_t T = x.size(2);
  auto f32 = x.options().dtype(torch::kFloat);
  Tensor inv = 1.0 / torch::pow(theta, torch::arange(0, r, 2, f32) / double(r));
  Tensor ang = torch::arange(T, f32).unsqueeze(1) * inv.unsqueeze(0);  // [T, r/2]
  Tensor cos = ang.cos(), sin = ang.sin(), xr = x.narrow(-1, 0, r), rot;
  if (interleaved) {
    Tensor p = xr.reshape({x.size(0), x.size(1), T, r / 2, 2});
    Tensor x1 = p.select(-1, 0), x2 = p.select(-1, 1);
    rot = torch::stack({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1).flatten(-2);
  } else {
    Tensor x1 = xr.narrow(-1, 0, r / 2), x2 = xr.narrow(-1, r / 2, r / 2);
    rot = torch::cat({x1 * cos - x2 * sin, x2 * cos + x1 * sin}, -1);
  }
  return r == x.size(-1) ? rot : torch::cat({rot, x.narrow(-1, r, x.size(-1) - r)}, -1);
}

// Where a query may not see a key: [T, T], true above the diagonal when causal, at distance >=
// window when windowed; undefined when every pair is seen.
Tensor blocked_pairs(int64_t T, bool causal, int64_t window, const at::TensorOptions& o) {
  if (!causal && !window) return {};
  Tensor pos = torch::arange(T, o.dtype(torch::kLong));
  Tensor dist = pos.unsqueeze(1) - pos.unsqueeze(0);  // query - key
  Tensor blocked = torch::zeros({T, T}, o.dtype(torch::kBool));
  if (causal) blocked = blocked.logical_or(dist < 0);
  if (window) blocked = blocked.logical_or(dist.abs() >= window);
  return blocked;
}

// Self-attention over [B, T, d] in the layout of circuit::AttentionLayout: one packed projection
// in_proj_weight [(H + 2 KV) dh, d] (q, then k, then v), out_proj [d, H dh]; with the new
// attributes unset, nn.MultiheadAttention's parameters, initialised as it does. Grouped-query heads
// are computed by grouping q ([B, KV, H/KV, T, dh]) against each k/v head, never by copying k and v.
struct Attention : torch::nn::Module {
  circuit::AttentionLayout L;
  bool causal;
  int64_t window;
  double dropout;
  Tensor in_w, in_b, gate_w, gate_b, q_norm, k_norm;
  torch::nn::Linear out{nullptr};
  Attention(int64_t, const circuit::AttentionLayout& layout, bool c, int64_t w, double p) : L(layout), causal(c), window(w), dropout(p) {
    in_w = register_parameter("in_proj_weight", torch::empty({L.in_rows(), L.d}));
    torch::nn::init::xavier_uniform_(in_w);
    if (L.qkv_bias) in_b = register_parameter("in_proj_bias", torch::zeros({L.in_rows()}));
    out = register_module("out_proj", torch::nn::Linear(torch::nn::LinearOptions(L.q_width(), L.d).bias(L.out_bias)));
    if (L.out_bias) torch::nn::init::zeros_(out->bias);
    if (L.gate) {
      gate_w = register_parameter("gate_proj_weight", linear_init(L.gate_width(), L.d));
      if (L.qkv_bias) gate_b = register_parameter("gate_proj_bias", torch::zeros({L.gate_width()}));
    }
    if (L.qk_norm) q_norm = register_parameter("q_norm_weight", torch::ones({L.head_dim})), k_norm = register_parameter("k_norm_weight", torch::ones({L.head_dim}));
  }
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1), H = L.heads, KV = L.kv_heads, dh = L.head_dim;
    Tensor qkv = torch::linear(x, in_w, in_b);
    auto heads = [&](int64_t from, int64_t n) { return qkv.narrow(-1, from * dh, n * dh).reshape({B, T, n, dh}).transpose(1, 2); };
    Tensor q = heads(0, H), k = heads(H, KV), v = heads(H + KV, KV);  // [B, heads, T, dh]
    if (L.qk_norm) q = rms(q, q_norm, 1e-6), k = rms(k, k_norm, 1e-6);
    if (L.rope_dims) q = rope(q, L.rope_dims, L.rope_theta, L.rope_interleaved), k = rope(k, L.rope_dims, L.rope_theta, L.rope_interleaved);
    double p = is_training() ? dropout : 0.0;
    Tensor ctx;
    if constexpr (kFusedAttention) {
      // The fused kernels take as many k/v heads as q heads; a causal mask alone is their flag.
      if (KV != H) k = k.repeat_interleave(H / KV, 1), v = v.repeat_interleave(H / KV, 1);
      Tensor allowed = window ? blocked_pairs(T, causal, window, x.options()).logical_not() : Tensor();
      ctx = fused_attention(q, k, v, allowed, causal && !window, p);
    } else {
      Tensor blocked = blocked_pairs(T, causal, window, x.options());
      // The scale on q and the mask in place: two fewer passes over the [T, T] scores, forward and
      // backward (bench_mixers --attention: 1.01x PyTorch eager before, see docs/engine.md).
      Tensor scores = torch::matmul((q * (1 / std::sqrt(double(dh)))).reshape({B, KV, H / KV, T, dh}), k.unsqueeze(2).transpose(-2, -1));
      if (blocked.defined()) scores.masked_fill_(blocked, -std::numeric_limits<float>::infinity());
      Tensor w = torch::softmax(scores, -1);
      if (p > 0) w = torch::dropout(w, p, true);
      ctx = torch::matmul(w, v.unsqueeze(2)).reshape({B, H, T, dh});
    }
    ctx = ctx.transpose(1, 2);  // [B, T, H, dh]
    if (L.gate) ctx = ctx * torch::sigmoid(torch::linear(x, gate_w, gate_b)).reshape({B, T, H, -1});
    return out(ctx.reshape({B, T, H * dh}));
  }
};

// Attention::forward on its 1.13 path, line for line; rope() and masked() serve latent attention too.
const char* const kAttentionScript = R"(
def rope(self, x: Tensor, r: int, theta: float, interleaved: bool) -> Tensor:
    T = x.size(2)
    inv = 1.0 / torch.pow(theta, torch.arange(0, r, 2, device=x.device).float() / float(r))
    ang = torch.arange(T, device=x.device).float().unsqueeze(1) * inv.unsqueeze(0)
    cos = ang.cos()
    sin = ang.sin()
    xr = x.narrow(-1, 0, r)
    if interleaved:
        p = xr.reshape([x.size(0), x.size(1), T, r // 2, 2])
        x1 = p.select(-1, 0)
        x2 = p.select(-1, 1)
        rot = torch.stack([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1).flatten(-2)
    else:
        x1 = xr.narrow(-1, 0, r // 2)
        x2 = xr.narrow(-1, r // 2, r // 2)
        rot = torch.cat([x1 * cos - x2 * sin, x2 * cos + x1 * sin], -1)
    if r == x.size(-1):
        return rot
    return torch.cat([rot, x.narrow(-1, r, x.size(-1) - r)], -1)

def masked(self, scores: Tensor, causal: bool, window: int) -> Tensor:
    if not causal and window == 0:
        return scores
    T = scores.size(-1)
    pos = torch.arange(T, device=scores.device)
    dist = pos.unsqueeze(1) - pos.unsqueeze(0)
    blocked = torch.zeros_like(dist) != 0
    if causal:
        blocked = blocked.logical_or(dist < 0)
    if window > 0:
        blocked = blocked.logical_or(dist.abs() >= window)
    return scores.masked_fill(blocked, float('-inf'))

def attention(self, x: Tensor, w_in: Tensor, b_in: Optional[Tensor], w_o: Tensor, b_o: Optional[Tensor], w_g: Optional[Tensor], b_g: Optional[Tensor], q_norm: Optional[Tensor], k_norm: Optional[Tensor], H: int, KV: int, dh: int, causal: bool, window: int, r: int, theta: float, interleaved: bool) -> Tensor:
    B = x.size(0)
    T = x.size(1)
    qkv = torch.linear(x, w_in, b_in)
    q = qkv.narrow(-1, 0, H * dh).reshape([B, T, H, dh]).transpose(1, 2)
    k = qkv.narrow(-1, H * dh, KV * dh).reshape([B, T, KV, dh]).transpose(1, 2)
    v = qkv.narrow(-1, (H + KV) * dh, KV * dh).reshape([B, T, KV, dh]).transpose(1, 2)
    if q_norm is not None and k_norm is not None:
        q = self.rms(q, q_norm, 1e-6)
        k = self.rms(k, k_norm, 1e-6)
    if r > 0:
        q = self.rope(q, r, theta, interleaved)
        k = self.rope(k, r, theta, interleaved)
    scores = torch.matmul((q * (1.0 / float(dh) ** 0.5)).reshape([B, KV, H // KV, T, dh]), k.unsqueeze(2).transpose(-2, -1))
    scores = self.masked(scores, causal, window)
    ctx = torch.matmul(torch.softmax(scores, -1), v.unsqueeze(2)).reshape([B, H, T, dh]).transpose(1, 2)
    if w_g is not None:
        ctx = ctx * torch.sigmoid(torch.linear(x, w_g, b_g)).reshape([B, T, H, -1])
    return torch.linear(ctx.reshape([B, T, H * dh]), w_o, b_o)
)";

circuit::AttentionLayout layout_of(const Site& s) { return *circuit::attention_layout(s, s.size(s.rank() - 1)); }

Result<Fn> compile_attention(Compiler& c, const Site& s) {
  return compile_mixer<Attention>(c, s, layout_of(s), s.b("causal"), s.i("window"), s.f("dropout"));
}

Strings script_attention(Script& w, const Site& s, const Strings& in) {
  circuit::AttentionLayout L = layout_of(s);
  w.method(kNormScript);
  w.method(kAttentionScript);
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "self.attention(" + y + ", " + w.self("in_proj_weight") + ", " + ts_optional(w, L.qkv_bias, "in_proj_bias") + ", " +
           w.self("out_proj__weight") + ", " + ts_optional(w, L.out_bias, "out_proj__bias") + ", " + ts_optional(w, L.gate, "gate_proj_weight") +
           ", " + ts_optional(w, L.gate && L.qkv_bias, "gate_proj_bias") + ", " + ts_optional(w, L.qk_norm, "q_norm_weight") + ", " +
           ts_optional(w, L.qk_norm, "k_norm_weight") + ", " + std::to_string(L.heads) + ", " + std::to_string(L.kv_heads) + ", " +
           std::to_string(L.head_dim) + ", " + ts_bool(s.b("causal")) + ", " + std::to_string(s.i("window")) + ", " +
           std::to_string(L.rope_dims) + ", " + ts_num(L.rope_theta) + ", " + ts_bool(L.rope_interleaved) + ")";
  })};
}

// ---- latent_attention

// DeepSeek-V2/V3's multi-head latent attention over [B, T, d], written unabsorbed (the training
// form): q = q_b(rms(q_a x)) or q_proj x; [c | k_r] = kv_a x, c normed; [k_nope | v] = kv_b c per
// head; scores = q_nope · k_nopeᵀ + rope(q_r) · rope(k_r)ᵀ, the rotary key shared by the heads
// (a sum of two products: the same as concatenating [k_nope | k_r], without copying k_r per head).
struct LatentAttention : torch::nn::Module {
  circuit::LatentLayout L;
  bool causal;
  int64_t window;
  Tensor q_a, q_a_norm, q_b, q_w, kv_a, kv_a_norm, kv_b, o_w;
  LatentAttention(int64_t, const circuit::LatentLayout& layout, bool c, int64_t w) : L(layout), causal(c), window(w) {
    int64_t H = L.heads, d = L.d;
    if (L.q_lora) {
      q_a = register_parameter("q_a_proj_weight", linear_init(L.q_lora, d));
      q_a_norm = register_parameter("q_a_norm_weight", torch::ones({L.q_lora}));
      q_b = register_parameter("q_b_proj_weight", linear_init(H * L.qk_dim(), L.q_lora));
    } else {
      q_w = register_parameter("q_proj_weight", linear_init(H * L.qk_dim(), d));
    }
    kv_a = register_parameter("kv_a_proj_weight", linear_init(L.kv_lora + L.rope, d));
    kv_a_norm = register_parameter("kv_a_norm_weight", torch::ones({L.kv_lora}));
    kv_b = register_parameter("kv_b_proj_weight", linear_init(H * (L.nope + L.v_dim), L.kv_lora));
    o_w = register_parameter("o_proj_weight", linear_init(d, H * L.v_dim));
  }
  Tensor forward(const Tensor& x) {
    int64_t B = x.size(0), T = x.size(1), H = L.heads;
    Tensor q = L.q_lora ? torch::linear(rms(torch::linear(x, q_a), q_a_norm, 1e-6), q_b) : torch::linear(x, q_w);
    q = q.reshape({B, T, H, L.qk_dim()}).transpose(1, 2);
    Tensor lat = torch::linear(x, kv_a);
    Tensor kv = torch::linear(rms(lat.narrow(-1, 0, L.kv_lora), kv_a_norm, 1e-6), kv_b).reshape({B, T, H, L.nope + L.v_dim}).transpose(1, 2);
    Tensor k_r = rope(lat.narrow(-1, L.kv_lora, L.rope).unsqueeze(1), L.rope, L.rope_theta, L.rope_interleaved);  // [B, 1, T, rope]
    Tensor q_r = rope(q.narrow(-1, L.nope, L.rope), L.rope, L.rope_theta, L.rope_interleaved);
    double scale = 1 / std::sqrt(double(L.qk_dim()));
    Tensor scores = torch::matmul(q_r * scale, k_r.transpose(-2, -1));
    if (L.nope) scores = scores + torch::matmul(q.narrow(-1, 0, L.nope) * scale, kv.narrow(-1, 0, L.nope).transpose(-2, -1));
    Tensor blocked = blocked_pairs(T, causal, window, x.options());
    if (blocked.defined()) scores.masked_fill_(blocked, -std::numeric_limits<float>::infinity());
    Tensor ctx = torch::matmul(torch::softmax(scores, -1), kv.narrow(-1, L.nope, L.v_dim));  // [B, H, T, v]
    return torch::linear(ctx.transpose(1, 2).reshape({B, T, H * L.v_dim}), o_w);
  }
};

const char* const kLatentAttentionScript = R"(
def latent_attention(self, x: Tensor, q_a: Optional[Tensor], q_a_norm: Optional[Tensor], q_b: Optional[Tensor], q_w: Optional[Tensor], kv_a: Tensor, kv_a_norm: Tensor, kv_b: Tensor, o_w: Tensor, H: int, kv_lora: int, nope: int, r: int, v_dim: int, theta: float, interleaved: bool, causal: bool, window: int) -> Tensor:
    B = x.size(0)
    T = x.size(1)
    if q_a is not None and q_a_norm is not None and q_b is not None:
        q = torch.linear(self.rms(torch.linear(x, q_a), q_a_norm, 1e-6), q_b)
    else:
        assert q_w is not None
        q = torch.linear(x, q_w)
    q = q.reshape([B, T, H, nope + r]).transpose(1, 2)
    lat = torch.linear(x, kv_a)
    kv = torch.linear(self.rms(lat.narrow(-1, 0, kv_lora), kv_a_norm, 1e-6), kv_b).reshape([B, T, H, nope + v_dim]).transpose(1, 2)
    k_r = self.rope(lat.narrow(-1, kv_lora, r).unsqueeze(1), r, theta, interleaved)
    q_r = self.rope(q.narrow(-1, nope, r), r, theta, interleaved)
    scale = 1.0 / float(nope + r) ** 0.5
    scores = torch.matmul(q_r * scale, k_r.transpose(-2, -1))
    if nope > 0:
        scores = scores + torch.matmul(q.narrow(-1, 0, nope) * scale, kv.narrow(-1, 0, nope).transpose(-2, -1))
    scores = self.masked(scores, causal, window)
    ctx = torch.matmul(torch.softmax(scores, -1), kv.narrow(-1, nope, v_dim))
    return torch.linear(ctx.transpose(1, 2).reshape([B, T, H * v_dim]), o_w)
)";

circuit::LatentLayout latent_of(const Site& s) { return circuit::latent_layout(s, s.size(s.rank() - 1)); }

Result<Fn> compile_latent_attention(Compiler& c, const Site& s) {
  return compile_mixer<LatentAttention>(c, s, latent_of(s), s.b("causal"), s.i("window"));
}

Strings script_latent_attention(Script& w, const Site& s, const Strings& in) {
  circuit::LatentLayout L = latent_of(s);
  for (const char* m : {kNormScript, kAttentionScript, kLatentAttentionScript}) w.method(m);
  bool ql = L.q_lora > 0;
  return {ts_on_sequences(w, s, in[0], [&](const std::string& y) {
    return "self.latent_attention(" + y + ", " + ts_optional(w, ql, "q_a_proj_weight") + ", " + ts_optional(w, ql, "q_a_norm_weight") + ", " +
           ts_optional(w, ql, "q_b_proj_weight") + ", " + ts_optional(w, !ql, "q_proj_weight") + ", " + w.self("kv_a_proj_weight") + ", " +
           w.self("kv_a_norm_weight") + ", " + w.self("kv_b_proj_weight") + ", " + w.self("o_proj_weight") + ", " + std::to_string(L.heads) +
           ", " + std::to_string(L.kv_lora) + ", " + std::to_string(L.nope) + ", " + std::to_string(L.rope) + ", " + std::to_string(L.v_dim) +
           ", " + ts_num(L.rope_theta) + ", " + ts_bool(L.rope_interleaved) + ", " + ts_bool(s.b("causal")) + ", " + std::to_string(s.i("window")) + ")";
  })};
}

// ---- gru and lstm: PyTorch's modules and their torch.gru / torch.lstm calls

template <bool Lstm>
Result<Fn> compile_rnn(Compiler& c, const Site& s) {
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1, h = s.i("hidden");
  if constexpr (Lstm) {
    // Through the packed-sequence entry (every sequence full length, so the same LSTM): LibTorch
    // 2.x sends a padded float LSTM on the CPU to oneDNN, and Debian 13's build (LibTorch 2.6 with
    // libdnnl 3.6) gets it wrong, 0.37 away from the step-by-step LSTM on a 7-step example, where
    // its own native path agrees to 3e-8 (Lstm.EqualsItsStepByStepDefinition). The packed entry
    // never takes oneDNN; on 1.13 (Debian 12) the two entries agree exactly.
    auto rnn = c.add(s, torch::nn::LSTM(torch::nn::LSTMOptions(s.size(f), h).num_layers(s.i("layers")).bias(s.b("bias")).batch_first(true)));
    return unary([rnn, sa, f](const Tensor& x) {
      return on_sequences(x, sa, f, [&](const Tensor& y) {
        namespace rnn_utils = torch::nn::utils::rnn;
        const Tensor lengths = torch::full({y.size(0)}, y.size(1), torch::kLong);
        auto packed = rnn_utils::pack_padded_sequence(y, lengths, /*batch_first=*/true);
        return std::get<0>(rnn_utils::pad_packed_sequence(std::get<0>(rnn->forward_with_packed_input(packed)), /*batch_first=*/true));
      });
    });
  } else {
    auto rnn = c.add(s, torch::nn::GRU(torch::nn::GRUOptions(s.size(f), h).num_layers(s.i("layers")).bias(s.b("bias")).batch_first(true)));
    return unary([rnn, sa, f](const Tensor& x) { return on_sequences(x, sa, f, [&](const Tensor& y) { return std::get<0>(rnn->forward(y)); }); });
  }
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
  const std::string flags = std::string(bias ? "True" : "False") + ", " + std::to_string(layers) + ", 0.0, False, False";
  if (Lstm) {
    // The packed-sequence overload (time-major rows, every sequence full length), as compile_rnn
    // does and for the same reason: the padded one takes oneDNN, wrong in LibTorch 2.6 on Debian 13.
    // Batch sizes are int64 on the CPU, wherever the model runs (dtype 4: `torch.long` is no value in
    // scripts compiled here).
    std::string steps = w.fresh("steps");
    w.line(steps + " = " + y + ".size(1)");
    w.line(y + " = torch.lstm(" + y + ".transpose(0, 1).reshape([-1, " + y + ".size(2)]), torch.full([" + steps + "], " + y +
           ".size(0), dtype=4, device=torch.device(\"cpu\")), [" + zeros + ", " + zeros + "], [" + params + "], " + flags + ")[0].reshape([" + steps +
           ", -1, " + std::to_string(hdim) + "]).transpose(0, 1)");
  } else {
    w.line(y + " = torch.gru(" + y + ", " + zeros + ", [" + params + "], " + flags + ", True)[0]");
  }
  w.line(y + " = " + y + ".reshape(" + shape + "[:-1] + [" + std::to_string(hdim) + "])");
  w.line(v + " = " + ts_movedim(y, f - 1, sa));
  return {v};
}

// ---- ONNX forms


// rope() on x [B, h, T, dh], T read from x at run time: cos and sin of [T, r/2] angles broadcast
// over batch and heads; the inverse frequencies are a constant computed as the engine does.
std::string onnx_rope(Onnx& o, const std::string& x, const circuit::AttentionLayout& L) {
  int64_t r = L.rope_dims, dh = L.head_dim;
  Tensor inv = 1.0 / torch::pow(L.rope_theta, torch::arange(0, r, 2, torch::kFloat) / double(r));
  std::string T = o.op("Gather", {o.op("Shape", {x}), o.scalar_i(2)}, {attr_i("axis", 0)});
  std::string pos = o.op("Cast", {o.op("Range", {o.scalar_i(0), T, o.scalar_i(1)})}, {attr_i("to", 1)});  // float
  std::string ang = o.op("Mul", {o.op("Unsqueeze", {pos, o.ints({1})}), o.constant(inv, "rope_inv_freq")});
  std::string cos = o.op("Cos", {ang}), sin = o.op("Sin", {ang});
  auto slice = [&](const std::string& t, int64_t from, int64_t to) { return o.op("Slice", {t, o.ints({from}), o.ints({to}), o.ints({-1})}); };
  auto rotate = [&](const std::string& x1, const std::string& x2) {
    return std::pair{o.op("Sub", {o.op("Mul", {x1, cos}), o.op("Mul", {x2, sin})}), o.op("Add", {o.op("Mul", {x2, cos}), o.op("Mul", {x1, sin})})};
  };
  std::string xr = r == dh ? x : slice(x, 0, r), rot;
  if (L.rope_interleaved) {
    std::string p = o.op("Reshape", {xr, o.ints({0, 0, 0, r / 2, 2})});
    auto pick = [&](int64_t j) { return o.op("Gather", {p, o.scalar_i(j)}, {attr_i("axis", -1)}); };
    auto [a, b] = rotate(pick(0), pick(1));
    rot = o.op("Reshape", {o.op("Concat", {o.op("Unsqueeze", {a, o.ints({-1})}), o.op("Unsqueeze", {b, o.ints({-1})})}, {attr_i("axis", -1)}),
                           o.ints({0, 0, 0, r})});
  } else {
    auto [a, b] = rotate(slice(xr, 0, r / 2), slice(xr, r / 2, r));
    rot = o.op("Concat", {a, b}, {attr_i("axis", -1)});
  }
  return r == dh ? rot : o.op("Concat", {rot, slice(x, r, dh)}, {attr_i("axis", -1)});
}

// blocked_pairs() as a Where on `scores` [..., T, T]: -inf where a query may not see a key. Built
// for the run-time sequence length of y3 [B, T, d], so a symbolic `seq` stays symbolic.
std::string onnx_mask(Onnx& o, const Site& s, const std::string& y3, const std::string& scores) {
  bool causal = s.b("causal");
  int64_t window = s.i("window");
  if (!causal && !window) return scores;
  std::string T = o.op("Gather", {o.op("Shape", {y3}), o.scalar_i(1)}, {attr_i("axis", 0)});
  std::string pos = o.op("Range", {o.scalar_i(0), T, o.scalar_i(1)});
  std::string dist = o.op("Sub", {o.op("Unsqueeze", {pos, o.ints({1})}), o.op("Unsqueeze", {pos, o.ints({0})})});  // query - key
  std::string future = causal ? o.op("Less", {dist, o.scalar_i(0)}) : "";
  std::string far = window ? o.op("GreaterOrEqual", {o.op("Abs", {dist}), o.scalar_i(window)}) : "";
  std::string blocked = causal && window ? o.op("Or", {future, far}) : causal ? future : far;
  return o.op("Where", {blocked, o.scalar_f(-INFINITY), scores});
}

// Attention::forward on [B, T, d] after the sequence axis is moved next to the features and every
// other axis folded into B (kAttentionScript computes the same). Grouped-query heads as there:
// q [B, KV, H/KV, T, dh] against k and v [B, KV, 1, T, dh], broadcast by MatMul.
std::string attention_graph(Onnx& o, const Site& s, const std::string& in) {
  Folded fold(o, s, in);
  const std::string& y3 = fold.y3;
  circuit::AttentionLayout L = layout_of(s);
  int64_t H = L.heads, KV = L.kv_heads, dh = L.head_dim;
  auto qkv = onnx_qkv_heads(o, y3, o.weight("in_proj_weight"), L.qkv_bias ? o.weight("in_proj_bias") : "", H, KV, dh);
  std::string q = o.transpose(qkv[0], {0, 2, 1, 3}), k = o.transpose(qkv[1], {0, 2, 1, 3}), v = o.transpose(qkv[2], {0, 2, 1, 3});
  if (L.qk_norm) q = o.rms(q, o.weight("q_norm_weight"), 1e-6), k = o.rms(k, o.weight("k_norm_weight"), 1e-6);
  if (L.rope_dims) q = onnx_rope(o, q, L), k = onnx_rope(o, k, L);
  std::string qg = o.op("Reshape", {q, o.ints({0, KV, H / KV, -1, dh})});
  std::string kt = o.op("Unsqueeze", {o.transpose(k, {0, 1, 3, 2}), o.ints({2})});
  std::string scores = o.op("MatMul", {o.op("Mul", {qg, o.scalar_f(1 / std::sqrt(double(dh)))}), kt});
  scores = onnx_mask(o, s, y3, scores);
  std::string ctx = o.op("MatMul", {o.op("Softmax", {scores}, {attr_i("axis", -1)}), o.op("Unsqueeze", {v, o.ints({2})})});
  ctx = o.transpose(o.op("Reshape", {ctx, o.ints({0, H, -1, dh})}), {0, 2, 1, 3});  // [B, T, H, dh]
  if (L.gate) {
    std::string g = o.op("Sigmoid", {o.linear(y3, 3, o.weight("gate_proj_weight"), L.qkv_bias ? o.weight("gate_proj_bias") : "")});
    ctx = o.op("Mul", {ctx, o.op("Reshape", {g, o.ints({0, 0, H, -1})})});
  }
  ctx = o.op("Reshape", {ctx, o.ints({0, 0, H * dh})});
  return fold.unfold(o, o.linear(ctx, 3, o.weight("out_proj.weight"), L.out_bias ? o.weight("out_proj.bias") : ""), L.d);
}

// LatentAttention::forward in ONNX, the same steps (kLatentAttentionScript).
std::string latent_attention_graph(Onnx& o, const Site& s, const std::string& in) {
  Folded fold(o, s, in);
  const std::string& y3 = fold.y3;
  circuit::LatentLayout L = latent_of(s);
  int64_t H = L.heads;
  circuit::AttentionLayout R;  // onnx_rope reads the rotation from an attention layout
  R.head_dim = R.rope_dims = L.rope, R.rope_theta = L.rope_theta, R.rope_interleaved = L.rope_interleaved;
  auto slice = [&](const std::string& t, int64_t from, int64_t to) { return o.op("Slice", {t, o.ints({from}), o.ints({to}), o.ints({-1})}); };
  std::string q = L.q_lora ? o.linear(o.rms(o.linear(y3, 3, o.weight("q_a_proj_weight"), ""), o.weight("q_a_norm_weight"), 1e-6), 3,
                                      o.weight("q_b_proj_weight"), "")
                           : o.linear(y3, 3, o.weight("q_proj_weight"), "");
  q = o.transpose(o.op("Reshape", {q, o.ints({0, 0, H, L.qk_dim()})}), {0, 2, 1, 3});
  std::string lat = o.linear(y3, 3, o.weight("kv_a_proj_weight"), "");
  std::string kv = o.linear(o.rms(slice(lat, 0, L.kv_lora), o.weight("kv_a_norm_weight"), 1e-6), 3, o.weight("kv_b_proj_weight"), "");
  kv = o.transpose(o.op("Reshape", {kv, o.ints({0, 0, H, L.nope + L.v_dim})}), {0, 2, 1, 3});
  std::string k_r = onnx_rope(o, o.op("Unsqueeze", {slice(lat, L.kv_lora, L.kv_lora + L.rope), o.ints({1})}), R);
  std::string q_r = onnx_rope(o, slice(q, L.nope, L.qk_dim()), R);
  std::string scale = o.scalar_f(1 / std::sqrt(double(L.qk_dim())));
  std::string scores = o.op("MatMul", {o.op("Mul", {q_r, scale}), o.transpose(k_r, {0, 1, 3, 2})});
  if (L.nope) scores = o.op("Add", {scores, o.op("MatMul", {o.op("Mul", {slice(q, 0, L.nope), scale}), o.transpose(slice(kv, 0, L.nope), {0, 1, 3, 2})})});
  scores = onnx_mask(o, s, y3, scores);
  std::string ctx = o.op("MatMul", {o.op("Softmax", {scores}, {attr_i("axis", -1)}), slice(kv, L.nope, L.nope + L.v_dim)});
  ctx = o.op("Reshape", {o.transpose(ctx, {0, 2, 1, 3}), o.ints({0, 0, H * L.v_dim})});
  return fold.unfold(o, o.linear(ctx, 3, o.weight("o_proj_weight"), ""), L.d);
}

Strings onnx_latent_attention(Onnx& o, const Site& s, const Strings& in) { return o.result(s, latent_attention_graph(o, s, in[0])); }

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
  t.push_back(CIRCUIT_LOWERING(latent_attention));
  t.push_back({.op = "gru", .compile = compile_rnn<false>, .torchscript = script_rnn<false>, .onnx = onnx_rnn<false>});
  t.push_back({.op = "lstm", .compile = compile_rnn<true>, .torchscript = script_rnn<true>, .onnx = onnx_rnn<true>});
}

}  // namespace engine::detail
