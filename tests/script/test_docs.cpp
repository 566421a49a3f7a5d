// docs/lua.md documents exactly what the `circuit` module exports at run time: every function of
// the module (circuit.name) and every method of circuit objects (c:name). Functions added later
// by extensions are picked up too, so they must be documented as well. Names starting with `_`
// are private by Lua convention and not checked.
#include <fstream>
#include <regex>
#include <set>

#include "helpers.h"
#include "script/engine_extension.h"

namespace script::test {
namespace {

std::set<std::string> documented() {
  std::ifstream f(source("docs/lua.md"));
  std::set<std::string> out;
  std::regex heading(R"(^### `((?:circuit\.tensor\.|circuit\.|c:|t:|model:|data:|space:)[A-Za-z_][A-Za-z0-9_]*)\()");
  std::smatch m;
  for (std::string line; std::getline(f, line);)
    if (std::regex_search(line, m, heading)) out.insert(m[1]);
  return out;
}

void functions_of(lua_State* L, int table, const std::string& prefix, std::set<std::string>& out) {
  lua_pushnil(L);
  while (lua_next(L, table)) {
    if (lua_type(L, -2) == LUA_TSTRING && lua_isfunction(L, -1)) {
      std::string name = lua_tostring(L, -2);
      if (name[0] != '_') out.insert(prefix + name);
    }
    lua_pop(L, 1);
  }
}

std::set<std::string> exported() {
  install_engine_extension();
  Host h;
  lua_State* L = h.state();
  std::set<std::string> out;
  EXPECT_TRUE(eval(h, "return require('circuit')").ok());
  functions_of(L, lua_gettop(L), "circuit.", out);
  luaL_getmetatable(L, kCircuitType);
  lua_getfield(L, -1, "__index");
  functions_of(L, lua_gettop(L), "c:", out);
  // The engine half: tensor functions, and the methods of tensors, models and data sets.
  lua_getfield(L, 1, "tensor");
  functions_of(L, lua_gettop(L), "circuit.tensor.", out);
  for (auto [type, prefix] : {std::pair{"circuit.Tensor", "t:"}, {"circuit.Model", "model:"}, {"circuit.Dataset", "data:"},
                              {"circuit.SearchSpace", "space:"}}) {
    luaL_getmetatable(L, type);
    EXPECT_TRUE(lua_istable(L, -1)) << type;
    lua_getfield(L, -1, "__index");
    functions_of(L, lua_gettop(L), prefix, out);
  }
  return out;
}

TEST(Docs, LuaReferenceMatchesTheModule) {
  std::set<std::string> docs = documented(), module = exported();
  EXPECT_GT(module.size(), 20u);
  for (auto& f : module) EXPECT_TRUE(docs.count(f)) << f << " is exported but not documented in docs/lua.md";
  for (auto& f : docs) EXPECT_TRUE(module.count(f)) << f << " is documented in docs/lua.md but not exported";
}

}  // namespace
}  // namespace script::test
