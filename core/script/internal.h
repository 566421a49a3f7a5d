// Pieces of the Host that live in their own files; not part of the public interface.
#pragma once
#include <lua.hpp>
#include <string>

namespace script {

/// Replaces the functions that run programs, write or delete files, load C code or bypass the
/// limits with ones that explain how to allow them. Call after luaL_openlibs.
void install_sandbox(lua_State* L);
/// Makes `require` load Lua files from the Host's require_paths; in the sandbox only from there
/// (and package.preload / package.loaded, which hold `circuit`).
void install_require(lua_State* L, bool sandboxed);
/// luaL_loadfilex that remembers `path`: Lua shortens file names longer than LUA_IDSIZE to
/// "..." and their tail in every message and traceback, and full_file_names gives them back.
int load_file(lua_State* L, const char* path, const char* mode);
/// `message` with each file name Lua shortened (for a file loaded by load_file) written in full.
std::string full_file_names(lua_State* L, std::string message);
/// circuit.plugins() and circuit.plugin(name) on the module table at `module`.
void open_plugin_functions(lua_State* L, int module);

}  // namespace script
