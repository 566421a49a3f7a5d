// The local launcher behind --nproc (launch.h): fork + exec of /proc/self/exe per rank, then a
// wait loop. Polling waitpid every 50 ms keeps the signal handling trivial (a flag) and costs
// nothing next to a training run.
#include "launch.h"

#include "base/net.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace cli {

namespace {

volatile sig_atomic_t g_interrupted = 0;
void on_interrupt(int) { g_interrupted = 1; }

std::string describe(int status) {
  if (WIFEXITED(status)) return "exited with code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "ended";
}

int exit_code(int status) {
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace

std::vector<std::string> without_nproc(const std::vector<std::string>& args) {
  std::vector<std::string> out;
  for (size_t i = 0; i < args.size(); ++i) {
    if (args[i] == "--nproc") {
      ++i;
      continue;
    }
    if (args[i].rfind("--nproc=", 0) == 0) continue;
    out.push_back(args[i]);
  }
  return out;
}

int launch_ranks(int nproc, const std::vector<std::string>& args, double grace_s) {
  const char* env_port = std::getenv("MASTER_PORT");
  int port = env_port && *env_port ? std::atoi(env_port) : base::free_tcp_port();  // torchrun's way too
  if (port == 0) port = 29500;
  std::vector<std::string> argv_s;
  argv_s.push_back("circuit");
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  struct sigaction sa {};
  sa.sa_handler = on_interrupt;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &sa, &old_int);
  sigaction(SIGTERM, &sa, &old_term);

  std::vector<pid_t> pids(size_t(nproc), -1);
  std::fflush(nullptr);
  for (int r = 0; r < nproc; ++r) {
    pid_t pid = fork();
    if (pid < 0) {
      std::fprintf(stderr, "circuit: cannot start rank %d: %s\n", r, std::strerror(errno));
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGTERM);
      return 1;
    }
    if (pid == 0) {
      sigaction(SIGINT, &old_int, nullptr);
      sigaction(SIGTERM, &old_term, nullptr);
      setenv("RANK", std::to_string(r).c_str(), 1);
      setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      setenv("MASTER_ADDR", "127.0.0.1", 1);
      setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "circuit: cannot run rank %d: %s\n", r, std::strerror(errno));
      _exit(127);
    }
    pids[size_t(r)] = pid;
  }
  std::string list;
  for (int r = 0; r < nproc; ++r) list += (r ? ", " : "") + std::to_string(pids[size_t(r)]);
  std::fprintf(stderr, "circuit: %d ranks on this machine (pids %s), rendezvous at 127.0.0.1:%d\n", nproc, list.c_str(), port);

  using clock = std::chrono::steady_clock;
  int running = nproc, first_failure = -1, code = 0;
  bool forwarded = false, terminated = false;
  clock::time_point deadline{}, kill_at{};
  while (running > 0) {
    int status = 0;
    pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      int r = 0;
      while (r < nproc && pids[size_t(r)] != pid) ++r;
      if (r == nproc) continue;
      pids[size_t(r)] = -1;
      --running;
      bool failed = !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
      if (failed && first_failure < 0) {
        first_failure = r;
        code = exit_code(status);
        if (running > 0) {
          if (!g_interrupted)  // after Ctrl-C the others are cancelling already: nothing to say
            std::fprintf(stderr, "circuit: rank %d (pid %d) %s; the other ranks get %.0f s to end\n", r, pid, describe(status).c_str(), grace_s);
          deadline = clock::now() + std::chrono::milliseconds(int64_t(grace_s * 1000));
        }
      }
      continue;
    }
    if (g_interrupted && !forwarded) {
      // From a terminal every rank got Ctrl-C already; from `kill` only we did.
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGINT);
      forwarded = true;
    }
    auto now = clock::now();
    if (first_failure >= 0 && !terminated && now >= deadline) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGTERM);
      terminated = true;
      kill_at = now + std::chrono::seconds(5);
      std::fprintf(stderr, "circuit: stopping the %d rank(s) still running after rank %d failed\n", running, first_failure);
    }
    if (terminated && now >= kill_at) {
      for (pid_t p : pids)
        if (p > 0) kill(p, SIGKILL);
      kill_at = now + std::chrono::hours(1);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  return code;
}

}  // namespace cli
