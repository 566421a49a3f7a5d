// Modern attention (grouped-query heads, a head size of their own, rotary positions, q/k norm, the
// output gate, biases per projection) against plain references written here from the formulas:
// loops over heads and positions in double precision, nothing shared with the engine's code.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>

#include "../circuit/helpers.h"
#include "circuit/analysis.h"
#include "circuit/attention.h"
#include "base/file.h"
#include "circuit/circuit_file.h"
#include "circuit/hf_import.h"
#include "engine/model.h"

namespace {

using namespace circuit;
using namespace circuit::test;
using engine::Model;

struct AttnCase {
  Attrs attrs;
  int64_t d = 16;
};

std::unique_ptr<Model> attn_compile(const AttnCase& k, int64_t seed = 3) {
  auto m = Model::compile(one_op(N("attn", "attention", {}, k.attrs), {T({"batch", "seq", "d:" + std::to_string(k.d)})}, {{"seq", 7}}), seed);
  EXPECT_TRUE(m.ok()) << m.error().message;
  if (!m.ok()) return nullptr;
  // Non-zero biases and norm scales, so a misplaced one shows.
  torch::NoGradGuard ng;
  for (auto& p : (*m)->module().named_parameters()) p.value().add_(torch::randn_like(p.value()) * 0.1);
  (*m)->set_training(false);
  return std::move(*m);
}

// The rotation of one (a, b) pair at position t, pair index i of r/2: angle t / theta^(2i / r).
void rotate_pair(double& a, double& b, int64_t t, int64_t i, int64_t r, double theta) {
  double ang = double(t) / std::pow(theta, 2.0 * double(i) / double(r)), c = std::cos(ang), s = std::sin(ang);
  double a2 = a * c - b * s, b2 = b * c + a * s;
  a = a2, b = b2;
}

// The layer's output for x [B, T, d], from its parameters, head by head and position by position.
at::Tensor attn_reference(const Model& m, const AttentionLayout& L, bool causal, int64_t window, const at::Tensor& x) {
  auto P = m.module().named_parameters();
  auto get = [&](const std::string& n) { return P.contains("attn." + n) ? P["attn." + n].detach().to(torch::kDouble) : at::Tensor(); };
  at::Tensor W = get("in_proj_weight"), bW = get("in_proj_bias"), Wo = get("out_proj.weight"), bo = get("out_proj.bias");
  at::Tensor Wg = get("gate_proj_weight"), bg = get("gate_proj_bias"), qn = get("q_norm_weight"), kn = get("k_norm_weight");
  int64_t B = x.size(0), T = x.size(1), H = L.heads, KV = L.kv_heads, dh = L.head_dim, G = H / KV;
  at::Tensor X = x.to(torch::kDouble), out = torch::zeros({B, T, L.d}, torch::kDouble);
  auto project = [&](const at::Tensor& xb, int64_t row, int64_t n) {  // [T, n] from rows row..row+n
    at::Tensor y = xb.matmul(W.narrow(0, row, n).t());
    return bW.defined() ? y + bW.narrow(0, row, n) : y;
  };
  auto norm = [&](at::Tensor v, const at::Tensor& w) { return w.defined() ? v / (v.pow(2).mean(-1, true) + 1e-6).sqrt() * w : v; };
  auto positions = [&](at::Tensor v) {  // rotary positions on the first rope_dims dimensions
    v = v.clone();
    auto a = v.accessor<double, 2>();
    int64_t r = L.rope_dims;
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < r / 2; ++i) {
        int64_t j1 = L.rope_interleaved ? 2 * i : i, j2 = L.rope_interleaved ? 2 * i + 1 : i + r / 2;
        rotate_pair(a[t][j1], a[t][j2], t, i, r, L.rope_theta);
      }
    return v;
  };
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor xb = X[b], ctx = torch::zeros({T, H * dh}, torch::kDouble);
    at::Tensor gate = Wg.defined() ? torch::sigmoid(bg.defined() ? xb.matmul(Wg.t()) + bg : xb.matmul(Wg.t())) : at::Tensor();
    for (int64_t h = 0; h < H; ++h) {
      int64_t kvh = h / G;  // query head h reads key/value head h / G
      at::Tensor q = norm(project(xb, h * dh, dh), qn), k = norm(project(xb, H * dh + kvh * dh, dh), kn);
      at::Tensor v = project(xb, (H + KV) * dh + kvh * dh, dh);
      if (L.rope_dims) q = positions(q), k = positions(k);
      at::Tensor s = q.matmul(k.t()) / std::sqrt(double(dh));
      for (int64_t i = 0; i < T; ++i)
        for (int64_t j = 0; j < T; ++j)
          if ((causal && j > i) || (window && std::abs(i - j) >= window)) s[i][j] = -INFINITY;
      at::Tensor o = torch::softmax(s, -1).matmul(v);  // [T, dh]
      if (L.gate == 1) o = o * gate.narrow(1, h, 1);
      if (L.gate > 1) o = o * gate.narrow(1, h * dh, dh);
      ctx.narrow(1, h * dh, dh).copy_(o);
    }
    out[b] = bo.defined() ? ctx.matmul(Wo.t()) + bo : ctx.matmul(Wo.t());
  }
  return out.to(torch::kFloat);
}

AttentionLayout attn_layout(const AttnCase& k) {
  Node n = N("attn", "attention", {}, k.attrs);
  std::vector<TensorType> in{T({"batch", "seq", "d:" + std::to_string(k.d)})};
  Bindings b;
  OpCall c{n, *find_op("attention"), in, b};
  return *attention_layout(c, k.d);
}

TEST(Attention, EveryAttributeEqualsAPlainReference) {
  std::vector<AttnCase> cases = {
      {{{"heads", 4}}},
      {{{"heads", 4}, {"kv_heads", 2}}},                                             // grouped-query
      {{{"heads", 4}, {"kv_heads", 1}, {"causal", true}}},                           // multi-query
      {{{"heads", 3}, {"head_dim", 6}, {"kv_heads", 1}}},                            // heads × head_dim ≠ d
      {{{"heads", 2}, {"rope_theta", 10000.0}, {"causal", true}}},                   // RoPE, halves
      {{{"heads", 2}, {"rope_theta", 500.0}, {"rope_layout", std::string("interleaved")}}},
      {{{"heads", 2}, {"rope_theta", 10000.0}, {"rope_fraction", 0.25}}},            // partial rotary: 2 of 8 dims
      {{{"heads", 4}, {"qk_norm", true}, {"window", 3}}},
      {{{"heads", 4}, {"gate", std::string("head")}}},
      {{{"heads", 4}, {"head_dim", 8}, {"kv_heads", 2}, {"gate", std::string("element")}, {"qk_norm", true}, {"rope_theta", 1e6},
        {"rope_fraction", 0.5}, {"causal", true}}},  // Qwen3-Next's gated attention, small
      {{{"heads", 4}, {"bias", true}, {"out_bias", false}}},                         // Qwen2: q k v biases only
      {{{"heads", 4}, {"bias", false}, {"out_bias", true}}},
  };
  int k = 0;
  for (auto& c : cases) {
    SCOPED_TRACE("case " + std::to_string(k++));
    auto m = attn_compile(c);
    ASSERT_TRUE(m);
    AttentionLayout L = attn_layout(c);
    torch::manual_seed(5);
    at::Tensor x = torch::randn({2, 7, c.d});
    torch::NoGradGuard ng;
    at::Tensor got = m->forward({x})[0];
    bool causal = c.attrs.count("causal") && std::get<bool>(c.attrs.at("causal"));
    int64_t window = c.attrs.count("window") ? std::get<int64_t>(c.attrs.at("window")) : 0;
    at::Tensor want = attn_reference(*m, L, causal, window, x);
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-5);
    EXPECT_GT(want.abs().max().item<double>(), 1e-2) << "a reference of zeros checks nothing";
  }
}

TEST(Attention, GroupedQueryEqualsMultiHeadWithRepeatedKeyValueHeads) {
  // heads=4, kv_heads=2: the same as 4 full heads whose k and v projections repeat each kv head twice.
  auto gqa = attn_compile({{{"heads", 4}, {"kv_heads", 2}, {"rope_theta", 10000.0}, {"causal", true}}});
  auto mha = attn_compile({{{"heads", 4}, {"rope_theta", 10000.0}, {"causal", true}}});
  ASSERT_TRUE(gqa && mha);
  {
    torch::NoGradGuard ng;
    auto from = gqa->module().named_parameters(), to = mha->module().named_parameters();
    int64_t dh = 4;
    auto repeat = [&](const at::Tensor& t) {  // q rows as they are, k and v rows of each kv head twice
      std::vector<at::Tensor> parts{t.narrow(0, 0, 16)};
      for (int64_t part = 0; part < 2; ++part)
        for (int64_t h = 0; h < 4; ++h) parts.push_back(t.narrow(0, 16 + part * 8 + (h / 2) * dh, dh));
      return torch::cat(parts);
    };
    to["attn.in_proj_weight"].copy_(repeat(from["attn.in_proj_weight"]));
    to["attn.in_proj_bias"].copy_(repeat(from["attn.in_proj_bias"]));
    to["attn.out_proj.weight"].copy_(from["attn.out_proj.weight"]);
    to["attn.out_proj.bias"].copy_(from["attn.out_proj.bias"]);
  }
  EXPECT_EQ(gqa->parameter_count() + 2 * (16 * 8 + 8), mha->parameter_count()) << "two kv heads fewer for k and for v";
  torch::manual_seed(1);
  at::Tensor x = torch::randn({3, 7, 16});
  torch::NoGradGuard ng;
  EXPECT_LE((gqa->forward({x})[0] - mha->forward({x})[0]).abs().max().item<double>(), 1e-5);
}

TEST(Attention, GradientsMatchFiniteDifferences) {
  // Every parameter of the fullest layout, in double precision, against central differences.
  auto m = attn_compile({{{"heads", 4}, {"head_dim", 4}, {"kv_heads", 2}, {"gate", std::string("element")}, {"qk_norm", true},
                     {"rope_theta", 1000.0}, {"rope_fraction", 0.5}, {"causal", true}, {"window", 4}, {"out_bias", false}}});
  ASSERT_TRUE(m);
  m->module().to(torch::kDouble);
  torch::manual_seed(4);
  at::Tensor x = torch::randn({2, 7, 16}, torch::kDouble);
  auto loss = [&] { return m->forward({x})[0].pow(2).sum(); };
  for (auto& p : m->module().parameters()) p.mutable_grad() = at::Tensor();
  loss().backward();
  int checked = 0;
  for (auto& p : m->module().named_parameters()) {
    SCOPED_TRACE(p.key());
    at::Tensor w = p.value(), g = w.grad();
    ASSERT_TRUE(g.defined());
    torch::NoGradGuard ng;
    for (int64_t i : {int64_t(0), w.numel() / 2, w.numel() - 1}) {
      at::Tensor flat = w.view({-1});
      double keep = flat[i].item<double>(), eps = 1e-6;
      flat[i] = keep + eps;
      double up = loss().item<double>();
      flat[i] = keep - eps;
      double down = loss().item<double>();
      flat[i] = keep;
      double numeric = (up - down) / (2 * eps), analytic = g.view({-1})[i].item<double>();
      EXPECT_NEAR(analytic, numeric, 1e-5 * std::max(1.0, std::abs(numeric)));
      ++checked;
    }
  }
  EXPECT_EQ(checked, 3 * 7) << "in_proj weight and bias, out_proj.weight, gate_proj weight and bias, q and k norms";
}

TEST(Attention, OldFilesKeepTheirLayoutAndParameterNames) {
  // bias=false alone still means no bias anywhere (out_bias follows it), and the parameters keep
  // nn.MultiheadAttention's names and shapes, so checkpoints written before the new attributes load.
  auto m = attn_compile({{{"heads", 4}, {"bias", false}}});
  ASSERT_TRUE(m);
  std::vector<std::string> names;
  for (auto& p : m->module().named_parameters()) names.push_back(p.key() + " " + c10::str(p.value().sizes()));
  EXPECT_EQ(names, (std::vector<std::string>{"attn.in_proj_weight [48, 16]", "attn.out_proj.weight [16, 16]"}));
}

// Multi-head latent attention against its unabsorbed formula, head by head in double precision:
// each head's key is [k_nope_h | rope(k_r)] and its query [q_nope_h | rope(q_r,h)], concatenated.
at::Tensor latent_reference(const Model& m, const LatentLayout& L, bool causal, const at::Tensor& x) {
  auto P = m.module().named_parameters();
  auto get = [&](const std::string& n) { return P.contains("mla." + n) ? P["mla." + n].detach().to(torch::kDouble) : at::Tensor(); };
  int64_t B = x.size(0), T = x.size(1), H = L.heads, qk = L.qk_dim();
  at::Tensor X = x.to(torch::kDouble), out = torch::zeros({B, T, L.d}, torch::kDouble);
  auto norm = [](const at::Tensor& v, const at::Tensor& w) { return v / (v.pow(2).mean(-1, true) + 1e-6).sqrt() * w; };
  auto positions = [&](at::Tensor v) {  // [T, rope]
    v = v.clone();
    auto a = v.accessor<double, 2>();
    for (int64_t t = 0; t < T; ++t)
      for (int64_t i = 0; i < L.rope / 2; ++i) {
        int64_t j1 = L.rope_interleaved ? 2 * i : i, j2 = L.rope_interleaved ? 2 * i + 1 : i + L.rope / 2;
        rotate_pair(a[t][j1], a[t][j2], t, i, L.rope, L.rope_theta);
      }
    return v;
  };
  for (int64_t b = 0; b < B; ++b) {
    at::Tensor xb = X[b];
    at::Tensor q = L.q_lora ? norm(xb.matmul(get("q_a_proj_weight").t()), get("q_a_norm_weight")).matmul(get("q_b_proj_weight").t())
                            : xb.matmul(get("q_proj_weight").t());  // [T, H qk]
    at::Tensor lat = xb.matmul(get("kv_a_proj_weight").t());
    at::Tensor kv = norm(lat.narrow(1, 0, L.kv_lora), get("kv_a_norm_weight")).matmul(get("kv_b_proj_weight").t());  // [T, H (nope + v)]
    at::Tensor k_r = positions(lat.narrow(1, L.kv_lora, L.rope));
    at::Tensor ctx = torch::zeros({T, H * L.v_dim}, torch::kDouble);
    for (int64_t h = 0; h < H; ++h) {
      at::Tensor qh = q.narrow(1, h * qk, qk), kvh = kv.narrow(1, h * (L.nope + L.v_dim), L.nope + L.v_dim);
      at::Tensor qf = torch::cat({qh.narrow(1, 0, L.nope), positions(qh.narrow(1, L.nope, L.rope))}, 1);
      at::Tensor kf = torch::cat({kvh.narrow(1, 0, L.nope), k_r}, 1);
      at::Tensor s = qf.matmul(kf.t()) / std::sqrt(double(qk));
      if (causal) s = s.masked_fill(torch::ones({T, T}, torch::kBool).triu(1), -INFINITY);
      ctx.narrow(1, h * L.v_dim, L.v_dim).copy_(torch::softmax(s, -1).matmul(kvh.narrow(1, L.nope, L.v_dim)));
    }
    out[b] = ctx.matmul(get("o_proj_weight").t());
  }
  return out.to(torch::kFloat);
}

TEST(LatentAttention, EqualsItsUnabsorbedFormula) {
  std::vector<Attrs> cases = {
      {{"heads", 4}, {"q_lora_rank", 6}, {"kv_lora_rank", 8}, {"qk_nope_dim", 4}, {"qk_rope_dim", 2}, {"v_head_dim", 3}, {"causal", true}},
      {{"heads", 2}, {"kv_lora_rank", 5}, {"qk_nope_dim", 6}, {"qk_rope_dim", 4}, {"v_head_dim", 8}, {"rope_layout", std::string("interleaved")},
       {"rope_theta", 50.0}},
      {{"heads", 3}, {"q_lora_rank", 4}, {"kv_lora_rank", 4}, {"qk_nope_dim", 0}, {"qk_rope_dim", 4}, {"v_head_dim", 2}, {"causal", true}},
  };
  int k = 0;
  for (auto& attrs : cases) {
    SCOPED_TRACE("case " + std::to_string(k++));
    Node n = N("mla", "latent_attention", {}, attrs);
    auto m = Model::compile(one_op(n, {T({"batch", "seq", "d:16"})}, {{"seq", 7}}), 3);
    ASSERT_TRUE(m.ok()) << m.error().message;
    {
      torch::NoGradGuard ng;
      for (auto& p : (*m)->module().named_parameters()) p.value().add_(torch::randn_like(p.value()) * 0.1);
    }
    std::vector<TensorType> in{T({"batch", "seq", "d:16"})};
    Bindings b;
    OpCall c{n, *find_op("latent_attention"), in, b};
    LatentLayout L = latent_layout(c, 16);
    EXPECT_EQ((*m)->parameter_count(), L.params());
    torch::manual_seed(5);
    at::Tensor x = torch::randn({2, 7, 16});
    torch::NoGradGuard ng;
    at::Tensor got = (*m)->forward({x})[0];
    at::Tensor want = latent_reference(**m, L, attrs.count("causal") > 0, x);
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-5);
    EXPECT_GT(want.abs().max().item<double>(), 1e-2);
  }
}

TEST(TiedEmbeddings, TheHeadReadsTheEmbeddingTableAndTrainsIt) {
  Circuit c = *load_circuit(std::string(CIRCUIT_SOURCE_DIR) + "/tests/data/fixtures/tied_lm.circuit.json");
  auto m = Model::compile(c, 1);
  ASSERT_TRUE(m.ok()) << m.error().message;
  EXPECT_EQ((*m)->parameter_count(), 8 * 16 + 16) << "the table once, and the norm";
  EXPECT_EQ((*m)->parameter_count(), analyze(c).total.params);
  at::Tensor table = (*m)->module().named_parameters()["embed.weight"];
  at::Tensor tokens = torch::randint(0, 8, {2, 7}, torch::kLong);
  at::Tensor logits = (*m)->forward({tokens})[0];
  {
    torch::NoGradGuard ng;
    at::Tensor h = table.index_select(0, tokens.reshape({-1}));
    h = h * torch::rsqrt(h.pow(2).mean(-1, true) + 1e-5);
    at::Tensor want = h.matmul(table.t()).reshape({2, 7, 8});
    EXPECT_LE((logits - want).abs().max().item<double>(), 1e-4);
  }
  // The table gets gradient from both ends: every row from the head, not only the rows looked up.
  logits.pow(2).sum().backward();
  EXPECT_GT(table.grad().abs().sum(1).gt(0).sum().item<int64_t>(), 0);
  EXPECT_EQ(table.grad().abs().sum(1).gt(0).sum().item<int64_t>(), 8);
  // A tie to something that is not an embedding is an error naming both.
  c.graph.nodes[3].attrs["tie"] = std::string("norm");
  auto bad = Model::compile(c, 1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("node `head`: tie = `norm` names no embedding node"), std::string::npos) << bad.error().message;
}

TEST(HfImportEngine, FullSizeDeepSeekV3IsRefusedBeforeAnyAllocationWithTheNumbers) {
  auto text = base::read_file(std::string(CIRCUIT_SOURCE_DIR) + "/tests/data/hf/full/deepseek-v3.json");
  ASSERT_TRUE(text.ok());
  auto imp = import_hf_config(*base::parse_json(*text), "deepseek-v3");
  ASSERT_TRUE(imp.ok()) << imp.error().message;
  auto m = Model::compile(imp->circuit, 0);
  ASSERT_FALSE(m.ok()) << "671 B parameters do not fit in this machine's memory";
  EXPECT_NE(m.error().message.find("the circuit has 671026404352 parameters: its weights alone take"), std::string::npos) << m.error().message;
}

}  // namespace
