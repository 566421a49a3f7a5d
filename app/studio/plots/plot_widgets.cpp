#include "studio/plots/plot_widgets.h"

#include <map>
#include <numeric>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <cmath>
#include <cstdio>
#include <utility>

namespace studio {

namespace {

bool finite(double v) { return std::isfinite(v); }

// The most lines parallel_coordinates draws in a frame (see there).
constexpr size_t kLineBudget = 300;
// Trials past which scatter plots draw a dot per bin of kDotBin pixels (see scatter_matrix).
constexpr size_t kDotBudget = 2000;
constexpr float kDotBin = 3.f;

// One dot per bin of kDotBin pixels and kind: past kDotBudget points what overlapping circles
// would show, for lavapipe's cost of one square (see scatter_matrix).
struct DotBins {
  ImVec2 origin;
  int w = 0, h = 0;
  std::vector<char> seen;
  DotBins(ImVec2 min, ImVec2 max, int kinds) : origin(min), w(int((max.x - min.x) / kDotBin) + 1), h(int((max.y - min.y) / kDotBin) + 1),
                                                seen(size_t(std::max(w, 1)) * size_t(std::max(h, 1)) * size_t(kinds), 0) {}
  /// True the first time a dot of `kind` falls in its bin.
  bool first(ImVec2 s, int kind) {
    const int bx = std::clamp(int((s.x - origin.x) / kDotBin), 0, w - 1), by = std::clamp(int((s.y - origin.y) / kDotBin), 0, h - 1);
    char& done = seen[(size_t(kind) * size_t(h) + size_t(by)) * size_t(w) + size_t(bx)];
    return done ? false : (done = 1, true);
  }
};

ImU32 with_alpha(ImU32 c, int a) {
  return (c & ~IM_COL32_A_MASK) | (ImU32(std::clamp(a, 0, 255)) << IM_COL32_A_SHIFT);
}

std::string fmt_value(double v) {
  char b[48];
  if (std::fabs(v) >= 1e5 && std::fabs(v) < 1e15 && v == std::floor(v))
    std::snprintf(b, sizeof b, "%.0f", v);
  else
    std::snprintf(b, sizeof b, "%.4g", v);
  return b;
}

ImVec2 resolve_size(ImVec2 size) {
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  return {size.x > 0 ? size.x : std::max(avail.x, 60.f), size.y > 0 ? size.y : std::max(avail.y, 60.f)};
}

// Pads a data range so points do not sit on the frame; a degenerate range gets a visible span.
std::pair<double, double> padded(double lo, double hi, bool log, double pad = 0.05) {
  if (!(lo <= hi)) return log ? std::pair{0.1, 10.0} : std::pair{0.0, 1.0};
  if (log) {
    lo = std::log10(lo);
    hi = std::log10(hi);
  }
  if (hi - lo <= 1e-12 * std::max(1.0, std::fabs(lo))) {
    const double d = log ? 0.5 : (std::fabs(lo) > 0 ? std::fabs(lo) * 0.1 : 1.0);
    lo -= d;
    hi += d;
  } else {
    const double p = (hi - lo) * pad;
    lo -= p;
    hi += p;
  }
  if (log) return {std::pow(10.0, lo), std::pow(10.0, hi)};
  return {lo, hi};
}

std::vector<double> log_ticks(double lo, double hi, int target) {
  std::vector<double> t;
  if (!(lo > 0) || !(hi > lo)) return t;
  const int e0 = int(std::floor(std::log10(lo))), e1 = int(std::ceil(std::log10(hi)));
  const int decades = std::max(1, e1 - e0);
  const int every = std::max(1, (decades + target - 1) / std::max(1, target));
  for (int e = e0; e <= e1; ++e) {
    const double base = std::pow(10.0, e);
    if ((e - e0) % every == 0 && base >= lo * (1 - 1e-9) && base <= hi * (1 + 1e-9)) t.push_back(base);
    if (decades <= 2)  // few decades: 2x and 5x ticks too, or the axis would show one label
      for (double m : {2.0, 5.0})
        if (m * base >= lo && m * base <= hi) t.push_back(m * base);
  }
  std::sort(t.begin(), t.end());
  return t;
}

struct Tick {
  double at;
  std::string label;
};

std::vector<Tick> make_ticks(double lo, double hi, bool log, int target) {
  std::vector<Tick> out;
  if (log) {
    for (double v : log_ticks(lo, hi, target)) out.push_back({v, format_tick(v, v)});
  } else {
    const auto t = nice_ticks(lo, hi, target);
    const double step = t.size() >= 2 ? t[1] - t[0] : std::max(std::fabs(hi - lo), 1e-12);
    for (double v : t) out.push_back({v, format_tick(v, step)});
  }
  return out;
}

/// What draw_axes needs besides the ranges.
struct AxesSpec {
  const char* title = nullptr;
  const char* x_label = nullptr;
  float left_margin = 0;
  float right_margin = 14;
  bool x_tick_labels = true;  // false: plots stacked on one x axis label only the bottom one
  bool title_inside = false;  // title in the plot's top-left corner instead of a line above
  std::vector<Tick> x_custom, y_custom;  // categorical axes
};

// Lays out and draws the frame of a plot inside [omin, omax]: title, background, grid, axes and
// tick labels. `f` comes in with ranges and flags and leaves with its screen rectangle.
void draw_axes(ImDrawList* dl, ImVec2 omin, ImVec2 omax, PlotFrame& f, const AxesSpec& spec,
               const Theme& t) {
  const float fh = ImGui::GetFontSize();
  float top = omin.y;
  if (spec.title && !spec.title_inside) {
    dl->AddText(ImVec2(omin.x, top), t.text.packed(), spec.title);
    top += fh + 6;
  } else {
    top += fh * 0.5f;  // room for the top tick label, centred on its tick
  }
  const float bottom = omax.y - (spec.x_tick_labels ? fh + 6 : 4) - (spec.x_label ? fh + 4 : 0);

  std::vector<Tick> yt = spec.y_custom;
  if (yt.empty()) yt = make_ticks(f.y0, f.y1, f.log_y, std::max(2, int((bottom - top) / (fh * 2.6f))));
  float label_w = 0;
  for (const auto& k : yt) label_w = std::max(label_w, ImGui::CalcTextSize(k.label.c_str()).x);
  const float left = spec.left_margin > 0 ? spec.left_margin : label_w + 10;

  f.min = ImVec2(std::floor(omin.x + left), std::floor(top));
  f.max = ImVec2(std::floor(omax.x - spec.right_margin), std::floor(bottom));
  if (!f.valid()) return;
  const float width = f.max.x - f.min.x;

  std::vector<Tick> xt = spec.x_custom;
  if (xt.empty()) {
    // Fewer ticks until the widest label fits its share of the axis with a gap.
    int target = std::max(2, int(width / 90));
    for (int tries = 0; tries < 4; ++tries) {
      xt = make_ticks(f.x0, f.x1, false, target);
      float w = 0;
      for (const auto& k : xt) w = std::max(w, ImGui::CalcTextSize(k.label.c_str()).x);
      if (xt.size() < 2 || (w + 24) * float(xt.size()) <= width || target <= 2) break;
      target = std::max(2, int(width / (w + 24)));
    }
  }

  dl->AddRectFilled(f.min, f.max, t.base.packed());
  float last_label_y = 1e9f;
  for (const auto& k : yt) {
    const float y = f.to_screen(f.x0, k.at).y;
    if (y < f.min.y - 0.5f || y > f.max.y + 0.5f) continue;
    dl->AddLine(ImVec2(f.min.x, y), ImVec2(f.max.x, y), t.grid.packed());
    const ImVec2 ts = ImGui::CalcTextSize(k.label.c_str());
    if (std::fabs(y - last_label_y) < ts.y + 1) continue;  // short axes: skip crowded labels
    dl->AddText(ImVec2(f.min.x - 6 - ts.x, y - ts.y * 0.5f), t.text_dim.packed(), k.label.c_str());
    last_label_y = y;
  }
  float last_right = -1e9f;
  for (const auto& k : xt) {
    const float x = f.to_screen(k.at, f.y0).x;
    if (x < f.min.x - 0.5f || x > f.max.x + 0.5f) continue;
    if (spec.x_custom.empty()) dl->AddLine(ImVec2(x, f.min.y), ImVec2(x, f.max.y), t.grid.packed());
    dl->AddLine(ImVec2(x, f.max.y), ImVec2(x, f.max.y + 4), t.axis.packed());
    if (k.label.empty() || !spec.x_tick_labels) continue;
    const ImVec2 ts = ImGui::CalcTextSize(k.label.c_str());
    const float lx = std::clamp(x - ts.x * 0.5f, omin.x, omax.x - ts.x);
    if (lx < last_right + 6) continue;  // never overlap a neighbour
    dl->AddText(ImVec2(lx, f.max.y + 5), t.text_dim.packed(), k.label.c_str());
    last_right = lx + ts.x;
  }
  dl->AddLine(ImVec2(f.min.x, f.min.y), ImVec2(f.min.x, f.max.y), t.axis.packed());
  dl->AddLine(ImVec2(f.min.x, f.max.y), ImVec2(f.max.x, f.max.y), t.axis.packed());
  if (spec.x_label) {
    const ImVec2 ts = ImGui::CalcTextSize(spec.x_label);
    dl->AddText(ImVec2(f.min.x + (width - ts.x) * 0.5f, f.max.y + (spec.x_tick_labels ? fh + 8 : 4)), t.text_dim.packed(),
                spec.x_label);
  }
}

// A title inside the plot, over a backing so the data under it cannot make it unreadable.
void inner_title(ImDrawList* dl, const PlotFrame& f, const char* title, const Theme& t) {
  const ImVec2 ts = ImGui::CalcTextSize(title);
  const ImVec2 a(f.min.x + 4, f.min.y + 2);
  dl->AddRectFilled(a, ImVec2(a.x + ts.x + 8, a.y + ts.y + 2), with_alpha(t.base.packed(), 200), 2.f);
  dl->AddText(ImVec2(a.x + 4, a.y + 1), t.text_dim.packed(), title);
}

void centred_text(ImDrawList* dl, const PlotFrame& f, ImU32 col, const char* text) {
  const ImVec2 ts = ImGui::CalcTextSize(text);
  dl->AddText(ImVec2((f.min.x + f.max.x - ts.x) * 0.5f, (f.min.y + f.max.y - ts.y) * 0.5f), col, text);
}

// A polyline broken at non-finite points; curves with more points than twice the pixel width
// keep, per pixel column, the first, lowest, highest and last point (the shape survives).
void draw_curve(ImDrawList* dl, const PlotFrame& f, const Curve& c, ImU32 col, bool markers) {
  const size_t n = std::min(c.x.size(), c.y.size());
  const float width = f.max.x - f.min.x;
  const bool decimate = double(n) > 2.0 * width;
  std::vector<ImVec2> pts;
  pts.reserve(decimate ? size_t(width * 4 + 8) : n);
  auto flush = [&] {
    if (pts.size() >= 2)
      dl->AddPolyline(pts.data(), int(pts.size()), col, ImDrawFlags_None, 2.f);
    else if (pts.size() == 1)
      dl->AddCircleFilled(pts[0], 2.f, col);
    pts.clear();
  };
  int column = INT_MIN;
  ImVec2 first, lo, hi, last;
  size_t lo_i = 0, hi_i = 0, count = 0;
  auto emit_bucket = [&] {
    if (count == 0) return;
    pts.push_back(first);
    if (count > 2) {
      if (lo_i <= hi_i) {
        pts.push_back(lo);
        pts.push_back(hi);
      } else {
        pts.push_back(hi);
        pts.push_back(lo);
      }
    }
    if (count > 1) pts.push_back(last);
    count = 0;
  };
  for (size_t i = 0; i < n; ++i) {
    const double x = c.x[i], y = c.y[i];
    if (!finite(x) || !finite(y) || (f.log_y && y <= 0)) {
      emit_bucket();
      flush();
      column = INT_MIN;
      continue;
    }
    const ImVec2 p = f.to_screen(x, y);
    if (markers) dl->AddCircleFilled(p, 3.5f, col);
    if (!decimate) {
      pts.push_back(p);
      continue;
    }
    const int col_i = int(std::floor(p.x));
    if (col_i != column) {
      emit_bucket();
      column = col_i;
      first = lo = hi = last = p;
      lo_i = hi_i = i;
      count = 1;
    } else {
      if (p.y < lo.y) lo = p, lo_i = i;
      if (p.y > hi.y) hi = p, hi_i = i;
      last = p;
      ++count;
    }
  }
  emit_bucket();
  flush();
}

// A curve's band (lo..hi), one trapezoid per step: with vertical sides each is convex.
void draw_band(ImDrawList* dl, const PlotFrame& f, const Curve& c, ImU32 col) {
  const size_t n = std::min(c.x.size(), c.y.size());
  if (c.lo.size() < n || c.hi.size() < n) return;
  auto ok = [&](size_t i) { return finite(c.x[i]) && finite(c.lo[i]) && finite(c.hi[i]) && (!f.log_y || c.lo[i] > 0); };
  for (size_t i = 0; i + 1 < n; ++i)
    if (ok(i) && ok(i + 1))
      dl->AddQuadFilled(f.to_screen(c.x[i], c.hi[i]), f.to_screen(c.x[i + 1], c.hi[i + 1]), f.to_screen(c.x[i + 1], c.lo[i + 1]),
                        f.to_screen(c.x[i], c.lo[i]), col);
}

// The legend goes in the plot corner that hides the fewest of `avoid` (data points on screen).
void draw_legend(ImDrawList* dl, const PlotFrame& f, const std::vector<std::pair<std::string, ImU32>>& items,
                 const Theme& t, const std::vector<ImVec2>& avoid) {
  if (items.empty()) return;
  const float fh = ImGui::GetFontSize();
  float w = 0;
  for (const auto& [name, _] : items) w = std::max(w, ImGui::CalcTextSize(name.c_str()).x);
  const float box_w = w + 34, box_h = float(items.size()) * (fh + 3) + 6;
  const ImVec2 corners[4] = {{f.max.x - box_w - 6, f.min.y + 6}, {f.min.x + 6, f.min.y + 6},
                             {f.max.x - box_w - 6, f.max.y - box_h - 6}, {f.min.x + 6, f.max.y - box_h - 6}};
  ImVec2 a = corners[0];
  size_t best = SIZE_MAX;
  for (const ImVec2& c : corners) {
    size_t hidden = 0;
    for (const ImVec2& p : avoid)
      if (p.x >= c.x - 4 && p.x <= c.x + box_w + 4 && p.y >= c.y - 4 && p.y <= c.y + box_h + 4) ++hidden;
    if (hidden < best) best = hidden, a = c;
  }
  const ImVec2 b(a.x + box_w, a.y + box_h);
  dl->AddRectFilled(a, b, with_alpha(t.base.packed(), 225), 3.f);
  dl->AddRect(a, b, t.grid.packed(), 3.f);
  float y = a.y + 3;
  for (const auto& [name, col] : items) {
    dl->AddLine(ImVec2(a.x + 6, y + fh * 0.5f), ImVec2(a.x + 24, y + fh * 0.5f), col, 3.f);
    dl->AddText(ImVec2(a.x + 28, y), t.text.packed(), name.c_str());
    y += fh + 3;
  }
}

// Screen points along a curve, dense enough that a legend box placed over the line notices it.
void sample_curve(const PlotFrame& f, const Curve& c, std::vector<ImVec2>& out) {
  const size_t n = std::min(c.x.size(), c.y.size());
  const size_t stride = std::max<size_t>(1, n / 1500);
  bool have_prev = false;
  ImVec2 prev;
  for (size_t i = 0; i < n; i += stride) {
    if (!finite(c.x[i]) || !finite(c.y[i]) || (f.log_y && c.y[i] <= 0)) {
      have_prev = false;
      continue;
    }
    const ImVec2 p = f.to_screen(c.x[i], c.y[i]);
    if (have_prev) {
      const int steps = std::min(64, int(std::fabs(p.x - prev.x) + std::fabs(p.y - prev.y)) / 8);
      for (int k = 1; k < steps; ++k) {
        const float u = float(k) / float(steps);
        out.emplace_back(prev.x + (p.x - prev.x) * u, prev.y + (p.y - prev.y) * u);
      }
    }
    out.push_back(p);
    prev = p;
    have_prev = true;
  }
}

size_t nearest_index(const std::vector<double>& xs, double x) {
  const auto it = std::lower_bound(xs.begin(), xs.end(), x);
  if (it == xs.end()) return xs.size() - 1;
  if (it == xs.begin()) return 0;
  const size_t i = size_t(it - xs.begin());
  return (x - xs[i - 1] <= xs[i] - x) ? i - 1 : i;
}

bool value_of(const TrialPoint& p, const std::string& name, double& out) {
  const auto it = p.values.find(name);
  if (it == p.values.end() || !finite(it->second)) return false;
  out = it->second;
  return true;
}

// The front of a projection, as a staircase on screen: what no feasible trial beats on both
// shown objectives. With two objectives it is the study's front; with more, the shown pair's.
std::vector<ImVec2> projection_front(const PlotFrame& f, const std::vector<TrialPoint>& trials, const PlotObjective& ox, const PlotObjective& oy,
                                     const std::vector<double>* xcol = nullptr, const std::vector<double>* ycol = nullptr) {
  const double sx = ox.minimise ? 1 : -1, sy = oy.minimise ? 1 : -1;
  std::vector<std::pair<double, double>> cand;
  for (size_t q = 0; q < trials.size(); ++q) {
    const TrialPoint& p = trials[q];
    double x, y;
    if (xcol && ycol) x = (*xcol)[q], y = (*ycol)[q];
    if (p.feasible && (xcol && ycol ? finite(x) && finite(y) : value_of(p, ox.name, x) && value_of(p, oy.name, y))) cand.emplace_back(sx * x, sy * y);
  }
  std::sort(cand.begin(), cand.end());
  std::vector<std::pair<double, double>> front;
  for (const auto& c : cand)
    if (front.empty() || c.second < front.back().second) front.push_back(c);
  std::vector<ImVec2> line;
  for (size_t i = 0; i < front.size(); ++i) {
    if (i > 0) line.push_back(f.to_screen(sx * front[i].first, sy * front[i - 1].second));
    line.push_back(f.to_screen(sx * front[i].first, sy * front[i].second));
  }
  return line;
}

std::string axis_label(const std::string& name, const PlotObjective* o) {
  return name + (o ? (o->minimise ? "  (min, lower is better)" : "  (max, higher is better)") : "");
}

// The axes of a scatter of two objectives over [xlo, xhi] x [ylo, yhi], padded, drawn.
PlotFrame scatter_frame(ImDrawList* dl, ImVec2 omin, ImVec2 omax, double xlo, double xhi, double ylo, double yhi, const std::string& xname,
                        const PlotObjective* ox, const std::string& yname, const PlotObjective* oy, const Theme& t) {
  PlotFrame f;
  std::tie(f.x0, f.x1) = padded(xlo, xhi, false, 0.06);
  std::tie(f.y0, f.y1) = padded(ylo, yhi, false, 0.08);
  const std::string xl = axis_label(xname, ox), yl = axis_label(yname, oy);
  AxesSpec spec;
  spec.title = yl.c_str();
  spec.x_label = xl.c_str();
  draw_axes(dl, omin, omax, f, spec, t);
  return f;
}

}  // namespace

static constexpr ImGuiWindowFlags kHostFlags = ImGuiWindowFlags_NoDecoration | ImGuiWindowFlags_NoMove |
                                        ImGuiWindowFlags_NoSavedSettings | ImGuiWindowFlags_NoBringToFrontOnFocus;

// The whole Qt window is one ImGui window; the dock around it provides title and frame.
bool begin_full_window(const char* name) {
  const ImGuiIO& io = ImGui::GetIO();
  ImGui::SetNextWindowPos(ImVec2(0, 0));
  ImGui::SetNextWindowSize(io.DisplaySize);
  return ImGui::Begin(name, nullptr, kHostFlags);
}

// A short explanation in the middle of the free space, instead of empty axes.
void empty_state(const char* headline, const char* detail, const Theme& t) {
  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const ImVec2 start = ImGui::GetCursorPos();
  const float wrap = std::min(avail.x - 20, 460.f);
  const ImVec2 hs = ImGui::CalcTextSize(headline);
  const ImVec2 ds = ImGui::CalcTextSize(detail, nullptr, false, wrap);
  const float y = start.y + std::max(0.f, (avail.y - hs.y - ds.y - 8) * 0.45f);
  ImGui::SetCursorPos(ImVec2(start.x + std::max(0.f, (avail.x - hs.x) * 0.5f), y));
  ImGui::PushStyleColor(ImGuiCol_Text, t.text.packed());
  ImGui::TextUnformatted(headline);
  ImGui::PopStyleColor();
  ImGui::SetCursorPos(ImVec2(start.x + std::max(0.f, (avail.x - ds.x) * 0.5f), y + hs.y + 8));
  ImGui::PushStyleColor(ImGuiCol_Text, t.text_dim.packed());
  ImGui::PushTextWrapPos(ImGui::GetCursorPosX() + wrap);
  ImGui::TextUnformatted(detail);
  ImGui::PopTextWrapPos();
  ImGui::PopStyleColor();
}

ImVec2 PlotFrame::to_screen(double x, double y) const {
  const double tx = (x - x0) / (x1 - x0);
  double ty;
  if (log_y)
    ty = (std::log10(y) - std::log10(y0)) / (std::log10(y1) - std::log10(y0));
  else
    ty = (y - y0) / (y1 - y0);
  const float w = max.x - min.x, h = max.y - min.y;
  const float sx = min.x + float(tx) * w;
  const float sy = flip_y ? min.y + float(ty) * h : max.y - float(ty) * h;
  return {sx, sy};
}

double PlotFrame::x_at(float sx) const { return x0 + double(sx - min.x) / double(max.x - min.x) * (x1 - x0); }

std::vector<double> nice_ticks(double lo, double hi, int target) {
  std::vector<double> t;
  if (!finite(lo) || !finite(hi) || !(hi > lo)) return t;
  const double raw = (hi - lo) / std::max(1, target);
  const double mag = std::pow(10.0, std::floor(std::log10(raw)));
  const double r = raw / mag;
  const double step = (r < 1.5 ? 1 : r < 3 ? 2 : r < 7 ? 5 : 10) * mag;
  // Multiples of the step, not a running sum, so rounding does not creep along the axis.
  for (double k = std::ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k += 1)
    t.push_back(k == 0 ? 0.0 : k * step);
  return t;
}

std::string format_tick(double v, double step) {
  if (v == 0 || std::fabs(v) < std::fabs(step) * 1e-9) return "0";
  step = std::fabs(step);
  double scale = 1;
  const char* suffix = "";
  // Chosen from the step, so one axis uses one unit ("0.5M, 1M, 1.5M", not "500k, 1M").
  if (step >= 1e8) scale = 1e9, suffix = "G";
  else if (step >= 1e5) scale = 1e6, suffix = "M";
  else if (step >= 1e3) scale = 1e3, suffix = "k";
  const double ss = step / scale;
  char b[48];
  if (ss < 1e-4) {
    std::snprintf(b, sizeof b, "%.3g", v);
    return b;
  }
  const int dec = std::clamp(int(std::ceil(-std::log10(ss) - 1e-9)), 0, 6);
  std::snprintf(b, sizeof b, "%.*f%s", dec, v / scale, suffix);
  return b;
}

PlotFrame line_plot(const char* id, const std::vector<const Curve*>& curves, const Theme& t,
                    const LinePlotOptions& o) {
  const ImVec2 size = resolve_size(o.size);
  const ImVec2 omin = ImGui::GetCursorScreenPos();
  const ImVec2 omax(omin.x + size.x, omin.y + size.y);
  ImGui::InvisibleButton(id, size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();

  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const Curve* c : curves) {
    if (!c) continue;
    const size_t n = std::min(c->x.size(), c->y.size());
    const bool band = c->lo.size() >= n && c->hi.size() >= n;
    for (size_t i = 0; i < n; ++i) {
      if (!finite(c->x[i]) || !finite(c->y[i]) || (o.log_y && c->y[i] <= 0)) continue;
      xlo = std::min(xlo, c->x[i]);
      xhi = std::max(xhi, c->x[i]);
      ylo = std::min(ylo, band && finite(c->lo[i]) && (!o.log_y || c->lo[i] > 0) ? std::min(c->y[i], c->lo[i]) : c->y[i]);
      yhi = std::max(yhi, band && finite(c->hi[i]) ? std::max(c->y[i], c->hi[i]) : c->y[i]);
    }
  }
  const bool has_data = xlo <= xhi;
  PlotFrame f;
  f.log_y = o.log_y;
  std::tie(f.x0, f.x1) = padded(xlo, xhi, false, 0.0);
  std::tie(f.y0, f.y1) = padded(ylo, yhi, o.log_y);
  if (finite(o.x_min)) f.x0 = o.x_min;
  if (finite(o.x_max)) f.x1 = o.x_max;
  if (finite(o.y_min)) f.y0 = o.y_min;
  if (finite(o.y_max)) f.y1 = o.y_max;
  if (!(f.x1 > f.x0)) f.x1 = f.x0 + 1;
  if (!(f.y1 > f.y0)) f.y1 = f.y0 + 1;

  AxesSpec spec;
  spec.title = o.title;
  spec.x_label = o.x_label;
  spec.left_margin = o.left_margin;
  spec.x_tick_labels = o.x_tick_labels;
  spec.title_inside = o.title_inside;
  draw_axes(dl, omin, omax, f, spec, t);
  if (!f.valid()) return f;
  if (!has_data) {
    centred_text(dl, f, t.text_dim.packed(), "no data yet");
    return f;
  }

  // A little beyond the frame so markers on the first and last x are whole.
  dl->PushClipRect(ImVec2(f.min.x - 4, f.min.y - 4), ImVec2(f.max.x + 5, f.max.y + 1), true);
  std::vector<std::pair<std::string, ImU32>> legend;
  std::vector<ImVec2> avoid;
  const float width = f.max.x - f.min.x;
  for (size_t k = 0; k < curves.size(); ++k) {
    if (!curves[k]) continue;
    const ImU32 col = t.series[k % t.series.size()].packed();
    const bool markers = double(curves[k]->x.size()) <= width / 12.0;
    draw_band(dl, f, *curves[k], with_alpha(col, 48));
    draw_curve(dl, f, *curves[k], col, markers);
    legend.emplace_back(curves[k]->name, col);
    if (o.legend) sample_curve(f, *curves[k], avoid);
  }
  dl->PopClipRect();
  if (o.legend) draw_legend(dl, f, legend, t, avoid);
  if (o.title && o.title_inside) inner_title(dl, f, o.title, t);

  const ImVec2 m = ImGui::GetIO().MousePos;
  if (hovered && m.x >= f.min.x && m.x <= f.max.x && m.y >= f.min.y && m.y <= f.max.y) {
    const double x = f.x_at(m.x);
    dl->AddLine(ImVec2(m.x, f.min.y), ImVec2(m.x, f.max.y), with_alpha(t.axis.packed(), 140));
    ImGui::BeginTooltip();
    ImGui::Text("x = %s", fmt_value(x).c_str());
    for (size_t k = 0; k < curves.size(); ++k) {
      const Curve* c = curves[k];
      if (!c || c->x.empty() || c->y.size() < c->x.size()) continue;
      const size_t i = nearest_index(c->x, x);
      if (!finite(c->y[i])) continue;
      const ImU32 col = t.series[k % t.series.size()].packed();
      if (!f.log_y || c->y[i] > 0) dl->AddCircle(f.to_screen(c->x[i], c->y[i]), 5.f, col, 0, 2.f);
      ImGui::TextColored(ImGui::ColorConvertU32ToFloat4(col), "%s", c->name.c_str());
      ImGui::SameLine();
      ImGui::Text("%s  (at %s)", fmt_value(c->y[i]).c_str(), fmt_value(c->x[i]).c_str());
    }
    ImGui::EndTooltip();
  }
  return f;
}

PlotFrame heatmap(const char* id, const ExpertLoadHistory& h, const Theme& t, float height) {
  ImGui::PushID(id);
  const float fh = ImGui::GetFontSize();
  const size_t n = h.size();
  const int experts = std::max(1, h.experts);

  ImGui::PushStyleColor(ImGuiCol_Text, t.text.packed());
  ImGui::TextUnformatted(h.layer.empty() ? "(unnamed layer)" : h.layer.c_str());
  ImGui::PopStyleColor();
  {
    char stats[256];
    if (n == 0) {
      std::snprintf(stats, sizeof stats, "%d experts, no steps recorded", h.experts);
    } else {
      const size_t r = n - 1;
      std::snprintf(stats, sizeof stats, "%d experts   step %lld: dropped %lld (%.1f%%)   MaxVio %.2f   entropy %.2f nats",
                    h.experts, (long long)h.steps[r], (long long)h.dropped[r], 100.0 * h.dropped_share(r),
                    h.max_vio[r], h.entropy[r]);
    }
    ImGui::PushStyleColor(ImGuiCol_Text, t.text_dim.packed());
    ImGui::TextUnformatted(stats);
    ImGui::PopStyleColor();
  }

  const ImVec2 avail = ImGui::GetContentRegionAvail();
  const float total_h = height > 0 ? height : std::max(avail.y, 220.f);
  const float strip_h = std::max(2 * 56.f + 2 * fh + 12, total_h * 0.36f);  // two strips and the step labels
  const float heat_h = std::max(80.f, total_h - strip_h - 4);
  const float bar_w = 70;  // colour bar and its labels
  const float w = std::max(120.f, avail.x - bar_w);

  const ImVec2 omin = ImGui::GetCursorScreenPos();
  const ImVec2 omax(omin.x + w, omin.y + heat_h);
  ImGui::InvisibleButton("heat", ImVec2(avail.x, heat_h));
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();

  auto step_end = [&](size_t i) -> double {
    if (i + 1 < n) return double(h.steps[i + 1]);
    const double spacing = n > 1 ? double(h.steps[n - 1] - h.steps[0]) / double(n - 1) : 1.0;
    return double(h.steps[i]) + std::max(1.0, spacing);
  };

  PlotFrame f;
  f.flip_y = true;
  f.y0 = 0;
  f.y1 = experts;
  f.x0 = n ? double(h.steps[0]) : 0;
  f.x1 = n ? step_end(n - 1) : 1;
  AxesSpec spec;
  // Label every k-th expert so labels never collide.
  const int every = std::max(1, int(std::ceil(double(experts) * (fh + 2) / std::max(1.f, heat_h - fh))));
  for (int e = 0; e < experts; e += every) spec.y_custom.push_back({e + 0.5, std::to_string(e)});
  spec.left_margin = ImGui::CalcTextSize("expert 00").x + 6;
  spec.x_tick_labels = false;  // the strips under the heatmap share its step axis and label it
  draw_axes(dl, omin, omax, f, spec, t);
  dl->AddText(ImVec2(omin.x, omin.y - 2), t.text_dim.packed(), "expert");
  if (!f.valid()) {
    ImGui::PopID();
    return f;
  }
  if (n == 0) {
    centred_text(dl, f, t.text_dim.packed(), "no expert load recorded yet");
    ImGui::PopID();
    return f;
  }

  // Colour scale: 0 to the largest share seen, but at least twice the balanced share, so a
  // balanced layer sits mid-scale instead of saturating.
  // Row sums once per frame: share() would re-add a row for every expert.
  std::vector<double> kept(n, 0.0);
  for (size_t r = 0; r < n; ++r)
    for (int64_t v : h.tokens_after[r]) kept[r] += double(v);
  auto share = [&](size_t r, int e) {
    return kept[r] > 0 && e < int(h.tokens_after[r].size()) ? double(h.tokens_after[r][size_t(e)]) / kept[r] : 0.0;
  };
  double scale_max = 2.0 / experts;
  for (size_t r = 0; r < n; ++r)
    for (int e = 0; e < h.experts; ++e) scale_max = std::max(scale_max, share(r, e));
  scale_max = std::min(1.0, scale_max);

  // At most one column per pixel and a bounded number of cells, averaging rows that share one.
  const float pw = f.max.x - f.min.x;
  size_t columns = std::min(n, size_t(std::max(1.f, pw)));
  columns = std::max<size_t>(1, std::min(columns, size_t(60000 / experts)));
  const float row_h = (f.max.y - f.min.y) / float(experts);
  std::vector<double> avg(static_cast<size_t>(experts), 0.0);
  for (size_t c = 0; c < columns; ++c) {
    const size_t r0 = c * n / columns, r1 = std::max(r0 + 1, (c + 1) * n / columns);
    std::fill(avg.begin(), avg.end(), 0.0);
    for (size_t r = r0; r < r1; ++r)
      for (int e = 0; e < h.experts; ++e) avg[size_t(e)] += share(r, e);
    const float xs0 = f.to_screen(double(h.steps[r0]), 0).x;
    const float xs1 = std::max(xs0 + 1.f, f.to_screen(step_end(r1 - 1), 0).x);
    for (int e = 0; e < experts; ++e) {
      const double s = avg[size_t(e)] / double(r1 - r0);
      const float y0 = f.min.y + row_h * float(e);
      dl->AddRectFilled(ImVec2(xs0, y0), ImVec2(xs1, y0 + row_h), Theme::heat(s / scale_max).packed());
    }
  }
  if (experts <= 32 && row_h >= 6)  // thin separators make rows countable
    for (int e = 1; e < experts; ++e) {
      const float y = f.min.y + row_h * float(e);
      dl->AddLine(ImVec2(f.min.x, y), ImVec2(f.max.x, y), with_alpha(t.base.packed(), 120));
    }

  // Colour bar.
  const float bx = f.max.x + 18, bw = 12;
  const int segs = 32;
  for (int i = 0; i < segs; ++i) {
    const float y0 = f.max.y - (f.max.y - f.min.y) * float(i + 1) / segs;
    const float y1 = f.max.y - (f.max.y - f.min.y) * float(i) / segs;
    dl->AddRectFilled(ImVec2(bx, y0), ImVec2(bx + bw, y1 + 0.5f), Theme::heat((i + 0.5) / segs).packed());
  }
  dl->AddRect(ImVec2(bx, f.min.y), ImVec2(bx + bw, f.max.y), t.axis.packed());
  char lab[32];
  std::snprintf(lab, sizeof lab, "%.0f%%", 100 * scale_max);
  dl->AddText(ImVec2(bx + bw + 4, f.min.y - fh * 0.5f), t.text_dim.packed(), lab);
  dl->AddText(ImVec2(bx + bw + 4, f.max.y - fh * 0.5f), t.text_dim.packed(), "0%");
  std::snprintf(lab, sizeof lab, "%.0f%%", 50 * scale_max);
  dl->AddText(ImVec2(bx + bw + 4, (f.min.y + f.max.y - fh) * 0.5f), t.text_dim.packed(), lab);

  const ImVec2 m = ImGui::GetIO().MousePos;
  if (hovered && m.x >= f.min.x && m.x < f.max.x && m.y >= f.min.y && m.y < f.max.y) {
    const double x = f.x_at(m.x);
    size_t r = size_t(std::upper_bound(h.steps.begin(), h.steps.end(), int64_t(std::floor(x))) - h.steps.begin());
    r = r > 0 ? r - 1 : 0;
    const int e = std::clamp(int((m.y - f.min.y) / row_h), 0, experts - 1);
    const float y0 = f.min.y + row_h * float(e);
    dl->AddRect(ImVec2(f.min.x, y0), ImVec2(f.max.x, y0 + row_h), t.text.packed(), 0, 0, 1.5f);
    ImGui::BeginTooltip();
    ImGui::Text("step %lld, expert %d", (long long)h.steps[r], e);
    const int64_t kept = e < h.experts ? h.tokens_after[r][size_t(e)] : 0;
    ImGui::Text("%lld assignments kept (%.1f%% of the step)", (long long)kept, 100 * h.share(r, e));
    ImGui::Text("step: %lld tokens, dropped %lld (%.1f%%), MaxVio %.2f", (long long)h.tokens[r],
                (long long)h.dropped[r], 100 * h.dropped_share(r), h.max_vio[r]);
    ImGui::EndTooltip();
  }

  // MaxVio and the dropped share on the heatmap's step axis, aligned under it. Separate strips:
  // they have different units, and on one axis the small dropped share would hug zero.
  Curve vio{"MaxVio"}, drop{"dropped %"};
  vio.x.reserve(n);
  vio.y.reserve(n);
  for (size_t r = 0; r < n; ++r) {
    const double x = 0.5 * (double(h.steps[r]) + step_end(r));
    vio.push(x, h.max_vio[r]);
    drop.push(x, 100.0 * h.dropped_share(r));
  }
  auto strip = [&](const char* sid, const Curve& c, size_t colour_index, const char* x_label, float sh) {
    LinePlotOptions lo;
    lo.title = c.name.c_str();
    lo.title_inside = true;
    lo.x_tick_labels = x_label != nullptr;
    lo.legend = false;
    lo.size = ImVec2(w, sh);
    lo.x_min = f.x0;
    lo.x_max = f.x1;
    lo.y_min = 0;
    double ymax = 0;
    for (double v : c.y) ymax = std::max(ymax, v);
    lo.y_max = ymax > 0 ? ymax * 1.15 : 1.0;
    lo.left_margin = f.min.x - omin.x;
    lo.x_label = x_label;
    // line_plot colours curves by position; a one-curve list with a leading gap picks the colour.
    // Sized once: a push_back after the gap made GCC 14 see a write past a 3-pointer buffer
    // (-Warray-bounds, a false positive of its inlined reallocation).
    std::vector<const Curve*> list(colour_index + 1, nullptr);
    list.back() = &c;
    line_plot(sid, list, t, lo);
  };
  ImGui::Dummy(ImVec2(1, 2));
  const float label_h = 2 * fh + 12;
  const float each = (strip_h - label_h) * 0.5f;
  strip("maxvio", vio, 0, nullptr, each);
  strip("dropped", drop, 3, "step", each + label_h);
  ImGui::PopID();
  return f;
}

PlotFrame histogram(const char* id, const std::vector<std::string>& labels, const std::vector<double>& values,
                    const Theme& t, const char* title, ImVec2 size_in) {
  const ImVec2 size = resolve_size(size_in);
  const ImVec2 omin = ImGui::GetCursorScreenPos();
  const ImVec2 omax(omin.x + size.x, omin.y + size.y);
  ImGui::InvisibleButton(id, size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const size_t n = values.size();

  double vmax = 0, total = 0;
  for (double v : values)
    if (finite(v)) vmax = std::max(vmax, v), total += std::max(0.0, v);
  PlotFrame f;
  f.x0 = -0.5;
  f.x1 = double(std::max<size_t>(n, 1)) - 0.5;
  f.y0 = 0;
  f.y1 = vmax > 0 ? vmax * 1.12 : 1;
  AxesSpec spec;
  spec.title = title;
  float label_w = 0;
  for (size_t i = 0; i < n; ++i) {
    const std::string l = i < labels.size() ? labels[i] : std::to_string(i);
    label_w = std::max(label_w, ImGui::CalcTextSize(l.c_str()).x);
  }
  const float approx_w = size.x - 60;
  const size_t every = std::max<size_t>(1, size_t(std::ceil((label_w + 10) * double(n) / std::max(1.f, approx_w))));
  for (size_t i = 0; i < n; ++i)
    spec.x_custom.push_back({double(i), i % every == 0 ? (i < labels.size() ? labels[i] : std::to_string(i)) : ""});
  draw_axes(dl, omin, omax, f, spec, t);
  if (!f.valid()) return f;
  if (n == 0 || total <= 0) {
    centred_text(dl, f, t.text_dim.packed(), "no data yet");
    return f;
  }
  const float fh = ImGui::GetFontSize();
  const float cell = (f.max.x - f.min.x) / float(n);
  int hover_i = -1;
  const ImVec2 m = ImGui::GetIO().MousePos;
  if (hovered && m.x >= f.min.x && m.x < f.max.x && m.y >= f.min.y && m.y <= f.max.y)
    hover_i = std::clamp(int((m.x - f.min.x) / cell), 0, int(n) - 1);
  for (size_t i = 0; i < n; ++i) {
    if (!finite(values[i]) || values[i] <= 0) continue;
    const ImVec2 top = f.to_screen(double(i), values[i]);
    const float half = std::max(1.f, cell * 0.35f);
    ImU32 col = t.series[0].packed();
    if (int(i) == hover_i) col = t.series[1].packed();
    dl->AddRectFilled(ImVec2(top.x - half, top.y), ImVec2(top.x + half, f.max.y), col, 2.f, ImDrawFlags_RoundCornersTop);
    char share[32];
    std::snprintf(share, sizeof share, "  (%.0f%%)", 100.0 * values[i] / total);
    std::string v = fmt_value(values[i]) + share;
    if (ImGui::CalcTextSize(v.c_str()).x >= cell - 4) v = fmt_value(values[i]);
    const ImVec2 ts = ImGui::CalcTextSize(v.c_str());
    if (ts.x < cell - 4 && top.y - fh - 2 >= f.min.y)
      dl->AddText(ImVec2(top.x - ts.x * 0.5f, top.y - fh - 2), t.text_dim.packed(), v.c_str());
  }
  if (hover_i >= 0) {
    ImGui::BeginTooltip();
    const std::string l = size_t(hover_i) < labels.size() ? labels[size_t(hover_i)] : std::to_string(hover_i);
    ImGui::Text("%s: %s (%.1f%%)", l.c_str(), fmt_value(values[size_t(hover_i)]).c_str(),
                100.0 * std::max(0.0, values[size_t(hover_i)]) / total);
    ImGui::EndTooltip();
  }
  return f;
}

int64_t pareto_scatter(const char* id, const ParetoPoints& pts, const std::string& xname, const std::string& yname,
                       const Theme& t, ImVec2 size_in, PlotFrame* frame_out) {
  const ImVec2 size = resolve_size(size_in);
  const ImVec2 omin = ImGui::GetCursorScreenPos();
  const ImVec2 omax(omin.x + size.x, omin.y + size.y);
  const bool clicked = ImGui::InvisibleButton(id, size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();

  const PlotObjective* ox = pts.objective(xname);
  const PlotObjective* oy = pts.objective(yname);
  auto value = value_of;
  // Study trials from the columns (a frame over 100,000 of them reads arrays, not maps).
  const std::vector<double>*xcol = pts.column(xname, false), *ycol = pts.column(yname, false);
  auto get = [&](const TrialPoint& p, double& x, double& y) {
    if (xcol && ycol && !pts.trials.empty() && &p >= &pts.trials.front() && &p <= &pts.trials.back()) {
      const size_t q = size_t(&p - pts.trials.data());
      x = (*xcol)[q], y = (*ycol)[q];
      return finite(x) && finite(y);
    }
    return value(p, xname, x) && value(p, yname, y);
  };

  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const auto* set : {&pts.trials, &pts.baseline})
    for (const auto& p : *set) {
      double x, y;
      if (!get(p, x, y)) continue;
      xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    }
  const PlotFrame f = scatter_frame(dl, omin, omax, xlo, xhi, ylo, yhi, xname, ox, yname, oy, t);
  if (frame_out) *frame_out = f;
  if (!f.valid()) return -1;
  if (!ox || !oy) {
    centred_text(dl, f, t.text_dim.packed(), "choose two objectives");
    return -1;
  }
  if (!(xlo <= xhi)) {
    centred_text(dl, f, t.text_dim.packed(), "no trials with both objectives yet");
    return -1;
  }

  dl->PushClipRect(ImVec2(f.min.x - 6, f.min.y - 6), ImVec2(f.max.x + 6, f.max.y + 6), true);
  const bool binned = pts.trials.size() + pts.baseline.size() > kDotBudget;
  DotBins bins(f.min, f.max, binned ? 3 : 0);
  auto square = [&](ImVec2 s, ImU32 col) { dl->AddRectFilled(ImVec2(s.x - 1.5f, s.y - 1.5f), ImVec2(s.x + 1.5f, s.y + 1.5f), col); };
  for (const auto& p : pts.baseline) {
    double x, y;
    if (!get(p, x, y)) continue;
    const ImVec2 s = f.to_screen(x, y);
    if (!binned) dl->AddCircleFilled(s, 3.5f, t.baseline.packed());
    else if (bins.first(s, 0)) square(s, t.baseline.packed());
  }
  for (const auto& p : pts.trials) {
    double x, y;
    if (p.on_front || !get(p, x, y)) continue;
    const ImVec2 s = f.to_screen(x, y);
    if (binned) {
      if (bins.first(s, p.feasible ? 1 : 2)) square(s, p.feasible ? with_alpha(t.series[0].packed(), 210) : t.error.packed());
    } else if (p.feasible) {
      dl->AddCircleFilled(s, 4.f, with_alpha(t.series[0].packed(), 210));
    } else {
      dl->AddCircle(s, 4.f, t.error.packed(), 0, 1.5f);
    }
  }

  const std::vector<ImVec2> line = projection_front(f, pts.trials, *ox, *oy, xcol, ycol);
  if (line.size() >= 2) dl->AddPolyline(line.data(), int(line.size()), with_alpha(t.front.packed(), 200), ImDrawFlags_None, 2.f);
  for (const auto& p : pts.trials) {
    double x, y;
    if (!p.on_front || !get(p, x, y)) continue;
    const ImVec2 s = f.to_screen(x, y);
    dl->AddCircleFilled(s, 6.f, t.front.packed());
    dl->AddCircle(s, 6.f, t.dark ? IM_COL32(0, 0, 0, 200) : IM_COL32(60, 40, 0, 220), 0, 1.2f);
  }
  dl->PopClipRect();

  std::vector<ImVec2> avoid;
  for (const auto* set : {&pts.trials, &pts.baseline})
    for (const auto& p : *set) {
      double x, y;
      if (get(p, x, y)) avoid.push_back(f.to_screen(x, y));
    }
  draw_legend(dl, f,
              {{"trials", t.series[0].packed()}, {"Pareto front", t.front.packed()}, {"random search", t.baseline.packed()},
               {"infeasible", t.error.packed()}},
              t, avoid);

  // Nearest point under the mouse, study trials first (they are drawn on top).
  const TrialPoint* hit = nullptr;
  bool hit_baseline = false;
  const ImVec2 m = ImGui::GetIO().MousePos;
  if (hovered) {
    float best = 10.f * 10.f;
    for (const auto* set : {&pts.trials, &pts.baseline})
      for (const auto& p : *set) {
        double x, y;
        if (!get(p, x, y)) continue;
        const ImVec2 s = f.to_screen(x, y);
        const float d = (s.x - m.x) * (s.x - m.x) + (s.y - m.y) * (s.y - m.y);
        if (d < best - 1e-3f) best = d, hit = &p, hit_baseline = (set == &pts.baseline);
      }
  }
  if (!hit) return -1;
  double hx = 0, hy = 0;
  get(*hit, hx, hy);
  dl->AddCircle(f.to_screen(hx, hy), 9.f, t.text.packed(), 0, 2.f);
  ImGui::BeginTooltip();
  if (hit_baseline)
    ImGui::Text("random search, trial %lld", (long long)hit->id);
  else
    ImGui::Text("trial %lld%s%s", (long long)hit->id, hit->on_front ? "  (on the front)" : "",
                hit->feasible ? "" : "  (infeasible)");
  for (const auto& o : pts.objectives) {
    const auto it = hit->values.find(o.name);
    if (it != hit->values.end()) ImGui::Text("%s: %s", o.name.c_str(), fmt_value(it->second).c_str());
  }
  if (!hit_baseline) ImGui::TextDisabled("click to open");
  ImGui::EndTooltip();
  return (clicked && !hit_baseline) ? hit->id : -1;
}

// ---- every objective at once ----------------------------------------------------------------

namespace {

bool log_ok(const ParallelAxes::Axis& a, double lo) { return a.log && !a.choice && lo > 0; }


// Rank 0 in the front colour, then the study colour fading with rank; broken constraints in the
// error colour. `dim`: a selection exists and this trial is not in it.
ImU32 rank_colour(const TrialPoint& p, int worst, bool dim, const Theme& t) {
  ImU32 c = !p.feasible ? t.error.packed() : p.rank == 0 ? t.front.packed() : t.series[0].packed();
  int alpha = !p.feasible ? 150 : p.rank == 0 ? 235 : int(210 - 120.0 * (worst > 1 ? double(p.rank - 1) / double(worst - 1) : 0));
  return with_alpha(c, dim ? 28 : alpha);
}

// Per-widget drag state: which axis or title is held, where the drag began.
struct ParallelDrag {
  int axis = -1;
  bool title = false;
  float y0 = 0, x0 = 0;
  bool moved = false;
};
ParallelDrag& parallel_drag(ImGuiID id) {
  static std::map<ImGuiID, ParallelDrag> drags;
  return drags[id];
}

}  // namespace

float ParallelFrame::y_of(const ParallelAxes& axes, size_t i, double value) const {
  const auto& a = axes.axes[i];
  double v = log_ok(a, lo[i]) ? std::log10(std::max(value, 1e-300)) : value;
  double lo_v = log_ok(a, lo[i]) ? std::log10(lo[i]) : lo[i], hi_v = log_ok(a, lo[i]) ? std::log10(hi[i]) : hi[i];
  double u = hi_v > lo_v ? (v - lo_v) / (hi_v - lo_v) : 0.5;
  if (a.flip) u = 1 - u;
  return float(bottom - u * (bottom - top));
}

double ParallelFrame::value_at(const ParallelAxes& axes, size_t i, float y) const {
  const auto& a = axes.axes[i];
  double u = (bottom - y) / std::max(1.f, bottom - top);
  u = std::clamp(u, 0.0, 1.0);
  if (a.flip) u = 1 - u;
  if (log_ok(a, lo[i])) return std::pow(10.0, std::log10(lo[i]) + u * (std::log10(hi[i]) - std::log10(lo[i])));
  return lo[i] + u * (hi[i] - lo[i]);
}

bool parallel_coordinates(const char* id, const ParetoPoints& pts, ParallelAxes& axes, const std::set<int64_t>& selected, const Theme& t,
                          ImVec2 size_in, ParallelFrame* frame_out, int64_t* clicked) {
  const ImVec2 size = resolve_size(size_in);
  const ImVec2 omin = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton(id, size, ImGuiButtonFlags_MouseButtonLeft | ImGuiButtonFlags_MouseButtonRight);
  const ImGuiID wid = ImGui::GetID(id);
  const bool active = ImGui::IsItemActive(), hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const float fh = ImGui::GetFontSize();
  ParallelFrame f;
  f.title_y = omin.y;
  f.top = omin.y + fh * 2.4f;
  f.bottom = omin.y + size.y - fh * 1.6f;
  const size_t n = axes.axes.size();
  if (n == 0 || f.bottom <= f.top) {
    if (frame_out) *frame_out = f;
    return false;
  }
  const float margin = std::min(90.f, size.x * 0.08f), step = n > 1 ? (size.x - 2 * margin) / float(n - 1) : 0;
  for (size_t i = 0; i < n; ++i) {
    f.x.push_back(omin.x + margin + step * float(i));
    const auto& a = axes.axes[i];
    double lo = INFINITY, hi = -INFINITY;
    if (a.choice) {
      lo = 0;
      for (const auto& c : pts.choices)
        if (c.name == a.name) hi = std::max(1.0, double(c.labels.size()) - 1);
    } else if (const std::vector<double>* col = pts.column(a.name, false)) {
      for (double v : *col)
        if (finite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
    } else {
      for (const auto& p : pts.trials)
        if (double v = axes.value(p, a, pts); finite(v)) lo = std::min(lo, v), hi = std::max(hi, v);
      if (!(lo <= hi)) lo = 0, hi = 1;
      if (lo == hi) lo -= 0.5 * (std::fabs(lo) + 1), hi += 0.5 * (std::fabs(hi) + 1);
    }
    f.lo.push_back(lo), f.hi.push_back(hi);
  }
  dl->AddRectFilled(ImVec2(omin.x, f.top - 4), ImVec2(omin.x + size.x, f.bottom + 4), t.base.packed());

  // Trials: the worst rank first, the front last (on top); selected ones over the rest.
  const size_t count = pts.trials.size();
  int worst = 0;
  for (const auto& p : pts.trials) worst = std::max(worst, p.feasible ? p.rank : 0);
  std::vector<const std::vector<double>*> cols(n);
  for (size_t i = 0; i < n; ++i) cols[i] = pts.column(axes.axes[i].name, axes.axes[i].choice);
  auto value = [&](size_t trial, size_t axis) { return cols[axis] ? (*cols[axis])[trial] : axes.value(pts.trials[trial], axes.axes[axis], pts); };
  const bool any = !selected.empty();
  std::vector<char> sel(count, 0);
  if (any)
    for (size_t k = 0; k < count; ++k) sel[k] = selected.count(pts.trials[k].id) > 0;
  // Past kLineBudget lines, a sample: lavapipe draws a 130-pixel segment in about 3 µs (9 µs
  // anti-aliased), so 10,000 trials over 11 axes took 1 s a frame. Every k-th member of each
  // group (selected, front, the rest) is drawn, in proportion, with the front and the selection
  // favoured; the sample is stable as trials are added, so lines do not flicker.
  std::vector<size_t> order;
  const bool sample = count > kLineBudget;
  if (!sample) {
    order.resize(count);
    std::iota(order.begin(), order.end(), size_t(0));
    auto key = [&](size_t k) { const TrialPoint& p = pts.trials[k]; return (sel[k] ? 1000000 : 0) + (p.feasible ? -p.rank : -100000); };
    std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return key(a) < key(b); });
  } else {
    std::vector<size_t> groups[3];  // the rest, the front, the selected: drawn in that order
    for (size_t k = 0; k < count; ++k) groups[sel[k] ? 2 : pts.trials[k].feasible && pts.trials[k].rank == 0 ? 1 : 0].push_back(k);
    size_t quota[3];
    quota[2] = any ? std::min(groups[2].size(), kLineBudget / 2) : 0;
    quota[1] = std::min(groups[1].size(), (kLineBudget - quota[2]) / 3);
    quota[0] = kLineBudget - quota[2] - quota[1];
    for (int g = 0; g < 3; ++g) {
      if (groups[g].empty() || quota[g] == 0) continue;
      const double stride = std::max(1.0, double(groups[g].size()) / double(quota[g]));
      for (double at = 0; at < double(groups[g].size()); at += stride) order.push_back(groups[g][size_t(at)]);
    }
  }
  std::vector<ImVec2> line;
  const ImDrawListFlags saved_flags = dl->Flags;
  if (sample) dl->Flags &= ~(ImDrawListFlags_AntiAliasedLines | ImDrawListFlags_AntiAliasedLinesUseTex);
  for (size_t k : order) {
    line.clear();
    for (size_t i = 0; i < n; ++i) {
      double v = value(k, i);
      if (!finite(v)) continue;
      line.push_back(ImVec2(f.x[i], f.y_of(axes, i, v)));
    }
    if (line.size() >= 2)
      dl->AddPolyline(line.data(), int(line.size()), rank_colour(pts.trials[k], worst, any && !sel[k], t), ImDrawFlags_None,
                      sample ? (sel[k] ? 1.5f : 1.f) : sel[k] ? 2.4f : 1.4f);
  }
  dl->Flags = saved_flags;
  f.lines_drawn = order.size();

  // Axes, brushes, titles and ticks.
  for (size_t i = 0; i < n; ++i) {
    const auto& a = axes.axes[i];
    const float x = f.x[i];
    dl->AddLine(ImVec2(x, f.top), ImVec2(x, f.bottom), t.axis.packed(), 1.5f);
    if (a.brushed) {
      float y0 = f.y_of(axes, i, a.lo), y1 = f.y_of(axes, i, a.hi);
      dl->AddRectFilled(ImVec2(x - 6, std::min(y0, y1)), ImVec2(x + 6, std::max(y0, y1)), with_alpha(t.accent.packed(), 90), 2.f);
      dl->AddRect(ImVec2(x - 6, std::min(y0, y1)), ImVec2(x + 6, std::max(y0, y1)), t.accent.packed(), 2.f);
    }
    // Minimised objectives start flipped, so better is up on every objective axis.
    std::string title = a.name + (a.flip ? (a.choice ? " (reversed)" : " (low on top)") : "") + (a.log && !a.choice ? " log" : "");
    const ImVec2 ts = ImGui::CalcTextSize(title.c_str());
    dl->AddText(ImVec2(x - ts.x * 0.5f, f.title_y), t.text.packed(), title.c_str());
    if (a.choice) {
      for (const auto& c : pts.choices)
        if (c.name == a.name)
          for (size_t k = 0; k < c.labels.size(); ++k)
            dl->AddText(ImVec2(x + 5, f.y_of(axes, i, double(k)) - fh * 0.5f), t.text_dim.packed(), c.labels[k].c_str());
    } else {
      for (double v : {f.lo[i], f.hi[i]}) {
        std::string s = format_tick(v, std::fabs(f.hi[i] - f.lo[i]) / 4);
        dl->AddText(ImVec2(x + 5, f.y_of(axes, i, v) - fh * 0.5f), t.text_dim.packed(), s.c_str());
      }
    }
  }

  // Mouse: press near an axis to brush it, on a title to move or flip it.
  bool brush_changed = false;
  ParallelDrag& d = parallel_drag(wid);
  const ImVec2 m = ImGui::GetIO().MousePos;
  auto nearest = [&]() {
    int best = -1;
    float dist = 14;
    for (size_t i = 0; i < n; ++i)
      if (std::fabs(m.x - f.x[i]) < dist) dist = std::fabs(m.x - f.x[i]), best = int(i);
    return best;
  };
  if (ImGui::IsItemActivated() && ImGui::IsMouseClicked(ImGuiMouseButton_Left)) {
    d = ParallelDrag{nearest(), m.y < f.top - 2, m.y, m.x, false};
  }
  if (active && d.axis >= 0 && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 2.f)) {
    d.moved = true;
    if (d.title) {
      // Past the middle to a neighbour: swap with it.
      size_t i = size_t(d.axis);
      if (i + 1 < n && m.x > (f.x[i] + f.x[i + 1]) * 0.5f) axes.move(i, i + 1), d.axis = int(i + 1);
      else if (i > 0 && m.x < (f.x[i] + f.x[i - 1]) * 0.5f) axes.move(i, i - 1), d.axis = int(i - 1);
    } else {
      auto& a = axes.axes[size_t(d.axis)];
      a.brushed = true;
      a.lo = f.value_at(axes, size_t(d.axis), std::clamp(d.y0, f.top, f.bottom));
      a.hi = f.value_at(axes, size_t(d.axis), std::clamp(m.y, f.top, f.bottom));
      brush_changed = true;
    }
  }
  if (ImGui::IsItemDeactivated()) {
    if (d.axis >= 0 && !d.moved && !d.title && axes.axes[size_t(d.axis)].brushed) axes.axes[size_t(d.axis)].brushed = false, brush_changed = true;
    // A click between axes on a drawn line: that trial (the nearest line within 5 pixels).
    if (d.axis < 0 && !d.moved && clicked && m.y >= f.top && m.y <= f.bottom) {
      float best = 5.f;
      for (size_t i = 0; i + 1 < n; ++i) {
        if (m.x < f.x[i] || m.x > f.x[i + 1]) continue;
        const float u = (m.x - f.x[i]) / std::max(1.f, f.x[i + 1] - f.x[i]);
        for (size_t k : order) {
          const double a = value(k, i), b = value(k, i + 1);
          if (!finite(a) || !finite(b)) continue;
          const float y = f.y_of(axes, i, a) * (1 - u) + f.y_of(axes, i + 1, b) * u;
          if (std::fabs(y - m.y) < best) best = std::fabs(y - m.y), *clicked = pts.trials[k].id;
        }
      }
    }
    d = ParallelDrag{};
  }
  if (hovered && ImGui::IsMouseDoubleClicked(ImGuiMouseButton_Left) && m.y < f.top - 2)
    if (int i = nearest(); i >= 0) axes.axes[size_t(i)].flip = !axes.axes[size_t(i)].flip;
  const std::string popup = std::string(id) + "_axis";
  static int menu_axis = -1;
  if (hovered && ImGui::IsMouseClicked(ImGuiMouseButton_Right))
    if (int i = nearest(); i >= 0) menu_axis = i, ImGui::OpenPopup(popup.c_str());
  if (ImGui::BeginPopup(popup.c_str())) {
    if (menu_axis >= 0 && size_t(menu_axis) < n) {
      auto& a = axes.axes[size_t(menu_axis)];
      ImGui::TextDisabled("%s", a.name.c_str());
      if (ImGui::MenuItem("Flip", nullptr, a.flip)) a.flip = !a.flip;
      if (!a.choice && ImGui::MenuItem("Log scale", nullptr, a.log, f.lo[size_t(menu_axis)] > 0)) a.log = !a.log;
      if (ImGui::MenuItem("Clear brush", nullptr, false, a.brushed)) a.brushed = false, brush_changed = true;
      if (ImGui::MenuItem("Clear every brush", nullptr, false, axes.any_brush())) {
        for (auto& b : axes.axes) b.brushed = false;
        brush_changed = true;
      }
    }
    ImGui::EndPopup();
  }
  if (hovered && !active) {
    const int i = nearest();
    if (i >= 0)
      ImGui::SetTooltip("%s", m.y < f.top - 2 ? "drag sideways to move this axis; double-click to flip it; right-click for more"
                                              : "drag along the axis to select a range; click to clear it");
  }
  if (frame_out) *frame_out = f;
  return brush_changed;
}

bool scatter_matrix(const char* id, const ParetoPoints& pts, const std::set<int64_t>& selected, std::set<int64_t>& selection, const Theme& t,
                    ImVec2 size_in, MatrixFrame* frame_out, int64_t* clicked) {
  const ImVec2 size = resolve_size(size_in);
  const ImVec2 omin = ImGui::GetCursorScreenPos();
  ImGui::InvisibleButton(id, size);
  const ImGuiID wid = ImGui::GetID(id);
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const size_t k = pts.objectives.size();
  MatrixFrame mf;
  if (k < 2) {
    dl->AddText(ImVec2(omin.x + 8, omin.y + 8), t.text_dim.packed(), "the scatter matrix needs two objectives");
    if (frame_out) *frame_out = mf;
    return false;
  }
  const float fh = ImGui::GetFontSize(), gap = 8, left = fh * 1.6f, bottom_pad = fh * 1.6f;
  const float cw = (size.x - left - gap * float(k - 2)) / float(k - 1), ch = (size.y - bottom_pad - gap * float(k - 2)) / float(k - 1);
  std::vector<double> lo(k, INFINITY), hi(k, -INFINITY);
  for (size_t i = 0; i < k; ++i)
    if (const std::vector<double>* col = pts.column(pts.objectives[i].name, false))
      for (double v : *col)
        if (finite(v)) lo[i] = std::min(lo[i], v), hi[i] = std::max(hi[i], v);
  for (size_t i = 0; i < k; ++i) std::tie(lo[i], hi[i]) = padded(lo[i] <= hi[i] ? lo[i] : 0, lo[i] <= hi[i] ? hi[i] : 1, false, 0.08);
  const bool any = !selected.empty();
  const size_t count = pts.trials.size();
  std::vector<char> sel_flags(count, 0);
  if (any)
    for (size_t q = 0; q < count; ++q) sel_flags[q] = selected.count(pts.trials[q].id) > 0;
  // Past kDotBudget trials a cell draws one square dot per bin and kind (infeasible, front,
  // other) in each pass: 15 cells of 10,000 circles took 0.5 s a frame on lavapipe.
  const bool binned = count > kDotBudget;
  // Faded (or plain), front, selected: drawn in that order in every cell.
  std::vector<size_t> passes[3];
  for (size_t q = 0; q < count; ++q) {
    const bool sel = any && sel_flags[q];
    passes[sel ? 2 : pts.trials[q].feasible && pts.trials[q].on_front ? 1 : 0].push_back(q);
  }
  for (size_t i = 1; i < k; ++i)
    for (size_t j = 0; j < i; ++j) {
      PlotFrame c;
      c.min = ImVec2(omin.x + left + float(j) * (cw + gap), omin.y + float(i - 1) * (ch + gap));
      c.max = ImVec2(c.min.x + cw, c.min.y + ch);
      c.x0 = lo[j], c.x1 = hi[j], c.y0 = lo[i], c.y1 = hi[i];
      mf.pairs.push_back({pts.objectives[j].name, pts.objectives[i].name});
      mf.cells.push_back(c);
      dl->AddRectFilled(c.min, c.max, t.base.packed());
      dl->AddRect(c.min, c.max, t.axis.packed());
      const std::vector<double>*xc = pts.column(pts.objectives[j].name, false), *yc = pts.column(pts.objectives[i].name, false);
      if (!xc || !yc) continue;
      for (int pass = 0; pass < 3; ++pass) {
        DotBins bins(c.min, c.max, binned ? 3 : 0);
        for (size_t q : passes[pass]) {
          const TrialPoint& p = pts.trials[q];
          const double x = (*xc)[q], y = (*yc)[q];
          if (!finite(x) || !finite(y)) continue;
          const bool sel = sel_flags[q], front = p.feasible && p.on_front;
          const ImVec2 s = c.to_screen(x, y);
          const int kind = !p.feasible ? 0 : front ? 1 : 2;
          const ImU32 col = with_alpha(kind == 0 ? t.error.packed() : kind == 1 ? t.front.packed() : t.series[0].packed(), any && !sel ? 40 : 220);
          if (binned) {
            if (!bins.first(s, kind)) continue;
            dl->AddRectFilled(ImVec2(s.x - 1.5f, s.y - 1.5f), ImVec2(s.x + 1.5f, s.y + 1.5f), col);  // a bin's size: no overlap
            continue;
          }
          dl->AddCircleFilled(s, front ? 3.5f : 2.8f, col);
          if (any && sel) dl->AddCircle(s, 5.f, t.accent.packed(), 0, 1.5f);
        }
      }
      // Each axis' extent at the cell edges: x under the bottom row, y inside the left column.
      const ImU32 tick = t.text_disabled.packed();
      if (i == k - 1) {
        const char* name = pts.objectives[j].name.c_str();
        dl->AddText(ImVec2(c.min.x + (cw - ImGui::CalcTextSize(name).x) * 0.5f, c.max.y + 2), t.text_dim.packed(), name);
        const std::string a = format_tick(c.x0, (c.x1 - c.x0) / 4), b = format_tick(c.x1, (c.x1 - c.x0) / 4);
        dl->AddText(ImVec2(c.min.x, c.max.y + 2), tick, a.c_str());
        dl->AddText(ImVec2(c.max.x - ImGui::CalcTextSize(b.c_str()).x, c.max.y + 2), tick, b.c_str());
      }
      if (j == 0) {
        const char* name = pts.objectives[i].name.c_str();
        dl->AddText(ImVec2(omin.x, c.min.y + ch * 0.5f - fh * 0.5f), t.text_dim.packed(), name);
        const std::string a = format_tick(c.y0, (c.y1 - c.y0) / 4), b = format_tick(c.y1, (c.y1 - c.y0) / 4);
        if (ch > fh * 2.5f) {
          dl->AddText(ImVec2(c.min.x + 2, c.max.y - fh - 1), tick, a.c_str());
          dl->AddText(ImVec2(c.min.x + 2, c.min.y + 1), tick, b.c_str());
        }
      }
    }
  // A rectangle dragged in one cell narrows the selection; a click clears it.
  struct Drag {
    int cell = -1;
    ImVec2 a;
  };
  static std::map<ImGuiID, Drag> drags;
  Drag& d = drags[wid];
  const ImVec2 m = ImGui::GetIO().MousePos;
  bool changed = false;
  if (ImGui::IsItemActivated()) {
    d = Drag{};
    for (size_t c = 0; c < mf.cells.size(); ++c)
      if (m.x >= mf.cells[c].min.x && m.x <= mf.cells[c].max.x && m.y >= mf.cells[c].min.y && m.y <= mf.cells[c].max.y) d = Drag{int(c), m};
  }
  if (ImGui::IsItemActive() && d.cell >= 0 && ImGui::IsMouseDragging(ImGuiMouseButton_Left, 2.f)) {
    const PlotFrame& c = mf.cells[size_t(d.cell)];
    ImVec2 b(std::clamp(m.x, c.min.x, c.max.x), std::clamp(m.y, c.min.y, c.max.y));
    dl->AddRectFilled(ImVec2(std::min(d.a.x, b.x), std::min(d.a.y, b.y)), ImVec2(std::max(d.a.x, b.x), std::max(d.a.y, b.y)),
                      with_alpha(t.accent.packed(), 50));
    dl->AddRect(ImVec2(std::min(d.a.x, b.x), std::min(d.a.y, b.y)), ImVec2(std::max(d.a.x, b.x), std::max(d.a.y, b.y)), t.accent.packed());
  }
  if (ImGui::IsItemDeactivated() && d.cell >= 0) {
    const PlotFrame& c = mf.cells[size_t(d.cell)];
    const ImVec2 b(std::clamp(m.x, c.min.x, c.max.x), std::clamp(m.y, c.min.y, c.max.y));
    const bool dragged = std::fabs(b.x - d.a.x) > 2 || std::fabs(b.y - d.a.y) > 2;
    // A click on a dot (within 5 pixels) is that trial; a click elsewhere clears the selection.
    if (!dragged && clicked) {
      const auto& [xn, yn] = mf.pairs[size_t(d.cell)];
      const std::vector<double>*xc = pts.column(xn, false), *yc = pts.column(yn, false);
      float best = 25.f;
      for (size_t q = 0; xc && yc && q < count; ++q) {
        if (!finite((*xc)[q]) || !finite((*yc)[q])) continue;
        const ImVec2 s = c.to_screen((*xc)[q], (*yc)[q]);
        const float dd = (s.x - m.x) * (s.x - m.x) + (s.y - m.y) * (s.y - m.y);
        if (dd < best) best = dd, *clicked = pts.trials[q].id;
      }
      if (*clicked >= 0) {
        d = Drag{};
        if (frame_out) *frame_out = mf;
        return false;
      }
    }
    selection.clear();
    if (dragged) {
      const float x0 = std::min(d.a.x, b.x), x1 = std::max(d.a.x, b.x), y0 = std::min(d.a.y, b.y), y1 = std::max(d.a.y, b.y);
      const auto& [xn, yn] = mf.pairs[size_t(d.cell)];
      const std::vector<double>*xc = pts.column(xn, false), *yc = pts.column(yn, false);
      for (size_t q = 0; xc && yc && q < count; ++q) {
        if (!finite((*xc)[q]) || !finite((*yc)[q]) || (any && !sel_flags[q])) continue;
        const ImVec2 s = c.to_screen((*xc)[q], (*yc)[q]);
        if (s.x >= x0 && s.x <= x1 && s.y >= y0 && s.y <= y1) selection.insert(pts.trials[q].id);
      }
    }
    changed = true;
    d = Drag{};
  }
  if (frame_out) *frame_out = mf;
  return changed;
}

PlotFrame fronts_overlay(const char* id, const StudyComparisonView& view, const std::string& xname, const std::string& yname, const Theme& t,
                         ImVec2 size_in, std::vector<size_t>* drawn) {
  const ImVec2 size = resolve_size(size_in);
  const ImVec2 omin = ImGui::GetCursorScreenPos();
  const ImVec2 omax(omin.x + size.x, omin.y + size.y);
  ImGui::InvisibleButton(id, size);
  const bool hovered = ImGui::IsItemHovered();
  ImDrawList* dl = ImGui::GetWindowDrawList();
  const PlotObjective *ox = nullptr, *oy = nullptr;
  for (const auto& o : view.objectives) {
    if (o.name == xname) ox = &o;
    if (o.name == yname) oy = &o;
  }
  double xlo = INFINITY, xhi = -INFINITY, ylo = INFINITY, yhi = -INFINITY;
  for (const auto& st : view.studies)
    for (const auto& p : st.trials) {
      double x, y;
      if (!value_of(p, xname, x) || !value_of(p, yname, y)) continue;
      xlo = std::min(xlo, x), xhi = std::max(xhi, x), ylo = std::min(ylo, y), yhi = std::max(yhi, y);
    }
  const PlotFrame f = scatter_frame(dl, omin, omax, xlo, xhi, ylo, yhi, xname, ox, yname, oy, t);
  if (drawn) drawn->assign(view.studies.size(), 0);
  if (!f.valid() || !ox || !oy || !(xlo <= xhi)) {
    if (f.valid()) centred_text(dl, f, t.text_dim.packed(), !ox || !oy ? "choose two objectives" : "no trials with both objectives yet");
    return f;
  }
  // Each study in its colour: its trials small, its front of this projection joined and large.
  dl->PushClipRect(ImVec2(f.min.x - 7, f.min.y - 7), ImVec2(f.max.x + 7, f.max.y + 7), true);
  std::vector<std::pair<std::string, ImU32>> legend;
  std::vector<ImVec2> avoid;
  for (size_t k = 0; k < view.studies.size(); ++k) {
    const auto& st = view.studies[k];
    const ImU32 col = t.series[k % t.series.size()].packed();
    for (const auto& p : st.trials) {
      double x, y;
      if (!value_of(p, xname, x) || !value_of(p, yname, y)) continue;
      const ImVec2 s = f.to_screen(x, y);
      if (p.feasible) dl->AddCircleFilled(s, 3.f, with_alpha(col, 150));
      else dl->AddCircle(s, 3.f, with_alpha(col, 150), 0, 1.2f);
      avoid.push_back(s);
      if (drawn) ++(*drawn)[k];
    }
    const std::vector<ImVec2> line = projection_front(f, st.trials, *ox, *oy);
    if (line.size() >= 2) dl->AddPolyline(line.data(), int(line.size()), col, ImDrawFlags_None, 2.5f);
    for (size_t i = 0; i < line.size(); i += 2) dl->AddCircleFilled(line[i], 5.f, col);  // the staircase's corners are the trials
    legend.emplace_back(st.label + "  (" + st.strategy + ")", col);
  }
  dl->PopClipRect();
  draw_legend(dl, f, legend, t, avoid);

  const ImVec2 m = ImGui::GetIO().MousePos;
  if (!hovered) return f;
  const TrialPoint* hit = nullptr;
  const StudyComparisonView::Study* in = nullptr;
  float best = 10.f * 10.f;
  for (const auto& st : view.studies)
    for (const auto& p : st.trials) {
      double x, y;
      if (!value_of(p, xname, x) || !value_of(p, yname, y)) continue;
      const ImVec2 s = f.to_screen(x, y);
      const float d = (s.x - m.x) * (s.x - m.x) + (s.y - m.y) * (s.y - m.y);
      if (d < best) best = d, hit = &p, in = &st;
    }
  if (!hit) return f;
  ImGui::BeginTooltip();
  ImGui::Text("%s (%s), trial %lld%s", in->label.c_str(), in->strategy.c_str(), (long long)hit->id, hit->feasible ? "" : "  (infeasible)");
  for (const auto& o : view.objectives)
    if (double v; value_of(*hit, o.name, v)) ImGui::Text("%s: %s", o.name.c_str(), fmt_value(v).c_str());
  ImGui::EndTooltip();
  return f;
}

}  // namespace studio
