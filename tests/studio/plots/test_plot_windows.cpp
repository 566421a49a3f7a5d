// The plot windows on the lavapipe Vulkan device: synthetic data in, frames grabbed, pixels checked.
#include <gtest/gtest.h>
#include <imgui.h>

#include <QCoreApplication>
#include <QSignalSpy>
#include <QWheelEvent>
#include <QTest>
#include <cmath>

#include "plots_test_env.h"
#include "studio/plots/run_plots.h"
#include "studio/plots/search_plots.h"

using namespace studio;
using plots_test::count_near;
using plots_test::distance;
using plots_test::pixel_at;
using plots_test::rgb_distance;

namespace {

/// Draws two known colours, to tell a channel swap in the grab from a plot bug.
class SwatchWindow : public ImGuiVulkanWindow {
 protected:
  void draw_ui() override {
    begin_full_window("##swatch");
    ImDrawList* dl = ImGui::GetWindowDrawList();
    dl->AddRectFilled(ImVec2(20, 20), ImVec2(120, 120), IM_COL32(255, 0, 0, 255));
    dl->AddRectFilled(ImVec2(140, 20), ImVec2(240, 120), IM_COL32(0, 0, 255, 255));
    ImGui::SetCursorPos(ImVec2(20, 140));
    ImGui::TextUnformatted("Swatches: red, blue");
    ImGui::End();
  }
};

TrainingCurves synthetic_curves(int steps = 600) {
  TrainingCurves c;
  const int per_epoch = 100;
  for (int s = 1; s <= steps; ++s) {
    const double noise = 0.05 * std::sin(s * 1.7);
    add(c, events::TrainStep{s, steps, (s - 1) / per_epoch + 1, steps / per_epoch, 2.3 * std::exp(-s / 150.0) + 0.2 + noise,
                             0.95 - 0.85 * std::exp(-s / 120.0) + noise * 0.3});
    if (s % per_epoch == 0)
      add(c, events::EpochEnd{s / per_epoch, steps / per_epoch, 0, 2.3 * std::exp(-s / 150.0) + 0.3,
                              0.93 - 0.85 * std::exp(-s / 120.0), 1.0});
  }
  return c;
}

// Eight experts, expert `hot` takes about 60% of the kept assignments in every step.
std::vector<events::ExpertLoad> unbalanced_loads(const std::string& layer, int hot, int steps = 120) {
  std::vector<events::ExpertLoad> out;
  for (int s = 0; s < steps; ++s) {
    events::ExpertLoad e;
    e.layer = layer;
    e.step = 10 * (s + 1);
    e.after.assign(8, 0);
    for (int x = 0; x < 8; ++x) e.after[size_t(x)] = x == hot ? 600 : 50 + (s + x) % 11;
    e.before = e.after;
    e.tokens = 1024;
    e.dropped = 40 + s % 7;
    e.max_vio = 3.8 + 0.2 * std::sin(s * 0.3);
    e.entropy = 1.1;
    out.push_back(e);
  }
  return out;
}

ParetoPoints pareto_set() {
  ParetoPoints p;
  p.objectives = {{"accuracy", false}, {"params", true}};
  // On the front: more parameters buy accuracy.
  p.trials.push_back({1, {{"accuracy", 0.80}, {"params", 10000}}, true, true});
  p.trials.push_back({2, {{"accuracy", 0.86}, {"params", 40000}}, true, true});
  p.trials.push_back({3, {{"accuracy", 0.90}, {"params", 120000}}, true, true});
  // Dominated.
  p.trials.push_back({4, {{"accuracy", 0.78}, {"params", 60000}}, true, false});
  p.trials.push_back({5, {{"accuracy", 0.84}, {"params", 150000}}, true, false});
  // Infeasible (too large) but not dominated.
  p.trials.push_back({6, {{"accuracy", 0.93}, {"params", 190000}}, false, false});
  for (int i = 0; i < 8; ++i)
    p.baseline.push_back({1000 + i, {{"accuracy", 0.70 + 0.02 * i}, {"params", 30000.0 + 17000.0 * i}}, true, false});
  return p;
}

// A plot area is "not blank" when it shows several clearly different colours.
int distinct_colours(const QImage& img, const PlotFrame& f) {
  std::vector<QRgb> seen;
  const qreal d = img.devicePixelRatio();
  for (int y = int(f.min.y * d) + 1; y < int(f.max.y * d) - 1; y += 3)
    for (int x = int(f.min.x * d) + 1; x < int(f.max.x * d) - 1; x += 3) {
      const QRgb p = img.pixel(x, y);
      bool known = false;
      for (QRgb s : seen) known = known || rgb_distance(p, s) < 24;
      if (!known) seen.push_back(p);
      if (seen.size() > 50) return int(seen.size());
    }
  return int(seen.size());
}

}  // namespace

TEST(ImGuiVulkanWindow, GrabHasTheColoursThatWereDrawn) {
  SwatchWindow w;
  ASSERT_TRUE(plots_test::show(w, 400, 200));
  const QImage img = w.grab_image();
  ASSERT_FALSE(img.isNull());
  plots_test::save(img, "swatch");
  EXPECT_LE(distance(pixel_at(img, 70, 70), IM_COL32(255, 0, 0, 255)), 2) << std::hex << pixel_at(img, 70, 70);
  EXPECT_LE(distance(pixel_at(img, 190, 70), IM_COL32(0, 0, 255, 255)), 2) << std::hex << pixel_at(img, 190, 70);
  EXPECT_LE(distance(pixel_at(img, 390, 190), w.theme().window.packed()), 2);
}

TEST(RunPlotsWindow, TrainingCurvesAreDrawn) {
  RunPlotsWindow w;
  w.set_curves(synthetic_curves());
  ASSERT_TRUE(plots_test::show(w));
  const QImage img = w.grab_image();
  ASSERT_FALSE(img.isNull());
  plots_test::save(img, "run_curves_dark");
  const PlotFrame f = w.loss_frame();
  ASSERT_TRUE(f.valid());
  const auto& t = w.theme();
  // Train loss (series 0) is a long line; validation (series 1) has six markers.
  EXPECT_GT(count_near(img, f.min, f.max, t.series[0].packed(), 40), 400);
  EXPECT_GT(count_near(img, f.min, f.max, t.series[1].packed(), 40), 100);
  // The loss falls: the curve's pixels near the left are higher up than near the right.
  auto curve_y = [&](float x) {
    for (float y = f.min.y + 1; y < f.max.y; y += 1)
      if (distance(pixel_at(img, x, y), t.series[0].packed()) <= 40) return y;
    return -1.f;
  };
  const float left = curve_y(f.min.x + 12), right = curve_y(f.max.x - 30);
  ASSERT_GT(left, 0);
  ASSERT_GT(right, 0);
  EXPECT_LT(left, right);

  w.set_dark(false);
  plots_test::save(w.grab_image(), "run_curves_light");
}

TEST(RunPlotsWindow, HotExpertRowStandsOutInTheHeatmap) {
  RunPlotsWindow w;
  for (const auto& e : unbalanced_loads("blocks.1.moe", 3)) w.add_expert_load(e);
  for (const auto& e : unbalanced_loads("blocks.3.moe", 6)) w.add_expert_load(e);
  w.show_tab(RunPlotsWindow::Tab::expert_load);
  ASSERT_TRUE(plots_test::show(w, 900, 800));
  const QImage img = w.grab_image();
  ASSERT_FALSE(img.isNull());
  plots_test::save(img, "run_expert_load_dark");

  ASSERT_EQ(w.expert_loads().layers.size(), 2u);
  const PlotFrame f = w.heatmap_frame(0);
  ASSERT_TRUE(f.valid());
  EXPECT_GT(distinct_colours(img, f), 2);
  // Sample the middle of each expert's row, halfway along the steps.
  const float x = 0.5f * (f.min.x + f.max.x);
  std::vector<QRgb> row;
  for (int e = 0; e < 8; ++e) row.push_back(pixel_at(img, x, f.to_screen(f.x0, e + 0.5).y));
  for (int e = 0; e < 8; ++e) {
    if (e == 3) continue;
    EXPECT_GT(rgb_distance(row[3], row[size_t(e)]), 80) << "expert " << e << " looks like the hot one";
    EXPECT_LT(rgb_distance(row[0], row[size_t(e)]), 40) << "cold experts 0 and " << e << " differ";
  }
  // Hot means the top of the colour map (bright yellow-green), cold the dark end.
  EXPECT_GT(qGreen(row[3]), qGreen(row[0]) + 80);

  w.set_dark(false);
  const QImage light = w.grab_image();
  plots_test::save(light, "run_expert_load_light");
  const PlotFrame g = w.heatmap_frame(1);
  ASSERT_TRUE(g.valid());
  const QRgb hot = pixel_at(light, x, g.to_screen(g.x0, 6.5).y), cold = pixel_at(light, x, g.to_screen(g.x0, 1.5).y);
  EXPECT_GT(rgb_distance(hot, cold), 80);
}

TEST(RunPlotsWindow, ExitHistogramAndEmptyStates) {
  RunPlotsWindow w;
  ASSERT_TRUE(plots_test::show(w));
  const auto& t = w.theme();
  // No data: the friendly explanation, i.e. text-coloured pixels in the middle of the window.
  const QImage empty = w.grab_image();
  plots_test::save(empty, "run_empty");
  EXPECT_GT(count_near(empty, ImVec2(200, 200), ImVec2(700, 400), t.text.packed(), 30), 50);

  w.set_exit_histogram(std::vector<int64_t>{5200, 2100, 900, 1800});
  w.show_tab(RunPlotsWindow::Tab::exits);
  const QImage img = w.grab_image();
  plots_test::save(img, "run_exits_dark");
  EXPECT_GT(count_near(img, ImVec2(0, 0), ImVec2(900, 600), t.series[0].packed(), 10), 20000);

  w.clear();
  w.show_tab(RunPlotsWindow::Tab::curves);
  const QImage cleared = w.grab_image();
  EXPECT_LT(count_near(cleared, ImVec2(0, 0), ImVec2(900, 600), t.series[0].packed(), 10), 50);
}

TEST(PlotThemes, DarkAndLightBackgroundsDiffer) {
  SearchPlotsWindow w;
  w.set_points(pareto_set());
  ASSERT_TRUE(plots_test::show(w));
  const QImage dark = w.grab_image();
  w.set_dark(false);
  const QImage light = w.grab_image();
  plots_test::save(light, "search_pareto_light");
  const QRgb d = pixel_at(dark, 890, 590), l = pixel_at(light, 890, 590);
  EXPECT_LT(qGray(d), 60);
  EXPECT_GT(qGray(l), 200);
  EXPECT_FALSE(w.dark());
}

TEST(SearchPlotsWindow, FrontPointsAreDrawnWhereExpected) {
  SearchPlotsWindow w;
  w.set_points(pareto_set());
  HypervolumeHistory hv;
  for (int i = 1; i <= 6; ++i) hv.study.push(i, 1 - std::exp(-0.5 * i));
  for (int i = 1; i <= 8; ++i) hv.baseline.push(i, 0.8 * (1 - std::exp(-0.3 * i)));
  w.set_hypervolume(hv);
  ASSERT_TRUE(plots_test::show(w, 900, 700));
  const QImage img = w.grab_image();
  ASSERT_FALSE(img.isNull());
  plots_test::save(img, "search_pareto_dark");
  EXPECT_EQ(w.x_objective(), "accuracy");
  EXPECT_EQ(w.y_objective(), "params");

  const auto& t = w.theme();
  std::vector<QPointF> front;
  for (int64_t id : {1, 2, 3}) {
    const auto p = w.trial_position(id);
    ASSERT_TRUE(p.has_value()) << id;
    EXPECT_LE(distance(pixel_at(img, float(p->x()), float(p->y())), t.front.packed()), 12) << "trial " << id;
    front.push_back(*p);
  }
  // accuracy on x grows to the right, params on y grows upwards.
  EXPECT_LT(front[0].x(), front[1].x());
  EXPECT_LT(front[1].x(), front[2].x());
  EXPECT_GT(front[0].y(), front[1].y());
  EXPECT_GT(front[1].y(), front[2].y());
  // Dominated feasible trials are study-coloured, not front-coloured.
  const auto p4 = w.trial_position(4);
  ASSERT_TRUE(p4);
  EXPECT_GT(distance(pixel_at(img, float(p4->x()), float(p4->y())), t.front.packed()), 60);
  EXPECT_LE(distance(pixel_at(img, float(p4->x()), float(p4->y())), t.series[0].packed()), 40);
  // The baseline is there, in grey.
  EXPECT_GT(count_near(img, ImVec2(0, 0), ImVec2(900, 700), IM_COL32(112, 112, 117, 255), 14), 60);

  // The y axis can be switched; the points move.
  w.set_axes("params", "accuracy");
  w.grab_image();
  const auto moved = w.trial_position(1);
  ASSERT_TRUE(moved);
  EXPECT_GT(std::abs(moved->x() - front[0].x()) + std::abs(moved->y() - front[0].y()), 20);
}

TEST(SearchPlotsWindow, ClickOnATrialEmitsItsId) {
  SearchPlotsWindow w;
  w.set_points(pareto_set());
  ASSERT_TRUE(plots_test::show(w));
  w.grab_image();
  QSignalSpy spy(&w, &SearchPlotsWindow::trial_clicked);

  // Empty plot area first: nothing.
  const auto p1 = w.trial_position(1), p3 = w.trial_position(3);
  ASSERT_TRUE(p1 && p3);
  const QPoint nowhere((p1->toPoint() + p3->toPoint()) / 2 + QPoint(0, 60));
  QTest::mouseClick(&w, Qt::LeftButton, {}, nowhere);
  EXPECT_FALSE(spy.wait(500));

  const auto p = w.trial_position(2);
  ASSERT_TRUE(p);
  QTest::mouseMove(&w, p->toPoint());
  QTest::mouseClick(&w, Qt::LeftButton, {}, p->toPoint());
  ASSERT_TRUE(spy.wait(3000));
  ASSERT_EQ(spy.count(), 1);
  EXPECT_EQ(spy.at(0).at(0).toLongLong(), 2);

  // Hovering shows the tooltip; keep it in a screenshot for people.
  QTest::mouseMove(&w, w.trial_position(3)->toPoint());
  plots_test::save(w.grab_image(), "search_pareto_hover");
}

TEST(ImGuiVulkanWindow, TwoWindowsRenderSideBySide) {
  RunPlotsWindow run;
  SearchPlotsWindow search;
  run.set_curves(synthetic_curves(300));
  search.set_points(pareto_set());
  search.set_dark(false);
  ASSERT_TRUE(plots_test::show(run, 700, 500));
  ASSERT_TRUE(plots_test::show(search, 700, 500));
  search.setPosition(720, 0);
  for (int round = 0; round < 2; ++round) {
    const QImage a = run.grab_image(), b = search.grab_image();
    ASSERT_FALSE(a.isNull());
    ASSERT_FALSE(b.isNull());
    EXPECT_GT(count_near(a, ImVec2(0, 0), ImVec2(700, 500), run.theme().series[0].packed(), 40), 300) << round;
    EXPECT_GT(count_near(b, ImVec2(0, 0), ImVec2(700, 500), search.theme().front.packed(), 12), 100) << round;
    EXPECT_LT(qGray(pixel_at(a, 695, 495)), 60);
    EXPECT_GT(qGray(pixel_at(b, 695, 495)), 200);
    QTest::qWait(50);  // let both windows take requested frames in between
  }
}

TEST(RunPlotsWindow, MouseWheelScrollsThroughLayers) {
  RunPlotsWindow w;
  for (int layer = 0; layer < 4; ++layer)
    for (const auto& e : unbalanced_loads("blocks." + std::to_string(layer) + ".moe", layer, 40)) w.add_expert_load(e);
  w.show_tab(RunPlotsWindow::Tab::expert_load);
  ASSERT_TRUE(plots_test::show(w, 800, 600));
  w.grab_image();
  const float before = w.heatmap_frame(0).min.y;
  ASSERT_TRUE(w.heatmap_frame(0).valid());
  EXPECT_FALSE(w.heatmap_frame(3).min.y < 600) << "the last layer should start below the fold";

  const QPointF at(400, 300);
  QTest::mouseMove(&w, at.toPoint());
  QWheelEvent wheel(at, w.mapToGlobal(at), QPoint(), QPoint(0, -120 * 3), Qt::NoButton, Qt::NoModifier,
                    Qt::NoScrollPhase, false);
  QCoreApplication::sendEvent(&w, &wheel);
  QTest::qWait(100);
  plots_test::save(w.grab_image(), "run_expert_load_scrolled");
  EXPECT_LT(w.heatmap_frame(0).min.y, before - 50);
}
