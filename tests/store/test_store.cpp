// The experiment store on both of its databases (one parameterised suite): studies, trial
// claiming, leases, completion, series, artifacts. PostgreSQL runs as a real server of this test
// process (tests/support/pg_server.h).
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "store/store.h"
#include "support/pg_server.h"

namespace store {
namespace {

enum class Backend { sqlite, postgresql };

std::string fresh_file(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("store_test_" + std::to_string(getpid()) + "_" + name + ".db");
  for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + s);
  return p.string();
}

class StoreTest : public ::testing::TestWithParam<Backend> {
 protected:
  // A new, empty store: a file, or a database of its own on the shared server.
  std::string fresh(const std::string& name) {
    if (GetParam() == Backend::sqlite) return fresh_file(name);
    std::string why;
    auto* pg = testing_pg::shared(&why);
    if (!pg) return "";
    return pg->create_database("t_" + name + "_" + std::to_string(getpid()));
  }
  void SetUp() override {
    std::string why;
    if (GetParam() == Backend::postgresql && !testing_pg::shared(&why)) GTEST_SKIP() << "no PostgreSQL server: " << why;
  }
  std::unique_ptr<Store> open(const std::string& name) {
    auto db = Store::open(fresh(name));
    EXPECT_TRUE(db.ok()) << db.error().message;
    return db ? std::move(*db) : nullptr;
  }
};

TEST_P(StoreTest, StudiesAreCreatedOnceByName) {
  auto db = open("studies");
  ASSERT_TRUE(db);
  StudyInfo first{0, "s1", "{spec}", "[]", "nsga2", 7, 0};
  first.lease_seconds = 12.5, first.max_attempts = 5, first.settings = "{\"total\": 4}";
  auto a = db->open_study(first);
  auto b = db->open_study({0, "s1", "{other}", "[]", "random", 8, 0});
  ASSERT_TRUE(a.ok() && b.ok()) << (a ? b.error().message : a.error().message);
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(b->spec, "{spec}");  // the stored study wins
  EXPECT_EQ(b->seed, 7u);
  EXPECT_DOUBLE_EQ(b->lease_seconds, 12.5);
  EXPECT_EQ(b->max_attempts, 5);
  EXPECT_EQ(b->settings, "{\"total\": 4}");
  EXPECT_GT(b->created, 1.7e9);  // the database's clock, in Unix seconds
  EXPECT_FALSE(*db->find_study("nope"));
  EXPECT_EQ(db->studies()->size(), 1u);
}

TEST_P(StoreTest, TrialsAreNumberedAndPointsUnique) {
  auto db = open("trials");
  ASSERT_TRUE(db);
  auto st = *db->open_study({0, "s", "", "[]", "random", 0, 0});
  db->set_worker("cpu, test");
  auto c1 = *db->start_trial(st.id, {"0,1", "{}", 5, "{\"epochs\": 1}"});
  auto c2 = *db->start_trial(st.id, {"1,1", "", 6, ""});
  auto dup = *db->start_trial(st.id, {"0,1", "", 7, ""});
  ASSERT_EQ(c1.kind, Claim::Kind::started);
  EXPECT_EQ(c1.trial.number, 1);
  EXPECT_EQ(c2.trial.number, 2);
  EXPECT_EQ(c1.trial.status, TrialStatus::running);
  EXPECT_EQ(c1.trial.pid, getpid());
  EXPECT_EQ(c1.trial.worker, "cpu, test");
  EXPECT_EQ(c1.trial.attempts, 1);
  EXPECT_EQ(c1.trial.lease.size(), 16u);
  EXPECT_NE(c1.trial.lease, c2.trial.lease);
  EXPECT_NEAR(c1.trial.lease_until - c1.trial.started, 60, 1);  // the default lease
  EXPECT_EQ(dup.kind, Claim::Kind::duplicate_point);
  EXPECT_EQ(db->start_trial(st.id, {"2,2", "", 0, ""}, 2)->kind, Claim::Kind::budget_reached);

  EXPECT_FALSE(*db->finish_trial(c1.trial.id, c2.trial.lease, {}));  // not its lease
  ASSERT_TRUE(*db->finish_trial(c1.trial.id, c1.trial.lease, {{"accuracy", 0.875}, {"params", 1234}}, {{"params", 0}}));
  ASSERT_TRUE(*db->fail_trial(c2.trial.id, c2.trial.lease, "NaN loss at step 3"));
  // The same commit again (as after a reply lost in the network) is this worker's own: no change.
  EXPECT_TRUE(*db->finish_trial(c1.trial.id, c1.trial.lease, {{"accuracy", 0.5}}));
  EXPECT_FALSE(*db->fail_trial(c1.trial.id, c1.trial.lease, "late"));
  auto all = *db->trials(st.id);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status, TrialStatus::finished);
  EXPECT_DOUBLE_EQ(all[0].metrics.at("accuracy"), 0.875);
  EXPECT_EQ(all[0].protocol, "{\"epochs\": 1}");
  EXPECT_EQ(all[0].seed, 5u);
  // SQLite's clock (julianday('now')) has millisecond resolution; the claim's is the system clock's.
  EXPECT_GT(all[0].finished, all[0].started - 2e-3);
  EXPECT_EQ(all[1].status, TrialStatus::failed);
  EXPECT_EQ(all[1].error, "NaN loss at step 3");
  EXPECT_EQ(all[0].seq, 1);
  EXPECT_EQ(all[1].seq, 2);
  EXPECT_EQ(db->completed_since(st.id, 1)->size(), 1u);
  EXPECT_EQ(*db->count(st.id, TrialStatus::finished), 1);
}

TEST_P(StoreTest, DeadOwnersTrialsAreRequeuedAndClaimed) {
  auto name = fresh("requeue");
  auto db = std::move(*Store::open(name));
  auto st = *db->open_study({0, "s", "", "[]", "random", 0, 0});
  pid_t child = fork();
  if (child == 0) {
    auto d = Store::open(name);
    auto c = (*d)->start_trial(st.id, {"3", "", 0, ""});
    _exit(c.ok() && c->kind == Claim::Kind::started ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto mine = *db->start_trial(st.id, {"4", "", 0, ""});
  // The child's lease is far from running out, but its process on this host is gone.
  EXPECT_EQ(*db->requeue_expired(st.id), 1);  // the child's, not ours: we are alive
  auto claimed = *db->claim_queued(st.id);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->point, "3");
  EXPECT_EQ(claimed->number, 1);
  EXPECT_EQ(claimed->pid, getpid());
  EXPECT_EQ(claimed->attempts, 2);
  EXPECT_NE(claimed->history.find("is gone"), std::string::npos) << claimed->history;
  EXPECT_FALSE(*db->claim_queued(st.id));
  EXPECT_EQ(mine.trial.number, 2);
}

TEST_P(StoreTest, ExpiredLeasesGoBackToTheQueueAndTheirOwnerCannotCommit) {
  auto db = open("lease");
  ASSERT_TRUE(db);
  StudyInfo info{0, "s", "", "[]", "random", 0, 0};
  info.lease_seconds = 0.3;
  auto st = *db->open_study(info);
  auto first = db->start_trial(st.id, {"7", "", 0, ""})->trial;
  EXPECT_TRUE(*db->renew_lease(first.id, first.lease));
  EXPECT_FALSE(*db->renew_lease(first.id, "0000000000000000"));
  EXPECT_EQ(*db->requeue_expired(st.id), 0);  // still leased
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  auto again = *db->claim_queued(st.id);  // re-queues the expired trial, then takes it
  ASSERT_TRUE(again);
  EXPECT_EQ(again->number, first.number);
  EXPECT_EQ(again->attempts, 2);
  EXPECT_NE(again->lease, first.lease);
  EXPECT_NE(again->history.find("attempt 1: the lease of "), std::string::npos) << again->history;
  EXPECT_NE(again->history.find("ran out"), std::string::npos) << again->history;
  // The first holder comes back: it can neither renew nor commit.
  EXPECT_FALSE(*db->renew_lease(first.id, first.lease));
  EXPECT_FALSE(*db->finish_trial(first.id, first.lease, {{"f", 1}}));
  ASSERT_TRUE(*db->finish_trial(again->id, again->lease, {{"f", 2}}));
  auto t = **db->trial(st.id, first.number);
  EXPECT_DOUBLE_EQ(t.metrics.at("f"), 2);
  EXPECT_EQ(t.seq, 1);
}

TEST_P(StoreTest, ATrialThatLosesEveryLeaseIsFailedWithTheReason) {
  auto db = open("attempts");
  ASSERT_TRUE(db);
  StudyInfo info{0, "s", "", "[]", "random", 0, 0};
  info.lease_seconds = 0.1, info.max_attempts = 2;
  auto st = *db->open_study(info);
  auto t = db->start_trial(st.id, {"1", "", 0, ""})->trial;
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(*db->claim_queued(st.id));  // attempt 2
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_FALSE(*db->claim_queued(st.id));  // attempt 2 ran out too: failed, not queued
  auto r = **db->trial(st.id, t.number);
  EXPECT_EQ(r.status, TrialStatus::failed);
  EXPECT_NE(r.error.find("gave up after 2 attempts"), std::string::npos) << r.error;
  EXPECT_EQ(r.seq, 1);
}

TEST_P(StoreTest, SeriesAndArtifacts) {
  auto db = open("series");
  ASSERT_TRUE(db);
  auto st = *db->open_study({0, "s", "", "[]", "random", 0, 0});
  auto t = db->start_trial(st.id, {"0", "", 0, ""})->trial;
  ASSERT_TRUE(db->add_metrics(t.id, {{1, "loss", 2.5}, {2, "loss", 1.5}, {1, "accuracy", 0.25}}));
  ASSERT_TRUE(db->add_artifact(t.id, {"checkpoint", "runs/s/1.pt"}));
  ASSERT_TRUE(db->add_artifact(t.id, {"onnx", "runs/s/1.onnx"}));
  auto series = *db->metric_series(t.id);
  ASSERT_EQ(series.size(), 3u);
  EXPECT_EQ(series[0].name, "accuracy");
  EXPECT_DOUBLE_EQ(series[2].value, 1.5);
  auto arts = *db->artifacts(t.id);
  ASSERT_EQ(arts.size(), 2u);
  EXPECT_EQ(arts[0].path, "runs/s/1.pt");
  EXPECT_EQ(arts[1].kind, "onnx");
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values(Backend::sqlite, Backend::postgresql),
                         [](const auto& info) { return info.param == Backend::sqlite ? "sqlite" : "postgresql"; });

TEST(Store, UnopenableFileSaysWhere) {
  auto db = Store::open("/nonexistent-dir/x.db");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().message.find("/nonexistent-dir/x.db: cannot open the store"), std::string::npos);
}

TEST(Store, UnreachableServerSaysHostAndPortButNoPassword) {
  // Port 1 on the loopback: nothing listens there.
  auto db = Store::open("postgresql://alice:s3cret@127.0.0.1:1/studies");
  ASSERT_FALSE(db.ok());
  const std::string& m = db.error().message;
  EXPECT_NE(m.find("postgresql://alice@127.0.0.1:1/studies: cannot connect"), std::string::npos) << m;
  EXPECT_NE(m.find("port 1"), std::string::npos) << m;
  EXPECT_EQ(m.find("s3cret"), std::string::npos) << m;
  EXPECT_TRUE(is_url("postgres://h/db"));
  EXPECT_FALSE(is_url("studies.sqlite"));
}

TEST(Store, SchemaOneFilesAreUpgradedWithoutLoss) {
  auto path = fresh_file("schema1");
  sqlite3* raw = nullptr;
  ASSERT_EQ(sqlite3_open(path.c_str(), &raw), SQLITE_OK);
  // The first round's schema, with one finished trial and an artifact.
  const char* v1 = R"sql(
CREATE TABLE studies(id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, objectives TEXT NOT NULL,
  strategy TEXT NOT NULL, seed INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE trials(id INTEGER PRIMARY KEY, study INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,
  point TEXT NOT NULL, circuit TEXT NOT NULL DEFAULT '', seed INTEGER NOT NULL DEFAULT 0, protocol TEXT NOT NULL DEFAULT '',
  status TEXT NOT NULL, metrics TEXT NOT NULL DEFAULT '{}', constraints TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '',
  started REAL NOT NULL DEFAULT 0, finished REAL NOT NULL DEFAULT 0, pid INTEGER NOT NULL DEFAULT 0, host TEXT NOT NULL DEFAULT '',
  seq INTEGER NOT NULL DEFAULT 0, UNIQUE(study, number), UNIQUE(study, point));
CREATE TABLE metrics(trial INTEGER NOT NULL REFERENCES trials(id), step INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL);
CREATE TABLE artifacts(trial INTEGER NOT NULL REFERENCES trials(id), kind TEXT NOT NULL, path TEXT NOT NULL);
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES('schema_version', '1');
INSERT INTO studies VALUES(1, 'old', '{}', '[]', 'nsga2', 3, 1700000000);
INSERT INTO trials(id, study, number, point, status, metrics, seq) VALUES(1, 1, 1, '0,1', 'finished', '{"accuracy": 0.75}', 1);
INSERT INTO artifacts VALUES(1, 'checkpoint', 'a.pt');
)sql";
  ASSERT_EQ(sqlite3_exec(raw, v1, nullptr, nullptr, nullptr), SQLITE_OK);
  sqlite3_close(raw);
  auto db = Store::open(path);
  ASSERT_TRUE(db.ok()) << db.error().message;
  auto st = **(*db)->find_study("old");
  EXPECT_DOUBLE_EQ(st.lease_seconds, 60);
  auto t = **(*db)->trial(st.id, 1);
  EXPECT_DOUBLE_EQ(t.metrics.at("accuracy"), 0.75);
  EXPECT_EQ((*db)->artifacts(t.id)->at(0).path, "a.pt");
  auto next = (*db)->start_trial(st.id, {"1,1", "", 0, ""});
  ASSERT_TRUE(next.ok()) << next.error().message;
  EXPECT_EQ(next->trial.number, 2);
}

}  // namespace
}  // namespace store
