// Non-dominated sorting, crowding and hypervolume: hand-computed cases (ties, duplicates,
// 2-D to 4-D) and brute force on random point sets.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "search/pareto.h"
#include "search/point.h"

namespace search {
namespace {

std::vector<std::vector<int>> brute_fronts(const std::vector<Vec>& pts) {
  std::vector<std::vector<int>> fronts;
  std::vector<bool> placed(pts.size(), false);
  size_t left = pts.size();
  while (left) {
    std::vector<int> f;
    for (size_t i = 0; i < pts.size(); ++i) {
      if (placed[i]) continue;
      bool dom = false;
      for (size_t j = 0; j < pts.size() && !dom; ++j) dom = !placed[j] && dominates(pts[j], pts[i]);
      if (!dom) f.push_back(int(i));
    }
    for (int i : f) placed[size_t(i)] = true;
    left -= f.size();
    fronts.push_back(f);
  }
  return fronts;
}

// Grid counting: every cell between distinct coordinates is inside or outside the union.
double brute_hv(const std::vector<Vec>& pts, const Vec& ref) {
  const size_t d = ref.size();
  std::vector<std::vector<double>> axes(d);
  for (size_t m = 0; m < d; ++m) {
    std::set<double> s{ref[m]};
    for (auto& p : pts)
      if (p[m] < ref[m]) s.insert(p[m]);
    axes[m].assign(s.begin(), s.end());
  }
  double total = 0;
  std::vector<size_t> idx(d, 0);
  while (true) {
    bool cell_ok = true;
    double vol = 1;
    Vec lo(d);
    for (size_t m = 0; m < d; ++m) {
      if (idx[m] + 1 >= axes[m].size()) { cell_ok = false; break; }
      lo[m] = axes[m][idx[m]];
      vol *= axes[m][idx[m] + 1] - lo[m];
    }
    if (cell_ok)
      for (auto& p : pts) {
        bool cov = true;
        for (size_t m = 0; m < d && cov; ++m) cov = p[m] <= lo[m] && p[m] < ref[m];
        if (cov) { total += vol; break; }
      }
    size_t m = 0;
    while (m < d && ++idx[m] + 1 >= axes[m].size()) idx[m++] = 0;
    if (m == d) break;
  }
  return total;
}

std::vector<Vec> random_points(Rng& rng, int n, int d, int levels) {
  std::vector<Vec> pts;
  for (int i = 0; i < n; ++i) {
    Vec p;
    for (int m = 0; m < d; ++m) p.push_back(double(rng.below(levels)) / levels);  // coarse: many ties
    pts.push_back(p);
  }
  return pts;
}

TEST(Pareto, DominanceNeedsOneStrictImprovement) {
  EXPECT_TRUE(dominates({1, 2}, {1, 3}));
  EXPECT_FALSE(dominates({1, 2}, {1, 2}));  // duplicates do not dominate each other
  EXPECT_FALSE(dominates({1, 3}, {2, 2}));
}

TEST(Pareto, HandComputedFronts2D) {
  // (1,5) (2,3) (4,1) and the duplicate (2,3) are the front; then (3,3), (3,4), (5,5).
  std::vector<Vec> pts{{1, 5}, {2, 3}, {3, 4}, {4, 1}, {5, 5}, {2, 3}, {3, 3}};
  auto f = nondominated_fronts(pts);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0], (std::vector<int>{0, 1, 3, 5}));
  EXPECT_EQ(f[1], (std::vector<int>{6}));  // (3,3) ties (2,3) on y but is worse on x
  EXPECT_EQ(f[2], (std::vector<int>{2}));  // (3,4) ties (3,3) on x but is worse on y
  EXPECT_EQ(f[3], (std::vector<int>{4}));
}

TEST(Pareto, TiesOnOneObjective) {
  // Same x: only the smaller y is on the front; same y: only the smaller x.
  std::vector<Vec> pts{{1, 2}, {1, 1}, {0, 3}, {2, 3}};
  auto f = nondominated_fronts(pts);
  EXPECT_EQ(f[0], (std::vector<int>{1, 2}));
  EXPECT_EQ(f[1], (std::vector<int>{0}));
  EXPECT_EQ(f[2], (std::vector<int>{3}));
}

TEST(Pareto, HandComputedFronts3D) {
  std::vector<Vec> pts{{1, 1, 1}, {0, 2, 2}, {2, 2, 2}, {1, 1, 1}, {2, 0, 3}, {3, 3, 0}};
  auto f = nondominated_fronts(pts);
  ASSERT_EQ(f.size(), 2u);
  EXPECT_EQ(f[0], (std::vector<int>{0, 1, 3, 4, 5}));
  EXPECT_EQ(f[1], (std::vector<int>{2}));
}

TEST(Pareto, MatchesBruteForceOnRandomSets) {
  Rng rng(7);
  for (int d = 2; d <= 5; ++d)
    for (int rep = 0; rep < 30; ++rep) {
      auto pts = random_points(rng, 1 + rng.below(60), d, 6);
      EXPECT_EQ(nondominated_fronts(pts), brute_fronts(pts)) << "d=" << d << " rep=" << rep;
    }
}

TEST(Pareto, DirectionsConvertToMinimisation) {
  std::vector<Vec> pts{{0.9, 100}, {0.8, 50}, {0.7, 80}};
  auto m = to_minimization(pts, {Direction::maximize, Direction::minimize});
  EXPECT_EQ(nondominated_fronts(m)[0], (std::vector<int>{0, 1}));  // (0.7, 80) loses to (0.8, 50)
}

TEST(Pareto, ConstraintDominationRanksFeasibleFirst) {
  std::vector<Vec> pts{{5, 5}, {0, 0}, {1, 1}, {6, 6}, {0, 1}};
  std::vector<double> viol{0, 2, 0.5, 0, 0.5};
  auto f = constrained_fronts(pts, viol);
  ASSERT_EQ(f.size(), 4u);
  EXPECT_EQ(f[0], (std::vector<int>{0}));     // feasible, best objectives among feasible
  EXPECT_EQ(f[1], (std::vector<int>{3}));
  EXPECT_EQ(f[2], (std::vector<int>{2, 4}));  // equal smaller violation
  EXPECT_EQ(f[3], (std::vector<int>{1}));     // best objectives but most violation
  EXPECT_TRUE(constraint_dominates({9, 9}, 0, {0, 0}, 0.1));
  EXPECT_TRUE(constraint_dominates({9, 9}, 0.1, {0, 0}, 0.2));
  EXPECT_FALSE(constraint_dominates({1, 1}, 0, {1, 1}, 0));
}

TEST(Pareto, CrowdingDistanceHandComputed) {
  std::vector<Vec> pts{{0, 4}, {1, 2}, {3, 1}, {4, 0}};
  auto d = crowding_distance(pts, {0, 1, 2, 3});
  EXPECT_TRUE(std::isinf(d[0]) && std::isinf(d[3]));
  EXPECT_DOUBLE_EQ(d[1], 3.0 / 4 + 3.0 / 4);  // x: (3-0)/4, y: (4-1)/4
  EXPECT_DOUBLE_EQ(d[2], 3.0 / 4 + 2.0 / 4);
}

TEST(Hypervolume, HandComputed2D) {
  // Staircase against (4,4): 3*1 + 2*1 (+ 1*1) = rectangles [1,4]x[3,4], [2,4]x[2,3], [3,4]x[1,2].
  EXPECT_DOUBLE_EQ(hypervolume({{1, 3}, {2, 2}, {3, 1}}, {4, 4}), 3 + 2 + 1);
  // Duplicates and dominated points add nothing; points outside the reference box are ignored.
  EXPECT_DOUBLE_EQ(hypervolume({{1, 3}, {2, 2}, {3, 1}, {2, 2}, {3, 3}, {5, 0}, {0, 4}}, {4, 4}), 6);
  EXPECT_DOUBLE_EQ(hypervolume({}, {1, 1}), 0);
}

TEST(Hypervolume, HandComputed3D) {
  // One point: a box. Two overlapping boxes: 2*2*2 + 2*2*2 - 1*1*2... computed by inclusion-exclusion.
  EXPECT_DOUBLE_EQ(hypervolume({{0, 0, 0}}, {1, 2, 3}), 6);
  // a=(0,1,1) box 2x1x1=2... against ref (2,2,2): a: 2*1*1=2, b=(1,0,1): 1*2*1=2, a∩b: 1*1*1=1 -> 3.
  EXPECT_DOUBLE_EQ(hypervolume({{0, 1, 1}, {1, 0, 1}}, {2, 2, 2}), 3);
  EXPECT_DOUBLE_EQ(hypervolume({{0, 1, 1}, {1, 0, 1}, {1, 1, 0}}, {2, 2, 2}), 4);
}

TEST(Hypervolume, HandComputed4D) {
  // The same three boxes with a fourth coordinate 0 against ref 2: volume doubles.
  EXPECT_DOUBLE_EQ(hypervolume({{0, 1, 1, 0}, {1, 0, 1, 0}, {1, 1, 0, 0}}, {2, 2, 2, 2}), 8);
  EXPECT_DOUBLE_EQ(hypervolume({{1, 1, 1, 1}, {1, 1, 1, 1}}, {2, 2, 2, 2}), 1);
}

TEST(Hypervolume, MatchesGridCountingOnRandomSets) {
  Rng rng(11);
  for (int d = 2; d <= 5; ++d)
    for (int rep = 0; rep < 40; ++rep) {
      int n = 1 + rng.below(d <= 3 ? 25 : 10);
      auto pts = random_points(rng, n, d, 8);
      Vec ref(size_t(d), 0.9);
      EXPECT_NEAR(hypervolume(pts, ref), brute_hv(pts, ref), 1e-12) << "d=" << d << " rep=" << rep;
    }
}

TEST(Hypervolume, LargeRandom3DMatchesSlicing) {
  // The 3-D tree sweep against the generic slicing path (4-D with a constant fourth coordinate).
  Rng rng(3);
  std::vector<Vec> pts, pts4;
  for (int i = 0; i < 300; ++i) {
    Vec p{rng.uniform(), rng.uniform(), rng.uniform()};
    pts.push_back(p);
    p.push_back(0);
    pts4.push_back(p);
  }
  EXPECT_NEAR(hypervolume(pts, {1, 1, 1}), hypervolume(pts4, {1, 1, 1, 1}), 1e-12);
}

}  // namespace
}  // namespace search
