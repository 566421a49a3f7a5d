// Diagram methods of circuit objects (c:render). Diagram files (.svg, .pdf, .png) are among the
// files the sandbox lets a script write.
#pragma once
#include <lua.hpp>

namespace script {

/// Adds c:render(path, [options]) to the circuit objects of this state.
void open_diagram_methods(lua_State* L);

}  // namespace script
