#include "base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>

namespace base {

Result<std::string> read_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) return Error{path + ": cannot open: " + std::strerror(errno)};
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

Status write_file_atomic(const std::string& path, std::string_view content) {
  std::string tmp = path + ".tmp-XXXXXX";
  int fd = mkstemp(tmp.data());
  if (fd < 0) return Status::fail(path + ": cannot create a temporary file beside it: " + std::strerror(errno));
  size_t done = 0;
  while (done < content.size()) {
    ssize_t w = ::write(fd, content.data() + done, content.size() - done);
    if (w < 0) {
      if (errno == EINTR) continue;
      std::string e = std::strerror(errno);
      ::close(fd);
      ::unlink(tmp.c_str());
      return Status::fail(path + ": write failed: " + e);
    }
    done += size_t(w);
  }
  fchmod(fd, 0644);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    std::string e = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::fail(path + ": could not flush to disk: " + e);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::string e = std::strerror(errno);
    ::unlink(tmp.c_str());
    return Status::fail(path + ": could not replace the file: " + e);
  }
  return {};
}

}  // namespace base
