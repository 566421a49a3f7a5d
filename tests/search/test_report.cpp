// The many-objective report plots and page: every finished trial drawn once, coloured by Pareto
// rank over all objectives, infeasible trials marked, each pair of objectives once.
#include <gtest/gtest.h>

#include "search/report.h"

#include <random>

namespace search {
namespace {

size_t count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

store::TrialRecord trial(int number, double accuracy, double params, double flops, const std::string& point) {
  store::TrialRecord t;
  t.number = number, t.seq = number, t.point = point;
  t.status = store::TrialStatus::finished;
  t.metrics = {{"accuracy", accuracy}, {"params", params}, {"flops", flops}};
  return t;
}

struct Report : ::testing::Test {
  Space space;
  std::vector<store::TrialRecord> trials;
  void SetUp() override {
    auto s = load_space(CIRCUIT_SOURCE_DIR "/resources/search/moe_mlp.search.json");
    ASSERT_TRUE(s) << s.error().message;
    space = *s;
    space.objectives.push_back({"flops", Direction::minimize});  // three objectives: accuracy max, params min, flops min
    trials = {trial(1, 0.90, 100, 50, "0,0,0,0,0,0"), trial(2, 0.80, 200, 60, "1,1,1,1,1,1"),  // 2 is dominated by 1
              trial(3, 0.95, 300, 40, "2,2,2,2,2,1"),                                      // the front: 1 and 3
              trial(4, 0.99, 250000, 30, "3,0,1,2,0,0")};                                 // over params' max of 200000
    store::TrialRecord failed;
    failed.number = 5, failed.status = store::TrialStatus::failed, failed.error = "shape <bad> & worse";
    trials.push_back(failed);
  }
};

TEST_F(Report, ParallelCoordinatesDrawEveryFinishedTrialAcrossObjectivesAndChoices) {
  std::string svg = parallel_svg("t", trials, space);
  EXPECT_EQ(count(svg, "<polyline class='trial'"), 4u) << "the failed trial has no line";
  EXPECT_EQ(count(svg, "<line class='axis'"), space.objectives.size() + space.dims.size());
  EXPECT_EQ(count(svg, "stroke='#c0392b'"), 2u) << "trials 1 and 3 are the front over all three objectives";
  EXPECT_EQ(count(svg, "stroke-dasharray"), 1u) << "trial 4 violates the params constraint";
  EXPECT_NE(svg.find("trial 2, rank 1"), std::string::npos);
  EXPECT_NE(svg.find("trial 4, violates a constraint"), std::string::npos);
  EXPECT_NE(svg.find(">expert_choice<"), std::string::npos) << "a choice axis is labelled with its values";
}

TEST_F(Report, TheScatterMatrixShowsEachPairOnceWithTheFront) {
  std::string svg = scatter_matrix_svg("t", trials, space.objectives, space.constraints);
  EXPECT_EQ(count(svg, "<g class='cell'>"), 3u) << "three objectives: three pairs";
  EXPECT_EQ(count(svg, "fill='#c0392b'"), 3u * 2) << "the front's two trials in every cell";
  EXPECT_EQ(count(svg, "fill='#c8c8c8'"), 3u) << "the infeasible trial in every cell";
  space.objectives.pop_back();
  EXPECT_EQ(count(scatter_matrix_svg("t", trials, space.objectives, space.constraints), "<g class='cell'>"), 1u);
}

TEST_F(Report, ThePageHoldsThePlotsAndEveryTrialEscaped) {
  std::string html = report_html("study <s>", {parallel_svg("a", trials, space), front_svg("b", trials, {}, space.objectives, space.constraints)},
                                 trials, space);
  EXPECT_EQ(count(html, "<svg "), 2u);
  EXPECT_EQ(html.find("<?xml"), std::string::npos) << "SVGs inline, without their XML declaration";
  EXPECT_EQ(count(html, "<tr class='trial"), 5u);
  EXPECT_EQ(count(html, "<tr class='trial front'>"), 2u);
  EXPECT_NE(html.find("shape &lt;bad&gt; &amp; worse"), std::string::npos);
  EXPECT_NE(html.find("<title>study &lt;s&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find(">infeasible<"), std::string::npos);
}

}  // namespace
}  // namespace search

namespace search {
namespace {

StudyResult result(const std::string& strategy, double final_hv) { return {strategy + "?", strategy, {final_hv / 2, final_hv}}; }

// Strategies compared over seeds (TECHNIQUES.md §5): mean ± std, and a difference within two
// standard errors is called seed noise; one study on a side cannot tell.
TEST(Comparison, TellsStrategiesApartOnlyBeyondSeedNoise) {
  StrategyComparison c = compare_strategies({result("nsga2", 0.50), result("nsga2", 0.52), result("nsga2", 0.51), result("random", 0.30),
                                             result("random", 0.32)});
  ASSERT_EQ(c.rows.size(), 2u);
  EXPECT_EQ(c.rows[0].strategy, "nsga2");
  EXPECT_EQ(c.rows[0].studies, 3u);
  EXPECT_NEAR(c.rows[0].mean, 0.51, 1e-12);
  EXPECT_NEAR(c.rows[0].std, 0.01, 1e-12);  // sample standard deviation of 0.50, 0.52, 0.51
  ASSERT_EQ(c.pairs.size(), 1u);
  EXPECT_TRUE(c.pairs[0].decidable);
  EXPECT_FALSE(c.pairs[0].within_noise);
  EXPECT_NEAR(c.pairs[0].difference, 0.51 - 0.31, 1e-12);
  EXPECT_NE(c.pairs[0].verdict.find("nsga2 is better"), std::string::npos) << c.pairs[0].verdict;

  c = compare_strategies({result("nsga2", 0.50), result("nsga2", 0.56), result("random", 0.49), result("random", 0.55)});
  EXPECT_TRUE(c.pairs[0].within_noise) << c.pairs[0].verdict;
  EXPECT_NE(c.pairs[0].verdict.find("within seed noise"), std::string::npos) << c.pairs[0].verdict;

  c = compare_strategies({result("nsga2", 0.9), result("random", 0.1), result("random", 0.12)});
  EXPECT_FALSE(c.pairs[0].decidable);
  EXPECT_NE(c.pairs[0].verdict.find("cannot tell: nsga2 has one study"), std::string::npos) << c.pairs[0].verdict;
  EXPECT_NE(comparison_text(c).find("random                  2  0.11 ± 0.0141"), std::string::npos) << comparison_text(c);
}

TEST_F(Report, FrontsOfSeveralStudiesOverlay) {
  std::vector<store::TrialRecord> other = {trial(1, 0.7, 150, 50, "0,0,0,0,0,0")};
  std::string svg = fronts_svg("t", {{"a", &trials}, {"b", &other}}, space.objectives, space.constraints);
  EXPECT_EQ(count(svg, "<g class='study'>"), 2u);
  EXPECT_NE(svg.find(">a (front of "), std::string::npos);
}

}  // namespace
}  // namespace search

namespace search {
namespace {

// Seed bands: per strategy, trial by trial, the mean, lowest and highest over the studies that
// ran that many trials; a shorter study stops counting where it ended.
TEST(SeedBands, SpanEachStrategysStudiesTrialByTrial) {
  std::vector<StudyResult> r = {{"a", "nsga2", {0.1, 0.4, 0.5}}, {"b", "random", {0.2, 0.2}}, {"c", "nsga2", {0.3, 0.2}}};
  auto bands = seed_bands(r);
  ASSERT_EQ(bands.size(), 2u);
  EXPECT_EQ(bands[0].strategy, "nsga2");
  EXPECT_EQ(bands[0].studies, 2u);
  ASSERT_EQ(bands[0].mean.size(), 3u);
  EXPECT_NEAR(bands[0].mean[0], 0.2, 1e-12);
  EXPECT_NEAR(bands[0].mean[1], 0.3, 1e-12);
  EXPECT_NEAR(bands[0].mean[2], 0.5, 1e-12) << "only study a ran a third trial";
  EXPECT_EQ(bands[0].lo[1], 0.2);
  EXPECT_EQ(bands[0].hi[1], 0.4);
  EXPECT_EQ(bands[1].studies, 1u);
  EXPECT_EQ(bands[1].lo, bands[1].hi);
  std::string svg = hypervolume_svg("t", {{"a", r[0].hypervolume}, {"b", r[1].hypervolume}, {"c", r[2].hypervolume}}, bands);
  EXPECT_EQ(count(svg, "<polygon class='band'"), 1u) << "random has one study: no band";
  EXPECT_NE(svg.find("band: nsga2 over 2 seeds"), std::string::npos);
}

}  // namespace
}  // namespace search

namespace search {
namespace {

std::vector<store::TrialRecord> random_trials(size_t n, size_t dims, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(0, 1);
  std::vector<store::TrialRecord> out;
  for (size_t i = 0; i < n; ++i) {
    store::TrialRecord t;
    t.number = int(i + 1), t.seq = int64_t(i + 1), t.status = store::TrialStatus::finished;
    for (size_t m = 0; m < dims; ++m) t.metrics["m" + std::to_string(m)] = u(rng);
    out.push_back(t);
  }
  return out;
}

// The series keeps a running front and computes again only when it grows: each value equals the
// hypervolume of every trial so far. The Monte Carlo estimate (4+ objectives, big studies) stays
// within its sampling error of the exact value and never falls.
TEST(HypervolumeSeries, IncrementalEqualsRecomputedAndTheEstimateIsClose) {
  std::vector<Objective> obj;
  for (int m = 0; m < 4; ++m) obj.push_back({"m" + std::to_string(m), m == 0 ? Direction::maximize : Direction::minimize});
  Vec ref = {0, 1, 1, 1};
  auto trials = random_trials(300, 4, 3);
  HypervolumeSeries exact = hypervolume_series(trials, obj, {}, ref, "x", HypervolumeMethod::exact);
  EXPECT_EQ(exact.samples, 0u);
  ASSERT_EQ(exact.values.size(), 300u);
  std::vector<Vec> so_far;
  for (size_t i = 0; i < trials.size(); ++i) {
    Vec v;
    for (auto& o : obj) v.push_back(trials[i].metrics.at(o.metric));
    so_far.push_back(to_minimization(v, {Direction::maximize, Direction::minimize, Direction::minimize, Direction::minimize}));
    if (i % 37 == 0 || i + 1 == trials.size()) {
      EXPECT_NEAR(exact.values[i], hypervolume(so_far, to_minimization(ref, {Direction::maximize, Direction::minimize, Direction::minimize, Direction::minimize})), 1e-12)
          << "after trial " << i + 1;
    }
  }
  HypervolumeSeries est = hypervolume_series(trials, obj, {}, ref, "x", HypervolumeMethod::estimate, 40000);
  EXPECT_EQ(est.samples, 40000u);
  for (size_t i = 1; i < est.values.size(); ++i) EXPECT_GE(est.values[i], est.values[i - 1]);
  EXPECT_NEAR(est.values.back(), exact.values.back(), 0.02 * exact.values.back());
  EXPECT_NEAR(est.values[49], exact.values[49], 0.03 * exact.values[49]);
  // Automatic: exact for this study in 4-D (300 trials), estimated for a bigger one.
  EXPECT_EQ(hypervolume_series(trials, obj, {}, ref, "x").samples, 0u);
  EXPECT_GT(hypervolume_series(random_trials(1000, 4, 4), obj, {}, ref, "x").samples, 0u);
}

}  // namespace
}  // namespace search
