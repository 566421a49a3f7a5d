// The experiment store: studies, trials, metric time series and artifacts in one SQLite file
// (WAL). Each trial is its own transaction, committed when it starts and when it finishes, so a
// crash loses at most the trials that were running, and those are re-queued on resume. Several
// processes on one machine may share a study: claiming a trial is a BEGIN IMMEDIATE transaction
// and (study, number) and (study, point) are unique, so no number or point is run twice.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"

struct sqlite3;

namespace store {

using base::Result;
using base::Status;

/// A study: one search with its spec, objectives and strategy.
struct StudyInfo {
  int64_t id = 0;
  std::string name;
  std::string spec;        // the .search.json text (or any description of the problem)
  std::string objectives;  // JSON, e.g. [{"metric": "accuracy", "direction": "max"}]
  std::string strategy;
  uint64_t seed = 0;
  double created = 0;      // Unix time
};

enum class TrialStatus { queued, running, finished, failed };
const char* to_string(TrialStatus s);

/// One trial row.
struct TrialRecord {
  int64_t id = 0;
  int64_t study = 0;
  int number = 0;                        // 1-based within the study
  std::string point;                     // search::key() of the point
  std::string circuit;                   // the circuit as .circuit.json text (may be empty)
  uint64_t seed = 0;
  std::string protocol;                  // JSON: data split, epochs, versions... for replay
  TrialStatus status = TrialStatus::queued;
  std::map<std::string, double> metrics;      // final objectives and other metrics
  std::map<std::string, double> constraints;  // violation per constrained metric
  std::string error;
  double started = 0, finished = 0;      // Unix time; 0 when not yet
  int64_t pid = 0;                       // owner while running
  std::string host;
  int64_t seq = 0;                       // order in which trials finished (0 while not)
};

/// What to record when a trial starts.
struct NewTrial {
  std::string point;
  std::string circuit;
  uint64_t seed = 0;
  std::string protocol;
};

/// Outcome of trying to start a new trial.
struct Claim {
  enum class Kind { started, duplicate_point, budget_reached } kind = Kind::started;
  TrialRecord trial;  // valid when started
};

/// One value of a metric time series.
struct MetricSample {
  int64_t step = 0;
  std::string name;
  double value = 0;
};

struct Artifact {
  std::string kind;  // "checkpoint", "torchscript", "onnx", ...
  std::string path;
};

/// A connection to one store file. Not thread-safe; open one per thread or process.
class Store {
 public:
  /// Opens (creating if needed) the store at `path`, in WAL mode with a busy timeout.
  static Result<std::unique_ptr<Store>> open(const std::string& path);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Creates the study, or returns the existing one of that name (the stored spec wins).
  Result<StudyInfo> open_study(const StudyInfo& info);
  Result<std::optional<StudyInfo>> find_study(const std::string& name);
  Result<std::vector<StudyInfo>> studies();

  /// Running trials of `study` owned by a process of this host that no longer exists go back to
  /// `queued`. Returns how many.
  Result<int> requeue_dead(int64_t study);
  /// Takes the lowest-numbered queued trial and marks it running by this process.
  Result<std::optional<TrialRecord>> claim_queued(int64_t study);
  /// Starts a new trial (running, owned by this process) with the next number, unless the point
  /// is already in the study or the study already holds `limit` trials (limit < 0: no limit).
  Result<Claim> start_trial(int64_t study, const NewTrial& t, int64_t limit = -1);

  Status finish_trial(int64_t trial, const std::map<std::string, double>& metrics,
                      const std::map<std::string, double>& constraints = {});
  Status fail_trial(int64_t trial, const std::string& error);

  /// Every trial of the study, by number.
  Result<std::vector<TrialRecord>> trials(int64_t study);
  /// Finished and failed trials with seq > after, in finishing order (for incremental syncing).
  Result<std::vector<TrialRecord>> completed_since(int64_t study, int64_t after_seq);
  Result<std::optional<TrialRecord>> trial(int64_t study, int number);
  /// Number of trials of the study with the given status.
  Result<int64_t> count(int64_t study, TrialStatus status);

  /// Appends metric samples in one transaction.
  Status add_metrics(int64_t trial, const std::vector<MetricSample>& samples);
  Result<std::vector<MetricSample>> metric_series(int64_t trial);
  Status add_artifact(int64_t trial, const Artifact& a);
  Result<std::vector<Artifact>> artifacts(int64_t trial);

  const std::string& path() const { return path_; }

 private:
  Store(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  sqlite3* db_;
  std::string path_;
};

/// This machine's name, as recorded in trials' `host`.
std::string host_name();
/// Whether process `pid` exists on this machine.
bool process_alive(int64_t pid);

}  // namespace store
