// Training the open circuit from the studio: the engine runs on a worker thread, its events are
// queued and handed to the GUI thread in batches, so a fast model publishing thousands of steps a
// second never floods the event loop and the GUI never waits for the engine.
#pragma once
#include <QObject>
#include <QTimer>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "circuit/graph.h"
#include "engine/data.h"
#include "engine/exits.h"
#include "engine/train.h"
#include "events/events.h"

namespace engine {
class Model;
}
namespace script {
class Host;
}

namespace studio {

/// What to train: a copy of the circuit (the user may keep editing), the data set and options.
struct TrainRequest {
  circuit::Circuit circuit;
  engine::DataOptions data;
  engine::TrainOptions train;  // bus, cancel and the device are set by the job
  std::string device = "auto"; // cpu | cuda | cuda:N | auto, placed when the run starts
  int threads = 0;             // 0: every core
};

/// How a run ended, for the GUI: status as engine::TrainResult, or error with the message.
struct TrainOutcome {
  events::RunStatus status = events::RunStatus::error;
  std::string message;
  engine::TrainResult result;
  engine::EvalResult test;
  std::vector<int64_t> exit_histogram;  // networks with exit heads: examples leaving at each head
  double exit_accuracy = 0, exit_cost = 0;
};

/// A trained model and the Lua state its Lua routers (if any) run in; the model goes first.
struct TrainedModel {
  std::unique_ptr<script::Host> lua;
  std::shared_ptr<engine::Model> model;
  ~TrainedModel();
};

/// One training run at a time on a worker thread. Signals arrive on the GUI thread.
class TrainingJob : public QObject {
  Q_OBJECT
 public:
  explicit TrainingJob(QObject* parent = nullptr);
  ~TrainingJob() override;

  /// False (and nothing starts) when a run is going.
  bool start(TrainRequest request);
  void cancel();
  bool running() const { return running_; }
  /// The model of the last finished run (null before one finished); for export.
  engine::Model* model() const { return trained_ ? trained_->model.get() : nullptr; }

 signals:
  void started(QString protocol);
  void events_arrived(std::vector<events::Event> batch);
  void finished(studio::TrainOutcome outcome);

 private:
  void drain();

  std::thread worker_;
  std::atomic<bool> cancel_{false};
  bool running_ = false;
  std::mutex mu_;
  std::vector<events::Event> pending_;  // guarded by mu_
  QTimer drain_timer_;
  std::shared_ptr<TrainedModel> trained_;
};

}  // namespace studio
