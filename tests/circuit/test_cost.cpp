// Parameter counts against PyTorch, FLOPs against hand-derived formulas, MoE active parameters.
//
// The PyTorch numbers were computed once with Debian's python3-torch 1.13.1:
//   sum(p.numel() for p in MODULE.parameters())
// for the module named in each comment.
#include <set>

#include "circuit/templates.h"
#include "helpers.h"

namespace circuit::test {
namespace {

using I = std::vector<int64_t>;

int64_t params(const std::string& op, const TensorType& t, Attrs a) {
  One r = infer1(op, {t}, std::move(a));
  EXPECT_TRUE(r.ok()) << r.error;
  return r.cost.params;
}

TEST(Cost, ParamsMatchPyTorch) {
  TensorType img32 = T({"batch", "c:32", "h:16", "w:16"});
  // nn.Linear(256, 512) / bias=False
  EXPECT_EQ(params("linear", T({"batch", "d:256"}), {{"out", 512}}), 131584);
  EXPECT_EQ(params("linear", T({"batch", "d:256"}), {{"out", 512}, {"bias", false}}), 131072);
  // nn.Conv2d(3, 16, 3)
  EXPECT_EQ(params("conv2d", T({"batch", "c:3", "h:8", "w:8"}), {{"out", 16}, {"kernel", I{3}}}), 448);
  // nn.Conv2d(32, 64, (3, 5), groups=4)
  EXPECT_EQ(params("conv2d", img32, {{"out", 64}, {"kernel", I{3, 5}}, {"groups", 4}}), 7744);
  // nn.Conv2d(32, 64, 3, bias=False)
  EXPECT_EQ(params("conv2d", img32, {{"out", 64}, {"kernel", I{3}}, {"bias", false}}), 18432);
  // nn.Conv2d(32, 64, 3, groups=32): depthwise with multiplier 2
  EXPECT_EQ(params("dwconv2d", img32, {{"kernel", I{3}}, {"multiplier", 2}}), 640);
  // nn.MultiheadAttention(128, 4) / bias=False
  EXPECT_EQ(params("attention", T({"batch", "seq", "d:128"}), {{"heads", 4}}), 66048);
  EXPECT_EQ(params("attention", T({"batch", "seq", "d:128"}), {{"heads", 4}, {"bias", false}}), 65536);
  // Llama-3-8B's attention (d 4096, 32 heads, 8 kv heads of 128, no biases): q and o 4096², k and v
  // 4096 x 1024 each; its published size, 8.03 B over 32 layers, holds 32 x 41,943,040 of it.
  EXPECT_EQ(params("attention", T({"batch", "seq", "d:4096"}), {{"heads", 32}, {"kv_heads", 8}, {"bias", false}, {"rope_theta", 500000.0}}),
            41943040);
  // DeepSeek-V3's latent attention (d 7168, 128 heads, q latent 1536, kv latent 512, nope 128,
  // rope 64, v 128): q_a, its norm, q_b, kv_a (latent + rotary key), its norm, kv_b, o.
  EXPECT_EQ(params("latent_attention", T({"batch", "seq", "d:7168"}),
                   {{"heads", 128}, {"q_lora_rank", 1536}, {"kv_lora_rank", 512}, {"qk_nope_dim", 128}, {"qk_rope_dim", 64}, {"v_head_dim", 128}}),
            7168 * 1536 + 1536 + 1536 * 128 * 192 + 7168 * 576 + 512 + 512 * 128 * 256 + 128 * 128 * 7168);
  // Qwen2: biases on q, k, v only (d 896, 14 heads, 2 kv heads of 64).
  EXPECT_EQ(params("attention", T({"batch", "seq", "d:896"}), {{"heads", 14}, {"kv_heads", 2}, {"out_bias", false}}),
            896 * (896 + 2 * 128) + (896 + 2 * 128) + 896 * 896);
  // Qwen3-Next's gated attention (d 2048, 16 heads, 2 kv heads of 256, element gate, q/k norm).
  EXPECT_EQ(params("attention", T({"batch", "seq", "d:2048"}),
                   {{"heads", 16}, {"kv_heads", 2}, {"head_dim", 256}, {"bias", false}, {"gate", std::string("element")}, {"qk_norm", true}}),
            2048 * (4096 + 2 * 512) + 4096 * 2048 + 2048 * 4096 + 2 * 256);
  // nn.LayerNorm(128), nn.BatchNorm2d(32); RMS norm has one scale per feature (no PyTorch 1.13 module)
  EXPECT_EQ(params("layer_norm", T({"batch", "seq", "d:128"}), {}), 256);
  EXPECT_EQ(params("batch_norm", img32, {}), 64);
  EXPECT_EQ(params("rms_norm", T({"batch", "seq", "d:128"}), {}), 128);
  EXPECT_EQ(params("layer_norm", T({"batch", "seq", "d:128"}), {{"affine", false}}), 0);
  // nn.Embedding(1000, 64)
  EXPECT_EQ(params("embedding", T({"batch", "seq"}, DType::i64), {{"num", 1000}, {"dim", 64}}), 64000);
  // nn.GRU(64, 128), nn.GRU(64, 128, num_layers=2), nn.GRU(64, 128, bias=False)
  EXPECT_EQ(params("gru", T({"batch", "seq", "d:64"}), {{"hidden", 128}}), 74496);
  EXPECT_EQ(params("gru", T({"batch", "seq", "d:64"}), {{"hidden", 128}, {"layers", 2}}), 173568);
  EXPECT_EQ(params("gru", T({"batch", "seq", "d:64"}), {{"hidden", 128}, {"bias", false}}), 73728);
  // nn.LSTM(64, 128): 4 gate blocks of 128 x (64 + 128), two biases each
  EXPECT_EQ(params("lstm", T({"batch", "seq", "d:64"}), {{"hidden", 128}}), 99328);
  // nn.Conv1d(64, 32, 4); nn.Conv1d(64, 64, 4, groups=64)
  EXPECT_EQ(params("conv1d", T({"batch", "seq", "d:64"}), {{"out", 32}}), 8224);
  EXPECT_EQ(params("conv1d", T({"batch", "seq", "d:64"}), {{"depthwise", true}}), 320);
}

TEST(Cost, EinsumCountsOneMultiplyAddPerTermCombination) {
  // Q K^T per example: head 4 x seq 16 x seq2 16 x d 8 combinations, 2 FLOPs each; no parameters.
  One r = infer1("einsum", {T({"batch", "seq", "head:4", "d:8"}), T({"batch", "seq", "head:4", "d:8"})},
                 {{"equation", std::string("b s h d, b t h d -> b h s t")}});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.cost.flops, 2 * 4 * 16 * 16 * 8);
  EXPECT_EQ(r.cost.params, 0);
}

TEST(Cost, MixerParamsFollowTheStatedFormulas) {
  TensorType x = T({"batch", "seq", "d:64"});
  // Linear attention: q, k, v, o projections 4 d^2 (+ 4 d biases).
  EXPECT_EQ(params("linear_attention", x, {{"heads", 4}}), 4 * 64 * 64);
  EXPECT_EQ(params("linear_attention", x, {{"heads", 4}, {"bias", true}}), 4 * 64 * 64 + 4 * 64);
  // Gated DeltaNet, d 64, 4 heads of 16 (inner 64), conv 4: q, k, v 3 d inner + beta and decay
  // 2 d H + A_log and dt_bias 2 H + conv 3 inner K + gate d inner + norm dh + output inner d.
  EXPECT_EQ(params("gated_delta", x, {{"heads", 4}}), 3 * 64 * 64 + 2 * 64 * 4 + 2 * 4 + 3 * 64 * 4 + 64 * 64 + 16 + 64 * 64);
  EXPECT_EQ(params("gated_delta", x, {{"heads", 4}}), 21784);
  // Without conv and gate, 2 heads of 8 (inner 16).
  EXPECT_EQ(params("gated_delta", x, {{"heads", 2}, {"head_dim", 8}, {"conv", 0}, {"gate", false}}),
            3 * 64 * 16 + 2 * 64 * 2 + 2 * 2 + 8 + 16 * 64);
  // Mamba-2 (mamba2-minimal's layout), d 64, expand 2 (inner 128), 8 heads, N 16, conv 4:
  // in_proj d (2 inner + 2 N + H) + conv (inner + 2 N)(K + 1) + dt_bias, A_log, D 3 H + norm inner + out_proj inner d.
  EXPECT_EQ(params("mamba2", x, {{"heads", 8}}), 64 * (2 * 128 + 32 + 8) + 160 * 5 + 24 + 128 + 128 * 64);
  // Qwen3-Next's Gated DeltaNet layer: 16 q/k heads serve 32 value heads of 128 (d 2048).
  int64_t qk = 2 * 16 * 128, inner = 32 * 128, D = 2048;
  EXPECT_EQ(params("gated_delta", T({"batch", "seq", "d:2048"}), {{"heads", 32}, {"key_heads", 16}, {"head_dim", 128}}),
            D * (qk + inner) + 2 * D * 32 + 2 * 32 + (qk + inner) * 4 + D * inner + 128 + inner * D);
  EXPECT_EQ(params("mamba2", x, {{"heads", 8}}), 28088);
  EXPECT_EQ(params("mamba2", x, {{"heads", 8}, {"conv", 0}, {"state", 4}, {"expand", 1}}), 64 * (2 * 64 + 8 + 8) + 24 + 64 + 64 * 64);
  // Mamba-1 (HF MambaMixer's parameters), d 64, inner 128, N 16, R = 64 / 16 = 4, conv 4 with bias:
  // in_proj d 2 inner + conv inner (K + 1) + x_proj inner (R + 2 N) + dt_proj R inner + inner
  // + A_log inner N + D inner + out_proj inner d.
  EXPECT_EQ(params("mamba", x, {}), 64 * 256 + 128 * 5 + 128 * 36 + 4 * 128 + 128 + 128 * 16 + 128 + 128 * 64);
  // Biases on both projections, Jamba's learned norms of Δ, B and C (R + 2 N), no conv.
  EXPECT_EQ(params("mamba", x, {{"bias", true}, {"conv", 0}, {"dbc_norm", std::string("rms")}, {"dt_rank", 8}}),
            64 * 256 + 256 + 128 * 40 + 8 * 128 + 128 + 128 * 16 + 128 + 128 * 64 + 64 + 40);
  // A layer of state-spaces/mamba-130m (d 768, inner 1536, R 48): 3,771,648 parameters with its
  // RMS norm of 768, so 24 layers and the 50,280 x 768 tied embedding make its 129.1 M.
  EXPECT_EQ(params("mamba", T({"batch", "seq", "d:768"}), {}) + 768, 3771648);
}

// A mixer drawn open shows its parts; the parts must be the op: their parameters add up to the
// op's, each reads only earlier parts, and the last makes the op's output type.
TEST(Cost, OpPartsAddUpToTheOp) {
  TensorType x = T({"batch", "seq", "d:64"});
  struct Case {
    std::string op;
    Attrs attrs;
  };
  std::vector<Case> cases = {
      {"linear_attention", {{"heads", 4}}},
      {"linear_attention", {{"heads", 2}, {"bias", true}, {"causal", false}}},
      {"gated_delta", {{"heads", 4}}},
      {"gated_delta", {{"heads", 2}, {"head_dim", 8}, {"conv", 0}, {"gate", false}}},
      {"gated_delta", {{"heads", 4}, {"key_heads", 2}, {"head_dim", 8}}},
      {"mamba2", {{"heads", 8}}},
      {"mamba2", {{"heads", 8}, {"conv", 0}, {"state", 4}, {"expand", 1}}},
      {"mamba", {}},
      {"mamba", {{"bias", true}, {"conv", 0}, {"dbc_norm", std::string("rms")}}},
      {"attention", {{"heads", 4}, {"causal", true}, {"window", 8}}},
      {"attention", {{"heads", 2}, {"bias", false}}},
      {"attention", {{"heads", 4}, {"kv_heads", 2}, {"rope_theta", 1e4}, {"qk_norm", true}, {"gate", "element"}, {"out_bias", false}}},
      {"attention", {{"heads", 8}, {"kv_heads", 1}, {"head_dim", 16}, {"gate", "head"}, {"bias", false}}},
      {"latent_attention", {{"heads", 4}, {"q_lora_rank", 24}, {"kv_lora_rank", 16}, {"qk_nope_dim", 8}, {"qk_rope_dim", 4}, {"v_head_dim", 8}}},
      {"latent_attention", {{"heads", 2}, {"kv_lora_rank", 16}, {"qk_nope_dim", 0}, {"qk_rope_dim", 4}, {"v_head_dim", 8}, {"causal", true}}},
      {"lstm", {{"hidden", 32}, {"layers", 2}}},
      {"gru", {{"hidden", 48}, {"out_axis", "h"}}},
  };
  for (auto& k : cases) {
    SCOPED_TRACE(k.op + " " + std::to_string(k.attrs.size()) + " attributes");
    One whole = infer1(k.op, {x}, k.attrs);
    ASSERT_TRUE(whole.ok()) << whole.error;
    const OpDef* def = find_op(k.op);
    ASSERT_TRUE(def && def->parts);
    Node n = N("node", k.op, {}, k.attrs);
    std::vector<TensorType> in{x};
    Bindings b = B();
    OpCall c{n, *def, in, b};
    auto parts = def->parts(c);
    ASSERT_GE(parts.size(), 2u);
    int64_t sum = 0;
    std::set<std::string> names;
    for (size_t i = 0; i < parts.size(); ++i) {
      sum += parts[i].params;
      EXPECT_TRUE(names.insert(parts[i].name).second) << "two parts named " << parts[i].name;
      EXPECT_FALSE(parts[i].from.empty()) << parts[i].name;
      for (int f : parts[i].from) EXPECT_TRUE(f >= -1 && f < int(i)) << parts[i].name << " reads part " << f;
    }
    EXPECT_EQ(sum, whole.cost.params);
    EXPECT_EQ(to_string(parts.back().out), whole.out);
  }
  // Ops drawn only as boxes have no parts.
  EXPECT_FALSE(find_op("linear")->parts);
  EXPECT_FALSE(find_op("conv1d")->parts);
}

TEST(Cost, MoeParamsMatchPyTorch) {
  // class MoE(nn.Module): router = nn.Linear(d, E, bias=False); experts and shared experts are
  // nn.ModuleList of nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, d)); d=128, h=512, E=8.
  TensorType t = T({"batch", "seq", "d_model:128"});
  Node moe = ffn_block("moe", t, 512);
  moe.op = "moe";
  moe.attrs = {{"experts", 8}, {"k", 2}};
  One r = infer1(moe, {t});
  ASSERT_TRUE(r.ok()) << r.error;
  EXPECT_EQ(r.cost.params, 1054720);  // MoE(128, 512, E=8, shared=0)
  moe.attrs["shared_experts"] = int64_t(1);
  r = infer1(moe, {t});
  EXPECT_EQ(r.cost.params, 1186432);         // MoE(128, 512, E=8, shared=1)
  EXPECT_EQ(r.cost.active_params, 396160);   // router + (k=2 routed + 1 shared) experts
  // Qwen2-MoE's shared expert gate: nn.Linear(d, 1, bias=False), always active.
  moe.attrs["shared_gate"] = true;
  r = infer1(moe, {t});
  EXPECT_EQ(r.cost.params, 1186432 + 128);
  EXPECT_EQ(r.cost.active_params, 396160 + 128);
  // A dense layer's active parameters are all of them.
  EXPECT_EQ(infer1("linear", {t}, {{"out", 8}}).cost.active_params, 128 * 8 + 8);
}

TEST(Cost, LinearFlops) {
  // [batch=1, seq=16, d=256] -> 512: 16 rows x (2 x 256 x 512 multiply-add FLOPs + 512 bias adds).
  One r = infer1("linear", {T({"batch", "seq", "d:256"})}, {{"out", 512}}, B({{"seq", 16}}));
  EXPECT_EQ(r.cost.flops, 16 * (2 * 256 * 512 + 512));
  r = infer1("linear", {T({"batch", "seq", "d:256"})}, {{"out", 512}, {"bias", false}}, B({{"seq", 100}}));
  EXPECT_EQ(r.cost.flops, 100 * 2 * 256 * 512);
}

TEST(Cost, ConvFlops) {
  // 3 -> 16 channels, 3x3, 32x32 input, padding 1: 32x32 outputs x 16 channels x 3 x 9 MACs.
  One r = infer1("conv2d", {T({"batch", "c:3", "h:32", "w:32"})}, {{"out", 16}, {"kernel", I{3}}, {"padding", I{1}}});
  EXPECT_EQ(r.cost.flops, 2 * 32 * 32 * 16 * 3 * 9 + 32 * 32 * 16);
  // Stride 2 and groups 4: 16x16 outputs, 8 input channels per group.
  r = infer1("conv2d", {T({"batch", "c:32", "h:32", "w:32"})},
             {{"out", 64}, {"kernel", I{3}}, {"stride", I{2}}, {"padding", I{1}}, {"groups", 4}, {"bias", false}});
  EXPECT_EQ(r.cost.flops, 2 * 16 * 16 * 64 * 8 * 9);
}

TEST(Cost, AttentionFlops) {
  const int64_t T_ = 64, d = 128, h = 4;
  auto flops = [&](Attrs a) { return infer1("attention", {T({"batch", "seq", "d:128"})}, a, B({{"seq", T_}})).cost.flops; };
  auto expected = [&](int64_t pairs, bool bias) {
    return 2 * T_ * d * 4 * d + (bias ? 4 * T_ * d : 0) + 4 * pairs * d + 3 * pairs * h;
  };
  EXPECT_EQ(flops({{"heads", h}}), expected(T_ * T_, true));
  EXPECT_EQ(flops({{"heads", h}, {"causal", true}, {"bias", false}}), expected(T_ * (T_ + 1) / 2, false));
  // Causal sliding window of 8: query i sees min(i + 1, 8) keys.
  int64_t pairs = 0;
  for (int64_t i = 0; i < T_; ++i) pairs += std::min<int64_t>(i + 1, 8);
  EXPECT_EQ(flops({{"heads", h}, {"causal", true}, {"window", 8}}), expected(pairs, true));
  // Multi-query: k and v projections of one head (d/h wide); scores and mixing as many as before.
  EXPECT_EQ(flops({{"heads", h}, {"kv_heads", 1}, {"bias", false}}), 2 * T_ * d * (d + 2 * d / h) + 2 * T_ * d * d + 4 * T_ * T_ * d + 3 * T_ * T_ * h);
  // Rotary positions: 3 FLOPs per rotated element of q and k.
  EXPECT_EQ(flops({{"heads", h}, {"rope_theta", 1e4}}) - flops({{"heads", h}}), 3 * T_ * 2 * d);
}

// What a sequence keeps at inference, per op (elements), against the figures derived by hand.
TEST(Cost, InferenceMemoryOfEveryMixer) {
  auto mem = [](const std::string& op, const TensorType& t, Attrs a) { return infer1(op, {t}, a, B({{"seq", 64}})).cost.inference; };
  TensorType x = T({"batch", "seq", "d:64"});
  // Llama-3-8B's attention: k and v of 8 kv heads of 128 per token, 2 x 8 x 128 = 2048 elements.
  auto llama = mem("attention", T({"batch", "seq", "d:4096"}), {{"heads", 32}, {"kv_heads", 8}, {"bias", false}});
  EXPECT_EQ(llama.per_token, 2048);
  EXPECT_EQ(llama.state, 0);
  EXPECT_EQ(llama.at(1000), 2048 * 1000);
  // A sliding window caps it (Mistral 7B: window 4096).
  auto swa = mem("attention", T({"batch", "seq", "d:4096"}), {{"heads", 32}, {"kv_heads", 8}, {"window", 4096}});
  EXPECT_EQ(swa.per_token, 0);
  EXPECT_EQ(swa.at(1000), 2048 * 1000);
  EXPECT_EQ(swa.at(100000), 2048 * 4096);
  // DeepSeek-V3's latent attention keeps the 512-wide latent and the 64-wide rotary key, not per-head keys.
  auto mla = mem("latent_attention", T({"batch", "seq", "d:7168"}),
                 {{"heads", 128}, {"q_lora_rank", 1536}, {"kv_lora_rank", 512}, {"qk_nope_dim", 128}, {"qk_rope_dim", 64}, {"v_head_dim", 128}});
  EXPECT_EQ(mla.per_token, 576);
  // Recurrent mixers keep a state whatever the context.
  auto gd = mem("gated_delta", x, {{"heads", 4}});  // dh 16, conv 4 over q k v (3 x 64 channels)
  EXPECT_EQ(gd.state, 4 * 16 * 16 + 3 * 64 * 3);
  EXPECT_EQ(gd.at(1), gd.at(100000));
  auto m2 = mem("mamba2", x, {{"heads", 8}});  // inner 128, P 16, N 16 (default), conv 4 over x, B, C
  EXPECT_EQ(m2.state, 8 * 16 * 16 + (128 + 2 * 16) * 3);
  auto m1 = mem("mamba", x, {});  // a state of 16 per channel (128 of them), conv 4 over x only
  EXPECT_EQ(m1.state, 128 * 16 + 128 * 3);
  EXPECT_EQ(m1.per_token, 0);
  EXPECT_EQ(mem("lstm", x, {{"hidden", 32}, {"layers", 2}}).state, 2 * 2 * 32);
  EXPECT_EQ(mem("gru", x, {{"hidden", 32}}).state, 32);
  EXPECT_EQ(mem("linear_attention", x, {{"heads", 4}}).state, 4 * 16 * 17);  // normalised: a column of ones rides along
  EXPECT_TRUE(mem("linear_attention", x, {{"heads", 4}, {"causal", false}}).empty());
  EXPECT_EQ(mem("conv1d", x, {{"kernel", 4}, {"depthwise", true}}).state, 3 * 64);
  EXPECT_TRUE(mem("linear", x, {{"out", 8}}).empty());
  // Two sequences per example (an extra axis folded into the batch) keep two caches.
  EXPECT_EQ(mem("attention", T({"batch", "x:2", "seq", "d:64"}), {{"heads", 4}}).per_token, 2 * 2 * 64);
}

TEST(Cost, InferenceMemorySumsOverLayersAndFollowsEdits) {
  // A hybrid: full attention, windowed attention and a gated delta layer.
  Graph g = G({In("x", T({"batch", "seq", "d:64"})), N("full", "attention", {"x"}, {{"heads", 4}, {"kv_heads", 1}}),
               N("local", "attention", {"full"}, {{"heads", 4}, {"window", 16}}), N("rec", "gated_delta", {"local"}, {{"heads", 4}})},
              {"rec"});
  GraphAnalysis a = analyze(g, B({{"seq", 32}}));
  ASSERT_TRUE(a.ok());
  const InferenceMemory& m = a.total.inference;
  int64_t full = 2 * 16, local = 2 * 64, state = 4 * 16 * 16 + 3 * 64 * 3;
  EXPECT_EQ(m.per_token_unbounded(), full + local);
  EXPECT_EQ(m.at(10), 10 * (full + local) + state);
  EXPECT_EQ(m.at(1000), 1000 * full + 16 * local + state);
  // An edit re-analysed by difference gives what a fresh analysis gives.
  g.nodes[2].attrs["window"] = int64_t(0);
  reanalyze(a, g, B({{"seq", 32}}), {2});
  EXPECT_EQ(a.total.inference, analyze(g, B({{"seq", 32}})).total.inference);
  EXPECT_EQ(a.total.inference.at(1000), 1000 * (full + local) + state);
  EXPECT_TRUE(a.total.inference.windowed.empty()) << "a window removed leaves no empty entry";
}

TEST(Cost, TotalsAreSumsAndActivationMemoryCountsOutputs) {
  Graph g = G({In("x", T({"batch", "d:10"})), N("fc", "linear", {"x"}, {{"out", 20}}), N("act", "relu", {"fc"}),
               N("out", "linear", {"act"}, {{"out", 5}})},
              {"out"});
  GraphAnalysis a = analyze(g, B());
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a.total.params, (10 * 20 + 20) + (20 * 5 + 5));
  EXPECT_EQ(a.total.flops, (2 * 10 * 20 + 20) + 20 + (2 * 20 * 5 + 5));
  EXPECT_EQ(a.total.activation_bytes, (10 + 20 + 20 + 5) * 4);
  // Symbols scale costs; batch never does (costs are per example).
  GraphAnalysis big = analyze(G({In("x", T({"batch", "seq", "d:10"})), N("fc", "linear", {"x"}, {{"out", 20}})}, {"fc"}),
                              B({{"seq", 7}}));
  EXPECT_EQ(big.total.flops, 7 * (2 * 10 * 20 + 20));
}

TEST(Cost, ExamplesHaveTheExpectedTotals) {
  // The example MLP: 784 -> 256 -> 128 -> 10, all with biases.
  auto c = load_circuit(source("resources/examples/mlp.circuit.json"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  GraphAnalysis a = analyze(*c);
  EXPECT_EQ(a.total.params, (784 * 256 + 256) + (256 * 128 + 128) + (128 * 10 + 10));
}

}  // namespace
}  // namespace circuit::test
