#include "store.h"

#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <thread>

#include "base/json.h"
#include "detail/sql.h"

namespace store {

using base::Error;
using sql::Rows;
using sql::Transaction;

const char* to_string(TrialStatus s) {
  switch (s) {
    case TrialStatus::queued: return "queued";
    case TrialStatus::running: return "running";
    case TrialStatus::finished: return "finished";
    case TrialStatus::failed: return "failed";
  }
  return "?";
}

std::string host_name() {
  if (const char* h = std::getenv("CIRCUIT_HOST"); h && *h) return h;
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  return kill(pid_t(pid), 0) == 0 || errno == EPERM;
}

bool is_url(const std::string& name) { return name.rfind("postgresql://", 0) == 0 || name.rfind("postgres://", 0) == 0; }
std::string display_name(const std::string& name) { return is_url(name) ? sql::redact(name) : name; }

namespace {

double now() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

TrialStatus parse_status(const std::string& s) {
  if (s == "running") return TrialStatus::running;
  if (s == "finished") return TrialStatus::finished;
  if (s == "failed") return TrialStatus::failed;
  return TrialStatus::queued;
}

std::string metrics_json(const std::map<std::string, double>& m) {
  base::Json j = base::Json::object();
  for (auto& [k, v] : m) j.set(k, std::isfinite(v) ? base::Json::number(v) : base::Json::null());
  std::string s = base::write_json_line(j);
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

std::map<std::string, double> parse_metrics(const std::string& s) {
  std::map<std::string, double> m;
  auto j = base::parse_json(s);
  if (!j) return m;
  for (auto& [k, v] : j->members)
    m[k] = v.kind == base::Json::Kind::Int ? double(v.i) : v.kind == base::Json::Kind::Float ? v.f : std::nan("");
  return m;
}

// A fresh token per claim: a worker that claims the same trial twice holds two different leases.
std::string new_lease() {
  static thread_local std::mt19937_64 rng(std::random_device{}() ^ uint64_t(getpid()) << 32 ^ uint64_t(now() * 1e6));
  char b[17];
  std::snprintf(b, sizeof b, "%016llx", (unsigned long long)rng());
  return b;
}

constexpr const char* kTrialColumns =
    "id, study, number, point, circuit, seed, protocol, status, metrics, constraints, error, started, finished, pid, host, seq, "
    "lease, lease_until, attempts, history, worker";

TrialRecord read_trial(const Rows& r, size_t i) {
  TrialRecord t;
  t.id = r.i64(i, 0), t.study = r.i64(i, 1), t.number = int(r.i64(i, 2));
  t.point = r.text(i, 3), t.circuit = r.text(i, 4), t.seed = uint64_t(r.i64(i, 5)), t.protocol = r.text(i, 6);
  t.status = parse_status(r.text(i, 7));
  t.metrics = parse_metrics(r.text(i, 8)), t.constraints = parse_metrics(r.text(i, 9));
  t.error = r.text(i, 10), t.started = r.f(i, 11), t.finished = r.f(i, 12), t.pid = r.i64(i, 13), t.host = r.text(i, 14);
  t.seq = r.i64(i, 15), t.lease = r.text(i, 16), t.lease_until = r.f(i, 17), t.attempts = int(r.i64(i, 18));
  t.history = r.text(i, 19), t.worker = r.text(i, 20);
  return t;
}

std::vector<TrialRecord> read_trials(const Rows& r) {
  std::vector<TrialRecord> v;
  v.reserve(r.size());
  for (size_t i = 0; i < r.size(); ++i) v.push_back(read_trial(r, i));
  return v;
}

constexpr const char* kStudyColumns = "id, name, spec, objectives, strategy, seed, created, lease_seconds, max_attempts, settings";

StudyInfo read_study(const Rows& r, size_t i) {
  StudyInfo s{r.i64(i, 0), r.text(i, 1), r.text(i, 2), r.text(i, 3), r.text(i, 4), uint64_t(r.i64(i, 5)), r.f(i, 6)};
  s.lease_seconds = r.f(i, 7), s.max_attempts = int(r.i64(i, 8)), s.settings = r.text(i, 9);
  return s;
}

// One schema for both databases: BIGINT and DOUBLE PRECISION are what SQLite calls INTEGER and
// REAL affinity; only the auto-numbered id differs ({id}).
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS studies(
  id {id}, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, objectives TEXT NOT NULL,
  strategy TEXT NOT NULL, seed BIGINT NOT NULL, created DOUBLE PRECISION NOT NULL,
  lease_seconds DOUBLE PRECISION NOT NULL DEFAULT 60, max_attempts BIGINT NOT NULL DEFAULT 3,
  settings TEXT NOT NULL DEFAULT '{}');
CREATE TABLE IF NOT EXISTS trials(
  id {id}, study BIGINT NOT NULL REFERENCES studies(id), number BIGINT NOT NULL,
  point TEXT NOT NULL, circuit TEXT NOT NULL DEFAULT '', seed BIGINT NOT NULL DEFAULT 0,
  protocol TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, metrics TEXT NOT NULL DEFAULT '{}',
  constraints TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '', started DOUBLE PRECISION NOT NULL DEFAULT 0,
  finished DOUBLE PRECISION NOT NULL DEFAULT 0, pid BIGINT NOT NULL DEFAULT 0, host TEXT NOT NULL DEFAULT '',
  seq BIGINT NOT NULL DEFAULT 0, lease TEXT NOT NULL DEFAULT '', lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
  attempts BIGINT NOT NULL DEFAULT 0, history TEXT NOT NULL DEFAULT '', worker TEXT NOT NULL DEFAULT '',
  UNIQUE(study, number), UNIQUE(study, point));
CREATE INDEX IF NOT EXISTS trials_by_status ON trials(study, status);
CREATE INDEX IF NOT EXISTS trials_by_seq ON trials(study, seq);
CREATE TABLE IF NOT EXISTS metrics(
  trial BIGINT NOT NULL REFERENCES trials(id), step BIGINT NOT NULL, name TEXT NOT NULL, value DOUBLE PRECISION NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_by_trial ON metrics(trial, name, step);
CREATE TABLE IF NOT EXISTS artifacts(
  id {id}, trial BIGINT NOT NULL REFERENCES trials(id), kind TEXT NOT NULL, path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT INTO meta VALUES('schema_version', '2') ON CONFLICT DO NOTHING;
)sql";

// Schema 1 (the first round's SQLite files) had no leases and no artifact id.
constexpr const char* kMigrate1to2 = R"sql(
ALTER TABLE studies ADD COLUMN lease_seconds DOUBLE PRECISION NOT NULL DEFAULT 60;
ALTER TABLE studies ADD COLUMN max_attempts BIGINT NOT NULL DEFAULT 3;
ALTER TABLE studies ADD COLUMN settings TEXT NOT NULL DEFAULT '{}';
ALTER TABLE trials ADD COLUMN lease TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN lease_until DOUBLE PRECISION NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE trials ADD COLUMN history TEXT NOT NULL DEFAULT '';
ALTER TABLE trials ADD COLUMN worker TEXT NOT NULL DEFAULT '';
ALTER TABLE artifacts RENAME TO artifacts_v1;
CREATE TABLE artifacts(id INTEGER PRIMARY KEY, trial BIGINT NOT NULL REFERENCES trials(id), kind TEXT NOT NULL, path TEXT NOT NULL);
INSERT INTO artifacts(trial, kind, path) SELECT trial, kind, path FROM artifacts_v1 ORDER BY rowid;
DROP TABLE artifacts_v1;
UPDATE meta SET value = '2' WHERE key = 'schema_version';
)sql";

std::string replace_all(std::string s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
  return s;
}

const std::string& message(const base::Status& s) { return s.error; }
template <class T>
const std::string& message(const Result<T>& r) { return r.error().message; }

}  // namespace

Store::Store(std::unique_ptr<sql::Connection> c) : c_(std::move(c)) {
  notice_ = [](const std::string& m) { std::fprintf(stderr, "%s\n", m.c_str()); };
}
Store::~Store() = default;
const std::string& Store::path() const { return c_->name(); }

Result<std::unique_ptr<Store>> Store::open(const std::string& name) {
  auto c = is_url(name) ? sql::open_postgres(name) : sql::open_sqlite(name);
  if (!c) return c.error();
  sql::Connection& conn = **c;
  // The schema is created under the lock of key 0, so workers opening a new store together do
  // not race to create the same tables.
  std::string schema = conn.begin_sql(0) + ";\n" + replace_all(kSchema, "{id}", conn.id_column()) + "\nCOMMIT;";
  if (auto st = conn.script(schema); !st) return Error{"cannot create the store's tables: " + st.error};
  if (!conn.is_postgres()) {
    auto v = conn.run("SELECT value FROM meta WHERE key = 'schema_version'");
    if (!v) return v.error();
    if (!v->empty() && v->text(0, 0) == "1") {
      std::string migrate = conn.begin_sql(0) + ";\n" + kMigrate1to2 + "\nCOMMIT;";
      if (auto st = conn.script(migrate); !st) return Error{"cannot upgrade the store to schema 2: " + st.error};
    }
  }
  std::unique_ptr<Store> s(new Store(std::move(*c)));
  s->name_ = name;
  return s;
}

template <class F>
auto Store::retry(const char* what, F&& body) -> decltype(body()) {
  for (;;) {
    auto r = body();
    if (r || !c_->lost()) return r;
    // The server went away (stopped, restarted, network): wait for it, then run the whole
    // transaction again. Nothing was committed by the failed attempt, or, where the commit
    // itself was cut off, the retry finds its own work done (see finish_trial).
    notice_("store: lost the connection to " + c_->name() + " while trying to " + what + " (" + message(r) +
            "); reconnecting every second for up to " + std::to_string(int(reconnect_seconds_)) + " s");
    auto start = std::chrono::steady_clock::now();
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (c_->reconnect()) break;
      if (std::chrono::steady_clock::now() - start > std::chrono::duration<double>(reconnect_seconds_)) return r;
    }
    double waited = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    notice_("store: reconnected to " + c_->name() + " after " + std::to_string(int(waited + 0.5)) + " s; trying to " + what + " again");
  }
}

Result<std::optional<StudyInfo>> Store::find_study(const std::string& name) {
  return retry("find a study", [&]() -> Result<std::optional<StudyInfo>> {
    auto r = c_->run(std::string("SELECT ") + kStudyColumns + " FROM studies WHERE name = ?", {name});
    if (!r) return r.error();
    if (r->empty()) return std::optional<StudyInfo>();
    return std::optional<StudyInfo>(read_study(*r, 0));
  });
}

Result<std::vector<StudyInfo>> Store::studies() {
  return retry("list studies", [&]() -> Result<std::vector<StudyInfo>> {
    auto r = c_->run(std::string("SELECT ") + kStudyColumns + " FROM studies ORDER BY id");
    if (!r) return r.error();
    std::vector<StudyInfo> v;
    for (size_t i = 0; i < r->size(); ++i) v.push_back(read_study(*r, i));
    return v;
  });
}

Result<StudyInfo> Store::open_study(const StudyInfo& info) {
  if (info.name.empty()) return Error{"store: a study needs a name"};
  auto made = retry("create a study", [&]() -> base::Status {
    auto r = c_->run("INSERT INTO studies(name, spec, objectives, strategy, seed, created, lease_seconds, max_attempts, settings) "
                     "VALUES(?, ?, ?, ?, ?, " + c_->now() + ", ?, ?, ?) ON CONFLICT DO NOTHING",
                     {info.name, info.spec, info.objectives, info.strategy, int64_t(info.seed), info.lease_seconds,
                      int64_t(info.max_attempts), info.settings});
    if (!r) return r.error();
    return {};
  });
  if (!made) return Error{made.error};
  auto found = find_study(info.name);
  if (!found) return found.error();
  if (!*found) return Error{"store: study `" + info.name + "` vanished after creation"};
  return **found;
}

Result<int> Store::requeue_in_tx(int64_t study) {
  const std::string host = host_name();
  auto r = c_->run("SELECT t.id, t.pid, t.host, t.attempts, t.lease_until < " + c_->now() + ", s.max_attempts "
                   "FROM trials t JOIN studies s ON s.id = t.study WHERE t.study = ? AND t.status = 'running'",
                   {study});
  if (!r) return r.error();
  int n = 0;
  for (size_t i = 0; i < r->size(); ++i) {
    int64_t pid = r->i64(i, 1);
    const std::string& owner_host = r->text(i, 2);
    bool expired = r->text(i, 4) == "1" || r->text(i, 4) == "t";
    bool dead = owner_host == host && pid != getpid() && !process_alive(pid);
    if (!expired && !dead) continue;
    std::string why = (dead ? "process " + std::to_string(pid) + " on " + owner_host + " is gone"
                            : "the lease of " + owner_host + ":" + std::to_string(pid) + " ran out");
    int64_t attempts = r->i64(i, 3), max_attempts = r->i64(i, 5);
    char when[32];
    std::snprintf(when, sizeof when, "%.3f", now());
    std::string line = "attempt " + std::to_string(attempts) + ": " + why + " (t=" + when + ")\n";
    Result<Rows> u = attempts >= max_attempts
        ? c_->run("UPDATE trials SET status = 'failed', error = ?, history = history || ?, finished = " + c_->now() +
                      ", seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM trials WHERE study = ?) WHERE id = ?",
                  {"gave up after " + std::to_string(attempts) + " attempts: " + why, line, study, r->i64(i, 0)})
        : c_->run("UPDATE trials SET status = 'queued', lease = '', lease_until = 0, pid = 0, started = 0, "
                  "history = history || ? WHERE id = ?",
                  {line, r->i64(i, 0)});
    if (!u) return u.error();
    ++n;
  }
  return n;
}

Result<int> Store::requeue_expired(int64_t study) {
  return retry("re-queue trials whose lease ran out", [&]() -> Result<int> {
    Transaction tx(*c_);
    if (auto st = tx.begin(study); !st) return Error{st.error};
    auto n = requeue_in_tx(study);
    if (!n) return n;
    if (auto st = tx.commit(); !st) return Error{st.error};
    return n;
  });
}

namespace {

std::string lease_sql(const sql::Connection& c) {
  return c.now() + " + (SELECT lease_seconds FROM studies WHERE id = trials.study)";
}

}  // namespace

Result<std::optional<TrialRecord>> Store::claim_queued(int64_t study) {
  return retry("claim a queued trial", [&]() -> Result<std::optional<TrialRecord>> {
    // Every worker asks before every trial and there is usually nothing to claim: one read, without
    // the study's lock, says whether a queued trial or a lease that ran out is there at all.
    auto any = c_->run("SELECT 1 FROM trials WHERE study = ? AND (status = 'queued' OR (status = 'running' AND (lease_until < " +
                           c_->now() + " OR host = ?))) LIMIT 1",
                       {study, host_name()});
    if (!any) return any.error();
    if (any->empty()) return std::optional<TrialRecord>();
    Transaction tx(*c_);
    if (auto st = tx.begin(study); !st) return Error{st.error};
    if (auto n = requeue_in_tx(study); !n) return n.error();
    auto q = c_->run("SELECT id FROM trials WHERE study = ? AND status = 'queued' ORDER BY number LIMIT 1", {study});
    if (!q) return q.error();
    if (q->empty()) {  // keep what requeue_in_tx failed for good
      if (auto st = tx.commit(); !st) return Error{st.error};
      return std::optional<TrialRecord>();
    }
    auto r = c_->run("UPDATE trials SET status = 'running', pid = ?, host = ?, started = " + c_->now() + ", lease = ?, lease_until = " +
                         lease_sql(*c_) + ", attempts = attempts + 1, worker = ? WHERE id = ? RETURNING " + kTrialColumns,
                     {int64_t(getpid()), host_name(), new_lease(), worker_, q->i64(0, 0)});
    if (!r) return r.error();
    if (r->empty()) return Error{c_->name() + ": the claimed trial vanished"};
    TrialRecord t = read_trial(*r, 0);
    if (auto st = tx.commit(); !st) return Error{st.error};
    return std::optional<TrialRecord>(std::move(t));
  });
}

Result<Claim> Store::start_trial(int64_t study, const NewTrial& t, int64_t limit) {
  return retry("start a trial", [&]() -> Result<Claim> {
    Transaction tx(*c_);
    if (auto st = tx.begin(study); !st) return Error{st.error};
    // Numbered, and inserted only within the budget and when the point is new: one round trip.
    auto r = c_->run("INSERT INTO trials(study, number, point, circuit, seed, protocol, status, started, pid, host, lease, lease_until, "
                     "attempts, worker) SELECT CAST(? AS BIGINT), (SELECT COALESCE(MAX(number), 0) + 1 FROM trials WHERE study = ?), "
                     "CAST(? AS TEXT), CAST(? AS TEXT), CAST(? AS BIGINT), CAST(? AS TEXT), 'running', " + c_->now() +
                     ", CAST(? AS BIGINT), CAST(? AS TEXT), CAST(? AS TEXT), " + c_->now() +
                     " + (SELECT lease_seconds FROM studies WHERE id = ?), 1, CAST(? AS TEXT) "
                     "WHERE (CAST(? AS BIGINT) < 0 OR (SELECT COUNT(*) FROM trials WHERE study = ?) < ?) "
                     "AND NOT EXISTS (SELECT 1 FROM trials WHERE study = ? AND point = ?) RETURNING " + kTrialColumns,
                     {study, study, t.point, t.circuit, int64_t(t.seed), t.protocol, int64_t(getpid()), host_name(), new_lease(), study,
                      worker_, limit, study, limit, study, t.point});
    if (r && r->empty()) {  // refused: say why
      auto seen = c_->run("SELECT COUNT(*) FROM trials WHERE study = ? AND point = ?", {study, t.point});
      if (!seen) return seen.error();
      return Claim{seen->i64(0, 0) > 0 ? Claim::Kind::duplicate_point : Claim::Kind::budget_reached, {}};
    }
    if (!r) return r.error();
    TrialRecord rec = read_trial(*r, 0);
    if (auto st = tx.commit(); !st) return Error{st.error};
    return Claim{Claim::Kind::started, std::move(rec)};
  });
}

Result<bool> Store::renew_lease(int64_t trial, const std::string& lease) {
  return retry("renew a lease", [&]() -> Result<bool> {
    auto r = c_->run("UPDATE trials SET lease_until = " + lease_sql(*c_) + " WHERE id = ? AND lease = ? AND status = 'running'",
                     {trial, lease});
    if (!r) return r.error();
    return r->changed == 1;
  });
}

namespace {

// Commits a result under `lease`. A retry after a commit whose reply was lost finds the trial
// completed under the same lease: that is this worker's own commit, not a second one.
Result<bool> complete(sql::Connection& c, int64_t trial, const std::string& lease, const char* status, const std::string& metrics,
                      const std::string& constraints, const std::string& error) {
  Transaction tx(c);
  if (auto st = tx.begin_keyed("SELECT study FROM trials WHERE id = " + std::to_string(trial)); !st) return Error{st.error};
  auto r = c.run("UPDATE trials SET status = ?, metrics = ?, constraints = ?, error = ?, finished = " + c.now() +
                     ", lease_until = 0, seq = (SELECT COALESCE(MAX(seq), 0) + 1 FROM trials t WHERE t.study = trials.study) "
                     "WHERE id = ? AND lease = ? AND status = 'running'",
                 {std::string(status), metrics, constraints, error, trial, lease});
  if (!r) return r.error();
  if (r->changed != 1) {
    auto mine = c.run("SELECT 1 FROM trials WHERE id = ? AND lease = ? AND status = ?", {trial, lease, std::string(status)});
    if (!mine) return mine.error();
    return !mine->empty();
  }
  if (auto st = tx.commit(); !st) return Error{st.error};
  return true;
}

}  // namespace

Result<bool> Store::finish_trial(int64_t trial, const std::string& lease, const std::map<std::string, double>& metrics,
                                 const std::map<std::string, double>& constraints) {
  std::string m = metrics_json(metrics), cs = metrics_json(constraints);
  return retry("commit a trial", [&] { return complete(*c_, trial, lease, "finished", m, cs, ""); });
}

Result<bool> Store::fail_trial(int64_t trial, const std::string& lease, const std::string& error) {
  return retry("commit a failed trial", [&] { return complete(*c_, trial, lease, "failed", "{}", "{}", error); });
}

Result<std::vector<TrialRecord>> Store::trials(int64_t study) {
  return retry("list trials", [&]() -> Result<std::vector<TrialRecord>> {
    auto r = c_->run(std::string("SELECT ") + kTrialColumns + " FROM trials WHERE study = ? ORDER BY number", {study});
    if (!r) return r.error();
    return read_trials(*r);
  });
}

Result<std::vector<TrialRecord>> Store::completed_since(int64_t study, int64_t after) {
  return retry("list completed trials", [&]() -> Result<std::vector<TrialRecord>> {
    auto r = c_->run(std::string("SELECT ") + kTrialColumns + " FROM trials WHERE study = ? AND seq > ? ORDER BY seq", {study, after});
    if (!r) return r.error();
    return read_trials(*r);
  });
}

Result<std::optional<TrialRecord>> Store::trial(int64_t study, int number) {
  return retry("read a trial", [&]() -> Result<std::optional<TrialRecord>> {
    auto r = c_->run(std::string("SELECT ") + kTrialColumns + " FROM trials WHERE study = ? AND number = ?", {study, int64_t(number)});
    if (!r) return r.error();
    if (r->empty()) return std::optional<TrialRecord>();
    return std::optional<TrialRecord>(read_trial(*r, 0));
  });
}

Result<int64_t> Store::count(int64_t study, TrialStatus status) {
  return retry("count trials", [&]() -> Result<int64_t> {
    auto r = c_->run("SELECT COUNT(*) FROM trials WHERE study = ? AND status = ?", {study, std::string(to_string(status))});
    if (!r) return r.error();
    return r->i64(0, 0);
  });
}

Status Store::add_metrics(int64_t trial, const std::vector<MetricSample>& samples) {
  return retry("add metrics", [&]() -> Status {
    Transaction tx(*c_);
    if (auto st = tx.begin(-1); !st) return st;
    for (auto& m : samples)
      if (auto r = c_->run("INSERT INTO metrics(trial, step, name, value) VALUES(?, ?, ?, ?)", {trial, m.step, m.name, m.value}); !r)
        return Status(r.error());
    return tx.commit();
  });
}

Result<std::vector<MetricSample>> Store::metric_series(int64_t trial) {
  return retry("read metrics", [&]() -> Result<std::vector<MetricSample>> {
    auto r = c_->run("SELECT step, name, value FROM metrics WHERE trial = ? ORDER BY name, step", {trial});
    if (!r) return r.error();
    std::vector<MetricSample> v;
    for (size_t i = 0; i < r->size(); ++i) v.push_back({r->i64(i, 0), r->text(i, 1), r->f(i, 2)});
    return v;
  });
}

Status Store::add_artifact(int64_t trial, const Artifact& a) {
  return retry("add an artifact", [&]() -> Status {
    if (auto r = c_->run("INSERT INTO artifacts(trial, kind, path) VALUES(?, ?, ?)", {trial, a.kind, a.path}); !r) return Status(r.error());
    return {};
  });
}

Result<std::vector<Artifact>> Store::artifacts(int64_t trial) {
  return retry("read artifacts", [&]() -> Result<std::vector<Artifact>> {
    auto r = c_->run("SELECT kind, path FROM artifacts WHERE trial = ? ORDER BY id", {trial});
    if (!r) return r.error();
    std::vector<Artifact> v;
    for (size_t i = 0; i < r->size(); ++i) v.push_back({r->text(i, 0), r->text(i, 1)});
    return v;
  });
}

}  // namespace store
