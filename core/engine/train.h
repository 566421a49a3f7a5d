// Training and evaluation of a compiled circuit on a data set (measurement: measure.h; memory
// admission: memory.h; checkpoints: checkpoint.h). Torch-free header.
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
#include "optimizer.h"

namespace engine {

class ProcessGroup;

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

}  // namespace engine
