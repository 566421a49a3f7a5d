// The store under load: 8 zdt_worker processes (a free objective, so the store is the bottleneck)
// on one study of 400 trials, on SQLite and on a real PostgreSQL server started here, first
// undisturbed (throughput and overhead per trial), then with workers SIGKILLed at random and
// restarted (every trial finished once, none lost, none twice). Optuna's RDB storage runs on the
// same server with the same workers and trials (bench/peer_optuna_rdb.py) for the ratio.
//   bench_store [trials=400] [workers=8] [kills=6]
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/store.h"
#include "support/pg_server.h"

namespace {

pid_t spawn(const std::string& db, int index, int total) {
  pid_t p = fork();
  if (p == 0) {
    freopen("/dev/null", "w", stdout);
    setenv("CIRCUIT_HOST", ("machine-" + std::to_string(index)).c_str(), 1);
    std::string w = std::to_string(index), t = std::to_string(total);
    execl(CIRCUIT_ZDT_WORKER, "zdt_worker", db.c_str(), "zdt", "--total", t.c_str(), "--worker", w.c_str(), "--lease", "2",
          "--population", "20", (char*)nullptr);
    _exit(127);
  }
  return p;
}

struct Outcome {
  double seconds = 0;
  int kills = 0;
  bool exact = false;  // every trial finished once
  std::string problem;
};

Outcome run(const std::string& db, int trials, int workers, int kills) {
  Outcome o;
  std::mt19937 rng(7);
  std::vector<pid_t> pids;
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < workers; ++i) pids.push_back(spawn(db, i, trials));
  std::set<pid_t> live(pids.begin(), pids.end());
  int next_index = workers;
  while (!live.empty()) {
    if (o.kills < kills) {
      std::this_thread::sleep_for(std::chrono::milliseconds(150 + rng() % 300));
      pid_t victim = pids[rng() % pids.size()];
      if (live.count(victim) && kill(victim, SIGKILL) == 0) {
        waitpid(victim, nullptr, 0);
        live.erase(victim);
        ++o.kills;
        pid_t again = spawn(db, next_index++, trials);  // restarted, as a supervisor would
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
  o.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  auto s = store::Store::open(db);
  if (!s) return o.problem = s.error().message, o;
  auto st = (*s)->find_study("zdt");
  if (!st || !*st) return o.problem = "no study", o;
  auto all = (*s)->trials((**st).id);
  std::set<std::string> points;
  std::set<int64_t> seqs;
  int finished = 0;
  for (auto& t : *all) {
    finished += t.status == store::TrialStatus::finished;
    points.insert(t.point);
    seqs.insert(t.seq);
  }
  o.exact = int(all->size()) == trials && finished == trials && int(points.size()) == trials && int(seqs.size()) == trials &&
            *seqs.rbegin() == trials;
  if (!o.exact)
    o.problem += " trials " + std::to_string(all->size()) + ", finished " + std::to_string(finished) + ", distinct commits " +
                 std::to_string(seqs.size());
  return o;
}

void report(const char* name, const Outcome& o, int trials, int workers) {
  std::printf("%-24s %6.2f s  %7.1f trials/s  %7.2f worker-ms per trial  kills %d  %s%s\n", name, o.seconds, trials / o.seconds,
              workers * o.seconds / trials * 1000, o.kills, o.exact ? "every trial finished once" : "WRONG:", o.problem.c_str());
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
  report("ours, SQLite, kills", run((dir / "kills.sqlite").string(), trials, workers, kills), trials, workers);
  report("ours, PostgreSQL, kills", run(pg->create_database("kills"), trials, workers, kills), trials, workers);
  std::fflush(stdout);
  std::string peer = "/usr/bin/python3 " CIRCUIT_SOURCE_DIR "/bench/peer_optuna_rdb.py " + pg->create_database("optuna") + " " +
                     std::to_string(trials) + " " + std::to_string(workers);
  FILE* f = popen(peer.c_str(), "r");
  char line[512];
  double optuna_ms = 0;
  while (f && fgets(line, sizeof line, f)) {
    std::fputs(line, stdout);
    if (const char* p = std::strstr(line, " s, ")) {
      double wall = 0;
      int done = 0;
      if (std::sscanf(line, "optuna-postgresql: %d trials complete, %lf s", &done, &wall) == 2 && done > 0)
        optuna_ms = workers * wall / done * 1000;
      (void)p;
    }
  }
  if (f) pclose(f);
  double ours_ms = workers * pq.seconds / trials * 1000;
  if (optuna_ms > 0)
    std::printf("overhead per trial on PostgreSQL: ours %.2f vs Optuna %.2f worker-ms: %.1fx lower (target >= 10x)\n", ours_ms, optuna_ms,
                optuna_ms / ours_ms);
  std::filesystem::remove_all(dir);
  return 0;
}
