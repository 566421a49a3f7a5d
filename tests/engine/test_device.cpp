// Devices on any machine: what `--device` names resolve to and how a missing device is refused,
// bf16 autocast taking effect, the device in run records, and whole example models through the
// MoE tensor path (the path every non-CPU device takes) equal to the CPU fast path.
#include <torch/torch.h>

#include "../circuit/helpers.h"
#include "circuit/circuit_file.h"
#include "engine/detail/moe.h"
#include "engine/device.h"
#include "engine/experiment.h"
#include "engine/model.h"
#include "model_inputs.h"

namespace engine {
namespace {

using circuit::test::source;

TEST(Device, NamesResolveAndAMissingDeviceIsAClearError) {
  EXPECT_EQ(resolve_device("cpu")->str(), "cpu");
  CudaAvailability cuda = cuda_availability();
  EXPECT_EQ(resolve_device("auto")->str(), cuda.available ? "cuda:0" : "cpu");
  auto bad = resolve_device("gpu0");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().message, "unknown device `gpu0`: use cpu, cuda, cuda:N or auto");
  EXPECT_FALSE(resolve_device("cuda:").ok());
  auto far = resolve_device("cuda:64");
  ASSERT_FALSE(far.ok());
  EXPECT_EQ(far.error().message.rfind("device `cuda:64` is not available: ", 0), 0u) << far.error().message;
  if (!cuda.available) {
    auto c = resolve_device("cuda");
    ASSERT_FALSE(c.ok());
    EXPECT_EQ(c.error().message, "device `cuda` is not available: " + cuda.reason + "; use --device cpu or auto");
    EXPECT_FALSE(cuda.reason.empty());
  }
  EXPECT_EQ(describe_device(Device::cpu()), "cpu");
  EXPECT_EQ(parse_device_request("cuda:3")->str(), "cuda:3");
  EXPECT_EQ(parse_device_request("cuda")->index, -1);
  EXPECT_FALSE(parse_device_request("gpu").ok());
  EXPECT_EQ(std::string(to_string(*parse_precision("bf16"))), "bf16");
  EXPECT_FALSE(parse_precision("fp16").has_value());
}

// A run records where it ran, and refuses a device it lacks before reading data or compiling.
ExperimentRequest small_run(const std::string& example, Precision p) {
  ExperimentRequest r;
  r.circuit = *circuit::load_circuit(source("resources/examples/" + example + ".circuit.json"));
  r.data.name = "fashion-mnist";
  r.data.train_limit = 1500;
  r.train.batch = 50;
  r.train.seed = 4;
  r.train.device = Device::cpu();
  r.train.precision = p;
  r.test = false;
  return r;
}

TEST(Device, Bf16AutocastTrainsAndChangesTheArithmetic) {
  for (const char* example : {"mlp", "moe_mlp"}) {
    SCOPED_TRACE(example);
    ExperimentReport fp32 = run_experiment(small_run(example, Precision::fp32));
    ExperimentReport bf16 = run_experiment(small_run(example, Precision::bf16));
    ASSERT_TRUE(fp32.finished()) << fp32.message;
    ASSERT_TRUE(bf16.finished()) << bf16.message;
    EXPECT_EQ(fp32.device, "cpu");
    // Both learn (chance is 10 %); bf16's products round differently, so the runs differ.
    EXPECT_GT(fp32.train.val.accuracy, 0.5);
    EXPECT_GT(bf16.train.val.accuracy, 0.5);
    EXPECT_NE(fp32.train.train_loss, bf16.train.train_loss);
    EXPECT_LT(std::abs(fp32.train.val.accuracy - bf16.train.val.accuracy), 0.1);
  }
}

TEST(Device, AMissingDeviceIsRefusedBeforeTheData) {
  ExperimentRequest r = small_run("mlp", Precision::fp32);
  r.train.device = Device::cuda(64);
  r.data.name = "no-such-data";  // would fail at the data stage if the device were not checked first
  ExperimentReport rep = run_experiment(std::move(r));
  EXPECT_EQ(rep.stage, Stage::device);
  EXPECT_NE(rep.message.find("device `cuda:64` is not available"), std::string::npos) << rep.message;
}

// Every MoE example, forward and backward, with its MoE layers on the tensor path against the same
// model on the host path: what a GPU runs, checked where CI runs.
TEST(Device, MoeExamplesOnTheTensorPathEqualTheHostPath) {
  for (const char* example : {"moe_mlp", "moe_transformer_block"}) {
    SCOPED_TRACE(example);
    auto c = circuit::load_circuit(source("resources/examples/" + std::string(example) + ".circuit.json"));
    ASSERT_TRUE(c.ok());
    circuit::Bindings b = circuit::cost_bindings(*c);
    b["batch"] = 6;
    struct Run {
      std::vector<at::Tensor> out, grads;
      std::vector<events::ExpertLoad> load;
    };
    auto run = [&](MoePath path) {
      auto m = Model::compile(*c, 9);
      EXPECT_TRUE(m.ok());
      int layers = 0;
      for (auto& mod : (*m)->module().modules())
        if (auto* moe = dynamic_cast<MoeLayer*>(mod.get())) moe->set_path(path), ++layers;
      EXPECT_GT(layers, 0);
      (*m)->set_training(true);
      Run r;
      auto in = test::inputs_for(**m, b, 3);
      std::vector<at::Tensor> aux;
      torch::manual_seed(5);
      r.out = (*m)->forward(in, &aux, &r.load, 1);
      at::Tensor loss = r.out.back().pow(2).mean();
      for (auto& a : aux) loss = loss + a;
      loss.backward();
      for (auto& p : (*m)->module().parameters()) r.grads.push_back(p.grad().defined() ? p.grad().clone() : torch::zeros_like(p));
      return r;
    };
    Run host = run(MoePath::host), tensor = run(MoePath::tensor);
    ASSERT_EQ(host.out.size(), tensor.out.size());
    for (size_t k = 0; k < host.out.size(); ++k) EXPECT_LE((host.out[k] - tensor.out[k]).abs().max().item<double>(), 1e-5);
    ASSERT_EQ(host.grads.size(), tensor.grads.size());
    for (size_t k = 0; k < host.grads.size(); ++k) EXPECT_LE((host.grads[k] - tensor.grads[k]).abs().max().item<double>(), 1e-5) << "parameter " << k;
    ASSERT_EQ(host.load.size(), tensor.load.size());
    for (size_t k = 0; k < host.load.size(); ++k) {
      EXPECT_EQ(host.load[k].after, tensor.load[k].after);
      EXPECT_EQ(host.load[k].dropped, tensor.load[k].dropped);
    }
  }
}

}  // namespace
}  // namespace engine
