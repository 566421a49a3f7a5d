// A study killed with SIGKILL mid-way resumes without losing or repeating finished trials, and
// three processes on one study record every trial exactly once: on SQLite and on PostgreSQL.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "search/study.h"
#include "support/pg_server.h"

namespace search {
namespace {

enum class Backend { sqlite, postgresql };

class Resume : public ::testing::TestWithParam<Backend> {
 protected:
  void SetUp() override {
    std::string why;
    if (GetParam() == Backend::postgresql && !testing_pg::shared(&why)) GTEST_SKIP() << "no PostgreSQL server: " << why;
  }
  // A new, empty store: a file, or a database of its own on the shared server.
  std::string fresh(const std::string& name) {
    if (GetParam() == Backend::postgresql) {
      std::string why;
      return testing_pg::shared(&why)->create_database("resume_" + name + "_" + std::to_string(getpid()));
    }
    auto p = std::filesystem::temp_directory_path() / ("resume_test_" + std::to_string(getpid()) + "_" + name + ".db");
    for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + s);
    return p.string();
  }
};

Problem zdt_problem() {
  Problem p;
  p.cardinalities.assign(6, 11);
  p.objectives = {{"f1", Direction::minimize}, {"f2", Direction::minimize}};
  return p;
}

Evaluation zdt1(const store::TrialRecord&, const Point& pt, int sleep_ms) {
  if (sleep_ms) std::this_thread::sleep_for(std::chrono::milliseconds(sleep_ms));
  double g = 0;
  for (size_t i = 1; i < pt.choice.size(); ++i) g += pt.choice[i] / 10.0;
  g = 1 + 9 * g / double(pt.choice.size() - 1);
  double f1 = pt.choice[0] / 10.0;
  return {true, {{"f1", f1}, {"f2", g * (1 - std::sqrt(f1 / g))}}, ""};
}

int run_child(const std::string& path, int worker, int trials, int64_t total, int sleep_ms) {
  auto db = store::Store::open(path);
  if (!db) return std::fprintf(stderr, "worker %d: %s\n", worker, db.error().message.c_str()), 2;
  auto st = (*db)->open_study({0, "zdt", "", "[]", "nsga2", 1, 0});
  if (!st) return std::fprintf(stderr, "worker %d: %s\n", worker, st.error().message.c_str()), 3;
  RunConfig cfg;
  cfg.seed = 1, cfg.worker = worker, cfg.trials = trials, cfg.total = total, cfg.options.population = 10;
  auto r = run_trials(**db, st->id, zdt_problem(), [&](auto& t, auto& p) { return zdt1(t, p, sleep_ms); }, cfg);
  if (!r) std::fprintf(stderr, "worker %d: %s\n", worker, r.error().message.c_str());
  return r ? 0 : 4;
}

TEST_P(Resume, SigkillMidStudyLosesAndRepeatsNothing) {
  const std::string path = fresh("crash");
  const int total = 60;
  pid_t child = fork();
  if (child == 0) _exit(run_child(path, 0, -1, total, 20));
  // Kill it once some trials have finished (and one is almost surely running).
  auto db = std::move(*store::Store::open(path));
  int64_t study = 0;
  std::map<int, store::TrialRecord> before;
  for (int wait = 0; wait < 2000; ++wait) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    auto s = db->find_study("zdt");
    if (!s || !*s) continue;
    study = (*s)->id;
    if (*db->count(study, store::TrialStatus::finished) >= 15) break;
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  auto killed = *db->trials(study);  // a named copy: the Result must outlive the loop
  for (auto& t : killed)
    if (t.status == store::TrialStatus::finished) before[t.number] = t;
  ASSERT_GE(before.size(), 15u);
  ASSERT_LT(before.size(), size_t(total));  // killed mid-way

  // Resume in another child (so the dead owner's trial is re-queued and re-run).
  pid_t again = fork();
  if (again == 0) _exit(run_child(path, 0, -1, total, 0));
  waitpid(again, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);

  auto after = *db->trials(study);
  EXPECT_EQ(after.size(), size_t(total));
  std::set<std::string> points;
  std::set<int> numbers;
  for (auto& t : after) {
    EXPECT_EQ(t.status, store::TrialStatus::finished) << t.number;
    EXPECT_TRUE(points.insert(t.point).second) << "point twice: " << t.point;
    EXPECT_TRUE(numbers.insert(t.number).second);
  }
  EXPECT_EQ(*numbers.begin(), 1);
  EXPECT_EQ(*numbers.rbegin(), total);
  for (auto& [n, t] : before) {  // every trial finished before the kill is unchanged
    auto now = *db->trial(study, n);
    ASSERT_TRUE(now);
    EXPECT_EQ(now->point, t.point) << "trial " << n << " finished " << t.finished << " vs " << now->finished;
    EXPECT_EQ(now->metrics, t.metrics);
    EXPECT_EQ(now->finished, t.finished);
  }
}

TEST_P(Resume, ThreeProcessesRecordEveryTrialOnce) {
  const std::string path = fresh("concurrent");
  const int each = 25;
  std::vector<pid_t> kids;
  for (int w = 0; w < 3; ++w) {
    pid_t c = fork();
    if (c == 0) _exit(run_child(path, w, each, -1, 1));
    kids.push_back(c);
  }
  for (pid_t c : kids) {
    int status = 0;
    waitpid(c, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "exit status " << WEXITSTATUS(status);
  }
  auto db = std::move(*store::Store::open(path));
  auto study = **db->find_study("zdt");
  auto all = *db->trials(study.id);
  ASSERT_EQ(all.size(), size_t(3 * each));
  std::set<std::string> points;
  std::map<int64_t, int> per_pid;
  for (size_t i = 0; i < all.size(); ++i) {
    EXPECT_EQ(all[i].number, int(i) + 1);
    EXPECT_EQ(all[i].status, store::TrialStatus::finished);
    EXPECT_TRUE(points.insert(all[i].point).second) << all[i].point;
    per_pid[all[i].pid]++;
  }
  EXPECT_EQ(per_pid.size(), 3u);
  for (auto& [pid, n] : per_pid) EXPECT_EQ(n, each);
}

TEST_P(Resume, SeededStudiesRepeat) {
  std::vector<std::string> runs[2];
  for (int k = 0; k < 2; ++k) {
    auto db = std::move(*store::Store::open(fresh("repeat" + std::to_string(k))));
    auto st = *db->open_study({0, "zdt", "", "[]", "nsga2", 1, 0});
    RunConfig cfg;
    cfg.seed = 5, cfg.trials = 40, cfg.options.population = 10, cfg.reference = {1.1, 11};
    int events = 0;
    cfg.on_event = [&](const SearchEvent& e) { events += std::holds_alternative<FrontUpdate>(e); };
    auto r = run_trials(*db, st.id, zdt_problem(), [](auto& t, auto& p) { return zdt1(t, p, 0); }, cfg);
    ASSERT_TRUE(r.ok()) << r.error().message;
    EXPECT_EQ(events, 40);
    EXPECT_GT(r->front.hypervolume, 0);
    auto trials = *db->trials(st.id);
    for (auto& t : trials) runs[k].push_back(t.point);
  }
  EXPECT_EQ(runs[0], runs[1]);
  EXPECT_EQ(runs[0].size(), 40u);
}

INSTANTIATE_TEST_SUITE_P(Backends, Resume, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& info) { return info.param == Backend::sqlite ? "sqlite" : "postgresql"; });

}  // namespace
}  // namespace search
