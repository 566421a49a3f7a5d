// The window's engine: one `circuit serve --stdio` process (Jupyter's kernel model), started on
// first use, on this machine or over ssh. Replies arrive on the GUI thread: events in batches
// (ten a second: a fast model's thousands of steps never flood the event loop), everything else
// at once. An engine that dies is reported with its exit and the last lines of its stderr; the
// next request starts a fresh one.
#pragma once
#include <QObject>
#include <QString>
#include <QTimer>
#include <memory>
#include <mutex>
#include <optional>
#include <vector>

#include "protocol/engine_process.h"

namespace studio {

/// Where the engine runs: this machine, or `host` over ssh with `circuit` there.
struct EngineLocation {
  QString host;                   // "" : this machine; else [user@]host for ssh
  QString circuit = "circuit";    // the program on `host` (locally: found next to the studio)
  bool operator==(const EngineLocation&) const = default;
};

/// One engine process for a window.
class EngineClient : public QObject {
  Q_OBJECT
 public:
  explicit EngineClient(QObject* parent = nullptr);
  ~EngineClient() override;

  /// Where the next engine starts (a running one keeps running until restart()).
  void set_location(const EngineLocation& l) { location_ = l; }
  const EngineLocation& location() const { return location_; }
  /// Starts the engine unless it runs and waits for its hello (up to `timeout_ms`). False, with
  /// the reason in `error`, when it cannot start, says nothing or speaks another protocol.
  bool ensure_started(QString* error, int timeout_ms = 30000);
  /// Sends a request (starting the engine if needed): its id, or 0 with `error` set.
  int64_t send(protocol::RequestBody body, QString* error = nullptr);
  /// Sends a request and waits for its Done (export): the Done, or an error.
  base::Result<protocol::Done> call(protocol::RequestBody body, int timeout_ms, std::vector<protocol::Reply>* replies = nullptr);
  void cancel(int64_t id);
  /// Ends the engine (asking first, then killing) and forgets it; the next request starts another.
  void restart();
  /// SIGKILL, for tests: the engine dies as an OOM kill would end it.
  void kill();
  bool running() const { return process_ && process_->running(); }
  /// The engine's hello, once it said it.
  const std::optional<protocol::Hello>& hello() const { return hello_; }
  qint64 pid() const { return hello_ ? hello_->pid : 0; }
  /// "this machine" or "host".
  QString where() const { return location_.host.isEmpty() ? "this machine" : location_.host; }

 signals:
  /// An engine said hello (its devices and plugins are known now).
  void started();
  /// Replies, in order.
  void replies(std::vector<protocol::Reply> batch);
  /// The engine ended without being asked: `why` ("killed by signal 9 (Killed)") and its last
  /// stderr lines; every request it had is over.
  void died(QString why, QString stderr_tail);

 private:
  void drain();
  void on_reply(protocol::Reply r);
  void on_exit(const std::string& why);

  EngineLocation location_;
  std::unique_ptr<protocol::EngineProcess> process_;
  std::optional<protocol::Hello> hello_;
  std::mutex mu_;
  std::vector<protocol::Reply> pending_;  // guarded by mu_
  std::optional<protocol::Hello> pending_hello_;  // guarded by mu_
  QTimer drain_timer_;
  int generation_ = 0;
  qint64 lua_memory_mib_ = 0;  // the setting lua/memory_mib, read when the window opens and at restart  // which process a queued exit belongs to
};

}  // namespace studio
