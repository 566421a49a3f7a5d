// Bookkeeping of the plot data types and the tick helpers; no window needed.
#include <gtest/gtest.h>

#include "studio/plots/plot_data.h"
#include "studio/plots/plot_widgets.h"

using namespace studio;

namespace {

events::ExpertLoad load(const std::string& layer, int64_t step, std::vector<int64_t> after, int64_t dropped,
                        double max_vio, double entropy, int64_t tokens) {
  events::ExpertLoad e;
  e.layer = layer;
  e.step = step;
  e.after = std::move(after);
  e.before = e.after;
  e.dropped = dropped;
  e.max_vio = max_vio;
  e.entropy = entropy;
  e.tokens = tokens;
  return e;
}


// The parallel-coordinates state: axes keep the user's order, flips and brushes across updates;
// brushes on several axes combine.
TEST(ParallelAxes, KeepTheUsersStateAndCombineBrushes) {
  ParetoPoints pts;
  pts.objectives = {{"accuracy", false}, {"params", true}};
  pts.choices = {{"experts", {"2", "4", "8"}}};
  auto point = [](int64_t id, double acc, double params, int experts) {
    TrialPoint p;
    p.id = id, p.values = {{"accuracy", acc}, {"params", params}}, p.choice = {experts};
    return p;
  };
  pts.trials = {point(1, 0.9, 100, 0), point(2, 0.5, 300, 1), point(3, 0.8, 200, 2), point(4, 0.7, 50, 2)};
  ParallelAxes axes;
  axes.sync(pts);
  ASSERT_EQ(axes.axes.size(), 3u);
  EXPECT_FALSE(axes.axes[0].flip) << "accuracy is maximised: not flipped";
  EXPECT_TRUE(axes.axes[1].flip) << "params is minimised: flipped, so better is up";
  EXPECT_TRUE(axes.axes[2].choice);
  EXPECT_EQ(axes.selected(pts).size(), 4u) << "no brush: every trial";
  axes.axes[0].brushed = true, axes.axes[0].lo = 0.95, axes.axes[0].hi = 0.75;  // a brush dragged upwards
  EXPECT_EQ(axes.selected(pts), (std::vector<int64_t>{1, 3}));
  int e = axes.index("experts");
  axes.axes[size_t(e)].brushed = true, axes.axes[size_t(e)].lo = 1.5, axes.axes[size_t(e)].hi = 2.5;
  EXPECT_EQ(axes.selected(pts), (std::vector<int64_t>{3})) << "both brushes";
  axes.move(2, 0);
  axes.axes[1].flip = true;
  pts.objectives.push_back({"latency_ms", true});
  pts.trials.push_back(point(5, 0.85, 120, 2));
  axes.sync(pts);
  ASSERT_EQ(axes.axes.size(), 4u);
  EXPECT_EQ(axes.axes[0].name, "experts") << "the moved axis stays first";
  EXPECT_TRUE(axes.axes[0].brushed);
  EXPECT_TRUE(axes.axes[1].flip) << "accuracy stays flipped";
  EXPECT_EQ(axes.axes[3].name, "latency_ms") << "a new objective goes last";
  EXPECT_EQ(axes.selected(pts), (std::vector<int64_t>{3, 5})) << "a trial arriving inside the brushes joins";
  pts.choices.clear();
  axes.sync(pts);
  EXPECT_EQ(axes.index("experts"), -1) << "an axis that went is dropped";
}

}  // namespace

TEST(ExpertLoadHistory, RecordsOneRowPerStep) {
  ExpertLoadHistory h;
  add(h, load("moe1", 10, {5, 3, 2, 0}, 1, 0.5, 1.2, 10));
  add(h, load("moe1", 20, {2, 2, 3, 3}, 0, 0.2, 1.3, 10));
  EXPECT_EQ(h.layer, "moe1");
  EXPECT_EQ(h.experts, 4);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h.steps, (std::vector<int64_t>{10, 20}));
  EXPECT_EQ(h.tokens_after[0], (std::vector<int64_t>{5, 3, 2, 0}));
  EXPECT_EQ(h.dropped, (std::vector<int64_t>{1, 0}));
  EXPECT_DOUBLE_EQ(h.max_vio[1], 0.2);
  EXPECT_DOUBLE_EQ(h.entropy[0], 1.2);
  EXPECT_DOUBLE_EQ(h.share(0, 0), 0.5);
  EXPECT_DOUBLE_EQ(h.share(0, 3), 0.0);
  EXPECT_DOUBLE_EQ(h.dropped_share(0), 1.0 / 11.0);
  EXPECT_DOUBLE_EQ(h.share(5, 0), 0.0);  // out of range reads as nothing, not a crash
}

TEST(ExpertLoadHistory, WiderEventPadsEarlierRows) {
  ExpertLoadHistory h;
  add(h, load("moe1", 1, {4, 4}, 0, 0, 0, 8));
  add(h, load("moe1", 2, {1, 2, 3}, 0, 0, 0, 6));
  add(h, load("moe1", 3, {7}, 0, 0, 0, 7));
  EXPECT_EQ(h.experts, 3);
  EXPECT_EQ(h.tokens_after[0], (std::vector<int64_t>{4, 4, 0}));
  EXPECT_EQ(h.tokens_after[2], (std::vector<int64_t>{7, 0, 0}));
}

TEST(ExpertLoadHistory, SameStepIsMergedAndOtherLayersIgnored) {
  ExpertLoadHistory h;
  add(h, load("moe1", 5, {3, 1}, 2, 0.5, 1.0, 4));
  add(h, load("moe1", 5, {1, 3}, 1, 0.8, 2.0, 12));
  add(h, load("moe2", 5, {9, 9}, 9, 9.0, 9.0, 18));
  ASSERT_EQ(h.size(), 1u);
  EXPECT_EQ(h.tokens_after[0], (std::vector<int64_t>{4, 4}));
  EXPECT_EQ(h.dropped[0], 3);
  EXPECT_EQ(h.tokens[0], 16);
  EXPECT_DOUBLE_EQ(h.max_vio[0], 0.8);                     // the worst micro-batch
  EXPECT_DOUBLE_EQ(h.entropy[0], (1.0 * 4 + 2.0 * 12) / 16);  // averaged by tokens
}

TEST(ExpertLoads, OneHistoryPerLayerInFirstReportedOrder) {
  ExpertLoads loads;
  add(loads, load("blocks.3.moe", 1, {1, 1}, 0, 0, 0, 2));
  add(loads, load("blocks.1.moe", 1, {1, 1, 1}, 0, 0, 0, 3));
  add(loads, load("blocks.3.moe", 2, {2, 0}, 0, 1, 0, 2));
  ASSERT_EQ(loads.layers.size(), 2u);
  EXPECT_EQ(loads.layers[0].layer, "blocks.3.moe");
  EXPECT_EQ(loads.layers[0].size(), 2u);
  EXPECT_EQ(loads.layers[1].layer, "blocks.1.moe");
  EXPECT_EQ(loads.layers[1].experts, 3);
}

TEST(TrainingCurves, ValidationSitsAtTheLastStepOfItsEpoch) {
  TrainingCurves c;
  EXPECT_TRUE(c.empty());
  for (int s = 1; s <= 50; ++s) add(c, events::TrainStep{s, 100, 1, 2, 2.0 / s, 0.01 * s});
  add(c, events::EpochEnd{1, 2, 0.5, 0.6, 0.7, 1.0});
  EXPECT_FALSE(c.empty());
  ASSERT_EQ(c.train_loss.x.size(), 50u);
  EXPECT_DOUBLE_EQ(c.train_loss.y[1], 1.0);
  ASSERT_EQ(c.val_loss.x.size(), 1u);
  EXPECT_DOUBLE_EQ(c.val_loss.x[0], 50);
  EXPECT_DOUBLE_EQ(c.val_accuracy.y[0], 0.7);
}

TEST(Ticks, NiceStepsAndLabels) {
  const auto u = nice_ticks(0, 1, 5);
  ASSERT_EQ(u.size(), 6u);
  for (size_t i = 0; i < u.size(); ++i) EXPECT_NEAR(u[i], 0.2 * double(i), 1e-12);
  const auto t = nice_ticks(-3.7, 12.2, 4);
  ASSERT_GE(t.size(), 3u);
  EXPECT_DOUBLE_EQ(t[1] - t[0], 5.0);
  EXPECT_GE(t.front(), -3.7);
  EXPECT_LE(t.back(), 12.2);
  EXPECT_TRUE(nice_ticks(1, 1, 5).empty());
  EXPECT_EQ(format_tick(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(format_tick(0.25, 0.05), "0.25");
  EXPECT_EQ(format_tick(2000, 1000), "2k");
  EXPECT_EQ(format_tick(1500000, 500000), "1.5M");
  EXPECT_EQ(format_tick(1e-9, 1), "0");
  EXPECT_EQ(format_tick(40, 10), "40");
}

TEST(PlotFrame, MapsDataToScreen) {
  PlotFrame f;
  f.min = {100, 50};
  f.max = {300, 250};
  f.x0 = 0, f.x1 = 10, f.y0 = 0, f.y1 = 1;
  EXPECT_FLOAT_EQ(f.to_screen(5, 0.5).x, 200);
  EXPECT_FLOAT_EQ(f.to_screen(5, 0.5).y, 150);
  EXPECT_FLOAT_EQ(f.to_screen(0, 1).y, 50);  // y grows upwards
  f.flip_y = true;
  EXPECT_FLOAT_EQ(f.to_screen(0, 1).y, 250);
  f.flip_y = false;
  f.log_y = true;
  f.y0 = 0.01, f.y1 = 1;
  EXPECT_FLOAT_EQ(f.to_screen(0, 0.1).y, 150);
  EXPECT_NEAR(f.x_at(250), 7.5, 1e-9);
}
