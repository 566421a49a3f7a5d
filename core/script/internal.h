// Pieces of the Host that live in their own files; not part of the public interface.
#pragma once
#include <lua.hpp>

namespace script {

/// Replaces the functions that run programs, write or delete files, load C code or bypass the
/// limits with ones that explain how to allow them. Call after luaL_openlibs.
void install_sandbox(lua_State* L);
/// Makes `require` load Lua files from the Host's require_paths; in the sandbox only from there
/// (and package.preload / package.loaded, which hold `circuit`).
void install_require(lua_State* L, bool sandboxed);
/// circuit.plugins() and circuit.plugin(name) on the module table at `module`.
void open_plugin_functions(lua_State* L, int module);

}  // namespace script
