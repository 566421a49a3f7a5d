// Typed events that long-running work (training, search) publishes and the GUI, CLI and store
// subscribe to. Handlers run synchronously on the publishing (worker) thread: a GUI handler must
// hand the event to its own thread, and every handler must be quick.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace events {

/// One optimisation step finished.
struct TrainStep {
  int64_t step = 0, total_steps = 0;  // 1-based step, planned total
  int epoch = 0, epochs = 0;          // 1-based
  double loss = 0, accuracy = 0;      // this batch
  double lr = 0;
  double examples_per_second = 0;     // smoothed
};

/// An epoch finished and was evaluated on the validation split.
struct EpochEnd {
  int epoch = 0, epochs = 0;
  double train_loss = 0, val_loss = 0, val_accuracy = 0;
  double seconds = 0;
};

/// A message for people (progress notes, warnings).
struct LogLine {
  enum class Level { info, warning, error } level = Level::info;
  std::string text;
};

/// A run ended: status is "finished", "cancelled", "nan" or "error".
struct RunEnd {
  std::string status;
  std::string message;
};

using Event = std::variant<TrainStep, EpochEnd, LogLine, RunEnd>;

/// A thread-safe list of subscribers. Copying a Bus is not allowed; share it by reference.
class Bus {
 public:
  using Handler = std::function<void(const Event&)>;
  Bus() = default;
  Bus(const Bus&) = delete;
  Bus& operator=(const Bus&) = delete;

  /// Returns an id for unsubscribe().
  int subscribe(Handler h);
  void unsubscribe(int id);
  void publish(const Event& e) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<int, Handler>> handlers_;
  int next_ = 1;
};

}  // namespace events
