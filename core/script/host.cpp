#include "host.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "base/paths.h"
#include "base/ram.h"
#include "base/units.h"
#include "circuit_module.h"
#include "diagram_methods.h"
#include "internal.h"

namespace script {

namespace {

// Registry keys (strings are unique enough: nothing else in the state uses these).
const char* kModuleKey = "circuit.module";
const char* kLongFileNamesKey = "circuit.long_file_names";  // shortened name -> full name

// How often the count hook runs. Limits are checked to this granularity; a hook every 1000
// instructions costs well under 1% of run time.
constexpr int kHookEvery = 1000;

std::vector<ModuleExtension>& extensions() {
  static std::vector<ModuleExtension> list;
  return list;
}

// The allocator counts what the state holds and refuses to go past the limit; Lua then runs an
// emergency collection and, if that does not help, raises a memory error.
void* allocate(void* ud, void* ptr, size_t osize, size_t nsize) {
  auto* m = static_cast<Host::Memory*>(ud);
  size_t old = ptr ? osize : 0;  // without ptr, osize encodes the kind of object, not a size
  if (nsize == 0) {
    std::free(ptr);
    m->used -= old;
    return nullptr;
  }
  if (m->limit && nsize > old && m->used - old + nsize > m->limit) {
    m->exceeded = true;
    return nullptr;
  }
  void* p = std::realloc(ptr, nsize);
  if (p) m->used = m->used - old + nsize;
  return p;
}

void count_hook(lua_State* L, lua_Debug*) {
  Host& h = Host::of(L);
  int64_t limit = h.options().limits.instructions;
  h.executed += kHookEvery;
  bool stop = h.interrupted.load(std::memory_order_relaxed);
  if (!stop && (limit <= 0 || h.executed <= limit)) return;
  // From now on every instruction raises again, so a pcall in the script cannot catch the error
  // and carry on: the first instruction after the pcall returns raises it anew.
  lua_sethook(L, count_hook, LUA_MASKCOUNT, 1);
  // Inside a hook, level 0 is the Lua function that was interrupted: that is where the loop is.
  luaL_where(L, 0);
  if (stop) lua_pushliteral(L, "interrupted");
  else lua_pushfstring(L, "instruction limit of %I exceeded", lua_Integer(limit));
  lua_concat(L, 2);
  lua_error(L);
}

// lua.c's handler: the message plus a stack traceback.
int message_handler(lua_State* L) {
  const char* msg = lua_tostring(L, 1);
  if (!msg) {
    if (luaL_callmeta(L, 1, "__tostring") && lua_type(L, -1) == LUA_TSTRING) return 1;
    msg = lua_pushfstring(L, "(error object is a %s value)", luaL_typename(L, 1));
  }
  luaL_traceback(L, L, msg, 1);
  return 1;
}

std::string mib(size_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", double(bytes) / double(1 << 20));
  return buf;
}

// Runs in protected mode: opening libraries and building tables can raise memory errors.
int setup(lua_State* L) {
  Host& h = Host::of(L);
  luaL_openlibs(L);
  if (!h.options().allow_io) install_sandbox(L);
  install_require(L, !h.options().allow_io);
  lua_newtable(L);
  int module = lua_gettop(L);
  open_circuit_module(L, module);
  open_plugin_functions(L, module);
  open_diagram_methods(L);
  for (auto& ext : extensions()) ext(L, module);
  lua_pushvalue(L, module);
  lua_setfield(L, LUA_REGISTRYINDEX, kModuleKey);
  luaL_getsubtable(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushvalue(L, module);
  lua_setfield(L, -2, "circuit");
  return 0;
}

}  // namespace

// A plugin error must name its file: "...ins_broken/a.lua:3:" does not say which folder, and
// CI clones, home folders and plugin paths are easily longer than Lua's 60 characters.
int load_file(lua_State* L, const char* path, const char* mode) {
  int status = luaL_loadfilex(L, path, mode);
  size_t n = path ? std::strlen(path) : 0;
  if (n + 1 > LUA_IDSIZE) {  // luaO_chunkid keeps "..." and the last LUA_IDSIZE - 4 characters
    luaL_getsubtable(L, LUA_REGISTRYINDEX, kLongFileNamesKey);
    lua_pushstring(L, path);
    lua_setfield(L, -2, (std::string("...") + (path + n - (LUA_IDSIZE - 4))).c_str());
    lua_pop(L, 1);
  }
  return status;
}

std::string full_file_names(lua_State* L, std::string message) {
  if (message.find("...") == std::string::npos) return message;
  lua_getfield(L, LUA_REGISTRYINDEX, kLongFileNamesKey);
  if (lua_istable(L, -1)) {
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      std::string shortened = lua_tostring(L, -2), full = lua_tostring(L, -1);
      for (size_t at = message.find(shortened); at != std::string::npos; at = message.find(shortened, at + full.size()))
        message.replace(at, shortened.size(), full);
      lua_pop(L, 1);
    }
  }
  lua_pop(L, 1);
  return message;
}

void register_module_extension(ModuleExtension extension) { extensions().push_back(std::move(extension)); }

Host::Host(HostOptions options) : options_(std::move(options)) {
  memory.limit = options_.limits.memory_bytes;
  native_.limit = options_.limits.native_bytes ? options_.limits.native_bytes : size_t(0.8 * double(base::available_ram()));
  L_ = lua_newstate(allocate, &memory);
  if (!L_) {
    startup_error_ = "cannot create a Lua state (memory limit too small?)";
    return;
  }
  *static_cast<Host**>(lua_getextraspace(L_)) = this;
  lua_sethook(L_, count_hook, LUA_MASKCOUNT, kHookEvery);
  lua_pushcfunction(L_, setup);
  if (lua_pcall(L_, 0, 0, 0) != LUA_OK) {
    startup_error_ = std::string("cannot set up Lua: ") + (lua_tostring(L_, -1) ? lua_tostring(L_, -1) : "unknown error");
    lua_pop(L_, 1);
  }
}

Host::~Host() {
  if (L_) lua_close(L_);
}

Host& Host::of(lua_State* L) { return **static_cast<Host**>(lua_getextraspace(L)); }

std::string Host::make_room(size_t bytes, std::string_view what) {
  if (!native_.limit || native_.held + bytes <= native_.limit) return {};
  lua_gc(L_, LUA_GCCOLLECT);  // unreachable tensors and models give their bytes back in their __gc
  native_.made = 0, native_.after_collect = native_.held;
  if (native_.held + bytes <= native_.limit) return {};
  return std::string(what) + " needs " + base::bytes_text(double(bytes)) + ", but the script already holds " +
         base::bytes_text(double(native_.held)) + " of tensors, models and data sets and its native memory limit is " +
         base::bytes_text(double(native_.limit)) + " (circuit.limits(); set by `circuit run --memory MIB` or the studio setting lua/memory_mib)";
}

void Host::hold_native(const void* key, size_t bytes) {
  ++native_.holds;
  auto& [refs, size] = native_.refs[key];
  if (refs++) return;
  size = bytes;
  native_.held += bytes, native_.made += bytes;
  // As Lua paces its own heap (a cycle when it has doubled): collect once as much has been made
  // as was held after the last collection. The new object is on the stack, so it survives.
  if (native_.made > std::max(native_.after_collect, kNativeCollectFloor)) {
    lua_gc(L_, LUA_GCCOLLECT);
    native_.made = 0, native_.after_collect = native_.held;
  }
}

void Host::drop_native(const void* key) {
  auto it = native_.refs.find(key);
  if (it == native_.refs.end()) return;
  if (--it->second.first > 0) return;
  native_.held -= it->second.second;
  native_.refs.erase(it);
}

base::Status Host::finish(int status) {
  if (status == LUA_OK) return {};
  std::string msg = lua_type(L_, -1) == LUA_TSTRING ? full_file_names(L_, lua_tostring(L_, -1)) : "(error object is not a string)";
  lua_pop(L_, 1);
  if (memory.exceeded) {
    // Lua says "not enough memory" (and calls no message handler for it); say which limit.
    std::string limit = "memory limit of " + mib(memory.limit) + " MiB exceeded";
    if (status == LUA_ERRMEM) return base::Status::fail(limit);
    if (auto at = msg.find("not enough memory"); at != std::string::npos) msg.replace(at, 17, limit);
  }
  return base::Status::fail(msg);
}

base::Status Host::call(int nargs, int nresults) {
  if (!startup_error_.empty()) {
    lua_pop(L_, nargs + 1);
    return base::Status::fail(startup_error_);
  }
  int base = lua_gettop(L_) - nargs;
  lua_pushcfunction(L_, message_handler);
  lua_insert(L_, base);
  if (depth_++ == 0) {
    executed = 0, memory.exceeded = false, interrupted = false;
    lua_sethook(L_, count_hook, LUA_MASKCOUNT, kHookEvery);
  }
  int status = lua_pcall(L_, nargs, nresults, base);
  --depth_;
  lua_remove(L_, base);
  return finish(status);
}

base::Status Host::run_file(const std::string& path, const std::vector<std::string>& args) {
  if (!startup_error_.empty()) return base::Status::fail(startup_error_);
  if (depth_ == 0) memory.exceeded = false;
  int status = load_file(L_, path.c_str(), options_.allow_io ? nullptr : "t");
  if (status != LUA_OK) return finish(status);
  lua_createtable(L_, int(args.size()), 1);
  lua_pushstring(L_, path.c_str());
  lua_rawseti(L_, -2, 0);
  for (size_t k = 0; k < args.size(); ++k) lua_pushstring(L_, args[k].c_str()), lua_rawseti(L_, -2, lua_Integer(k + 1));
  lua_setglobal(L_, "arg");
  for (auto& a : args) lua_pushstring(L_, a.c_str());
  return call(int(args.size()), 0);
}

base::Status Host::run_string(std::string_view code, const std::string& chunk_name) {
  if (!startup_error_.empty()) return base::Status::fail(startup_error_);
  if (depth_ == 0) memory.exceeded = false;
  int status = luaL_loadbufferx(L_, code.data(), code.size(), chunk_name.c_str(), options_.allow_io ? nullptr : "t");
  if (status != LUA_OK) return finish(status);
  return call(0, 0);
}

void Host::add_module_functions(const luaL_Reg* functions) {
  if (!startup_error_.empty()) return;
  lua_getfield(L_, LUA_REGISTRYINDEX, kModuleKey);
  luaL_setfuncs(L_, functions, 0);
  lua_pop(L_, 1);
}

std::vector<std::string> default_plugin_folders() {
  // The shipped plugins, found next to the binary (base/paths.h), then the user's.
  std::vector<std::string> out;
  if (std::string shipped = base::data_path("plugins"); !shipped.empty()) out.push_back(shipped);
  const char* env = std::getenv("CIRCUIT_PLUGIN_PATH");
  if (env) {
    std::string list = env;
    size_t start = 0;
    while (start <= list.size()) {
      size_t end = list.find(':', start);
      if (end == std::string::npos) end = list.size();
      if (end > start) out.push_back(list.substr(start, end - start));
      start = end + 1;
    }
  } else if (const char* home = std::getenv("HOME")) {
    out.push_back(std::string(home) + "/.local/share/circuit-studio/plugins");
  }
  return out;
}

}  // namespace script
