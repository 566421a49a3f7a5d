// Search from Lua: search spaces (circuit.space) and studies (circuit.search), the same spaces,
// strategies, store and trial runner as `circuit search` (docs/search.md, docs/lua.md).
#pragma once
#include <lua.hpp>

namespace script {

/// Adds circuit.space and circuit.search to the module table at `module`.
void open_search_functions(lua_State* L, int module);

}  // namespace script
