// Helpers for the Lua host tests: run Lua and read what it returned.
#pragma once
#include <gtest/gtest.h>

#include <string>

#include "circuit/circuit_file.h"
#include "script/circuit_module.h"
#include "script/host.h"

namespace script::test {

inline std::string source(const std::string& rel) { return std::string(CIRCUIT_SOURCE_DIR) + "/" + rel; }
inline std::string lua_dir() { return source("tests/script/lua"); }

/// Runs `code` and leaves its one result on the stack; the Status says whether it ran.
inline base::Status eval(Host& h, const std::string& code, const std::string& name = "=test") {
  lua_State* L = h.state();
  if (luaL_loadbufferx(L, code.data(), code.size(), name.c_str(), "t") != LUA_OK) {
    std::string m = lua_tostring(L, -1);
    lua_pop(L, 1);
    return base::Status::fail(m);
  }
  return h.call(0, 1);
}

/// Runs a Lua file with arguments and leaves its one result on the stack.
inline base::Status eval_file(Host& h, const std::string& path, const std::vector<std::string>& args = {}) {
  lua_State* L = h.state();
  if (luaL_loadfilex(L, path.c_str(), "t") != LUA_OK) {
    std::string m = lua_tostring(L, -1);
    lua_pop(L, 1);
    return base::Status::fail(m);
  }
  for (auto& a : args) lua_pushstring(L, a.c_str());
  return h.call(int(args.size()), 1);
}

/// The error of running `code`, or "" when it ran.
inline std::string error_of(Host& h, const std::string& code, const std::string& name = "@test.lua") {
  base::Status s = h.run_string(code, name);
  return s.ok() ? "" : s.error;
}

/// Field `key` of the table on top of the stack, as a string ("" when absent).
inline std::string string_field(lua_State* L, const char* key) {
  lua_getfield(L, -1, key);
  std::string s = lua_type(L, -1) == LUA_TSTRING ? lua_tostring(L, -1) : "";
  lua_pop(L, 1);
  return s;
}

inline int64_t integer_field(lua_State* L, const char* key) {
  lua_getfield(L, -1, key);
  int64_t v = lua_isinteger(L, -1) ? lua_tointeger(L, -1) : -1;
  lua_pop(L, 1);
  return v;
}

}  // namespace script::test
