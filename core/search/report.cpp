#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <set>
#include <sstream>

namespace search {

namespace {

std::string num(double v) {
  char b[32];
  double a = std::abs(v);
  if (a >= 1e6) std::snprintf(b, sizeof b, "%.3gM", v / 1e6);
  else if (a >= 1e4) std::snprintf(b, sizeof b, "%.3gK", v / 1e3);
  else std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

bool feasible(const store::TrialRecord& t, const std::vector<Constraint>& constraints) {
  for (auto& c : constraints) {
    auto it = t.metrics.find(c.metric);
    if (it != t.metrics.end() && c.violation(it->second) > 0) return false;
  }
  return true;
}

// Finished, feasible trials with every objective, in finishing order, as metric-unit vectors.
std::vector<std::pair<const store::TrialRecord*, Vec>> points_of(const std::vector<store::TrialRecord>& trials,
                                                                 const std::vector<Objective>& objectives,
                                                                 const std::vector<Constraint>& constraints) {
  std::vector<const store::TrialRecord*> done;
  for (auto& t : trials)
    if (t.status == store::TrialStatus::finished && feasible(t, constraints)) done.push_back(&t);
  std::sort(done.begin(), done.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  std::vector<std::pair<const store::TrialRecord*, Vec>> out;
  for (auto* t : done) {
    Vec v;
    for (auto& o : objectives) {
      auto it = t->metrics.find(o.metric);
      if (it == t->metrics.end() || !std::isfinite(it->second)) break;
      v.push_back(it->second);
    }
    if (v.size() == objectives.size()) out.push_back({t, v});
  }
  return out;
}

std::vector<Direction> directions(const std::vector<Objective>& objectives) {
  std::vector<Direction> d;
  for (auto& o : objectives) d.push_back(o.direction);
  return d;
}

// A plot frame: maps data to the plot area and writes axes with ticks.
struct Frame {
  double x0, x1, y0, y1;                     // data ranges
  double left = 70, top = 40, w = 520, h = 340;
  double X(double v) const { return left + (x1 > x0 ? (v - x0) / (x1 - x0) : 0.5) * w; }
  double Y(double v) const { return top + h - (y1 > y0 ? (v - y0) / (y1 - y0) : 0.5) * h; }
  void axes(std::ostringstream& s, const std::string& xl, const std::string& yl) const {
    s << "<rect x='" << left << "' y='" << top << "' width='" << w << "' height='" << h << "' fill='none' stroke='#888'/>\n";
    for (int i = 0; i <= 4; ++i) {
      double vx = x0 + (x1 - x0) * i / 4, vy = y0 + (y1 - y0) * i / 4;
      s << "<text x='" << X(vx) << "' y='" << top + h + 16 << "' text-anchor='middle'>" << num(vx) << "</text>\n";
      s << "<text x='" << left - 6 << "' y='" << Y(vy) + 4 << "' text-anchor='end'>" << num(vy) << "</text>\n";
    }
    s << "<text x='" << left + w / 2 << "' y='" << top + h + 36 << "' text-anchor='middle'>" << xl << "</text>\n";
    s << "<text transform='translate(18," << top + h / 2 << ") rotate(-90)' text-anchor='middle'>" << yl << "</text>\n";
  }
};

std::string header(const std::string& title) {
  std::ostringstream s;
  s << "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='640' height='440' "
       "font-family='DejaVu Sans, sans-serif' font-size='11'>\n<rect width='640' height='440' fill='white'/>\n"
    << "<text x='70' y='24' font-size='14' font-weight='bold'>" << title << "</text>\n";
  return s.str();
}

std::string label_of(const Objective& o) { return o.metric + (o.direction == Direction::maximize ? " (max)" : " (min)"); }

}  // namespace

base::Result<Vec> reference_point(const std::vector<Objective>& objectives, const std::vector<Constraint>& constraints,
                                     const std::string& given) {
  std::map<std::string, double> over;
  std::stringstream ss(given);
  for (std::string item; std::getline(ss, item, ',');) {
    auto eq = item.find('=');
    if (eq == std::string::npos) return base::Error{"reference `" + item + "`: expected metric=value"};
    char* end = nullptr;
    double v = std::strtod(item.c_str() + eq + 1, &end);
    if (!end || *end) return base::Error{"reference `" + item + "`: `" + item.substr(eq + 1) + "` is not a number"};
    over[item.substr(0, eq)] = v;
  }
  Vec ref;
  for (auto& o : objectives) {
    if (auto it = over.find(o.metric); it != over.end()) {
      ref.push_back(it->second);
      continue;
    }
    if (o.direction == Direction::maximize) {
      ref.push_back(0);
      continue;
    }
    std::optional<double> bound;
    for (auto& c : constraints)
      if (c.metric == o.metric && c.max) bound = *c.max;
    if (!bound)
      return base::Error{"objective `" + o.metric + "` is minimised and has no upper bound: give the hypervolume reference with --reference " +
                            o.metric + "=VALUE"};
    ref.push_back(*bound);
  }
  return ref;
}

HypervolumeSeries hypervolume_series(const std::vector<store::TrialRecord>& trials, const std::vector<Objective>& objectives,
                                     const std::vector<Constraint>& constraints, const Vec& reference, const std::string& label) {
  HypervolumeSeries s{label, {}};
  auto dirs = directions(objectives);
  Vec ref = to_minimization(reference, dirs);
  std::vector<const store::TrialRecord*> order;
  for (auto& t : trials)
    if (t.status == store::TrialStatus::finished || t.status == store::TrialStatus::failed) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  auto pts = points_of(trials, objectives, constraints);
  std::map<const store::TrialRecord*, Vec> by;
  for (auto& [t, v] : pts) by[t] = to_minimization(v, dirs);
  std::vector<Vec> so_far;
  for (auto* t : order) {
    if (auto it = by.find(t); it != by.end()) so_far.push_back(it->second);
    s.values.push_back(so_far.empty() ? 0.0 : hypervolume(so_far, ref));
  }
  return s;
}

std::string front_svg(const std::string& title, const std::vector<store::TrialRecord>& trials,
                      const std::vector<store::TrialRecord>& baseline, const std::vector<Objective>& objectives,
                      const std::vector<Constraint>& constraints) {
  std::ostringstream s;
  s << header(title);
  if (objectives.size() < 2) {
    s << "<text x='70' y='80'>the front plot needs two objectives</text>\n</svg>\n";
    return s.str();
  }
  std::vector<Objective> two(objectives.begin(), objectives.begin() + 2);
  auto pts = points_of(trials, two, constraints), base = points_of(baseline, two, constraints);
  Frame f{1e300, -1e300, 1e300, -1e300};
  for (auto* set : {&pts, &base})
    for (auto& [t, v] : *set) f.x0 = std::min(f.x0, v[1]), f.x1 = std::max(f.x1, v[1]), f.y0 = std::min(f.y0, v[0]), f.y1 = std::max(f.y1, v[0]);
  if (pts.empty() && base.empty()) f = Frame{0, 1, 0, 1};
  // A margin so points at the extremes do not sit on the frame.
  double mx = (f.x1 - f.x0) * 0.05, my = (f.y1 - f.y0) * 0.05;
  f.x0 -= mx, f.x1 += mx, f.y0 -= my, f.y1 += my;
  f.axes(s, label_of(two[1]), label_of(two[0]));
  for (auto& [t, v] : base) s << "<circle cx='" << f.X(v[1]) << "' cy='" << f.Y(v[0]) << "' r='3' fill='#bbb'/>\n";
  std::vector<Vec> mins;
  for (auto& [t, v] : pts) mins.push_back(to_minimization(v, directions(two)));
  auto front = pareto_front(mins);
  std::set<int> on(front.begin(), front.end());
  for (size_t i = 0; i < pts.size(); ++i)
    if (!on.count(int(i))) s << "<circle cx='" << f.X(pts[i].second[1]) << "' cy='" << f.Y(pts[i].second[0]) << "' r='3' fill='#6a8fc8'/>\n";
  std::sort(front.begin(), front.end(), [&](int a, int b) { return pts[size_t(a)].second[1] < pts[size_t(b)].second[1]; });
  if (!front.empty()) {
    s << "<polyline fill='none' stroke='#c0392b' stroke-width='1.5' points='";
    for (int i : front) s << f.X(pts[size_t(i)].second[1]) << "," << f.Y(pts[size_t(i)].second[0]) << " ";
    s << "'/>\n";
  }
  for (int i : front)
    s << "<circle cx='" << f.X(pts[size_t(i)].second[1]) << "' cy='" << f.Y(pts[size_t(i)].second[0]) << "' r='4.5' fill='#c0392b'><title>trial "
      << pts[size_t(i)].first->number << "</title></circle>\n";
  s << "<text x='" << f.left + f.w - 4 << "' y='" << f.top + 14 << "' text-anchor='end'>red: Pareto front (" << front.size() << " of "
    << pts.size() << " feasible trials)" << (base.empty() ? "" : "; grey: baseline") << "</text>\n</svg>\n";
  return s.str();
}

std::string hypervolume_svg(const std::string& title, const std::vector<HypervolumeSeries>& series) {
  std::ostringstream s;
  s << header(title);
  Frame f{1, 1, 0, 0};
  for (auto& se : series) {
    f.x1 = std::max(f.x1, double(se.values.size()));
    for (double v : se.values) f.y1 = std::max(f.y1, v);
  }
  if (f.y1 <= 0) f.y1 = 1;
  f.axes(s, "trials", "hypervolume");
  const char* colours[] = {"#c0392b", "#888888", "#2e86c1", "#27ae60", "#8e44ad"};
  for (size_t k = 0; k < series.size(); ++k) {
    s << "<polyline fill='none' stroke='" << colours[k % 5] << "' stroke-width='1.5' points='";
    for (size_t i = 0; i < series[k].values.size(); ++i) s << f.X(double(i + 1)) << "," << f.Y(series[k].values[i]) << " ";
    s << "'/>\n<text x='" << f.left + 8 << "' y='" << f.top + 16 + 14 * double(k) << "' fill='" << colours[k % 5] << "'>" << series[k].label
      << (series[k].values.empty() ? "" : ": " + num(series[k].values.back())) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string trials_csv(const std::vector<store::TrialRecord>& trials) {
  std::set<std::string> names;
  for (auto& t : trials)
    for (auto& [k, v] : t.metrics) names.insert(k);
  std::ostringstream s;
  s << "number,status,point,seed";
  for (auto& n : names) s << "," << n;
  s << ",seconds,error\n";
  for (auto& t : trials) {
    s << t.number << "," << store::to_string(t.status) << ",\"" << t.point << "\"," << t.seed;
    for (auto& n : names) {
      s << ",";
      if (auto it = t.metrics.find(n); it != t.metrics.end()) s << it->second;
    }
    std::string err = t.error;
    std::replace(err.begin(), err.end(), '"', '\'');
    std::replace(err.begin(), err.end(), '\n', ' ');
    s << "," << (t.finished > 0 && t.started > 0 ? t.finished - t.started : 0) << ",\"" << err << "\"\n";
  }
  return s.str();
}

}  // namespace search
