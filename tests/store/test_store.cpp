// The experiment store: studies, trial claiming, completion, series, artifacts.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>

#include "store/store.h"

namespace store {
namespace {

std::string fresh(const std::string& name) {
  auto p = std::filesystem::temp_directory_path() / ("store_test_" + std::to_string(getpid()) + "_" + name + ".db");
  for (auto s : {"", "-wal", "-shm"}) std::filesystem::remove(p.string() + s);
  return p.string();
}

TEST(Store, StudiesAreCreatedOnceByName) {
  auto db = Store::open(fresh("studies"));
  ASSERT_TRUE(db.ok()) << db.error().message;
  auto a = (*db)->open_study({0, "s1", "{spec}", "[]", "nsga2", 7, 0});
  auto b = (*db)->open_study({0, "s1", "{other}", "[]", "random", 8, 0});
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, b->id);
  EXPECT_EQ(b->spec, "{spec}");  // the stored study wins
  EXPECT_EQ(b->seed, 7u);
  EXPECT_FALSE(*(*db)->find_study("nope"));
  EXPECT_EQ((*db)->studies()->size(), 1u);
}

TEST(Store, TrialsAreNumberedAndPointsUnique) {
  auto db = std::move(*Store::open(fresh("trials")));
  auto st = *db->open_study({0, "s", "", "[]", "random", 0, 0});
  auto c1 = *db->start_trial(st.id, {"0,1", "{}", 5, "{\"epochs\": 1}"});
  auto c2 = *db->start_trial(st.id, {"1,1", "", 6, ""});
  auto dup = *db->start_trial(st.id, {"0,1", "", 7, ""});
  ASSERT_EQ(c1.kind, Claim::Kind::started);
  EXPECT_EQ(c1.trial.number, 1);
  EXPECT_EQ(c2.trial.number, 2);
  EXPECT_EQ(c1.trial.status, TrialStatus::running);
  EXPECT_EQ(c1.trial.pid, getpid());
  EXPECT_EQ(dup.kind, Claim::Kind::duplicate_point);
  EXPECT_EQ(db->start_trial(st.id, {"2,2", "", 0, ""}, 2)->kind, Claim::Kind::budget_reached);

  ASSERT_TRUE(db->finish_trial(c1.trial.id, {{"accuracy", 0.875}, {"params", 1234}}, {{"params", 0}}));
  ASSERT_TRUE(db->fail_trial(c2.trial.id, "NaN loss at step 3"));
  EXPECT_FALSE(db->finish_trial(c1.trial.id, {}));  // already finished: not running any more
  auto all = *db->trials(st.id);
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].status, TrialStatus::finished);
  EXPECT_DOUBLE_EQ(all[0].metrics.at("accuracy"), 0.875);
  EXPECT_EQ(all[0].protocol, "{\"epochs\": 1}");
  EXPECT_EQ(all[0].seed, 5u);
  EXPECT_GT(all[0].finished, all[0].started - 1e-9);
  EXPECT_EQ(all[1].status, TrialStatus::failed);
  EXPECT_EQ(all[1].error, "NaN loss at step 3");
  EXPECT_EQ(all[0].seq, 1);
  EXPECT_EQ(all[1].seq, 2);
  EXPECT_EQ(db->completed_since(st.id, 1)->size(), 1u);
  EXPECT_EQ(*db->count(st.id, TrialStatus::finished), 1);
}

TEST(Store, DeadOwnersTrialsAreRequeuedAndClaimed) {
  auto path = fresh("requeue");
  auto db = std::move(*Store::open(path));
  auto st = *db->open_study({0, "s", "", "[]", "random", 0, 0});
  pid_t child = fork();
  if (child == 0) {
    auto d = Store::open(path);
    auto c = (*d)->start_trial(st.id, {"3", "", 0, ""});
    _exit(c.ok() && c->kind == Claim::Kind::started ? 0 : 1);
  }
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_EQ(WEXITSTATUS(status), 0);
  auto mine = *db->start_trial(st.id, {"4", "", 0, ""});
  EXPECT_EQ(*db->requeue_dead(st.id), 1);  // the child's, not ours: we are alive
  auto claimed = *db->claim_queued(st.id);
  ASSERT_TRUE(claimed);
  EXPECT_EQ(claimed->point, "3");
  EXPECT_EQ(claimed->number, 1);
  EXPECT_EQ(claimed->pid, getpid());
  EXPECT_FALSE(*db->claim_queued(st.id));
  EXPECT_EQ(mine.trial.number, 2);
}

TEST(Store, SeriesAndArtifacts) {
  auto db = std::move(*Store::open(fresh("series")));
  auto st = *db->open_study({0, "s", "", "[]", "random", 0, 0});
  auto t = db->start_trial(st.id, {"0", "", 0, ""})->trial;
  ASSERT_TRUE(db->add_metrics(t.id, {{1, "loss", 2.5}, {2, "loss", 1.5}, {1, "accuracy", 0.25}}));
  ASSERT_TRUE(db->add_artifact(t.id, {"checkpoint", "runs/s/1.pt"}));
  auto series = *db->metric_series(t.id);
  ASSERT_EQ(series.size(), 3u);
  EXPECT_EQ(series[0].name, "accuracy");
  EXPECT_DOUBLE_EQ(series[2].value, 1.5);
  auto arts = *db->artifacts(t.id);
  ASSERT_EQ(arts.size(), 1u);
  EXPECT_EQ(arts[0].path, "runs/s/1.pt");
}

TEST(Store, UnopenableFileSaysWhere) {
  auto db = Store::open("/nonexistent-dir/x.db");
  ASSERT_FALSE(db.ok());
  EXPECT_NE(db.error().message.find("/nonexistent-dir/x.db: cannot open the store"), std::string::npos);
}

}  // namespace
}  // namespace store
