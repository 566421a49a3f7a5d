#include "binding.h"

namespace script {

namespace {

[[noreturn]] void bad_arg(lua_State* L, int idx, const char* fn, const char* what, const char* expected) {
  throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " (" + what + ") must be " + expected +
                 ", got " + type_phrase(L, idx));
}

}  // namespace

std::string type_phrase(lua_State* L, int idx) {
  switch (lua_type(L, idx)) {
    case LUA_TNONE:
    case LUA_TNIL: return "nil";
    case LUA_TBOOLEAN: return "a boolean";
    case LUA_TNUMBER: return lua_isinteger(L, idx) ? "an integer" : "a number";
    case LUA_TSTRING: return "a string";
    case LUA_TTABLE: return "a table";
    case LUA_TFUNCTION: return "a function";
    case LUA_TUSERDATA: {
      std::string name = "userdata";
      if (lua_getmetatable(L, idx)) {
        if (lua_getfield(L, -1, "__name") == LUA_TSTRING) name = lua_tostring(L, -1);
        lua_pop(L, 2);
      }
      return "a " + name;
    }
    default: return std::string("a ") + lua_typename(L, lua_type(L, idx));
  }
}

std::string arg_string(lua_State* L, int idx, const char* fn, const char* what) {
  if (lua_type(L, idx) != LUA_TSTRING) bad_arg(L, idx, fn, what, "a string");
  size_t n = 0;
  const char* s = lua_tolstring(L, idx, &n);
  return std::string(s, n);
}

std::optional<std::string> opt_string(lua_State* L, int idx, const char* fn, const char* what) {
  if (lua_isnoneornil(L, idx)) return std::nullopt;
  return arg_string(L, idx, fn, what);
}

int64_t arg_integer(lua_State* L, int idx, const char* fn, const char* what) {
  int is_int = 0;
  lua_Integer v = lua_tointegerx(L, idx, &is_int);
  // lua_tointegerx also converts strings; a script passing "3" for a size is a mistake to report.
  if (lua_type(L, idx) != LUA_TNUMBER || !is_int) bad_arg(L, idx, fn, what, "an integer");
  return v;
}

std::vector<std::string> arg_strings(lua_State* L, int idx, const char* fn, const char* what) {
  if (lua_type(L, idx) == LUA_TSTRING) return {arg_string(L, idx, fn, what)};
  if (lua_type(L, idx) != LUA_TTABLE) bad_arg(L, idx, fn, what, "a string or an array of strings");
  std::vector<std::string> out;
  lua_Integer n = luaL_len(L, idx);
  for (lua_Integer k = 1; k <= n; ++k) {
    lua_rawgeti(L, idx, k);
    if (lua_type(L, -1) != LUA_TSTRING) {
      std::string got = type_phrase(L, -1);
      lua_pop(L, 1);
      throw LuaError(std::string("`") + fn + "`: argument " + std::to_string(idx) + " (" + what + "): element " +
                     std::to_string(k) + " must be a string, got " + got);
    }
    out.emplace_back(lua_tostring(L, -1));
    lua_pop(L, 1);
  }
  return out;
}

void arg_table(lua_State* L, int idx, const char* fn, const char* what, bool optional) {
  if (optional && lua_isnoneornil(L, idx)) return;
  if (lua_type(L, idx) != LUA_TTABLE) bad_arg(L, idx, fn, what, optional ? "a table or nil" : "a table");
}

void push_strings(lua_State* L, const std::vector<std::string>& items) {
  lua_createtable(L, int(items.size()), 0);
  for (size_t k = 0; k < items.size(); ++k) {
    lua_pushlstring(L, items[k].data(), items[k].size());
    lua_rawseti(L, -2, lua_Integer(k + 1));
  }
}

void push_json(lua_State* L, const base::Json& j) {
  using K = base::Json::Kind;
  switch (j.kind) {
    case K::Null: lua_pushnil(L); return;
    case K::Bool: lua_pushboolean(L, j.b); return;
    case K::Int: lua_pushinteger(L, j.i); return;
    case K::Float: lua_pushnumber(L, j.f); return;
    case K::String: lua_pushlstring(L, j.s.data(), j.s.size()); return;
    case K::Array:
      lua_createtable(L, int(j.items.size()), 0);
      for (size_t k = 0; k < j.items.size(); ++k) push_json(L, j.items[k]), lua_rawseti(L, -2, lua_Integer(k + 1));
      return;
    case K::Object:
      lua_createtable(L, 0, int(j.members.size()));
      for (auto& [key, v] : j.members) push_json(L, v), lua_setfield(L, -2, key.c_str());
      return;
  }
}

void set_field(lua_State* L, const char* key, const std::string& value) {
  lua_pushlstring(L, value.data(), value.size());
  lua_setfield(L, -2, key);
}

void set_field(lua_State* L, const char* key, int64_t value) {
  lua_pushinteger(L, value);
  lua_setfield(L, -2, key);
}

void set_field_bool(lua_State* L, const char* key, bool value) {
  lua_pushboolean(L, value);
  lua_setfield(L, -2, key);
}

}  // namespace script
