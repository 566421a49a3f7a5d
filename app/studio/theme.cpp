#include "theme.h"

#include <QApplication>
#include <QPalette>
#include <QStyle>
#include <QStyleFactory>
#include <algorithm>
#include <cmath>

namespace studio {

namespace {

constexpr Rgba rgb(int r, int g, int b, int a = 255) { return Rgba{uint8_t(r), uint8_t(g), uint8_t(b), uint8_t(a)}; }
Rgba unit(double r, double g, double b) { return rgb(int(std::lround(r * 255)), int(std::lround(g * 255)), int(std::lround(b * 255))); }

Theme make_light() {
  Theme t;
  t.dark = false;
  t.window = rgb(239, 240, 242);
  t.base = rgb(255, 255, 255);
  t.text = unit(0.10, 0.10, 0.12);
  t.text_dim = unit(0.38, 0.40, 0.45);
  t.text_disabled = rgb(150, 150, 154);
  t.accent = rgb(30, 120, 235);
  t.error = unit(0.78, 0.16, 0.16);
  t.desk = rgb(236, 238, 241);
  t.label = unit(0.16, 0.36, 0.66);
  t.fence = unit(0.955, 0.965, 0.98);
  t.fence_line = unit(0.55, 0.59, 0.66);
  t.box_fill = rgb(255, 255, 255);
  t.error_fill = unit(0.99, 0.92, 0.92);
  t.badge_fill = unit(0.93, 0.95, 1.0);
  t.badge_text = t.text;
  t.marker_text = rgb(255, 255, 255);
  t.hover = rgb(120, 170, 240);
  t.grid = rgb(226, 228, 234);
  t.axis = rgb(96, 98, 108);
  t.series = {rgb(31, 110, 190), rgb(222, 112, 16), rgb(40, 150, 52), rgb(206, 40, 44), rgb(138, 92, 186), rgb(20, 146, 156)};
  t.front = rgb(214, 120, 0);
  t.baseline = rgb(150, 150, 156, 200);
  return t;
}

Theme make_dark() {
  Theme t;
  t.dark = true;
  t.window = rgb(43, 45, 49);
  t.base = rgb(30, 31, 34);
  t.text = rgb(226, 226, 230);
  t.text_dim = rgb(150, 154, 164);
  t.text_disabled = rgb(128, 128, 128);
  t.accent = rgb(70, 150, 255);
  t.error = rgb(240, 96, 96);
  t.desk = rgb(30, 31, 34);
  t.label = rgb(112, 168, 240);
  t.fence = rgb(40, 42, 47);
  t.fence_line = rgb(96, 103, 116);
  t.box_fill = rgb(50, 53, 59);
  t.error_fill = rgb(82, 38, 40);
  t.badge_fill = rgb(56, 63, 82);
  t.badge_text = t.text;
  t.marker_text = rgb(255, 255, 255);
  t.hover = rgb(60, 110, 180);
  t.grid = rgb(58, 60, 68);
  t.axis = rgb(140, 142, 152);
  t.series = {rgb(86, 156, 240), rgb(240, 150, 60), rgb(96, 196, 112), rgb(232, 88, 88), rgb(176, 128, 226), rgb(72, 192, 192)};
  t.front = rgb(255, 196, 40);
  t.baseline = rgb(128, 128, 132, 190);
  return t;
}

}  // namespace

const Theme& Theme::light() {
  static const Theme t = make_light();
  return t;
}

const Theme& Theme::dark_theme() {
  static const Theme t = make_dark();
  return t;
}

Rgba Theme::badge_heat(double h) const {
  h = std::clamp(h, 0.0, 1.0);
  // Light: pale yellow -> orange -> red, as in the export, under dark text. Dark: the same hues
  // kept deep (dull amber -> deep red) so the theme's light badge text stays readable on them.
  if (dark) return unit(0.345 + 0.315 * h, 0.314 - 0.141 * h, 0.18 - 0.07 * h);
  return unit(1.0, 0.97 - 0.55 * h, 0.85 - 0.75 * h);
}

Rgba Theme::heat(double t) {
  // Viridis at five stops: perceptually ordered and readable for colour-blind users.
  static constexpr float stops[5][3] = {{68, 1, 84}, {59, 82, 139}, {33, 145, 140}, {94, 201, 98}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 4.0;
  const int i = std::min(3, int(t));
  const float u = float(t - i);
  auto mix = [&](int c) { return int(stops[i][c] + (stops[i + 1][c] - stops[i][c]) * u + 0.5f); };
  return rgb(mix(0), mix(1), mix(2));
}

void apply_theme(QApplication& app, const Theme& t) {
  app.setStyle(QStyleFactory::create("Fusion"));
  auto q = [](Rgba c) { return QColor(c.r, c.g, c.b, c.a); };
  QPalette p;
  p.setColor(QPalette::Window, q(t.window));
  p.setColor(QPalette::WindowText, q(t.text));
  p.setColor(QPalette::Base, q(t.base));
  p.setColor(QPalette::AlternateBase, q(t.window));
  p.setColor(QPalette::ToolTipBase, q(t.base));
  p.setColor(QPalette::ToolTipText, q(t.text));
  p.setColor(QPalette::Text, q(t.text));
  p.setColor(QPalette::Button, q(t.window));
  p.setColor(QPalette::ButtonText, q(t.text));
  p.setColor(QPalette::BrightText, q(t.error));
  p.setColor(QPalette::Link, q(t.accent));
  p.setColor(QPalette::Highlight, q(t.accent));
  p.setColor(QPalette::HighlightedText, Qt::white);
  p.setColor(QPalette::PlaceholderText, q(t.text_dim));
  for (auto role : {QPalette::WindowText, QPalette::Text, QPalette::ButtonText})
    p.setColor(QPalette::Disabled, role, q(t.text_disabled));
  app.setPalette(p);
}

}  // namespace studio
