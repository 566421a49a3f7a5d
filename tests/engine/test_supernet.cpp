// Weight sharing for one-shot search: circuits of one space bind to one bank of weights.
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <optional>

#include "circuit/circuit_file.h"
#include "engine/supernet.h"
#include "engine/train.h"
#include "search/spos.h"
#include "../circuit/helpers.h"

namespace engine {
namespace {

using circuit::test::example;


// The first 640 Fashion-MNIST training images: enough for a few dozen steps.
Dataset small_fashion_mnist() {
  DataOptions o;
  o.train_limit = 640;
  o.test_limit = 10;
  auto d = load_dataset(o);
  EXPECT_TRUE(d.ok()) << d.error().message;
  return d.ok() ? *d : Dataset{};
}

circuit::Circuit mlp(int64_t hidden) {
  circuit::Circuit c = example("mlp");
  for (auto& n : c.graph.nodes)
    if (n.name == "fc2") n.attrs["out"] = hidden;
  return c;
}

torch::Tensor param(Model& m, const std::string& name) {
  for (auto& p : m.module().named_parameters())
    if (p.key() == name) return p.value();
  ADD_FAILURE() << "no parameter " << name;
  return {};
}

TEST(SharedWeights, SameNodeAndShapeShareDifferentShapesDoNot) {
  auto d = std::make_optional(small_fashion_mnist());
  ASSERT_GT(d->train.x.rows(), 0);
  SharedWeights bank(3);
  auto a = bank.bind(mlp(128)), b = bank.bind(mlp(128)), c = bank.bind(mlp(64));
  ASSERT_TRUE(a.ok() && b.ok() && c.ok());
  // The same circuit twice: one set of weights. fc1 is shared with the narrower circuit too
  // (same shape); fc2 and the layer after it are not.
  EXPECT_EQ(param(**a, "fc1.weight").data_ptr(), param(**b, "fc1.weight").data_ptr());
  EXPECT_EQ(param(**a, "fc1.weight").data_ptr(), param(**c, "fc1.weight").data_ptr());
  EXPECT_NE(param(**a, "fc2.weight").data_ptr(), param(**c, "fc2.weight").data_ptr());
  // Shared between the two widths: fc1 (both tensors) and logits.bias ([10] either way).
  int64_t shared = param(**a, "fc1.weight").numel() + param(**a, "fc1.bias").numel() + param(**a, "logits.bias").numel();
  EXPECT_EQ(bank.parameter_count(), (*a)->parameter_count() + (*c)->parameter_count() - shared);

  // Training through one circuit moves the weights every sharing circuit sees, and only those.
  torch::Tensor fc1_before = param(**c, "fc1.weight").clone(), fc2_before = param(**c, "fc2.weight").clone();
  std::vector<double> loss;
  for (int64_t step = 0; step < 30; ++step) {
    auto l = bank.train_step(**a, *d, step, 64);
    ASSERT_TRUE(l.ok()) << l.error().message;
    loss.push_back(*l);
  }
  EXPECT_FALSE(torch::equal(param(**c, "fc1.weight"), fc1_before));
  EXPECT_TRUE(torch::equal(param(**c, "fc2.weight"), fc2_before));
  double first = (loss[0] + loss[1] + loss[2]) / 3, last = (loss[27] + loss[28] + loss[29]) / 3;
  EXPECT_LT(last, 0.8 * first);
  // And the other circuit evaluates with what was learned: better than chance.
  EXPECT_GT(evaluate(**b, *d, d->val).accuracy, 0.3);
}

TEST(SharedWeights, RecalibrationRefreshesBatchNormStatistics) {
  auto d = std::make_optional(small_fashion_mnist());
  ASSERT_GT(d->train.x.rows(), 0);
  auto c = std::make_optional(example("cnn"));
  SharedWeights bank(1);
  auto m = bank.bind(*c);
  ASSERT_TRUE(m.ok()) << m.error().message;
  torch::Tensor mean;
  for (auto& b : (*m)->module().named_buffers())
    if (b.key().find("running_mean") != std::string::npos) mean = b.value();
  ASSERT_TRUE(mean.defined());
  EXPECT_EQ(mean.abs().sum().item<double>(), 0.0);
  ASSERT_TRUE(bank.recalibrate(**m, *d, 5, 64).ok());
  EXPECT_GT(mean.abs().sum().item<double>(), 0.0);
}

TEST(TrialRunner, ExitCircuitsReportTheirAverageExitDepth) {
  auto d = std::make_optional(small_fashion_mnist());
  ASSERT_GT(d->train.x.rows(), 0);
  auto c = std::make_optional(example("early_exit"));
  search::TrialProtocol p;
  p.latency = false;
  auto low = p, high = p;
  low.exit_threshold = 0.0, high.exit_threshold = 1.01;  // everyone leaves at once / nobody early
  auto a = search::train_trial(*c, 1, *d, low), b = search::train_trial(*c, 1, *d, high);
  ASSERT_TRUE(a.ok && b.ok) << a.error << b.error;
  EXPECT_DOUBLE_EQ(a.metrics.at("exit_depth"), 1.0);
  EXPECT_DOUBLE_EQ(b.metrics.at("exit_depth"), 3.0);
  EXPECT_DOUBLE_EQ(b.metrics.at("exit_cost"), 1.0);
  EXPECT_LT(a.metrics.at("exit_cost"), 0.2);
  EXPECT_EQ(a.metrics.count("exit_depth"), 1u);
  auto plain = search::train_trial(example("mlp"), 1, *d, p);
  EXPECT_EQ(plain.metrics.count("exit_depth"), 0u);
}

TEST(Spos, KendallTauOnHandComputedCases) {
  EXPECT_DOUBLE_EQ(search::kendall_tau({1, 2, 3, 4}, {10, 20, 30, 40}), 1.0);
  EXPECT_DOUBLE_EQ(search::kendall_tau({1, 2, 3, 4}, {4, 3, 2, 1}), -1.0);
  // One tie in b: concordant 2, discordant 0, tau-b = 2 / sqrt(2 * 3).
  EXPECT_NEAR(search::kendall_tau({1, 2, 3}, {1, 1, 2}), 2 / std::sqrt(6.0), 1e-12);
  EXPECT_DOUBLE_EQ(search::kendall_tau({1, 2}, {5, 5}), 0.0);
}

TEST(Spos, TrainsASupernetSearchesAndChecksRanks) {
  auto space = search::load_space(std::string(CIRCUIT_SOURCE_DIR) + "/resources/search/moe_mlp.search.json");
  ASSERT_TRUE(space.ok()) << space.error().message;
  DataOptions o;
  o.train_limit = 1280;
  o.test_limit = 10;
  auto d = load_dataset(o);
  ASSERT_TRUE(d.ok());
  search::SposOptions so;
  so.steps = 120, so.candidates = 16, so.population = 8, so.check = 4, so.seed = 2;
  so.standalone.data = o;
  so.standalone.latency = false;
  auto r = search::run_spos(*space, *d, so);
  ASSERT_TRUE(r.ok()) << r.error().message;
  ASSERT_EQ(r->loss.size(), 10u);
  EXPECT_LT(r->loss.back(), r->loss.front());    // the supernet learns
  EXPECT_GT(r->sampled_circuits, 20);            // from many sub-networks
  EXPECT_EQ(r->candidates.size(), 16u);
  int front = 0;
  for (auto& c : r->candidates) {
    EXPECT_LE(c.metrics.at("params"), 200000);   // the space's constraint held
    EXPECT_GT(c.metrics.at("accuracy"), 0.0);
    front += c.on_front;
  }
  EXPECT_GE(front, 1);
  EXPECT_EQ(r->check.size(), 4u);
  EXPECT_GE(r->kendall_tau, -1.0);
  EXPECT_LE(r->kendall_tau, 1.0);
}

}  // namespace
}  // namespace engine
