#include "protocol/engine_process.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>

extern char** environ;

namespace protocol {

namespace {
constexpr size_t kStderrLines = 40;

bool executable(const std::filesystem::path& p) { return ::access(p.c_str(), X_OK) == 0 && std::filesystem::is_regular_file(p); }
}  // namespace

std::vector<std::string> engine_argv(const std::string& circuit, const std::string& host, const std::vector<std::string>& extra) {
  std::vector<std::string> argv;
  // -T: no terminal (the stream is ours, byte for byte); BatchMode: a missing key is an error
  // message, not a password prompt nobody sees. $CIRCUIT_SSH replaces `ssh` (as GIT_SSH_COMMAND
  // does git's): its words, split at spaces, e.g. "ssh -F ~/.ssh/lab_config".
  if (!host.empty()) {
    const char* custom = std::getenv("CIRCUIT_SSH");
    std::string words = custom && *custom ? custom : "ssh";
    for (size_t at = 0; at < words.size();) {
      size_t end = words.find(' ', at);
      if (end == std::string::npos) end = words.size();
      if (end > at) argv.push_back(words.substr(at, end - at));
      at = end + 1;
    }
    for (const char* a : {"-T", "-o", "BatchMode=yes"}) argv.push_back(a);
    argv.push_back(host);
  }
  argv.push_back(circuit);
  argv.push_back("serve");
  argv.push_back("--stdio");
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

std::string find_circuit(const std::string& self_exe) {
  if (const char* e = std::getenv("CIRCUIT_ENGINE"); e && *e) return e;
  std::error_code ec;
  std::filesystem::path self = std::filesystem::canonical(self_exe, ec);
  if (!ec) {
    std::filesystem::path dir = self.parent_path();
    for (const auto& p : {dir / "circuit", dir.parent_path() / "cli" / "circuit"})
      if (executable(p)) return p.string();
  }
  return "circuit";
}

std::string describe_exit(int st) {
  if (WIFEXITED(st)) return "exited with status " + std::to_string(WEXITSTATUS(st));
  if (WIFSIGNALED(st)) {
    int sig = WTERMSIG(st);
    const char* name = ::strsignal(sig);
    return "killed by signal " + std::to_string(sig) + (name ? std::string(" (") + name + ")" : "") + (WCOREDUMP(st) ? ", core dumped" : "");
  }
  return "ended (wait status " + std::to_string(st) + ")";
}

EngineProcess::~EngineProcess() {
  if (running_) kill();
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  if (in_ >= 0) ::close(in_);
}

base::Status EngineProcess::start(const std::vector<std::string>& argv, OnReply on_reply, OnExit on_exit) {
  if (running_) return base::Status::fail("the engine is already running");
  // A dead engine's stdin must not kill its front end with SIGPIPE: its death is an error to show.
  ::signal(SIGPIPE, SIG_IGN);
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC)) return base::Status::fail(std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in[0], 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  // Its own process group: a terminal's Ctrl-C goes to the front end, which stops the engine.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
  posix_spawnattr_setpgroup(&attr, 0);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = ::posix_spawnp(&pid_, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  ::close(in[0]), ::close(out[1]), ::close(err[1]);
  if (rc != 0) {
    ::close(in[1]), ::close(out[0]), ::close(err[0]);
    return base::Status::fail("cannot start the engine `" + argv[0] + "`: " + std::strerror(rc));
  }
  in_ = in[1], out_ = out[0], err_ = err[0];
  on_reply_ = std::move(on_reply), on_exit_ = std::move(on_exit);
  asked_to_stop_ = false;
  {
    std::lock_guard lock(err_mu_);
    err_lines_.clear();
  }
  running_ = true;
  err_thread_ = std::thread([this] { read_stderr(); });
  out_thread_ = std::thread([this] { read_stdout(); });
  return {};
}

int64_t EngineProcess::send(Request r) {
  if (!running_) return 0;
  if (r.id == 0) r.id = next_id_++;
  std::string line = to_line(r);
  std::lock_guard lock(write_mu_);
  if (in_ < 0) return 0;
  for (size_t done = 0; done < line.size();) {
    ssize_t n = ::write(in_, line.data() + done, line.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return 0;  // the engine is gone: its exit is reported by the reader
    done += size_t(n);
  }
  return r.id;
}

void EngineProcess::stop(int grace_ms) {
  if (!running_) return;
  asked_to_stop_ = true;
  send(Request{0, Shutdown{}});
  auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(grace_ms);
  while (running_ && std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  if (running_) ::kill(pid_, SIGKILL);
  if (out_thread_.joinable() && out_thread_.get_id() != std::this_thread::get_id()) out_thread_.join();
}

void EngineProcess::close_input() {
  asked_to_stop_ = true;
  std::lock_guard lock(write_mu_);
  if (in_ >= 0) ::close(in_), in_ = -1;
}

void EngineProcess::kill() {
  if (running_ && pid_ > 0) ::kill(pid_, SIGKILL);
}

std::string EngineProcess::stderr_tail() const {
  std::lock_guard lock(err_mu_);
  std::string s;
  for (const std::string& l : err_lines_) s += l + "\n";
  return s;
}

void EngineProcess::read_stderr() {
  std::string buf;
  char chunk[4096];
  for (;;) {
    ssize_t n = ::read(err_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    buf.append(chunk, size_t(n));
    for (size_t nl; (nl = buf.find('\n')) != std::string::npos; buf.erase(0, nl + 1)) {
      std::lock_guard lock(err_mu_);
      err_lines_.push_back(buf.substr(0, nl));
      if (err_lines_.size() > kStderrLines) err_lines_.pop_front();
    }
  }
  if (!buf.empty()) {
    std::lock_guard lock(err_mu_);
    err_lines_.push_back(buf);
  }
  ::close(err_);
}

void EngineProcess::read_stdout() {
  LineSplitter lines;
  char chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(out_, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    lines.feed(
        std::string_view(chunk, size_t(n)),
        [&](std::string_view line) {
          auto r = parse_reply(line);
          if (r) on_reply_(std::move(*r));
          else on_reply_(Reply{0, Problem{"the engine wrote something that is not a reply (" + r.error().message + "): " + std::string(line.substr(0, 200))}});
          return true;
        },
        [&] { on_reply_(Reply{0, Problem{"the engine wrote a line longer than " + std::to_string(kMaxLine) + " bytes"}}); });
  }
  ::close(out_);
  if (err_thread_.joinable()) err_thread_.join();  // its last words are read before the exit is told
  int st = 0;
  while (::waitpid(pid_, &st, 0) < 0 && errno == EINTR) {}
  {
    std::lock_guard lock(write_mu_);
    if (in_ >= 0) ::close(in_);
    in_ = -1;
  }
  running_ = false;
  bool asked = asked_to_stop_;
  std::string why = asked && WIFEXITED(st) && WEXITSTATUS(st) == 0 ? "" : describe_exit(st);
  if (on_exit_) on_exit_(why);
}

}  // namespace protocol
