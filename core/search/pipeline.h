// One study pipeline: "run (or join) this study", the search counterpart of engine::run_experiment.
// It opens the store, joins the data-parallel group the environment describes, places this rank
// on its device, loads the data, follows rank 0's trials or runs the study, and releases the
// followers on every way out. `circuit search`, `circuit worker`, Lua `circuit.search` and the
// studio's search panel parse options into a StudyRequest and show what comes back; none of them
// assembles a search. Torch-free header.
#pragma once
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"
#include "engine/data.h"
#include "engine/distributed.h"
#include "space.h"
#include "study.h"
#include "trial_runner.h"

namespace search {

/// What to run. A request with a space starts (or resumes) a study; one without joins the study
/// `name` stored in `db` with its spec, strategy, protocol and settings (`circuit worker`).
struct StudyRequest {
  std::string db = "circuit-studies.sqlite";  // a SQLite file or a postgresql:// URL
  std::string name;                           // the study
  std::optional<Space> space;                 // with `spec_text`: the study to start or resume
  std::string spec_text;
  RunConfig cfg;                              // strategy, trials, seed, worker, lease, on_event, cancel ...
  std::string reference;                      // hypervolume reference, "m=v,..." (empty: the default)
  TrialProtocol protocol;                     // data and training options (the device is placed from `device`)
  std::string device = "auto";                // cpu | cuda | cuda:N | auto, resolved where this rank is placed
  /// The training options the user named. Joining a stored study, they must agree with its protocol.
  std::vector<std::string> set_options;
  /// Data parallel, from torchrun's variables (RANK, WORLD_SIZE, ...): backend and timeout
  /// override the defaults (automatic, 0).
  engine::Backend backend = engine::Backend::automatic;
  double dist_timeout = 0;
  int threads = -1;                           // >= 0: configure the runtime (0: every core); -1: leave it
  /// Loaded by the caller (Lua passes its data object); null: the pipeline loads protocol.data.
  std::shared_ptr<const engine::Dataset> data;
  /// A baseline study `name`-`baseline` run with this strategy (seed + 1), one trial of it after
  /// each trial of the study, so both curves grow at the same pace (the studio's random baseline).
  std::string baseline;
  /// Lines for people: where the study runs, on which device, with which data.
  std::function<void(const std::string&)> on_log;
  std::string versions;                       // recorded in the protocol ("circuit 0.1, LibTorch 1.13.1")
};

/// What came back. A rank other than 0 follows rank 0's trials and reports only `rank`.
struct StudyOutcome {
  int rank = 0;
  RunSummary summary;                         // this process's trials (the study's, with a baseline)
  std::optional<RunSummary> baseline;
  int64_t study_id = 0;
  std::string store;                          // the store as a user would name it again
  std::string device;                         // where the trials trained: "cpu", "cuda:0 (NVIDIA H200)"
  std::vector<store::TrialRecord> trials;     // every trial of the study after the run
  TrialProtocol protocol;                     // as stored with the study
};

/// Runs the request. Errors (a store that does not open, a device this machine lacks, a data set
/// that does not load, a study that does not exist) say what and where; a Lua strategy's error
/// is thrown with its traceback, after the followers are released.
base::Result<StudyOutcome> run_study(StudyRequest request);

/// What a joining worker needs that the spec does not say, as run_study stores it with a study.
std::string study_settings_json(const StudyRequest& r);

}  // namespace search
