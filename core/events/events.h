// Typed events that long-running work (training, search) publishes and the GUI, CLI and store
// subscribe to. Handlers run synchronously on the publishing (worker) thread: a GUI handler must
// hand the event to its own thread, and every handler must be quick.
#pragma once
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace events {

/// How a run ended. Parsed and printed only at the boundaries (files, the CLI, Lua, the GUI).
enum class RunStatus {
  finished,   // every epoch ran
  stopped,    // stopped early on purpose (stop_after, a script's callback)
  cancelled,  // the user cancelled
  nan,        // the loss became NaN or infinite
  error,      // refused or failed, with a message
};
/// "finished", "stopped", "cancelled", "nan", "error".
const char* to_string(RunStatus s);
/// The status named `s`, or nullopt.
std::optional<RunStatus> parse_run_status(std::string_view s);

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

/// Expert load of one MoE layer in one training step. Counts are routing assignments (a token
/// sent to k experts counts k times); "before"/"after" are around the capacity limit.
struct ExpertLoad {
  std::string layer;                      // node path
  int64_t step = 0;
  int64_t tokens = 0;
  std::vector<int64_t> before, after;     // per expert slot
  int64_t dropped = 0;                    // assignments over capacity
  std::vector<double> mean_gate;          // per slot, over kept assignments (0 when none)
  double entropy = 0;                     // mean router entropy per token, in nats
  double load_cv = 0;                     // std / mean of `after` over routed FFN experts
  double max_vio = 0;                     // (max - mean) / mean of `after` over routed FFN experts
  double active_per_token = 0;            // kept assignments per token
  std::string previous_layer;             // empty for the first MoE layer in the forward
  std::vector<int64_t> transitions;       // [previous slots x slots] counts of top-1 expert pairs, row-major
};

/// A message for people (progress notes, warnings).
struct LogLine {
  enum class Level { info, warning, error } level = Level::info;
  std::string text;
};

/// A run ended.
struct RunEnd {
  RunStatus status = RunStatus::finished;
  std::string message;
};

using Event = std::variant<TrainStep, EpochEnd, ExpertLoad, LogLine, RunEnd>;

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
