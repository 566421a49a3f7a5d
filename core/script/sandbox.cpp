// The sandbox plugins and scripts run in by default. What it removes: running programs
// (os.execute, io.popen), changing or deleting files (os.remove, os.rename, os.tmpname,
// io.tmpfile, io.open for writing, io.output to a file), ending the process (os.exit), loading
// native code (package.loadlib, C searchers, binary chunks, which can crash the VM), changing the
// process locale (which would change how C++ formats numbers), and the debug functions that could
// remove the instruction hook or reach the originals kept as upvalues. Reading files stays allowed.
//
// Everything here is plain C-style code on the Lua API: no C++ object is alive when Lua raises.
#include <cstring>
#include <cstdio>

#include "host.h"
#include "internal.h"

namespace script {

namespace {

const char* kAllowHint = "run with --allow-io to allow it";

// Upvalue 1: the function's full name.
int forbidden(lua_State* L) {
  return luaL_error(L, "%s is disabled in the sandbox; %s", lua_tostring(L, lua_upvalueindex(1)), kAllowHint);
}

void forbid(lua_State* L, const char* lib, const char* fn) {
  if (lua_getglobal(L, lib) != LUA_TTABLE) {
    lua_pop(L, 1);
    return;
  }
  lua_pushfstring(L, "%s.%s", lib, fn);
  lua_pushcclosure(L, forbidden, 1);
  lua_setfield(L, -2, fn);
  lua_pop(L, 1);
}

bool writes(const char* mode) { return std::strpbrk(mode, "wa+") != nullptr; }

// io.open(name, mode): upvalue 1 is the original.
int safe_open(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  const char* mode = luaL_optstring(L, 2, "r");
  if (writes(mode))
    return luaL_error(L, "io.open: opening '%s' for writing (mode \"%s\") is disabled in the sandbox; %s", name, mode, kAllowHint);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// io.output([file]): a file name would open it for writing; a file handle or nothing is fine.
int safe_output(lua_State* L) {
  if (lua_type(L, 1) == LUA_TSTRING)
    return luaL_error(L, "io.output: opening '%s' for writing is disabled in the sandbox; %s", lua_tostring(L, 1), kAllowHint);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// os.setlocale() only queries; with a locale it would change the whole process.
int safe_setlocale(lua_State* L) {
  if (!lua_isnoneornil(L, 1)) return luaL_error(L, "os.setlocale: changing the locale is disabled in the sandbox; %s", kAllowHint);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, lua_gettop(L) - 1, LUA_MULTRET);
  return lua_gettop(L);
}

// load(chunk, name, mode, env) and loadfile(name, mode, env) with mode forced to text: the
// original function is called with its `mode` argument (at `mode_arg`) replaced by "t".
template <int mode_arg>
int text_mode(lua_State* L) {
  lua_settop(L, mode_arg + 1);
  lua_pushliteral(L, "t");
  lua_replace(L, mode_arg);
  lua_pushvalue(L, lua_upvalueindex(1));
  lua_insert(L, 1);
  lua_call(L, mode_arg + 1, LUA_MULTRET);
  return lua_gettop(L);
}

int text_dofile(lua_State* L) {
  const char* name = luaL_optstring(L, 1, nullptr);
  lua_settop(L, 1);
  if (load_file(L, name, "t") != LUA_OK) return lua_error(L);
  lua_call(L, 0, LUA_MULTRET);
  return lua_gettop(L) - 1;
}

void wrap(lua_State* L, const char* lib, const char* fn, lua_CFunction wrapper) {
  if (lib) {
    lua_getglobal(L, lib);
    lua_getfield(L, -1, fn);
    lua_pushcclosure(L, wrapper, 1);
    lua_setfield(L, -2, fn);
    lua_pop(L, 1);
  } else {
    lua_getglobal(L, fn);
    lua_pushcclosure(L, wrapper, 1);
    lua_setglobal(L, fn);
  }
}

// Searcher for `require`: upvalue 1 is an array of folders. Returns a loader or "no file ..." lines.
int folder_searcher(lua_State* L) {
  const char* name = luaL_checkstring(L, 1);
  if (std::strpbrk(name, "/\\")) {
    lua_pushfstring(L, "module name '%s' may not contain a path; use dots (require \"pkg.mod\")", name);
    return 1;
  }
  const char* rel = luaL_gsub(L, name, ".", "/");  // index 2
  lua_pushliteral(L, "");                           // index 3: the "no file" lines so far
  lua_Integer n = luaL_len(L, lua_upvalueindex(1));
  for (lua_Integer k = 1; k <= n; ++k) {
    for (const char* pattern : {"%s/%s.lua", "%s/%s/init.lua"}) {
      lua_rawgeti(L, lua_upvalueindex(1), k);
      const char* file = lua_pushfstring(L, pattern, lua_tostring(L, -1), rel);
      lua_remove(L, -2);
      if (FILE* f = std::fopen(file, "r")) {
        std::fclose(f);
        if (load_file(L, file, "t") != LUA_OK)
          return luaL_error(L, "error loading module '%s' from file '%s':\n\t%s", name, file, lua_tostring(L, -1));
        lua_pushvalue(L, -2);
        return 2;  // the chunk, and the file name require passes to it
      }
      lua_pushfstring(L, "%sno file '%s'", lua_rawlen(L, 3) ? "\n\t" : "", file);
      lua_remove(L, -2);
      lua_concat(L, 2);
    }
  }
  return 1;
}

// Last searcher in the sandbox: says why a C module was not looked for.
int no_c_modules(lua_State* L) {
  lua_pushfstring(L, "C modules (package.cpath) are disabled in the sandbox; %s", kAllowHint);
  return 1;
}

}  // namespace

void install_sandbox(lua_State* L) {
  for (const char* fn : {"execute", "remove", "rename", "exit", "tmpname"}) forbid(L, "os", fn);
  for (const char* fn : {"popen", "tmpfile"}) forbid(L, "io", fn);
  forbid(L, "package", "loadlib");
  wrap(L, "io", "open", safe_open);
  wrap(L, "io", "output", safe_output);
  wrap(L, "os", "setlocale", safe_setlocale);
  wrap(L, nullptr, "load", text_mode<3>);
  wrap(L, nullptr, "loadfile", text_mode<2>);
  lua_pushcfunction(L, text_dofile);
  lua_setglobal(L, "dofile");
  // debug.sethook would lift the instruction limit and debug.getupvalue would reach the originals
  // wrapped above; traceback and getinfo are all a script needs for messages.
  lua_getglobal(L, "debug");
  lua_createtable(L, 0, 2);
  lua_getfield(L, -2, "traceback");
  lua_setfield(L, -2, "traceback");
  lua_getfield(L, -2, "getinfo");
  lua_setfield(L, -2, "getinfo");
  lua_setglobal(L, "debug");
  lua_pop(L, 1);
  lua_getglobal(L, "package");
  lua_pushliteral(L, "");
  lua_setfield(L, -2, "cpath");
  lua_getfield(L, LUA_REGISTRYINDEX, LUA_LOADED_TABLE);
  lua_pushnil(L);
  lua_setfield(L, -2, "debug");  // the full library would still be reachable as package.loaded.debug
  lua_getglobal(L, "debug");
  lua_setfield(L, -2, "debug");
  lua_pop(L, 2);
}

void install_require(lua_State* L, bool sandboxed) {
  lua_getglobal(L, "package");
  lua_getfield(L, -1, "searchers");
  int searchers = lua_gettop(L);
  // The folder list is copied into the searcher, so changing package.path cannot widen it.
  const auto& folders = Host::of(L).options().require_paths;
  lua_createtable(L, int(folders.size()), 0);
  for (size_t k = 0; k < folders.size(); ++k) lua_pushstring(L, folders[k].c_str()), lua_rawseti(L, -2, lua_Integer(k + 1));
  lua_pushcclosure(L, folder_searcher, 1);
  if (sandboxed) {
    // Keep searcher 1 (package.preload); drop the package.path, C and all-in-one searchers.
    lua_Integer n = luaL_len(L, searchers);
    lua_rawseti(L, searchers, 2);
    lua_pushcfunction(L, no_c_modules);
    lua_rawseti(L, searchers, 3);
    for (lua_Integer k = 4; k <= n; ++k) lua_pushnil(L), lua_rawseti(L, searchers, k);
  } else {
    // Our folders first, then the usual package.path and C searchers.
    lua_Integer n = luaL_len(L, searchers);
    for (lua_Integer k = n; k >= 2; --k) lua_rawgeti(L, searchers, k), lua_rawseti(L, searchers, k + 1);
    lua_rawseti(L, searchers, 2);
  }
  lua_pop(L, 2);
}

}  // namespace script
