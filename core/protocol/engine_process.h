// A `circuit serve --stdio` process seen from its front end: started from an argv (the local
// `circuit`, or `ssh -T host circuit`), requests written as lines, replies read on a thread of
// its own, its stderr kept (the last lines explain a death), and its end described in words
// ("killed by signal 9 (Killed)"). The studio and `circuit train --on` share it. POSIX only.
#pragma once
#include <sys/types.h>

#include <atomic>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "base/result.h"
#include "protocol/protocol.h"

namespace protocol {

/// The argv that starts an engine: `circuit serve --stdio`, run through ssh when `host` is set
/// ($CIRCUIT_SSH, when set, is the ssh command). `circuit` is the program's path (on `host` when set).
std::vector<std::string> engine_argv(const std::string& circuit, const std::string& host = "", const std::vector<std::string>& extra = {});
/// The local `circuit` for a front end at `self_exe`: $CIRCUIT_ENGINE, else `circuit` next to the
/// program (an install's bin/), else the build tree's app/cli/circuit, else "circuit" (PATH).
std::string find_circuit(const std::string& self_exe);

/// One engine process.
class EngineProcess {
 public:
  /// Called on the reader thread for each reply; a line that is not a reply arrives as a Problem
  /// with id 0 and the line in its message.
  using OnReply = std::function<void(Reply)>;
  /// Called on the reader thread once the engine's stdout closed and it was reaped: `why` is ""
  /// after a Shutdown we asked for, else what happened ("killed by signal 9 (Killed)").
  using OnExit = std::function<void(const std::string& why)>;

  EngineProcess() = default;
  ~EngineProcess();  // kills a running engine and waits for it
  EngineProcess(const EngineProcess&) = delete;
  EngineProcess& operator=(const EngineProcess&) = delete;

  /// Starts `argv`; the error names the program when it cannot start.
  base::Status start(const std::vector<std::string>& argv, OnReply on_reply, OnExit on_exit);
  /// Writes a request; assigns its id when 0 and returns it (0 when the engine is gone).
  int64_t send(Request r);
  /// Asks for a shutdown, waits up to `grace_ms` for the exit, then kills.
  void stop(int grace_ms = 2000);
  /// Closes the engine's stdin: it finishes what runs and ends (the end is not reported as a death).
  void close_input();
  /// SIGKILL now (a test's "the engine died").
  void kill();
  bool running() const { return running_; }
  pid_t pid() const { return pid_; }
  /// The last lines the engine wrote on stderr, oldest first.
  std::string stderr_tail() const;

 private:
  void read_stdout();
  void read_stderr();

  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  std::atomic<bool> running_{false}, asked_to_stop_{false};
  std::atomic<int64_t> next_id_{1};
  std::mutex write_mu_;
  mutable std::mutex err_mu_;
  std::deque<std::string> err_lines_;
  std::thread out_thread_, err_thread_;
  OnReply on_reply_;
  OnExit on_exit_;
};

/// "exited with status 3", "killed by signal 9 (Killed)" for a waitpid status.
std::string describe_exit(int wait_status);

}  // namespace protocol
