#include "exit_report.h"

#include <algorithm>
#include <cstdio>
#include <vector>

#include "base/file.h"
#include "circuit/circuit_file.h"
#include "base/json.h"
#include "engine/exits.h"
#include "engine/train.h"

namespace cli {
namespace {

using base::Json;

Json outcome_json(const engine::ExitOutcome& o) {
  Json j = Json::object(), h = Json::array(), acc = Json::array();
  for (auto v : o.histogram) h.push(Json::integer(v));
  for (auto v : o.head_accuracy) acc.push(Json::number(v));
  j.set("accuracy", Json::number(o.accuracy));
  j.set("avg_cost", Json::number(o.avg_cost));
  j.set("peak_cost", Json::number(o.peak_cost));
  j.set("avg_depth", Json::number(o.avg_depth));
  j.set("peak_depth", Json::integer(o.peak_depth));
  j.set("histogram", std::move(h));
  j.set("head_accuracy", std::move(acc));
  return j;
}

std::string shares(const engine::ExitOutcome& o, size_t heads) {
  int64_t n = 0;
  for (auto v : o.histogram) n += v;
  std::string s;
  for (size_t k = 0; k < heads; ++k) {
    char b[32];
    std::snprintf(b, sizeof b, "%s%.1f%%", k ? " / " : "", n ? 100.0 * double(o.histogram[k]) / double(n) : 0.0);
    s += b;
  }
  return s;
}

}  // namespace

int print_exit_report(engine::Model& m, const engine::Dataset& d, const ExitReportOptions& o) {
  auto val = engine::profile_exits(m, d, d.val);
  if (!val) return std::fprintf(stderr, "early exit: %s\n", val.error().message.c_str()), 1;
  auto test = engine::profile_exits(m, d, d.test);
  if (!test) return std::fprintf(stderr, "early exit: %s\n", test.error().message.c_str()), 1;
  size_t heads = test->heads.size();

  std::printf("%-22s %zu heads:", "early exit", heads);
  for (size_t k = 0; k < heads; ++k) std::printf("%s %s (%.0f%% of compute)", k ? "," : "", test->heads[k].c_str(), 100 * test->cost[k]);
  std::printf("\n%-22s", "  accuracy per head");
  std::vector<engine::CurvePoint> curve = engine::accuracy_cost_curve(*test);
  for (auto& p : curve)
    if (p.kind == engine::ExitKind::fixed) std::printf(" %s %.2f%%", test->heads[size_t(p.setting) - 1].c_str(), 100 * p.outcome.accuracy);
  std::printf("  (test, every example at that head)\n");

  auto cal = engine::calibrate_budget(*val, o.budget, o.depth_cap);
  Json report = Json::object();
  if (!cal) {
    std::printf("%-22s %s\n", "  budget calibration", cal.error().message.c_str());
    report.set("calibration_error", Json::string(cal.error().message));
  } else {
    auto achieved = engine::simulate_exits(*test, cal->policy);
    if (!achieved) return std::fprintf(stderr, "early exit: %s\n", achieved.error().message.c_str()), 1;
    std::printf("%-22s target %.0f%% of compute, depth cap %d; confidence thresholds from validation:", "  budget calibration",
                100 * o.budget, cal->policy.max_depth);
    for (int k = 0; k + 1 < cal->policy.max_depth; ++k) std::printf(" %.4f", cal->policy.thresholds[size_t(k)]);
    std::printf("\n%-22s achieved %.1f%% of compute (target %.1f%%), peak %.0f%%, accuracy %.2f%%, mean depth %.2f\n", "  on test",
                100 * achieved->avg_cost, 100 * o.budget, 100 * achieved->peak_cost, 100 * achieved->accuracy, achieved->avg_depth);
    std::printf("%-22s %s leave at heads 1..%zu\n", "  exit histogram", shares(*achieved, heads).c_str(), heads);
    Json c = Json::object(), th = Json::array(), plan = Json::array();
    for (auto t : cal->policy.thresholds) th.push(Json::number(t));
    for (auto s : cal->planned_share) plan.push(Json::number(s));
    c.set("target_cost", Json::number(o.budget));
    c.set("depth_cap", Json::integer(cal->policy.max_depth));
    c.set("thresholds", std::move(th));
    c.set("planned_share", std::move(plan));
    c.set("validation", outcome_json(cal->validation));
    c.set("test", outcome_json(*achieved));
    report.set("calibration", std::move(c));
  }
  // At most eight points of the front, spread from the cheapest to the most accurate.
  std::vector<const engine::CurvePoint*> front;
  for (auto& p : curve)
    if (p.pareto) front.push_back(&p);
  std::printf("%-22s", "  Pareto front (test)");
  size_t shown = std::min<size_t>(front.size(), 8);
  for (size_t i = 0; i < shown; ++i) {
    const auto& p = *front[shown > 1 ? i * (front.size() - 1) / (shown - 1) : 0];
    std::printf("%s %.0f%% -> %.2f%%", i ? "," : "", 100 * p.outcome.avg_cost, 100 * p.outcome.accuracy);
  }
  std::printf("  (compute -> accuracy, %zu points on the front)\n", front.size());

  if (!o.json_path.empty()) {
    Json hs = Json::array(), cs = Json::array(), pts = Json::array();
    for (auto& h : test->heads) hs.push(Json::string(h));
    for (auto c : test->cost) cs.push(Json::number(c));
    for (auto& p : curve) {
      Json j = outcome_json(p.outcome);
      j.set("policy", Json::string(p.label()));
      j.set("setting", Json::number(p.setting));
      j.set("pareto", Json::boolean(p.pareto));
      pts.push(std::move(j));
    }
    report.set("heads", std::move(hs));
    report.set("cost", std::move(cs));
    report.set("curve", std::move(pts));
    if (auto s = base::write_file_atomic(o.json_path, base::write_json(report) + "\n"); !s)
      return std::fprintf(stderr, "%s\n", s.error.c_str()), 1;
    std::printf("%-22s %s\n", "  report", o.json_path.c_str());
  }
  return 0;
}

}  // namespace cli
