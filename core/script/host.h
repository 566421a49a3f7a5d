// The embedded Lua 5.4 host: one Lua state per experiment, with a sandbox, an instruction limit
// and a memory limit, and the `circuit` module already in `package.loaded`. A Host is never
// shared across threads (a lua_State is not thread-safe); give each worker its own.
//
// Extending the `circuit` module from another library (the engine half adds train, evaluate,
// data sets, the tensor type and Lua routers this way, without core/script linking LibTorch):
//
//   1. Process-wide, before Hosts are created — every later Host runs the extension while it
//      builds its `circuit` module:
//        script::register_module_extension([](lua_State* L, int module) {
//          lua_pushcfunction(L, my_train); lua_setfield(L, module, "train");
//        });
//   2. On one Host:  host.add_module_functions(my_functions);  // a luaL_Reg array ending in {nullptr, nullptr}
//
// Either way, a C function reads a circuit argument with script::check_circuit (circuit_module.h)
// and should raise errors through script::protect (errors.h) so C++ objects are destroyed before
// Lua unwinds. docs/lua.md must document every function added: a test compares the two.
#pragma once
#include <atomic>
#include <lua.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/result.h"

namespace script {

/// How much a script may do before it is stopped with a clear error.
struct Limits {
  int64_t instructions = 1'000'000'000;  // Lua VM instructions per top-level call; 0: no limit
  size_t memory_bytes = size_t(1) << 30;  // bytes the Lua state may hold; 0: no limit
  /// Native memory (tensors, compiled models, data sets, a running circuit.train or search trial) the script's
  /// objects may hold; 0: 80 % of the RAM available when the Host starts, the engine's budget.
  size_t native_bytes = 0;
};

/// What a Host allows. The default is the sandbox: no processes, no writing files, no C modules.
struct HostOptions {
  bool allow_io = false;  // lifts the sandbox (`circuit run --allow-io`)
  Limits limits;
  /// Folders `require` may load Lua files from (`name.lua`, `name/init.lua`), searched in order.
  std::vector<std::string> require_paths;
};

/// Instructions allowed while one plugin file runs: loading a plugin should only build a table.
inline constexpr int64_t kPluginLoadInstructions = 10'000'000;

/// One plugin file and what loading it gave. `error` is empty for a plugin that loaded.
struct PluginInfo {
  std::string kind;         // router, strategy, block, metric ("" if the file did not say)
  std::string name;
  std::string description;  // first line only
  std::string file;
  std::string error;        // "file:line: what" (plus a traceback for runtime errors)
  bool ok() const { return error.empty(); }
};

/// Runs `extension(L, module)` with the `circuit` module table at stack index `module`.
using ModuleExtension = std::function<void(lua_State* L, int module)>;
/// Adds an extension that every Host created afterwards applies to its `circuit` module.
void register_module_extension(ModuleExtension extension);

/// A Lua state with the sandbox, the limits and the `circuit` module.
class Host {
 public:
  explicit Host(HostOptions options = {});
  ~Host();
  Host(const Host&) = delete;
  Host& operator=(const Host&) = delete;

  lua_State* state() const { return L_; }
  const HostOptions& options() const { return options_; }
  /// The Host that owns `L` (every state made by a Host knows it).
  static Host& of(lua_State* L);

  /// Runs a Lua file with the global `arg` = {[0] = path, args...} and `...` = args.
  /// Errors read "file:line: message" followed by a stack traceback.
  base::Status run_file(const std::string& path, const std::vector<std::string>& args = {});
  /// Runs Lua source; `chunk_name` names it in messages ("=name" verbatim, "@file" as a file).
  base::Status run_string(std::string_view code, const std::string& chunk_name = "=(string)");
  /// Like lua_pcall(L, nargs, nresults, handler) for the function below the arguments, under the
  /// limits and with a traceback in the error. On error the stack is as before the function.
  base::Status call(int nargs, int nresults);

  /// Adds C functions to this Host's `circuit` module (see the top of this file).
  void add_module_functions(const luaL_Reg* functions);
  /// Changes the instruction limit for later calls (0: no limit).
  void set_instruction_limit(int64_t instructions) { options_.limits.instructions = instructions; }
  /// Stops the running script (from any thread, e.g. a GUI's Stop button) within about a
  /// thousand instructions: it fails with "interrupted" and a traceback, and pcall cannot catch it.
  void interrupt() { interrupted = true; }

  /// Loads every `*.lua` file of each folder (missing folders are skipped) as a plugin; a
  /// broken file is reported in its PluginInfo and does not stop the others. Plugins that load
  /// become available to Lua as circuit.plugin(name). Returns what this call loaded.
  std::vector<PluginInfo> load_plugins(const std::vector<std::string>& folders);
  /// Every plugin file loaded so far, in load order.
  const std::vector<PluginInfo>& plugins() const { return plugins_; }

  /// Native memory held by this state's Lua objects. Native objects (tensors, models) live outside
  /// Lua's heap, where a 150 MB model is a 100-byte userdata: the collector never sees them, and no
  /// limit would count them. The bindings report each object here instead: its bytes count against
  /// Limits::native_bytes, and once as much has been made since the last collection as was held
  /// after it (at least kNativeCollectFloor), a full collection runs, as Lua paces its own heap.
  /// Objects are counted by key: tensors that share a storage hold it once.
  ///
  /// Before allocating `bytes` for `what`: "" when they fit, else the error to raise (after a full
  /// collection freed what was unreachable). Keys already held need no room.
  std::string make_room(size_t bytes, std::string_view what);
  /// Counts `bytes` under `key`; a second hold of a key adds a reference only.
  void hold_native(const void* key, size_t bytes);
  /// Drops one reference; the key's bytes stop counting with its last.
  void drop_native(const void* key);
  bool holds_native(const void* key) const { return native_.refs.count(key) > 0; }
  size_t native_held() const { return native_.held; }
  size_t native_limit() const { return native_.limit; }
  int64_t native_holds() const { return native_.holds; }  // hold_native calls so far (bench_lua_router prices them)
  static constexpr size_t kNativeCollectFloor = size_t(64) << 20;

  // Used by the allocator and the count hook (host.cpp); public so they need no friends.
  struct Memory {
    size_t used = 0, limit = 0;
    bool exceeded = false;  // an allocation was refused since the last top-level call began
  };
  Memory memory;
  int64_t executed = 0;  // instructions counted since the last top-level call began
  std::atomic<bool> interrupted{false};  // set by interrupt(); cleared when a top-level call begins

 private:
  base::Status finish(int status);
  void open_module();

  struct Native {
    size_t held = 0, limit = 0;
    size_t made = 0, after_collect = 0;  // bytes made since the last full collection, and held after it
    int64_t holds = 0;
    std::unordered_map<const void*, std::pair<int64_t, size_t>> refs;  // key -> references, bytes
  };
  Native native_;
  HostOptions options_;
  lua_State* L_ = nullptr;
  std::string startup_error_;
  int depth_ = 0;  // nested call() depth: limits restart only at the top level
  std::vector<PluginInfo> plugins_;
};

/// Plugin folders in search order: the repository's `plugins/`, then each folder of
/// $CIRCUIT_PLUGIN_PATH (colon-separated) or, when it is unset, ~/.local/share/circuit-studio/plugins.
std::vector<std::string> default_plugin_folders();

}  // namespace script
