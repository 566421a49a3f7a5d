// The canvas on a real Vulkan device: every example is drawn, grabbed, saved as a screenshot and
// checked at pixels that a broken renderer would get wrong (boxes, empty space, selection, zoom,
// dark theme, red/blue order).
#include <gtest/gtest.h>

#include <QCoreApplication>
#include <QDir>
#include <QElapsedTimer>
#include <QKeyEvent>
#include <QMouseEvent>
#include <QWheelEvent>
#include <algorithm>
#include <cmath>
#include <filesystem>

#include "canvas_test_env.h"
#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "diagram/diagram.h"
#include "generated_circuits.h"
#include "studio/canvas/canvas_window.h"
#include "../../example_files.h"

namespace {

using circuit::diagram::BoxItem;
using circuit::diagram::BoxKind;
using circuit::diagram::Scene;
using studio::DiagramCanvas;
using studio::canvas::Rgba;
using studio::canvas::Theme;


Scene scene_of(const std::string& path) {
  auto c = circuit::load_circuit(path);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  if (!c.ok()) return {};
  return circuit::diagram::build_scene(*c, circuit::analyze(*c));
}

std::string stem(const std::string& file) { return file.substr(0, file.find('.')); }

void save(const QImage& img, const std::string& name) {
  QString dir = qEnvironmentVariable("CIRCUIT_SCREENSHOTS");
  if (dir.isEmpty()) return;
  QDir().mkpath(dir);
  EXPECT_TRUE(img.save(dir + "/" + QString::fromStdString(name) + ".png")) << name;
}

int distance(QRgb p, Rgba c) { return std::abs(qRed(p) - c.r) + std::abs(qGreen(p) - c.g) + std::abs(qBlue(p) - c.b); }

// WCAG contrast ratio of two pixels (1 to 21).
double contrast(QRgb a, QRgb b) {
  auto lum = [](QRgb c) {
    auto lin = [](int v) {
      double x = v / 255.0;
      return x <= 0.04045 ? x / 12.92 : std::pow((x + 0.055) / 1.055, 2.4);
    };
    return 0.2126 * lin(qRed(c)) + 0.7152 * lin(qGreen(c)) + 0.0722 * lin(qBlue(c));
  };
  double la = lum(a), lb = lum(b);
  return (std::max(la, lb) + 0.05) / (std::min(la, lb) + 0.05);
}

bool drawn_box(const BoxItem& b) { return !(b.kind == BoxKind::junction || b.kind == BoxKind::input || b.kind == BoxKind::output); }

// The biggest drawn op box (drawn boxes have a border and a fill; junctions/inputs do not).
const BoxItem* biggest_op(const Scene& s) {
  const BoxItem* best = nullptr;
  for (auto& b : s.boxes)
    if ((b.kind == BoxKind::op || b.kind == BoxKind::block) && !b.error && (!best || b.r.w * b.r.h > best->r.w * best->r.h)) best = &b;
  return best;
}

class CanvasGui : public ::testing::Test {
 protected:
  // transformer_block on the canvas, zoomed 4x on its largest op box (borders several pixels
  // wide, for colour checks); the box, or null.
  const BoxItem* zoom_on_biggest_op() {
    focus = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/transformer_block.circuit.json");
    const BoxItem* b = biggest_op(focus);
    if (!b) return nullptr;
    canvas.set_scene(focus);
    canvas.set_view(4, {b->r.x + b->r.w / 2, b->r.y + b->r.h / 2});
    return b;
  }
  Scene focus;
  void SetUp() override {
    QString problem = DiagramCanvas::vulkan_problem(canvas_test::vulkan());
    ASSERT_TRUE(problem.isEmpty()) << problem.toStdString();
    canvas.setVulkanInstance(&canvas_test::vulkan());
    canvas.resize(900, 640);
    canvas.show();
    // The counter lives as long as the canvas: the connection outlives SetUp, and every later
    // frame still counts (a local here was written after SetUp returned, over the test's stack).
    QObject::connect(&canvas, &DiagramCanvas::frame_time, [this](double) { ++frames; });
    QElapsedTimer t;
    t.start();
    while ((!canvas.isExposed() || frames == 0) && t.elapsed() < 20000) {
      canvas.requestUpdate();
      QCoreApplication::processEvents(QEventLoop::AllEvents, 50);
    }
    ASSERT_TRUE(canvas.isExposed()) << "the canvas window was never exposed";
    ASSERT_GT(frames, 0) << "the canvas never rendered a frame";
    ASSERT_TRUE(canvas.supportsGrab());
  }

  QImage grab() {
    QImage img = canvas.grab_image();
    EXPECT_FALSE(img.isNull());
    return img;
  }

  QRgb at(const QImage& img, QPointF scene_pos) {
    QPoint p = canvas.to_window(scene_pos).toPoint();
    EXPECT_TRUE(img.rect().contains(p)) << p.x() << "," << p.y();
    return img.rect().contains(p) ? img.pixel(p) : 0;
  }

  int frames = 0;  // frames rendered since SetUp
  DiagramCanvas canvas;
};

TEST_F(CanvasGui, EveryExampleIsDrawn) {
  Theme light = Theme::light();
  for (const auto& file : example_files()) {
    SCOPED_TRACE(file);
    Scene s = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/" + file);
    ASSERT_FALSE(s.boxes.empty());
    canvas.set_scene(s);
    canvas.frame_all();
    QImage img = grab();
    ASSERT_EQ(img.size(), canvas.size() * canvas.devicePixelRatio());
    save(img, "canvas_" + stem(file));

    // Empty space: the window corner lies outside the scene and shows the background.
    QPointF corner = canvas.to_scene({1, 1});
    EXPECT_TRUE(corner.x() < 0 || corner.y() < 0);
    EXPECT_LE(distance(img.pixel(1, 1), light.desk), 3);
    // Every drawn box's centre is box, not background: most of a 5x5 block around it (one pixel
    // alone may be a text edge that happens to blend to the background's grey).
    for (auto& b : s.boxes) {
      if (b.kind == BoxKind::junction || b.kind == BoxKind::input || b.kind == BoxKind::output) continue;
      QPoint c = canvas.to_window({b.r.x + b.r.w / 2, b.r.y + b.r.h / 2}).toPoint();
      int boxy = 0;
      for (int dy = -2; dy <= 2; ++dy)
        for (int dx = -2; dx <= 2; ++dx)
          if (img.rect().contains(c + QPoint(dx, dy))) boxy += distance(img.pixel(c + QPoint(dx, dy)), light.desk) > 12;
      EXPECT_GE(boxy, 13) << b.node << " at " << b.r.x << "," << b.r.y << " " << b.r.w << "x" << b.r.h;
    }
    // Something is drawn: a real share of the pixels differ from the background.
    int drawn = 0;
    for (int y = 0; y < img.height(); y += 3)
      for (int x = 0; x < img.width(); x += 3) drawn += distance(img.pixel(x, y), light.desk) > 12;
    EXPECT_GT(drawn, img.width() * img.height() / 9 / 100);  // wide diagrams leave most of the window empty
  }
}

TEST_F(CanvasGui, SelectionRecoloursTheBoxBorderInTrueColours) {
  const BoxItem* b = zoom_on_biggest_op();
  ASSERT_NE(b, nullptr);
  QPointF border{b->r.x, b->r.y + b->r.h / 2};  // the middle of the left edge
  QImage before = grab();
  canvas.set_selection({b->node});
  QImage after = grab();
  save(after, "canvas_selected");
  QRgb p0 = at(before, border), p1 = at(after, border);
  Theme t = Theme::light();
  EXPECT_LE(distance(p0, t.text), 60) << "the border is drawn in ink";
  EXPECT_LE(distance(p1, t.accent), 40) << "the selected border is drawn in the accent colour";
  // The accent is blue: a red/blue swap in the grab would show it orange.
  EXPECT_GT(int(qBlue(p1)), int(qRed(p1)) + 100);
  EXPECT_EQ(canvas.selection(), std::set<std::string>{b->node});
  EXPECT_EQ(canvas.node_at(canvas.to_window({b->r.x + b->r.w / 2, b->r.y + b->r.h / 2})), b->node);
}

// Width in pixels of the box around window point `p` along its row: the run of pixels that are
// neither the background nor the fence colour.
int run_width(const QImage& img, QPoint p, const Theme& t) {
  auto empty = [&](int x) { return distance(img.pixel(x, p.y()), t.desk) <= 6 || distance(img.pixel(x, p.y()), t.fence) <= 6; };
  int l = p.x(), r = p.x();
  while (l > 0 && !empty(l - 1)) --l;
  while (r < img.width() - 1 && !empty(r + 1)) ++r;
  return r - l + 1;
}

TEST_F(CanvasGui, ZoomScalesBoxesProportionally) {
  Scene s = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/mlp.circuit.json");
  const BoxItem* b = biggest_op(s);
  ASSERT_NE(b, nullptr);
  canvas.set_scene(s);
  QPointF c{b->r.x + b->r.w / 2, b->r.y + b->r.h / 2};
  Theme t = Theme::light();
  std::vector<int> widths;
  for (double z : {1.0, 2.0, 3.0}) {
    canvas.set_view(z, c);
    QImage img = grab();
    save(img, "canvas_zoom_" + std::to_string(int(z)));
    int w = run_width(img, canvas.to_window(c).toPoint(), t);
    // The border is stroked on the outline (half outside), so allow the border and antialiasing.
    EXPECT_NEAR(w, b->r.w * z, 3 + 2.2 * z) << "zoom " << z;
    widths.push_back(w);
  }
  EXPECT_NEAR(double(widths[1]) / widths[0], 2.0, 0.15);
  EXPECT_NEAR(double(widths[2]) / widths[0], 3.0, 0.2);
}

TEST_F(CanvasGui, DarkThemeHasADarkBackgroundAndTheSameLayout) {
  Scene s = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/moe_transformer_block.circuit.json");
  canvas.set_scene(s);
  canvas.frame_all();
  canvas.set_dark(true);
  QImage img = grab();
  save(img, "canvas_dark_moe_transformer_block");
  QRgb bg = img.pixel(1, 1);
  EXPECT_LT(qGray(bg), 60);
  Theme d = Theme::dark_theme();
  const BoxItem* b = biggest_op(s);
  ASSERT_NE(b, nullptr);
  EXPECT_GT(distance(at(img, {b->r.x + b->r.w / 2, b->r.y + b->r.h / 2}), d.desk), 12);
  canvas.set_dark(false);
  EXPECT_GT(qGray(grab().pixel(1, 1)), 200);
}

TEST_F(CanvasGui, ErrorsAreDrawnInTheErrorColour) {
  Scene s = scene_of(CIRCUIT_SOURCE_DIR "/tests/data/broken/shape_mismatch.circuit.json");
  const BoxItem* bad = nullptr;
  for (auto& b : s.boxes)
    if (b.error) bad = &b;
  ASSERT_NE(bad, nullptr);
  canvas.set_scene(s);
  canvas.set_view(4, {bad->r.x + bad->r.w / 2, bad->r.y + bad->r.h / 2});
  QImage img = grab();
  save(img, "canvas_error");
  QRgb border = at(img, {bad->r.x, bad->r.y + bad->r.h / 2});
  EXPECT_LE(distance(border, Theme::light().error), 40);
  EXPECT_GT(int(qRed(border)), int(qBlue(border)) + 100);
}

// Gestures through real Qt events: click selects, Ctrl-click toggles, a rubber band selects what
// it covers, Esc clears, a drag from a box's right edge onto another asks to connect them, the
// wheel zooms about the cursor.
TEST_F(CanvasGui, GesturesSelectConnectAndZoom) {
  Scene s = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/mlp.circuit.json");
  canvas.set_scene(s);
  canvas.frame_all();
  std::vector<const BoxItem*> ops;
  for (auto& b : s.boxes)
    if (b.kind == BoxKind::op) ops.push_back(&b);
  ASSERT_GE(ops.size(), 2u);
  QStringList last;
  int changes = 0;
  QString from, to;
  QObject scope;  // goes first, with the connections, so no signal reaches the locals once they are gone
  QObject::connect(&canvas, &DiagramCanvas::selection_changed, &scope, [&](QStringList l) { last = l, ++changes; });
  QObject::connect(&canvas, &DiagramCanvas::connect_requested, &scope, [&](QString a, QString b) { from = a, to = b; });
  auto mouse = [&](QEvent::Type type, QPointF pos, Qt::KeyboardModifiers mods = Qt::NoModifier) {
    Qt::MouseButtons buttons = type == QEvent::MouseButtonRelease ? Qt::NoButton : Qt::LeftButton;
    QMouseEvent e(type, pos, canvas.mapToGlobal(pos), Qt::LeftButton, buttons, mods);
    QCoreApplication::sendEvent(&canvas, &e);
  };
  auto centre = [&](const BoxItem* b) { return canvas.to_window({b->r.x + b->r.w / 2, b->r.y + b->r.h / 2}); };

  mouse(QEvent::MouseButtonPress, centre(ops[0]));
  mouse(QEvent::MouseButtonRelease, centre(ops[0]));
  EXPECT_EQ(canvas.selection(), std::set<std::string>{ops[0]->node});
  EXPECT_EQ(last, QStringList{QString::fromStdString(ops[0]->node)});
  mouse(QEvent::MouseButtonPress, centre(ops[1]), Qt::ControlModifier);
  mouse(QEvent::MouseButtonRelease, centre(ops[1]), Qt::ControlModifier);
  EXPECT_EQ(canvas.selection().size(), 2u);
  QKeyEvent esc(QEvent::KeyPress, Qt::Key_Escape, Qt::NoModifier);
  QCoreApplication::sendEvent(&canvas, &esc);
  EXPECT_TRUE(canvas.selection().empty());
  EXPECT_TRUE(last.isEmpty());

  // Rubber band over the whole window: every op is selected.
  mouse(QEvent::MouseButtonPress, {2, 2});
  mouse(QEvent::MouseMove, {canvas.width() / 2.0, canvas.height() / 2.0});
  EXPECT_FALSE(grab().isNull());  // the band is drawn mid-drag without trouble
  mouse(QEvent::MouseButtonRelease, {canvas.width() - 2.0, canvas.height() - 2.0});
  for (auto* b : ops) EXPECT_TRUE(canvas.selection().count(b->node)) << b->node;

  // Drag from the first box's right edge onto the second.
  QPointF edge = canvas.to_window({ops[0]->r.right() - 0.5, ops[0]->r.y + ops[0]->r.h / 2});
  mouse(QEvent::MouseButtonPress, edge);
  mouse(QEvent::MouseMove, centre(ops[1]));
  save(grab(), "canvas_connect_drag");
  mouse(QEvent::MouseButtonRelease, centre(ops[1]));
  EXPECT_EQ(from.toStdString(), ops[0]->node);
  EXPECT_EQ(to.toStdString(), ops[1]->node);

  // Wheel: zooms in, and the scene point under the cursor stays put.
  QPointF cursor = centre(ops[1]) + QPointF(13, 7);
  QPointF under = canvas.to_scene(cursor);
  double z = canvas.zoom();
  QWheelEvent wheel(cursor, canvas.mapToGlobal(cursor), QPoint(), QPoint(0, 240), Qt::NoButton, Qt::NoModifier, Qt::NoScrollPhase, false);
  QCoreApplication::sendEvent(&canvas, &wheel);
  EXPECT_GT(canvas.zoom(), z * 1.2);
  QPointF after = canvas.to_scene(cursor);
  EXPECT_NEAR(after.x(), under.x(), 1e-6);
  EXPECT_NEAR(after.y(), under.y(), 1e-6);
}

// Zoomed far out the canvas draws a merged picture (boxes as blocks in their border colour, wires
// lighter): every box must still show where it is, within a pixel.
class FarZoom : public CanvasGui {
 protected:
  // Boxes in view whose centre has no pixel of the box colour within a pixel of it.
  std::vector<std::string> missing_boxes(const QImage& img, const Scene& s, Rgba box_colour, int* checked) {
    std::vector<std::string> missing;
    *checked = 0;
    for (auto& b : s.boxes) {
      if (!drawn_box(b) || b.error) continue;
      QPoint c = canvas.to_window({b.r.x + b.r.w / 2, b.r.y + b.r.h / 2}).toPoint();
      if (!img.rect().adjusted(1, 1, -1, -1).contains(c)) continue;
      ++*checked;
      bool found = false;
      for (int dy = -1; dy <= 1 && !found; ++dy)
        for (int dx = -1; dx <= 1 && !found; ++dx) found = distance(img.pixel(c + QPoint(dx, dy)), box_colour) <= 40;
      if (!found) missing.push_back(b.node);
    }
    return missing;
  }
};

TEST_F(FarZoom, TheWhole2000NodeDiagramShowsEveryBox) {
  circuit::Circuit c = bench::transformer(250);
  Scene s = circuit::diagram::build_scene(c, circuit::analyze(c));
  canvas.set_scene(s);
  canvas.frame_all();
  ASSERT_LT(canvas.zoom(), 0.01);
  EXPECT_GE(canvas.level_of_detail(), 2) << "the merged far picture is what is drawn";
  for (bool dark : {false, true}) {
    SCOPED_TRACE(dark ? "dark" : "light");
    canvas.set_dark(dark);
    Theme t = dark ? Theme::dark_theme() : Theme::light();
    QImage img = grab();
    save(img, dark ? "canvas_far_transformer250_dark" : "canvas_far_transformer250");
    EXPECT_LE(distance(img.pixel(1, 1), t.desk), 3);
    int checked = 0;
    auto missing = missing_boxes(img, s, t.text, &checked);
    EXPECT_GT(checked, 1900);
    EXPECT_TRUE(missing.empty()) << missing.size() << " boxes not drawn, first " << missing.front();
    // The picture spans the diagram: drawn pixels at both of its ends, nothing off it.
    QPoint first = canvas.to_window({s.boxes.front().r.x, s.boxes.front().r.y}).toPoint();
    QPoint last = canvas.to_window({s.boxes.back().r.right(), s.boxes.back().r.bottom()}).toPoint();
    EXPECT_LT(std::abs(first.x() - last.x()), img.width());
    EXPECT_GT(std::abs(first.x() - last.x()), img.width() * 3 / 4);
  }
  canvas.set_dark(false);
}

TEST_F(FarZoom, ExampleBoxesStayVisibleAtEveryFarLevel) {
  Scene s = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/moe_transformer_block.circuit.json");
  canvas.set_scene(s);
  Theme t = Theme::light();
  std::set<int> levels;
  for (double z : {0.045, 0.03, 0.012, 0.005}) {
    SCOPED_TRACE(z);
    canvas.set_view(z, {s.width / 2, s.height / 2});
    levels.insert(canvas.level_of_detail());
    QImage img = grab();
    save(img, "canvas_far_moe_" + std::to_string(int(std::lround(z * 1000))));
    int checked = 0;
    auto missing = missing_boxes(img, s, t.text, &checked);
    EXPECT_GT(checked, 0);
    EXPECT_TRUE(missing.empty()) << missing.size() << " boxes not drawn, first " << missing.front();
    EXPECT_LE(distance(img.pixel(1, 1), t.desk), 3);
  }
  EXPECT_GE(levels.size(), 3u) << "several far levels were drawn";
}

TEST_F(CanvasGui, HoverIsClearedWhenTheMouseLeaves) {
  const BoxItem* b = zoom_on_biggest_op();
  ASSERT_NE(b, nullptr);
  QPointF border{b->r.x, b->r.y + b->r.h / 2};
  QPointF inside = canvas.to_window({b->r.x + b->r.w / 2, b->r.y + b->r.h / 2});
  QMouseEvent move(QEvent::MouseMove, inside, canvas.mapToGlobal(inside), Qt::NoButton, Qt::NoButton, Qt::NoModifier);
  QCoreApplication::sendEvent(&canvas, &move);
  Theme t = Theme::light();
  EXPECT_LE(distance(at(grab(), border), t.hover), 40) << "hovered: the border is drawn in the hover colour";
  QEvent leave(QEvent::Leave);
  QCoreApplication::sendEvent(&canvas, &leave);
  EXPECT_LE(distance(at(grab(), border), t.text), 60) << "after leaving: the border is ink again";
}

// Panning as desktop users expect: middle-drag, or Space held with a left-drag; the scene point
// under the cursor follows it, and the zoom stays. F frames the whole diagram again.
TEST_F(CanvasGui, MiddleDragAndSpaceDragPanAndFFrames) {
  Scene s = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/transformer_block.circuit.json");
  canvas.set_scene(s);
  canvas.set_view(2, {s.width / 2, s.height / 2});
  auto send = [&](QEvent::Type type, QPointF pos, Qt::MouseButton button, Qt::MouseButtons held) {
    QMouseEvent e(type, pos, canvas.mapToGlobal(pos), button, held, Qt::NoModifier);
    QCoreApplication::sendEvent(&canvas, &e);
  };
  auto drag = [&](Qt::MouseButton button, QPointF from, QPointF to) {
    send(QEvent::MouseButtonPress, from, button, button);
    send(QEvent::MouseMove, (from + to) / 2, Qt::NoButton, button);
    send(QEvent::MouseMove, to, Qt::NoButton, button);
    send(QEvent::MouseButtonRelease, to, button, Qt::NoButton);
  };
  QPointF from{300, 300}, to{420, 360};
  QPointF grabbed = canvas.to_scene(from);
  drag(Qt::MiddleButton, from, to);
  EXPECT_NEAR(canvas.to_scene(to).x(), grabbed.x(), 1e-6);
  EXPECT_NEAR(canvas.to_scene(to).y(), grabbed.y(), 1e-6);
  EXPECT_DOUBLE_EQ(canvas.zoom(), 2);

  QKeyEvent space(QEvent::KeyPress, Qt::Key_Space, Qt::NoModifier);
  QCoreApplication::sendEvent(&canvas, &space);
  grabbed = canvas.to_scene(to);
  drag(Qt::LeftButton, to, from);
  QKeyEvent space_up(QEvent::KeyRelease, Qt::Key_Space, Qt::NoModifier);
  QCoreApplication::sendEvent(&canvas, &space_up);
  EXPECT_NEAR(canvas.to_scene(from).x(), grabbed.x(), 1e-6);
  EXPECT_NEAR(canvas.to_scene(from).y(), grabbed.y(), 1e-6);
  EXPECT_TRUE(canvas.selection().empty()) << "a Space-drag pans, it does not rubber-band";

  QKeyEvent f(QEvent::KeyPress, Qt::Key_F, Qt::NoModifier);
  QCoreApplication::sendEvent(&canvas, &f);
  // Framed: the whole scene fits the window.
  QPointF top_left = canvas.to_window({0, 0}), bottom_right = canvas.to_window({s.width, s.height});
  EXPECT_GE(top_left.x(), -1);
  EXPECT_GE(top_left.y(), -1);
  EXPECT_LE(bottom_right.x(), canvas.width() + 1);
  EXPECT_LE(bottom_right.y(), canvas.height() + 1);
  EXPECT_LT(canvas.zoom(), 2);
}

// Heat badges over nodes, cold to hot: the text must read on every heat colour in both themes.
TEST_F(CanvasGui, HeatBadgeTextIsReadableInBothThemes) {
  Scene s = scene_of(CIRCUIT_SOURCE_DIR "/resources/examples/transformer_block.circuit.json");
  const BoxItem* b = biggest_op(s);
  ASSERT_NE(b, nullptr);
  std::vector<circuit::diagram::Rect> rects;
  for (int k = 0; k < 3; ++k) {
    circuit::diagram::BadgeItem badge;
    badge.r = {b->r.x + k * 48.0, b->r.y - 20, 44, 14};
    badge.text = "12.5M";
    badge.heat = k / 2.0;
    badge.node = b->node;
    rects.push_back(badge.r);
    s.badges.push_back(badge);
  }
  canvas.set_scene(s);
  canvas.set_view(4, {b->r.x + 70, b->r.y - 13});
  for (bool dark : {false, true}) {
    SCOPED_TRACE(dark ? "dark" : "light");
    canvas.set_dark(dark);
    QImage img = grab();
    save(img, dark ? "canvas_heat_badges_dark" : "canvas_heat_badges");
    for (auto& r : rects) {
      // The fill is what the badge shows at its left end, clear of the centred text.
      QRgb fill = at(img, {r.x + 2.5, r.y + r.h / 2});
      double best = 1;
      QPoint a = canvas.to_window({r.x + 4, r.y + 2}).toPoint(), z = canvas.to_window({r.right() - 4, r.bottom() - 2}).toPoint();
      for (int y = a.y(); y <= z.y(); ++y)
        for (int x = a.x(); x <= z.x(); ++x) best = std::max(best, contrast(img.pixel(x, y), fill));
      EXPECT_GE(best, 4.5) << "badge at " << r.x << ": text against its fill";
    }
  }
  canvas.set_dark(false);
}

}  // namespace
