// Training, evaluation and measurement of a compiled circuit on a data set. Torch-free header.
#pragma once
#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

#include "base/result.h"
#include "data.h"
#include "device.h"
#include "events/events.h"
#include "exits.h"
#include "model.h"

namespace engine {

class ProcessGroup;

/// The optimizers training offers. Parsed and printed only at the boundaries (CLI, Lua, files).
enum class Optimizer { adamw, sgd };
/// "adamw", "sgd".
const char* to_string(Optimizer o);
/// The optimizer named `s`, or nullopt.
std::optional<Optimizer> parse_optimizer(std::string_view s);

/// How to train. Defaults are sensible for the small examples; every front end uses them.
struct TrainOptions {
  int epochs = 1;
  int64_t batch = 64;
  Optimizer optimizer = Optimizer::adamw;
  double lr = 1e-3;
  double weight_decay = 0.01;
  double momentum = 0.9;            // sgd
  double warmup = 0.05;             // fraction of all steps with linear warm-up, then cosine decay to 0
  double clip = 1.0;                // max gradient norm; 0: no clipping
  uint64_t seed = 0;                // data order and dropout; weights are seeded at compile time
  int64_t eval_batch = 1000;
  double memory_budget = 0.8;       // fraction of available RAM the estimate may use
  std::string checkpoint;           // written (atomically) after every epoch when set
  std::string resume;               // continue from this checkpoint
  int stop_after = 0;               // stop after this many epochs of this call (0: run to `epochs`)
  int telemetry_every = 1;          // publish MoE expert load every N steps (0: never)
  Device device;                    // resolved where the run's rank is placed (join_from_environment)
  Precision precision = Precision::fp32;
  bool tf32 = false;                // CUDA: TF32 matrix products and convolutions (faster, ~1e-3 relative error)
  // Data parallel (distributed.h): each rank trains on its share of every global batch of
  // batch x ranks examples, gradients are averaged, and only rank 0 publishes events and writes
  // checkpoints. Null: one process.
  std::shared_ptr<ProcessGroup> group;
  const std::atomic<bool>* cancel = nullptr;
  const events::Bus* bus = nullptr;
};

/// Loss and accuracy on one split. For token tasks, accuracy is over scored positions.
struct EvalResult {
  double loss = 0, accuracy = 0;
  std::vector<double> per_class;  // classification tasks only
  int64_t examples = 0;
};

/// How a run ended: finished, stopped (stop_after), cancelled or nan.
struct TrainResult {
  events::RunStatus status = events::RunStatus::finished;
  std::string message;
  int epochs_done = 0;  // total, including epochs before a resume
  int64_t steps = 0;
  double seconds = 0;
  double train_loss = 0;  // mean over the last epoch
  double step_seconds = 0;       // in the optimizer steps alone (no evaluation or checkpoint)
  double allreduce_seconds = 0;  // data parallel: this rank's wall time in the gradient all-reduce
  EvalResult val;
};

/// Refuses (with the numbers) when weights + gradients + optimizer state + activations at
/// `batch` would exceed `fraction` of the RAM available now. Uses the IR's estimates, so it runs
/// before any weight is allocated.
base::Status check_memory(const circuit::GraphAnalysis& a, int64_t batch, Optimizer optimizer, double fraction);

/// Refuses (with the numbers) when the weights and one example's activations would exceed
/// `fraction` of the RAM available now: what compiling alone allocates. Model::compile runs it.
base::Status check_model_memory(const circuit::GraphAnalysis& a, double fraction);

/// Checks that the circuit's input and output fit the data set; says what differs.
base::Status check_fit(const Model& m, const Dataset& d);

base::Result<TrainResult> train(Model& m, const Dataset& d, const TrainOptions& o);
/// With a group, each rank evaluates its share of the split and the sums are reduced: every rank
/// gets the whole split's result.
EvalResult evaluate(Model& m, const Dataset& d, const Split& s, int64_t batch = 1000, ProcessGroup* group = nullptr);
/// Runs every output of a classifier with exit heads over a split and records, per head and
/// example, confidence, entropy and prediction (see exits.h). Needs two or more outputs, each
/// [batch, classes].
base::Result<ExitProfile> profile_exits(Model& m, const Dataset& d, const Split& s, int64_t batch = 1000);

/// Median forward latency after warm-up, at batch 1 and at `batch`.
struct Latency {
  double batch1_ms = 0, batch_ms = 0;
  int64_t batch = 0;
  int runs = 0;
};
Latency measure_latency(Model& m, const Dataset& d, int64_t batch, int runs = 20);
/// Peak bytes of tensor memory allocated during one forward + backward step at `batch`.
int64_t measure_peak_memory(Model& m, const Dataset& d, int64_t batch);

/// Writes / reads a checkpoint: circuit, weights, optimizer state, seed, progress and protocol.
struct CheckpointInfo {
  std::string circuit_text, protocol;
  Optimizer optimizer = Optimizer::adamw;
  uint64_t seed = 0;
  int epochs_done = 0;
  int64_t steps = 0;
};
base::Result<CheckpointInfo> read_checkpoint_info(const std::string& path);

}  // namespace engine
