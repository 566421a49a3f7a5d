#include "scene_mesh.h"

#include <algorithm>
#include <cmath>

#include "glyph_atlas.h"

namespace studio::canvas {

using circuit::diagram::Align;
using circuit::diagram::BoxItem;
using circuit::diagram::BoxKind;
using circuit::diagram::WireItem;

namespace {

constexpr Rgba kNone{0, 0, 0, 0};

// Line widths, radii and dash patterns of core/diagram/render_cairo.cpp, so the canvas and the
// exported files look alike.
constexpr double kRadius = 3, kWire = 0.9, kFenceLine = 0.8, kSeparator = 0.8;

Rect grow(const Rect& r, double m) { return {r.x - m, r.y - m, r.w + 2 * m, r.h + 2 * m}; }

Rect bounds_of(const Instance& i) {
  switch (Kind(i.kind)) {
    case Kind::shape:
      return grow({i.a[0], i.a[1], i.a[2], i.a[3]}, i.b[1] / 2);
    case Kind::segment: {
      double x0 = std::min(i.a[0], i.a[2]), y0 = std::min(i.a[1], i.a[3]);
      double x1 = std::max(i.a[0], i.a[2]), y1 = std::max(i.a[1], i.a[3]);
      return grow({x0, y0, x1 - x0, y1 - y0}, i.b[0]);
    }
    case Kind::glyph:
    default:
      return {i.a[0], i.a[1], i.a[2], i.a[3]};
  }
}

Rect unite(const Rect& a, const Rect& b) {
  double x0 = std::min(a.x, b.x), y0 = std::min(a.y, b.y);
  return {x0, y0, std::max(a.right(), b.right()) - x0, std::max(a.bottom(), b.bottom()) - y0};
}

bool inside(const Rect& r, Point p) { return p.x >= r.x && p.x <= r.right() && p.y >= r.y && p.y <= r.bottom(); }

// Control points on the chord and between its ends: the curve is the chord itself.
bool flat(Point p0, Point p1, Point p2, Point p3, double tol) {
  double dx = p3.x - p0.x, dy = p3.y - p0.y, len2 = dx * dx + dy * dy;
  if (len2 == 0) return false;
  for (Point p : {p1, p2}) {
    double t = ((p.x - p0.x) * dx + (p.y - p0.y) * dy) / len2;
    double off = std::abs((p.x - p0.x) * dy - (p.y - p0.y) * dx) / std::sqrt(len2);
    if (t < 0 || t > 1 || off > tol / 4) return false;
  }
  return true;
}

int align_of(Align a) { return a == Align::center ? 1 : a == Align::right ? 2 : 0; }

}  // namespace

void MeshBuilder::rect(const Rect& r, double radius, Rgba fill, Rgba line, double border, double dash_on, double dash_off) {
  Instance i;
  i.a[0] = float(r.x), i.a[1] = float(r.y), i.a[2] = float(r.w), i.a[3] = float(r.h);
  i.b[0] = float(radius), i.b[1] = float(border), i.b[2] = float(dash_on), i.b[3] = float(dash_off);
  i.fill = fill.packed();
  i.line = line.packed();
  i.kind = uint32_t(Kind::shape);
  out_.push_back(i);
}

void MeshBuilder::segment(Point p, Point q, double width, Rgba color, double dist0, double dash_on, double dash_off,
                          bool open_start, bool open_end) {
  Instance i;
  i.a[0] = float(p.x), i.a[1] = float(p.y), i.a[2] = float(q.x), i.a[3] = float(q.y);
  i.b[0] = float(width / 2), i.b[1] = float(dist0), i.b[2] = float(dash_on), i.b[3] = float(dash_off);
  i.c[0] = open_start ? 0.f : 1.f, i.c[1] = open_end ? 0.f : 1.f;
  i.line = color.packed();
  i.kind = uint32_t(Kind::segment);
  out_.push_back(i);
}

void MeshBuilder::polyline(const std::vector<Point>& pts, double width, Rgba color, double dash_on, double dash_off) {
  double dist = 0;
  for (size_t k = 1; k < pts.size(); ++k) {
    segment(pts[k - 1], pts[k], width, color, dist, dash_on, dash_off, k > 1, k + 1 < pts.size());
    dist += std::hypot(pts[k].x - pts[k - 1].x, pts[k].y - pts[k - 1].y);
  }
}

size_t MeshBuilder::text(Point at, std::string_view utf8, double size, bool bold, int align, Rgba color) {
  double x = at.x;
  if (align != 0) x -= atlas_.text_width(utf8, size, bold) * (align == 1 ? 0.5 : 1.0);
  float texel = float(size / atlas_.em_texels());
  size_t added = 0;
  for (size_t k = 0; k < utf8.size();) {
    const GlyphAtlas::Glyph& g = atlas_.glyph(GlyphAtlas::next_code_point(utf8, k), bold);
    if (g.visible) {
      Instance i;
      i.a[0] = float(x + g.x0 * size), i.a[1] = float(at.y + g.y0 * size);
      i.a[2] = float((g.x1 - g.x0) * size), i.a[3] = float((g.y1 - g.y0) * size);
      i.b[0] = texel, i.b[1] = atlas_.spread();
      i.c[0] = g.u0, i.c[1] = g.v0, i.c[2] = g.u1, i.c[3] = g.v1;
      i.fill = color.packed();
      i.kind = uint32_t(Kind::glyph);
      out_.push_back(i);
      ++added;
    }
    x += g.advance * size;
  }
  return added;
}

namespace {

double distance_to_segment(Point p, Point a, Point b) {
  double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
  double t = len2 > 0 ? std::clamp(((p.x - a.x) * dx + (p.y - a.y) * dy) / len2, 0.0, 1.0) : 0.0;
  return std::hypot(p.x - a.x - t * dx, p.y - a.y - t * dy);
}

// Douglas-Peucker: a wire runs straight past many nodes as a chain of straight cubics; one long
// segment draws it with a fraction of the instances.
void simplify(const std::vector<Point>& in, size_t i, size_t j, double tol, std::vector<Point>& out) {
  double worst = 0;
  size_t at = i;
  for (size_t k = i + 1; k < j; ++k) {
    double d = distance_to_segment(in[k], in[i], in[j]);
    if (d > worst) worst = d, at = k;
  }
  if (worst > tol) {
    simplify(in, i, at, tol, out);
    simplify(in, at, j, tol, out);
  } else {
    out.push_back(in[j]);
  }
}

Rgba mix(Rgba a, Rgba b, double t) {
  auto m = [&](uint8_t x, uint8_t y) { return uint8_t(std::lround(x + (y - x) * t)); };
  return {m(a.r, b.r), m(a.g, b.g), m(a.b, b.b), 255};
}

// The far-zoom picture (MeshDetail::cell): the scene rasterised on a coarse grid, each cell
// holding the highest-priority item over it, then runs of equal cells merged into rectangles.
// Cells are opaque so overlapping, pixel-widened rectangles never darken each other.
class CellGrid {
 public:
  // Priority order: a later class paints over an earlier one in the same cell.
  enum Class : uint8_t { empty, fence, fence_line, faint_wire, wire, box_muted, box, box_error, count };

  CellGrid(const Scene& s, double cell) : cell_(cell) {
    double x0 = 0, y0 = 0, x1 = std::max(1.0, s.width), y1 = std::max(1.0, s.height);
    auto cover = [&](Rect r) {
      x0 = std::min(x0, r.x), y0 = std::min(y0, r.y), x1 = std::max(x1, r.right()), y1 = std::max(y1, r.bottom());
    };
    for (auto& f : s.fences) cover(stacked(f.r, f.stack));
    for (auto& b : s.boxes) cover(stacked(b.r, b.stack));
    for (auto& w : s.wires)
      for (auto& p : w.pts) cover({p.x, p.y, 0, 0});
    for (auto& sp : s.separators) cover({sp.a.x, sp.a.y, 0, 0}), cover({sp.b.x, sp.b.y, 0, 0});
    // A huge scene with a fine cell would need a huge grid; coarser cells only make it blockier.
    constexpr double kMaxCells = 16e6;
    while (((x1 - x0) / cell_ + 1) * ((y1 - y0) / cell_ + 1) > kMaxCells) cell_ *= 1.5;
    ox_ = x0, oy_ = y0;
    nx_ = int((x1 - x0) / cell_) + 1, ny_ = int((y1 - y0) / cell_) + 1;
    cells_.assign(size_t(nx_) * ny_, empty);
    lo_.assign(ny_, nx_);
    hi_.assign(ny_, -1);
  }

  static Rect stacked(const Rect& r, int stack) {  // the cards behind go up and right by 4 each
    double d = 4.0 * std::max(0, stack - 1);
    return {r.x, r.y - d, r.w + d, r.h + d};
  }

  void rect(const Rect& r, Class c) {
    int ix0 = col(r.x), ix1 = col(r.right()), iy0 = row(r.y), iy1 = row(r.bottom());
    for (int y = iy0; y <= iy1; ++y)
      for (int x = ix0; x <= ix1; ++x) put(x, y, c);
  }

  void segment(Point a, Point b, Class c) {
    // Samples half a cell apart touch every cell the line crosses but a corner clipped by a hair.
    double len = std::hypot(b.x - a.x, b.y - a.y);
    int n = std::max(1, int(std::ceil(len / (cell_ / 2))));
    for (int k = 0; k <= n; ++k) {
      double t = double(k) / n;
      put(col(a.x + (b.x - a.x) * t), row(a.y + (b.y - a.y) * t), c);
    }
  }

  void outline(const Rect& r, Class c) {
    Point p[4] = {{r.x, r.y}, {r.right(), r.y}, {r.right(), r.bottom()}, {r.x, r.bottom()}};
    for (int k = 0; k < 4; ++k) segment(p[k], p[(k + 1) % 4], c);
  }

  double cell() const { return cell_; }

  // Rectangles of equal cells: runs along each row, a run continued down while the rows below
  // have the very same run. Sorted by column band, so consecutive instances lie close together
  // and chunk culling works on wide scenes.
  void emit(std::vector<Instance>& out, const Rgba (&colour)[count]) const {
    struct Run {
      int x0, x1, y0, y1;
      Class c;
    };
    std::vector<Run> open, next, done;
    for (int y = 0; y < ny_; ++y) {
      next.clear();
      const uint8_t* line = &cells_[size_t(y) * nx_];
      size_t o = 0;  // runs of the row above, ordered by x0 like this row's
      for (int x = lo_[y]; x <= hi_[y];) {
        Class c = Class(line[x]);
        int x1 = x;
        while (x1 + 1 <= hi_[y] && line[x1 + 1] == c) ++x1;
        if (c != empty) {
          for (; o < open.size() && open[o].x0 < x; ++o) done.push_back(open[o]);
          if (o < open.size() && open[o].x0 == x && open[o].x1 == x1 && open[o].c == c) {
            next.push_back(open[o++]);
            next.back().y1 = y;
          } else {
            next.push_back({x, x1, y, y, c});
          }
        }
        x = x1 + 1;
      }
      for (; o < open.size(); ++o) done.push_back(open[o]);
      std::swap(open, next);
    }
    done.insert(done.end(), open.begin(), open.end());
    std::stable_sort(done.begin(), done.end(), [](const Run& a, const Run& b) { return a.x0 / 64 < b.x0 / 64; });
    for (const Run& r : done) {
      Instance i;
      i.a[0] = float(ox_ + r.x0 * cell_), i.a[1] = float(oy_ + r.y0 * cell_);
      i.a[2] = float((r.x1 - r.x0 + 1) * cell_), i.a[3] = float((r.y1 - r.y0 + 1) * cell_);
      i.fill = colour[r.c].packed();
      i.kind = uint32_t(Kind::cell);
      out.push_back(i);
    }
  }

 private:
  int col(double x) const { return std::clamp(int(std::floor((x - ox_) / cell_)), 0, nx_ - 1); }
  int row(double y) const { return std::clamp(int(std::floor((y - oy_) / cell_)), 0, ny_ - 1); }
  void put(int x, int y, Class c) {
    uint8_t& v = cells_[size_t(y) * nx_ + x];
    v = std::max<uint8_t>(v, c);
    lo_[y] = std::min(lo_[y], x), hi_[y] = std::max(hi_[y], x);
  }

  double cell_, ox_ = 0, oy_ = 0;
  int nx_ = 1, ny_ = 1;
  std::vector<uint8_t> cells_;
  std::vector<int> lo_, hi_;  // the columns each row was painted between: most of a grid is empty
};

}  // namespace

std::vector<Point> tessellate(const WireItem& w, double tolerance) {
  std::vector<Point> pts;
  if (w.pts.empty()) return pts;
  // Half the tolerance for flattening and half for simplifying, so the sum stays within it.
  double tol = tolerance / 2;
  pts.push_back(w.pts[0]);
  for (size_t i = 1; i + 2 < w.pts.size(); i += 3) {
    Point p0 = w.pts[i - 1], p1 = w.pts[i], p2 = w.pts[i + 1], p3 = w.pts[i + 2];
    // Chord error of n uniform steps is at most (3/4) * max|second difference| / n^2 (Wang's formula).
    double dd = std::max(std::hypot(p0.x - 2 * p1.x + p2.x, p0.y - 2 * p1.y + p2.y),
                         std::hypot(p1.x - 2 * p2.x + p3.x, p1.y - 2 * p2.y + p3.y));
    int n = std::clamp(int(std::ceil(std::sqrt(0.75 * dd / tol))), 1, 64);
    // Wang's bound also counts uneven speed along a straight line; a flat cubic is one segment.
    if (n > 1 && flat(p0, p1, p2, p3, tol)) n = 1;
    for (int k = 1; k < n; ++k) {
      double t = double(k) / n, u = 1 - t;
      double a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
      pts.push_back({a * p0.x + b * p1.x + c * p2.x + d * p3.x, a * p0.y + b * p1.y + c * p2.y + d * p3.y});
    }
    pts.push_back(p3);
  }
  if (pts.size() < 3) return pts;
  std::vector<Point> out{pts[0]};
  simplify(pts, 0, pts.size() - 1, tol, out);
  return out;
}

namespace {

void build_cells(const Scene& s, const Theme& t, double cell, std::vector<Instance>& out) {
  using C = CellGrid;
  CellGrid g(s, cell);
  for (auto& f : s.fences)
    for (int k = f.stack - 1; k >= 0; --k) {
      Rect r{f.r.x + 4 * k, f.r.y - 4 * k, f.r.w, f.r.h};
      g.rect(r, C::fence);
      g.outline(r, C::fence_line);
    }
  // Wires are straight lines between their ends and bends: a cell is far coarser than any curve.
  for (auto& w : s.wires) {
    if (w.pts.empty()) continue;
    auto pts = tessellate(w, g.cell() / 2);
    for (size_t k = 1; k < pts.size(); ++k) g.segment(pts[k - 1], pts[k], w.unknown ? C::faint_wire : C::wire);
  }
  for (auto& sp : s.separators) g.segment(sp.a, sp.b, C::faint_wire);
  for (auto& b : s.boxes) {
    bool drawn = !(b.kind == BoxKind::junction || b.kind == BoxKind::input || b.kind == BoxKind::output);
    if (drawn || b.error) g.rect(CellGrid::stacked(b.r, b.stack), b.error ? C::box_error : b.blocked ? C::box_muted : C::box);
  }
  // A box smaller than a pixel is all border, so it is drawn in its border colour; wires are
  // thinner than a pixel, so they are drawn half-way to the background and boxes stand out.
  Rgba colour[C::count];
  colour[C::empty] = t.desk;
  colour[C::fence] = t.fence;
  colour[C::fence_line] = t.fence_line;
  colour[C::faint_wire] = mix(t.text_dim, t.desk, 0.5);
  colour[C::wire] = mix(t.text, t.desk, 0.5);
  colour[C::box_muted] = t.text_dim;
  colour[C::box] = t.text;
  colour[C::box_error] = t.error;
  g.emit(out, colour);
}

void build_items(const Scene& s, const Theme& t, const GlyphAtlas& atlas, const MeshDetail& detail, std::vector<Instance>& out) {
  MeshBuilder mb(out, atlas);
  auto text = [&](Point at, std::string_view utf8, double size, bool bold, int align, Rgba color) {
    if (detail.text) mb.text(at, utf8, size, bold, align, color);
  };
  auto card = [&](const Rect& r, Rgba fill, Rgba line, double width, double dash = 0) {
    mb.rect(r, kRadius, fill, line, width, dash, dash ? 2 : 0);
  };
  auto cards_behind = [&](const Rect& r, int stack, Rgba fill, Rgba line, double width) {
    for (int k = stack - 1; k >= 1; --k) card({r.x + 4 * k, r.y - 4 * k, r.w, r.h}, fill, line, width);
  };

  for (auto& f : s.fences) {
    cards_behind(f.r, f.stack, t.fence, t.fence_line, kFenceLine);
    card(f.r, t.fence, t.fence_line, kFenceLine);
  }
  for (auto& w : s.wires) {
    if (w.pts.empty()) continue;
    mb.polyline(tessellate(w, detail.tolerance), kWire, w.unknown ? t.text_dim : t.text, w.unknown ? 3 : 0, w.unknown ? 2 : 0);
  }
  for (auto& w : s.wires)
    if (w.show_label && !w.label.empty()) text(w.label_at, w.label, 7, false, 0, w.unknown ? t.text_dim : t.label);
  for (auto& sp : s.separators) mb.segment(sp.a, sp.b, kSeparator, t.text_dim, 0, 3, 2.5);
  for (auto& b : s.boxes) {
    if (b.kind == BoxKind::junction || b.kind == BoxKind::input || b.kind == BoxKind::output) {
      if (b.error) card(b.r, t.error_fill, t.error, 1.5);
      continue;
    }
    if (b.kind == BoxKind::dot) {  // an einsum's contraction: a filled disc
      mb.rect(b.r, b.r.w / 2, t.text, t.text, 0);
      continue;
    }
    Rgba line = b.error ? t.error : b.blocked ? t.text_dim : t.text;
    Rgba fill = b.error ? t.error_fill : t.box_fill;
    double width = b.error ? 2.0 : b.bold ? 2.2 : 1.0;
    cards_behind(b.r, b.stack, fill, line, width);
    card(b.r, fill, line, width, b.blocked ? 3 : 0);
    if (b.kind == BoxKind::block) mb.rect({b.r.x + 3, b.r.y + 3, b.r.w - 6, b.r.h - 6}, 2, kNone, line, 0.7);
  }
  for (auto& x : s.texts) text(x.at, x.text, x.size, x.bold, align_of(x.align), x.error ? t.error : x.muted ? t.text_dim : t.text);
  for (auto& b : s.boxes)
    if (b.marker > 0) {
      double cx = b.r.x + 7, cy = b.r.y + 7;
      mb.rect({cx - 5.5, cy - 5.5, 11, 11}, 5.5, t.error, kNone, 0);
      text({cx, cy + 2.6}, std::to_string(b.marker), 7, true, 1, t.marker_text);
    }
  for (auto& b : s.badges) {
    card(b.r, b.heat >= 0 ? t.badge_heat(b.heat) : t.badge_fill, t.fence_line, 0.6);
    // Same geometry as the cairo renderer: text centred in what the heat cells leave.
    double cells = b.cells.empty() ? 0 : 3 + double(b.cells.size()) * circuit::diagram::kBadgeCell;
    text({b.r.x + (b.r.w - cells) / 2, b.r.y + b.r.h - 3}, b.text, 7.5, false, 1, t.badge_text);
    for (size_t k = 0; k < b.cells.size(); ++k) {
      Rect c{b.r.right() - 3 - double(b.cells.size() - k) * circuit::diagram::kBadgeCell + 0.5, b.r.y + 2, circuit::diagram::kBadgeCell - 1, b.r.h - 4};
      mb.rect(c, 0, t.badge_heat(std::clamp(b.cells[k], 0.0, 1.0)), t.fence_line, 0.4, 0, 0);
    }
  }
}

}  // namespace

Mesh build_mesh(const Scene& s, const Theme& t, const GlyphAtlas& atlas, const MeshDetail& detail) {
  Mesh m;
  const uint32_t chunk_size = std::max<uint32_t>(1, detail.chunk_size);
  if (detail.cell > 0)
    build_cells(s, t, detail.cell, m.instances);
  else
    build_items(s, t, atlas, detail, m.instances);

  for (auto& i : m.instances) {
    Kind k = Kind(i.kind);
    (k == Kind::shape ? m.shapes : k == Kind::segment ? m.segments : k == Kind::glyph ? m.glyphs : m.cells)++;
  }
  for (uint32_t first = 0; first < m.instances.size(); first += chunk_size) {
    Chunk c{first, std::min<uint32_t>(chunk_size, uint32_t(m.instances.size()) - first), bounds_of(m.instances[first])};
    for (uint32_t k = first + 1; k < first + c.count; ++k) c.bounds = unite(c.bounds, bounds_of(m.instances[k]));
    m.chunks.push_back(c);
  }
  return m;
}

std::vector<std::pair<uint32_t, uint32_t>> visible_ranges(const Mesh& m, const Rect& view) {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto& c : m.chunks) {
    if (!c.bounds.overlaps(view)) continue;
    if (!out.empty() && out.back().first + out.back().second == c.first)
      out.back().second += c.count;
    else
      out.push_back({c.first, c.count});
  }
  return out;
}

void add_highlights(std::vector<Instance>& out, const Scene& s, const Theme& t, const GlyphAtlas& atlas,
                    const std::set<std::string>& selection, const std::string& hover) {
  MeshBuilder mb(out, atlas);
  // A ring exactly on the border, wider than it, so the border itself changes colour.
  auto ring = [&](const BoxItem& b, Rgba color, double extra) {
    double width = b.error ? 2.0 : b.bold ? 2.2 : 1.0;
    mb.rect(b.r, kRadius, kNone, color, width + extra);
  };
  for (auto& f : s.fences)
    if (selection.count(f.node)) mb.rect(f.r, kRadius, kNone, t.accent, 1.8);
  for (auto& b : s.boxes) {
    if (b.node.empty()) continue;
    if (selection.count(b.node))
      ring(b, t.accent, 1.6);
    else if (b.node == hover)
      ring(b, t.hover, 1.0);
  }
}

std::string node_at(const Scene& s, Point p) {
  if (auto* b = box_at(s, p)) return b->node;
  const circuit::diagram::FenceItem* best = nullptr;
  for (auto& f : s.fences)  // the fence's top strip holds its title: grabbing it selects the block
    if (!f.node.empty() && inside({f.r.x, f.r.y, f.r.w, 16}, p) && (!best || f.r.w * f.r.h < best->r.w * best->r.h)) best = &f;
  return best ? best->node : std::string();
}

const BoxItem* box_at(const Scene& s, Point p) {
  for (auto it = s.boxes.rbegin(); it != s.boxes.rend(); ++it)
    if (!it->node.empty() && inside(it->r, p)) return &*it;
  return nullptr;
}

std::set<std::string> nodes_in(const Scene& s, const Rect& r) {
  std::set<std::string> out;
  for (auto& b : s.boxes)
    if (!b.node.empty() && b.r.overlaps(r)) out.insert(b.node);
  return out;
}

}  // namespace studio::canvas
