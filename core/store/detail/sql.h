// The two SQL databases the store runs on, behind one small connection type: SQLite (a file, the
// embedded default) and PostgreSQL (a server many machines share, through libpq). The store's
// queries are written once, in the SQL both accept (`?` placeholders, ON CONFLICT, RETURNING,
// COALESCE); what differs lives here: how a write transaction is serialised, the server's clock,
// the id column, and what losing the connection means. Private to core/store.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <variant>
#include <vector>

#include "base/result.h"

namespace store::sql {

using base::Result;
using base::Status;

/// A bound parameter.
using Value = std::variant<int64_t, double, std::string>;

/// A statement's result: rows of text cells (both databases render exactly what we store: ids,
/// counts, JSON text, times) and the number of rows an UPDATE/INSERT/DELETE changed.
struct Rows {
  std::vector<std::vector<std::string>> rows;
  int64_t changed = 0;

  bool empty() const { return rows.empty(); }
  size_t size() const { return rows.size(); }
  const std::string& text(size_t r, size_t c) const { return rows[r][c]; }
  int64_t i64(size_t r, size_t c) const;
  double f(size_t r, size_t c) const;
};

/// One connection. Not thread-safe: one per thread.
class Connection {
 public:
  virtual ~Connection() = default;
  /// Runs one statement with `?` placeholders.
  virtual Result<Rows> run(const std::string& sql, const std::vector<Value>& params = {}) = 0;
  /// Runs several statements without parameters (the schema).
  virtual Status script(const std::string& sql) = 0;
  /// Begins a write transaction that excludes every other writer holding the same `key` (a study
  /// id; 0 for the schema; negative: no other writer excluded) until commit or rollback.
  Status begin(int64_t key) { return script(begin_sql(key)); }
  /// begin() with the key given by a query returning one integer (no parameters): one round trip
  /// where looking the key up first would take two.
  virtual Status begin_keyed(const std::string& key_query) = 0;
  /// The SQL that begin(key) runs, to open a script() (the schema) the same way.
  virtual std::string begin_sql(int64_t key) const = 0;
  virtual Status commit() = 0;
  virtual void rollback() = 0;
  /// An SQL expression for the database's clock in Unix seconds. Leases are timed by it, so the
  /// clocks of the machines that share a study need not agree.
  virtual std::string now() const = 0;
  /// The type of an auto-numbered id column.
  virtual std::string id_column() const = 0;
  /// Whether the last failure was a lost connection (the server stopped, the network broke), so
  /// the whole transaction may be tried again after reconnect().
  virtual bool lost() const { return false; }
  virtual Status reconnect() { return {}; }
  /// The file path, or the URL without its password: safe to print.
  virtual const std::string& name() const = 0;
  virtual bool is_postgres() const { return false; }
};

Result<std::unique_ptr<Connection>> open_sqlite(const std::string& path);
/// `url`: postgresql://user[:password]@host[:port]/db[?options]
Result<std::unique_ptr<Connection>> open_postgres(const std::string& url);

/// The URL with any password removed.
std::string redact(const std::string& url);

/// Rolls back unless committed, so every early return leaves no transaction open.
class Transaction {
 public:
  explicit Transaction(Connection& c) : c_(c) {}
  Status begin(int64_t key) { return opened(c_.begin(key)); }
  Status begin_keyed(const std::string& key_query) { return opened(c_.begin_keyed(key_query)); }
  Status commit() {
    auto st = c_.commit();
    open_ = false;
    return st;
  }
  ~Transaction() {
    if (open_) c_.rollback();
  }

 private:
  // A begin that failed half-way (BEGIN ran, the lock did not) still leaves a transaction to end.
  Status opened(Status st) {
    open_ = true;
    if (!st) {
      c_.rollback();
      open_ = false;
    }
    return st;
  }
  Connection& c_;
  bool open_ = false;
};

}  // namespace store::sql
