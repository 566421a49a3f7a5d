// The Training dock and the run behind it: Run ▸ Train's dialog (offering only the data sets that
// fit the circuit), one TrainingJob in the window's engine, the run plots, the expert-load badges a run lays over the
// diagram, and the trained model for export. The main window shows what it reports.
#pragma once
#include <QObject>
#include <QTimer>
#include <string>
#include <unordered_map>

#include "base/result.h"
#include "circuit/edit.h"
#include "diagram/diagram.h"
#include "train_dialog.h"
#include "training_job.h"

class QVulkanInstance;
class QWidget;

namespace studio {

class EngineClient;
class RunPlotsWindow;

/// Trains the open circuit from the studio and shows the run.
class TrainingPanel : public QObject {
  Q_OBJECT
 public:
  /// `window`: the dialogs' parent.
  TrainingPanel(QVulkanInstance* vulkan, QWidget* window, EngineClient* engine);
  ~TrainingPanel() override;

  QWidget* widget() const { return container_; }  // the plots' container, for the dock
  RunPlotsWindow* plots() const { return plots_; }
  TrainingJob& job() { return job_; }
  /// Asks for the run's settings (remembered between runs), then starts it.
  void ask_and_start(const circuit::Document& doc);
  /// False, and `problem` says why, when the circuit has problems or a run is going.
  bool start(const circuit::Document& doc, const RunSettings& settings);
  void cancel() { job_.cancel(); }
  /// Badges over the diagram's MoE nodes: node path -> MaxVio, drops and load per expert.
  const std::unordered_map<std::string, circuit::diagram::Annotation>& overlay() const { return overlay_; }
  /// Another document was opened: its plots and badges go.
  void clear();
  base::Status export_model(const std::string& path) { return job_.export_model(path); }

 signals:
  void log(QString text);
  void problem(QString title, QString text);
  void status(QString text);
  /// A run's progress; maximum 0 while it is busy without a count, -1 when no run goes.
  void progress(int value, int maximum);
  void overlay_changed();  // at most twice a second
  void running_changed(bool running);
  void finished(QString status);

 private:
  void on_events(const std::vector<events::Event>& batch);
  void on_finished(const TrainOutcome& out);

  QWidget* window_ = nullptr;
  RunPlotsWindow* plots_ = nullptr;
  QWidget* container_ = nullptr;
  TrainingJob job_;
  RunSettings settings_;
  std::unordered_map<std::string, circuit::diagram::Annotation> overlay_;
  QTimer overlay_timer_;
  bool overlay_dirty_ = false;
};

}  // namespace studio
