// PostgreSQL behind store::sql::Connection, through libpq. Writers of one study are serialised
// by a transaction-scoped advisory lock on the study id (what BEGIN IMMEDIATE is to SQLite, but
// per study, so studies do not wait on each other); readers never wait.
#include <libpq-fe.h>

#include <cstdio>
#include <cstring>
#include <unordered_map>

#include "detail/sql.h"

namespace store::sql {

using base::Error;

std::string redact(const std::string& url) {
  // scheme://user:password@host... -> scheme://user@host...
  auto scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  auto at = url.find('@', scheme + 3);
  if (at == std::string::npos) return url;
  auto colon = url.find(':', scheme + 3);
  if (colon == std::string::npos || colon > at) return url;
  return url.substr(0, colon) + url.substr(at);
}

namespace {

// Advisory locks are one 64-bit namespace per server; ours are tagged so that other applications'
// locks on small numbers do not collide with our study ids.
constexpr int64_t kLockTag = int64_t(0x43495243) << 32;  // "CIRC"

// libpq's messages span lines ("...\n\tThis probably means..."): one line reads better in a log.
std::string trimmed(const char* m) {
  std::string s;
  for (const char* p = m ? m : ""; *p; ++p) {
    if (*p == '\n' || *p == '\t') {
      if (!s.empty() && s.back() != ' ') s += ' ';
    } else {
      s += *p;
    }
  }
  while (!s.empty() && s.back() == ' ') s.pop_back();
  return s;
}

// `?` -> `$1`, `$2`, ... (our statements have no `?` inside string literals).
std::string numbered(const std::string& sql) {
  std::string out;
  out.reserve(sql.size() + 16);
  int n = 0;
  for (char c : sql) {
    if (c == '?') out += "$" + std::to_string(++n);
    else out += c;
  }
  return out;
}

// A worker paused (SIGSTOP, a frozen VM) inside a transaction would hold its study's lock; the
// server ends such a session after 60 s, so the others go on (its lease then runs out too).
void configure(PGconn* c) { PQclear(PQexec(c, "SET idle_in_transaction_session_timeout = 60000")); }

class Postgres final : public Connection {
 public:
  Postgres(PGconn* c, std::string name) : c_(c), name_(std::move(name)) {
    // "relation already exists, skipping" and the like would go to stderr.
    PQsetNoticeProcessor(c_, [](void*, const char*) {}, nullptr);
  }
  ~Postgres() override { PQfinish(c_); }

  Result<Rows> run(const std::string& sql, const std::vector<Value>& params) override {
    lost_ = false;
    std::vector<std::string> text(params.size());
    std::vector<const char*> values(params.size());
    for (size_t i = 0; i < params.size(); ++i) {
      if (auto* v = std::get_if<int64_t>(&params[i])) text[i] = std::to_string(*v);
      else if (auto* d = std::get_if<double>(&params[i])) {
        char b[32];
        std::snprintf(b, sizeof b, "%.17g", *d);
        text[i] = b;
      } else text[i] = std::get<std::string>(params[i]);
      values[i] = text[i].c_str();
    }
    // Each statement is parsed and planned once per session, then only executed: the server's
    // parse and plan were most of its work per trial (bench_store).
    auto it = prepared_.find(sql);
    if (it == prepared_.end()) {
      std::string name = "s" + std::to_string(prepared_.size());
      PGresult* p = PQprepare(c_, name.c_str(), numbered(sql).c_str(), int(params.size()), nullptr);
      if (PQresultStatus(p) != PGRES_COMMAND_OK) return fail(p);
      PQclear(p);
      it = prepared_.emplace(sql, name).first;
    }
    PGresult* r = PQexecPrepared(c_, it->second.c_str(), int(params.size()), values.data(), nullptr, nullptr, 0);
    auto st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return fail(r);
    Rows out;
    int n = PQntuples(r), m = PQnfields(r);
    out.rows.resize(size_t(n));
    for (int i = 0; i < n; ++i) {
      out.rows[size_t(i)].resize(size_t(m));
      for (int j = 0; j < m; ++j) out.rows[size_t(i)][size_t(j)].assign(PQgetvalue(r, i, j), size_t(PQgetlength(r, i, j)));
    }
    const char* changed = PQcmdTuples(r);
    out.changed = changed && *changed ? std::strtoll(changed, nullptr, 10) : 0;
    PQclear(r);
    return out;
  }

  Status script(const std::string& sql) override {
    lost_ = false;
    PGresult* r = PQexec(c_, sql.c_str());
    auto st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) return Status(fail(r));
    PQclear(r);
    return {};
  }

  std::string begin_sql(int64_t key) const override {
    if (key < 0) return "BEGIN";
    return "BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kLockTag + key) + ")";
  }
  Status begin_keyed(const std::string& key_query) override {
    return script("BEGIN; SELECT pg_advisory_xact_lock(" + std::to_string(kLockTag) + " + (" + key_query + "))");
  }
  Status commit() override {
    lost_ = false;
    PGresult* r = PQexec(c_, "COMMIT");
    if (PQresultStatus(r) != PGRES_COMMAND_OK) return Status(fail(r));
    // A transaction that failed earlier "commits" as a rollback.
    bool committed = std::strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    if (!committed) return Status::fail(name_ + ": the transaction was rolled back");
    return {};
  }
  void rollback() override {
    if (PQstatus(c_) != CONNECTION_OK) return;
    PQclear(PQexec(c_, "ROLLBACK"));
  }
  std::string now() const override { return "CAST(extract(epoch from clock_timestamp()) AS DOUBLE PRECISION)"; }
  std::string id_column() const override { return "BIGSERIAL PRIMARY KEY"; }
  bool lost() const override { return lost_; }
  Status reconnect() override {
    prepared_.clear();  // they lived in the lost session
    PQreset(c_);
    if (PQstatus(c_) != CONNECTION_OK) return Status::fail(name_ + ": " + trimmed(PQerrorMessage(c_)));
    configure(c_);
    return {};
  }
  const std::string& name() const override { return name_; }
  bool is_postgres() const override { return true; }

 private:
  Error fail(PGresult* r) {
    std::string m = trimmed(r ? PQresultErrorMessage(r) : nullptr);
    if (m.empty()) m = trimmed(PQerrorMessage(c_));
    const char* state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
    // Class 08: connection exceptions; 57P01-03: the server is shutting down or starting up.
    lost_ = PQstatus(c_) != CONNECTION_OK || (state && (std::strncmp(state, "08", 2) == 0 || std::strncmp(state, "57P0", 4) == 0));
    PQclear(r);
    return Error{name_ + ": " + m};
  }

  PGconn* c_;
  std::string name_;
  bool lost_ = false;
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
};

}  // namespace

Result<std::unique_ptr<Connection>> open_postgres(const std::string& url) {
  std::string name = redact(url);
  // A server that does not answer is an error after 10 s, not a hang; a URL may say otherwise.
  const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
  const char* values[] = {"10", "circuit", url.c_str(), nullptr};
  PGconn* c = PQconnectdbParams(keys, values, 1);
  if (!c) return Error{name + ": cannot connect: out of memory"};
  if (PQstatus(c) != CONNECTION_OK) {
    std::string m = trimmed(PQerrorMessage(c));
    PQfinish(c);
    return Error{name + ": cannot connect: " + m};
  }
  configure(c);
  return std::unique_ptr<Connection>(std::make_unique<Postgres>(c, name));
}

}  // namespace store::sql
