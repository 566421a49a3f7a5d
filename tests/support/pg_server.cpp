#include "pg_server.h"

#include <pwd.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <system_error>

#include "base/net.h"

namespace testing_pg {

namespace fs = std::filesystem;

namespace {

// The newest installed server (Debian: /usr/lib/postgresql/<major>/bin).
std::string find_bin() {
  std::string best;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/usr/lib/postgresql", ec)) {
    auto bin = e.path() / "bin";
    if (fs::exists(bin / "initdb") && (best.empty() || bin.string() > best)) best = bin.string();
  }
  return best;
}

}  // namespace

int Server::run(const std::string& cmd) const {
  // From our own folder: the server's user may not be allowed into the test's working directory.
  std::string full = "cd " + dir_ + " && " + (user_.empty() ? cmd : "runuser -u " + user_ + " -- " + cmd);
  return std::system((full + " >>" + dir_ + "/commands.log 2>&1").c_str());
}

std::unique_ptr<Server> Server::start_new(std::string* why) {
  std::unique_ptr<Server> s(new Server);
  s->bin_ = find_bin();
  if (s->bin_.empty()) return *why = "no PostgreSQL server under /usr/lib/postgresql (Debian package `postgresql`)", nullptr;
  char tmpl[] = "/tmp/circuit-pg-XXXXXX";
  if (!mkdtemp(tmpl)) return *why = "cannot make a temporary folder", nullptr;
  s->dir_ = tmpl;
  if (geteuid() == 0) {
    passwd* pw = getpwnam("postgres");
    if (!pw) return *why = "running as root and there is no `postgres` user to run the server as", nullptr;
    s->user_ = "postgres";
    if (chown(s->dir_.c_str(), pw->pw_uid, pw->pw_gid) != 0) return *why = "cannot hand " + s->dir_ + " to postgres", nullptr;
  }
  if (s->run(s->bin_ + "/initdb -D " + s->dir_ + "/data -U circuit --auth=trust -E UTF8 --no-sync") != 0)
    return *why = "initdb failed (see " + s->dir_ + "/commands.log)", nullptr;
  s->port_ = base::free_tcp_port();
  if (!s->start()) return *why = "the server did not start (see " + s->dir_ + "/server.log)", nullptr;
  return s;
}

bool Server::start() {
  // Sockets in our folder, TCP only on the loopback: nothing outside this machine can reach it.
  std::string opts = "-p " + std::to_string(port_) + " -k " + dir_ + " -c listen_addresses=127.0.0.1 -c max_connections=200";
  running_ = run(bin_ + "/pg_ctl -D " + dir_ + "/data -l " + dir_ + "/server.log -w -t 60 -o '" + opts + "' start") == 0;
  return running_;
}

bool Server::stop() {
  bool ok = run(bin_ + "/pg_ctl -D " + dir_ + "/data -m fast -w -t 60 stop") == 0;
  if (ok) running_ = false;
  return ok;
}

std::string Server::create_database(const std::string& name) {
  run(bin_ + "/createdb -h 127.0.0.1 -p " + std::to_string(port_) + " -U circuit " + name);
  return "postgresql://circuit@127.0.0.1:" + std::to_string(port_) + "/" + name;
}

Server::~Server() {
  if (running_) stop();
  std::error_code ec;
  if (!dir_.empty() && !std::getenv("CIRCUIT_KEEP_PG")) fs::remove_all(dir_, ec);
}

Server* shared(std::string* why) {
  static std::string reason;
  static std::unique_ptr<Server> server = Server::start_new(&reason);
  if (!server) *why = reason;
  return server.get();
}

}  // namespace testing_pg
