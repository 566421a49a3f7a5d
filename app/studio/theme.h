// The studio's one theme: the Qt widgets, the diagram canvas and the plots read their colours from
// the same struct, so a role (text, accent, error) is one colour in every part of the window and
// the light/dark switch changes every part together. No Qt, Vulkan or ImGui here: the canvas mesh
// and the plot widgets are tested without them.
#pragma once
#include <array>
#include <cstdint>

class QApplication;

namespace studio {

/// A colour, straight (not premultiplied) alpha. packed() is the byte order of ImGui's IM_COL32
/// and of GLSL's unpackUnorm4x8, so the plots and the canvas use it as it is.
struct Rgba {
  uint8_t r = 0, g = 0, b = 0, a = 255;
  constexpr uint32_t packed() const { return uint32_t(r) | uint32_t(g) << 8 | uint32_t(b) << 16 | uint32_t(a) << 24; }
  bool operator==(const Rgba&) const = default;
};

/// Every colour of the window for one theme, by role.
struct Theme {
  bool dark = false;
  // Shared roles.
  Rgba window;    // Qt windows, docks and the plots' surroundings
  Rgba base;      // Qt text fields and lists, the plots' plotting area
  Rgba text, text_dim, text_disabled;
  Rgba accent;    // Qt highlight and links, the canvas's selection ring
  Rgba error;     // diagram nodes that fail, trials that broke a constraint
  // The diagram canvas. Light follows the cairo export (core/diagram/render_cairo.cpp) on a grey
  // desk so white boxes stand out; dark keeps the same roles with inverted lightness.
  Rgba desk, label, fence, fence_line, box_fill, error_fill, badge_fill, badge_text, marker_text, hover;
  // Plots.
  Rgba grid, axis;
  std::array<Rgba, 6> series;  // curves in order; series[0] is also the study's points
  Rgba front;                  // Pareto front points and step line
  Rgba baseline;               // random-search points

  static const Theme& light();
  static const Theme& dark_theme();
  static const Theme& of(bool dark) { return dark ? dark_theme() : light(); }
  /// The canvas's expert-load badge colour for a heat in [0, 1]: warm hues readable under
  /// badge_text.
  Rgba badge_heat(double h) const;
  /// The plots' sequential colour map (viridis) for t in [0, 1]; the same in both themes.
  static Rgba heat(double t);
};

/// Fusion style with the theme's palette: the same look on every desktop.
void apply_theme(QApplication& app, const Theme& theme);

}  // namespace studio
