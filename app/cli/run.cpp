// `circuit run` (a Lua script) and `circuit plugins` (what loaded, and why anything did not).
#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <thread>
#include <memory>
#include <string>
#include <vector>

#include "args.h"
#include "commands.h"
#include "engine/distributed.h"
#include "engine/model.h"
#include "launch.h"
#include "script/engine_extension.h"
#include "script/host.h"

namespace cli {

namespace {

// Paths under the working folder are shown relative to it: shorter, and what a user typed.
std::string shown(const std::string& path) {
  std::error_code ec;
  auto rel = std::filesystem::relative(path, std::filesystem::current_path(ec), ec);
  if (ec || rel.empty() || rel.string().rfind("..", 0) == 0) return path;
  return rel.string();
}

}  // namespace

int run(const std::vector<std::string>& args) {
  script::HostOptions options;
  std::string file;
  std::vector<std::string> script_args;
  int nproc = 1;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "--allow-io" && file.empty()) options.allow_io = true;
    else if (a == "--nproc" && file.empty()) {
      auto n = i + 1 < args.size() ? Args::parse_number(args[i + 1]) : std::nullopt;
      if (!n || *n < 1 || *n > 1024 || *n != double(int(*n)))
        return std::fprintf(stderr, "circuit run: --nproc takes a whole number of ranks from 1 to 1024\n"), 2;
      nproc = int(*n), ++i;
    } else if (a == "--memory" && file.empty()) {
      auto n = i + 1 < args.size() ? Args::parse_number(args[i + 1]) : std::nullopt;
      if (!n || *n < 1) return std::fprintf(stderr, "circuit run: --memory takes the MiB of tensors and models the script may hold, at least 1\n"), 2;
      options.limits.native_bytes = size_t(*n * double(1 << 20)), ++i;
    } else if (a == "--allow-io") options.allow_io = true;
    else if (file.empty()) file = a;
    else script_args.push_back(a);
  }
  if (file.empty() || file == "--help") {
    std::fputs("usage: circuit run [--nproc N] [--memory MIB] SCRIPT.lua [args...] [--allow-io]\n"
               "  runs a Lua script in the sandbox (docs/lua.md); the script gets its arguments as `arg` and `...`\n"
               "  --allow-io  lift the sandbox: run programs, write files, load C modules\n"
               "  --memory    MiB of tensors and models the script may hold (default: 80 % of the RAM available)\n"
               "  --nproc N   run the script on N ranks (torchrun's way): its circuit.train calls train data parallel\n",
               file.empty() ? stderr : stdout);
    return file.empty() ? 2 : 0;
  }
  if (nproc > 1) {
    std::vector<std::string> rank_args{"run"};
    for (auto& a : without_nproc(args)) rank_args.push_back(a);
    return launch_ranks(nproc, rank_args, 10);
  }
  // A rank of a data-parallel script: the machine's cores shared among its local ranks.
  if (auto cfg = engine::dist_config_from_env(); cfg && cfg->active())
    engine::configure_runtime(std::max(1, int(std::thread::hardware_concurrency()) / cfg->local_world_size));
  std::error_code ec;
  if (!std::filesystem::is_regular_file(file, ec)) {
    std::fprintf(stderr, "circuit run: cannot open `%s`\n", file.c_str());
    return 2;
  }
  auto folders = script::default_plugin_folders();
  // `require` finds modules beside the script first, then in the plugin folders.
  std::string dir = std::filesystem::path(file).parent_path().string();
  options.require_paths.push_back(dir.empty() ? "." : dir);
  options.require_paths.insert(options.require_paths.end(), folders.begin(), folders.end());
  script::install_engine_extension();
  script::Host host(options);
  for (auto& p : host.load_plugins(folders))
    if (!p.ok()) std::fprintf(stderr, "circuit run: warning: plugin %s did not load (`circuit plugins` shows why)\n", shown(p.file).c_str());
  // Before the script loads circuits: a plugin router's name must already be a valid choice.
  try {
    script::register_lua_routers(host);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "circuit run: %s\n", e.what());
    return 1;
  }
  base::Status s = host.run_file(file, script_args);
  std::fflush(stdout);
  if (!s) {
    std::fprintf(stderr, "%s\n", s.error.c_str());
    return 1;
  }
  return 0;
}

int plugins(const std::vector<std::string>& args) {
  if (!args.empty()) {
    std::fputs("usage: circuit plugins\n"
               "  lists the Lua plugins of plugins/ and $CIRCUIT_PLUGIN_PATH (else ~/.local/share/circuit-studio/plugins)\n",
               args[0] == "--help" ? stdout : stderr);
    return args[0] == "--help" ? 0 : 2;
  }
  script::Host host;
  auto list = host.load_plugins(script::default_plugin_folders());
  size_t wk = 6, wn = 4, wf = 4;
  for (auto& p : list) wk = std::max(wk, p.kind.size()), wn = std::max(wn, p.name.size()), wf = std::max(wf, shown(p.file).size());
  std::printf("%-*s  %-*s  %-*s  %s\n", int(wk), "kind", int(wn), "name", int(wf), "file", "description");
  int broken = 0;
  for (auto& p : list) {
    std::string kind = p.kind.empty() ? "?" : p.kind, name = p.name.empty() ? "?" : p.name;
    if (p.ok()) {
      std::printf("%-*s  %-*s  %-*s  %s\n", int(wk), kind.c_str(), int(wn), name.c_str(), int(wf), shown(p.file).c_str(),
                  p.description.c_str());
    } else {
      ++broken;
      std::string first = p.error.substr(0, p.error.find('\n'));  // file:line: what; the traceback adds little here
      std::printf("%-*s  %-*s  %-*s  BROKEN: %s\n", int(wk), kind.c_str(), int(wn), name.c_str(), int(wf), shown(p.file).c_str(),
                  first.c_str());
    }
  }
  if (list.empty()) std::printf("(no plugins found)\n");
  std::fflush(stdout);  // the summary follows the listing when both go to one terminal or pipe
  if (broken) std::fprintf(stderr, "circuit plugins: %d of %zu plugin files did not load\n", broken, list.size());
  return broken ? 1 : 0;
}

}  // namespace cli
