// Faults of a study shared through PostgreSQL, with four real worker processes (zdt_worker) that
// each claim to be a different machine ($CIRCUIT_HOST), so only leases, not process ids, can tell
// that a worker is gone: (a) one is killed while it trains, (b) the database server stops and
// starts again mid-study, (c) one is paused past its lease and then continued. Every study must
// end with each trial finished exactly once.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "store/store.h"
#include "support/pg_server.h"

namespace {

struct Worker {
  pid_t pid = 0;
  std::string log;
};

Worker spawn(const std::string& url, int index, const std::vector<std::string>& options) {
  Worker w;
  w.log = std::string(::testing::TempDir()) + "zdt_worker_" + std::to_string(getpid()) + "_" + std::to_string(index) + ".log";
  w.pid = fork();
  if (w.pid == 0) {
    int fd = open(w.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, 1), dup2(fd, 2);
    setenv("CIRCUIT_HOST", ("machine-" + std::to_string(index)).c_str(), 1);
    std::vector<std::string> args = {CIRCUIT_ZDT_WORKER, url, "zdt", "--worker", std::to_string(index)};
    args.insert(args.end(), options.begin(), options.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return w;
}

std::string slurp(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// Waits for a worker; true when it exited with 0.
// Polls until `done` or `seconds` pass (generous: CI machines may be busy compiling).
template <class F>
bool wait_until(F done, double seconds = 60) {
  auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  while (!done()) {
    if (std::chrono::steady_clock::now() > end) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

bool wait_ok(const Worker& w) {
  int status = 0;
  waitpid(w.pid, &status, 0);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

class Faults : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string why;
    server_ = testing_pg::shared(&why);
    if (!server_) GTEST_SKIP() << "no PostgreSQL server: " << why;
  }
  // A study of `total` trials with the given lease, created before any worker starts.
  std::string make_study(const std::string& db, double lease) {
    url_ = server_->create_database(db + "_" + std::to_string(getpid()));
    auto s = store::Store::open(url_);
    EXPECT_TRUE(s.ok()) << s.error().message;
    store_ = std::move(*s);
    store::StudyInfo info{0, "zdt", "zdt1", "[]", "nsga2", 1, 0};
    info.lease_seconds = lease;
    study_ = store_->open_study(info)->id;
    return url_;
  }
  // Four workers on the study, each trial sleeping `sleep_ms`, until it holds `total` trials.
  std::vector<Worker> start_workers(int total, int sleep_ms) {
    std::vector<Worker> ws;
    for (int i = 0; i < 4; ++i)
      ws.push_back(spawn(url_, i, {"--total", std::to_string(total), "--sleep-ms", std::to_string(sleep_ms)}));
    return ws;
  }
  // A running trial held by `pid`, or 0.
  int running_of(pid_t pid) {
    auto all = store_->trials(study_);
    if (!all) return 0;
    for (auto& t : *all)
      if (t.status == store::TrialStatus::running && t.pid == pid) return t.number;
    return 0;
  }
  int64_t finished() { return *store_->count(study_, store::TrialStatus::finished); }
  // Every trial finished, numbers 1..total, points distinct, and one commit each: the finishing
  // order has no gaps and no repeats (a second commit would take a second seq).
  void expect_exactly_once(int total) {
    auto all = *store_->trials(study_);
    ASSERT_EQ(all.size(), size_t(total));
    std::set<std::string> points;
    std::set<int64_t> seqs;
    for (size_t i = 0; i < all.size(); ++i) {
      EXPECT_EQ(all[i].number, int(i) + 1);
      EXPECT_EQ(all[i].status, store::TrialStatus::finished) << "trial " << all[i].number << ": " << all[i].error;
      EXPECT_TRUE(points.insert(all[i].point).second) << all[i].point;
      seqs.insert(all[i].seq);
    }
    EXPECT_EQ(seqs.size(), size_t(total));
    EXPECT_EQ(*seqs.begin(), 1);
    EXPECT_EQ(*seqs.rbegin(), total);
  }

  testing_pg::Server* server_ = nullptr;
  std::unique_ptr<store::Store> store_;
  std::string url_;
  int64_t study_ = 0;
};

TEST_F(Faults, AKilledWorkersTrialRunsAgainElsewhereAfterItsLease) {
  const int total = 40;
  make_study("killed", 1.5);
  std::vector<Worker> ws = start_workers(total, 300);
  int victim = 0;
  wait_until([&] { return finished() >= 4 && (victim = running_of(ws[0].pid)) > 0; });
  ASSERT_GT(victim, 0) << "worker 0 never held a trial";
  kill(ws[0].pid, SIGKILL);
  EXPECT_FALSE(wait_ok(ws[0]));
  for (int i = 1; i < 4; ++i) EXPECT_TRUE(wait_ok(ws[i])) << slurp(ws[i].log);
  expect_exactly_once(total);
  auto t = **store_->trial(study_, victim);
  EXPECT_NE(t.pid, ws[0].pid);
  EXPECT_EQ(t.attempts, 2);
  EXPECT_NE(t.history.find("the lease of machine-0:" + std::to_string(ws[0].pid) + " ran out"), std::string::npos) << t.history;
}

TEST_F(Faults, BTheServerStopsAndStartsAgainMidStudy) {
  const int total = 30;
  auto url = make_study("outage", 10);
  std::vector<Worker> ws = start_workers(total, 200);
  wait_until([&] { return finished() >= 8; });
  ASSERT_GE(finished(), 8);
  ASSERT_TRUE(server_->stop());
  std::this_thread::sleep_for(std::chrono::seconds(3));
  ASSERT_TRUE(server_->start());
  std::string logs;
  for (auto& w : ws) {
    EXPECT_TRUE(wait_ok(w)) << slurp(w.log);
    logs += slurp(w.log);
  }
  // Our own connection was cut too: it reconnects like the workers'.
  expect_exactly_once(total);
  EXPECT_NE(logs.find("store: lost the connection to " + url), std::string::npos) << logs;
  EXPECT_NE(logs.find("store: reconnected to " + url), std::string::npos) << logs;
}

TEST_F(Faults, CAWorkerPausedPastItsLeaseDoesNotCommitASecondResult) {
  const int total = 40;
  make_study("paused", 1.0);
  std::vector<Worker> ws = start_workers(total, 400);
  int stolen = 0;
  auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!stolen && std::chrono::steady_clock::now() < give_up) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    if (finished() < 3) continue;
    if (!running_of(ws[0].pid)) continue;
    kill(ws[0].pid, SIGSTOP);
    stolen = running_of(ws[0].pid);  // still its trial once it is stopped?
    // Stopped inside a transaction it would hold the study's lock (until the server ends the
    // idle session after 60 s): only a pause during training is this test's case. The others
    // still commit then.
    if (stolen) {
      int64_t before = finished();
      if (!wait_until([&] { return finished() > before; }, 3)) stolen = 0;
    }
    // A commit already on its way when the signal came lands anyway: then the trial is finished,
    // by this worker, and there is nothing to steal. Seen once in CI; try again.
    if (stolen && running_of(ws[0].pid) != stolen) stolen = 0;
    if (!stolen) kill(ws[0].pid, SIGCONT);
  }
  ASSERT_GT(stolen, 0);
  // Past its lease: another worker takes the trial back and finishes it.
  wait_until([&] {
    auto t = store_->trial(study_, stolen);
    return t && *t && (**t).status == store::TrialStatus::finished;
  });
  auto t = **store_->trial(study_, stolen);
  ASSERT_EQ(t.status, store::TrialStatus::finished);
  EXPECT_NE(t.pid, ws[0].pid);
  kill(ws[0].pid, SIGCONT);
  for (auto& w : ws) EXPECT_TRUE(wait_ok(w)) << slurp(w.log);
  std::string log = slurp(ws[0].log);
  EXPECT_NE(log.find("trial " + std::to_string(stolen) + " discarded: lease lost"), std::string::npos) << log;
  expect_exactly_once(total);
  auto after = **store_->trial(study_, stolen);
  EXPECT_EQ(after.seq, t.seq);  // the committed result is the other worker's, unchanged
  EXPECT_EQ(after.metrics, t.metrics);
}

}  // namespace
