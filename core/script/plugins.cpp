// Plugins: Lua files that return a table {kind, name, description, <functions of the kind>}.
// Each file runs under a small instruction limit; a broken one is reported and skipped.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <map>

#include "binding.h"
#include "host.h"
#include "internal.h"

namespace script {

namespace {

const char* kPluginsKey = "circuit.plugins";  // registry: name -> plugin table

// The functions each kind must provide, in the order they are reported when missing.
const std::map<std::string, std::vector<const char*>>& required_functions() {
  static const std::map<std::string, std::vector<const char*>> kinds = {
      {"router", {"route"}}, {"strategy", {"ask", "tell"}}, {"block", {"build"}}, {"metric", {"compute"}}};
  return kinds;
}

// Where a plugin's table is returned: the line of the file's last `return`, which is where a
// missing or ill-typed field is fixed. 0 when there is none.
int return_line(const std::string& file) {
  std::ifstream in(file);
  std::string line;
  int n = 0, found = 0;
  while (std::getline(in, line)) {
    ++n;
    size_t i = line.find_first_not_of(" \t");
    if (i != std::string::npos && line.compare(i, 6, "return") == 0 &&
        (i + 6 == line.size() || !(std::isalnum((unsigned char)line[i + 6]) || line[i + 6] == '_')))
      found = n;
  }
  return found;
}

// Raw reads: this runs outside protected mode, so no metamethod may run (and raise) here.
int raw_field(lua_State* L, int t, const char* key) {
  lua_pushstring(L, key);
  return lua_rawget(L, t);
}

std::string field_string(lua_State* L, int t, const char* key, bool* present) {
  raw_field(L, t, key);
  *present = lua_type(L, -1) == LUA_TSTRING;
  std::string s = *present ? lua_tostring(L, -1) : "";
  lua_pop(L, 1);
  return s;
}

// Checks the plugin table on top of the stack; fills `p` and returns the problem, or "".
std::string validate(lua_State* L, PluginInfo& p) {
  if (!lua_istable(L, -1)) return std::string("a plugin must return a table {kind, name, description, ...}, got ") + type_phrase(L, -1);
  int t = lua_gettop(L);
  bool has_kind, has_name, has_desc;
  p.kind = field_string(L, t, "kind", &has_kind);
  p.name = field_string(L, t, "name", &has_name);
  p.description = field_string(L, t, "description", &has_desc);
  p.description = p.description.substr(0, p.description.find('\n'));
  if (!has_kind) return "the plugin table needs `kind` (router, strategy, block or metric) as a string";
  auto kind = required_functions().find(p.kind);
  if (kind == required_functions().end()) return "unknown plugin kind `" + p.kind + "` (expected router, strategy, block or metric)";
  if (!has_name || p.name.empty()) return "the " + p.kind + " plugin needs a non-empty `name` string";
  if (p.name.find_first_of(" \t\n") != std::string::npos) return "plugin name `" + p.name + "` may not contain spaces";
  if (!has_desc) return p.kind + " plugin `" + p.name + "` needs a `description` string";
  for (const char* fn : kind->second) {
    raw_field(L, t, fn);
    bool ok = lua_isfunction(L, -1);
    std::string got = type_phrase(L, -1);
    lua_pop(L, 1);
    if (!ok) return p.kind + " plugin `" + p.name + "` needs a function `" + fn + "`, got " + got;
  }
  return "";
}

std::vector<std::string> lua_files(const std::string& folder) {
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec))
    if (it->path().extension() == ".lua" && it->is_regular_file(ec)) out.push_back(it->path().string());
  std::sort(out.begin(), out.end());  // load order is part of the output: keep it stable
  return out;
}

int l_plugins(lua_State* L) {
  const auto& list = Host::of(L).plugins();
  lua_createtable(L, int(list.size()), 0);
  for (size_t k = 0; k < list.size(); ++k) {
    lua_createtable(L, 0, 5);
    set_field(L, "kind", list[k].kind);
    set_field(L, "name", list[k].name);
    set_field(L, "description", list[k].description);
    set_field(L, "file", list[k].file);
    if (!list[k].ok()) set_field(L, "error", list[k].error);
    lua_rawseti(L, -2, lua_Integer(k + 1));
  }
  return 1;
}

int l_plugin(lua_State* L) {
  std::string name = arg_string(L, 1, "circuit.plugin", "name");
  auto kind = opt_string(L, 2, "circuit.plugin", "kind");
  const PluginInfo* found = nullptr;
  for (auto& p : Host::of(L).plugins())
    if (p.ok() && p.name == name) found = &p;
  if (!found) {
    std::string why = "no plugin `" + name + "` is loaded (circuit.plugins() lists them)";
    for (auto& p : Host::of(L).plugins())
      if (!p.ok() && p.name == name) why = "plugin `" + name + "` failed to load: " + p.error;
    throw LuaError("`circuit.plugin`: " + why);
  }
  if (kind && *kind != found->kind)
    throw LuaError("`circuit.plugin`: plugin `" + name + "` is a " + found->kind + " plugin, not a " + *kind + " plugin");
  lua_getfield(L, LUA_REGISTRYINDEX, kPluginsKey);
  lua_getfield(L, -1, name.c_str());
  return 1;
}

}  // namespace

void open_plugin_functions(lua_State* L, int module) {
  module = lua_absindex(L, module);
  lua_newtable(L);
  lua_setfield(L, LUA_REGISTRYINDEX, kPluginsKey);
  lua_pushcfunction(L, protect<l_plugins>);
  lua_setfield(L, module, "plugins");
  lua_pushcfunction(L, protect<l_plugin>);
  lua_setfield(L, module, "plugin");
}

std::vector<PluginInfo> Host::load_plugins(const std::vector<std::string>& folders) {
  std::vector<PluginInfo> loaded;
  int64_t saved_limit = options_.limits.instructions;
  options_.limits.instructions = kPluginLoadInstructions;
  for (auto& folder : folders)
    for (auto& file : lua_files(folder)) {
      PluginInfo p;
      p.file = file;
      int top = lua_gettop(L_);
      if (!startup_error_.empty()) {
        p.error = startup_error_;
      } else if (load_file(L_, file.c_str(), "t") != LUA_OK) {
        p.error = full_file_names(L_, lua_tostring(L_, -1));  // "file:line: syntax error ..."
      } else if (auto s = call(0, 1); !s) {
        p.error = s.error;  // "file:line: message" and a traceback
      } else if (std::string problem = validate(L_, p); !problem.empty()) {
        int line = return_line(file);
        p.error = file + ":" + (line ? std::to_string(line) + ":" : "") + " " + problem;
      } else {
        for (auto& other : plugins_)
          if (other.ok() && other.name == p.name) p.error = file + ": plugin name `" + p.name + "` is already used by " + other.file;
        if (p.ok()) {
          lua_getfield(L_, LUA_REGISTRYINDEX, kPluginsKey);
          lua_pushvalue(L_, -2);
          lua_setfield(L_, -2, p.name.c_str());
        }
      }
      lua_settop(L_, top);
      plugins_.push_back(p);
      loaded.push_back(std::move(p));
    }
  options_.limits.instructions = saved_limit;
  return loaded;
}

}  // namespace script
