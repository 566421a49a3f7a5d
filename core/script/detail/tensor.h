// The Lua tensor type: a userdata holding an at::Tensor, with autograd. Private (detail/): it is
// the one header of core/script that includes LibTorch (besides the engine functions and Lua routers next to it),
// and it lives in its own library, circuit_script_engine, so the IR-only host stays torch-free.
//
// Conventions a script sees (docs/lua.md): dimensions and indices are 0-based as in ATen
// (negative dimensions count from the end), because index tensors such as expert ids are
// 0-based anyway; numbers mix with tensors in arithmetic; errors name the method and argument.
#pragma once
#include <ATen/core/Tensor.h>
#include <lua.hpp>

namespace script {

/// Pushes a new Lua tensor holding `t` (shares storage with it).
void push_tensor(lua_State* L, at::Tensor t);
/// The tensor at `idx`, or throws LuaError naming `fn` and the argument.
const at::Tensor& check_tensor(lua_State* L, int idx, const char* fn, const char* what);
/// Whether the value at `idx` is a Lua tensor.
bool is_tensor(lua_State* L, int idx);
/// Adds `circuit.tensor` (creation functions) to the module table at `module`, and the metatable
/// of tensors. Called by the engine extension of the `circuit` module.
void open_tensor_functions(lua_State* L, int module);

}  // namespace script
