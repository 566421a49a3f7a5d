#include "support/sshd.h"

#include "base/file.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>
#include <vector>

extern char** environ;

namespace testing_ssh {

namespace {

int free_port() {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t n = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &n);
  ::close(s);
  return ntohs(a.sin_port);
}

bool accepts(int port) {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(uint16_t(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::connect(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(s);
  return ok;
}


}  // namespace

std::unique_ptr<Server> Server::start_new(std::string* why) {
  const char* sshd = "/usr/sbin/sshd";
  if (::access(sshd, X_OK) != 0 || ::access("/usr/bin/ssh-keygen", X_OK) != 0) {
    *why = "needs OpenSSH's server and client (apt install openssh-server openssh-client; scripts/setup.sh does)";
    return nullptr;
  }
  std::unique_ptr<Server> s(new Server);
  char tmpl[] = "/tmp/circuit-sshd-XXXXXX";
  if (!::mkdtemp(tmpl)) return *why = "mkdtemp failed", nullptr;
  s->dir_ = tmpl;
  ::chmod(tmpl, 0755);
  const std::string& d = s->dir_;
  for (const char* key : {"host_key", "user_key", "other_key"})
    if (std::system(("ssh-keygen -q -t ed25519 -N '' -C circuit-test -f " + d + "/" + key + " >/dev/null 2>&1").c_str()) != 0)
      return *why = std::string("ssh-keygen could not make ") + key, nullptr;
  std::filesystem::copy_file(d + "/user_key.pub", d + "/authorized_keys");
  // As root, sshd wants its privilege-separation folder (the package's service makes it at boot).
  if (::geteuid() == 0) std::filesystem::create_directories("/run/sshd");
  s->port_ = free_port();
  const std::string port = std::to_string(s->port_);
  std::ofstream(d + "/sshd_config") << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << d << "/host_key\n"
                                    << "AuthorizedKeysFile " << d << "/authorized_keys\nPidFile " << d << "/sshd.pid\n"
                                    << "PubkeyAuthentication yes\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n"
                                    << "UsePAM no\nStrictModes no\nPermitRootLogin prohibit-password\nAllowTcpForwarding no\n"
                                    << "X11Forwarding no\nLogLevel ERROR\n";
  const passwd* pw = ::getpwuid(::geteuid());
  std::string user = pw ? pw->pw_name : "root";
  auto host_pub = base::read_file(d + "/host_key.pub");
  if (!host_pub) return *why = host_pub.error().message, nullptr;
  std::ofstream(d + "/known_hosts") << "[127.0.0.1]:" << port << " " << *host_pub;
  std::ofstream config(d + "/ssh_config");
  for (auto [alias, key] : {std::pair{"engine-host", "user_key"}, std::pair{"refused-host", "other_key"}})
    config << "Host " << alias << "\n  HostName 127.0.0.1\n  Port " << port << "\n  User " << user << "\n  IdentityFile " << d << "/" << key
           << "\n  IdentitiesOnly yes\n  UserKnownHostsFile " << d << "/known_hosts\n  StrictHostKeyChecking yes\n  LogLevel ERROR\n";
  config.close();
  // -D: in the foreground, so it is our child; -e: its log on our stderr.
  std::string conf = d + "/sshd_config";
  std::vector<char*> argv{const_cast<char*>(sshd), const_cast<char*>("-D"), const_cast<char*>("-e"), const_cast<char*>("-f"), conf.data(), nullptr};
  if (int rc = ::posix_spawn(&s->pid_, sshd, nullptr, nullptr, argv.data(), environ); rc != 0) return *why = "cannot start sshd", nullptr;
  for (int i = 0; i < 200 && !accepts(s->port_); ++i) {
    int st = 0;
    if (::waitpid(s->pid_, &st, WNOHANG) == s->pid_) {
      s->pid_ = -1;
      return *why = "sshd exited at start (its log is above)", nullptr;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!accepts(s->port_)) return *why = "sshd does not accept connections on 127.0.0.1:" + port, nullptr;
  return s;
}

Server::~Server() {
  if (pid_ > 0) {
    ::kill(pid_, SIGTERM);
    int st = 0;
    ::waitpid(pid_, &st, 0);
  }
  std::error_code ec;
  if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

}  // namespace testing_ssh
