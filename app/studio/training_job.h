// Training the open circuit from the studio: the window's engine process trains it (a Train
// request) and streams its events back; the trained model stays in the engine for export. An
// engine that dies mid-run ends the run with its exit status; the window and the document stay.
#pragma once
#include <QObject>
#include <vector>

#include "circuit/graph.h"
#include "engine/data.h"
#include "engine/train.h"
#include "events/events.h"
#include "protocol/protocol.h"

namespace studio {

class EngineClient;

/// What to train: a copy of the circuit (the user may keep editing), the data set and options.
struct TrainRequest {
  circuit::Circuit circuit;
  engine::DataOptions data;
  engine::TrainOptions train;  // bus, cancel and the device are the engine's
  std::string device = "auto"; // cpu | cuda | cuda:N | auto, placed when the run starts
  int threads = 0;             // 0: the engine's default
};

/// How a run ended, as the engine said it (or error with the reason it could not say).
using TrainOutcome = protocol::TrainDone;

/// One training run at a time in the window's engine. Signals arrive on the GUI thread.
class TrainingJob : public QObject {
  Q_OBJECT
 public:
  explicit TrainingJob(EngineClient* engine, QObject* parent = nullptr);
  ~TrainingJob() override;

  /// False (and nothing starts) when a run is going; `error` says why the engine cannot start.
  bool start(TrainRequest request, QString* error = nullptr);
  void cancel();
  bool running() const { return id_ != 0; }
  /// Whether the engine holds a trained model from this window's last finished run.
  bool has_model() const { return has_model_; }
  /// Writes the trained model to `path` (.pt or .onnx), made in the engine and sent back.
  base::Status export_model(const std::string& path);
  EngineClient* engine() const { return engine_; }

 signals:
  void started(QString protocol);
  void events_arrived(std::vector<events::Event> batch);
  void finished(studio::TrainOutcome outcome);

 private:
  void on_replies(const std::vector<protocol::Reply>& batch);
  void end(TrainOutcome out);

  EngineClient* engine_;
  int64_t id_ = 0;
  bool has_model_ = false;
};

}  // namespace studio
