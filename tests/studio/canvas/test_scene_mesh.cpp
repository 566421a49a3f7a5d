// scene_mesh and glyph_atlas without a GPU: hit testing, curve tessellation, the instances each
// scene item becomes, culling ranges.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "diagram/text_metrics.h"
#include "studio/canvas/glyph_atlas.h"
#include "studio/canvas/scene_mesh.h"

namespace studio::canvas {
namespace {

using namespace circuit::diagram;

BoxItem box(std::string node, Rect r, BoxKind kind = BoxKind::op) {
  BoxItem b;
  b.node = std::move(node);
  b.r = r;
  b.kind = kind;
  return b;
}

Point bezier(Point p0, Point p1, Point p2, Point p3, double t) {
  double u = 1 - t, a = u * u * u, b = 3 * u * u * t, c = 3 * u * t * t, d = t * t * t;
  return {a * p0.x + b * p1.x + c * p2.x + d * p3.x, a * p0.y + b * p1.y + c * p2.y + d * p3.y};
}

size_t count_kind(const std::vector<Instance>& v, Kind k) {
  size_t n = 0;
  for (auto& i : v) n += i.kind == uint32_t(k);
  return n;
}

// WCAG contrast ratio of two colours (1 to 21).
double contrast(Rgba a, Rgba b) {
  auto lum = [](Rgba c) {
    auto lin = [](uint8_t v) {
      double x = v / 255.0;
      return x <= 0.04045 ? x / 12.92 : std::pow((x + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * lin(c.r) + 0.7152 * lin(c.g) + 0.0722 * lin(c.b);
  };
  double la = lum(a), lb = lum(b);
  return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

// The far-zoom picture: the cell instances covering scene point `p` (cells never overlap).
std::vector<const Instance*> cells_at(const Mesh& m, Point p) {
  std::vector<const Instance*> v;
  for (auto& i : m.instances)
    if (p.x >= i.a[0] && p.x < i.a[0] + i.a[2] && p.y >= i.a[1] && p.y < i.a[1] + i.a[3]) v.push_back(&i);
  return v;
}

TEST(SceneMesh, FarLevelIsAMergedPictureOfBoxesOverWires) {
  Scene s;
  // A long chain of boxes joined by wires, a fence around the first few and an error box.
  for (int i = 0; i < 200; ++i) {
    s.boxes.push_back(box("n" + std::to_string(i), {i * 100.0, 50, 60, 24}));
    if (i > 0) {
      WireItem w;
      double x0 = (i - 1) * 100.0 + 60, x1 = i * 100.0;
      w.pts = {{x0, 62}, {x0 + 10, 62}, {x1 - 10, 62}, {x1, 62}};
      s.wires.push_back(w);
    }
  }
  s.boxes[150].error = true;
  WireItem far;  // a wire far below the boxes, alone in its cells
  far.pts = {{0, 2000}, {5000, 2000}, {10000, 2000}, {15000, 2000}};
  s.wires.push_back(far);
  FenceItem f;
  f.r = {-20, 0, 500, 120};
  s.fences = {f};
  s.width = 20000, s.height = 2100;
  Theme t = Theme::light();
  for (double cell : {20.0, 160.0}) {
    SCOPED_TRACE(cell);
    Mesh m = build_mesh(s, t, GlyphAtlas::shared(), {.text = false, .cell = cell});
    ASSERT_GT(m.cells, 0u);
    EXPECT_EQ(m.cells, m.instances.size());  // nothing but cells: no borders, stacks or text
    for (auto& i : m.instances) EXPECT_EQ(i.fill >> 24, 255u) << "cells are opaque";
    // Every box centre is covered by exactly one cell, in the box's border colour (a cell shared
    // with the error box is red: errors must not vanish when zoomed out).
    for (auto& b : s.boxes) {
      auto c = cells_at(m, {b.r.x + b.r.w / 2, b.r.y + b.r.h / 2});
      ASSERT_EQ(c.size(), 1u) << b.node;
      if (b.error || cell < 60)
        EXPECT_EQ(c[0]->fill, (b.error ? t.error : t.text).packed()) << b.node;
      else
        EXPECT_TRUE(c[0]->fill == t.text.packed() || c[0]->fill == t.error.packed()) << b.node;
    }
    // A lone wire is drawn, lighter than the boxes; empty space is not drawn at all.
    auto w = cells_at(m, {7000, 2000});
    ASSERT_EQ(w.size(), 1u);
    EXPECT_NE(w[0]->fill, t.text.packed());
    EXPECT_NE(w[0]->fill, t.desk.packed());
    EXPECT_TRUE(cells_at(m, {7000, 1000}).empty());
  }
  // The fence shows as its fill where nothing is over it, and its outline where that runs.
  Mesh fine = build_mesh(s, t, GlyphAtlas::shared(), {.text = false, .cell = 20});
  auto inside_fence = cells_at(fine, {230, 30});
  ASSERT_EQ(inside_fence.size(), 1u);
  EXPECT_EQ(inside_fence[0]->fill, t.fence.packed());
  auto fence_edge = cells_at(fine, {230, 1});
  ASSERT_EQ(fence_edge.size(), 1u);
  EXPECT_EQ(fence_edge[0]->fill, t.fence_line.packed());
  // Merging: at a cell of 160 the 200 boxes along one row are a handful of rectangles.
  EXPECT_LT(build_mesh(s, t, GlyphAtlas::shared(), {.text = false, .cell = 160}).cells, 60u);
}

TEST(SceneMesh, HeatBadgeTextIsReadableInBothThemes) {
  Scene s;
  for (double h : {0.0, 0.25, 0.5, 0.75, 1.0}) {
    BadgeItem b;
    b.r = {h * 400, 0, 60, 14};
    b.text = "12 M";
    b.heat = h;
    s.badges.push_back(b);
  }
  for (const Theme& t : {Theme::light(), Theme::dark_theme()}) {
    SCOPED_TRACE(t.dark ? "dark" : "light");
    Mesh m = build_mesh(s, t, GlyphAtlas::shared());
    Rgba fill{}, ink{};
    for (auto& i : m.instances) {
      auto unpack = [](uint32_t p) { return Rgba{uint8_t(p), uint8_t(p >> 8), uint8_t(p >> 16), uint8_t(p >> 24)}; };
      if (i.kind == uint32_t(Kind::shape)) fill = unpack(i.fill);
      if (i.kind != uint32_t(Kind::glyph)) continue;
      ink = unpack(i.fill);
      EXPECT_GE(contrast(ink, fill), 4.5) << int(fill.r) << "," << int(fill.g) << "," << int(fill.b);
    }
    // The badge colours still say hot or cold: they differ from the plain badge and each other.
    EXPECT_NE(t.badge_heat(0), t.badge_heat(1));
    EXPECT_NE(t.badge_heat(1), t.badge_fill);
    EXPECT_GT(int(t.badge_heat(1).r) - int(t.badge_heat(1).b), 60) << "hot is red";
  }
}

// An MoE node's load per expert: one heat-coloured square per cell, after the badge and its text.
TEST(SceneMesh, BadgeCellsAreHeatSquares) {
  Scene s;
  BadgeItem b;
  b.r = {0, 0, 80, 11};
  b.text = "MaxVio 0.4";
  s.badges.push_back(b);
  const Theme& t = Theme::light();
  size_t plain = build_mesh(s, t, GlyphAtlas::shared()).instances.size();
  s.badges[0].cells = {0.0, 0.5, 1.0};
  Mesh m = build_mesh(s, t, GlyphAtlas::shared());
  ASSERT_EQ(m.instances.size(), plain + 3);
  for (size_t k = 0; k < 3; ++k) {
    const Instance& cell = m.instances[plain + k];
    EXPECT_EQ(cell.kind, uint32_t(Kind::shape));
    EXPECT_EQ(cell.fill, t.badge_heat(0.5 * double(k)).packed()) << k;
  }
}

TEST(SceneMesh, NodeAtFindsTheTopmostBoxAndNothingOutside) {
  Scene s;
  s.boxes = {box("a", {10, 10, 40, 20}), box("b", {40, 15, 40, 20}), box("", {200, 200, 10, 10}, BoxKind::junction)};
  FenceItem f;
  f.r = {0, 100, 300, 200};
  f.node = "blk";
  s.fences = {f};
  EXPECT_EQ(node_at(s, {20, 20}), "a");
  EXPECT_EQ(node_at(s, {45, 20}), "b");  // a and b overlap: b is drawn later, so it is on top
  EXPECT_EQ(node_at(s, {75, 30}), "b");
  EXPECT_EQ(node_at(s, {5, 5}), "");
  EXPECT_EQ(node_at(s, {205, 205}), "");  // an anonymous box is not a node
  EXPECT_EQ(node_at(s, {150, 105}), "blk");  // the fence's title strip
  EXPECT_EQ(node_at(s, {150, 250}), "");     // inside the fence but not on its title: empty space
  EXPECT_EQ(nodes_in(s, {0, 0, 35, 40}), (std::set<std::string>{"a"}));
  EXPECT_EQ(nodes_in(s, {0, 0, 100, 40}), (std::set<std::string>{"a", "b"}));
  EXPECT_TRUE(nodes_in(s, {500, 500, 10, 10}).empty());
}

TEST(SceneMesh, TessellationStartsAndEndsOnTheWireAndFollowsTheCurve) {
  WireItem w;
  w.pts = {{0, 0}, {0, 50}, {100, 50}, {100, 100}, {100, 150}, {0, 150}, {0, 200}};
  double tol = 0.05;
  auto pts = tessellate(w, tol);
  ASSERT_GE(pts.size(), 8u);
  EXPECT_EQ(pts.front().x, 0);
  EXPECT_EQ(pts.front().y, 0);
  EXPECT_EQ(pts.back().x, 0);
  EXPECT_EQ(pts.back().y, 200);
  // Every point of both cubics lies within the tolerance of the polyline.
  auto to_polyline = [&](Point c) {
    double best = 1e9;
    for (size_t k = 0; k + 1 < pts.size(); ++k) {
      Point a = pts[k], b = pts[k + 1];
      double dx = b.x - a.x, dy = b.y - a.y, len2 = dx * dx + dy * dy;
      double t = len2 > 0 ? std::clamp(((c.x - a.x) * dx + (c.y - a.y) * dy) / len2, 0.0, 1.0) : 0.0;
      best = std::min(best, std::hypot(c.x - a.x - t * dx, c.y - a.y - t * dy));
    }
    return best;
  };
  for (int seg = 0; seg < 2; ++seg)
    for (double t = 0; t <= 1; t += 0.01) {
      Point c = bezier(w.pts[3 * seg], w.pts[3 * seg + 1], w.pts[3 * seg + 2], w.pts[3 * seg + 3], t);
      EXPECT_LT(to_polyline(c), tol) << "segment " << seg << " t " << t;
    }
  // A wire running straight through several cubics is one segment.
  WireItem run;
  run.pts = {{0, 0}, {10, 0}, {20, 0}, {30, 0}, {40, 0}, {50, 0}, {60, 0}};
  EXPECT_EQ(tessellate(run).size(), 2u);
  WireItem straight;
  straight.pts = {{0, 0}, {0, 10}, {0, 20}, {0, 30}};
  EXPECT_EQ(tessellate(straight).size(), 2u);  // no curvature: one segment
  straight.pts = {{0, 0}, {1, 0}, {29, 0}, {30, 0}};
  EXPECT_EQ(tessellate(straight).size(), 2u);  // uneven speed along a straight line: still one
}

TEST(SceneMesh, WiresBecomeSegmentsDashedWhenUnknown) {
  Scene s;
  WireItem w;
  w.pts = {{0, 0}, {0, 50}, {100, 50}, {100, 100}};
  s.wires = {w, w};
  s.wires[1].unknown = true;
  Theme t = Theme::light();
  Mesh m = build_mesh(s, t, GlyphAtlas::shared());
  size_t per_wire = tessellate(w).size() - 1;
  ASSERT_EQ(m.segments, 2 * per_wire);
  const Instance& solid = m.instances[0];
  const Instance& dashed = m.instances[per_wire];
  EXPECT_EQ(solid.b[2], 0);
  EXPECT_EQ(solid.line, t.text.packed());
  EXPECT_GT(dashed.b[2], 0);
  EXPECT_EQ(dashed.line, t.text_dim.packed());
  // The dash pattern runs on across segments: each starts where the previous ended.
  const Instance& next = m.instances[per_wire + 1];
  EXPECT_NEAR(next.b[1], std::hypot(dashed.a[2] - dashed.a[0], dashed.a[3] - dashed.a[1]), 1e-3);
  // The strip joins the wire's ends exactly.
  EXPECT_EQ(solid.a[0], 0);
  EXPECT_EQ(m.instances[per_wire - 1].a[2], 100);
  EXPECT_EQ(m.instances[per_wire - 1].a[3], 100);
}

TEST(SceneMesh, TextBecomesOneQuadPerVisibleGlyph) {
  const GlyphAtlas& atlas = GlyphAtlas::shared();
  ASSERT_TRUE(atlas.error().empty()) << atlas.error();
  Scene s;
  TextItem a;
  a.at = {100, 100};
  a.text = "ab c";  // the space advances but draws nothing
  TextItem b = a;
  b.text = "d_model ×4";
  b.align = Align::center;
  b.bold = true;
  s.texts = {a, b};
  WireItem w;
  w.pts = {{0, 0}, {0, 1}, {0, 2}, {0, 3}};
  w.label = "seq";
  w.show_label = true;
  s.wires = {w};
  Mesh m = build_mesh(s, Theme::light(), atlas);
  EXPECT_EQ(m.glyphs, 3u + 9u + 3u);
  // Centred text is centred on its anchor: its quads span both sides equally (within a glyph's bearing).
  double lo = 1e9, hi = -1e9;
  for (auto& i : m.instances)
    if (i.kind == uint32_t(Kind::glyph) && i.a[1] < 100 && i.fill == Theme::light().text.packed() && i.a[0] > 40) {
      lo = std::min<double>(lo, i.a[0]);
      hi = std::max<double>(hi, i.a[0] + i.a[2]);
    }
  EXPECT_NEAR((lo + hi) / 2, 100, 2.0);
  // The zoomed-out level of detail drops text altogether.
  EXPECT_EQ(build_mesh(s, Theme::light(), atlas, {.tolerance = 1, .text = false}).glyphs, 0u);
  // The atlas measures like the layout (both are DejaVu Sans), so text fits its boxes.
  for (const char* t : {"layer_norm", "Attention 8 heads", "W 256→1024"})
    for (bool bold : {false, true})
      EXPECT_NEAR(atlas.text_width(t, 9, bold), text_width(t, 9, bold), 0.02 * text_width(t, 9, bold)) << t;
}

TEST(SceneMesh, BoxesAreStyledByKind) {
  Scene s;
  BoxItem op = box("op", {0, 0, 50, 20});
  BoxItem learned = box("lin", {100, 0, 50, 20});
  learned.bold = true;
  BoxItem block = box("blk", {200, 0, 50, 20}, BoxKind::block);
  BoxItem experts = box("ex", {300, 0, 50, 20}, BoxKind::experts);
  experts.stack = 3;
  BoxItem err = box("bad", {400, 0, 50, 20});
  err.error = true;
  err.marker = 1;
  BoxItem blocked = box("blocked", {500, 0, 50, 20});
  blocked.blocked = true;
  BoxItem junction = box("j", {600, 0, 10, 10}, BoxKind::junction);
  s.boxes = {op, learned, block, experts, err, blocked, junction};
  Theme t = Theme::light();
  Mesh m = build_mesh(s, t, GlyphAtlas::shared());
  auto& v = m.instances;
  // op 1, learned 1, block 2 (double border), experts 3 cards, error 1 + marker, blocked 1, junction 0
  ASSERT_EQ(m.shapes, 1u + 1 + 2 + 3 + 1 + 1 + 1);
  EXPECT_EQ(v[0].b[1], 1.0f);
  EXPECT_EQ(v[1].b[1], 2.2f);                  // learned: bold border
  EXPECT_EQ(v[3].a[0], 203.0f);                // the block's inner border
  EXPECT_EQ(v[4].a[0], 308.0f);                // the experts' back card, offset up and right
  EXPECT_EQ(v[4].a[1], -8.0f);
  EXPECT_EQ(v[7].line, t.error.packed());      // error box
  EXPECT_EQ(v[7].fill, t.error_fill.packed());
  EXPECT_GT(v[8].b[2], 0);                     // blocked: dashed border
  EXPECT_EQ(v[8].line, t.text_dim.packed());
  EXPECT_EQ(count_kind(v, Kind::glyph), 1u);   // the marker's number
  // Dark theme: same instances, other colours.
  Mesh d = build_mesh(s, Theme::dark_theme(), GlyphAtlas::shared());
  ASSERT_EQ(d.instances.size(), v.size());
  EXPECT_NE(d.instances[0].fill, v[0].fill);
  EXPECT_EQ(d.instances[0].b[1], v[0].b[1]);
}

TEST(SceneMesh, CullingKeepsOrderAndSkipsFarChunks) {
  Scene s;
  for (int i = 0; i < 1000; ++i) s.boxes.push_back(box("n" + std::to_string(i), {0, i * 30.0, 50, 20}));
  Mesh m = build_mesh(s, Theme::light(), GlyphAtlas::shared(), {.chunk_size = 64});
  ASSERT_EQ(m.chunks.size(), (1000 + 63) / 64);
  auto all = visible_ranges(m, {-10, -10, 100, 31000});
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(all[0].first, 0u);
  EXPECT_EQ(all[0].second, 1000u);
  auto some = visible_ranges(m, {0, 3000, 50, 100});  // boxes 100..103
  ASSERT_EQ(some.size(), 1u);
  EXPECT_LE(some[0].first, 100u);
  EXPECT_GE(some[0].first + some[0].second, 104u);
  EXPECT_LE(some[0].second, 128u);
  EXPECT_TRUE(visible_ranges(m, {1000, 0, 10, 10}).empty());
}

TEST(SceneMesh, HighlightsRingTheSelectedAndHoveredBoxes) {
  Scene s;
  s.boxes = {box("a", {0, 0, 50, 20}), box("b", {100, 0, 50, 20}), box("c", {200, 0, 50, 20})};
  Theme t = Theme::light();
  std::vector<Instance> v;
  add_highlights(v, s, t, GlyphAtlas::shared(), {"a"}, "b");
  ASSERT_EQ(v.size(), 2u);
  EXPECT_EQ(v[0].line, t.accent.packed());
  EXPECT_EQ(v[0].a[0], 0);
  EXPECT_GT(v[0].b[1], 1.0f);  // wider than the border it covers
  EXPECT_EQ(v[1].line, t.hover.packed());
  EXPECT_EQ(v[1].a[0], 100);
}

}  // namespace
}  // namespace studio::canvas
