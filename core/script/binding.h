// The binding layer between C++ and the raw Lua C API. Lua reports errors with longjmp, which
// would skip C++ destructors; so binding functions never raise Lua errors themselves. They throw
// script::LuaError, and protect<F> turns that into a Lua error after every C++ object of F is
// destroyed. The argument readers below check types themselves (they never call luaL_check*).
// Only an out-of-memory error inside a Lua API call can still longjmp through F; that case is
// bounded by the memory limit and ends the script.
#pragma once
#include <lua.hpp>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "base/json.h"

namespace script {

/// A user-facing error raised from C++ binding code; protect<> adds the Lua caller's file:line.
struct LuaError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
// Outlives the C++ frames that produced it, so no destructor is skipped when Lua unwinds.
inline thread_local std::string pending_error;
}  // namespace detail

/// Wraps a binding function: a LuaError (or any std::exception) becomes a Lua error
/// "file:line: message" located at the Lua code that called the function.
template <lua_CFunction F>
int protect(lua_State* L) {
  try {
    return F(L);
  } catch (const std::exception& e) {
    detail::pending_error = e.what();
  }
  luaL_where(L, 1);
  lua_pushlstring(L, detail::pending_error.data(), detail::pending_error.size());
  lua_concat(L, 2);
  return lua_error(L);
}

/// "a string", "a table", ... for messages.
std::string type_phrase(lua_State* L, int idx);
/// Argument readers: throw LuaError "`fn`: argument N (what) must be X, got Y".
std::string arg_string(lua_State* L, int idx, const char* fn, const char* what);
std::optional<std::string> opt_string(lua_State* L, int idx, const char* fn, const char* what);
int64_t arg_integer(lua_State* L, int idx, const char* fn, const char* what);
/// A string, or an array of strings (the usual way to pass inputs and outputs).
std::vector<std::string> arg_strings(lua_State* L, int idx, const char* fn, const char* what);
/// Throws unless the value at idx is a table (nil allowed when `optional`).
void arg_table(lua_State* L, int idx, const char* fn, const char* what, bool optional = false);

/// Pushes a Lua array of strings.
void push_strings(lua_State* L, const std::vector<std::string>& items);
/// A JSON value as Lua: objects and arrays as tables (arrays 1-based), null as nil.
void push_json(lua_State* L, const base::Json& j);
/// t[key] = value for the table at the top of the stack.
void set_field(lua_State* L, const char* key, const std::string& value);
void set_field(lua_State* L, const char* key, int64_t value);
void set_field_bool(lua_State* L, const char* key, bool value);

}  // namespace script
