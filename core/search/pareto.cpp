#include "pareto.h"

#include <algorithm>
#include <iterator>
#include <limits>
#include <map>
#include <numeric>

namespace search {

std::vector<Vec> to_minimization(const std::vector<Vec>& points, const std::vector<Direction>& dirs) {
  std::vector<Vec> out;
  out.reserve(points.size());
  for (auto& p : points) out.push_back(to_minimization(p, dirs));
  return out;
}

Vec to_minimization(const Vec& point, const std::vector<Direction>& dirs) {
  Vec q = point;
  for (size_t m = 0; m < q.size() && m < dirs.size(); ++m)
    if (dirs[m] == Direction::maximize) q[m] = -q[m];
  return q;
}

bool dominates(const Vec& a, const Vec& b) {
  bool better = false;
  for (size_t m = 0; m < a.size(); ++m) {
    if (a[m] > b[m]) return false;
    better |= a[m] < b[m];
  }
  return better;
}

std::vector<std::vector<int>> nondominated_fronts(const std::vector<Vec>& points) {
  const size_t n = points.size();
  std::vector<std::vector<int>> fronts;
  if (n == 0) return fronts;
  const size_t dims = points[0].size();
  // Lexicographic order: a point can only be dominated by points before it, so each point is
  // placed once, in the first front none of whose members dominates it. "Front k dominates p" is
  // monotone in k, which allows a binary search over fronts.
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](int a, int b) {
    const Vec& pa = points[size_t(a)];
    const Vec& pb = points[size_t(b)];
    for (size_t m = 0; m < dims; ++m)
      if (pa[m] != pb[m]) return pa[m] < pb[m];
    return a < b;
  });
  auto front_dominates = [&](const std::vector<int>& f, const Vec& p) {
    if (dims == 2) {
      // In 2-D a front sorted by the first objective has a non-increasing second one: only its
      // last member can dominate a later point.
      return dominates(points[size_t(f.back())], p);
    }
    for (auto it = f.rbegin(); it != f.rend(); ++it)  // recent members are the likeliest dominators
      if (dominates(points[size_t(*it)], p)) return true;
    return false;
  };
  for (int i : order) {
    const Vec& p = points[size_t(i)];
    size_t lo = 0, hi = fronts.size();
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (front_dominates(fronts[mid], p)) lo = mid + 1;
      else hi = mid;
    }
    if (lo == fronts.size()) fronts.emplace_back();
    fronts[lo].push_back(i);
  }
  for (auto& f : fronts) std::sort(f.begin(), f.end());
  return fronts;
}

std::vector<std::vector<int>> constrained_fronts(const std::vector<Vec>& points, const std::vector<double>& violation) {
  std::vector<int> feasible, infeasible;
  for (size_t i = 0; i < points.size(); ++i) (violation[i] > 0 ? infeasible : feasible).push_back(int(i));
  std::vector<Vec> fp;
  for (int i : feasible) fp.push_back(points[size_t(i)]);
  std::vector<std::vector<int>> fronts;
  for (auto& f : nondominated_fronts(fp)) {
    std::vector<int> g;
    for (int k : f) g.push_back(feasible[size_t(k)]);
    fronts.push_back(std::move(g));
  }
  std::stable_sort(infeasible.begin(), infeasible.end(),
                   [&](int a, int b) { return violation[size_t(a)] < violation[size_t(b)]; });
  for (size_t k = 0; k < infeasible.size(); ++k) {
    if (k == 0 || violation[size_t(infeasible[k])] != violation[size_t(infeasible[k - 1])]) fronts.emplace_back();
    fronts.back().push_back(infeasible[k]);
  }
  return fronts;
}

bool constraint_dominates(const Vec& a, double va, const Vec& b, double vb) {
  if (va <= 0 && vb > 0) return true;
  if (va > 0 && vb <= 0) return false;
  if (va > 0 && vb > 0) return va < vb;
  return dominates(a, b);
}

std::vector<double> crowding_distance(const std::vector<Vec>& points, const std::vector<int>& front) {
  const size_t n = front.size();
  std::vector<double> d(n, 0.0);
  if (n == 0) return d;
  const double inf = std::numeric_limits<double>::infinity();
  if (n <= 2) return std::vector<double>(n, inf);
  std::vector<size_t> order(n);
  for (size_t m = 0; m < points[size_t(front[0])].size(); ++m) {
    std::iota(order.begin(), order.end(), size_t(0));
    auto val = [&](size_t k) { return points[size_t(front[k])][m]; };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return val(a) < val(b); });
    double lo = val(order.front()), hi = val(order.back());
    d[order.front()] = d[order.back()] = inf;
    if (hi <= lo) continue;  // every member ties on this objective: it separates nobody
    for (size_t k = 1; k + 1 < n; ++k) d[order[k]] += (val(order[k + 1]) - val(order[k - 1])) / (hi - lo);
  }
  return d;
}

std::vector<int> pareto_front(const std::vector<Vec>& points) {
  auto f = nondominated_fronts(points);
  return f.empty() ? std::vector<int>{} : f[0];
}

namespace {

double hv2(std::vector<Vec> pts, const Vec& ref) {
  std::sort(pts.begin(), pts.end(), [](const Vec& a, const Vec& b) { return a[0] != b[0] ? a[0] < b[0] : a[1] < b[1]; });
  double hv = 0, y = ref[1];
  for (auto& p : pts)
    if (p[1] < y) hv += (ref[0] - p[0]) * (y - p[1]), y = p[1];
  return hv;
}

// Sweep along z, keeping the 2-D front of the points seen so far (x ascending, y descending)
// and the area it dominates, updated on each insertion.
double hv3(std::vector<Vec> pts, const Vec& ref) {
  std::sort(pts.begin(), pts.end(), [](const Vec& a, const Vec& b) { return a[2] < b[2]; });
  std::map<double, double> front;  // x -> y
  double area = 0, hv = 0;
  auto right_x = [&](std::map<double, double>::iterator it) {
    auto nx = std::next(it);
    return nx == front.end() ? ref[0] : nx->first;
  };
  for (size_t i = 0; i < pts.size(); ++i) {
    const double x = pts[i][0], y = pts[i][1];
    auto it = front.lower_bound(x);
    bool dominated = (it != front.end() && it->first == x && it->second <= y) ||
                     (it != front.begin() && std::prev(it)->second <= y);
    if (!dominated) {
      bool has_left = it != front.begin();
      auto l = has_left ? std::prev(it) : front.end();
      if (has_left) area -= (right_x(l) - l->first) * (ref[1] - l->second);
      // Remove the points p covers (x >= px, y >= py); they are consecutive from `it`.
      while (it != front.end() && it->second >= y) {
        area -= (right_x(it) - it->first) * (ref[1] - it->second);
        it = front.erase(it);
      }
      double rx = it == front.end() ? ref[0] : it->first;
      if (has_left) area += (x - l->first) * (ref[1] - l->second);
      front.emplace_hint(it, x, y);
      area += (rx - x) * (ref[1] - y);
    }
    double next_z = i + 1 < pts.size() ? pts[i + 1][2] : ref[2];
    hv += area * (next_z - pts[i][2]);
  }
  return hv;
}

double hv_rec(std::vector<Vec> pts, const Vec& ref) {
  const size_t d = ref.size();
  if (pts.empty()) return 0;
  if (d == 1) {
    double best = ref[0];
    for (auto& p : pts) best = std::min(best, p[0]);
    return ref[0] - best;
  }
  if (d == 2) return hv2(std::move(pts), ref);
  if (d == 3) return hv3(std::move(pts), ref);
  // Slice along the last objective: between consecutive values the cross-section is the
  // (d-1)-dimensional volume of the points seen so far.
  std::sort(pts.begin(), pts.end(), [&](const Vec& a, const Vec& b) { return a[d - 1] < b[d - 1]; });
  Vec sub_ref(ref.begin(), ref.end() - 1);
  std::vector<Vec> seen;
  double hv = 0;
  for (size_t i = 0; i < pts.size(); ++i) {
    Vec q(pts[i].begin(), pts[i].end() - 1);
    bool covered = false;
    for (auto& s : seen)
      if (std::equal(s.begin(), s.end(), q.begin(), [](double a, double b) { return a <= b; })) { covered = true; break; }
    if (!covered) {
      std::erase_if(seen, [&](const Vec& s) { return std::equal(q.begin(), q.end(), s.begin(), [](double a, double b) { return a <= b; }); });
      seen.push_back(std::move(q));
    }
    double next = i + 1 < pts.size() ? pts[i + 1][d - 1] : ref[d - 1];
    if (next > pts[i][d - 1]) hv += hv_rec(seen, sub_ref) * (next - pts[i][d - 1]);
  }
  return hv;
}

}  // namespace

double hypervolume(const std::vector<Vec>& points, const Vec& reference) {
  std::vector<Vec> inside;
  for (auto& p : points) {
    bool ok = p.size() == reference.size();
    for (size_t m = 0; ok && m < p.size(); ++m) ok = p[m] < reference[m];
    if (ok) inside.push_back(p);
  }
  return hv_rec(std::move(inside), reference);
}

}  // namespace search
