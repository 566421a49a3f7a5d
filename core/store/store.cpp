#include "store.h"

#include <signal.h>
#include <sqlite3.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cmath>
#include <thread>

#include "base/json.h"

namespace store {

using base::Error;

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
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

bool process_alive(int64_t pid) {
  if (pid <= 0) return false;
  return kill(pid_t(pid), 0) == 0 || errno == EPERM;
}

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

// A prepared statement that finalizes itself.
class Stmt {
 public:
  Stmt(sqlite3* db, const char* sql) : db_(db) { rc_ = sqlite3_prepare_v2(db, sql, -1, &s_, nullptr); }
  ~Stmt() { sqlite3_finalize(s_); }
  bool ok() const { return rc_ == SQLITE_OK; }
  Error error(const std::string& what) const { return Error{"store: " + what + ": " + sqlite3_errmsg(db_)}; }
  Stmt& bind(int i, int64_t v) { sqlite3_bind_int64(s_, i, v); return *this; }
  Stmt& bind(int i, double v) { sqlite3_bind_double(s_, i, v); return *this; }
  Stmt& bind(int i, const std::string& v) { sqlite3_bind_text(s_, i, v.data(), int(v.size()), SQLITE_TRANSIENT); return *this; }
  int step() { return sqlite3_step(s_); }
  void reset() { sqlite3_reset(s_); }
  int64_t i64(int c) const { return sqlite3_column_int64(s_, c); }
  double f(int c) const { return sqlite3_column_double(s_, c); }
  std::string text(int c) const {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, c));
    return p ? std::string(p, size_t(sqlite3_column_bytes(s_, c))) : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* s_ = nullptr;
  int rc_;
};

constexpr const char* kTrialColumns =
    "id, study, number, point, circuit, seed, protocol, status, metrics, constraints, error, started, finished, pid, host, seq";

TrialRecord read_trial(const Stmt& s) {
  TrialRecord t;
  t.id = s.i64(0), t.study = s.i64(1), t.number = int(s.i64(2));
  t.point = s.text(3), t.circuit = s.text(4), t.seed = uint64_t(s.i64(5)), t.protocol = s.text(6);
  t.status = parse_status(s.text(7));
  t.metrics = parse_metrics(s.text(8)), t.constraints = parse_metrics(s.text(9));
  t.error = s.text(10), t.started = s.f(11), t.finished = s.f(12), t.pid = s.i64(13), t.host = s.text(14), t.seq = s.i64(15);
  return t;
}

constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS studies(
  id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, spec TEXT NOT NULL, objectives TEXT NOT NULL,
  strategy TEXT NOT NULL, seed INTEGER NOT NULL, created REAL NOT NULL);
CREATE TABLE IF NOT EXISTS trials(
  id INTEGER PRIMARY KEY, study INTEGER NOT NULL REFERENCES studies(id), number INTEGER NOT NULL,
  point TEXT NOT NULL, circuit TEXT NOT NULL DEFAULT '', seed INTEGER NOT NULL DEFAULT 0,
  protocol TEXT NOT NULL DEFAULT '', status TEXT NOT NULL, metrics TEXT NOT NULL DEFAULT '{}',
  constraints TEXT NOT NULL DEFAULT '{}', error TEXT NOT NULL DEFAULT '', started REAL NOT NULL DEFAULT 0,
  finished REAL NOT NULL DEFAULT 0, pid INTEGER NOT NULL DEFAULT 0, host TEXT NOT NULL DEFAULT '',
  seq INTEGER NOT NULL DEFAULT 0,
  UNIQUE(study, number), UNIQUE(study, point));
CREATE INDEX IF NOT EXISTS trials_by_status ON trials(study, status);
CREATE INDEX IF NOT EXISTS trials_by_seq ON trials(study, seq);
CREATE TABLE IF NOT EXISTS metrics(
  trial INTEGER NOT NULL REFERENCES trials(id), step INTEGER NOT NULL, name TEXT NOT NULL, value REAL NOT NULL);
CREATE INDEX IF NOT EXISTS metrics_by_trial ON metrics(trial, name, step);
CREATE TABLE IF NOT EXISTS artifacts(
  trial INTEGER NOT NULL REFERENCES trials(id), kind TEXT NOT NULL, path TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
INSERT OR IGNORE INTO meta VALUES('schema_version', '1');
)sql";

// Rolls back unless committed, so every early return leaves no transaction open.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  base::Status begin() {
    if (sqlite3_exec(db_, "BEGIN IMMEDIATE", nullptr, nullptr, nullptr) != SQLITE_OK)
      return Error{std::string("store: cannot begin a transaction: ") + sqlite3_errmsg(db_)};
    open_ = true;
    return {};
  }
  base::Status commit() {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
      return Error{std::string("store: commit failed: ") + sqlite3_errmsg(db_)};
    open_ = false;
    return {};
  }
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

}  // namespace

Result<std::unique_ptr<Store>> Store::open(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string m = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Error{path + ": cannot open the store: " + m};
  }
  std::unique_ptr<Store> s(new Store(db, path));
  // Other processes may hold the write lock for a moment; wait rather than fail.
  sqlite3_busy_timeout(db, 30000);
  // Switching a new file to WAL and creating the schema can meet "database is locked" at once,
  // without the busy handler, when several processes open a fresh store together (workers of
  // one study started at the same moment): SQLite refuses rather than risk a deadlock. Those
  // steps are idempotent, so they are simply tried again for as long as the busy timeout.
  auto setup = [&](const char* sql) -> Status {
    for (auto start = std::chrono::steady_clock::now();;) {
      char* err = nullptr;
      int rc = sqlite3_exec(db, sql, nullptr, nullptr, &err);
      std::string m = err ? err : sqlite3_errmsg(db);
      sqlite3_free(err);
      if (rc == SQLITE_OK) return {};
      bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
      if (!busy || std::chrono::steady_clock::now() - start > std::chrono::seconds(30)) return Status::fail("store: " + m);
      sqlite3_exec(db, "ROLLBACK", nullptr, nullptr, nullptr);  // in case the schema's transaction began
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  };
  if (auto st = setup("PRAGMA journal_mode=WAL"); !st) return Error{path + ": " + st.error};
  // NORMAL in WAL mode: a commit survives a process crash (SIGKILL); only power loss may drop
  // the last transactions, never corrupt the file.
  if (auto st = setup("PRAGMA synchronous=NORMAL"); !st) return Error{path + ": " + st.error};
  if (auto st = setup("PRAGMA foreign_keys=ON"); !st) return Error{path + ": " + st.error};
  // One write transaction taken up front (IMMEDIATE waits in the busy handler) for the schema.
  std::string schema = std::string("BEGIN IMMEDIATE;\n") + kSchema + "\nCOMMIT;";
  if (auto st = setup(schema.c_str()); !st) return Error{path + ": " + st.error};
  return s;
}

Store::~Store() { sqlite3_close(db_); }

Result<std::optional<StudyInfo>> Store::find_study(const std::string& name) {
  Stmt s(db_, "SELECT id, name, spec, objectives, strategy, seed, created FROM studies WHERE name = ?");
  if (!s.ok()) return s.error("find study");
  s.bind(1, name);
  int rc = s.step();
  if (rc == SQLITE_DONE) return std::optional<StudyInfo>();
  if (rc != SQLITE_ROW) return s.error("find study `" + name + "`");
  return std::optional<StudyInfo>(StudyInfo{s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4), uint64_t(s.i64(5)), s.f(6)});
}

Result<std::vector<StudyInfo>> Store::studies() {
  Stmt s(db_, "SELECT id, name, spec, objectives, strategy, seed, created FROM studies ORDER BY id");
  if (!s.ok()) return s.error("list studies");
  std::vector<StudyInfo> v;
  while (s.step() == SQLITE_ROW) v.push_back({s.i64(0), s.text(1), s.text(2), s.text(3), s.text(4), uint64_t(s.i64(5)), s.f(6)});
  return v;
}

Result<StudyInfo> Store::open_study(const StudyInfo& info) {
  if (info.name.empty()) return Error{"store: a study needs a name"};
  Transaction tx(db_);
  if (auto st = tx.begin(); !st) return Error{st.error};
  {
    Stmt s(db_, "INSERT OR IGNORE INTO studies(name, spec, objectives, strategy, seed, created) VALUES(?, ?, ?, ?, ?, ?)");
    if (!s.ok()) return s.error("create study");
    s.bind(1, info.name).bind(2, info.spec).bind(3, info.objectives).bind(4, info.strategy).bind(5, int64_t(info.seed)).bind(6, now());
    if (s.step() != SQLITE_DONE) return s.error("create study `" + info.name + "`");
  }
  if (auto st = tx.commit(); !st) return Error{st.error};
  auto found = find_study(info.name);
  if (!found) return found.error();
  if (!*found) return Error{"store: study `" + info.name + "` vanished after creation"};
  return **found;
}

Result<int> Store::requeue_dead(int64_t study) {
  Transaction tx(db_);
  if (auto st = tx.begin(); !st) return Error{st.error};
  std::vector<int64_t> dead;
  const std::string host = host_name();
  {
    Stmt s(db_, "SELECT id, pid, host FROM trials WHERE study = ? AND status = 'running'");
    if (!s.ok()) return s.error("find running trials");
    s.bind(1, study);
    while (s.step() == SQLITE_ROW)
      if (s.text(2) == host && !process_alive(s.i64(1))) dead.push_back(s.i64(0));
  }
  for (int64_t id : dead) {
    Stmt u(db_, "UPDATE trials SET status = 'queued', pid = 0, started = 0 WHERE id = ?");
    u.bind(1, id);
    if (u.step() != SQLITE_DONE) return u.error("re-queue trial");
  }
  if (auto st = tx.commit(); !st) return Error{st.error};
  return int(dead.size());
}

Result<std::optional<TrialRecord>> Store::claim_queued(int64_t study) {
  Transaction tx(db_);
  if (auto st = tx.begin(); !st) return Error{st.error};
  int64_t id = 0;
  {
    Stmt s(db_, "SELECT id FROM trials WHERE study = ? AND status = 'queued' ORDER BY number LIMIT 1");
    if (!s.ok()) return s.error("claim a queued trial");
    s.bind(1, study);
    int rc = s.step();
    if (rc == SQLITE_DONE) return std::optional<TrialRecord>();
    if (rc != SQLITE_ROW) return s.error("claim a queued trial");
    id = s.i64(0);
  }
  {
    Stmt u(db_, "UPDATE trials SET status = 'running', pid = ?, host = ?, started = ? WHERE id = ?");
    u.bind(1, int64_t(getpid())).bind(2, host_name()).bind(3, now()).bind(4, id);
    if (u.step() != SQLITE_DONE) return u.error("claim a queued trial");
  }
  std::string sql = std::string("SELECT ") + kTrialColumns + " FROM trials WHERE id = ?";
  Stmt r(db_, sql.c_str());
  r.bind(1, id);
  if (r.step() != SQLITE_ROW) return r.error("read the claimed trial");
  TrialRecord t = read_trial(r);
  if (auto st = tx.commit(); !st) return Error{st.error};
  return std::optional<TrialRecord>(std::move(t));
}

namespace {

// Inserts a trial with the next number inside an open transaction; nullopt if the point exists.
Result<std::optional<TrialRecord>> insert_trial(sqlite3* db, int64_t study, const NewTrial& t, bool running) {
  {
    Stmt s(db, "SELECT 1 FROM trials WHERE study = ? AND point = ?");
    if (!s.ok()) return s.error("look up point");
    s.bind(1, study).bind(2, t.point);
    if (s.step() == SQLITE_ROW) return std::optional<TrialRecord>();
  }
  Stmt s(db, "INSERT INTO trials(study, number, point, circuit, seed, protocol, status, started, pid, host) "
             "VALUES(?, (SELECT IFNULL(MAX(number), 0) + 1 FROM trials WHERE study = ?), ?, ?, ?, ?, ?, ?, ?, ?)");
  if (!s.ok()) return s.error("add trial");
  s.bind(1, study).bind(2, study).bind(3, t.point).bind(4, t.circuit).bind(5, int64_t(t.seed)).bind(6, t.protocol);
  s.bind(7, std::string(running ? "running" : "queued")).bind(8, running ? now() : 0.0);
  s.bind(9, running ? int64_t(getpid()) : int64_t(0)).bind(10, running ? host_name() : std::string());
  if (s.step() != SQLITE_DONE) return s.error("add trial");
  std::string sql = std::string("SELECT ") + kTrialColumns + " FROM trials WHERE id = ?";
  Stmt r(db, sql.c_str());
  r.bind(1, int64_t(sqlite3_last_insert_rowid(db)));
  if (r.step() != SQLITE_ROW) return r.error("read the new trial");
  return std::optional<TrialRecord>(read_trial(r));
}

}  // namespace

Result<Claim> Store::start_trial(int64_t study, const NewTrial& t, int64_t limit) {
  Transaction tx(db_);
  if (auto st = tx.begin(); !st) return Error{st.error};
  if (limit >= 0) {
    Stmt s(db_, "SELECT COUNT(*) FROM trials WHERE study = ?");
    s.bind(1, study);
    if (s.step() != SQLITE_ROW) return s.error("count trials");
    if (s.i64(0) >= limit) return Claim{Claim::Kind::budget_reached, {}};
  }
  auto r = insert_trial(db_, study, t, true);
  if (!r) return r.error();
  if (!*r) return Claim{Claim::Kind::duplicate_point, {}};
  if (auto st = tx.commit(); !st) return Error{st.error};
  return Claim{Claim::Kind::started, std::move(**r)};
}

namespace {

Status complete(sqlite3* db, int64_t trial, const char* status, const std::string& metrics, const std::string& constraints,
                const std::string& error) {
  Transaction tx(db);
  if (auto st = tx.begin(); !st) return st;
  Stmt s(db, "UPDATE trials SET status = ?, metrics = ?, constraints = ?, error = ?, finished = ?, "
             "seq = (SELECT IFNULL(MAX(seq), 0) + 1 FROM trials WHERE study = (SELECT study FROM trials WHERE id = ?)) "
             "WHERE id = ? AND status = 'running'");
  if (!s.ok()) return Status(s.error("complete trial"));
  s.bind(1, std::string(status)).bind(2, metrics).bind(3, constraints).bind(4, error).bind(5, now()).bind(6, trial).bind(7, trial);
  if (s.step() != SQLITE_DONE) return Status(s.error("complete trial"));
  if (sqlite3_changes(db) != 1)
    return Status::fail("store: trial " + std::to_string(trial) + " is not running (re-queued by another process?)");
  return tx.commit();
}

}  // namespace

Status Store::finish_trial(int64_t trial, const std::map<std::string, double>& metrics, const std::map<std::string, double>& constraints) {
  return complete(db_, trial, "finished", metrics_json(metrics), metrics_json(constraints), "");
}

Status Store::fail_trial(int64_t trial, const std::string& error) { return complete(db_, trial, "failed", "{}", "{}", error); }

Result<std::vector<TrialRecord>> Store::trials(int64_t study) {
  std::string sql = std::string("SELECT ") + kTrialColumns + " FROM trials WHERE study = ? ORDER BY number";
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return s.error("list trials");
  s.bind(1, study);
  std::vector<TrialRecord> v;
  while (s.step() == SQLITE_ROW) v.push_back(read_trial(s));
  return v;
}

Result<std::vector<TrialRecord>> Store::completed_since(int64_t study, int64_t after) {
  std::string sql = std::string("SELECT ") + kTrialColumns + " FROM trials WHERE study = ? AND seq > ? ORDER BY seq";
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return s.error("list completed trials");
  s.bind(1, study).bind(2, after);
  std::vector<TrialRecord> v;
  while (s.step() == SQLITE_ROW) v.push_back(read_trial(s));
  return v;
}

Result<std::optional<TrialRecord>> Store::trial(int64_t study, int number) {
  std::string sql = std::string("SELECT ") + kTrialColumns + " FROM trials WHERE study = ? AND number = ?";
  Stmt s(db_, sql.c_str());
  if (!s.ok()) return s.error("read trial");
  s.bind(1, study).bind(2, int64_t(number));
  if (s.step() != SQLITE_ROW) return std::optional<TrialRecord>();
  return std::optional<TrialRecord>(read_trial(s));
}

Result<int64_t> Store::count(int64_t study, TrialStatus status) {
  Stmt s(db_, "SELECT COUNT(*) FROM trials WHERE study = ? AND status = ?");
  if (!s.ok()) return s.error("count trials");
  s.bind(1, study).bind(2, std::string(to_string(status)));
  if (s.step() != SQLITE_ROW) return s.error("count trials");
  return s.i64(0);
}

Status Store::add_metrics(int64_t trial, const std::vector<MetricSample>& samples) {
  Transaction tx(db_);
  if (auto st = tx.begin(); !st) return st;
  Stmt s(db_, "INSERT INTO metrics(trial, step, name, value) VALUES(?, ?, ?, ?)");
  if (!s.ok()) return Status(s.error("add metrics"));
  for (auto& m : samples) {
    s.bind(1, trial).bind(2, m.step).bind(3, m.name).bind(4, m.value);
    if (s.step() != SQLITE_DONE) return Status(s.error("add metric `" + m.name + "`"));
    s.reset();
  }
  return tx.commit();
}

Result<std::vector<MetricSample>> Store::metric_series(int64_t trial) {
  Stmt s(db_, "SELECT step, name, value FROM metrics WHERE trial = ? ORDER BY name, step");
  if (!s.ok()) return s.error("read metrics");
  s.bind(1, trial);
  std::vector<MetricSample> v;
  while (s.step() == SQLITE_ROW) v.push_back({s.i64(0), s.text(1), s.f(2)});
  return v;
}

Status Store::add_artifact(int64_t trial, const Artifact& a) {
  Stmt s(db_, "INSERT INTO artifacts(trial, kind, path) VALUES(?, ?, ?)");
  if (!s.ok()) return Status(s.error("add artifact"));
  s.bind(1, trial).bind(2, a.kind).bind(3, a.path);
  if (s.step() != SQLITE_DONE) return Status(s.error("add artifact"));
  return {};
}

Result<std::vector<Artifact>> Store::artifacts(int64_t trial) {
  Stmt s(db_, "SELECT kind, path FROM artifacts WHERE trial = ? ORDER BY rowid");
  if (!s.ok()) return s.error("read artifacts");
  s.bind(1, trial);
  std::vector<Artifact> v;
  while (s.step() == SQLITE_ROW) v.push_back({s.text(0), s.text(1)});
  return v;
}

}  // namespace store
