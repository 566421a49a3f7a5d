#include "training_panel.h"

#include <QDockWidget>
#include <QSettings>
#include <QWidget>
#include <algorithm>

#include "engine/data.h"
#include "engine_client.h"
#include "plots/run_plots.h"

namespace studio {

TrainingPanel::TrainingPanel(QVulkanInstance* vulkan, QWidget* window, EngineClient* engine)
    : QObject(window), window_(window), job_(engine) {
  settings_ = load_run_settings(QSettings());
  plots_ = new RunPlotsWindow();
  plots_->setVulkanInstance(vulkan);
  container_ = QWidget::createWindowContainer(plots_);
  container_->setProperty("embedded", QVariant::fromValue<QObject*>(plots_));  // for MainWindow::screenshot
  container_->setMinimumSize(300, 220);
  connect(&job_, &TrainingJob::events_arrived, this, &TrainingPanel::on_events);
  connect(&job_, &TrainingJob::finished, this, &TrainingPanel::on_finished);
  // Expert-load badges change every step; redrawing the diagram twice a second is plenty.
  overlay_timer_.setInterval(500);
  connect(&overlay_timer_, &QTimer::timeout, this, [this] {
    if (overlay_dirty_) overlay_dirty_ = false, emit overlay_changed();
  });
  overlay_timer_.start();
}

TrainingPanel::~TrainingPanel() { job_.cancel(); }

void TrainingPanel::ask_and_start(const circuit::Document& doc) {
  if (job_.running()) return emit problem("Training is running", "Cancel it first (Run ▸ Cancel, Ctrl+.).");
  // Only the data sets this circuit can train on (all of them when it fits none, so the run
  // still says why).
  QStringList fitting, all;
  for (const engine::DataSetInfo& d : engine::data_sets()) {
    all << d.name;
    if (engine::fits(d, doc.analysis())) fitting << d.name;
  }
  // The engine's devices (it may run on another machine): started now, as the dialog opens.
  QString why;
  const protocol::Hello* engine = job_.engine()->ensure_started(&why) ? &*job_.engine()->hello() : nullptr;
  if (!engine) emit log("The engine did not start: " + why);
  RunSettings s;
  if (ask_run_settings(window_, "Train " + QString::fromStdString(doc.circuit().name), settings_,
                       fitting.isEmpty() ? all : fitting, s, engine))
    start(doc, s);
}

bool TrainingPanel::start(const circuit::Document& doc, const RunSettings& s) {
  if (job_.running()) return false;
  auto problems = doc.analysis().diagnostics(doc.circuit().graph);
  if (!problems.empty()) {
    emit problem("The circuit has problems", QString::fromStdString(problems.front().message) + "\nFix them before training.");
    return false;
  }
  settings_ = s;
  QSettings st;
  save_run_settings(st, s);
  TrainRequest r;
  r.circuit = doc.circuit();
  r.data.name = s.data;
  r.data.seed = s.train.seed;
  r.data.train_limit = s.train_limit;
  r.train = s.train;
  r.device = s.device;
  clear();
  emit progress(0, 0);  // busy until the first step says how many there are
  emit status("Training: loading " + QString::fromStdString(s.data) + "…");
  emit log("training " + QString::fromStdString(doc.circuit().name) + " on " + QString::fromStdString(s.data));
  if (auto* dock = qobject_cast<QDockWidget*>(container_->parentWidget())) dock->raise();
  QString error;
  if (!job_.start(std::move(r), &error)) {
    emit progress(0, -1);
    emit status("Training not started");
    emit problem("The engine cannot start", error);
    return false;
  }
  emit running_changed(true);
  return true;
}

void TrainingPanel::clear() {
  plots_->clear();
  overlay_.clear();
  overlay_dirty_ = false;
}

void TrainingPanel::on_events(const std::vector<events::Event>& batch) {
  const events::TrainStep* last = nullptr;
  for (auto& e : batch) {
    if (auto* s = std::get_if<events::TrainStep>(&e)) {
      plots_->add_step(*s);
      last = s;
    } else if (auto* ep = std::get_if<events::EpochEnd>(&e)) {
      plots_->add_epoch(*ep);
      emit log(QString("epoch %1/%2: train loss %3, val loss %4, val accuracy %5% (%6 s)")
                   .arg(ep->epoch).arg(ep->epochs).arg(ep->train_loss, 0, 'f', 4).arg(ep->val_loss, 0, 'f', 4)
                   .arg(100 * ep->val_accuracy, 0, 'f', 2).arg(ep->seconds, 0, 'f', 1));
    } else if (auto* l = std::get_if<events::ExpertLoad>(&e)) {
      plots_->add_expert_load(*l);
      // The MoE node itself shows its balance: MaxVio and drops as text, one heat square per
      // expert slot (its share of the step's kept assignments; balanced is mid-scale).
      circuit::diagram::Annotation a;
      a.text = QString("MaxVio %1 · dropped %2").arg(l->max_vio, 0, 'f', 2).arg(l->dropped).toStdString();
      a.heat = std::clamp(l->max_vio / 2.0, 0.0, 1.0);
      int64_t kept = 0;
      for (int64_t x : l->after) kept += x;
      for (int64_t x : l->after)
        a.cells.push_back(kept ? std::clamp(double(x) / double(kept) * double(l->after.size()) / 2.0, 0.0, 1.0) : 0.0);
      overlay_[l->layer] = std::move(a);
      overlay_dirty_ = true;
    } else if (auto* line = std::get_if<events::LogLine>(&e)) {
      emit log(QString::fromStdString(line->text));
    }
  }
  if (last) {
    emit progress(int(last->step), int(last->total_steps));
    emit status(QString("Training: epoch %1/%2  step %3/%4  loss %5  acc %6%  %7 ex/s")
                    .arg(last->epoch).arg(last->epochs).arg(last->step).arg(last->total_steps)
                    .arg(last->loss, 0, 'f', 4).arg(100 * last->accuracy, 0, 'f', 1).arg(last->examples_per_second, 0, 'f', 0));
  }
}

void TrainingPanel::on_finished(const TrainOutcome& out) {
  emit progress(0, -1);
  emit running_changed(false);
  if (out.status == events::RunStatus::finished) {
    QString msg = QString("Trained: val accuracy %1%, test accuracy %2% (%3 steps, %4 s)")
                      .arg(100 * out.val_accuracy, 0, 'f', 2).arg(100 * out.test_accuracy, 0, 'f', 2)
                      .arg(out.steps).arg(out.seconds, 0, 'f', 1);
    emit status(msg);
    emit log(msg);
    if (!out.exit_histogram.empty()) {
      plots_->set_exit_histogram(out.exit_histogram);
      emit log(QString("early exit at confidence %1: accuracy %2%, mean cost %3 of the full forward")
                   .arg(out.exit_threshold).arg(100 * out.exit_accuracy, 0, 'f', 2).arg(out.exit_cost, 0, 'f', 3));
    }
  } else if (out.status == events::RunStatus::cancelled) {
    emit status("Training cancelled");
    emit log("training cancelled");
  } else {
    emit problem("Training stopped", QString::fromStdString(out.message.empty() ? events::to_string(out.status) : out.message));
  }
  emit finished(QString(events::to_string(out.status)));
}

}  // namespace studio
