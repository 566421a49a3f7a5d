// The store under load: 8 zdt_worker processes (a free objective, so the store is the bottleneck)
// on one study of 400 trials, on SQLite and on a real PostgreSQL server started here, first
// undisturbed (throughput and overhead per trial), then with workers SIGKILLed at random and
// restarted (every trial finished once, none lost, none twice). Optuna's RDB storage runs on the
// same server with the same workers and trials (bench/peer_optuna_rdb.py) for the ratio.
//   bench_store [trials=400] [workers=8] [kills=6]
// Throughput and overhead come from the undisturbed runs; the runs with kills show correctness.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "support/pg_server.h"

namespace {

pid_t spawn(const std::string& db, int index, int total, int sleep_ms) {
  std::fflush(stdout);  // or the child's freopen writes our buffer a second time
  pid_t p = fork();
  if (p == 0) {
    freopen("/dev/null", "w", stdout);
    setenv("CIRCUIT_HOST", ("machine-" + std::to_string(index)).c_str(), 1);
    std::string w = std::to_string(index), t = std::to_string(total), ms = std::to_string(sleep_ms);
    execl(CIRCUIT_ZDT_WORKER, "zdt_worker", db.c_str(), "zdt", "--total", t.c_str(), "--worker", w.c_str(), "--lease", "2",
          "--population", "20", "--sleep-ms", ms.c_str(), (char*)nullptr);
    _exit(127);
  }
  return p;
}

struct Outcome {
  double seconds = 0;  // first trial started .. last trial finished (process start-up excluded)
  double wall = 0;     // the whole run, start-up included
  int kills = 0;
  int reruns = 0;      // claims beyond the first: trials a killed worker held, run again
  bool exact = false;  // every trial finished once
  std::string problem;
};

// With kills, each trial sleeps `sleep_ms` so that a kill lands on a worker holding a trial.
Outcome run(const std::string& db, int trials, int workers, int kills, int sleep_ms = 0) {
  Outcome o;
  std::mt19937 rng(7);
  std::vector<pid_t> pids;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < workers; ++i) pids.push_back(spawn(db, i, trials, sleep_ms));
  std::set<pid_t> live(pids.begin(), pids.end());
  int next_index = workers;
  while (!live.empty()) {
    if (o.kills < kills) {
      std::this_thread::sleep_for(std::chrono::milliseconds(100 + rng() % 200));
      pid_t victim = pids[rng() % pids.size()];
      if (live.count(victim) && kill(victim, SIGKILL) == 0) {
        waitpid(victim, nullptr, 0);
        live.erase(victim);
        ++o.kills;
        pid_t again = spawn(db, next_index++, trials, sleep_ms);  // restarted, as a supervisor would
        for (auto& p : pids)
          if (p == victim) p = again;
        live.insert(again);
      }
    }
    int status = 0;
    pid_t done = waitpid(-1, &status, o.kills < kills ? WNOHANG : 0);
    if (done > 0) {
      if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) o.problem = "a worker failed (exit " + std::to_string(WEXITSTATUS(status)) + ")";
      live.erase(done);
    }
  }
  o.wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto s = store::Store::open(db);
  if (!s) return o.problem = s.error().message, o;
  auto st = (*s)->find_study("zdt");
  if (!st || !*st) return o.problem = "no study", o;
  auto all = (*s)->trials((**st).id);
  std::set<std::string> points;
  std::set<int64_t> seqs;
  int finished = 0;
  double first = 1e300, last = 0;
  for (auto& t : *all) {
    if (t.started > 0) first = std::min(first, t.started);
    o.reruns += std::max(0, t.attempts - 1);
    last = std::max(last, t.finished);
    finished += t.status == store::TrialStatus::finished;
    points.insert(t.point);
    seqs.insert(t.seq);
  }
  o.seconds = last - first;
  o.exact = int(all->size()) == trials && finished == trials && int(points.size()) == trials && int(seqs.size()) == trials &&
            *seqs.rbegin() == trials;
  if (!o.exact)
    o.problem += " trials " + std::to_string(all->size()) + ", finished " + std::to_string(finished) + ", distinct commits " +
                 std::to_string(seqs.size());
  return o;
}

void report(const char* name, const Outcome& o, int trials, int workers) {
  std::printf("%-24s %6.2f s (%5.2f s with start-up)  %7.1f trials/s  %7.2f worker-ms per trial  kills %d, re-runs %d  %s%s\n", name,
              o.seconds, o.wall, trials / o.seconds, workers * o.seconds / trials * 1000, o.kills, o.reruns,
              o.exact ? "every trial finished once" : "WRONG:", o.problem.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  int trials = argc > 1 ? std::atoi(argv[1]) : 400, workers = argc > 2 ? std::atoi(argv[2]) : 8, kills = argc > 3 ? std::atoi(argv[3]) : 6;
  std::string why;
  auto pg = testing_pg::Server::start_new(&why);
  if (!pg) return std::fprintf(stderr, "bench_store: %s\n", why.c_str()), 1;
  auto dir = std::filesystem::temp_directory_path() / ("bench_store_" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  std::printf("%d workers, %d trials of ZDT1 (free objective), lease 2 s; PostgreSQL on 127.0.0.1:%d\n", workers, trials, pg->port());
  Outcome sq = run((dir / "calm.sqlite").string(), trials, workers, 0);
  report("ours, SQLite", sq, trials, workers);
  Outcome pq = run(pg->create_database("calm"), trials, workers, 0);
  report("ours, PostgreSQL", pq, trials, workers);
  std::printf("the same with %d random SIGKILLs of workers (each restarted) and a 20 ms objective, so that kills land mid-trial:\n", kills);
  report("ours, SQLite, kills", run((dir / "kills.sqlite").string(), trials, workers, kills, 20), trials, workers);
  report("ours, PostgreSQL, kills", run(pg->create_database("kills"), trials, workers, kills, 20), trials, workers);
  std::fflush(stdout);
  std::string peer = "/usr/bin/python3 " CIRCUIT_SOURCE_DIR "/bench/peer_optuna_rdb.py " + pg->create_database("optuna") + " " +
                     std::to_string(trials) + " " + std::to_string(workers);
  FILE* f = popen(peer.c_str(), "r");
  char line[512];
  double optuna_ms = 0;
  while (f && fgets(line, sizeof line, f)) {
    std::fputs(line, stdout);
    double span = 0;
    int done = 0;
    if (std::sscanf(line, "optuna-postgresql: %d trials complete, %lf s", &done, &span) == 2 && done > 0)
      optuna_ms = workers * span / done * 1000;
  }
  if (f) pclose(f);
  double ours_ms = workers * pq.seconds / trials * 1000;
  if (optuna_ms > 0)
    std::printf("overhead per trial on PostgreSQL: ours %.2f vs Optuna %.2f worker-ms: %.1fx lower (target >= 10x)\n", ours_ms, optuna_ms,
                optuna_ms / ours_ms);
  std::filesystem::remove_all(dir);
  return 0;
}
