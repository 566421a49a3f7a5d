// The diagram canvas (Vulkan; lavapipe under Xvfb on these machines) panning across a generated
// ~2,000-node circuit, against QPainter drawing the same scene with the same view into a QImage of
// the same size (a naive CPU renderer: every item, every frame) in the same run.
//
//   xvfb-run -a -s "-screen 0 1600x1000x24" env VK_ICD_FILENAMES=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json)
//     build/bench/bench_canvas [nodes] [frames]          (defaults 2000, 300)
//
// With CIRCUIT_SCREENSHOTS=<dir> the last frame of each pass is saved there, to see what the
// measured level of detail looks like.
#include <QDir>
#include <QElapsedTimer>
#include <QGuiApplication>
#include <QImage>
#include <QPainter>
#include <QPainterPath>
#include <QVulkanInstance>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "circuit/analysis.h"
#include "diagram/diagram.h"
#include "generated_circuits.h"
#include "studio/canvas/canvas_window.h"

using namespace circuit;

namespace {

double pct(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * (v.size() - 1) + 0.5))];
}

// The peer: the scene as a QPainter program, styled like the canvas (rounded cards, Bézier wires,
// dashes, DejaVu text), antialiased, no culling of its own beyond QPainter's clipping.
void paint(QPainter& p, const diagram::Scene& s, double zoom, QPointF center, QSize size) {
  p.fillRect(QRect(QPoint(0, 0), size), QColor(236, 238, 241));
  p.setRenderHint(QPainter::Antialiasing);
  p.setRenderHint(QPainter::TextAntialiasing);
  p.translate(size.width() / 2.0, size.height() / 2.0);
  p.scale(zoom, zoom);
  p.translate(-center);
  QColor ink(26, 26, 31), muted(97, 102, 115), label(41, 92, 168), fence(244, 246, 250), fence_line(140, 150, 168);
  auto rect = [](const diagram::Rect& r) { return QRectF(r.x, r.y, r.w, r.h); };
  auto font = [](double size, bool bold) {
    QFont f("DejaVu Sans");
    f.setPointSizeF(size * 0.75);  // QImage paints at 96 dpi: points of the scene are pixels of the painter
    f.setBold(bold);
    return f;
  };
  auto text = [&](diagram::Point at, const std::string& t, double size, bool bold, diagram::Align a, QColor c) {
    p.setFont(font(size, bold));
    p.setPen(c);
    QString q = QString::fromStdString(t);
    double w = a == diagram::Align::left ? 0 : p.fontMetrics().horizontalAdvance(q);
    p.drawText(QPointF(at.x - (a == diagram::Align::center ? w / 2 : w), at.y), q);
  };
  p.setPen(QPen(fence_line, 0.8));
  p.setBrush(fence);
  for (auto& f : s.fences) p.drawRoundedRect(rect(f.r), 3, 3);
  p.setBrush(Qt::NoBrush);
  for (auto& w : s.wires) {
    if (w.pts.empty()) continue;
    QPainterPath path(QPointF(w.pts[0].x, w.pts[0].y));
    for (size_t i = 1; i + 2 < w.pts.size(); i += 3)
      path.cubicTo(w.pts[i].x, w.pts[i].y, w.pts[i + 1].x, w.pts[i + 1].y, w.pts[i + 2].x, w.pts[i + 2].y);
    QPen pen(w.unknown ? muted : ink, 0.9, w.unknown ? Qt::DashLine : Qt::SolidLine, Qt::FlatCap);
    p.strokePath(path, pen);
  }
  for (auto& w : s.wires)
    if (w.show_label) text(w.label_at, w.label, 7, false, diagram::Align::left, label);
  for (auto& b : s.boxes) {
    if (b.kind == diagram::BoxKind::junction || b.kind == diagram::BoxKind::input || b.kind == diagram::BoxKind::output) continue;
    p.setPen(QPen(ink, b.bold ? 2.2 : 1.0));
    p.setBrush(Qt::white);
    p.drawRoundedRect(rect(b.r), 3, 3);
  }
  for (auto& t : s.texts) text(t.at, t.text, t.size, t.bold, t.align, t.muted ? muted : ink);
}

}  // namespace

int main(int argc, char** argv) {
  QGuiApplication app(argc, argv);
  int nodes = argc > 1 ? std::max(8, std::atoi(argv[1])) : 2000;
  int frames = argc > 2 ? std::max(10, std::atoi(argv[2])) : 300;

  Circuit c = bench::transformer(nodes / 8);
  diagram::Scene scene = diagram::build_scene(c, analyze(c));

  QVulkanInstance vk;
  vk.create();
  QString problem = studio::DiagramCanvas::vulkan_problem(vk);
  if (!problem.isEmpty()) {
    std::fprintf(stderr, "bench_canvas: %s\n", qPrintable(problem));
    return 1;
  }
  studio::DiagramCanvas canvas;
  canvas.setVulkanInstance(&vk);
  canvas.resize(1280, 800);
  canvas.show();
  int rendered = 0;
  double last_ms = 0;
  QObject::connect(&canvas, &studio::DiagramCanvas::frame_time, [&](double ms) {
    ++rendered;
    last_ms = ms;
  });
  QElapsedTimer t;
  t.start();
  while ((!canvas.isExposed() || rendered == 0) && t.elapsed() < 20000) {
    canvas.requestUpdate();
    app.processEvents(QEventLoop::AllEvents, 20);
  }
  if (!canvas.isExposed()) {
    std::fprintf(stderr, "bench_canvas: the window was never exposed (run under xvfb-run)\n");
    return 1;
  }
  QElapsedTimer build;
  build.start();
  canvas.set_scene(scene);
  double upload_ms = build.nsecsElapsed() / 1e6;

  std::printf("canvas benchmark: %zu nodes, %zu boxes, %zu wires, %zu texts -> %zu instances; window %dx%d\n",
              c.graph.nodes.size(), scene.boxes.size(), scene.wires.size(), scene.texts.size(), canvas.instance_count(),
              canvas.width(), canvas.height());
  std::printf("scene -> instances (set_scene)        %8.1f ms\n", upload_ms);

  // One pass: `frames` frames, each one view step, waiting for the frame the step requested.
  auto run = [&](double zoom, QPointF start, QPointF step, int n, std::vector<double>& frame_ms, std::vector<double>& wall_ms) {
    canvas.set_view(zoom, start);
    int target = rendered + 1;
    while (rendered < target) app.processEvents(QEventLoop::AllEvents, 5);
    for (int i = 0; i < n; ++i) {
      QElapsedTimer w;
      w.start();
      canvas.set_view(zoom, start + step * (i + 1));
      target = rendered + 1;
      while (rendered < target) app.processEvents(QEventLoop::AllEvents, 5);
      wall_ms.push_back(w.nsecsElapsed() / 1e6);
      frame_ms.push_back(last_ms);
    }
  };
  auto peer = [&](double zoom, QPointF start, QPointF step, int n) {
    QImage img(canvas.size(), QImage::Format_ARGB32_Premultiplied);
    std::vector<double> ms;
    for (int i = 0; i < n; ++i) {
      QElapsedTimer w;
      w.start();
      QPainter p(&img);
      paint(p, scene, zoom, start + step * (i + 1) * (double(frames) / n), canvas.size());
      p.end();
      ms.push_back(w.nsecsElapsed() / 1e6);
    }
    return ms;
  };

  struct Case {
    const char* name;
    double zoom;
    QPointF start, step;
  };
  // Reading zoom (text at its size) panning along the diagram, and the whole diagram in view.
  double fit = std::min((canvas.width() - 48) / scene.width, (canvas.height() - 48) / scene.height);
  std::vector<Case> cases = {
      {"pan at zoom 1 (reading)", 1.0, {canvas.width() / 2.0, scene.height / 2}, {8.0, 0.0}},
      {"pan at zoom 0.4 (smallest zoom with text)", 0.4, {canvas.width() / 0.8, scene.height / 2}, {20.0, 0.0}},
      {"pan with the whole diagram in view", fit, {scene.width / 2, scene.height / 2}, {2.0 / fit, 0.0}},
  };
  QString shots = qEnvironmentVariable("CIRCUIT_SCREENSHOTS");
  for (size_t i = 0; i < cases.size(); ++i) {
    const Case& k = cases[i];
    std::vector<double> frame_ms, wall_ms;
    run(k.zoom, k.start, k.step, frames, frame_ms, wall_ms);
    if (!shots.isEmpty() && QDir().mkpath(shots))
      canvas.grab_image().save(shots + QString("/bench_canvas_pass%1.png").arg(i + 1));
    int peer_frames = std::max(10, frames / 10);
    std::vector<double> qp = peer(k.zoom, k.start, k.step, peer_frames);
    std::printf("\n%s: zoom %.3f (level of detail %d), %d frames\n", k.name, k.zoom, canvas.level_of_detail(), frames);
    std::printf("  Vulkan canvas, CPU+GPU per frame      median %7.2f ms   p99 %7.2f ms\n", pct(frame_ms, 0.5), pct(frame_ms, 0.99));
    std::printf("  Vulkan canvas, wall time per frame    median %7.2f ms   p99 %7.2f ms   (target median < 16 ms)\n",
                pct(wall_ms, 0.5), pct(wall_ms, 0.99));
    std::printf("  QPainter into a QImage (%d frames)    median %7.2f ms   p99 %7.2f ms\n", peer_frames, pct(qp, 0.5), pct(qp, 0.99));
    std::printf("  QPainter / canvas (wall, median)      %7.1fx\n", pct(qp, 0.5) / pct(wall_ms, 0.5));
  }
  return 0;
}
