// The experiment store: studies, trials, metric time series and artifacts, in a SQLite file (WAL,
// the embedded default) or a PostgreSQL database that workers on many machines share. Each trial
// is its own transaction, committed when it starts and when it finishes. A running trial holds a
// lease that its worker renews while it trains; when the lease runs out (the worker died, its
// machine lost power or network) the next worker to ask puts the trial back in the queue with the
// reason, and runs it. A result is committed only under the lease it was claimed with, so a worker
// that comes back after losing its lease cannot commit twice. Claiming is serialised per study
// and (study, number) and (study, point) are unique, so no number or point is run twice.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/result.h"


namespace store {

namespace sql { class Connection; }

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
  double lease_seconds = 60;  // a running trial not renewed for this long goes back to the queue
  int max_attempts = 3;       // a trial whose lease ran out this many times is failed
  std::string settings = "{}";  // JSON: what a joining worker needs to run the study (`circuit worker`)
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
  int64_t pid = 0;                       // owner while running, then who completed it
  std::string host;
  int64_t seq = 0;                       // order in which trials finished (0 while not)
  std::string lease;                     // the token of the claim that runs (or completed) it
  double lease_until = 0;                // database clock, Unix time
  int attempts = 0;                      // claims so far
  std::string history;                   // one line per lost lease: who, when
  std::string worker;                    // the owner's description: device, versions
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

/// Whether `name` is a PostgreSQL URL (postgresql:// or postgres://) rather than a file path.
bool is_url(const std::string& name);
/// A store's name that is safe to print: the file path, or the URL without its password.
std::string display_name(const std::string& name);

/// A connection to one store. Not thread-safe; open one per thread or process.
class Store {
 public:
  /// Opens (creating the schema if needed) the store named by a file path (SQLite, WAL mode, busy
  /// timeout) or a URL postgresql://user[:password]@host[:port]/db. Errors name the file, or the
  /// host, port and database with the server's message; never the password.
  static Result<std::unique_ptr<Store>> open(const std::string& name);
  /// Another connection to the same store (for another thread).
  Result<std::unique_ptr<Store>> reopen() const { return open(name_); }
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  /// Creates the study, or returns the existing one of that name (the stored spec wins).
  Result<StudyInfo> open_study(const StudyInfo& info);
  Result<std::optional<StudyInfo>> find_study(const std::string& name);
  Result<std::vector<StudyInfo>> studies();

  /// Running trials of `study` whose lease ran out go back to `queued` (or are failed after the
  /// study's max_attempts), with the reason in their history. A lease held by a process of this
  /// host that no longer exists runs out at once. Returns how many. claim_queued() does this first.
  Result<int> requeue_expired(int64_t study);
  /// Takes the lowest-numbered queued trial and leases it to this process.
  Result<std::optional<TrialRecord>> claim_queued(int64_t study);
  /// Starts a new trial (running, leased to this process) with the next number, unless the point
  /// is already in the study or the study already holds `limit` trials (limit < 0: no limit).
  Result<Claim> start_trial(int64_t study, const NewTrial& t, int64_t limit = -1);
  /// Extends the lease of a trial this process runs by the study's lease_seconds. False: the
  /// lease is gone (it ran out and another worker took the trial back).
  Result<bool> renew_lease(int64_t trial, const std::string& lease);

  /// Commits the trial's result under `lease`. False: the lease is gone and nothing was written
  /// (the trial belongs to another worker now). Committing twice under one lease is harmless.
  Result<bool> finish_trial(int64_t trial, const std::string& lease, const std::map<std::string, double>& metrics,
                            const std::map<std::string, double>& constraints = {});
  Result<bool> fail_trial(int64_t trial, const std::string& lease, const std::string& error);

  /// Describes this process in the trials it claims (device, versions); host and pid are added.
  void set_worker(std::string description) { worker_ = std::move(description); }
  /// Called with a line when the connection is lost and when it is back (default: stderr).
  void on_notice(std::function<void(const std::string&)> f) { notice_ = std::move(f); }
  /// How long a lost PostgreSQL connection is retried before an operation fails (default 600 s).
  void set_reconnect_seconds(double s) { reconnect_seconds_ = s; }

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

  /// The file path, or the URL without its password.
  const std::string& path() const;

 private:
  explicit Store(std::unique_ptr<sql::Connection> c);
  // Runs one transaction, again from the start after a lost connection is back.
  template <class F>
  auto retry(const char* what, F&& body) -> decltype(body());
  Result<int> requeue_in_tx(int64_t study);

  std::unique_ptr<sql::Connection> c_;
  std::string name_;  // as given to open(), password included: never printed
  std::string worker_;
  std::function<void(const std::string&)> notice_;
  double reconnect_seconds_ = 600;
};

/// This machine's name, as recorded in trials' `host` ($CIRCUIT_HOST overrides it: tests use it to
/// stand for several machines on one).
std::string host_name();
/// Whether process `pid` exists on this machine.
bool process_alive(int64_t pid);

}  // namespace store
