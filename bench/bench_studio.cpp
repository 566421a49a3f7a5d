// The studio's GUI thread, two ways.
//
// --train N: the canvas pans frame after frame while the engine trains an MoE MLP on
// Fashion-MNIST on a worker thread, against the same panning with nothing running (the peer: the
// same window, idle) in the same run. Prints frame wall times (median, p99, max) and the longest
// gap of a 5 ms GUI timer, for both, and their ratio.
//
// --views N: a study of N trials in 6 objectives shown in the search dock: frame times of the
// parallel coordinates and the scatter matrix (with the table beside them) against today's
// two-axis front view of the same study (the peer), and how long a brush takes to reach every
// view and the table, from the mouse release to the frame that shows it.
//
//   xvfb-run -a -s "-screen 0 1600x1000x24" env VK_ICD_FILENAMES=$(ls /usr/share/vulkan/icd.d/lvp_icd*.json)
//     build/bench/bench_studio [--train N] [--views N]     (default: both, 20000 examples, 100000 trials)
#include <QApplication>
#include <QElapsedTimer>
#include <QStandardPaths>
#include <QTimer>
#include <QVulkanInstance>
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <QDir>
#include <QDockWidget>
#include <QFile>
#include <QTableView>
#include <QTest>
#include <atomic>
#include <chrono>
#include <map>
#include <thread>
#include <random>
#include <string>

#include "base/file.h"
#include "canvas/canvas_window.h"
#include "engine_client.h"
#include "main_window.h"
#include "plots/search_plots.h"
#include "search/point.h"
#include "search/space.h"
#include "search_panel.h"
#include "store/store.h"

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


// Trial `i` of the bench's study: a distinct point (of the 110,592) and six metrics.
bool add_trial(store::Store& db, int64_t study, const search::Space& space, int64_t i) {
  static thread_local std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(0, 1);
  std::normal_distribution<double> noise(0, 1);
  int64_t total = 1;
  for (auto& d : space.dims) total *= d.size();
  search::Point p;
  double size = 0;
  int64_t code = (i * 1000003) % total;  // a distinct point per trial, spread over the space
  for (auto& d : space.dims) {
    int c = int(code % d.size());
    code /= d.size();
    p.choice.push_back(c);
    size += double(c) / std::max(1, d.size() - 1);
  }
  size /= double(space.dims.size());
  double params = 20000 * std::exp(3.0 * size + 0.4 * noise(rng));
  double flops = params * (150 + 60 * u(rng));
  std::map<std::string, double> m = {{"accuracy", std::min(0.95, 0.55 + 0.3 * size + 0.04 * noise(rng))},
                                     {"params", params},
                                     {"flops", flops},
                                     {"latency_ms", flops / 2e6 * (0.7 + 0.6 * u(rng))},
                                     {"peak_memory_mb", 40 + params * 4e-4 * (1 + u(rng))},
                                     {"max_vio", std::abs(noise(rng)) * (1.5 - size)}};
  auto c = db.start_trial(study, {search::key(p), "", 0, ""});
  if (!c || c->kind != store::Claim::Kind::started) return false;
  return bool(db.finish_trial(c->trial.id, c->trial.lease, m));
}

// A study of `n` trials on moe_mlp's space in six objectives, written once to a file in the temp
// folder and reused: points drawn at random, metrics correlated as in real studies (bigger models
// score better and cost more) with noise, so fronts are neither trivial nor everything.
QString views_study(int64_t n) {
  QString path = QDir::temp().filePath(QString("bench_studio_views_%1.sqlite").arg(n));
  if (QFile::exists(path)) return path;
  std::string spec = *base::read_file(CIRCUIT_SOURCE_DIR "/resources/search/moe_mlp.search.json");
  spec.replace(spec.find("../examples/"), 12, CIRCUIT_SOURCE_DIR "/resources/examples/");
  size_t from = spec.find("\"objectives\""), to = spec.rfind("}");
  spec = spec.substr(0, from) + R"("objectives": [
    {"metric": "accuracy", "direction": "max"}, {"metric": "params", "direction": "min"}, {"metric": "flops", "direction": "min"},
    {"metric": "latency_ms", "direction": "min"}, {"metric": "peak_memory_mb", "direction": "min"}, {"metric": "max_vio", "direction": "min"}],
  "constraints": [{"metric": "params", "max": 200000}, {"metric": "flops", "max": 4e7}, {"metric": "latency_ms", "max": 20},
    {"metric": "peak_memory_mb", "max": 400}, {"metric": "max_vio", "max": 4}]
)" + spec.substr(to);
  // Wider choices than the example's, so that the trials are distinct points (110,592 of them).
  auto widen = [&](const std::string& from, const std::string& to) { spec.replace(spec.find(from), from.size(), to); };
  auto range = [](int first, int step, int count) {
    std::string v;
    for (int i = 0; i < count; ++i) v += (i ? ", " : "") + std::to_string(first + step * i);
    return "[" + v + "]";
  };
  widen("\"values\": [2, 4, 8, 16]", "\"values\": " + range(2, 2, 32));
  widen("\"values\": [64, 128, 256]", "\"values\": " + range(16, 16, 32));
  widen("\"repeat\": [1, 2, 3]", "\"repeat\": " + range(1, 1, 6));
  auto space = search::parse_space(spec, "bench");
  if (!space) return std::fprintf(stderr, "bench_studio: %s\n", space.error().message.c_str()), QString();
  QString tmp = path + ".part";
  QFile::remove(tmp);
  auto db = store::Store::open(tmp.toStdString());
  if (!db) return std::fprintf(stderr, "bench_studio: %s\n", db.error().message.c_str()), QString();
  auto st = (*db)->open_study({0, "views", spec, "[]", "random", 0, 0});
  int64_t total = 1;
  for (auto& d : space->dims) total *= d.size();
  if (total < n + 10000) return std::fprintf(stderr, "bench_studio: the space has %lld points, fewer than %lld trials\n", (long long)total, (long long)n), QString();
  QElapsedTimer clock;
  clock.start();
  for (int64_t i = 0; i < n; ++i) {
    if (!add_trial(**db, st->id, *space, i)) return std::fprintf(stderr, "bench_studio: trial %lld not started\n", (long long)i), QString();
    if (i % 10000 == 9999) std::fprintf(stderr, "writing the study: %lld of %lld trials (%.0f s)\n", (long long)i + 1, (long long)n, clock.elapsed() / 1000.0);
  }
  db->reset();
  QFile::rename(tmp, path);
  return path;
}

int views(QApplication& app, QVulkanInstance& vk, int64_t n) {
  QString db = views_study(n);
  if (db.isEmpty()) return 1;
  studio::MainWindow w(&vk, false);
  w.resize(1600, 1000);
  w.show();
  w.findChild<QDockWidget*>("dock_search")->raise();
  studio::SearchPanel* panel = w.search_panel();
  studio::SearchPlotsWindow* plots = panel->plots();
  int frames = 0;
  double last_cpu_ms = 0;
  QObject::connect(plots, &studio::ImGuiVulkanWindow::frame_done, [&](double cpu) { ++frames, last_cpu_ms = cpu; });
  auto next_frame = [&] {
    int target = frames + 1;
    while (frames < target) app.processEvents(QEventLoop::AllEvents, 5);
  };
  QElapsedTimer load;
  load.start();
  QString err = panel->show_study(db, "views");
  if (!err.isEmpty()) return std::fprintf(stderr, "bench_studio: %s\n", qPrintable(err)), 1;
  double load_ms = double(load.nsecsElapsed()) / 1e6;
  QElapsedTimer t;
  t.start();
  while ((!plots->isExposed() || frames == 0) && t.elapsed() < 20000) app.processEvents(QEventLoop::AllEvents, 20);
  size_t rows = size_t(panel->trial_rows());

  // Frames back to back: each asks for the next, so a frame's wall time includes lavapipe's.
  std::map<std::string, double> cpu_median;
  auto measure = [&](studio::SearchPlotsWindow::View v, const char* name) {
    plots->show_view(v);
    for (int i = 0; i < 5; ++i) plots->request_frames(0), next_frame();
    std::vector<double> ms, cpu;
    for (int i = 0; i < 60; ++i) {
      QElapsedTimer f;
      f.start();
      plots->request_frames(0);
      next_frame();
      ms.push_back(double(f.nsecsElapsed()) / 1e6);
      cpu.push_back(last_cpu_ms);
    }
    cpu_median[name] = pct(cpu, 0.5);
    return ms;
  };
  auto empty = measure(studio::SearchPlotsWindow::View::compare, "floor: a frame with text only");  // no other study: its empty state
  auto front = measure(studio::SearchPlotsWindow::View::front, "two-axis front view (peer: today's view)");
  auto parallel = measure(studio::SearchPlotsWindow::View::parallel, "parallel coordinates");

  // Brushes along the first axis, each from the mouse release to the frame after the dock took
  // the selection (table included).
  bool selected = false;
  QObject::connect(plots, &studio::SearchPlotsWindow::selection_changed, [&](QList<qint64>) { selected = true; });
  auto drag = [&](QPoint a, QPoint b) {
    QTest::mouseMove(plots, a);
    next_frame();
    QTest::mousePress(plots, Qt::LeftButton, {}, a);
    next_frame();
    for (int k = 1; k <= 3; ++k) QTest::mouseMove(plots, a + (b - a) * k / 3), next_frame();
    selected = false;
    QElapsedTimer c;
    c.start();
    QTest::mouseRelease(plots, Qt::LeftButton, {}, b);
    while (!selected && c.elapsed() < 30000) app.processEvents(QEventLoop::AllEvents, 1);
    next_frame();
    return double(c.nsecsElapsed()) / 1e6;
  };
  std::vector<double> brush_ms;
  size_t brushed = 0;
  for (int i = 0; i < 8; ++i) {
    const studio::ParallelFrame& f = plots->parallel_frame();
    float h = f.bottom - f.top, x = f.x[size_t(i % 3)];
    brush_ms.push_back(drag(QPoint(int(x), int(f.top + h * (0.1f + 0.05f * float(i)))), QPoint(int(x), int(f.top + h * (0.5f + 0.05f * float(i))))));
    brushed += plots->selection().size();
  }
  // With CIRCUIT_SCREENSHOTS=DIR, what the views look like at this size.
  QString shots = qEnvironmentVariable("CIRCUIT_SCREENSHOTS");
  auto parallel_brushed = measure(studio::SearchPlotsWindow::View::parallel, "parallel coordinates, a brush set");
  if (!shots.isEmpty()) plots->grab_image().save(shots + "/bench_parallel.png");
  auto matrix = measure(studio::SearchPlotsWindow::View::matrix, "scatter matrix");
  if (!shots.isEmpty()) plots->grab_image().save(shots + "/bench_matrix.png");
  std::vector<double> rect_ms;
  for (int i = 0; i < 4; ++i) {
    const studio::PlotFrame& c = plots->matrix_frame().cells[size_t(i)];
    rect_ms.push_back(drag(QPoint(int(c.min.x + 2), int(c.min.y + 2)), QPoint(int(c.max.x - 2), int((c.min.y + c.max.y) / 2))));
  }

  // Live: a worker thread commits a trial every 100 ms into a copy of the study while the front
  // view renders; the dock's watcher reads and prepares each new snapshot off the GUI thread.
  QString live = QDir::temp().filePath("bench_studio_views_live.sqlite");
  QFile::remove(live);
  QFile::copy(db, live);
  panel->set_watch_interval_ms(250);
  panel->show_study(live, "views");
  plots->show_view(studio::SearchPlotsWindow::View::front);
  std::atomic<bool> stop{false};
  std::atomic<int64_t> committed{0};
  std::thread writer([&] {
    auto st = store::Store::open(live.toStdString());
    auto found = (*st)->find_study("views");
    auto space = search::parse_space((**found).spec, "bench");
    for (int64_t i = n; !stop; ++i) {
      add_trial(**st, (**found).id, *space, i);
      ++committed;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
  });
  std::vector<double> live_ms;
  int updates = 0;
  size_t seen_points = plots->point_count();
  QElapsedTimer live_clock;
  live_clock.start();
  while (live_clock.elapsed() < 20000) {
    QElapsedTimer f;
    f.start();
    plots->request_frames(0);
    next_frame();
    live_ms.push_back(double(f.nsecsElapsed()) / 1e6);
    if (plots->point_count() != seen_points) seen_points = plots->point_count(), ++updates;
  }
  stop = true;
  writer.join();

  std::printf("search dock: %lld trials in 6 objectives, %zu table rows, shown in %.0f ms (read, ranks, hypervolume, table); window 1600x1000\n",
              (long long)n, rows, load_ms);
  std::printf("%-44s %8s %10s %10s %10s %14s\n", "", "frames", "median ms", "p99 ms", "max ms", "of it CPU ms");
  for (auto [name, v] : {std::pair{"floor: a frame with text only", &empty}, std::pair{"two-axis front view (peer: today's view)", &front}, std::pair{"parallel coordinates", &parallel},
                         std::pair{"parallel coordinates, a brush set", &parallel_brushed}, std::pair{"scatter matrix", &matrix},
                         std::pair{"brush on an axis -> views + table", &brush_ms}, std::pair{"rectangle in a cell -> views + table", &rect_ms},
                         std::pair{"front view, live: a trial commits every 100 ms", &live_ms}})
    std::printf("%-44s %8zu %10.2f %10.2f %10.2f %14s\n", name, v->size(), pct(*v, 0.5), pct(*v, 0.99), pct(*v, 1.0),
                cpu_median.count(name) ? std::to_string(cpu_median[name]).substr(0, 6).c_str() : "");
  std::printf("median frame / two-axis view: parallel %.2fx, matrix %.2fx; brushes selected %zu trials on average\n",
              pct(parallel, 0.5) / std::max(1e-9, pct(front, 0.5)), pct(matrix, 0.5) / std::max(1e-9, pct(front, 0.5)), brushed / 8);
  std::printf("live: %lld trials committed in 20 s, the views updated %d times\n", (long long)committed.load(), updates);
  std::printf("targets: median frame under 16 ms, a brush under 50 ms\n");
  w.close();
  return 0;
}

int train(QApplication& app, QVulkanInstance& vk, int64_t examples) {
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
              (long long)examples, w.engine()->hello() ? w.engine()->hello()->threads : 0, qPrintable(status), train_s);
  std::printf("%-22s %8s %10s %10s %10s %14s\n", "", "frames", "median ms", "p99 ms", "max ms", "longest gap ms");
  for (auto [name, p] : {std::pair{"idle (peer)", &idle}, std::pair{"while training", &busy}})
    std::printf("%-22s %8zu %10.2f %10.2f %10.2f %14.1f\n", name, p->frame_ms.size(), pct(p->frame_ms, 0.5), pct(p->frame_ms, 0.99),
                pct(p->frame_ms, 1.0), p->longest_gap_ms);
  std::printf("training / idle, median frame: %.2fx   (target: median under 16 ms while training)\n",
              pct(busy.frame_ms, 0.5) / std::max(1e-9, pct(idle.frame_ms, 0.5)));
  w.close();
  return status == "finished" ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  QStandardPaths::setTestModeEnabled(true);
  QApplication app(argc, argv);
  // --train N and --views N pick the parts; with neither, both run.
  int64_t examples = 20000, trials = 100000;
  bool run_train = false, run_views = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    int64_t* value = a == "--train" ? &examples : a == "--views" ? &trials : nullptr;
    if (!value) return std::fprintf(stderr, "usage: bench_studio [--train EXAMPLES] [--views TRIALS]\n"), 2;
    (a == "--train" ? run_train : run_views) = true;
    if (i + 1 < argc && argv[i + 1][0] != '-') *value = std::atoll(argv[++i]);
  }
  if (!run_train && !run_views) run_train = run_views = true;
  ::setenv("CIRCUIT_ENGINE", CIRCUIT_CLI, 0);  // the window's engine: this build's `circuit serve`
  QVulkanInstance vk;
  if (!vk.create() || !studio::DiagramCanvas::vulkan_problem(vk).isEmpty()) {
    std::fprintf(stderr, "bench_studio: no Vulkan device (run under xvfb-run with lavapipe)\n");
    return 1;
  }
  int rc = 0;
  if (run_views) rc |= views(app, vk, trials);
  if (run_train) rc |= train(app, vk, examples);
  return rc;
}
