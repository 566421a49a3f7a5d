// The engine against the IR and against itself: every op compiles and runs forward and backward
// with the shapes the IR inferred; parameter counts agree with the IR; training is repeatable
// bit for bit; resume equals an uninterrupted run; NaN stops a run; TorchScript export round-trips
// and creates every tensor on its input's device.
#include <torch/script.h>
#include <torch/torch.h>

#include <algorithm>
#include <filesystem>
#include <regex>
#include <set>

#include "../circuit/helpers.h"
#include "../example_files.h"
#include "circuit/templates.h"
#include "engine/checkpoint.h"
#include "engine/measure.h"
#include "engine/memory.h"
#include "engine/export.h"
#include "engine/model.h"
#include "engine/train.h"
#include "model_inputs.h"

namespace engine {
namespace {

using namespace circuit;
using namespace circuit::test;
namespace fs = std::filesystem;

using engine::test::inputs_for;

std::vector<int64_t> sizes_of(const TensorType& t, const Bindings& b) {
  std::vector<int64_t> s;
  for (auto& a : t.axes) s.push_back(resolve(a.size, b));
  return s;
}


TEST(Engine, EveryOpRunsForwardAndBackwardWithTheInferredShapes) {
  using S = std::vector<std::string>;
  using I = std::vector<int64_t>;
  TensorType seq = T({"batch", "seq", "d:8"}), img = T({"batch", "c:3", "h:8", "w:8"});
  TensorType tok = T({"batch", "seq", "d_model:8"});
  Node moe = ffn_block("node", tok, 16);
  moe.op = "moe";
  moe.attrs = {{"experts", 4}, {"k", 2}, {"shared_experts", 1}, {"aux_loss_coef", 0.01}, {"z_loss_coef", 0.001}};
  Node moe_noisy = moe;
  moe_noisy.attrs["noisy"] = true;
  moe_noisy.attrs["dropless"] = true;
  Node moe_flat = ffn_block("node", T({"batch", "d_model:8"}), 16);
  moe_flat.op = "moe";
  moe_flat.attrs = {{"experts", 4}, {"k", 2}, {"dropless", true}};
  auto moe_with = [&](Attrs extra) {
    Node m = moe;
    for (auto& [k, v] : extra) m.attrs[k] = v;
    return m;
  };
  struct C {
    Node n;
    std::vector<TensorType> in;
  } cases[] = {
      {N("node", "linear", {}, {{"out", 5}}), {seq}},
      {N("node", "linear", {}, {{"out", 5}, {"in_axis", std::string("seq")}, {"out_axis", std::string("mix")}}), {T({"batch", "seq:6", "d:8"})}},
      {N("node", "embedding", {}, {{"num", 8}, {"dim", 4}}), {T({"batch", "seq"}, DType::i64)}},
      {N("node", "layer_norm"), {seq}},
      {N("node", "layer_norm", {}, {{"axis", std::string("c")}}), {img}},
      {N("node", "rms_norm"), {seq}},
      {N("node", "batch_norm"), {img}},
      {N("node", "batch_norm", {}, {{"axis", std::string("d")}}), {seq}},
      {N("node", "relu"), {seq}},
      {N("node", "gelu"), {seq}},
      {N("node", "silu"), {seq}},
      {N("node", "softmax", {}, {{"axis", std::string("seq")}}), {seq}},
      {N("node", "dropout", {}, {{"p", 0.5}}), {seq}},
      {N("node", "add"), {seq, seq}},
      {N("node", "multiply"), {seq, seq, seq}},
      {N("node", "reduce", {}, {{"axes", S{"seq"}}}), {seq}},
      {N("node", "reduce", {}, {{"axes", S{"h", "w"}}, {"mode", std::string("max")}}), {img}},
      {N("node", "exit_head", {}, {{"classes", 4}}), {img}},
      {N("node", "exit_head", {}, {{"classes", 4}}), {seq}},
      {N("node", "conv2d", {}, {{"out", 6}, {"kernel", I{3, 2}}, {"stride", I{2}}, {"padding", I{1}}, {"dilation", I{1, 2}}}), {img}},
      {N("node", "conv2d", {}, {{"out", 6}, {"groups", 3}, {"bias", false}}), {img}},
      {N("node", "dwconv2d", {}, {{"multiplier", 2}, {"padding", I{1}}}), {img}},
      {N("node", "pool2d", {}, {{"kernel", I{2}}}), {img}},
      {N("node", "pool2d", {}, {{"mode", std::string("avg")}, {"kernel", I{3}}, {"stride", I{1}}, {"padding", I{1}}}), {img}},
      {N("node", "pool2d", {}, {{"mode", std::string("global_avg")}}), {img}},
      {N("node", "pool2d", {}, {{"mode", std::string("global_max")}}), {img}},
      {N("node", "flatten"), {img}},
      {N("node", "flatten", {}, {{"axes", S{"h", "w"}}}), {img}},
      {N("node", "reshape", {}, {{"shape", S{"batch", "seq", "heads:2", "dh:?"}}}), {seq}},
      {N("node", "transpose", {}, {{"order", S{"d", "batch", "seq"}}}), {seq}},
      {N("node", "concat", {}, {{"axis", std::string("d")}}), {seq, seq}},
      {N("node", "split", {}, {{"axis", std::string("d")}, {"sizes", I{3, 5}}}), {seq}},
      {N("node", "attention", {}, {{"heads", 2}}), {seq}},
      {N("node", "attention", {}, {{"heads", 4}, {"causal", true}, {"window", 2}, {"bias", false}}), {seq}},
      {N("node", "attention", {}, {{"heads", 2}, {"seq_axis", std::string("h")}}), {T({"batch", "h:5", "w:3", "d:8"})}},
      {N("node", "attention", {}, {{"heads", 4}, {"kv_heads", 2}, {"rope_theta", 10000.0}, {"qk_norm", true}, {"gate", std::string("element")}, {"causal", true}}), {seq}},
      {N("node", "attention", {}, {{"heads", 2}, {"head_dim", 4}, {"kv_heads", 1}, {"rope_theta", 100.0}, {"rope_fraction", 0.5},
                                   {"rope_layout", std::string("interleaved")}, {"gate", std::string("head")}, {"out_bias", false}, {"dropout", 0.1}}), {seq}},
      {N("node", "latent_attention", {}, {{"heads", 2}, {"q_lora_rank", 4}, {"kv_lora_rank", 6}, {"qk_nope_dim", 2}, {"qk_rope_dim", 2}, {"v_head_dim", 3}, {"causal", true}}), {seq}},
      {N("node", "latent_attention", {}, {{"heads", 2}, {"kv_lora_rank", 3}, {"qk_nope_dim", 0}, {"qk_rope_dim", 4}, {"v_head_dim", 4}, {"seq_axis", std::string("h")}}),
       {T({"batch", "h:5", "w:3", "d:8"})}},
      {N("node", "gru", {}, {{"hidden", 6}}), {seq}},
      {N("node", "gru", {}, {{"hidden", 6}, {"layers", 2}, {"seq_axis", std::string("seq")}}), {T({"batch", "seq", "x:2", "d:8"})}},
      {N("node", "einsum", {}, {{"equation", std::string("b s d, b t d -> b s t")}}), {seq, seq}},
      {N("node", "einsum", {}, {{"equation", std::string("b s d -> d b")}}), {seq}},
      {N("node", "pool1d", {}, {{"kernel", 3}}), {seq}},
      {N("node", "pool1d", {}, {{"kernel", 4}, {"causal", false}, {"seq_axis", std::string("seq")}}), {T({"batch", "seq", "x:2", "d:8"})}},
      {N("node", "lstm", {}, {{"hidden", 6}, {"layers", 2}}), {seq}},
      {N("node", "conv1d", {}, {{"out", 6}, {"kernel", 3}, {"causal", false}}), {seq}},
      {N("node", "conv1d", {}, {{"depthwise", true}, {"bias", false}, {"seq_axis", std::string("seq")}}), {T({"batch", "seq", "x:2", "d:8"})}},
      {N("node", "linear_attention", {}, {{"heads", 2}, {"chunk", 2}}), {seq}},
      {N("node", "linear_attention", {}, {{"heads", 2}, {"causal", false}, {"feature_map", std::string("relu")}, {"bias", true}}), {seq}},
      {N("node", "gated_delta", {}, {{"heads", 2}, {"chunk", 2}}), {seq}},
      {N("node", "gated_delta", {}, {{"heads", 2}, {"head_dim", 3}, {"conv", 0}, {"gate", false}, {"seq_axis", std::string("h")}}),
       {T({"batch", "h:5", "w:3", "d:8"})}},
      {N("node", "mamba2", {}, {{"heads", 4}, {"state", 4}, {"chunk", 4}}), {seq}},
      {N("node", "mamba2", {}, {{"heads", 2}, {"state", 2}, {"conv", 0}, {"expand", 1}}), {seq}},
      {N("node", "mamba", {}, {{"state", 4}, {"chunk", 4}}), {seq}},
      {N("node", "mamba", {}, {{"state", 2}, {"conv", 0}, {"expand", 1}, {"dbc_norm", std::string("rms")}, {"seq_axis", std::string("h")}}),
       {T({"batch", "h:5", "w:3", "d:8"})}},
      {ffn_block("node", seq, 12), {seq}},
      {moe, {tok}},
      {moe_noisy, {tok}},
      {moe_with({{"router", std::string("expert_choice")}}), {tok}},
      {moe_with({{"router", std::string("relu")}}), {tok}},
      {moe_with({{"router", std::string("aux_free")}}), {tok}},
      {moe_with({{"router", std::string("hash")}}), {tok}},
      {moe_with({{"zero_experts", 1}, {"copy_experts", 1}, {"constant_experts", 2}, {"gating_residual", true}}), {tok}},
      {moe_flat, {T({"batch", "d_model:8"})}},
  };
  std::set<std::string> covered{"input"};
  Bindings b = B({{"seq", 5}});
  b["batch"] = 3;
  for (auto& c : cases) {
    SCOPED_TRACE(c.n.op + " " + to_string(c.in[0]));
    Circuit circ = one_op(c.n, c.in, b);
    GraphAnalysis a = analyze(circ.graph, b);
    ASSERT_TRUE(a.ok()) << a.diagnostics(circ.graph)[0].message;
    auto m = Model::compile(circ, 7);
    ASSERT_TRUE(m.ok()) << m.error().message;
    covered.insert(c.n.op);
    (*m)->set_training(true);
    auto in = inputs_for(**m, b);
    for (auto& t : in)
      if (t.is_floating_point()) t.requires_grad_(true);
    std::vector<at::Tensor> aux;
    auto out = (*m)->forward(in, &aux);
    ASSERT_EQ(out.size(), a.outputs.size());
    at::Tensor loss = torch::zeros({});
    for (size_t k = 0; k < out.size(); ++k) {
      EXPECT_EQ(out[k].sizes().vec(), sizes_of(a.outputs[k], b)) << "output " << k;
      loss = loss + out[k].pow(2).sum();
    }
    for (auto& x : aux) loss = loss + x;
    loss.backward();
    for (auto& p : (*m)->module().named_parameters()) {
      // A gating residual reads the previous MoE layer's logits; a lone MoE layer has none.
      if (p.key().find("gating_residual") != std::string::npos) continue;
      ASSERT_TRUE(p.value().grad().defined()) << "no gradient for " << p.key();
      EXPECT_TRUE(torch::isfinite(p.value().grad()).all().item<bool>()) << p.key();
    }
    EXPECT_EQ((*m)->parameter_count(), a.total.params);
    // An export runs wherever its input is (CPU or CUDA): it creates no tensor without the
    // input's device. `*_like` calls inherit it; a router without a TorchScript form is refused.
    if (auto src = torchscript_source(**m)) {
      static const std::regex creation(R"(torch\.(zeros|ones|empty|full|arange|eye|rand|randn|randint|tensor|linspace)\(([^()]|\([^()]*\))*\))");
      for (auto it = std::sregex_iterator(src->begin(), src->end(), creation); it != std::sregex_iterator(); ++it)
        EXPECT_NE(it->str().find("device="), std::string::npos) << "creates a tensor without a device: " << it->str();
    }
    if (c.n.op == "moe" && c.n.attrs.count("aux_loss_coef") && !c.n.attrs.count("router")) {
      EXPECT_EQ(aux.size(), 2u) << "aux and z losses";
    }
  }
  for (const OpDef* d : all_ops()) EXPECT_TRUE(covered.count(d->name)) << "op `" << d->name << "` has no engine case";
}


TEST(Engine, GeluGradientIsRightWhateverTheGradientLayout) {
  // Regression: LibTorch 1.13's GELU backward misreads non-contiguous gradients. The circuit
  // routes GELU's output through transpose + flatten + reduce, as the hybrid example does.
  Circuit c;
  c.graph = G({In("x", T({"batch", "c:16", "h:7", "w:7"})), N("act", "gelu", {"x"}),
               N("t", "transpose", {"act"}, {{"order", std::vector<std::string>{"batch", "h", "w", "c"}}}),
               N("f", "flatten", {"t"}, {{"axes", std::vector<std::string>{"h", "w"}}, {"name", std::string("tokens")}}),
               N("r", "reduce", {"f"}, {{"axes", std::vector<std::string>{"tokens"}}})},
              {"r"});
  auto m = Model::compile(c, 0);
  ASSERT_TRUE(m.ok()) << m.error().message;
  torch::manual_seed(0);
  at::Tensor x = torch::randn({8, 16, 7, 7}, torch::requires_grad());
  (*m)->forward({x})[0].pow(2).sum().backward();
  at::Tensor ours = x.grad().clone();
  x.grad().zero_();
  at::Tensor gelu = x * 0.5 * (1 + torch::erf(x / std::sqrt(2.0)));  // closed form, plain autograd
  gelu.permute({0, 2, 3, 1}).flatten(1, 2).mean(1).pow(2).sum().backward();
  EXPECT_LE((ours - x.grad()).abs().max().item<double>(), 1e-6);
  EXPECT_GT(ours.abs().max().item<double>(), 1e-3);
}

TEST(Engine, AttentionEqualsPyTorchMultiheadAttention) {
  // Same weights in torch::nn::MultiheadAttention (sequence-first layout) must give the same output.
  for (bool causal : {false, true}) {
    Circuit c = one_op(N("attn", "attention", {}, {{"heads", 4}, {"causal", causal}}), {T({"batch", "seq", "d:16"})}, {{"seq", 6}});
    auto m = Model::compile(c, 3);
    ASSERT_TRUE(m.ok()) << m.error().message;
    auto ref = torch::nn::MultiheadAttention(torch::nn::MultiheadAttentionOptions(16, 4));
    torch::NoGradGuard ng;
    auto ours = (*m)->module().named_parameters();
    ref->in_proj_weight.copy_(ours["attn.in_proj_weight"]);
    ref->in_proj_bias.copy_(ours["attn.in_proj_bias"]);
    ref->out_proj->weight.copy_(ours["attn.out_proj.weight"]);
    ref->out_proj->bias.copy_(ours["attn.out_proj.bias"]);
    at::Tensor x = torch::randn({2, 6, 16});
    (*m)->set_training(false);
    ref->eval();
    // LibTorch's C++ MultiheadAttention adds attn_mask (it does not read a bool mask as "blocked"
    // the way Python does), so the causal mask is additive -inf above the diagonal.
    at::Tensor mask = causal ? torch::zeros({6, 6}).masked_fill(torch::ones({6, 6}, torch::kBool).triu(1), -INFINITY) : at::Tensor();
    at::Tensor xt = x.transpose(0, 1);
    at::Tensor want = std::get<0>(ref->forward(xt, xt, xt, {}, true, mask)).transpose(0, 1);
    at::Tensor got = (*m)->forward({x})[0];
    EXPECT_LE((got - want).abs().max().item<double>(), 1e-5) << (causal ? "causal" : "full");
  }
}

TEST(Engine, AttentionFromEinsumSoftmaxEinsumEqualsTheAttentionOp) {
  // resources/examples/attention_einsum (linear q, k, v -> einsum -> softmax -> einsum -> linear)
  // with the attention op's weights, the 1/sqrt(16) scale folded into q's, must give its output.
  Circuit drawn = *load_circuit(source("resources/examples/attention_einsum.circuit.json"));
  Circuit op = *load_circuit(source("resources/examples/attention.circuit.json"));
  auto a = Model::compile(op, 3), e = Model::compile(drawn, 4);
  ASSERT_TRUE(a.ok() && e.ok());
  EXPECT_EQ((*a)->parameter_count(), (*e)->parameter_count());
  EXPECT_EQ(analyze(op).total.flops, analyze(drawn).total.flops) << "the same arithmetic, counted the same";
  {
    torch::NoGradGuard ng;
    auto from = (*a)->module().named_parameters();
    auto to = (*e)->module().named_parameters();
    at::Tensor w = from["attn.in_proj_weight"], b = from["attn.in_proj_bias"];
    const char* names[] = {"q", "k", "v"};
    for (int64_t k = 0; k < 3; ++k) {
      double scale = k == 0 ? 1 / std::sqrt(16.0) : 1.0;
      to[std::string(names[k]) + ".weight"].copy_(w.narrow(0, 64 * k, 64) * scale);
      to[std::string(names[k]) + ".bias"].copy_(b.narrow(0, 64 * k, 64) * scale);
    }
    to["out.weight"].copy_(from["attn.out_proj.weight"]);
    to["out.bias"].copy_(from["attn.out_proj.bias"]);
  }
  torch::manual_seed(6);
  at::Tensor x = torch::randn({3, 32, 64});
  torch::NoGradGuard ng;
  at::Tensor want = (*a)->forward({x})[0], got = (*e)->forward({x})[0];
  EXPECT_LE((got - want).abs().max().item<double>(), 1e-5);
  EXPECT_GT(want.abs().max().item<double>(), 0.1);
}

TEST(Engine, CompiledParameterCountsEqualTheIrForEveryExample) {
  for (auto& path : example_paths()) {
    SCOPED_TRACE(path);
    auto c = load_circuit(path);
    ASSERT_TRUE(c.ok());
    auto m = Model::compile(*c, 0);
    ASSERT_TRUE(m.ok()) << m.error().message;
    EXPECT_EQ((*m)->parameter_count(), analyze(*c).total.params);
  }
}

TEST(Engine, TorchScriptExportReloadsInCppWithIdenticalOutputs) {
  fs::path dir = fs::temp_directory_path() / ("circuit_export_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  for (auto& path : example_paths()) {
    SCOPED_TRACE(path);
    auto c = load_circuit(path);
    auto m = Model::compile(*c, 3);
    ASSERT_TRUE(m.ok()) << m.error().message;
    Bindings b = cost_bindings(*c);
    b["batch"] = 4;
    auto in = inputs_for(**m, b, 11);
    (*m)->set_training(false);
    torch::NoGradGuard ng;
    auto ours = (*m)->forward(in);
    std::string pt = (dir / (fs::path(path).stem().stem().string() + ".pt")).string();
    auto s = export_model(**m, pt);
    ASSERT_TRUE(s.ok()) << s.error;
    torch::jit::Module loaded = torch::jit::load(pt);
    std::vector<torch::jit::IValue> args(in.begin(), in.end());
    torch::jit::IValue r = loaded.forward(args);
    std::vector<at::Tensor> theirs;
    if (r.isTuple())
      for (auto& e : r.toTuple()->elements()) theirs.push_back(e.toTensor());
    else
      theirs.push_back(r.toTensor());
    ASSERT_EQ(theirs.size(), ours.size());
    for (size_t k = 0; k < ours.size(); ++k) {
      EXPECT_EQ(theirs[k].sizes(), ours[k].sizes());
      EXPECT_LE((theirs[k] - ours[k]).abs().max().item<double>(), 1e-5) << "output " << k;
    }
  }
  fs::remove_all(dir);
}

// A small slice of Fashion-MNIST, loaded once for the training tests.
const Dataset& fashion(int64_t train = 2000) {
  static std::map<int64_t, Dataset> cache;
  if (!cache.count(train)) {
    DataOptions o;
    o.train_limit = train;
    o.test_limit = 2000;
    auto d = load_dataset(o);
    EXPECT_TRUE(d.ok()) << d.error().message;
    cache[train] = std::move(*d);
  }
  return cache[train];
}

std::vector<at::Tensor> params_of(Model& m) {
  std::vector<at::Tensor> v;
  for (auto& p : m.module().parameters()) v.push_back(p.detach().clone());
  return v;
}

bool identical(const std::vector<at::Tensor>& a, const std::vector<at::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (!torch::equal(a[k], b[k])) return false;
  return true;
}


TEST(Training, SeededRunsAreBitForBitRepeatable) {
  TrainOptions o;
  o.seed = 5;
  o.batch = 100;
  std::vector<at::Tensor> first;
  for (int run = 0; run < 2; ++run) {
    auto m = Model::compile(example("cnn"), 5);  // has dropout and batch norm: both must repeat
    auto r = train(**m, fashion(), o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(r->status, events::RunStatus::finished);
    if (run == 0) first = params_of(**m);
    else EXPECT_TRUE(identical(first, params_of(**m)));
  }
  // A different seed gives a different run.
  o.seed = 6;
  auto m = Model::compile(example("cnn"), 5);
  ASSERT_TRUE(train(**m, fashion(), o).ok());
  EXPECT_FALSE(identical(first, params_of(**m)));
}

TEST(Training, ResumeFromACheckpointEqualsAnUninterruptedRun) {
  fs::path ck = fs::temp_directory_path() / ("circuit_ck_" + std::to_string(::getpid()) + ".ckpt");
  TrainOptions o;
  o.seed = 9;
  o.epochs = 2;
  o.batch = 128;
  auto straight = Model::compile(example("mlp"), 1);
  auto r1 = train(**straight, fashion(), o);
  ASSERT_TRUE(r1.ok()) << r1.error().message;

  TrainOptions first = o;
  first.checkpoint = ck.string();
  first.stop_after = 1;
  auto a = Model::compile(example("mlp"), 1);
  auto ra = train(**a, fashion(), first);
  ASSERT_TRUE(ra.ok()) << ra.error().message;
  EXPECT_EQ(ra->status, events::RunStatus::stopped);
  auto info = read_checkpoint_info(ck.string());
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->epochs_done, 1);
  EXPECT_EQ(info->seed, 9u);

  TrainOptions second = o;
  second.resume = ck.string();
  auto b = Model::compile(example("mlp"), 12345);  // different init: the checkpoint's weights must win
  auto rb = train(**b, fashion(), second);
  ASSERT_TRUE(rb.ok()) << rb.error().message;
  EXPECT_EQ(rb->status, events::RunStatus::finished);
  EXPECT_EQ(rb->steps, r1->steps);
  EXPECT_TRUE(identical(params_of(**straight), params_of(**b)));
  // A checkpoint of another circuit is refused.
  auto other = Model::compile(example("cnn"), 1);
  auto bad = train(**other, fashion(), second);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("different circuit"), std::string::npos);
  fs::remove(ck);
}

TEST(Training, NanLossStopsTheRunWithTheNanStatus) {
  TrainOptions o;
  o.optimizer = engine::Optimizer::sgd;
  o.lr = 1e30;
  o.clip = 0;
  o.warmup = 0;
  auto m = Model::compile(example("mlp"), 0);
  events::Bus bus;
  std::string ended;
  bus.subscribe([&](const events::Event& e) {
    if (auto* r = std::get_if<events::RunEnd>(&e)) ended = events::to_string(r->status);
  });
  o.bus = &bus;
  auto r = train(**m, fashion(), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_EQ(r->status, events::RunStatus::nan);
  EXPECT_NE(r->message.find("at step"), std::string::npos) << r->message;
  EXPECT_LT(r->steps, 20);  // stopped right away, not after the epoch
  EXPECT_EQ(ended, "nan");
}

TEST(Training, CancelStopsBetweenSteps) {
  std::atomic<bool> cancel{false};
  events::Bus bus;
  bus.subscribe([&](const events::Event& e) {
    if (auto* s = std::get_if<events::TrainStep>(&e); s && s->step == 3) cancel = true;
  });
  TrainOptions o;
  o.cancel = &cancel;
  o.bus = &bus;
  auto m = Model::compile(example("mlp"), 0);
  auto r = train(**m, fashion(), o);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, events::RunStatus::cancelled);
  EXPECT_EQ(r->steps, 3);
}

TEST(Training, RefusesWhatDoesNotFit) {
  // Memory: 4e10 parameters are refused from the IR alone, before any allocation.
  Circuit huge;
  huge.graph = G({In("x", T({"batch", "d:200000"})), N("fc", "linear", {"x"}, {{"out", 200000}})}, {"fc"});
  auto st = check_memory(analyze(huge), 64, Optimizer::adamw, 0.8);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error.find("exceeds the budget"), std::string::npos) << st.error;
  EXPECT_TRUE(check_memory(analyze(example("mlp")), 64, Optimizer::adamw, 0.8).ok());
  // Compiling alone refuses it too, with the numbers, before a weight exists.
  auto refused = Model::compile(huge, 0);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("the circuit has 40000200000 parameters"), std::string::npos) << refused.error().message;
  // Shapes: a sequence model cannot train on images, and says why.
  auto m = Model::compile(example("transformer_block"), 0);
  auto fit = check_fit(**m, fashion());
  ASSERT_FALSE(fit.ok());
  EXPECT_NE(fit.error.find("input `x` is [batch, seq, d_model=128] but `fashion-mnist` gives [batch, 1, 28, 28]"), std::string::npos)
      << fit.error;
}

TEST(Training, EarlyExitAndHybridExamplesTrain) {
  // Every exit head contributes its weighted loss. Validation loss must fall clearly.
  for (const char* name : {"early_exit", "hybrid_conv_attention"}) {
    SCOPED_TRACE(name);
    auto m = Model::compile(example(name), 2);
    const Dataset& d = fashion(10000);
    double before = evaluate(**m, d, d.val).loss;
    TrainOptions o;
    o.batch = 50;
    o.lr = 3e-3;
    auto r = train(**m, d, o);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_LT(r->val.loss, 0.85 * before);
    EXPECT_GT(r->val.accuracy, 0.3);
  }
}

TEST(Training, MoeTransformerLearnsMqar) {
  DataOptions d;
  d.name = "mqar";
  d.seq_len = 32;
  d.vocab = 32;
  d.pairs = 4;
  d.train_size = 2000;
  d.val_size = d.test_size = 200;
  auto data = load_dataset(d);
  ASSERT_TRUE(data.ok()) << data.error().message;
  // embedding -> MoE transformer block (from the example, resized) -> vocabulary logits
  Circuit c = example("moe_transformer_block");
  c.symbols["seq"] = 32;
  Document doc(c);
  ASSERT_TRUE(doc.apply(AddNode{"", N("tokens", "input", {}, {{"shape", std::vector<std::string>{"batch", "seq"}}, {"dtype", std::string("i64")}}), 0}).ok());
  ASSERT_TRUE(doc.apply(AddNode{"", N("embed", "embedding", {"tokens"}, {{"num", 32}, {"dim", 128}}), 1}).ok());
  for (auto& n : doc.circuit().graph.nodes)
    for (size_t p = 0; p < n.inputs.size(); ++p)
      if (n.inputs[p].node == "x") {
        auto ins = n.inputs;
        ins[p] = PortRef{"embed", 0};
        ASSERT_TRUE(doc.apply(SetInputs{n.name, ins}).ok());
      }
  ASSERT_TRUE(doc.apply(RemoveNode{"x"}).ok());
  ASSERT_TRUE(doc.apply(AddNode{"", N("logits", "linear", {"res2"}, {{"out", 32}, {"out_axis", std::string("vocab")}})}).ok());
  ASSERT_TRUE(doc.apply(SetOutputs{"", {PortRef{"logits", 0}}}).ok());
  ASSERT_TRUE(doc.analysis().ok()) << doc.analysis().diagnostics(doc.circuit().graph)[0].message;
  auto m = Model::compile(doc.circuit(), 4);
  ASSERT_TRUE(m.ok()) << m.error().message;
  TrainOptions o;
  o.batch = 32;
  o.epochs = 1;
  o.lr = 3e-3;
  double before = evaluate(**m, *data, data->val).loss;
  auto r = train(**m, *data, o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EXPECT_LT(r->val.loss, before * 0.9);
}

TEST(Integration, CnnLearnsFashionMnist) {
  // The example CNN, one epoch on 10,000 training images: far above the 10 % of chance on the
  // held-out test images.
  auto m = Model::compile(example("cnn"), 0);
  TrainOptions o;
  o.batch = 64;
  auto r = train(**m, fashion(10000), o);
  ASSERT_TRUE(r.ok()) << r.error().message;
  EvalResult test = evaluate(**m, fashion(10000), fashion(10000).test);
  EXPECT_GT(test.accuracy, 0.75);
  EXPECT_EQ(test.per_class.size(), 10u);
  EXPECT_GT(r->val.accuracy, 0.75);
}

TEST(Measure, LatencyAndPeakMemoryAreMeasured) {
  auto m = Model::compile(example("cnn"), 0);
  Latency l = measure_latency(**m, fashion(), 32, 5);
  EXPECT_GT(l.batch1_ms, 0);
  EXPECT_GT(l.batch_ms, l.batch1_ms);  // 32 images take longer than 1
  int64_t small = measure_peak_memory(**m, fashion(), 8), big = measure_peak_memory(**m, fashion(), 256);
  EXPECT_GT(small, 0);
  EXPECT_GT(big, 4 * small);  // activations grow with the batch
  // Same order as the IR's estimate of activations (x2 for gradients) at that batch.
  double est = double(analyze(example("cnn")).total.activation_bytes) * 256;
  EXPECT_GT(double(big), 0.3 * est);
  EXPECT_LT(double(big), 6 * est);
}

}  // namespace
}  // namespace engine
