// SQLite behind store::sql::Connection: a file in WAL mode, readers never blocked by the writer,
// writers serialised by BEGIN IMMEDIATE (one writer per file, whatever the key).
#include <sqlite3.h>

#include <chrono>
#include <cstdlib>
#include <thread>

#include "detail/sql.h"

namespace store::sql {

using base::Error;

int64_t Rows::i64(size_t r, size_t c) const { return std::strtoll(rows[r][c].c_str(), nullptr, 10); }
double Rows::f(size_t r, size_t c) const { return std::strtod(rows[r][c].c_str(), nullptr); }

namespace {

class Sqlite final : public Connection {
 public:
  Sqlite(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~Sqlite() override { sqlite3_close(db_); }

  Result<Rows> run(const std::string& sql, const std::vector<Value>& params) override {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), int(sql.size()), &s, nullptr) != SQLITE_OK) return fail();
    for (size_t i = 0; i < params.size(); ++i) {
      int k = int(i + 1);
      if (auto* v = std::get_if<int64_t>(&params[i])) sqlite3_bind_int64(s, k, *v);
      else if (auto* d = std::get_if<double>(&params[i])) sqlite3_bind_double(s, k, *d);
      else {
        auto& t = std::get<std::string>(params[i]);
        sqlite3_bind_text(s, k, t.data(), int(t.size()), SQLITE_TRANSIENT);
      }
    }
    Rows out;
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
      int n = sqlite3_column_count(s);
      auto& row = out.rows.emplace_back(size_t(n));
      for (int c = 0; c < n; ++c) {
        // REAL columns are read as doubles and printed exactly: SQLite's own text form keeps 15 digits.
        if (sqlite3_column_type(s, c) == SQLITE_FLOAT) {
          char b[32];
          std::snprintf(b, sizeof b, "%.17g", sqlite3_column_double(s, c));
          row[size_t(c)] = b;
        } else if (auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s, c))) {
          row[size_t(c)].assign(p, size_t(sqlite3_column_bytes(s, c)));
        }
      }
    }
    if (rc != SQLITE_DONE) {
      Error e = fail();
      sqlite3_finalize(s);
      return e;
    }
    sqlite3_finalize(s);
    out.changed = sqlite3_changes(db_);
    return out;
  }

  Status script(const std::string& sql) override {
    // Switching a new file to WAL and creating the schema can meet "database is locked" at once,
    // without the busy handler, when several processes open a fresh store together (workers of
    // one study started at the same moment): SQLite refuses rather than risk a deadlock. The
    // schema is idempotent, so it is simply tried again for as long as the busy timeout.
    for (auto start = std::chrono::steady_clock::now();;) {
      char* err = nullptr;
      int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
      std::string m = err ? err : sqlite3_errmsg(db_);
      sqlite3_free(err);
      if (rc == SQLITE_OK) return {};
      bool busy = (rc & 0xff) == SQLITE_BUSY || (rc & 0xff) == SQLITE_LOCKED;
      if (!busy || std::chrono::steady_clock::now() - start > std::chrono::seconds(30)) return Status::fail(path_ + ": " + m);
      sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);  // in case a transaction began
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::string begin_sql(int64_t) const override { return "BEGIN IMMEDIATE"; }
  Status begin_keyed(const std::string&) override { return begin(0); }
  Status commit() override {
    if (sqlite3_exec(db_, "COMMIT", nullptr, nullptr, nullptr) != SQLITE_OK)
      return Status::fail(path_ + ": commit failed: " + sqlite3_errmsg(db_));
    return {};
  }
  void rollback() override { sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr); }
  std::string now() const override { return "((julianday('now') - 2440587.5) * 86400.0)"; }
  std::string id_column() const override { return "INTEGER PRIMARY KEY"; }
  const std::string& name() const override { return path_; }

 private:
  Error fail() const { return Error{path_ + ": " + sqlite3_errmsg(db_)}; }
  sqlite3* db_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<Connection>> open_sqlite(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr) != SQLITE_OK) {
    std::string m = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Error{path + ": cannot open the store: " + m};
  }
  auto c = std::make_unique<Sqlite>(db, path);
  // Other processes may hold the write lock for a moment; wait rather than fail.
  sqlite3_busy_timeout(db, 30000);
  // NORMAL in WAL mode: a commit survives a process crash (SIGKILL); only power loss may drop
  // the last transactions, never corrupt the file.
  if (auto st = c->script("PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON"); !st) return Error{st.error};
  return std::unique_ptr<Connection>(std::move(c));
}

}  // namespace store::sql
