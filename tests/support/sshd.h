// A real OpenSSH server for one test process, standing in for "the other machine": host and user
// keys made with ssh-keygen in a fresh temporary folder, sshd on a free port of 127.0.0.1, and an
// ssh_config whose host `engine-host` logs in with an authorized key and `refused-host` with a
// key the server does not know. Stopped, and its folder removed, by the destructor.
#pragma once
#include <sys/types.h>

#include <memory>
#include <string>

namespace testing_ssh {

/// One server. Not copyable.
class Server {
 public:
  /// Starts a server, or returns null with `why` set (no sshd installed, a key it cannot make...).
  static std::unique_ptr<Server> start_new(std::string* why);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  /// The ssh command for $CIRCUIT_SSH: "ssh -F DIR/ssh_config".
  std::string ssh_command() const { return "ssh -F " + dir_ + "/ssh_config"; }
  const std::string& dir() const { return dir_; }
  int port() const { return port_; }

 private:
  Server() = default;
  std::string dir_;
  int port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace testing_ssh
