// c:render(path, [options]): the circuit's diagram as SVG, PDF or PNG (docs/diagrams.md).
#include "diagram/diagram.h"
#include "diagram/render.h"
#include "binding.h"
#include "circuit_module.h"
#include "diagram_methods.h"
#include "host.h"

namespace script {

namespace {

int m_render(lua_State* L) {
  circuit::Document& doc = arg_circuit(L, 1, "c:render");
  std::string path = arg_string(L, 2, "c:render", "path");
  auto format = circuit::diagram::format_of(path);
  if (!format) throw LuaError("`c:render`: " + format.error().message);
  arg_table(L, 3, "c:render", "options", true);
  circuit::diagram::DiagramOptions opts;
  std::string overlay;
  if (lua_istable(L, 3)) {
    lua_getfield(L, 3, "expand");
    if (lua_type(L, -1) == LUA_TSTRING) {
      if (auto e = opts.expand.add(lua_tostring(L, -1)); !e.empty()) throw LuaError("`c:render`: option `expand`: " + e);
    } else if (!lua_isnil(L, -1)) {
      throw LuaError("`c:render`: option `expand` must be \"all\", \"none\", \"parts\" or a path, got " + type_phrase(L, -1));
    }
    lua_pop(L, 1);
    lua_getfield(L, 3, "overlay");
    if (lua_type(L, -1) == LUA_TSTRING) overlay = lua_tostring(L, -1);
    else if (!lua_isnil(L, -1)) throw LuaError("`c:render`: option `overlay` must be \"params\" or \"flops\", got " + type_phrase(L, -1));
    lua_pop(L, 1);
  }
  if (!overlay.empty() && overlay != "params" && overlay != "flops")
    throw LuaError("`c:render`: overlay `" + overlay + "` is not params or flops");
  if (!overlay.empty()) opts.overlay = circuit::diagram::cost_overlay(doc.circuit(), doc.analysis(), overlay);
  circuit::diagram::Scene scene = circuit::diagram::build_scene(doc.circuit(), doc.analysis(), opts);
  if (auto s = circuit::diagram::render_file(scene, path); !s) throw LuaError("`c:render`: " + s.error);
  return 0;
}

}  // namespace

void open_diagram_methods(lua_State* L) {
  const luaL_Reg methods[] = {{"render", protect<m_render>}, {nullptr, nullptr}};
  add_circuit_methods(L, methods);
}

}  // namespace script
