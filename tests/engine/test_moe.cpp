// Routers against their invariants (shared/TECHNIQUES.md section 2), the MoE layer against a
// naive dense reference, and expert-load telemetry from real training.
#include <algorithm>
#include <torch/torch.h>

#include "../circuit/helpers.h"
#include "circuit/circuit_file.h"
#include "circuit/templates.h"
#include "engine/model.h"
#include "engine/detail/moe.h"
#include "engine/export.h"
#include "engine/train.h"

namespace engine {
namespace {

using namespace circuit::test;
using at::Tensor;
using circuit::Node;
using circuit::TensorType;

MoeConfig config(std::string router, int64_t experts = 8, int64_t k = 2) {
  MoeConfig c;
  c.name = "moe";
  c.router = std::move(router);
  c.d = 16;
  c.experts = experts;
  c.k = k;
  return c;
}

Tensor logits(int64_t n, int64_t s, int64_t seed = 0) {
  torch::manual_seed(seed);
  return torch::randn({n, s});
}

TEST(Routers, TopKGivesEachTokenKExpertsWithGatesSummingToOne) {
  auto c = config("topk");
  Routing r = route_topk(logits(100, 8), c, false, {});
  ASSERT_EQ(r.slot.numel(), 200);
  EXPECT_TRUE(torch::equal(torch::bincount(r.token, {}, 100), torch::full({100}, 2, torch::kLong)));
  Tensor sums = torch::zeros({100}).index_add_(0, r.token, r.gate);
  EXPECT_LE((sums - 1).abs().max().item<double>(), 1e-6);
  // The chosen experts are the k most probable, distinct per token.
  Tensor s = r.slot.reshape({100, 2});
  EXPECT_FALSE(s.select(1, 0).eq(s.select(1, 1)).any().item<bool>());
  Tensor top = std::get<1>(r.probs.topk(2, -1));
  EXPECT_TRUE(torch::equal(top, s));
  c.renormalize = false;
  Routing raw = route_topk(logits(100, 8), c, false, {});
  Tensor raw_sums = torch::zeros({100}).index_add_(0, raw.token, raw.gate);
  EXPECT_LT(raw_sums.max().item<double>(), 1.0);
  EXPECT_TRUE(torch::allclose(raw.gate, raw.probs.gather(1, raw.slot.reshape({100, 2})).reshape({-1})));
}

TEST(Routers, CapacityIsNeverExceededAndDropsAreExact) {
  for (double cf : {0.5, 1.0, 1.25}) {
    auto c = config("topk");
    c.capacity_factor = cf;
    // Skewed logits: expert 0 is everyone's favourite.
    Tensor z = logits(128, 8, 3);
    z.select(1, 0).add_(3.0);
    Routing r = route_topk(z, c, false, {});
    int64_t cap = moe_capacity(c, 128);
    EXPECT_EQ(cap, int64_t(std::ceil(cf * 2 * 128 / 8)));
    Tensor kept = apply_capacity(r.slot, 8, 8, cap);
    Tensor after = torch::bincount(r.slot.masked_select(kept), {}, 8);
    EXPECT_LE(after.max().item<int64_t>(), cap);
    // Brute force: walk assignments in token order, keep while the expert has room.
    std::vector<int64_t> used(8, 0);
    auto* slot = r.slot.data_ptr<int64_t>();
    auto* k = kept.data_ptr<bool>();
    int64_t dropped = 0;
    for (int64_t i = 0; i < r.slot.numel(); ++i) {
      bool room = used[size_t(slot[i])] < cap;
      EXPECT_EQ(k[i], room) << "assignment " << i;
      used[size_t(slot[i])] += room;
      dropped += !room;
    }
    auto load = measure_load(c, r, kept, 128, MoeFlow{});
    EXPECT_EQ(load.dropped, dropped);
    EXPECT_EQ(load.before[0] - load.after[0] + [&] {
      int64_t rest = 0;
      for (size_t e = 1; e < 8; ++e) rest += load.before[e] - load.after[e];
      return rest;
    }(), dropped);
    if (cf < 1) {
      EXPECT_GT(dropped, 0);
    }
  }
  auto c = config("topk");
  c.dropless = true;
  Tensor z = logits(64, 8);
  z.select(1, 0).add_(5.0);
  Routing r = route_topk(z, c, false, {});
  EXPECT_TRUE(apply_capacity(r.slot, 8, 8, moe_capacity(c, 64)).all().item<bool>());
}

// Telemetry is computed on the host in one pass; here it is recomputed with tensor arithmetic, on
// a skewed routing with drops and a previous layer for the transition counts.
TEST(Routers, TelemetryMatchesTensorArithmetic) {
  auto c = config("topk", 6, 2);
  c.capacity_factor = 0.75;
  Tensor z = logits(50, 6, 4);
  z.select(1, 2).add_(1.5);
  Routing r = route_topk(z, c, false, {});
  Tensor kept = apply_capacity(r.slot, 6, 6, moe_capacity(c, 50));
  MoeFlow flow;
  flow.prev_layer = "before";
  flow.prev_logits = logits(50, 4, 5);
  flow.prev_top1 = flow.prev_logits.argmax(-1);
  auto load = measure_load(c, r, kept, 50, flow);

  auto vec = [](const Tensor& t) {
    Tensor l = t.to(torch::kLong).contiguous();
    return std::vector<int64_t>(l.data_ptr<int64_t>(), l.data_ptr<int64_t>() + l.numel());
  };
  Tensor kept_slot = r.slot.masked_select(kept);
  Tensor after = torch::bincount(kept_slot, {}, 6);
  EXPECT_EQ(load.before, vec(torch::bincount(r.slot, {}, 6)));
  EXPECT_EQ(load.after, vec(after));
  EXPECT_EQ(load.dropped, r.slot.numel() - kept_slot.numel());
  EXPECT_GT(load.dropped, 0);
  Tensor mean_gate = torch::zeros({6}).index_add_(0, kept_slot, r.gate.detach().masked_select(kept)) / after.clamp_min(1);
  for (int64_t j = 0; j < 6; ++j) EXPECT_NEAR(load.mean_gate[size_t(j)], mean_gate[j].item<double>(), 1e-6) << j;
  Tensor p = r.probs.detach().clamp_min(1e-12);
  EXPECT_NEAR(load.entropy, (-(p * p.log()).sum(-1).mean()).item<double>(), 1e-5);
  Tensor f = after.to(torch::kDouble);
  EXPECT_NEAR(load.load_cv, (f.std(/*unbiased=*/false) / f.mean()).item<double>(), 1e-9);
  EXPECT_NEAR(load.max_vio, ((f.max() - f.mean()) / f.mean()).item<double>(), 1e-9);
  EXPECT_GT(load.max_vio, 0);
  EXPECT_DOUBLE_EQ(load.active_per_token, double(kept_slot.numel()) / 50.0);
  EXPECT_EQ(load.previous_layer, "before");
  EXPECT_EQ(load.transitions, vec(torch::bincount(flow.prev_top1 * 6 + r.probs.argmax(-1), {}, 4 * 6)));
}

TEST(Routers, ExpertChoiceGivesEveryExpertExactlyCTokens) {
  auto c = config("expert_choice");
  c.capacity_factor = 2.0;
  Routing r = route_expert_choice(logits(64, 8), c);
  Tensor per = torch::bincount(r.slot, {}, 8);
  EXPECT_TRUE(torch::equal(per, torch::full({8}, 16, torch::kLong)));  // C = 64 * 2 / 8
  // A token may get 0..E experts.
  Tensor per_token = torch::bincount(r.token, {}, 64);
  EXPECT_GT(per_token.max().item<int64_t>(), per_token.min().item<int64_t>());
}

TEST(Routers, ReluGatesAreSparseAndLambdaSteersSparsity) {
  auto c = config("relu");
  Tensor l1 = torch::full({}, 1e-2);
  Routing r = route_relu(logits(100, 8), c, l1, false);
  EXPECT_GT(r.gate.min().item<double>(), 0.0);  // only active experts are assigned
  EXPECT_EQ(r.slot.numel(), (logits(100, 8) > 0).sum().item<int64_t>());
  // Measured sparsity (about 0.5 here) below the target: lambda grows; above it: lambda shrinks.
  c.relu_target = 0.9;
  double before = l1.item<double>();
  route_relu(logits(100, 8), c, l1, true);
  EXPECT_NEAR(l1.item<double>(), before * c.relu_step, 1e-9);
  c.relu_target = 0.1;
  before = l1.item<double>();
  route_relu(logits(100, 8), c, l1, true);
  EXPECT_NEAR(l1.item<double>(), before / c.relu_step, 1e-9);
}

TEST(Routers, HashRoutingIsDeterministicByPosition) {
  auto c = config("hash", 8, 2);
  Routing a = route_hash(40, 10, c), b = route_hash(40, 10, c);
  EXPECT_TRUE(torch::equal(a.slot, b.slot));
  Tensor s = a.slot.reshape({4, 10, 2});
  for (int64_t q = 1; q < 4; ++q) EXPECT_TRUE(torch::equal(s[q], s[0]));  // same position, same experts
  EXPECT_FALSE(s.select(2, 0).eq(s.select(2, 1)).any().item<bool>());
  EXPECT_GT(torch::bincount(a.slot, {}, 8).gt(0).sum().item<int64_t>(), 4);  // spread over experts
}

// A standalone layer with FFN experts, for dispatch and balancing tests.
std::shared_ptr<MoeLayer> layer(MoeConfig c, int64_t seed = 0) {
  torch::manual_seed(seed);
  std::vector<std::shared_ptr<torch::nn::Module>> mods, shared;
  std::vector<MoeLayer::Expert> runs, run_shared;
  for (int64_t e = 0; e < c.experts + c.shared; ++e) {
    auto seq = torch::nn::Sequential(torch::nn::Linear(c.d, 32), torch::nn::GELU(), torch::nn::Linear(32, c.d));
    auto holder = std::make_shared<torch::nn::Module>();
    holder->register_module("ffn", seq.ptr());
    (e < c.experts ? mods : shared).push_back(holder);
    (e < c.experts ? runs : run_shared).push_back([seq](const Tensor& x) mutable { return seq->forward(x); });
  }
  return std::make_shared<MoeLayer>(c, mods, runs, shared, run_shared);
}

Tensor param(MoeLayer& m, const std::string& name) { return m.named_parameters()[name]; }

// The FFN experts of a layer() as one GroupedFfn, the way the model compiler hands them over.
GroupedFfn grouped_experts(MoeLayer& m, int64_t experts) {
  GroupedFfn g;
  g.activation = circuit::Elementwise::gelu;
  for (int64_t e = 0; e < experts; ++e) {
    std::string p = "expert" + std::to_string(e) + ".ffn.";
    g.w1.push_back(param(m, p + "0.weight")), g.b1.push_back(param(m, p + "0.bias"));
    g.w2.push_back(param(m, p + "2.weight")), g.b2.push_back(param(m, p + "2.bias"));
  }
  return g;
}

TEST(Moe, OutputAndGradientsEqualADenseMaskedReference) {
  for (auto [cf, grouped, scored] : {std::tuple{1e9, false, false}, {0.75, false, false}, {1e9, true, false}, {0.75, true, false}, {1e9, true, true},
                                     {0.75, false, true}}) {  // dropless, then dropping; scored: DeepSeek/Qwen options
    SCOPED_TRACE(testing::Message() << "capacity factor " << cf << (grouped ? ", grouped experts" : ", expert modules")
                                    << (scored ? ", sigmoid, groups, scale, gated shared expert" : ""));
    auto c = config("topk", 4, 2);
    c.capacity_factor = cf;
    c.shared = 1;
    if (scored) c.sigmoid = true, c.groups = 2, c.top_groups = 1, c.routed_scale = 2.5, c.shared_gate = true;
    auto m = layer(c, 1);
    if (grouped) m->use_grouped_ffn(grouped_experts(*m, c.experts));
    m->train();
    torch::manual_seed(5);
    Tensor x = torch::randn({3, 10, 16}, torch::requires_grad());
    MoeFlow flow;
    Tensor ours = m->forward(x, flow, nullptr);
    ours.pow(2).sum().backward();
    Tensor gx = x.grad().clone();
    std::map<std::string, Tensor> grads;
    for (auto& p : m->named_parameters()) grads[p.key()] = p.value().grad().clone(), p.value().grad().zero_();
    x.grad().zero_();

    // Reference: every expert on every token; weights from the same routing, zero where not kept.
    Tensor tokens = x.reshape({-1, 16});
    Tensor z = torch::linear(tokens, param(*m, "router.weight"));
    Routing r = route_topk(z, c, false, {});
    Tensor kept = apply_capacity(r.slot, 4, 4, moe_capacity(c, 30));
    Tensor w = torch::zeros({30, 4}).index_put({r.token.masked_select(kept), r.slot.masked_select(kept)}, r.gate.masked_select(kept), true);
    Tensor dense = torch::zeros_like(tokens);
    auto ffn = [&](const std::string& e, const Tensor& t) {
      Tensor h = torch::gelu(torch::linear(t, param(*m, e + ".ffn.0.weight"), param(*m, e + ".ffn.0.bias")));
      return torch::linear(h, param(*m, e + ".ffn.2.weight"), param(*m, e + ".ffn.2.bias"));
    };
    for (int64_t e = 0; e < 4; ++e) dense = dense + w.select(1, e).unsqueeze(1) * ffn("expert" + std::to_string(e), tokens);
    Tensor always = ffn("shared0", tokens);
    if (scored) always = always * torch::sigmoid(torch::linear(tokens, param(*m, "shared_gate.weight")));
    dense = (dense + always).reshape(x.sizes());
    EXPECT_LE((dense - ours).abs().max().item<double>(), 1e-5);
    dense.pow(2).sum().backward();
    EXPECT_LE((x.grad() - gx).abs().max().item<double>(), 1e-5);
    for (auto& p : m->named_parameters())
      EXPECT_LE((p.value().grad() - grads[p.key()]).abs().max().item<double>(), 1e-5) << p.key();
  }
}

// The top-k family's options against a plain reference written from the model cards, token by
// token: probabilities (softmax or sigmoid), a selection bias (aux-free), group scores (best expert
// or best two), the top_groups groups, the k best experts in them, gates renormalised or not, and
// scaled.
struct Picked {
  std::vector<int64_t> slot;
  std::vector<double> gate;
};
std::vector<Picked> plain_routing(const Tensor& logits, const MoeConfig& c, const Tensor& bias) {
  Tensor z = logits.to(torch::kDouble);
  int64_t n = z.size(0), E = z.size(1), G = c.groups, per = E / G;
  std::vector<Picked> out;
  for (int64_t t = 0; t < n; ++t) {
    std::vector<double> p(static_cast<size_t>(E)), sel(static_cast<size_t>(E));
    double total = 0;
    for (int64_t e = 0; e < E; ++e) total += std::exp(z[t][e].item<double>());
    for (int64_t e = 0; e < E; ++e) {
      double v = z[t][e].item<double>();
      p[size_t(e)] = c.sigmoid ? 1 / (1 + std::exp(-v)) : std::exp(v) / total;
      sel[size_t(e)] = p[size_t(e)] + (bias.defined() ? bias[e].item<double>() : 0.0);
    }
    // Ranks indices by a score, best first, ties to the lower index.
    auto best_first = [](const std::vector<double>& v, const std::vector<int64_t>& among) {
      std::vector<int64_t> r = among;
      std::stable_sort(r.begin(), r.end(), [&](int64_t a, int64_t b) { return v[size_t(a)] > v[size_t(b)]; });
      return r;
    };
    std::vector<int64_t> allowed;
    if (G > 1 && c.top_groups && c.top_groups < G) {
      std::vector<double> gs(static_cast<size_t>(G));
      std::vector<int64_t> groups;
      for (int64_t g = 0; g < G; ++g) {
        std::vector<int64_t> members;
        for (int64_t e = g * per; e < (g + 1) * per; ++e) members.push_back(e);
        auto ranked = best_first(sel, members);
        gs[size_t(g)] = sel[size_t(ranked[0])] + (c.group_top2 ? sel[size_t(ranked[1])] : 0.0);
        groups.push_back(g);
      }
      auto ranked = best_first(gs, groups);
      for (int64_t j = 0; j < c.top_groups; ++j)
        for (int64_t e = ranked[size_t(j)] * per; e < (ranked[size_t(j)] + 1) * per; ++e) allowed.push_back(e);
      std::sort(allowed.begin(), allowed.end());
    } else {
      for (int64_t e = 0; e < E; ++e) allowed.push_back(e);
    }
    Picked pk;
    auto ranked = best_first(sel, allowed);
    double sum = 0;
    for (int64_t j = 0; j < c.k; ++j) pk.slot.push_back(ranked[size_t(j)]), sum += p[size_t(ranked[size_t(j)])];
    for (int64_t e : pk.slot) pk.gate.push_back((c.renormalize ? p[size_t(e)] / sum : p[size_t(e)]) * c.routed_scale);
    out.push_back(pk);
  }
  return out;
}

TEST(Routers, ScoringGroupsAndScalingEqualAPlainReference) {
  struct Case {
    std::string what, router;
    bool sigmoid, renormalize, top2;
    double scale;
    int64_t groups, top_groups, k;
  };
  std::vector<Case> cases = {
      {"DeepSeek-V3: sigmoid, bias, top-2-sum groups, renormalised, x2.5", "aux_free", true, true, true, 2.5, 4, 2, 4},
      {"DeepSeek-V2: softmax, best-expert groups, not renormalised, x16", "topk", false, false, false, 16.0, 4, 2, 3},
      {"sigmoid top-k without groups (Llama 4-like)", "topk", true, false, false, 1.0, 1, 0, 1},
      {"Mixtral / Qwen3-MoE: softmax, renormalised", "topk", false, true, false, 1.0, 1, 0, 2},
  };
  for (auto& k : cases) {
    SCOPED_TRACE(k.what);
    MoeConfig c = config(k.router, 16, k.k);
    c.sigmoid = k.sigmoid, c.renormalize = k.renormalize, c.group_top2 = k.top2, c.routed_scale = k.scale;
    c.groups = k.groups, c.top_groups = k.top_groups;
    Tensor z = logits(40, 16, 3) * 2;
    torch::manual_seed(9);
    Tensor bias = k.router == "aux_free" ? torch::randn({16}) * 0.3 : Tensor();
    auto want = plain_routing(z, c, bias);
    for (bool host : {true, false}) {
      SCOPED_TRACE(host ? "host path" : "tensor path");
      Routing r = bias.defined() ? route_aux_free(z, c, bias, host) : route_topk(z, c, false, {}, host);
      ASSERT_EQ(r.slot.numel(), 40 * k.k);
      int64_t wrong = 0;
      double gate_diff = 0;
      for (int64_t t = 0; t < 40; ++t)
        for (int64_t j = 0; j < k.k; ++j) {
          wrong += r.slot[t * k.k + j].item<int64_t>() != want[size_t(t)].slot[size_t(j)];
          gate_diff = std::max(gate_diff, std::abs(r.gate[t * k.k + j].item<double>() - want[size_t(t)].gate[size_t(j)]));
        }
      EXPECT_EQ(wrong, 0);
      EXPECT_LE(gate_diff, 1e-5 * k.scale);
    }
    if (k.groups > 1) {
      // The limit binds: some token's k best experts overall lie outside its allowed groups.
      MoeConfig free = c;
      free.groups = 1, free.top_groups = 0;
      auto unlimited = plain_routing(z, free, bias);
      int64_t differ = 0;
      for (int64_t t = 0; t < 40; ++t) differ += unlimited[size_t(t)].slot != want[size_t(t)].slot;
      EXPECT_GT(differ, 0);
    }
  }
}

TEST(Moe, AuxFreeBiasMovesTowardUnderloadedExpertsWithoutGradient) {
  auto c = config("aux_free", 4, 1);
  c.bias_rate = 0.01;
  c.dropless = true;
  auto m = layer(c, 2);
  {
    torch::NoGradGuard ng;
    param(*m, "router.weight").zero_().select(0, 0).fill_(1.0);  // expert 0 wins for positive inputs
  }
  m->train();
  Tensor x = torch::rand({64, 16}) + 0.1;
  MoeFlow flow;
  std::vector<Tensor> losses;
  m->forward(x, flow, &losses).sum().backward();
  Tensor bias = m->named_buffers()["selection_bias"];
  EXPECT_LT(bias[0].item<double>(), 0);  // over-loaded: pushed down
  for (int64_t e = 1; e < 4; ++e) EXPECT_GT(bias[e].item<double>(), 0);  // under-loaded: pushed up
  EXPECT_FALSE(bias.requires_grad());
  for (auto& p : m->named_parameters()) EXPECT_NE(p.key(), "selection_bias");
  EXPECT_TRUE(losses.empty());  // no auxiliary loss: that is the point of this router
}

TEST(Moe, ZeroCopyAndConstantExpertsOutputWhatTheyShould) {
  auto c = config("topk", 1, 1);
  c.zero = 1, c.copy = 1, c.constant = 1;
  c.dropless = true;
  auto m = layer(c, 3);
  m->eval();
  Tensor x = torch::randn({5, 16});
  auto route_all_to = [&](int64_t slot) {
    torch::NoGradGuard ng;
    Tensor w = param(*m, "router.weight");
    w.zero_();
    // Bias-free router: make the chosen slot's logit the largest for every token via a big
    // weight on a feature we set constant.
    w.select(0, slot).select(0, 0).fill_(100.0);
  };
  Tensor xc = x.clone();
  xc.select(1, 0).fill_(1.0);
  MoeFlow flow;
  route_all_to(1);  // zero expert
  EXPECT_EQ(m->forward(xc, flow, nullptr).abs().max().item<double>(), 0.0);
  route_all_to(2);  // copy expert: gate ~1
  EXPECT_LE((m->forward(xc, flow, nullptr) - xc).abs().max().item<double>(), 1e-4);
  route_all_to(3);  // constant expert: a x + (1 - a) v
  {
    torch::NoGradGuard ng;
    param(*m, "constant_vectors").fill_(2.0);
    param(*m, "constant_mix.weight").zero_();  // a = 1/2
  }
  Tensor want = 0.5 * xc + 0.5 * 2.0;
  EXPECT_LE((m->forward(xc, flow, nullptr) - want).abs().max().item<double>(), 1e-4);
}

TEST(Moe, RecurrentRouterStateFlowsFromLayerToLayer) {
  auto c = config("recurrent", 4, 1);
  auto first = layer(c, 4), second = layer(c, 5);
  Tensor x1 = torch::randn({6, 16}), x2 = torch::randn({6, 16});
  MoeFlow flow;
  first->forward(x1, flow, nullptr);
  ASSERT_TRUE(flow.router_h.defined());
  Tensor h_after_first = flow.router_h.clone();
  second->forward(x2, flow, nullptr);
  Tensor with_state = flow.prev_logits.clone();
  MoeFlow fresh;
  second->forward(x2, fresh, nullptr);
  EXPECT_GT((with_state - fresh.prev_logits).abs().max().item<double>(), 1e-4);  // layer 1 changed layer 2's routing
  EXPECT_FALSE(torch::equal(flow.router_h, h_after_first));
  // And the IR refuses a recurrent router that has no next layer to talk to.
  TensorType t = T({"batch", "d_model:16"});
  Node moe = circuit::ffn_block("moe", t, 8);
  moe.op = "moe";
  moe.attrs = {{"experts", 4}, {"k", 1}, {"router", std::string("recurrent")}};
  EXPECT_NE(infer1(moe, {t}).error.find("only 1 MoE layer"), std::string::npos);
}

// The grouped path (all FFN experts in one autograd node) computes what the per-expert path
// does: same outputs, same gradients, with drops and with MoE++ slots beside.
TEST(Moe, GroupedExpertsEqualPerExpertCalls) {
  for (bool dropless : {false, true}) {
    MoeConfig c = config("topk", 6, 2);
    c.dropless = dropless;
    c.capacity_factor = 0.8;
    c.copy = 1, c.zero = 1;
    auto m = layer(c, 7);
    m->train();
    torch::manual_seed(8);
    Tensor x = torch::randn({50, 16}, torch::requires_grad());
    auto run = [&] {
      m->zero_grad();
      x.mutable_grad() = Tensor();
      MoeFlow flow;
      Tensor y = m->forward(x, flow, nullptr);
      (y * torch::linspace(-1, 1, y.numel()).view_as(y)).sum().backward();
      return std::pair{y.detach(), x.grad().clone()};
    };
    auto [y1, gx1] = run();
    Tensor gw1 = param(*m, "expert3.ffn.0.weight").grad().clone();
    Tensor gb2 = param(*m, "expert1.ffn.2.bias").grad().clone();
    Tensor grouter = param(*m, "router.weight").grad().clone();  // through the gates
    m->use_grouped_ffn(grouped_experts(*m, c.experts));
    auto [y2, gx2] = run();
    EXPECT_TRUE(torch::allclose(y1, y2, 1e-5, 1e-6)) << (y1 - y2).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(gx1, gx2, 1e-5, 1e-6)) << (gx1 - gx2).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(gw1, param(*m, "expert3.ffn.0.weight").grad(), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(gb2, param(*m, "expert1.ffn.2.bias").grad(), 1e-5, 1e-6));
    EXPECT_TRUE(torch::allclose(grouter, param(*m, "router.weight").grad(), 1e-5, 1e-6));
    EXPECT_GT(gw1.abs().sum().item<double>(), 0);
    EXPECT_GT(grouter.abs().sum().item<double>(), 0);
  }
}

// run_grouped_ffn against plain ops, row by row: every activation, plain and gated (SwiGLU-like),
// with and without biases, an expert with no rows (which must get no gradient), on one thread and
// on two.
TEST(Moe, GroupedFfnEqualsPlainOpsAndLeavesEmptyExpertsAlone) {
  int threads = at::get_num_threads();
  for (int t : {1, 2})
    for (std::string act : {"relu", "gelu", "silu"})
      for (bool gated : {false, true})
      for (bool bias : {true, false}) {
        SCOPED_TRACE(testing::Message() << act << (gated ? " gated" : "") << (bias ? " with" : " without") << " bias, " << t << " threads");
        at::set_num_threads(t);
        torch::manual_seed(3);
        GroupedFfn f;
        f.activation = circuit::find_op(act)->elementwise;
        for (int e = 0; e < 3; ++e) {
          f.w1.push_back(torch::randn({5, 6}, torch::requires_grad()));
          f.w2.push_back(torch::randn({6, 5}, torch::requires_grad()));
          f.b1.push_back(bias ? torch::randn({5}, torch::requires_grad()) : Tensor());
          f.b2.push_back(bias ? torch::randn({6}, torch::requires_grad()) : Tensor());
          if (gated) {
            f.wu.push_back(torch::randn({5, 6}, torch::requires_grad()));
            f.bu.push_back(bias ? torch::randn({5}, torch::requires_grad()) : Tensor());
          }
        }
        Tensor x = torch::randn({7, 6}, torch::requires_grad());
        Tensor token = torch::tensor({4, 0, 4, 6, 1, 0, 2}, torch::kLong);  // rows of expert 0, then 2 (1 has none)
        Tensor gate = torch::rand({7}, torch::requires_grad());
        std::vector<int64_t> counts = {3, 0, 4};
        Tensor w = torch::randn({7, 6});
        (run_grouped_ffn(f, x, token, gate, counts) * w).sum().backward();
        std::vector<Tensor> ours = {x.grad().clone(), gate.grad().clone(), f.w1[0].grad().clone(), f.w2[2].grad().clone()};
        if (bias) ours.push_back(f.b1[2].grad().clone()), ours.push_back(f.b2[0].grad().clone());
        if (gated) ours.push_back(f.wu[2].grad().clone());
        if (gated && bias) ours.push_back(f.bu[0].grad().clone());
        for (auto& list : {f.w1, f.w2, f.b1, f.b2, f.wu, f.bu})
          for (size_t e = 0; e < list.size(); ++e)
            if (list[e].defined()) {
              EXPECT_EQ(list[e].grad().defined(), e != 1) << "expert " << e;  // no rows, no gradient
            }
        for (Tensor v : {x, gate, f.w1[0], f.w2[2], f.b1[2], f.b2[0], gated ? f.wu[2] : Tensor(), gated ? f.bu[0] : Tensor()})
          if (v.defined()) v.mutable_grad() = Tensor();

        auto activate = [&](const Tensor& h) { return act == "relu" ? torch::relu(h) : act == "gelu" ? torch::gelu(h) : torch::silu(h); };
        Tensor ref = torch::zeros({7, 6});
        for (int64_t i = 0; i < 7; ++i) {
          int64_t e = i < 3 ? 0 : 2, row = token[i].item<int64_t>();
          Tensor hidden = activate(torch::linear(x[row], f.w1[size_t(e)], f.b1[size_t(e)]));
          if (gated) hidden = hidden * torch::linear(x[row], f.wu[size_t(e)], f.bu[size_t(e)]);
          Tensor y = torch::linear(hidden, f.w2[size_t(e)], f.b2[size_t(e)]);
          ref = ref.index_add(0, torch::tensor({row}), (gate[i] * y).unsqueeze(0));
        }
        (ref * w).sum().backward();
        std::vector<Tensor> want = {x.grad(), gate.grad(), f.w1[0].grad(), f.w2[2].grad()};
        if (bias) want.push_back(f.b1[2].grad()), want.push_back(f.b2[0].grad());
        if (gated) want.push_back(f.wu[2].grad());
        if (gated && bias) want.push_back(f.bu[0].grad());
        for (size_t i = 0; i < want.size(); ++i) EXPECT_TRUE(torch::allclose(ours[i], want[i], 1e-5, 1e-5)) << "gradient " << i;
        EXPECT_GT(ours[1].abs().sum().item<double>(), 0);  // the gates really get a gradient
      }
  at::set_num_threads(threads);
}

// The compiler recognises the examples' experts (GELU FFN in moe_mlp, SwiGLU in
// moe_transformer_block) as groupable, maps their weights to the right roles, and the grouped
// layer equals the same layer run one expert module at a time, with capacity dropping.
TEST(Moe, CompiledExampleExpertsRunGroupedAndEqualTheirModules) {
  // Tokens shaped as each example's MoE input: [batch, d] and [batch, seq, d].
  for (auto [name, shape] : {std::pair{std::string("moe_mlp"), std::vector<int64_t>{40}}, {"moe_transformer_block", {4, 10}}}) {
    SCOPED_TRACE(name);
    auto c = circuit::load_circuit(source("resources/examples/" + name + ".circuit.json"));
    ASSERT_TRUE(c) << c.error().message;
    auto m = Model::compile(*c, 4);
    ASSERT_TRUE(m) << m.error().message;
    std::shared_ptr<MoeLayer> moe;
    for (auto& mod : (*m)->module().modules())
      if (auto l = std::dynamic_pointer_cast<MoeLayer>(mod)) moe = l;
    ASSERT_TRUE(moe);
    EXPECT_TRUE(moe->grouped());
    moe->train();
    torch::manual_seed(9);
    shape.push_back(moe->config().d);
    Tensor x = torch::randn(shape, torch::requires_grad());
    auto run = [&] {
      moe->zero_grad();
      x.mutable_grad() = Tensor();
      MoeFlow flow;
      Tensor y = moe->forward(x, flow, nullptr);
      (y * torch::linspace(-1, 1, y.numel()).view_as(y)).sum().backward();
      std::map<std::string, Tensor> grads;
      for (auto& p : moe->named_parameters())
        if (p.value().grad().defined()) grads[p.key()] = p.value().grad().clone();
      return std::tuple{y.detach(), x.grad().clone(), grads};
    };
    auto [y1, gx1, g1] = run();
    moe->use_grouped_ffn(std::nullopt);
    auto [y2, gx2, g2] = run();
    EXPECT_TRUE(torch::allclose(y1, y2, 1e-5, 1e-6)) << (y1 - y2).abs().max().item<double>();
    EXPECT_TRUE(torch::allclose(gx1, gx2, 1e-5, 1e-6)) << (gx1 - gx2).abs().max().item<double>();
    EXPECT_EQ(g1.size(), g2.size());
    EXPECT_GT(g1.size(), size_t(8 * 2));  // every expert's weights have a gradient
    for (auto& [key, g] : g2) {
      ASSERT_TRUE(g1.count(key)) << key;
      EXPECT_TRUE(torch::allclose(g1[key], g, 1e-4, 1e-5)) << key << " " << (g1[key] - g).abs().max().item<double>();
    }
  }
}

// Dispatch groups assignments by slot in assignment order, keeps at most `capacity` per FFN slot
// (the earliest), never limits the MoE++ slots, and names a slot outside the layer.
TEST(Moe, DispatchGroupsBySlotKeepsTheEarliestAndRejectsUnknownSlots) {
  Tensor slot = torch::tensor({2, 0, 2, 3, 1, 0, 2, 3, 3}, torch::kLong);
  Dispatch d = plan_dispatch(slot, 4, 3, 2);  // slots 0-2 are FFN experts, slot 3 a copy expert
  EXPECT_EQ(d.counts, (std::vector<int64_t>{2, 1, 2, 3}));
  EXPECT_TRUE(torch::equal(d.order, torch::tensor({1, 5, 4, 0, 2, 3, 7, 8}, torch::kLong)));
  EXPECT_TRUE(torch::equal(d.kept, torch::tensor({1, 1, 1, 1, 1, 1, 0, 1, 1}, torch::kBool)));  // the third 2 is dropped
  EXPECT_EQ(plan_dispatch(slot, 4, 3, -1).order.numel(), 9);
  try {
    plan_dispatch(torch::tensor({0, 4}, torch::kLong), 4, 4, -1);
    ADD_FAILURE() << "slot 4 of 4 was accepted";
  } catch (const std::out_of_range& e) {
    EXPECT_NE(std::string(e.what()).find("slot 4, outside 0..3"), std::string::npos) << e.what();
  }
}

// The tensor path (any device: pure tensor ops, padded expert buffers, nothing read back to the
// host) against the CPU fast path, on the CPU: for every router, with capacity drops and without,
// with MoE++ slots and shared experts, with expert modules and grouped experts, the same outputs,
// gradients, auxiliary losses, telemetry, dropped assignments and router state after the step.
TEST(Moe, TensorPathEqualsTheHostPathForEveryRouter) {
  struct Case {
    std::string router;
    double cf;
    bool dropless, grouped, extras, noisy;
  };
  std::vector<Case> cases;
  for (std::string router : {"topk", "recurrent", "aux_free", "expert_choice", "relu", "hash"})
    for (bool grouped : {false, true}) {
      cases.push_back({router, 0.6, false, grouped, false, false});   // drops
      cases.push_back({router, 1.25, false, grouped, true, false});   // MoE++ slots, a shared expert
    }
  cases.push_back({"topk", 1.0, true, true, true, false});   // dropless
  cases.push_back({"topk", 0.8, false, true, false, true});  // noisy top-k (same noise: same seed)
  int64_t compared = 0, dropping = 0;
  for (const Case& k : cases) {
    SCOPED_TRACE(testing::Message() << k.router << " cf " << k.cf << (k.dropless ? " dropless" : "") << (k.grouped ? " grouped" : " modules")
                                    << (k.extras ? " +zero/copy/constant/shared" : "") << (k.noisy ? " noisy" : ""));
    MoeConfig c = config(k.router, 6, 2);
    c.capacity_factor = k.cf, c.dropless = k.dropless, c.noisy = k.noisy;
    c.aux_coef = 0.01, c.z_coef = 0.001;
    if (k.extras) c.zero = 1, c.copy = 1, c.constant = 1, c.shared = 1;
    auto make = [&](MoePath path) {
      auto m = layer(c, 3);
      if (k.grouped) m->use_grouped_ffn(grouped_experts(*m, c.experts));
      m->set_path(path);
      m->train();
      if (c.constant) {
        torch::NoGradGuard ng;
        param(*m, "constant_vectors").normal_();  // not zeros, so they count
      }
      return m;
    };
    auto host = make(MoePath::host), tensor = make(MoePath::tensor);
    torch::manual_seed(11);
    Tensor x0 = torch::randn({4, 15, 16});
    struct Out {
      Tensor y, gx;
      std::vector<Tensor> losses;
      std::vector<events::ExpertLoad> load;
    };
    auto run = [&](MoeLayer& m) {
      Out o;
      Tensor x = x0.clone().requires_grad_();
      MoeFlow flow;
      flow.telemetry = &o.load;
      torch::manual_seed(12);  // noisy top-k draws its noise here
      o.y = m.forward(x, flow, &o.losses);
      Tensor total = (o.y * torch::linspace(-1, 1, o.y.numel()).view_as(o.y)).sum();
      for (auto& l : o.losses) total = total + l;
      total.backward();
      o.gx = x.grad().clone();
      o.y = o.y.detach();
      return o;
    };
    Out a = run(*host), b = run(*tensor);
    EXPECT_LE((a.y - b.y).abs().max().item<double>(), 1e-5);
    EXPECT_LE((a.gx - b.gx).abs().max().item<double>(), 1e-5);
    ASSERT_EQ(a.losses.size(), b.losses.size());
    for (size_t i = 0; i < a.losses.size(); ++i) EXPECT_NEAR(a.losses[i].item<double>(), b.losses[i].item<double>(), 1e-6) << "loss " << i;
    auto pb = tensor->named_parameters();
    for (auto& p : host->named_parameters()) {
      // A part no assignment reached has no gradient on the host path and a zero one on the
      // tensor path (its masked share).
      Tensor g1 = p.value().grad(), g2 = pb[p.key()].grad();
      if (!g1.defined()) g1 = torch::zeros_like(p.value());
      if (!g2.defined()) g2 = torch::zeros_like(p.value());
      EXPECT_LE((g1 - g2).abs().max().item<double>(), 1e-5) << p.key();
    }
    auto bb = tensor->named_buffers();
    for (auto& buf : host->named_buffers()) EXPECT_TRUE(torch::allclose(buf.value(), bb[buf.key()])) << buf.key();  // bias, lambda
    ASSERT_EQ(a.load.size(), 1u);
    ASSERT_EQ(b.load.size(), 1u);
    const auto &la = a.load[0], &lb = b.load[0];
    EXPECT_EQ(la.before, lb.before);
    EXPECT_EQ(la.after, lb.after);
    EXPECT_EQ(la.dropped, lb.dropped);
    EXPECT_NEAR(la.entropy, lb.entropy, 1e-6);
    EXPECT_NEAR(la.load_cv, lb.load_cv, 1e-9);
    for (size_t j = 0; j < la.mean_gate.size(); ++j) EXPECT_NEAR(la.mean_gate[j], lb.mean_gate[j], 1e-6);
    dropping += la.dropped > 0;
    ++compared;
  }
  EXPECT_EQ(compared, int64_t(cases.size()));
  EXPECT_GE(dropping, 8);  // the capacity cases did drop, so drops were compared
}

// A router written only against the Router interface, as a Lua plugin will be: every token to
// the expert its position names, gate 1, and a loss that counts calls.
class ByPositionRouter : public Router {
 public:
  // A router owns its logits: this one uses the layer's linear map, as most do.
  ByPositionRouter(const MoeConfig& c, torch::nn::Module& layer) : experts_(c.experts) { add_linear_logits(c, layer); }
  Routing route(const RouterInput& in) override {
    ++calls;
    Routing r;
    r.token = torch::arange(in.tokens, torch::kLong);
    r.slot = r.token.remainder(experts_);
    r.gate = torch::ones({in.tokens}, in.logits.options());
    r.probs = torch::softmax(in.logits, -1);
    if (in.training) r.losses.push_back(in.logits.pow(2).mean());
    return r;
  }
  void observe_load(const Tensor& kept) override { last_load = kept.clone(); }
  int calls = 0;
  Tensor last_load;

 private:
  int64_t experts_;
};

TEST(Routers, ACustomRouterPlugsInThroughTheInterface) {
  ByPositionRouter* made = nullptr;
  register_router("test_by_position", [&](const MoeConfig& c, torch::nn::Module& layer) {
    auto r = std::make_unique<ByPositionRouter>(c, layer);
    made = r.get();
    return r;
  });
  MoeConfig c = config("test_by_position", 4, 1);
  c.d = 8;
  c.dropless = true;
  auto m = layer(c, 3);
  ASSERT_NE(made, nullptr);
  m->train();
  Tensor x = torch::randn({12, 8});
  MoeFlow flow;
  std::vector<Tensor> losses;
  Tensor y = m->forward(x, flow, &losses);
  EXPECT_EQ(made->calls, 1);
  ASSERT_EQ(losses.size(), 1u);  // the router's own loss reaches training
  EXPECT_TRUE(torch::equal(made->last_load, torch::full({4}, 3, torch::kLong)));
  // Token t went to expert t mod 4 with gate 1: the output is that expert applied to the token.
  // Alone in a batch, a token is at position 0 and goes to expert 0; tokens 0, 4, 8 did too.
  for (int64_t t : {0, 4, 8}) EXPECT_TRUE(torch::allclose(m->forward(x.narrow(0, t, 1), flow, nullptr), y.narrow(0, t, 1), 1e-5, 1e-6)) << t;
  EXPECT_FALSE(torch::allclose(m->forward(x.narrow(0, 1, 1), flow, nullptr), y.narrow(0, 1, 1), 1e-5, 1e-6));  // token 1 used expert 1
  (y.sum() + losses[0]).backward();
  EXPECT_TRUE(param(*m, "router.weight").grad().defined());
  // An unknown kind is refused by name when the layer is built.
  MoeConfig bad = config("no_such_router", 4, 1);
  bad.d = 8;
  try {
    layer(bad);
    ADD_FAILURE() << "an unknown router was accepted";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("no router of kind `no_such_router`"), std::string::npos) << e.what();
  }
}

// flatten -> linear(784 -> 32) -> MoE(8 experts) -> linear(32 -> 10), for telemetry runs.
circuit::Circuit moe_classifier(const std::string& router) {
  circuit::Circuit c;
  TensorType d = T({"batch", "d_model:32"});
  Node moe = circuit::ffn_block("moe", d, 32);
  moe.op = "moe";
  moe.inputs = {circuit::PortRef{"fc", 0}};
  moe.attrs = {{"experts", 8}, {"k", 2}, {"router", router}, {"bias_update_rate", 0.003}, {"dropless", true}};
  c.graph = G({In("image", T({"batch", "c:1", "h:28", "w:28"})), N("flat", "flatten", {"image"}),
               N("fc", "linear", {"flat"}, {{"out", 32}, {"out_axis", std::string("d_model")}}), moe,
               N("logits", "linear", {"moe"}, {{"out", 10}, {"out_axis", std::string("class")}})},
              {"logits"});
  return c;
}

// The compiled layer's router writes its own TorchScript selection; a router without one is refused
// by name instead of being exported wrong.
TEST(Routers, EachRouterWritesItsOwnTorchScriptForm) {
  auto topk = Model::compile(moe_classifier("topk"), 1);
  auto src = torchscript_source(**topk);
  ASSERT_TRUE(src.ok()) << src.error().message;
  EXPECT_NE(src->find(".topk(2, -1)"), std::string::npos) << *src;
  EXPECT_EQ(src->find("selection_bias"), std::string::npos);
  auto aux_free = Model::compile(moe_classifier("aux_free"), 1);
  src = torchscript_source(**aux_free);
  ASSERT_TRUE(src.ok()) << src.error().message;
  EXPECT_NE(src->find("self.moe__selection_bias).topk(2, -1)[1]"), std::string::npos) << *src;
  circuit::Circuit ec = moe_classifier("expert_choice");
  ec.graph.node("moe")->attrs["dropless"] = false;  // expert choice fixes capacity itself
  auto expert_choice = Model::compile(ec, 1);
  ASSERT_TRUE(expert_choice.ok()) << expert_choice.error().message;
  auto refused = torchscript_source(**expert_choice);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("node `moe`: router `expert_choice` has no TorchScript form"), std::string::npos)
      << refused.error().message;
}

TEST(Integration, AuxFreeBiasLowersMaxVioAgainstNoBalancing) {
  DataOptions o;
  o.train_limit = 6400;
  o.test_limit = 100;
  auto data = load_dataset(o);
  ASSERT_TRUE(data.ok()) << data.error().message;
  std::map<std::string, double> late_maxvio, window_maxvio;
  for (std::string router : {"topk", "aux_free"}) {
    auto m = Model::compile(moe_classifier(router), 11);
    ASSERT_TRUE(m.ok()) << m.error().message;
    events::Bus bus;
    std::vector<double> maxvio;
    std::vector<double> losses;
    std::vector<int64_t> window(8, 0);  // expert load summed over steps 51-100
    bus.subscribe([&](const events::Event& e) {
      if (auto* l = std::get_if<events::ExpertLoad>(&e)) {
        maxvio.push_back(l->max_vio);
        if (l->step > 50)
          for (size_t j = 0; j < 8; ++j) window[j] += l->after[j];
        EXPECT_EQ(l->before.size(), 8u);
        EXPECT_NEAR(l->active_per_token, 2.0, 1e-9);  // capacity 2: nothing dropped
      }
      if (auto* s = std::get_if<events::TrainStep>(&e)) losses.push_back(s->loss);
    });
    TrainOptions t;
    t.batch = 64;
    t.seed = 1;
    t.bus = &bus;
    auto r = train(**m, *data, t);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(maxvio.size(), 100u);
    double sum = 0;
    for (size_t i = 50; i < 100; ++i) sum += maxvio[i];
    late_maxvio[router] = sum / 50;
    double mean = 0, top = 0;
    for (auto v : window) mean += double(v) / 8, top = std::max(top, double(v));
    window_maxvio[router] = (top - mean) / mean;
    EXPECT_GT(r->val.accuracy, 0.6) << router;
  }
  std::printf("MaxVio, steps 51-100: per step (mean) no balancing %.3f, aux-loss-free %.3f; of the summed load %.3f vs %.3f\n",
              late_maxvio["topk"], late_maxvio["aux_free"], window_maxvio["topk"], window_maxvio["aux_free"]);
  EXPECT_LT(late_maxvio["aux_free"], late_maxvio["topk"]);
  EXPECT_LT(window_maxvio["aux_free"], 0.75 * window_maxvio["topk"]);
}

}  // namespace
}  // namespace engine

namespace engine {
namespace {

// ReMoE's controller in a real run: lambda grows while too many experts are active and shrinks
// when too few are, so the measured sparsity of the ReLU gates walks to its target.
TEST(Integration, ReluRoutingSparsityMovesToItsTarget) {
  DataOptions o;
  o.train_limit = 6400;
  o.test_limit = 100;
  auto data = load_dataset(o);
  ASSERT_TRUE(data.ok()) << data.error().message;
  // Targets above the untrained ~0.5: the L1 pressure can only make gates sparser, so a target
  // below what the gates do unpressed is out of the controller's reach (lambda just decays).
  for (double target : {0.9, 0.75}) {
    circuit::Circuit c = moe_classifier("relu");
    c.graph.nodes[3].attrs["relu_target_sparsity"] = target;
    auto m = Model::compile(c, 4);
    ASSERT_TRUE(m.ok()) << m.error().message;
    events::Bus bus;
    std::vector<double> sparsity;  // fraction of the 8 experts a token does not use, per step
    bus.subscribe([&](const events::Event& e) {
      if (auto* l = std::get_if<events::ExpertLoad>(&e)) sparsity.push_back(1 - l->active_per_token / 8);
    });
    TrainOptions t;
    t.batch = 64;
    t.seed = 2;
    t.bus = &bus;
    auto r = train(**m, *data, t);
    ASSERT_TRUE(r.ok()) << r.error().message;
    ASSERT_EQ(sparsity.size(), 100u);
    auto mean = [&](size_t a, size_t b) {
      double s = 0;
      for (size_t i = a; i < b; ++i) s += sparsity[i];
      return s / double(b - a);
    };
    double early = mean(0, 5), late = mean(80, 100);
    std::printf("ReLU routing, target sparsity %.2f: steps 1-5 %.3f, steps 81-100 %.3f\n", target, early, late);
    EXPECT_LT(std::abs(late - target), 0.5 * std::abs(early - target)) << target;
    EXPECT_LT(std::abs(late - target), 0.1) << target;
  }
}

}  // namespace
}  // namespace engine
