// Tests that need a GPU (ctest label `cuda`). Where there is none, each reports skipped with the
// reason; it never counts as passed. `scripts/gpu-check.sh` runs them on a machine with one.
#include <algorithm>
#include <ATen/Context.h>
#include <torch/cuda.h>
#include <torch/torch.h>

#include <filesystem>
#include <unistd.h>

#include "../circuit/helpers.h"
#include "example_files.h"
#include "circuit/circuit_file.h"
#include "engine/detail/moe.h"
#include "engine/device.h"
#include "engine/checkpoint.h"
#include "engine/experiment.h"
#include "engine/model.h"
#include "engine/train.h"
#include "model_inputs.h"

namespace engine {
namespace {

using circuit::test::source;
namespace fs = std::filesystem;

#define REQUIRE_CUDA()                                                     \
  do {                                                                     \
    CudaAvailability cuda = cuda_availability();                           \
    if (!cuda.available) GTEST_SKIP() << "needs a CUDA GPU: " << cuda.reason; \
    at::globalContext().setAllowTF32CuBLAS(false);                         \
    at::globalContext().setAllowTF32CuDNN(false);                          \
  } while (0)

// With TF32 off, CUDA and the CPU differ only in the order of their sums: measured 1e-6 on an
// H200 for every example; 1e-4 relative leaves room for deeper circuits and other GPUs.
TEST(Cuda, EveryExampleForwardEqualsTheCpus) {
  REQUIRE_CUDA();
  for (auto& name : example_files()) {
    SCOPED_TRACE(name);
    auto c = circuit::load_circuit(source("resources/examples/" + name));
    ASSERT_TRUE(c.ok());
    auto m = Model::compile(*c, 2);
    ASSERT_TRUE(m.ok()) << m.error().message;
    circuit::Bindings b = circuit::cost_bindings(*c);
    b["batch"] = 8;
    auto in = test::inputs_for(**m, b, 4);
    (*m)->set_training(false);
    torch::NoGradGuard ng;
    auto cpu = (*m)->forward(in);
    (*m)->to(Device::cuda(0));
    auto gpu = (*m)->forward(in);  // moves its inputs
    ASSERT_EQ(cpu.size(), gpu.size());
    for (size_t k = 0; k < cpu.size(); ++k) {
      EXPECT_TRUE(gpu[k].is_cuda());
      double scale = std::max(1.0, cpu[k].abs().max().item<double>());
      EXPECT_LE((gpu[k].cpu() - cpu[k]).abs().max().item<double>(), 1e-4 * scale);
    }
  }
}

TEST(Cuda, TrainingLearns) {
  REQUIRE_CUDA();
  for (const char* example : {"mlp", "moe_mlp"}) {
    SCOPED_TRACE(example);
    ExperimentRequest r;
    r.circuit = *circuit::load_circuit(source("resources/examples/" + std::string(example) + ".circuit.json"));
    r.data.name = "fashion-mnist";
    r.data.train_limit = 5000;
    r.train.device = engine::Device::cuda(0);
    r.latency = r.peak_memory = true;
    ExperimentReport rep = run_experiment(std::move(r));
    ASSERT_TRUE(rep.finished()) << rep.message;
    EXPECT_EQ(rep.device.rfind("cuda:0", 0), 0u) << rep.device;
    EXPECT_EQ(rep.model->device().str(), "cuda:0");
    EXPECT_GT(rep.train.val.accuracy, 0.7);
    EXPECT_GT(rep.test->accuracy, 0.7);
    EXPECT_GT(*rep.peak_memory, 0);
    EXPECT_GT(rep.latency->batch1_ms, 0);
  }
}

// The MoE layer on CUDA (tensor path) against a dense reference computed on CUDA: every expert on
// every token, weighted by the kept gates.
TEST(Cuda, MoeForwardAndBackwardEqualTheDenseReference) {
  REQUIRE_CUDA();
  for (double cf : {1e9, 0.75}) {
    SCOPED_TRACE(cf);
    MoeConfig c;
    c.name = "moe", c.d = 16, c.experts = 4, c.k = 2, c.capacity_factor = cf;
    torch::manual_seed(1);
    std::vector<std::shared_ptr<torch::nn::Module>> mods;
    std::vector<MoeLayer::Expert> runs;
    std::vector<torch::nn::Sequential> seqs;
    for (int64_t e = 0; e < c.experts; ++e) {
      auto seq = torch::nn::Sequential(torch::nn::Linear(16, 32), torch::nn::GELU(), torch::nn::Linear(32, 16));
      seqs.push_back(seq);
      mods.push_back(seq.ptr());
      runs.push_back([seq](const at::Tensor& x) mutable { return seq->forward(x); });
    }
    auto m = std::make_shared<MoeLayer>(c, mods, runs, std::vector<std::shared_ptr<torch::nn::Module>>{}, std::vector<MoeLayer::Expert>{});
    m->to(torch::kCUDA);
    m->train();
    at::Tensor x = torch::randn({3, 10, 16}, torch::kCUDA).requires_grad_();
    MoeFlow flow;
    at::Tensor ours = m->forward(x, flow, nullptr);
    ASSERT_TRUE(ours.is_cuda());
    ours.pow(2).sum().backward();
    at::Tensor gx = x.grad().clone();
    x.grad().zero_();
    at::Tensor tokens = x.reshape({-1, 16});
    at::Tensor z = torch::linear(tokens, m->named_parameters()["router.weight"]);
    Routing r = route_topk(z, c, false, {}, /*host=*/false);
    at::Tensor kept = plan_dispatch_tensor(r.slot, 4, 4, moe_capacity(c, 30)).kept;
    at::Tensor w = torch::zeros({30, 4}, z.options()).index_put({r.token.masked_select(kept), r.slot.masked_select(kept)}, r.gate.masked_select(kept), true);
    at::Tensor dense = torch::zeros_like(tokens);
    for (int64_t e = 0; e < 4; ++e) dense = dense + w.select(1, e).unsqueeze(1) * seqs[size_t(e)]->forward(tokens);
    dense = dense.reshape(x.sizes());
    EXPECT_LE((dense - ours).abs().max().item<double>(), 1e-5);
    dense.pow(2).sum().backward();
    EXPECT_LE((x.grad() - gx).abs().max().item<double>(), 1e-5);
  }
}

TEST(Cuda, ACudaCheckpointLoadsOnTheCpu) {
  REQUIRE_CUDA();
  std::string ckpt = (fs::temp_directory_path() / ("circuit_cuda_" + std::to_string(::getpid()) + ".ckpt")).string();
  ExperimentRequest r;
  r.circuit = *circuit::load_circuit(source("resources/examples/moe_mlp.circuit.json"));
  r.data.name = "fashion-mnist";
  r.data.train_limit = 2000;
  r.train.device = engine::Device::cuda(0);
  r.train.checkpoint = ckpt;
  r.test = false;
  ExperimentReport rep = run_experiment(r);
  ASSERT_TRUE(rep.finished()) << rep.message;
  // On the CPU: the checkpoint's header reads, and resuming it there (one more epoch) runs.
  auto info = read_checkpoint_info(ckpt);
  ASSERT_TRUE(info.ok()) << info.error().message;
  EXPECT_EQ(info->epochs_done, 1);
  ExperimentRequest more = r;
  more.train.device = engine::Device::cpu();
  more.train.resume = ckpt;
  more.train.checkpoint.clear();
  more.train.epochs = 2;
  ExperimentReport cpu = run_experiment(more, rep.data);
  ASSERT_TRUE(cpu.finished()) << cpu.message;
  EXPECT_EQ(cpu.model->device().str(), "cpu");
  EXPECT_EQ(cpu.train.epochs_done, 2);
  EXPECT_GT(cpu.train.val.accuracy, rep.train.val.accuracy - 0.05);
  fs::remove(ckpt);
}

}  // namespace
}  // namespace engine
