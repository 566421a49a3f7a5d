#include "base/paths.h"

#include <cstdlib>
#include <filesystem>
#include <system_error>

namespace base {

namespace fs = std::filesystem;

std::string executable_path() {
  std::error_code ec;
  fs::path p = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string() : p.string();
}

std::string data_dir() {
  if (const char* env = std::getenv("CIRCUIT_DATA_DIR"); env && *env) return env;
  std::string exe = executable_path();
  if (exe.empty()) return {};
  std::error_code ec;
  fs::path dir = fs::path(exe).parent_path();
  // bin/ -> prefix (installed); app/cli/ -> build/ (the build tree): at most a few levels up.
  for (int up = 0; up < 5 && !dir.empty(); ++up, dir = dir.parent_path()) {
    fs::path candidate = dir / "share" / "circuit-studio";
    if (fs::is_directory(candidate / "examples", ec)) return candidate.string();
    if (dir == dir.root_path()) break;
  }
  return {};
}

std::string data_path(std::string_view rel) {
  std::string d = data_dir();
  return d.empty() ? std::string() : d + "/" + std::string(rel);
}

}  // namespace base
