#include <cairo-pdf.h>
#include <cairo-svg.h>
#include <cairo.h>

#include <algorithm>
#include <cmath>

#include "circuit/circuit_file.h"
#include "base/file.h"
#include "render.h"

namespace circuit::diagram {

namespace {

struct Rgb {
  double r, g, b;
};
constexpr Rgb kInk{0.10, 0.10, 0.12}, kMuted{0.38, 0.40, 0.45}, kError{0.78, 0.16, 0.16}, kLabel{0.16, 0.36, 0.66},
    kFence{0.955, 0.965, 0.98}, kFenceLine{0.55, 0.59, 0.66}, kWhite{1, 1, 1}, kErrorFill{0.99, 0.92, 0.92},
    kAdded{0.11, 0.50, 0.20}, kAddedFill{0.90, 0.97, 0.91}, kRemoved{0.75, 0.20, 0.20}, kRemovedFill{0.99, 0.93, 0.93},
    kChanged{0.72, 0.45, 0.0}, kChangedFill{1.0, 0.96, 0.86};

void set(cairo_t* cr, Rgb c) { cairo_set_source_rgb(cr, c.r, c.g, c.b); }

void font(cairo_t* cr, double size, bool bold) {
  cairo_select_font_face(cr, "DejaVu Sans", CAIRO_FONT_SLANT_NORMAL, bold ? CAIRO_FONT_WEIGHT_BOLD : CAIRO_FONT_WEIGHT_NORMAL);
  cairo_set_font_size(cr, size);
}

void text(cairo_t* cr, Point at, const std::string& t, double size, bool bold, Align align, Rgb color) {
  font(cr, size, bold);
  cairo_text_extents_t e;
  cairo_text_extents(cr, t.c_str(), &e);
  double x = at.x - (align == Align::center ? e.x_advance / 2 : align == Align::right ? e.x_advance : 0);
  set(cr, color);
  cairo_move_to(cr, x, at.y);
  cairo_show_text(cr, t.c_str());
}

void rect_path(cairo_t* cr, const Rect& r, double radius) {
  double x = r.x, y = r.y, w = r.w, h = r.h, k = std::min(radius, std::min(w, h) / 2);
  cairo_new_sub_path(cr);
  cairo_arc(cr, x + w - k, y + k, k, -M_PI / 2, 0);
  cairo_arc(cr, x + w - k, y + h - k, k, 0, M_PI / 2);
  cairo_arc(cr, x + k, y + h - k, k, M_PI / 2, M_PI);
  cairo_arc(cr, x + k, y + k, k, M_PI, 3 * M_PI / 2);
  cairo_close_path(cr);
}

void card(cairo_t* cr, const Rect& r, Rgb fill, Rgb line, double width) {
  rect_path(cr, r, 3);
  set(cr, fill);
  cairo_fill_preserve(cr);
  set(cr, line);
  cairo_set_line_width(cr, width);
  cairo_stroke(cr);
}

// Cards behind a stacked item (experts), offset up and right.
void cards_behind(cairo_t* cr, const Rect& r, int stack, Rgb fill, Rgb line, double width) {
  for (int k = stack - 1; k >= 1; --k) card(cr, {r.x + 4 * k, r.y - 4 * k, r.w, r.h}, fill, line, width);
}

Rgb heat(double h) {  // pale yellow -> orange -> red
  h = std::clamp(h, 0.0, 1.0);
  return {1.0, 0.97 - 0.55 * h, 0.85 - 0.75 * h};
}

void draw(cairo_t* cr, const Scene& s) {
  set(cr, kWhite);
  cairo_paint(cr);
  cairo_set_line_join(cr, CAIRO_LINE_JOIN_ROUND);
  cairo_set_line_cap(cr, CAIRO_LINE_CAP_BUTT);

  for (auto& f : s.fences) {
    cards_behind(cr, f.r, f.stack, kFence, kFenceLine, 0.8);
    card(cr, f.r, kFence, kFenceLine, 0.8);
  }
  for (auto& w : s.wires) {
    if (w.pts.empty()) continue;
    cairo_move_to(cr, w.pts[0].x, w.pts[0].y);
    for (size_t i = 1; i + 2 < w.pts.size(); i += 3)
      cairo_curve_to(cr, w.pts[i].x, w.pts[i].y, w.pts[i + 1].x, w.pts[i + 1].y, w.pts[i + 2].x, w.pts[i + 2].y);
    set(cr, w.unknown ? kMuted : kInk);
    cairo_set_line_width(cr, 0.9);
    double dash[] = {3, 2};
    cairo_set_dash(cr, dash, w.unknown ? 2 : 0, 0);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  }
  for (auto& w : s.wires)
    if (w.show_label && !w.label.empty()) text(cr, w.label_at, w.label, 7, false, Align::left, w.unknown ? kMuted : kLabel);
  for (auto& sp : s.separators) {
    double dash[] = {3, 2.5};
    cairo_set_dash(cr, dash, 2, 0);
    set(cr, kMuted);
    cairo_set_line_width(cr, 0.8);
    cairo_move_to(cr, sp.a.x, sp.a.y);
    cairo_line_to(cr, sp.b.x, sp.b.y);
    cairo_stroke(cr);
    cairo_set_dash(cr, nullptr, 0, 0);
  }
  for (auto& b : s.boxes) {
    if (b.kind == BoxKind::junction || b.kind == BoxKind::input || b.kind == BoxKind::output) {
      if (b.error) card(cr, b.r, kErrorFill, kError, 1.5);
      continue;
    }
    if (b.kind == BoxKind::dot) {
      cairo_arc(cr, b.r.x + b.r.w / 2, b.r.y + b.r.h / 2, b.r.w / 2, 0, 2 * M_PI);
      set(cr, kInk);
      cairo_fill(cr);
      continue;
    }
    Rgb line = b.error ? kError : b.blocked ? kMuted : kInk;
    Rgb fill = b.error ? kErrorFill : kWhite;
    double width = b.error ? 2.0 : b.bold ? 2.2 : 1.0;
    // A diff drawing's marks win over the error colour: a removed node put back may not fit.
    if (b.change == Change::added) line = kAdded, fill = kAddedFill, width = std::max(width, 2.0);
    if (b.change == Change::removed) line = kRemoved, fill = kRemovedFill, width = std::max(width, 2.0);
    if (b.change == Change::changed) line = kChanged, fill = kChangedFill, width = std::max(width, 2.0);
    cards_behind(cr, b.r, b.stack, fill, line, width);
    if (b.blocked || b.change == Change::removed) {
      double dash[] = {3, 2};
      cairo_set_dash(cr, dash, 2, 0);
    }
    card(cr, b.r, fill, line, width);
    cairo_set_dash(cr, nullptr, 0, 0);
    if (b.kind == BoxKind::block) {  // double border: a collapsed block can be opened
      rect_path(cr, {b.r.x + 3, b.r.y + 3, b.r.w - 6, b.r.h - 6}, 2);
      set(cr, line);
      cairo_set_line_width(cr, 0.7);
      cairo_stroke(cr);
    }
  }
  for (auto& t : s.texts) text(cr, t.at, t.text, t.size, t.bold, t.align, t.error ? kError : t.muted ? kMuted : kInk);
  for (auto& b : s.boxes)
    if (b.marker > 0) {
      double cx = b.r.x + 7, cy = b.r.y + 7;
      cairo_arc(cr, cx, cy, 5.5, 0, 2 * M_PI);
      set(cr, kError);
      cairo_fill(cr);
      text(cr, {cx, cy + 2.6}, std::to_string(b.marker), 7, true, Align::center, kWhite);
    }
  for (auto& b : s.badges) {
    card(cr, b.r, b.heat >= 0 ? heat(b.heat) : Rgb{0.93, 0.95, 1.0}, kFenceLine, 0.6);
    double cells = b.cells.empty() ? 0 : 3 + double(b.cells.size()) * kBadgeCell;
    text(cr, {b.r.x + (b.r.w - cells) / 2, b.r.y + b.r.h - 3}, b.text, 7.5, false, Align::center, kInk);
    for (size_t k = 0; k < b.cells.size(); ++k) {
      Rect c{b.r.right() - 3 - double(b.cells.size() - k) * kBadgeCell + 0.5, b.r.y + 2, kBadgeCell - 1, b.r.h - 4};
      set(cr, heat(std::clamp(b.cells[k], 0.0, 1.0)));
      cairo_rectangle(cr, c.x, c.y, c.w, c.h);
      cairo_fill_preserve(cr);
      set(cr, kFenceLine);
      cairo_set_line_width(cr, 0.4);
      cairo_stroke(cr);
    }
  }
}

cairo_status_t append(void* closure, const unsigned char* data, unsigned int length) {
  static_cast<std::string*>(closure)->append(reinterpret_cast<const char*>(data), length);
  return CAIRO_STATUS_SUCCESS;
}

}  // namespace

Result<Format> format_of(const std::string& path) {
  auto ends = [&](const char* e) {
    std::string x = e;
    if (path.size() < x.size()) return false;
    std::string tail = path.substr(path.size() - x.size());
    std::transform(tail.begin(), tail.end(), tail.begin(), ::tolower);
    return tail == x;
  };
  if (ends(".svg")) return Format::svg;
  if (ends(".pdf")) return Format::pdf;
  if (ends(".png")) return Format::png;
  return Error{path + ": unknown output format (use a .svg, .pdf or .png file name)"};
}

Result<std::string> render(const Scene& s, Format f, double png_scale) {
  std::string out;
  double w = std::max(1.0, std::ceil(s.width)), h = std::max(1.0, std::ceil(s.height));
  cairo_surface_t* surface = nullptr;
  if (f == Format::svg) {
    surface = cairo_svg_surface_create_for_stream(append, &out, w, h);
    cairo_svg_surface_set_document_unit(surface, CAIRO_SVG_UNIT_PT);
  } else if (f == Format::pdf) {
    surface = cairo_pdf_surface_create_for_stream(append, &out, w, h);
  } else {
    surface = cairo_image_surface_create(CAIRO_FORMAT_ARGB32, int(w * png_scale), int(h * png_scale));
  }
  cairo_t* cr = cairo_create(surface);
  if (f == Format::png) cairo_scale(cr, png_scale, png_scale);
  draw(cr, s);
  cairo_status_t st = cairo_status(cr);
  cairo_destroy(cr);
  if (f == Format::png && st == CAIRO_STATUS_SUCCESS) st = cairo_surface_write_to_png_stream(surface, append, &out);
  cairo_surface_finish(surface);
  if (st == CAIRO_STATUS_SUCCESS) st = cairo_surface_status(surface);
  cairo_surface_destroy(surface);
  if (st != CAIRO_STATUS_SUCCESS) return Error{std::string("cairo could not draw the diagram: ") + cairo_status_to_string(st)};
  return out;
}

Status render_file(const Scene& s, const std::string& path, double png_scale) {
  auto f = format_of(path);
  if (!f) return f.error();
  auto bytes = render(s, *f, png_scale);
  if (!bytes) return Error{path + ": " + bytes.error().message};
  return base::write_file_atomic(path, *bytes);
}

}  // namespace circuit::diagram
