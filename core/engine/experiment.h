// One experiment pipeline: "train this circuit on this data and measure it", shared by the CLI
// (`circuit train`), search trials, the studio and Lua (`circuit.train`). A request goes in, a
// report comes out, events go to the caller's bus. The front ends only parse input and format
// output, so defaults and checks cannot drift between them. Torch-free header.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "circuit/analysis.h"
#include "circuit/graph.h"
#include "engine/data.h"
#include "engine/exits.h"
#include "engine/measure.h"
#include "engine/model.h"
#include "engine/train.h"

namespace engine {

/// The confidence threshold at which exit metrics are reported when nothing is calibrated.
inline constexpr double kDefaultExitThreshold = 0.9;

/// What to run. Training settings are `train`'s (its defaults are everyone's defaults).
struct ExperimentRequest {
  circuit::Circuit circuit;
  DataOptions data;            // loaded by the pipeline unless a data set is passed in
  TrainOptions train;          // bus and cancel belong to the caller
  int threads = -1;            // >= 0: configure_runtime(threads) first (0: every core); -1: leave it
  bool test = true;            // evaluate the test split after training
  bool latency = false;        // median forward latency at batch 1 and at the batch size
  int latency_runs = 20;
  bool peak_memory = false;    // tensor memory of one forward + backward step at the batch size
  bool exits = true;           // circuits with 2+ exit heads on class targets: exit metrics on validation
  double exit_threshold = kDefaultExitThreshold;
};

/// Where a run stopped when it did not finish.
enum class Stage { circuit, memory, device, data, compile, fit, train, done };

/// What came out. `status` is RunStatus::error with `message` when a stage refused (see `stage`).
struct ExperimentReport {
  events::RunStatus status = events::RunStatus::error;
  std::string message;
  Stage stage = Stage::circuit;
  circuit::GraphAnalysis analysis;     // of the request's circuit (its diagnostics when stage == circuit)
  std::shared_ptr<const Dataset> data;
  std::shared_ptr<Model> model;        // compiled and (when the run finished) trained
  std::string device;                  // where it ran: "cpu" or "cuda:0 (NVIDIA H200)"
  double load_seconds = 0;             // reading the data set and compiling
  TrainResult train;
  std::optional<EvalResult> test;
  std::optional<Latency> latency;
  std::optional<int64_t> peak_memory;  // bytes
  std::optional<ExitOutcome> exits;    // at request.exit_threshold
  double mean_max_vio = 0;             // over every MoE layer and step (0 without MoE)
  int64_t expert_load_events = 0;

  bool finished() const { return status == events::RunStatus::finished; }
};

/// analyze -> memory check -> load data -> compile -> fit check -> train -> test -> latency,
/// memory and exit metrics, in the order that fails fastest: a circuit with problems or a model
/// too large for memory is refused before the data set is read or a weight is allocated.
/// `data`, when given, is used instead of loading request.data.
ExperimentReport run_experiment(ExperimentRequest request, std::shared_ptr<const Dataset> data = nullptr);

}  // namespace engine
