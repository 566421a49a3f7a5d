// The `circuit` Lua module, IR part: build, edit (undoable), inspect, load and save circuits.
// A circuit object in Lua is a full userdata holding a circuit::Document, so every edit from Lua
// goes through the same commands (and the same undo history) as the GUI. docs/lua.md is the
// reference. The engine half reads circuit arguments with these functions.
#pragma once
#include <lua.hpp>

#include "circuit/edit.h"

namespace script {

/// The metatable name (luaL_newmetatable) of circuit objects; also their `__name`.
inline constexpr const char* kCircuitType = "circuit.Circuit";

/// The circuit object at stack index `idx`, or null when the value is not one.
circuit::Document* to_circuit(lua_State* L, int idx);
/// Same, but throws LuaError (binding.h) naming function `fn` and the argument; use inside protect<>.
circuit::Document& arg_circuit(lua_State* L, int idx, const char* fn);
/// Pushes a new circuit object that owns `doc`.
void push_circuit(lua_State* L, circuit::Document doc);
/// Adds methods (c:name(...)) to every circuit object of this state.
void add_circuit_methods(lua_State* L, const luaL_Reg* methods);

/// Fills the module table at stack index `module` with the IR functions and registers the
/// circuit object's metatable. Host calls it once per state.
void open_circuit_module(lua_State* L, int module);

}  // namespace script
