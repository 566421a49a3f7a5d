// Training one trial of a search with the engine: the protocol recorded with every trial (so any
// point can be replayed) and the metrics a study can optimise. Torch-free header; the library
// circuit_search_runner links the engine.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "circuit/graph.h"
#include "base/result.h"
#include "engine/data.h"
#include "engine/distributed.h"
#include "engine/experiment.h"
#include "engine/train.h"
#include "space.h"
#include "study.h"

namespace search {

/// How every trial of a study is trained and measured. Stored as JSON with each trial: the data
/// options, every option of the training option table (engine/options.h) and the measurements,
/// so `circuit replay` trains a trial exactly as it was trained.
struct TrialProtocol {
  engine::DataOptions data;   // name, seed, limits, synthetic sizes
  /// The table's options are stored. Not stored: `device` (this worker's own choice: cpu, cuda:N,
  /// auto) and `group` (data parallel: every trial trains over it; rank 0 runs the study and hands
  /// each trial to the other ranks). The trial's seed replaces `seed`.
  engine::TrainOptions train;
  bool latency = true;        // measure batch-1 latency (median of 20 forwards)
  double exit_threshold = engine::kDefaultExitThreshold;  // circuits with exit heads: confidence threshold for exit metrics
  std::string versions;       // e.g. "circuit 0.1, LibTorch 1.13.0" (recorded, not checked)
};

std::string protocol_json(const TrialProtocol& p);
base::Result<TrialProtocol> parse_protocol(const std::string& json);

/// Trains `c` (weights and data order from `seed`) and measures it. Metrics:
///  accuracy, loss          on the validation split (what a search selects on)
///  test_accuracy           on the test split (reported, never selected on)
///  params, active_params, flops    from the IR
///  latency_ms              batch-1 forward latency measured on this machine (if enabled)
///  peak_memory_mb          tensor memory of one forward + backward step at the batch size
///  max_vio                 mean per-step MaxVio over every MoE layer (MoE circuits only)
///  exit_depth, exit_cost, exit_accuracy   circuits with exit heads: mean exit head (1-based),
///                          mean fraction of the forward computed, and accuracy on validation
///                          when each example leaves at the first head with confidence >= the
///                          protocol's exit_threshold
///  train_seconds
/// A circuit that does not compile or fit the data, or a run that ends in NaN, is a failed
/// evaluation with the reason.
Evaluation train_trial(const circuit::Circuit& c, uint64_t seed, const engine::Dataset& d, const TrialProtocol& p);

/// The other ranks of a data-parallel study: trains, over `p.train.group`, each trial rank 0 hands
/// out (train_trial shares it) until rank 0 releases them (FollowerRelease). Their results are
/// rank 0's to store.
base::Status follow_trials(const engine::Dataset& d, const TrialProtocol& p);

/// Rank 0 of a data-parallel study holds one while it runs trials: on every way out of scope it
/// tells the ranks in follow_trials that there is no next trial. Nothing without a group.
class FollowerRelease {
 public:
  explicit FollowerRelease(std::shared_ptr<engine::ProcessGroup> group) : group_(std::move(group)) {}
  ~FollowerRelease();
  FollowerRelease(const FollowerRelease&) = delete;
  FollowerRelease& operator=(const FollowerRelease&) = delete;

 private:
  std::shared_ptr<engine::ProcessGroup> group_;
};

/// Opens (or resumes) study `name` for `space` in `db` and runs it with `cfg`: each trial
/// realises its point and is trained with `protocol` on `data`; the stored spec is `spec_text`
/// with the base inlined, and each trial stores its circuit and the protocol. `study_id`, when
/// given, receives the study's id. Lua strategies may throw (their Lua traceback).
base::Result<RunSummary> run_training_study(store::Store& db, const std::string& name, const Space& space, const std::string& spec_text,
                                               const engine::Dataset& data, const TrialProtocol& protocol, RunConfig cfg,
                                               int64_t* study_id = nullptr);

}  // namespace search
