// Early exit: policies on hand-made profiles, budget calibration, head costs from the IR, and a
// trained exit network whose calibrated thresholds meet a compute target on held-out data.
// This file includes no LibTorch header: the engine's API is torch-free.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <random>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "engine/exits.h"
#include "engine/train.h"
#include "../circuit/helpers.h"

namespace engine {
namespace {

using circuit::test::example;

// Three heads at 20 %, 50 % and 100 % of the compute. Example i's row per head: (confidence,
// entropy, predicted); labels are all 0.
ExitProfile hand_profile(const std::vector<std::vector<std::tuple<float, float, int>>>& rows) {
  ExitProfile p;
  p.heads = {"a", "b", "c"};
  p.cost = {0.2, 0.5, 1.0};
  p.examples = int64_t(rows.size());
  size_t n = rows.size();
  p.confidence.resize(3 * n), p.entropy.resize(3 * n), p.predicted.resize(3 * n), p.label.assign(n, 0);
  for (size_t i = 0; i < n; ++i)
    for (size_t k = 0; k < 3; ++k) {
      auto [c, e, y] = rows[i][k];
      p.confidence[p.at(k, int64_t(i))] = c, p.entropy[p.at(k, int64_t(i))] = e, p.predicted[p.at(k, int64_t(i))] = y;
    }
  return p;
}

ExitProfile example_profile() {
  return hand_profile({
      {{0.95f, 0.2f, 0}, {0.97f, 0.1f, 0}, {0.99f, 0.05f, 0}},  // sure at once, right
      {{0.60f, 1.0f, 1}, {0.92f, 0.3f, 0}, {0.98f, 0.1f, 0}},   // sure at b, right
      {{0.50f, 1.2f, 2}, {0.70f, 0.8f, 2}, {0.80f, 0.6f, 0}},   // never sure; wrong until c
      {{0.91f, 0.4f, 3}, {0.95f, 0.2f, 3}, {0.60f, 1.0f, 3}},   // sure and wrong everywhere
  });
}

TEST(ExitPolicies, ConfidenceLeavesAtTheFirstHeadAboveItsThreshold) {
  ExitPolicy p;
  p.kind = ExitKind::confidence, p.thresholds = {0.9};
  auto o = simulate_exits(example_profile(), p);
  ASSERT_TRUE(o.ok()) << o.error().message;
  EXPECT_EQ(o->histogram, (std::vector<int64_t>{2, 1, 1}));
  EXPECT_DOUBLE_EQ(o->accuracy, 0.75);  // examples 0, 1, 2 right; 3 wrong at a
  EXPECT_NEAR(o->avg_cost, (0.2 + 0.5 + 1.0 + 0.2) / 4, 1e-12);
  EXPECT_EQ(o->peak_depth, 3);
  // A per-head threshold that nobody reaches at a moves everyone on.
  p.thresholds = {0.99, 0.9, 0};
  o = simulate_exits(example_profile(), p);
  EXPECT_EQ(o->histogram, (std::vector<int64_t>{0, 3, 1}));
}

TEST(ExitPolicies, EntropyLeavesAtTheFirstHeadBelowItsThreshold) {
  ExitPolicy p;
  p.kind = ExitKind::entropy, p.thresholds = {0.35};
  auto o = simulate_exits(example_profile(), p);
  ASSERT_TRUE(o.ok());
  EXPECT_EQ(o->histogram, (std::vector<int64_t>{1, 2, 1}));  // 0 at a; 1 and 3 at b; 2 at c
  EXPECT_DOUBLE_EQ(o->head_accuracy[1], 0.5);
}

TEST(ExitPolicies, PatienceWaitsForConsecutiveAgreement) {
  ExitPolicy p;
  p.kind = ExitKind::patience, p.patience = 2;
  auto o = simulate_exits(example_profile(), p);
  ASSERT_TRUE(o.ok());
  // 0: a, b agree -> b. 1: a=1, b=0 -> no; c last. 2: a, b agree (2) -> b. 3: agree -> b.
  EXPECT_EQ(o->histogram, (std::vector<int64_t>{0, 3, 1}));
  EXPECT_DOUBLE_EQ(o->accuracy, 0.5);
  p.patience = 1;  // the first head always agrees with itself
  EXPECT_EQ(simulate_exits(example_profile(), p)->histogram, (std::vector<int64_t>{4, 0, 0}));
}

TEST(ExitPolicies, DepthCapAndFixedHeadAndErrors) {
  ExitPolicy p;
  p.kind = ExitKind::confidence, p.thresholds = {0.999}, p.max_depth = 2;
  auto o = simulate_exits(example_profile(), p);
  EXPECT_EQ(o->histogram, (std::vector<int64_t>{0, 4, 0}));
  EXPECT_EQ(o->peak_depth, 2);
  EXPECT_DOUBLE_EQ(o->peak_cost, 0.5);
  p.kind = ExitKind::fixed, p.max_depth = 1;
  EXPECT_DOUBLE_EQ(simulate_exits(example_profile(), p)->accuracy, 0.25);
  EXPECT_FALSE(parse_exit_kind("greedy"));  // kinds are parsed at the boundaries; an unknown name is no kind
  EXPECT_EQ(parse_exit_kind("patience"), ExitKind::patience);
  p.kind = ExitKind::confidence, p.thresholds = {0.5, 0.5}, p.max_depth = 0;
  EXPECT_NE(simulate_exits(example_profile(), p).error().message.find("one per head (3)"), std::string::npos);
  p.thresholds = {0.5}, p.max_depth = 4;
  EXPECT_NE(simulate_exits(example_profile(), p).error().message.find("outside 1..3"), std::string::npos);
}

// Scores drawn so that later heads are more confident, as in a trained exit network.
ExitProfile random_profile(int64_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(0, 1);
  std::vector<std::vector<std::tuple<float, float, int>>> rows;
  for (int64_t i = 0; i < n; ++i) {
    std::vector<std::tuple<float, float, int>> r;
    for (int k = 0; k < 3; ++k) {
      float c = std::pow(u(rng), 1.0f / float(1 + 2 * k));
      r.emplace_back(c, 1 - c, u(rng) < c ? 0 : 1);
    }
    rows.push_back(r);
  }
  return hand_profile(rows);
}

TEST(BudgetCalibration, MeetsTheTargetOnTheDataItWasCalibratedOn) {
  ExitProfile v = random_profile(4000, 1);
  double first_share = 2;
  for (double target : {0.3, 0.45, 0.6, 0.8}) {
    auto c = calibrate_budget(v, target);
    ASSERT_TRUE(c.ok()) << c.error().message;
    EXPECT_NEAR(c->validation.avg_cost, target, 0.005) << target;
    // A larger budget plans fewer early exits.
    EXPECT_LT(c->planned_share[0], first_share) << target;
    first_share = c->planned_share[0];
    double planned = 0;
    for (size_t k = 0; k < 3; ++k) planned += c->planned_share[k] * v.cost[k];
    EXPECT_NEAR(planned, target, 1e-9);
  }
}

TEST(BudgetCalibration, HoldsOnFreshDataFromTheSameDistribution) {
  auto c = calibrate_budget(random_profile(4000, 1), 0.5);
  ASSERT_TRUE(c.ok());
  auto o = simulate_exits(random_profile(4000, 2), c->policy);
  ASSERT_TRUE(o.ok());
  EXPECT_NEAR(o->avg_cost, 0.5, 0.03);
}

TEST(BudgetCalibration, RespectsTheDepthCapAndRefusesTheImpossible) {
  ExitProfile v = random_profile(1000, 3);
  auto c = calibrate_budget(v, 0.4, 2);
  ASSERT_TRUE(c.ok()) << c.error().message;
  EXPECT_LE(c->validation.peak_depth, 2);
  EXPECT_EQ(c->validation.histogram[2], 0);
  EXPECT_NEAR(c->validation.avg_cost, 0.4, 0.01);
  // A target above the cap's cost sends everyone to the cap.
  c = calibrate_budget(v, 0.9, 2);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->validation.histogram[1], 1000);
  auto bad = calibrate_budget(v, 0.1);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("below the cost of the first head"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(calibrate_budget(v, 0.5, 7).ok());
}

TEST(ExitCurve, MarksAParetoFrontThatNothingDominates) {
  auto pts = accuracy_cost_curve(random_profile(2000, 4), 10);
  ASSERT_GE(pts.size(), 10u);
  int front = 0;
  for (auto& a : pts) {
    front += a.pareto;
    if (!a.pareto) continue;
    for (auto& b : pts) {
      bool dominates = b.outcome.avg_cost <= a.outcome.avg_cost && b.outcome.accuracy >= a.outcome.accuracy &&
                       (b.outcome.avg_cost < a.outcome.avg_cost || b.outcome.accuracy > a.outcome.accuracy);
      EXPECT_FALSE(dominates) << a.label() << " " << a.setting << " is dominated by " << b.label() << " " << b.setting;
    }
  }
  EXPECT_GE(front, 2);
  for (size_t i = 1; i < pts.size(); ++i) EXPECT_LE(pts[i - 1].outcome.avg_cost, pts[i].outcome.avg_cost);
}


TEST(HeadCosts, AreTheFlopsOfEachHeadsAncestorsSoFar) {
  circuit::Circuit c = example("early_exit");
  auto a = circuit::analyze(c);
  HeadCosts h = head_costs(c.graph, a);
  ASSERT_EQ(h.order, (std::vector<int>{0, 1, 2}));
  auto flops = [&](std::vector<const char*> nodes) {
    double f = 0;
    for (auto* n : nodes) f += double(a.nodes[size_t(c.graph.find(n))].cost.flops);
    return f;
  };
  double total = double(a.total.flops);
  EXPECT_NEAR(h.cost[0], flops({"conv1", "act1", "pool1", "shrink1", "flat1", "exit1"}) / total, 1e-12);
  EXPECT_NEAR(h.cost[1] - h.cost[0], flops({"conv2", "act2", "pool2", "flat2", "exit2"}) / total, 1e-12);
  EXPECT_GT(h.cost[1] - h.cost[0], 5 * h.cost[0]);  // the nodes exist and have a cost
  EXPECT_DOUBLE_EQ(h.cost[2], 1.0);
  // Outputs listed out of execution order come back sorted by where the forward reaches them.
  c.graph.outputs = {c.graph.outputs[2], c.graph.outputs[0], c.graph.outputs[1]};
  a = circuit::analyze(c);
  EXPECT_EQ(head_costs(c.graph, a).order, (std::vector<int>{1, 2, 0}));
}

TEST(Integration, BudgetCalibrationMeetsATargetDepthOnHeldOutData) {
  DataOptions o;
  o.train_limit = 12000;
  auto data = load_dataset(o);
  ASSERT_TRUE(data.ok()) << data.error().message;
  auto m = Model::compile(example("early_exit"), 5);
  ASSERT_TRUE(m.ok()) << m.error().message;
  TrainOptions t;
  t.batch = 64;
  t.seed = 5;
  auto r = train(**m, *data, t);
  ASSERT_TRUE(r.ok()) << r.error().message;

  auto val = profile_exits(**m, *data, data->val);
  auto test = profile_exits(**m, *data, data->test);
  ASSERT_TRUE(val.ok()) << val.error().message;
  ASSERT_TRUE(test.ok()) << test.error().message;
  ASSERT_EQ(test->heads, (std::vector<std::string>{"exit1", "exit2", "exit3"}));
  EXPECT_EQ(test->examples, 10000);
  for (int k = 1; k <= 3; ++k) {
    ExitPolicy f;
    f.kind = ExitKind::fixed, f.max_depth = k;
    std::printf("head %d alone: test accuracy %.4f\n", k, simulate_exits(*test, f)->accuracy);
  }
  std::printf("validation accuracy (last head) after training: %.4f\n", r->val.accuracy);

  // Halfway between the cheapest head and the full network, and with the last head cut off.
  for (auto [target, cap] : {std::pair{0.5 * (val->cost[0] + 1), 0}, std::pair{0.5 * (val->cost[0] + val->cost[1]), 2}}) {
    auto cal = calibrate_budget(*val, target, cap);
    ASSERT_TRUE(cal.ok()) << cal.error().message;
    auto held = simulate_exits(*test, cal->policy);
    ASSERT_TRUE(held.ok());
    std::printf("target %.3f of compute (cap %d): validation %.3f, test %.3f; test accuracy %.4f, exits %lld/%lld/%lld\n", target, cap,
                cal->validation.avg_cost, held->avg_cost, held->accuracy, (long long)held->histogram[0], (long long)held->histogram[1],
                (long long)held->histogram[2]);
    // Stated tolerance: within 3 % of the full compute on 10,000 held-out images.
    EXPECT_NEAR(held->avg_cost, target, 0.03);
    if (cap) {
      EXPECT_LE(held->peak_depth, cap);
    }
    EXPECT_GT(held->accuracy, 0.7);
    // Spending compute where the heads are unsure beats sending a matching share to a fixed head.
    ExitPolicy first;
    first.kind = ExitKind::fixed, first.max_depth = 1;
    EXPECT_GT(held->accuracy, simulate_exits(*test, first)->accuracy);
  }
}

}  // namespace
}  // namespace engine
