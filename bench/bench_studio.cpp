// The studio's GUI thread while a training run goes: the canvas pans frame after frame while the
// engine trains an MoE MLP on Fashion-MNIST on a worker thread, against the same panning with
// nothing running (the peer: the same window, idle) in the same run. Prints frame wall times
// (median, p99, max) and the longest gap of a 5 ms GUI timer, for both, and their ratio.
//
//   xvfb-run -a -s "-screen 0 1600x1000x24" env VK_ICD_FILENAMES=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json
//     build/bench/bench_studio [train examples]        (default 20000)
#include <QApplication>
#include <QElapsedTimer>
#include <QStandardPaths>
#include <QTimer>
#include <QVulkanInstance>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <vector>

#include "canvas/canvas_window.h"
#include "engine/model.h"
#include "main_window.h"

namespace {

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

struct Pass {
  std::vector<double> frame_ms;
  double longest_gap_ms = 0;
};

}  // namespace

int main(int argc, char** argv) {
  QStandardPaths::setTestModeEnabled(true);
  QApplication app(argc, argv);
  int64_t examples = argc > 1 ? std::atoll(argv[1]) : 20000;
  engine::RuntimeInfo rt = engine::configure_runtime(0);
  QVulkanInstance vk;
  if (!vk.create() || !studio::DiagramCanvas::vulkan_problem(vk).isEmpty()) {
    std::fprintf(stderr, "bench_studio: no Vulkan device (run under xvfb-run with lavapipe)\n");
    return 1;
  }
  studio::MainWindow w(&vk, false);
  w.resize(1400, 900);
  w.show();
  int rendered = 0;
  QObject::connect(w.canvas(), &studio::DiagramCanvas::frame_time, [&](double) { ++rendered; });
  if (!w.open_file(CIRCUIT_SOURCE_DIR "/resources/examples/moe_mlp.circuit.json")) return 1;
  QElapsedTimer t;
  t.start();
  while ((!w.canvas()->isExposed() || rendered == 0) && t.elapsed() < 20000) app.processEvents(QEventLoop::AllEvents, 20);

  // Pans one step per frame, waiting for the frame each step asked for, until `done`.
  auto pan = [&](auto done, int min_frames) {
    Pass p;
    QElapsedTimer clock;
    clock.start();
    qint64 last_tick = 0;
    QTimer tick;
    QObject::connect(&tick, &QTimer::timeout, [&] {
      p.longest_gap_ms = std::max(p.longest_gap_ms, double(clock.elapsed() - last_tick));
      last_tick = clock.elapsed();
    });
    tick.start(5);
    QPointF c = w.canvas()->center();
    double z = w.canvas()->zoom();
    for (int i = 0; i < min_frames || !done(); ++i) {
      QElapsedTimer f;
      f.start();
      w.canvas()->set_view(z, c + QPointF(std::sin(i * 0.05) * 60, std::cos(i * 0.05) * 30));
      int target = rendered + 1;
      while (rendered < target) app.processEvents(QEventLoop::AllEvents, 5);
      p.frame_ms.push_back(double(f.nsecsElapsed()) / 1e6);
    }
    return p;
  };

  Pass idle = pan([] { return true; }, 300);
  bool finished = false;
  QString status;
  QObject::connect(&w, &studio::MainWindow::training_finished, [&](QString s) { finished = true, status = s; });
  studio::RunSettings s;
  s.train_limit = examples;
  QElapsedTimer train_clock;
  train_clock.start();
  if (!w.start_training(s)) return std::fprintf(stderr, "bench_studio: training did not start: %s\n", qPrintable(w.last_problem())), 1;
  Pass busy = pan([&] { return finished; }, 300);
  double train_s = double(train_clock.elapsed()) / 1000;

  std::printf("studio GUI thread while training (moe_mlp, Fashion-MNIST %lld examples, 1 epoch, %d thread(s)); training %s in %.1f s\n",
              (long long)examples, rt.threads, qPrintable(status), train_s);
  std::printf("%-22s %8s %10s %10s %10s %14s\n", "", "frames", "median ms", "p99 ms", "max ms", "longest gap ms");
  for (auto [name, p] : {std::pair{"idle (peer)", &idle}, std::pair{"while training", &busy}})
    std::printf("%-22s %8zu %10.2f %10.2f %10.2f %14.1f\n", name, p->frame_ms.size(), pct(p->frame_ms, 0.5), pct(p->frame_ms, 0.99),
                pct(p->frame_ms, 1.0), p->longest_gap_ms);
  std::printf("training / idle, median frame: %.2fx   (target: median under 16 ms while training)\n",
              pct(busy.frame_ms, 0.5) / std::max(1e-9, pct(idle.frame_ms, 0.5)));
  w.close();
  return status == "finished" ? 0 : 1;
}
