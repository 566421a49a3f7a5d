#include "exits.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "base/enum_names.h"

namespace engine {

using base::Error;
using base::Result;

HeadCosts head_costs(const circuit::Graph& g, const circuit::GraphAnalysis& a) {
  HeadCosts h;
  std::vector<int> node_of;
  for (auto& r : g.outputs) node_of.push_back(g.find(r.node));
  h.order.resize(g.outputs.size());
  std::iota(h.order.begin(), h.order.end(), 0);
  auto pos = [&](int out) { return node_of[size_t(out)] < 0 ? -1 : a.position[size_t(node_of[size_t(out)])]; };
  std::stable_sort(h.order.begin(), h.order.end(), [&](int x, int y) { return pos(x) < pos(y); });

  // A staged forward computes, before deciding at head k, every ancestor of heads 1..k.
  std::vector<char> seen(g.nodes.size(), 0);
  std::vector<int64_t> cumulative;
  int64_t sum = 0;
  for (int out : h.order) {
    std::vector<int> stack;
    if (node_of[size_t(out)] >= 0) stack.push_back(node_of[size_t(out)]);
    while (!stack.empty()) {
      int n = stack.back();
      stack.pop_back();
      if (seen[size_t(n)]) continue;
      seen[size_t(n)] = 1;
      sum += a.nodes[size_t(n)].cost.flops;
      for (auto [src, port] : a.sources[size_t(n)])
        if (src >= 0 && !seen[size_t(src)]) stack.push_back(src);
    }
    cumulative.push_back(sum);
  }
  for (size_t k = 0; k < cumulative.size(); ++k)
    h.cost.push_back(sum > 0 ? double(cumulative[k]) / double(sum) : double(k + 1) / double(cumulative.size()));
  return h;
}

namespace {

double threshold_of(const ExitPolicy& p, size_t head) {
  if (p.thresholds.empty()) return 0;
  return p.thresholds.size() == 1 ? p.thresholds[0] : p.thresholds[std::min(head, p.thresholds.size() - 1)];
}

}  // namespace

namespace {
constexpr const char* kExitKinds[] = {"confidence", "entropy", "patience", "fixed"};  // ExitKind order
}

const char* to_string(ExitKind k) { return base::enum_name(kExitKinds, k); }
std::optional<ExitKind> parse_exit_kind(std::string_view s) { return base::parse_enum<ExitKind>(kExitKinds, s); }

std::string CurvePoint::label() const { return kind == ExitKind::fixed ? "head " + std::to_string(int(setting)) : to_string(kind); }

Result<ExitOutcome> simulate_exits(const ExitProfile& p, const ExitPolicy& policy) {
  size_t heads = p.heads.size();
  if (heads == 0 || p.examples == 0) return Error{"early exit: the profile has no heads or no examples"};
  if (policy.max_depth < 0 || size_t(policy.max_depth) > heads)
    return Error{"early exit: max depth " + std::to_string(policy.max_depth) + " is outside 1.." + std::to_string(heads) + " (the circuit has " +
                 std::to_string(heads) + " exit heads)"};
  const ExitKind kind = policy.kind;
  if ((kind == ExitKind::confidence || kind == ExitKind::entropy) && policy.thresholds.size() != 1 && policy.thresholds.size() != heads)
    return Error{"early exit: " + std::string(to_string(kind)) + " needs one threshold or one per head (" + std::to_string(heads) + "), got " +
                 std::to_string(policy.thresholds.size())};
  if (kind == ExitKind::patience && policy.patience < 1) return Error{"early exit: patience must be at least 1"};

  size_t depth = policy.max_depth ? size_t(policy.max_depth) : heads;
  ExitOutcome o;
  o.histogram.assign(heads, 0);
  std::vector<int64_t> right(heads, 0);
  int64_t correct = 0;
  for (int64_t i = 0; i < p.examples; ++i) {
    size_t at = depth - 1;
    int run = 0;
    for (size_t k = 0; k + 1 < depth; ++k) {
      size_t j = p.at(k, i);
      bool leave = false;
      if (kind == ExitKind::confidence) leave = p.confidence[j] >= threshold_of(policy, k);
      else if (kind == ExitKind::entropy) leave = p.entropy[j] <= threshold_of(policy, k);
      else if (kind == ExitKind::patience) {
        run = k > 0 && p.predicted[j] == p.predicted[p.at(k - 1, i)] ? run + 1 : 1;
        leave = run >= policy.patience;
      }
      if (leave) {
        at = k;
        break;
      }
    }
    bool ok = p.predicted[p.at(at, i)] == p.label[size_t(i)];
    ++o.histogram[at];
    right[at] += ok;
    correct += ok;
    o.avg_cost += p.cost[at];
    o.avg_depth += double(at + 1);
    o.peak_depth = std::max(o.peak_depth, int(at + 1));
  }
  double n = double(p.examples);
  o.accuracy = double(correct) / n;
  o.avg_cost /= n;
  o.avg_depth /= n;
  o.peak_cost = p.cost[size_t(o.peak_depth - 1)];
  for (size_t k = 0; k < heads; ++k) o.head_accuracy.push_back(o.histogram[k] ? double(right[k]) / double(o.histogram[k]) : 0.0);
  return o;
}

namespace {

std::vector<double> geometric_share(double q, size_t heads) {
  std::vector<double> s(heads);
  double sum = 0;
  for (size_t k = 0; k < heads; ++k) sum += s[k] = std::pow(q, double(k));
  for (auto& v : s) v /= sum;
  return s;
}

}  // namespace

Result<Calibration> calibrate_budget(const ExitProfile& v, double target, int max_depth) {
  size_t heads = v.heads.size();
  if (heads < 2) return Error{"budget calibration needs at least two exit heads, the circuit has " + std::to_string(heads)};
  if (v.examples == 0) return Error{"budget calibration needs validation examples"};
  if (max_depth < 0 || size_t(max_depth) > heads)
    return Error{"budget calibration: depth cap " + std::to_string(max_depth) + " is outside 1.." + std::to_string(heads)};
  size_t depth = max_depth ? size_t(max_depth) : heads;
  double lo_cost = v.cost[0], hi_cost = v.cost[depth - 1];
  if (!(target > 0) || target < lo_cost - 1e-12)
    return Error{"budget calibration: a target of " + std::to_string(target) + " of the full compute is below the cost of the first head (" +
                 std::to_string(lo_cost) + "); every example has to reach it"};

  Calibration c;
  c.target_cost = target;
  std::vector<double> share;
  if (target >= hi_cost || depth == 1) {
    c.q = std::numeric_limits<double>::infinity();
    share.assign(depth, 0.0);
    share.back() = 1.0;
  } else {
    // Expected cost rises with q (more weight on deeper, dearer heads): bisect log q.
    auto expected = [&](double lq) {
      auto s = geometric_share(std::exp(lq), depth);
      double e = 0;
      for (size_t k = 0; k < depth; ++k) e += s[k] * v.cost[k];
      return e;
    };
    double a = -40, b = 40;
    for (int it = 0; it < 200; ++it) {
      double m = 0.5 * (a + b);
      (expected(m) < target ? a : b) = m;
    }
    c.q = std::exp(0.5 * (a + b));
    share = geometric_share(c.q, depth);
  }
  c.planned_share = share;
  c.planned_share.resize(heads, 0.0);

  // Walk the heads in order; at each, the most confident of the examples still running leave,
  // as many as the planned share of the whole set.
  c.policy.kind = ExitKind::confidence;
  c.policy.max_depth = int(depth);
  c.policy.thresholds.assign(heads, 0.0);
  std::vector<int64_t> remaining(size_t(v.examples));
  std::iota(remaining.begin(), remaining.end(), 0);
  double planned = 0;
  int64_t left_so_far = 0;
  for (size_t k = 0; k + 1 < depth; ++k) {
    planned += share[k];
    // Round the cumulative plan, not each head's share, so rounding errors do not pile up.
    int64_t take = std::llround(planned * double(v.examples)) - left_so_far;
    take = std::clamp<int64_t>(take, 0, int64_t(remaining.size()));
    std::vector<float> conf;
    for (int64_t i : remaining) conf.push_back(v.confidence[v.at(k, i)]);
    std::sort(conf.begin(), conf.end(), std::greater<float>());
    // A threshold above every probability lets nobody out.
    double tau = take == 0 ? 2.0 : double(conf[size_t(take - 1)]);
    c.policy.thresholds[k] = tau;
    std::vector<int64_t> next;
    for (int64_t i : remaining)
      if (v.confidence[v.at(k, i)] < tau) next.push_back(i);
    left_so_far += int64_t(remaining.size() - next.size());
    remaining.swap(next);
  }
  auto o = simulate_exits(v, c.policy);
  if (!o) return o.error();
  c.validation = *o;
  return c;
}

std::vector<CurvePoint> accuracy_cost_curve(const ExitProfile& p, int steps) {
  std::vector<CurvePoint> pts;
  size_t heads = p.heads.size();
  auto add = [&](double setting, const ExitPolicy& pol) {
    if (auto o = simulate_exits(p, pol)) pts.push_back({pol.kind, setting, *o, false});
  };
  for (size_t k = 1; k <= heads; ++k) {
    ExitPolicy f;
    f.kind = ExitKind::fixed, f.max_depth = int(k);
    add(double(k), f);
  }
  // Thresholds at quantiles of the scores the heads actually produce, so the sweep spends its
  // points where examples are (confidences crowd near 1 on an easy task).
  auto quantiles = [&](std::vector<float> s) {
    std::sort(s.begin(), s.end());
    std::vector<double> q;
    for (int j = 0; j <= steps && !s.empty(); ++j) q.push_back(s[std::min(s.size() - 1, size_t(double(j) / steps * double(s.size() - 1)))]);
    q.erase(std::unique(q.begin(), q.end()), q.end());
    return q;
  };
  std::vector<float> early_conf, early_ent;  // every head but the last decides
  early_conf.assign(p.confidence.begin(), p.confidence.begin() + std::ptrdiff_t((heads - 1) * size_t(p.examples)));
  early_ent.assign(p.entropy.begin(), p.entropy.begin() + std::ptrdiff_t((heads - 1) * size_t(p.examples)));
  for (double t : quantiles(early_conf)) {
    ExitPolicy c;
    c.kind = ExitKind::confidence, c.thresholds = {t};
    add(t, c);
  }
  for (double t : quantiles(early_ent)) {
    ExitPolicy e;
    e.kind = ExitKind::entropy, e.thresholds = {t};
    add(t, e);
  }
  for (size_t k = 1; k <= heads; ++k) {
    ExitPolicy pa;
    pa.kind = ExitKind::patience, pa.patience = int(k);
    add(double(k), pa);
  }
  for (size_t i = 0; i < pts.size(); ++i) {
    const ExitOutcome& a = pts[i].outcome;
    pts[i].pareto = true;
    for (size_t j = 0; j < pts.size() && pts[i].pareto; ++j) {
      const ExitOutcome& b = pts[j].outcome;
      bool no_worse = b.avg_cost <= a.avg_cost && b.accuracy >= a.accuracy;
      bool better = b.avg_cost < a.avg_cost || b.accuracy > a.accuracy;
      // Of several settings with the same outcome, the first stands for the rest on the front.
      if ((no_worse && better) || (j < i && !better && b.avg_cost == a.avg_cost && b.accuracy == a.accuracy)) pts[i].pareto = false;
    }
  }
  std::stable_sort(pts.begin(), pts.end(), [](const CurvePoint& a, const CurvePoint& b) { return a.outcome.avg_cost < b.outcome.avg_cost; });
  return pts;
}

}  // namespace engine
