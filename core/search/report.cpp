#include "report.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <random>
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

// Text for XML and HTML: metric names, choice labels and error messages are the user's.
std::string escape(const std::string& t) {
  std::string o;
  for (char c : t) {
    if (c == '<') o += "&lt;";
    else if (c == '>') o += "&gt;";
    else if (c == '&') o += "&amp;";
    else if (c == '\'') o += "&#39;";
    else if (c == '"') o += "&quot;";
    else o += c;
  }
  return o;
}

std::string header(const std::string& title, double width = 640, double height = 440) {
  std::ostringstream s;
  s << "<?xml version='1.0' encoding='UTF-8'?>\n<svg xmlns='http://www.w3.org/2000/svg' width='" << width << "' height='" << height
    << "' font-family='DejaVu Sans, sans-serif' font-size='11'>\n<rect width='" << width << "' height='" << height << "' fill='white'/>\n"
    << "<text x='70' y='24' font-size='14' font-weight='bold'>" << escape(title) << "</text>\n";
  return s.str();
}

// Every finished trial with all objectives, ranked: 0 is the Pareto front of the feasible trials,
// then the next fronts; infeasible trials rank after every feasible one (constrained domination).
struct Ranked {
  const store::TrialRecord* trial;
  Vec values;  // metric units, objective order
  int rank;
  bool feasible;
};

std::vector<Ranked> ranked(const std::vector<store::TrialRecord>& trials, const std::vector<Objective>& objectives,
                           const std::vector<Constraint>& constraints) {
  std::vector<Ranked> out;
  std::vector<Vec> mins;
  std::vector<double> violation;
  const std::vector<Direction> dirs = directions(objectives);
  for (auto& t : trials) {
    if (t.status != store::TrialStatus::finished) continue;
    Vec v;
    for (auto& o : objectives)
      if (auto it = t.metrics.find(o.metric); it != t.metrics.end() && std::isfinite(it->second)) v.push_back(it->second);
    if (v.size() != objectives.size()) continue;
    double viol = 0;
    for (auto& c : constraints)
      if (auto it = t.metrics.find(c.metric); it != t.metrics.end()) viol += c.violation(it->second);
    out.push_back({&t, v, 0, viol == 0});
    mins.push_back(to_minimization(v, dirs));
    violation.push_back(viol);
  }
  auto fronts = constrained_fronts(mins, violation);
  for (size_t r = 0; r < fronts.size(); ++r)
    for (int i : fronts[r]) out[size_t(i)].rank = int(r);
  return out;
}

// Red for the front, then blue fading to grey with rank; infeasible trials light grey.
std::string rank_colour(const Ranked& r, int worst) {
  if (!r.feasible) return "#c8c8c8";
  if (r.rank == 0) return "#c0392b";
  double t = worst > 1 ? double(r.rank - 1) / double(worst - 1) : 0;
  char b[16];
  std::snprintf(b, sizeof b, "#%02x%02x%02x", int(0x2e + t * (0xa0 - 0x2e)), int(0x6f + t * (0xa8 - 0x6f)), int(0xc0 + t * (0xb4 - 0xc0)));
  return b;
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
                                     const std::vector<Constraint>& constraints, const Vec& reference, const std::string& label,
                                     HypervolumeMethod method, size_t samples) {
  HypervolumeSeries s{label, {}, 0};
  auto dirs = directions(objectives);
  const Vec ref = to_minimization(reference, dirs);
  const size_t d = objectives.size();
  std::vector<const store::TrialRecord*> order;
  for (auto& t : trials)
    if (t.status == store::TrialStatus::finished || t.status == store::TrialStatus::failed) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](auto* a, auto* b) { return a->seq < b->seq; });
  auto pts = points_of(trials, objectives, constraints);
  std::map<const store::TrialRecord*, Vec> by;
  for (auto& [t, v] : pts) by[t] = to_minimization(v, dirs);
  // Exact sweeps are fast to three objectives; beyond, their cost grows steeply with the front.
  const size_t exact_limit = d <= 3 ? SIZE_MAX : d == 4 ? 400 : d == 5 ? 120 : 60;
  const bool estimate = method == HypervolumeMethod::estimate || (method == HypervolumeMethod::automatic && by.size() > exact_limit);
  std::vector<Vec> box_samples;
  std::vector<char> covered;
  size_t covered_count = 0;
  double box_volume = 0;
  if (estimate && !by.empty()) {
    Vec lo = ref;
    for (auto& [t, v] : by)
      for (size_t m = 0; m < d; ++m) lo[m] = std::min(lo[m], v[m]);
    box_volume = 1;
    for (size_t m = 0; m < d; ++m) box_volume *= std::max(0.0, ref[m] - lo[m]);
    std::mt19937_64 rng(0x5eed);  // fixed: the same study always gives the same curve
    std::uniform_real_distribution<double> u(0, 1);
    box_samples.assign(samples, Vec(d));
    for (auto& x : box_samples)
      for (size_t m = 0; m < d; ++m) x[m] = lo[m] + u(rng) * (ref[m] - lo[m]);
    covered.assign(samples, 0);
    s.samples = samples;
  }
  std::vector<Vec> front;  // the running front; a trial it dominates adds no volume
  double value = 0;
  for (auto* t : order) {
    auto it = by.find(t);
    const bool grows = it != by.end() && std::none_of(front.begin(), front.end(), [&](const Vec& f) { return f == it->second || dominates(f, it->second); });
    if (grows) {
      const Vec& p = it->second;
      std::erase_if(front, [&](const Vec& f) { return dominates(p, f); });
      front.push_back(p);
      if (estimate) {
        for (size_t k = 0; k < box_samples.size(); ++k) {
          if (covered[k]) continue;
          bool in = true;
          for (size_t m = 0; m < d && in; ++m) in = p[m] <= box_samples[k][m];
          if (in) covered[k] = 1, ++covered_count;
        }
        value = box_volume * double(covered_count) / double(std::max<size_t>(1, box_samples.size()));
      } else {
        value = hypervolume(front, ref);
      }
    }
    s.values.push_back(value);
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

std::string hypervolume_svg(const std::string& title, const std::vector<HypervolumeSeries>& series, const std::vector<SeedBand>& bands) {
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
  // Seed bands under the lines: a strategy of two studies or more, lowest to highest.
  for (size_t k = 0; k < bands.size(); ++k) {
    const SeedBand& b = bands[k];
    if (b.studies < 2 || b.hi.empty()) continue;
    s << "<polygon class='band' fill='" << colours[(k + 2) % 5] << "' fill-opacity='0.18' stroke='none' points='";
    for (size_t i = 0; i < b.hi.size(); ++i) s << f.X(double(i + 1)) << "," << f.Y(b.hi[i]) << " ";
    for (size_t i = b.lo.size(); i-- > 0;) s << f.X(double(i + 1)) << "," << f.Y(b.lo[i]) << " ";
    s << "'><title>" << b.strategy << ": lowest to highest of " << b.studies << " studies</title></polygon>\n<text x='" << f.left + f.w - 8
      << "' y='" << f.top + 16 + 14 * double(k) << "' text-anchor='end' fill='" << colours[(k + 2) % 5] << "'>band: " << b.strategy << " over "
      << b.studies << " seeds</text>\n";
  }
  for (size_t k = 0; k < series.size(); ++k) {
    s << "<polyline fill='none' stroke='" << colours[k % 5] << "' stroke-width='1.5' points='";
    for (size_t i = 0; i < series[k].values.size(); ++i) s << f.X(double(i + 1)) << "," << f.Y(series[k].values[i]) << " ";
    s << "'/>\n<text x='" << f.left + 8 << "' y='" << f.top + 16 + 14 * double(k) << "' fill='" << colours[k % 5] << "'>" << series[k].label
      << (series[k].values.empty() ? "" : ": " + num(series[k].values.back())) << "</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string parallel_svg(const std::string& title, const std::vector<store::TrialRecord>& trials, const Space& space) {
  auto rows = ranked(trials, space.objectives, space.constraints);
  size_t n_axes = space.objectives.size() + space.dims.size();
  const double left = 70, gap = 130, top = 60, h = 300;
  double width = left + gap * double(std::max<size_t>(n_axes, 2) - 1) + 90;
  std::ostringstream s;
  s << header(title, width, top + h + 70);
  // Objective axes: better is up (a minimised metric's axis runs downwards).
  struct Axis {
    std::string label;
    double lo, hi;
    bool flip;
    std::vector<std::string> ticks;  // a choice axis: its labels, evenly spaced
  };
  std::vector<Axis> axes;
  for (size_t k = 0; k < space.objectives.size(); ++k) {
    Axis a{label_of(space.objectives[k]), 1e300, -1e300, space.objectives[k].direction == Direction::minimize, {}};
    for (auto& r : rows) a.lo = std::min(a.lo, r.values[k]), a.hi = std::max(a.hi, r.values[k]);
    if (rows.empty()) a.lo = 0, a.hi = 1;
    axes.push_back(a);
  }
  for (auto& d : space.dims) {
    Axis a{d.name, 0, double(std::max(d.size() - 1, 1)), false, {}};
    for (int i = 0; i < d.size(); ++i) a.ticks.push_back(d.label(i));
    axes.push_back(a);
  }
  auto Y = [&](const Axis& a, double v) {
    double t = a.hi > a.lo ? (v - a.lo) / (a.hi - a.lo) : 0.5;
    if (a.flip) t = 1 - t;
    return top + h - t * h;
  };
  auto X = [&](size_t k) { return left + gap * double(k); };
  int worst = 0;
  for (auto& r : rows) worst = std::max(worst, r.feasible ? r.rank : 0);
  // Worst first, so the front is drawn on top.
  std::vector<const Ranked*> order;
  for (auto& r : rows) order.push_back(&r);
  std::stable_sort(order.begin(), order.end(), [](auto* a, auto* b) { return (a->feasible ? -a->rank : -1000000) < (b->feasible ? -b->rank : -1000000); });
  for (const Ranked* r : order) {
    auto p = parse_point(r->trial->point);
    s << "<polyline class='trial' fill='none' stroke='" << rank_colour(*r, worst) << "' stroke-width='" << (r->rank == 0 && r->feasible ? 2 : 1.2)
      << "'" << (r->feasible ? "" : " stroke-dasharray='4 3'") << " points='";
    for (size_t k = 0; k < axes.size(); ++k) {
      double v = k < space.objectives.size() ? r->values[k]
                                             : (p && k - space.objectives.size() < p->choice.size() ? p->choice[k - space.objectives.size()] : 0);
      s << X(k) << "," << Y(axes[k], v) << " ";
    }
    s << "'><title>trial " << r->trial->number << (r->feasible ? ", rank " + std::to_string(r->rank) : ", violates a constraint") << "</title></polyline>\n";
  }
  for (size_t k = 0; k < axes.size(); ++k) {
    const Axis& a = axes[k];
    s << "<line class='axis' x1='" << X(k) << "' y1='" << top << "' x2='" << X(k) << "' y2='" << top + h << "' stroke='#444'/>\n";
    s << "<text x='" << X(k) << "' y='" << top - 10 << "' text-anchor='middle' font-weight='bold'>" << escape(a.label) << "</text>\n";
    if (!a.ticks.empty()) {
      for (size_t i = 0; i < a.ticks.size(); ++i)
        s << "<text x='" << X(k) + 5 << "' y='" << Y(a, double(i)) + 4 << "'>" << escape(a.ticks[i]) << "</text>\n";
    } else {
      for (double v : {a.lo, a.hi}) s << "<text x='" << X(k) + 5 << "' y='" << Y(a, v) + 4 << "'>" << num(v) << "</text>\n";
    }
  }
  size_t front = std::count_if(rows.begin(), rows.end(), [](const Ranked& r) { return r.feasible && r.rank == 0; });
  s << "<text x='" << left << "' y='" << top + h + 40 << "'>" << rows.size() << " finished trials; red: Pareto front (" << front
    << "), then blue to grey by Pareto rank; dashed: violates a constraint. Objective axes: better is up.</text>\n</svg>\n";
  return s.str();
}

std::string scatter_matrix_svg(const std::string& title, const std::vector<store::TrialRecord>& trials, const std::vector<Objective>& objectives,
                               const std::vector<Constraint>& constraints) {
  auto rows = ranked(trials, objectives, constraints);
  size_t k = objectives.size();
  const double left = 70, top = 50, cell = 150, pad = 14;
  double side = double(std::max<size_t>(k, 2) - 1) * (cell + pad);
  std::ostringstream s;
  s << header(title, std::max(560.0, left + side + 40), top + side + 80);
  if (k < 2) return s.str() + "<text x='70' y='80'>the scatter matrix needs two objectives</text>\n</svg>\n";
  std::vector<double> lo(k, 1e300), hi(k, -1e300);
  for (auto& r : rows)
    for (size_t i = 0; i < k; ++i) lo[i] = std::min(lo[i], r.values[i]), hi[i] = std::max(hi[i], r.values[i]);
  auto at = [&](size_t i, double v) { return hi[i] > lo[i] ? (v - lo[i]) / (hi[i] - lo[i]) : 0.5; };
  // Row i (objectives 1..k-1) against column j < i: each pair once, the lower triangle.
  for (size_t i = 1; i < k; ++i)
    for (size_t j = 0; j < i; ++j) {
      double x0 = left + double(j) * (cell + pad), y0 = top + double(i - 1) * (cell + pad);
      s << "<g class='cell'><rect x='" << x0 << "' y='" << y0 << "' width='" << cell << "' height='" << cell << "' fill='none' stroke='#888'/>\n";
      for (int pass = 0; pass < 2; ++pass)  // the front on top
        for (auto& r : rows) {
          bool front = r.feasible && r.rank == 0;
          if (front != (pass == 1)) continue;
          double x = x0 + 4 + at(j, r.values[j]) * (cell - 8), y = y0 + cell - 4 - at(i, r.values[i]) * (cell - 8);
          s << "<circle cx='" << x << "' cy='" << y << "' r='" << (front ? 3.5 : 2.5) << "' fill='"
            << (front ? "#c0392b" : r.feasible ? "#6a8fc8" : "#c8c8c8") << "'><title>trial " << r.trial->number << "</title></circle>\n";
        }
      s << "</g>\n";
      if (i == k - 1) {
        s << "<text x='" << x0 + cell / 2 << "' y='" << y0 + cell + 28 << "' text-anchor='middle'>" << escape(label_of(objectives[j])) << "</text>\n";
        s << "<text x='" << x0 << "' y='" << y0 + cell + 13 << "' font-size='9'>" << num(lo[j]) << "</text><text x='" << x0 + cell << "' y='"
          << y0 + cell + 13 << "' font-size='9' text-anchor='end'>" << num(hi[j]) << "</text>\n";
      }
      if (j == 0) {
        s << "<text transform='translate(" << x0 - 22 << "," << y0 + cell / 2 << ") rotate(-90)' text-anchor='middle'>" << escape(label_of(objectives[i]))
          << "</text>\n";
        s << "<text x='" << x0 - 3 << "' y='" << y0 + cell << "' font-size='9' text-anchor='end'>" << num(lo[i]) << "</text><text x='" << x0 - 3
          << "' y='" << y0 + 9 << "' font-size='9' text-anchor='end'>" << num(hi[i]) << "</text>\n";
      }
    }
  s << "<text x='" << left << "' y='" << top + side + 52 << "'>each pair of objectives once; red: the Pareto front over all " << k
    << " objectives; grey: infeasible</text>\n</svg>\n";
  return s.str();
}

StrategyComparison compare_strategies(const std::vector<StudyResult>& results) {
  StrategyComparison c;
  std::map<std::string, std::vector<double>> by;
  std::vector<std::string> order;
  for (auto& r : results) {
    if (!by.count(r.strategy)) order.push_back(r.strategy);
    by[r.strategy].push_back(r.final_hypervolume());
  }
  for (auto& s : order) {
    const auto& v = by[s];
    StrategyComparison::Row row{s, v.size(), 0, 0};
    for (double x : v) row.mean += x / double(v.size());
    if (v.size() > 1) {
      double ss = 0;
      for (double x : v) ss += (x - row.mean) * (x - row.mean);
      row.std = std::sqrt(ss / double(v.size() - 1));
    }
    c.rows.push_back(row);
  }
  for (size_t i = 0; i < c.rows.size(); ++i)
    for (size_t j = i + 1; j < c.rows.size(); ++j) {
      const auto &a = c.rows[i], &b = c.rows[j];
      StrategyComparison::Pair p{a.strategy, b.strategy, a.mean - b.mean, 0, a.studies > 1 && b.studies > 1, true, ""};
      p.noise = 2 * std::sqrt(a.std * a.std / double(a.studies) + b.std * b.std / double(b.studies));
      p.within_noise = !p.decidable || std::abs(p.difference) <= p.noise;
      char line[256];
      if (!p.decidable)
        std::snprintf(line, sizeof line, "%s vs %s: %+.4g, cannot tell: %s has one study; run more seeds", a.strategy.c_str(), b.strategy.c_str(),
                      p.difference, (a.studies < 2 ? a : b).strategy.c_str());
      else
        std::snprintf(line, sizeof line, "%s vs %s: %+.4g, %s (2 standard errors: %.4g)", a.strategy.c_str(), b.strategy.c_str(), p.difference,
                      p.within_noise ? "within seed noise" : (p.difference > 0 ? (a.strategy + " is better").c_str() : (b.strategy + " is better").c_str()),
                      p.noise);
      p.verdict = line;
      c.pairs.push_back(p);
    }
  return c;
}

base::Result<ComparedStudy> read_comparable(store::Store& db, const std::string& name, const Space& like) {
  auto found = db.find_study(name);
  if (!found) return found.error();
  if (!*found) return base::Error{"no study `" + name + "` in " + db.path()};
  auto space = parse_space((*found)->spec, "study " + name);
  if (!space) return space.error();
  auto names = [](const std::vector<Objective>& v) {
    std::string t;
    for (auto& x : v) t += (t.empty() ? "" : ", ") + x.metric + (x.direction == Direction::maximize ? " (max)" : " (min)");
    return t;
  };
  if (names(space->objectives) != names(like.objectives))
    return base::Error{"study `" + name + "` optimises " + names(space->objectives) + ", not " + names(like.objectives) + ": its hypervolume cannot be compared"};
  auto trials = db.trials((*found)->id);
  if (!trials) return trials.error();
  return ComparedStudy{**found, std::move(*space), std::move(*trials)};
}

std::vector<SeedBand> seed_bands(const std::vector<StudyResult>& results) {
  std::vector<SeedBand> bands;
  for (auto& r : results) {
    auto it = std::find_if(bands.begin(), bands.end(), [&](const SeedBand& b) { return b.strategy == r.strategy; });
    if (it == bands.end()) it = bands.insert(bands.end(), SeedBand{r.strategy, 0, {}, {}, {}});
    SeedBand& b = *it;
    ++b.studies;
    // Running sums in `mean` (divided below by how many studies reached each trial count).
    if (b.mean.size() < r.hypervolume.size()) {
      b.lo.resize(r.hypervolume.size(), INFINITY), b.hi.resize(r.hypervolume.size(), -INFINITY), b.mean.resize(r.hypervolume.size(), 0);
    }
    for (size_t i = 0; i < r.hypervolume.size(); ++i) {
      b.mean[i] += r.hypervolume[i];
      b.lo[i] = std::min(b.lo[i], r.hypervolume[i]), b.hi[i] = std::max(b.hi[i], r.hypervolume[i]);
    }
  }
  for (auto& b : bands)
    for (size_t i = 0; i < b.mean.size(); ++i) {
      size_t reached = 0;
      for (auto& r : results) reached += r.strategy == b.strategy && r.hypervolume.size() > i;
      b.mean[i] /= double(reached);
    }
  return bands;
}

std::string comparison_text(const StrategyComparison& c) {
  std::ostringstream s;
  char line[160];
  std::snprintf(line, sizeof line, "%-16s %8s  %s\n", "strategy", "studies", "final hypervolume (mean ± std)");
  s << line;
  for (auto& r : c.rows) {
    std::snprintf(line, sizeof line, "%-16s %8zu  %.6g ± %.3g\n", r.strategy.c_str(), r.studies, r.mean, r.std);
    s << line;
  }
  for (auto& p : c.pairs) s << p.verdict << "\n";
  return s.str();
}

std::string fronts_svg(const std::string& title, const std::vector<std::pair<std::string, const std::vector<store::TrialRecord>*>>& studies,
                       const std::vector<Objective>& objectives, const std::vector<Constraint>& constraints) {
  std::ostringstream s;
  s << header(title);
  if (objectives.size() < 2) return s.str() + "<text x='70' y='80'>the front plot needs two objectives</text>\n</svg>\n";
  std::vector<Objective> two(objectives.begin(), objectives.begin() + 2);
  Frame f{1e300, -1e300, 1e300, -1e300};
  std::vector<std::vector<std::pair<const store::TrialRecord*, Vec>>> pts;
  for (auto& [label, trials] : studies) {
    pts.push_back(points_of(*trials, two, constraints));
    for (auto& [t, v] : pts.back()) f.x0 = std::min(f.x0, v[1]), f.x1 = std::max(f.x1, v[1]), f.y0 = std::min(f.y0, v[0]), f.y1 = std::max(f.y1, v[0]);
  }
  if (f.x0 > f.x1) f = Frame{0, 1, 0, 1};
  double mx = (f.x1 - f.x0) * 0.05, my = (f.y1 - f.y0) * 0.05;
  f.x0 -= mx, f.x1 += mx, f.y0 -= my, f.y1 += my;
  f.axes(s, label_of(two[1]), label_of(two[0]));
  const char* colours[] = {"#c0392b", "#2e86c1", "#27ae60", "#8e44ad", "#d68910", "#555555"};
  for (size_t k = 0; k < pts.size(); ++k) {
    const char* col = colours[k % 6];
    std::vector<Vec> mins;
    for (auto& [t, v] : pts[k]) mins.push_back(to_minimization(v, directions(two)));
    auto front = pareto_front(mins);
    std::sort(front.begin(), front.end(), [&](int a, int b) { return pts[k][size_t(a)].second[1] < pts[k][size_t(b)].second[1]; });
    s << "<g class='study'>";
    for (auto& [t, v] : pts[k]) s << "<circle cx='" << f.X(v[1]) << "' cy='" << f.Y(v[0]) << "' r='2.5' fill='" << col << "' fill-opacity='0.35'/>";
    s << "<polyline fill='none' stroke='" << col << "' stroke-width='1.8' points='";
    for (int i : front) s << f.X(pts[k][size_t(i)].second[1]) << "," << f.Y(pts[k][size_t(i)].second[0]) << " ";
    s << "'/></g>\n<text x='" << f.left + 8 << "' y='" << f.top + 16 + 14 * double(k) << "' fill='" << col << "'>" << escape(studies[k].first)
      << " (front of " << front.size() << ")</text>\n";
  }
  s << "</svg>\n";
  return s.str();
}

std::string report_html(const std::string& title, const std::vector<std::string>& svgs, const std::vector<store::TrialRecord>& trials,
                        const Space& space, const StrategyComparison* comparison) {
  auto rows = ranked(trials, space.objectives, space.constraints);
  std::map<const store::TrialRecord*, const Ranked*> rank_of;
  for (auto& r : rows) rank_of[r.trial] = &r;
  std::set<std::string> names;
  for (auto& t : trials)
    for (auto& [k, v] : t.metrics) names.insert(k);
  std::ostringstream s;
  s << "<!DOCTYPE html>\n<html><head><meta charset='utf-8'><title>" << escape(title) << "</title>\n"
    << "<style>body{font-family:'DejaVu Sans',sans-serif;margin:24px}table{border-collapse:collapse;font-size:12px}"
       "td,th{border:1px solid #ccc;padding:3px 6px;text-align:right}td.l,th.l{text-align:left}tr.front td{background:#fdecea}"
       "figure{margin:12px 0}</style></head><body>\n<h1>" << escape(title) << "</h1>\n";
  for (auto& svg : svgs) {
    std::string body = svg.substr(std::min(svg.size(), svg.find("<svg")));  // inline: no XML declaration
    s << "<figure>" << body << "</figure>\n";
  }
  if (comparison) {
    s << "<h2>Strategies</h2>\n<table><tr><th class='l'>strategy</th><th>studies</th><th>final hypervolume, mean</th><th>std</th></tr>\n";
    for (auto& r : comparison->rows)
      s << "<tr class='strategy'><td class='l'>" << escape(r.strategy) << "</td><td>" << r.studies << "</td><td>" << num(r.mean) << "</td><td>" << num(r.std)
        << "</td></tr>\n";
    s << "</table>\n<ul>\n";
    for (auto& p : comparison->pairs) s << "<li>" << escape(p.verdict) << "</li>\n";
    s << "</ul>\n";
  }
  s << "<h2>Trials</h2>\n<table><tr><th>trial</th><th class='l'>status</th><th class='l'>point</th><th>Pareto rank</th>";
  for (auto& n : names) s << "<th>" << escape(n) << "</th>";
  s << "<th class='l'>error</th></tr>\n";
  for (auto& t : trials) {
    auto it = rank_of.find(&t);
    bool front = it != rank_of.end() && it->second->feasible && it->second->rank == 0;
    std::string what = t.point;
    if (auto p = parse_point(t.point)) what = describe(space, *p);
    s << "<tr class='trial" << (front ? " front" : "") << "'><td>" << t.number << "</td><td class='l'>" << store::to_string(t.status) << "</td><td class='l'>"
      << escape(what) << "</td><td>"
      << (it == rank_of.end() ? std::string() : it->second->feasible ? std::to_string(it->second->rank) : std::string("infeasible")) << "</td>";
    for (auto& n : names) {
      auto m = t.metrics.find(n);
      s << "<td>" << (m == t.metrics.end() ? std::string() : num(m->second)) << "</td>";
    }
    s << "<td class='l'>" << escape(t.error) << "</td></tr>\n";
  }
  s << "</table>\n</body></html>\n";
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
