// The linear-recurrent mixers against their references: the chunked recurrence equals the
// step-by-step one (outputs and gradients, several chunk sizes, lengths that are not multiples
// of the chunk); each mixer op gives the same outputs and gradients at every chunk size; the
// TorchScript export reproduces the compiled model.
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>

#include "../circuit/helpers.h"
#include "circuit/circuit_file.h"
#include "circuit/templates.h"
#include "engine/detail/recurrence.h"
#include "engine/export.h"
#include "engine/data.h"
#include "engine/model.h"
#include "search/trial_runner.h"

namespace engine {
namespace {

using namespace circuit;
using namespace circuit::test;
using detail::Recurrence;

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

struct Outcome {
  at::Tensor out;
  std::vector<at::Tensor> grads;  // q, k, v, g, beta
};

// Outputs, and gradients of a fixed random projection of them, for one form of the recurrence.
template <class F>
Outcome run(const Recurrence& leaf, const at::Tensor& probe, F form) {
  std::vector<at::Tensor> in{leaf.q, leaf.k, leaf.v, leaf.g, leaf.beta};
  for (auto& t : in) t = t.detach().clone().requires_grad_(true);
  Recurrence r{in[0], in[1], in[2], in[3], in[4], leaf.delta};
  Outcome out;
  out.out = form(r);
  (out.out * probe).sum().backward();
  for (auto& t : in) out.grads.push_back(t.grad());
  return out;
}

Recurrence random_recurrence(int64_t T, bool delta, uint64_t seed) {
  torch::manual_seed(seed);
  int64_t B = 2, H = 3, dk = 4, dv = 5;  // dk != dv catches a transposed state
  Recurrence r;
  r.q = torch::randn({B, H, T, dk});
  r.k = torch::nn::functional::normalize(torch::randn({B, H, T, dk}), torch::nn::functional::NormalizeFuncOptions().dim(-1));
  r.v = torch::randn({B, H, T, dv});
  r.g = -torch::softplus(torch::randn({B, H, T}));  // decays in (0, 1)
  r.beta = torch::sigmoid(torch::randn({B, H, T}));
  r.delta = delta;
  return r;
}

// The chunked form against the step-by-step one: outputs and the gradients of every input.
void expect_chunked_equals_stepwise(const Recurrence& r, int64_t chunk) {
  at::Tensor probe = torch::randn({2, 3, r.q.size(2), 5});
  Outcome ref = run(r, probe, [](const Recurrence& x) { return detail::recurrence_stepwise(x); });
  Outcome got = run(r, probe, [chunk](const Recurrence& x) { return detail::recurrence_chunked(x, chunk); });
  ASSERT_EQ(got.out.sizes(), ref.out.sizes());
  EXPECT_LE(max_diff(got.out, ref.out), 1e-5);
  const char* names[] = {"q", "k", "v", "g", "beta"};
  for (size_t i = 0; i < 5; ++i) EXPECT_LE(max_diff(got.grads[i], ref.grads[i]), 1e-5) << "gradient of " << names[i];
  EXPECT_GT(ref.out.abs().max().item<double>(), 0.1);  // not trivially zero
}

TEST(Recurrence, ChunkedEqualsStepByStepInOutputsAndGradients) {
  for (bool delta : {false, true})
    for (int64_t T : {1, 7, 13, 16})
      for (int64_t chunk : {1, 2, 4, 5, 16, 64}) {
        SCOPED_TRACE((delta ? "delta, T=" : "plain, T=") + std::to_string(T) + ", chunk=" + std::to_string(chunk));
        Recurrence r = random_recurrence(T, delta, 11 + T);
        expect_chunked_equals_stepwise(r, chunk);
      }
}

TEST(Recurrence, QueriesAndKeysSharedByTheHeadsEqualCopiesPerHead) {
  // Mamba-2 passes B and C with one head for all; the result must equal explicit copies.
  for (bool delta : {false, true}) {
    Recurrence r = random_recurrence(9, delta, 21);
    r.q = r.q.narrow(1, 0, 1), r.k = r.k.narrow(1, 0, 1);
    Recurrence copies = r;
    copies.q = r.q.expand({2, 3, 9, 4}).contiguous(), copies.k = r.k.expand({2, 3, 9, 4}).contiguous();
    at::Tensor ref = detail::recurrence_stepwise(copies);
    EXPECT_LE(max_diff(detail::recurrence_chunked(r, 4), ref), 1e-5) << (delta ? "delta" : "plain");
    EXPECT_LE(max_diff(detail::recurrence_stepwise(r), ref), 1e-6) << (delta ? "delta" : "plain");
  }
}

TEST(Recurrence, TheDeltaRuleIsTheIssuesFormula) {
  // S_t = S_{t-1} a_t (I - b_t k_t k_t^T) + b_t v_t k_t^T, o_t = S_t q_t, with S of [dv, dk], written
  // here literally for one head and compared with the reference (whose state is S^T).
  Recurrence r = random_recurrence(6, true, 5);
  at::Tensor ref = detail::recurrence_stepwise(r);
  at::Tensor S = torch::zeros({5, 4});
  for (int64_t t = 0; t < 6; ++t) {
    at::Tensor k = r.k[1][2][t].unsqueeze(1), v = r.v[1][2][t].unsqueeze(1), q = r.q[1][2][t].unsqueeze(1);
    double a = std::exp(r.g[1][2][t].item<double>()), b = r.beta[1][2][t].item<double>();
    S = torch::matmul(S * a, torch::eye(4) - b * torch::matmul(k, k.t())) + b * torch::matmul(v, k.t());
    EXPECT_LE(max_diff(torch::matmul(S, q).squeeze(1), ref[1][2][t]), 1e-5) << "t=" << t;
  }
}

TEST(Recurrence, ADecayPerKeyDimensionChunkedEqualsStepByStep) {
  // The GLA form Mamba-1 runs: g of [B, H, T, dk]; with q and k shared by the heads, as Mamba's B and C.
  for (bool shared : {false, true})
    for (int64_t T : {1, 7, 16})
      for (int64_t chunk : {1, 3, 4, 16}) {
        SCOPED_TRACE(std::string(shared ? "shared q/k" : "q/k per head") + ", T=" + std::to_string(T) + ", chunk=" + std::to_string(chunk));
        Recurrence r = random_recurrence(T, false, 31 + T);
        r.g = -torch::softplus(torch::randn({2, 3, T, 4})) * 2;  // strong decays: exp(G_i - G_j) spans many magnitudes
        if (shared) r.q = r.q.narrow(1, 0, 1).contiguous(), r.k = r.k.narrow(1, 0, 1).contiguous();
        expect_chunked_equals_stepwise(r, chunk);
      }
  // One decay repeated over the key dimensions is the scalar decay.
  Recurrence r = random_recurrence(9, false, 4);
  Recurrence per_dim = r;
  per_dim.g = r.g.unsqueeze(-1).expand({2, 3, 9, 4}).contiguous();
  EXPECT_LE(max_diff(detail::recurrence_chunked(per_dim, 4), detail::recurrence_stepwise(r)), 1e-5);
  // The delta rule with a decay per dimension is not defined here: refused, not silently wrong.
  per_dim.delta = true;
  EXPECT_THROW(detail::recurrence_chunked(per_dim, 4), c10::Error);
}

// One mixer node on [batch, seq, d].
Circuit mixer(const std::string& op, Attrs attrs, int64_t d = 16) {
  Circuit c;
  c.graph.nodes = {In("x", T({"batch", "seq", "d:" + std::to_string(d)})), N("mix", op, {"x"}, std::move(attrs))};
  c.graph.outputs = {{"mix", 0}};
  c.symbols = {{"seq", 11}};  // the compiled model takes any length; the analysis wants one
  return c;
}

std::vector<std::pair<std::string, Attrs>> mixer_cases() {
  return {
      {"linear_attention", {{"heads", 2}}},
      {"linear_attention", {{"heads", 4}, {"feature_map", std::string("relu")}, {"normalize", false}, {"bias", true}}},
      {"gated_delta", {{"heads", 2}}},
      {"gated_delta", {{"heads", 2}, {"head_dim", 4}, {"conv", 0}, {"gate", false}}},
      {"gated_delta", {{"heads", 4}, {"key_heads", 2}, {"head_dim", 4}}},  // grouped value heads (Qwen3-Next)
      {"mamba2", {{"heads", 4}, {"state", 8}}},
      {"mamba2", {{"heads", 2}, {"state", 4}, {"expand", 1}, {"conv", 0}}},
      {"mamba", {{"state", 4}}},
      {"mamba", {{"state", 3}, {"expand", 1}, {"conv", 0}, {"dt_rank", 2}, {"bias", true}, {"dbc_norm", std::string("rms")}}},
      {"mamba", {{"state", 2}, {"conv_bias", false}, {"dbc_norm", std::string("rms_unscaled")}}},
  };
}

TEST(Mixers, GroupedValueHeadsEqualFullHeadsWithRepeatedQueriesAndKeys) {
  // key_heads=2 serving 4 value heads is the same layer as 4 q/k heads whose projection rows and
  // conv channels repeat each q/k head for the value heads after it.
  auto gva = Model::compile(mixer("gated_delta", {{"heads", 4}, {"key_heads", 2}, {"head_dim", 4}}), 5);
  auto full = Model::compile(mixer("gated_delta", {{"heads", 4}, {"head_dim", 4}}), 6);
  ASSERT_TRUE(gva.ok() && full.ok());
  int64_t dh = 4, kw = 2 * dh, inner = 4 * dh;
  auto repeat = [&](const at::Tensor& t) {  // rows [q 2 heads | k 2 heads | v 4 heads] -> [q 4 | k 4 | v 4]
    std::vector<at::Tensor> rows;
    for (int64_t part = 0; part < 2; ++part)
      for (int64_t h = 0; h < 4; ++h) rows.push_back(t.narrow(0, part * kw + (h / 2) * dh, dh));
    rows.push_back(t.narrow(0, 2 * kw, inner));
    return torch::cat(rows);
  };
  {
    torch::NoGradGuard ng;
    auto from = (*gva)->module().named_parameters(), to = (*full)->module().named_parameters();
    for (auto& p : to) {
      std::string k = p.key();
      bool qk = k.find("w_qkv") != std::string::npos || k.find(".conv") != std::string::npos;
      p.value().copy_(qk ? repeat(from[k]) : from[k]);
    }
  }
  EXPECT_EQ((*gva)->parameter_count() + (16 + 4) * 2 * 2 * dh, (*full)->parameter_count()) << "two q/k heads fewer, projection and conv";
  torch::manual_seed(1);
  at::Tensor x = torch::randn({2, 11, 16});
  torch::NoGradGuard ng;
  EXPECT_LE(max_diff((*gva)->forward({x})[0], (*full)->forward({x})[0]), 1e-5);
}

// Mamba-1's selective scan as its reference implementation writes it (mamba_simple's
// selective_scan_ref, HF's MambaMixer.slow_forward): one step per position over a state
// [batch, channels, N], from the node's own parameters.
at::Tensor mamba_reference(const torch::nn::Module& m, const at::Tensor& x, int64_t N, int64_t R, const std::string& norm) {
  auto p = m.named_parameters();
  auto get = [&](const std::string& k) { return p.contains("mix." + k) ? p["mix." + k] : at::Tensor(); };
  at::Tensor w_in = get("w_in"), A = -get("A_log").exp(), D = get("D");
  int64_t inner = w_in.size(0) / 2, T = x.size(1);
  at::Tensor xz = torch::linear(x, w_in, get("b_in"));
  at::Tensor u = xz.narrow(-1, 0, inner), z = xz.narrow(-1, inner, inner);
  if (at::Tensor conv = get("conv"); conv.defined()) {  // depthwise, causal: PyTorch's Conv1d with K-1 padding, cut to T
    u = torch::conv1d(u.transpose(1, 2), conv, get("conv_b"), 1, conv.size(2) - 1, 1, inner).narrow(2, 0, T).transpose(1, 2);
  }
  u = torch::silu(u);
  at::Tensor dbc = torch::linear(u, get("w_x"));
  auto rmsn = [&](at::Tensor t, const std::string& w) {
    if (norm == "none") return t;
    t = t * torch::rsqrt(t.pow(2).mean(-1, true) + 1e-6);
    return norm == "rms" ? t * get(w) : t;
  };
  at::Tensor dt = rmsn(dbc.narrow(-1, 0, R), "dt_norm"), Bm = rmsn(dbc.narrow(-1, R, N), "b_norm"), Cm = rmsn(dbc.narrow(-1, R + N, N), "c_norm");
  at::Tensor delta = torch::softplus(torch::linear(dt, get("w_dt"), get("dt_bias")));  // [B, T, inner]
  at::Tensor h = torch::zeros({x.size(0), inner, N});
  std::vector<at::Tensor> ys;
  for (int64_t t = 0; t < T; ++t) {
    at::Tensor dl = delta.select(1, t);  // [B, inner]
    h = torch::exp(dl.unsqueeze(-1) * A) * h + dl.unsqueeze(-1) * Bm.select(1, t).unsqueeze(1) * u.select(1, t).unsqueeze(-1);
    ys.push_back((h * Cm.select(1, t).unsqueeze(1)).sum(-1));
  }
  at::Tensor y = (torch::stack(ys, 1) + u * D) * torch::silu(z);
  return torch::linear(y, get("w_out"), get("b_out"));
}

TEST(Mixers, MambaEqualsItsStepByStepReferenceInOutputsAndGradients) {
  struct Case {
    Attrs attrs;
    int64_t N, R;
    std::string norm;
  } cases[] = {
      {{{"state", 4}, {"chunk", 4}}, 4, 1, "none"},  // R: ceil(16 / 16)
      {{{"state", 3}, {"expand", 1}, {"conv", 0}, {"dt_rank", 2}, {"bias", true}, {"dbc_norm", std::string("rms")}, {"chunk", 3}}, 3, 2, "rms"},
      {{{"state", 5}, {"conv_bias", false}, {"dbc_norm", std::string("rms_unscaled")}}, 5, 1, "rms_unscaled"},
  };
  for (auto& c : cases) {
    SCOPED_TRACE(c.norm + ", N=" + std::to_string(c.N));
    auto m = Model::compile(mixer("mamba", c.attrs), 12);
    ASSERT_TRUE(m.ok()) << m.error().message;
    {
      // Away from the initialisation (D = 1, zero biases, unit norms), so every parameter matters.
      torch::NoGradGuard ng;
      for (auto& p : (*m)->module().named_parameters()) p.value().add_(torch::randn_like(p.value()) * 0.1);
    }
    torch::manual_seed(6);
    at::Tensor x = torch::randn({2, 11, 16});
    auto grads = [&](bool reference) {
      (*m)->module().zero_grad();
      at::Tensor xi = x.clone().requires_grad_(true);
      at::Tensor y = reference ? mamba_reference((*m)->module(), xi, c.N, c.R, c.norm) : (*m)->forward({xi})[0];
      (y * torch::sin(torch::arange(y.numel()).reshape(y.sizes()).to(torch::kFloat))).sum().backward();
      std::vector<at::Tensor> g{y.detach(), xi.grad()};
      for (auto& p : (*m)->module().named_parameters()) g.push_back(p.value().grad().clone());
      return g;
    };
    auto ref = grads(true), got = grads(false);
    ASSERT_EQ(ref.size(), got.size());
    EXPECT_LE(max_diff(got[0], ref[0]), 1e-5) << "output";
    EXPECT_GT(ref[0].abs().max().item<double>(), 1e-2);
    EXPECT_LE(max_diff(got[1], ref[1]), 1e-5) << "input gradient";
    auto names = (*m)->module().named_parameters().keys();
    for (size_t i = 2; i < ref.size(); ++i) EXPECT_LE(max_diff(got[i], ref[i]), 1e-5) << "gradient of " << names[i - 2];
    // Its parameters are the ones the cost model counts.
    Circuit circ = mixer("mamba", c.attrs);
    EXPECT_EQ((*m)->parameter_count(), analyze(circ).total.params);
  }
}

TEST(Mixers, EveryChunkSizeGivesTheSameOutputsAndGradients) {
  // Same seed, same weights: the chunk only changes how the recurrence is computed. chunk=1 is
  // the recurrence step by step.
  for (auto& [op, attrs] : mixer_cases()) {
    SCOPED_TRACE(op + " " + std::to_string(attrs.size()) + " attributes");
    torch::manual_seed(3);
    at::Tensor x = torch::randn({2, 11, 16});
    std::vector<at::Tensor> outs, grads;
    for (int64_t chunk : {1, 3, 4, 64}) {
      Attrs a = attrs;
      a["chunk"] = chunk;
      auto m = Model::compile(mixer(op, a), 9);
      ASSERT_TRUE(m.ok()) << m.error().message;
      at::Tensor xi = x.clone().requires_grad_(true);
      at::Tensor y = (*m)->forward({xi})[0];
      y.pow(2).sum().backward();
      outs.push_back(y.detach());
      grads.push_back(xi.grad());
    }
    // Relative to each tensor's largest entry: the chunked and stepwise forms add the same terms in
    // a different order, and float32 rounding grows with the values (gated_delta's input gradients
    // reach 7.5, where LibTorch 2.6's kernels differ by 1.4e-5, a relative 1.8e-6).
    const double out_scale = std::max(1.0, outs[0].abs().max().item<double>());
    const double grad_scale = std::max(1.0, grads[0].abs().max().item<double>());
    for (size_t k = 1; k < outs.size(); ++k) {
      EXPECT_LE(max_diff(outs[k], outs[0]), 1e-5 * out_scale) << "output, case " << k;
      EXPECT_LE(max_diff(grads[k], grads[0]), 1e-5 * grad_scale) << "input gradient, case " << k;
    }
    EXPECT_GT(outs[0].abs().max().item<double>(), 1e-3);
  }
}

TEST(Mixers, CausalMixersDoNotSeeTheFuture) {
  for (auto& [op, attrs] : mixer_cases()) {
    SCOPED_TRACE(op);
    auto m = Model::compile(mixer(op, attrs), 4);
    ASSERT_TRUE(m.ok()) << m.error().message;
    torch::manual_seed(8);
    at::Tensor x = torch::randn({1, 9, 16});
    at::Tensor later = x.clone();
    later.narrow(1, 6, 3).add_(torch::randn({1, 3, 16}));
    torch::NoGradGuard ng;
    at::Tensor a = (*m)->forward({x})[0], b = (*m)->forward({later})[0];
    EXPECT_LE(max_diff(a.narrow(1, 0, 6), b.narrow(1, 0, 6)), 1e-6) << "positions before the change moved";
    EXPECT_GT(max_diff(a.narrow(1, 6, 3), b.narrow(1, 6, 3)), 1e-4) << "positions after the change did not";
  }
}

TEST(Lstm, EqualsItsStepByStepDefinition) {
  // LibTorch 2.6's oneDNN LSTM (Debian 13) is 0.37 away from this on such an example; the engine
  // must not take it, in training or inference.
  auto m = Model::compile(mixer("lstm", {{"hidden", 5}}), 3);
  ASSERT_TRUE(m.ok()) << m.error().message;
  at::Tensor W, R, bi, bh;
  for (auto& p : (*m)->module().named_parameters()) {
    const std::string& k = p.key();
    auto ends = [&](const std::string& e) { return k.size() >= e.size() && k.compare(k.size() - e.size(), e.size(), e) == 0; };
    if (ends("weight_ih_l0")) W = p.value();
    if (ends("weight_hh_l0")) R = p.value();
    if (ends("bias_ih_l0")) bi = p.value();
    if (ends("bias_hh_l0")) bh = p.value();
  }
  ASSERT_TRUE(W.defined() && R.defined() && bi.defined() && bh.defined());
  torch::manual_seed(4);
  at::Tensor x = torch::randn({3, 7, 16});
  torch::NoGradGuard ng;
  at::Tensor h = torch::zeros({3, 5}), c = torch::zeros({3, 5});
  std::vector<at::Tensor> steps;
  for (int64_t t = 0; t < 7; ++t) {
    auto g = (torch::matmul(x.select(1, t), W.t()) + bi + torch::matmul(h, R.t()) + bh).chunk(4, 1);  // i, f, g, o
    c = torch::sigmoid(g[1]) * c + torch::sigmoid(g[0]) * torch::tanh(g[2]);
    h = torch::sigmoid(g[3]) * torch::tanh(c);
    steps.push_back(h);
  }
  for (bool training : {true, false}) {
    (*m)->set_training(training);
    EXPECT_LE(max_diff((*m)->forward({x})[0], torch::stack(steps, 1)), 1e-5) << (training ? "training" : "inference");
  }
}

TEST(Mixers, TorchScriptExportReproducesTheCompiledModel) {
  auto dir = std::filesystem::temp_directory_path() / ("circuit_mixers_" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto cases = mixer_cases();
  cases.push_back({"linear_attention", {{"heads", 2}, {"causal", false}}});
  cases.push_back({"conv1d", {{"out", 8}, {"kernel", 3}, {"causal", false}}});
  cases.push_back({"conv1d", {{"depthwise", true}, {"kernel", 4}}});
  cases.push_back({"lstm", {{"hidden", 6}, {"layers", 2}}});
  int k = 0;
  for (auto& [op, attrs] : cases) {
    SCOPED_TRACE(op + " case " + std::to_string(k));
    auto m = Model::compile(mixer(op, attrs), 5);
    ASSERT_TRUE(m.ok()) << m.error().message;
    (*m)->set_training(false);
    std::string path = (dir / ("m" + std::to_string(k++) + ".pt")).string();
    auto st = export_model(**m, path);
    ASSERT_TRUE(st) << st.error;
    torch::manual_seed(2);
    at::Tensor x = torch::randn({3, 10, 16});
    torch::NoGradGuard ng;
    at::Tensor ours = (*m)->forward({x})[0];
    auto jm = torch::jit::load(path);
    at::Tensor theirs = jm.forward({x}).toTensor();
    EXPECT_LE(max_diff(ours, theirs), 1e-5);
  }
  std::filesystem::remove_all(dir);
}

TEST(Mixers, MetaformerBlockTakesEveryTokenMixer) {
  TensorType x = T({"batch", "seq", "d:16"});
  for (const char* mixer : kMetaformerMixers) {
    SCOPED_TRACE(mixer);
    auto blk = metaformer_block("block", x, mixer);
    ASSERT_TRUE(blk.ok()) << blk.error().message;
    Circuit c;
    c.symbols = {{"seq", 7}};
    blk->inputs = {{"x", 0}};
    c.graph.nodes = {In("x", x), *blk};
    c.graph.outputs = {{"block", 0}};
    GraphAnalysis a = analyze(c);
    ASSERT_TRUE(a.ok()) << a.diagnostics(c.graph)[0].message;
    EXPECT_EQ(to_string(a.outputs[0]), to_string(x));
    auto m = Model::compile(c, 1);
    ASSERT_TRUE(m.ok()) << m.error().message;
    at::Tensor in = torch::randn({2, 7, 16}, torch::requires_grad());
    (*m)->forward({in})[0].pow(2).sum().backward();
    EXPECT_TRUE(torch::isfinite(in.grad()).all().item<bool>());
    EXPECT_EQ((*m)->parameter_count(), a.total.params);
  }
  auto bad = metaformer_block("block", x, "lstm");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("no MetaFormer token mixer `lstm` (mixers: attention, pooling, conv, identity, gated_delta, mamba2)"),
            std::string::npos);
}

TEST(Mixers, TokenTasksAreSizedFromTheCircuitAndKeepTheSizesInAStoredProtocol) {
  Circuit c = *load_circuit(source("resources/examples/gated_deltanet_hybrid.circuit.json"));  // seq 64, 128 outputs
  DataOptions mqar;
  mqar.name = "mqar";
  size_to_circuit(mqar, c);
  EXPECT_EQ(mqar.seq_len, 64);
  EXPECT_EQ(mqar.vocab, 128);
  search::TrialProtocol p;
  p.data.name = "text";
  size_to_circuit(p.data, c);
  EXPECT_EQ(p.data.min_classes, 128);
  auto back = search::parse_protocol(search::protocol_json(p));  // what a worker elsewhere reads
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_EQ(back->data.min_classes, 128);
  p.data.train_limit = 50, p.data.test_limit = 10;
  auto text = load_dataset(p.data);
  ASSERT_TRUE(text.ok()) << text.error().message;
  EXPECT_EQ(text->classes, 128) << "padded from the file's distinct bytes";
  EXPECT_NE(text->protocol.find("ids padded to 128"), std::string::npos) << text->protocol;
  DataOptions fashion;  // not a token task: untouched
  size_to_circuit(fashion, c);
  EXPECT_EQ(fashion.vocab, DataOptions{}.vocab);
}

TEST(Mixers, OnnxRefusesTheRecurrencesWithTheReason) {
  auto path = (std::filesystem::temp_directory_path() / ("gd_" + std::to_string(::getpid()) + ".onnx")).string();
  for (const char* op : {"gated_delta", "mamba2", "mamba"}) {
    auto m = Model::compile(mixer(op, std::string(op) == "mamba" ? Attrs{} : Attrs{{"heads", 2}}), 1);
    ASSERT_TRUE(m.ok()) << m.error().message;
    auto st = export_model(**m, path);
    ASSERT_FALSE(st) << op;
    EXPECT_NE(st.error.find("node `mix`: op `" + std::string(op) + "` cannot be exported to ONNX"), std::string::npos) << st.error;
    EXPECT_NE(st.error.find("export TorchScript"), std::string::npos) << st.error;
    EXPECT_FALSE(std::filesystem::exists(path));
  }
  // Causal linear attention is a recurrence too; without the mask it is two products and exports.
  auto causal = Model::compile(mixer("linear_attention", {{"heads", 2}}), 1);
  ASSERT_TRUE(causal.ok());
  auto st = export_model(**causal, path);
  ASSERT_FALSE(st);
  EXPECT_NE(st.error.find("op `linear_attention` cannot be exported to ONNX"), std::string::npos) << st.error;
  EXPECT_NE(st.error.find("a non-causal linear_attention exports"), std::string::npos) << st.error;
  auto global = Model::compile(mixer("linear_attention", {{"heads", 2}, {"causal", false}}), 1);
  ASSERT_TRUE(global.ok());
  EXPECT_TRUE(export_model(**global, path)) << "non-causal linear attention exports to ONNX";
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace engine
