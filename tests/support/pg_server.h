// A real PostgreSQL server for one test process: initdb into a fresh temporary folder, a free port
// on 127.0.0.1, started with pg_ctl and stopped (and its folder removed) by the destructor. Run as
// the `postgres` user through runuser when we are root (CI is; the server refuses to run as root).
#pragma once
#include <memory>
#include <string>

namespace testing_pg {

/// One server. Not copyable; `stop()` / `start()` simulate an outage on the same port and data.
class Server {
 public:
  /// Starts a server, or returns null with `why` set (no PostgreSQL installed, initdb failed...).
  static std::unique_ptr<Server> start_new(std::string* why);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// Creates database `name` and returns its URL, postgresql://circuit@127.0.0.1:PORT/name.
  std::string create_database(const std::string& name);
  bool stop();
  bool start();
  int port() const { return port_; }
  const std::string& dir() const { return dir_; }

 private:
  Server() = default;
  int run(const std::string& cmd) const;  // as the server's user
  std::string bin_, dir_, user_;
  int port_ = 0;
  bool running_ = false;
};

/// The server shared by one test process (started on first use, stopped at exit), or null with
/// the reason for GTEST_SKIP.
Server* shared(std::string* why);

}  // namespace testing_pg
