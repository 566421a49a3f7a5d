#include "circuit_module.h"

#include <cmath>
#include <cstring>
#include <set>

#include "binding.h"
#include "circuit/circuit_file.h"
#include "circuit/diff.h"
#include "circuit/hf_import.h"
#include "circuit/op.h"
#include "circuit/selection.h"
#include "host.h"

using namespace circuit;

namespace script {

namespace {

// The userdata holds a pointer so the Document lives on the C++ heap and the object can be
// emptied by __gc exactly once.
struct CircuitBox {
  Document* doc;
};

// ---- values: C++ -> Lua -------------------------------------------------------------------

void push_attr(lua_State* L, const AttrValue& v) {
  struct V {
    lua_State* L;
    void operator()(int64_t i) const { lua_pushinteger(L, i); }
    void operator()(double d) const { lua_pushnumber(L, d); }
    void operator()(bool b) const { lua_pushboolean(L, b); }
    void operator()(const std::string& s) const { lua_pushlstring(L, s.data(), s.size()); }
    void operator()(const std::vector<int64_t>& l) const {
      lua_createtable(L, int(l.size()), 0);
      for (size_t k = 0; k < l.size(); ++k) lua_pushinteger(L, l[k]), lua_rawseti(L, -2, lua_Integer(k + 1));
    }
    void operator()(const std::vector<std::string>& l) const { push_strings(L, l); }
  };
  std::visit(V{L}, v);
}

// A tensor type as Lua sees it: an array of axis specs ("d_model:128") with a `dtype` field,
// the same form `input` nodes take, so a shape read from one circuit can declare another's input.
void push_type(lua_State* L, const TensorType& t) {
  lua_createtable(L, int(t.axes.size()), 1);
  for (size_t k = 0; k < t.axes.size(); ++k) {
    std::string s = axis_spec(t.axes[k]);
    lua_pushlstring(L, s.data(), s.size());
    lua_rawseti(L, -2, lua_Integer(k + 1));
  }
  set_field(L, "dtype", std::string(dtype_name(t.dtype)));
}

void push_types(lua_State* L, const Shapes& s) {
  lua_createtable(L, int(s.size()), 0);
  for (size_t k = 0; k < s.size(); ++k) push_type(L, s[k]), lua_rawseti(L, -2, lua_Integer(k + 1));
}

void set_cost(lua_State* L, const Cost& c) {
  set_field(L, "params", c.params);
  set_field(L, "active_params", c.active_params);
  set_field(L, "flops", c.flops);
  set_field(L, "activation_bytes", c.activation_bytes);
  // Inference memory in elements: a cache per token of context (all windows still filling) and a fixed state.
  set_field(L, "cache_per_token", c.inference.per_token_unbounded());
  set_field(L, "inference_state", c.inference.state);
}

// ---- values: Lua -> C++ -------------------------------------------------------------------

AttrValue to_attr(lua_State* L, int idx, const AttrSpec& spec, const std::string& node, const char* fn) {
  std::string at = std::string("`") + fn + "`: node `" + node + "`: ";
  std::string where = at + "attribute `" + spec.name + "`";
  auto wrong = [&] {
    return LuaError(where + " expects " + attr_type_phrase(spec.type) + ", got " + type_phrase(L, idx));
  };
  int t = lua_type(L, idx);
  AttrValue raw;
  switch (spec.type) {
    case AttrType::Int: {
      int is_int = 0;
      lua_Integer v = lua_tointegerx(L, idx, &is_int);
      if (t != LUA_TNUMBER || !is_int) throw wrong();
      raw = int64_t(v);
      break;
    }
    case AttrType::Float:
      if (t != LUA_TNUMBER) throw wrong();
      raw = double(lua_tonumber(L, idx));
      break;
    case AttrType::Bool:
      if (t != LUA_TBOOLEAN) throw wrong();
      raw = bool(lua_toboolean(L, idx));
      break;
    case AttrType::String:
    case AttrType::Enum:
      if (t != LUA_TSTRING) throw wrong();
      raw = std::string(lua_tostring(L, idx));
      break;
    case AttrType::Ints: {
      if (t != LUA_TTABLE) throw wrong();
      std::vector<int64_t> l;
      lua_Integer n = luaL_len(L, idx);
      for (lua_Integer k = 1; k <= n; ++k) {
        lua_rawgeti(L, idx, k);
        int is_int = 0;
        lua_Integer v = lua_tointegerx(L, -1, &is_int);
        bool ok = lua_type(L, -1) == LUA_TNUMBER && is_int;
        lua_pop(L, 1);
        if (!ok) throw LuaError(where + ": element " + std::to_string(k) + " must be an integer");
        l.push_back(v);
      }
      raw = std::move(l);
      break;
    }
    case AttrType::Strings:
    case AttrType::Axes: {
      if (t != LUA_TTABLE) throw wrong();
      std::vector<std::string> l;
      lua_Integer n = luaL_len(L, idx);
      for (lua_Integer k = 1; k <= n; ++k) {
        lua_rawgeti(L, idx, k);
        bool ok = lua_type(L, -1) == LUA_TSTRING;
        if (ok) l.emplace_back(lua_tostring(L, -1));
        lua_pop(L, 1);
        if (!ok) throw LuaError(where + ": element " + std::to_string(k) + " must be a string");
      }
      raw = std::move(l);
      break;
    }
  }
  auto checked = check_attr(spec, raw);
  if (!checked) throw LuaError(at + checked.error().message);
  if (spec.type == AttrType::Axes)
    for (auto& s : std::get<std::vector<std::string>>(*checked)) {
      // `reshape` allows one inferred size, written `name:?`; it is not an axis spec on its own.
      std::string text = s;
      if (text.size() > 2 && text.compare(text.size() - 2, 2, ":?") == 0) text.back() = '1';
      if (auto a = parse_axis(text); !a) throw LuaError(where + ": " + a.error().message);
    }
  return *checked;
}

std::vector<PortRef> to_ports(const std::vector<std::string>& refs) {
  std::vector<PortRef> out;
  for (auto& r : refs) {
    if (r.empty()) {
      out.push_back({});
      continue;
    }
    auto p = parse_port(r);
    if (!p) throw LuaError(p.error().message);
    out.push_back(*p);
  }
  return out;
}

std::vector<std::string> port_strings(const std::vector<PortRef>& refs) {
  std::vector<std::string> out;
  for (auto& r : refs) out.push_back(r.connected() ? to_string(r) : "");
  return out;
}

// ---- looking things up --------------------------------------------------------------------

Document& self(lua_State* L, const char* fn) { return arg_circuit(L, 1, fn); }

void apply(Document& d, Command cmd, const char* fn) {
  Status s = d.apply(std::move(cmd));
  if (!s) throw LuaError(std::string("`") + fn + "`: " + s.error);
}

const Node& node_at(const Document& d, const std::string& path, const char* fn) {
  const Node* n = circuit::node_at(d.circuit().graph, path);
  if (!n) throw LuaError(std::string("`") + fn + "`: no node `" + path + "`");
  return *n;
}

const Graph& graph_level(const Document& d, const std::string& parent, const char* fn) {
  const Graph* g = graph_at(d.circuit().graph, parent);
  if (!g) throw LuaError(std::string("`") + fn + "`: no block `" + parent + "`");
  return *g;
}

// The analysis of the node at `path`, walking block bodies; null when a level was not analysed.
const NodeInfo* info_at(const GraphAnalysis& a, const Graph& g, const std::string& path) {
  auto slash = path.find('/');
  int i = g.find(path.substr(0, slash));
  if (i < 0 || size_t(i) >= a.nodes.size()) return nullptr;
  const NodeInfo& info = a.nodes[size_t(i)];
  if (slash == std::string::npos) return &info;
  if (!info.body || !g.nodes[size_t(i)].body) return nullptr;
  return info_at(*info.body, *g.nodes[size_t(i)].body, path.substr(slash + 1));
}

const OpDef& op_of(const Node& n, const std::string& path, const char* fn) {
  const OpDef* def = find_op(n.op);
  if (!def) throw LuaError(std::string("`") + fn + "`: node `" + path + "` has unknown op `" + n.op + "`");
  return *def;
}

// ---- module functions ---------------------------------------------------------------------

int l_new(lua_State* L) {
  arg_table(L, 1, "circuit.new", "options", true);
  Circuit c;
  if (lua_istable(L, 1)) {
    lua_pushnil(L);
    while (lua_next(L, 1)) {
      // Keys are checked so a misspelt option is an error, not silently ignored.
      std::string key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "";
      if (key == "name" || key == "doc") {
        if (lua_type(L, -1) != LUA_TSTRING) throw LuaError("`circuit.new`: option `" + key + "` must be a string, got " + type_phrase(L, -1));
        (key == "name" ? c.name : c.doc) = lua_tostring(L, -1);
      } else if (key == "symbols") {
        if (lua_type(L, -1) != LUA_TTABLE) throw LuaError("`circuit.new`: option `symbols` must be a table of name = size");
        int t = lua_gettop(L);
        lua_pushnil(L);
        while (lua_next(L, t)) {
          int is_int = 0;
          lua_Integer v = lua_tointegerx(L, -1, &is_int);
          if (lua_type(L, -2) != LUA_TSTRING || lua_type(L, -1) != LUA_TNUMBER || !is_int || v < 1)
            throw LuaError("`circuit.new`: each symbol must be name = positive integer");
          std::string name = lua_tostring(L, -2);
          if (name == "batch") throw LuaError("`circuit.new`: symbol `batch` is always 1 for per-example costs; do not set it");
          c.symbols[name] = v;
          lua_pop(L, 1);
        }
      } else {
        throw LuaError("`circuit.new`: unknown option `" + key + "` (expected: name, doc, symbols)");
      }
      lua_pop(L, 1);
    }
  }
  push_circuit(L, Document(std::move(c)));
  return 1;
}

int l_load(lua_State* L) {
  std::string path = arg_string(L, 1, "circuit.load", "path");
  auto c = load_circuit(path);
  if (!c) throw LuaError(c.error().message);
  push_circuit(L, Document(std::move(*c)));
  return 1;
}

// circuit.import(path [, {layers=, width=, experts=, vocab=, seq=}]): a Hugging Face config.json
// as a circuit; returns it and the list of ignored keys.
int l_import(lua_State* L) {
  std::string path = arg_string(L, 1, "circuit.import", "path");
  HfShrink shrink;
  if (!lua_isnoneornil(L, 2)) {
    luaL_checktype(L, 2, LUA_TTABLE);
    lua_pushnil(L);
    while (lua_next(L, 2)) {
      std::string key = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : "?";
      int64_t* field = key == "layers" ? &shrink.layers : key == "width" ? &shrink.width : key == "experts" ? &shrink.experts
                     : key == "vocab" ? &shrink.vocab : key == "seq" ? &shrink.seq : nullptr;
      if (!field) throw LuaError("`circuit.import`: unknown option `" + key + "` (expected: layers, width, experts, vocab, seq)");
      if (!lua_isinteger(L, -1) || lua_tointeger(L, -1) < 1)
        throw LuaError("`circuit.import`: option `" + key + "` expects a positive integer, got " + type_phrase(L, -1));
      *field = lua_tointeger(L, -1);
      lua_pop(L, 1);
    }
  }
  auto imp = import_hf_file(path, shrink);
  if (!imp) throw LuaError("`circuit.import`: " + imp.error().message);
  push_circuit(L, Document(std::move(imp->circuit)));
  lua_createtable(L, int(imp->ignored.size()), 0);
  for (size_t k = 0; k < imp->ignored.size(); ++k) lua_pushstring(L, imp->ignored[k].c_str()), lua_rawseti(L, -2, lua_Integer(k + 1));
  return 2;
}

int l_parse(lua_State* L) {
  std::string text = arg_string(L, 1, "circuit.parse", "text");
  std::string source = opt_string(L, 2, "circuit.parse", "source").value_or("(string)");
  auto c = parse_circuit(text, source);
  if (!c) throw LuaError(c.error().message);
  push_circuit(L, Document(std::move(*c)));
  return 1;
}

int l_ops(lua_State* L) {
  const auto& ops = all_ops();
  lua_createtable(L, int(ops.size()), 0);
  for (size_t k = 0; k < ops.size(); ++k) {
    const OpDef& d = *ops[k];
    lua_createtable(L, 0, 9);
    set_field(L, "name", d.name);
    set_field(L, "category", std::string(circuit::to_string(d.category)));
    set_field(L, "doc", d.doc);
    set_field(L, "min_inputs", int64_t(d.min_inputs));
    set_field(L, "max_inputs", int64_t(d.max_inputs));
    set_field_bool(L, "learned", d.learned);
    set_field_bool(L, "has_body", d.has_body);
    lua_createtable(L, int(d.attrs.size()), 0);
    for (size_t a = 0; a < d.attrs.size(); ++a) {
      const AttrSpec& s = d.attrs[a];
      lua_createtable(L, 0, 8);
      set_field(L, "name", s.name);
      set_field(L, "type", std::string(attr_type_name(s.type)));
      set_field(L, "doc", s.doc);
      set_field_bool(L, "required", !s.default_value);
      if (s.default_value) push_attr(L, *s.default_value), lua_setfield(L, -2, "default");
      if (s.min > -1e300) lua_pushnumber(L, s.min), lua_setfield(L, -2, "min");
      if (s.max < 1e300) lua_pushnumber(L, s.max), lua_setfield(L, -2, "max");
      if (!s.choices.empty()) push_strings(L, s.choices), lua_setfield(L, -2, "choices");
      lua_rawseti(L, -2, lua_Integer(a + 1));
    }
    lua_setfield(L, -2, "attrs");
    lua_rawseti(L, -2, lua_Integer(k + 1));
  }
  return 1;
}

// ---- circuit methods: editing -------------------------------------------------------------

// Builds a node from Lua values, checked like a file load: attributes against the op's schema,
// required attributes present, a body exactly where the op owns one.
Node make_node(lua_State* L, const std::string& name, const std::string& op, const std::vector<std::string>& inputs,
               int attrs_idx, int body_idx, const char* fn) {
  const OpDef* def = find_op(op);
  if (!def) throw LuaError(std::string("`") + fn + "`: node `" + name + "`: unknown op `" + op + "` (circuit.ops() lists them)");
  Node n;
  n.name = name;
  n.op = op;
  n.inputs = to_ports(inputs);
  if (attrs_idx && !lua_isnoneornil(L, attrs_idx)) {
    lua_pushnil(L);
    while (lua_next(L, attrs_idx)) {
      if (lua_type(L, -2) != LUA_TSTRING) throw LuaError(std::string("`") + fn + "`: node `" + name + "`: attribute names must be strings");
      std::string key = lua_tostring(L, -2);
      const AttrSpec* spec = def->find_attr(key);
      if (!spec) throw LuaError(std::string("`") + fn + "`: node `" + name + "`: op `" + op + "` has no attribute `" + key + "`");
      n.attrs[key] = to_attr(L, lua_gettop(L), *spec, name, fn);
      lua_pop(L, 1);
    }
  }
  for (auto& spec : def->attrs)
    if (!spec.default_value && !n.attrs.count(spec.name))
      throw LuaError(std::string("`") + fn + "`: node `" + name + "`: op `" + op + "` needs attribute `" + spec.name + "` (" +
                     attr_type_name(spec.type) + ")");
  bool has_body = body_idx && !lua_isnoneornil(L, body_idx);
  if (has_body && !def->has_body) throw LuaError(std::string("`") + fn + "`: node `" + name + "`: op `" + op + "` takes no body");
  if (!has_body && def->has_body)
    throw LuaError(std::string("`") + fn + "`: node `" + name + "`: op `" + op + "` needs a body (a circuit whose graph becomes the " +
                   (op == "moe" ? "expert)" : "block)"));
  if (has_body) n.body = Box<Graph>(arg_circuit(L, body_idx, fn).circuit().graph);
  return n;
}

int m_add(lua_State* L) {
  Document& d = self(L, "c:add");
  std::string path = arg_string(L, 2, "c:add", "name");
  std::string op = arg_string(L, 3, "c:add", "op");
  std::vector<std::string> inputs;
  if (!lua_isnoneornil(L, 4)) inputs = arg_strings(L, 4, "c:add", "inputs");
  arg_table(L, 5, "c:add", "attrs", true);
  auto [parent, name] = split_path(path);
  apply(d, AddNode{parent, make_node(L, name, op, inputs, 5, 6, "c:add"), -1, {}, {}}, "c:add");
  lua_pushlstring(L, path.data(), path.size());
  return 1;
}

int m_input(lua_State* L) {
  Document& d = self(L, "c:input");
  std::string path = arg_string(L, 2, "c:input", "name");
  arg_table(L, 3, "c:input", "shape");
  auto dtype = opt_string(L, 4, "c:input", "dtype");
  auto [parent, name] = split_path(path);
  const OpDef* def = find_op("input");
  Node n;
  n.name = name;
  n.op = "input";
  n.attrs["shape"] = to_attr(L, 3, *def->find_attr("shape"), name, "c:input");
  if (dtype) {
    lua_pushlstring(L, dtype->data(), dtype->size());
    n.attrs["dtype"] = to_attr(L, lua_gettop(L), *def->find_attr("dtype"), name, "c:input");
    lua_pop(L, 1);
  }
  apply(d, AddNode{parent, std::move(n), -1, {}, {}}, "c:input");
  lua_pushlstring(L, path.data(), path.size());
  return 1;
}

int m_remove(lua_State* L) {
  Document& d = self(L, "c:remove");
  apply(d, RemoveNode{arg_string(L, 2, "c:remove", "path")}, "c:remove");
  return 0;
}

int m_connect(lua_State* L) {
  Document& d = self(L, "c:connect");
  std::string path = arg_string(L, 2, "c:connect", "path");
  apply(d, SetInputs{path, to_ports(arg_strings(L, 3, "c:connect", "inputs"))}, "c:connect");
  return 0;
}

int m_set(lua_State* L) {
  Document& d = self(L, "c:set");
  std::string path = arg_string(L, 2, "c:set", "path");
  std::string key = arg_string(L, 3, "c:set", "attribute");
  const Node& n = node_at(d, path, "c:set");
  const AttrSpec* spec = op_of(n, path, "c:set").find_attr(key);
  if (!spec) throw LuaError("`c:set`: node `" + path + "`: op `" + n.op + "` has no attribute `" + key + "`");
  std::optional<AttrValue> v;
  if (!lua_isnoneornil(L, 4)) v = to_attr(L, 4, *spec, path, "c:set");
  else if (!spec->default_value) throw LuaError("`c:set`: node `" + path + "`: attribute `" + key + "` is required and has no default");
  apply(d, SetAttr{path, key, std::move(v)}, "c:set");
  return 0;
}

int m_get(lua_State* L) {
  Document& d = self(L, "c:get");
  std::string path = arg_string(L, 2, "c:get", "path");
  std::string key = arg_string(L, 3, "c:get", "attribute");
  const Node& n = node_at(d, path, "c:get");
  const AttrSpec* spec = op_of(n, path, "c:get").find_attr(key);
  if (!spec) throw LuaError("`c:get`: node `" + path + "`: op `" + n.op + "` has no attribute `" + key + "`");
  if (auto it = n.attrs.find(key); it != n.attrs.end()) push_attr(L, it->second);
  else if (spec->default_value) push_attr(L, *spec->default_value);
  else lua_pushnil(L);
  return 1;
}

int m_rename(lua_State* L) {
  Document& d = self(L, "c:rename");
  apply(d, RenameNode{arg_string(L, 2, "c:rename", "path"), arg_string(L, 3, "c:rename", "new_name")}, "c:rename");
  return 0;
}

int m_set_outputs(lua_State* L) {
  Document& d = self(L, "c:set_outputs");
  auto outs = to_ports(arg_strings(L, 2, "c:set_outputs", "outputs"));
  std::string parent = opt_string(L, 3, "c:set_outputs", "parent").value_or("");
  for (auto& o : outs)
    if (!o.connected()) throw LuaError("`c:set_outputs`: an output cannot be empty");
  apply(d, SetOutputs{parent, std::move(outs)}, "c:set_outputs");
  return 0;
}

int m_outputs(lua_State* L) {
  Document& d = self(L, "c:outputs");
  std::string parent = opt_string(L, 2, "c:outputs", "parent").value_or("");
  push_strings(L, port_strings(graph_level(d, parent, "c:outputs").outputs));
  return 1;
}

int m_set_symbol(lua_State* L) {
  Document& d = self(L, "c:set_symbol");
  std::string name = arg_string(L, 2, "c:set_symbol", "name");
  std::optional<int64_t> v;
  if (!lua_isnoneornil(L, 3)) v = arg_integer(L, 3, "c:set_symbol", "value");
  apply(d, SetSymbol{name, v}, "c:set_symbol");
  return 0;
}

int m_group(lua_State* L) {
  Document& d = self(L, "c:group");
  auto nodes = arg_strings(L, 2, "c:group", "nodes");
  std::string block = arg_string(L, 3, "c:group", "block");
  std::string parent = opt_string(L, 4, "c:group", "parent").value_or("");
  apply(d, Group{parent, std::move(nodes), block}, "c:group");
  std::string path = parent.empty() ? block : parent + "/" + block;
  lua_pushlstring(L, path.data(), path.size());
  return 1;
}

// Paths of nodes at one graph level: that level and the nodes' names.
std::pair<std::string, std::set<std::string>> one_level(lua_State* L, int idx, const char* fn) {
  auto paths = arg_strings(L, idx, fn, "paths");
  if (paths.empty()) throw LuaError(std::string("`") + fn + "`: no nodes given");
  std::string parent = split_path(paths[0]).parent;
  std::set<std::string> names;
  for (auto& p : paths) {
    auto [level, name] = split_path(p);
    if (level != parent)
      throw LuaError(std::string("`") + fn + "`: `" + p + "` is not at the level of `" + paths[0] + "`; give nodes of one graph level");
    names.insert(name);
  }
  return {parent, names};
}

int m_delete(lua_State* L) {
  Document& d = self(L, "c:delete");
  auto [parent, names] = one_level(L, 2, "c:delete");
  auto cmd = delete_nodes(d.circuit(), parent, names);
  if (!cmd) throw LuaError("`c:delete`: " + cmd.error().message);
  apply(d, std::move(*cmd), "c:delete");
  return 0;
}

int m_copy_nodes(lua_State* L) {
  Document& d = self(L, "c:copy_nodes");
  auto [parent, names] = one_level(L, 2, "c:copy_nodes");
  auto clip = copy_nodes(d.circuit(), parent, names);
  if (!clip) throw LuaError("`c:copy_nodes`: " + clip.error().message);
  std::string text = clip_to_text(*clip);
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

int m_paste(lua_State* L) {
  Document& d = self(L, "c:paste");
  std::string text = arg_string(L, 2, "c:paste", "clip");
  std::string parent = opt_string(L, 3, "c:paste", "parent").value_or("");
  auto clip = parse_clip(text);
  if (!clip) throw LuaError("`c:paste`: " + clip.error().message);
  std::vector<std::string> pasted;
  auto cmd = paste_nodes(d.circuit(), parent, *clip, &pasted);
  if (!cmd) throw LuaError("`c:paste`: " + cmd.error().message);
  apply(d, std::move(*cmd), "c:paste");
  push_strings(L, pasted);
  return 1;
}

int m_insert_after(lua_State* L) {
  Document& d = self(L, "c:insert_after");
  std::string after = arg_string(L, 2, "c:insert_after", "path");
  std::string op = arg_string(L, 3, "c:insert_after", "op");
  arg_table(L, 4, "c:insert_after", "attrs", true);
  std::string name = opt_string(L, 5, "c:insert_after", "name").value_or(op);
  Node n = make_node(L, name, op, {}, 4, 0, "c:insert_after");
  std::string path;
  auto cmd = insert_after(d.circuit(), after, std::move(n), &path);
  if (!cmd) throw LuaError("`c:insert_after`: " + cmd.error().message);
  apply(d, std::move(*cmd), "c:insert_after");
  lua_pushlstring(L, path.data(), path.size());
  return 1;
}

int m_ungroup(lua_State* L) {
  Document& d = self(L, "c:ungroup");
  apply(d, Ungroup{arg_string(L, 2, "c:ungroup", "path")}, "c:ungroup");
  return 0;
}

int m_undo(lua_State* L) {
  Document& d = self(L, "c:undo");
  std::string label = d.undo_label();
  bool done = d.undo();
  lua_pushboolean(L, done);
  if (!done) return 1;
  lua_pushlstring(L, label.data(), label.size());
  return 2;
}

int m_redo(lua_State* L) {
  Document& d = self(L, "c:redo");
  std::string label = d.redo_label();
  bool done = d.redo();
  lua_pushboolean(L, done);
  if (!done) return 1;
  lua_pushlstring(L, label.data(), label.size());
  return 2;
}

// ---- circuit methods: inspection ----------------------------------------------------------

int m_nodes(lua_State* L) {
  Document& d = self(L, "c:nodes");
  std::string parent = opt_string(L, 2, "c:nodes", "parent").value_or("");
  std::vector<std::string> names;
  for (auto& n : graph_level(d, parent, "c:nodes").nodes) names.push_back(parent.empty() ? n.name : parent + "/" + n.name);
  push_strings(L, names);
  return 1;
}

int m_node(lua_State* L) {
  Document& d = self(L, "c:node");
  std::string path = arg_string(L, 2, "c:node", "path");
  const Node& n = node_at(d, path, "c:node");
  const NodeInfo* info = info_at(d.analysis(), d.circuit().graph, path);
  lua_createtable(L, 0, 12);
  set_field(L, "name", n.name);
  set_field(L, "path", path);
  set_field(L, "op", n.op);
  push_strings(L, port_strings(n.inputs));
  lua_setfield(L, -2, "inputs");
  lua_createtable(L, 0, int(n.attrs.size()));
  for (auto& [k, v] : n.attrs) push_attr(L, v), lua_setfield(L, -2, k.c_str());
  lua_setfield(L, -2, "attrs");
  set_field_bool(L, "has_body", bool(n.body));
  if (info) {
    push_types(L, info->outputs);
    lua_setfield(L, -2, "outputs");
    set_cost(L, info->cost);
    set_field_bool(L, "blocked", info->blocked);
    if (!info->error.empty()) set_field(L, "error", info->error);
  }
  return 1;
}

int m_shape(lua_State* L) {
  Document& d = self(L, "c:shape");
  std::string path = arg_string(L, 2, "c:shape", "path");
  int64_t port = lua_isnoneornil(L, 3) ? 0 : arg_integer(L, 3, "c:shape", "port");
  node_at(d, path, "c:shape");
  const NodeInfo* info = info_at(d.analysis(), d.circuit().graph, path);
  if (!info || !info->ok()) {
    std::string why = info && !info->error.empty() ? info->error : "an upstream node has a problem";
    throw LuaError("`c:shape`: node `" + path + "` has no inferred shape: " + why);
  }
  if (port < 0 || port >= int64_t(info->outputs.size()))
    throw LuaError("`c:shape`: node `" + path + "` has no output " + std::to_string(port) + " (it has " +
                   std::to_string(info->outputs.size()) + ")");
  push_type(L, info->outputs[size_t(port)]);
  return 1;
}

void shapes_into(lua_State* L, const Graph& g, const GraphAnalysis& a, const std::string& prefix) {
  for (size_t i = 0; i < g.nodes.size() && i < a.nodes.size(); ++i) {
    const NodeInfo& info = a.nodes[i];
    std::string path = prefix + g.nodes[i].name;
    if (info.ok()) push_types(L, info.outputs), lua_setfield(L, -2, path.c_str());
    if (info.body && g.nodes[i].body) shapes_into(L, *g.nodes[i].body, *info.body, path + "/");
  }
}

int m_shapes(lua_State* L) {
  Document& d = self(L, "c:shapes");
  lua_newtable(L);
  shapes_into(L, d.circuit().graph, d.analysis(), "");
  return 1;
}

int m_info(lua_State* L) {
  Document& d = self(L, "c:info");
  const Circuit& c = d.circuit();
  const GraphAnalysis& a = d.analysis();
  lua_createtable(L, 0, 12);
  set_field(L, "name", c.name);
  set_field(L, "doc", c.doc);
  set_field(L, "nodes", int64_t(c.graph.nodes.size()));
  set_cost(L, a.total);
  set_field_bool(L, "ok", a.ok());
  push_types(L, a.outputs);
  lua_setfield(L, -2, "outputs");
  lua_newtable(L);
  for (auto& [k, v] : c.symbols) lua_pushinteger(L, v), lua_setfield(L, -2, k.c_str());
  lua_setfield(L, -2, "symbols");
  set_field_bool(L, "modified", d.modified());
  return 1;
}

int m_diagnostics(lua_State* L) {
  Document& d = self(L, "c:diagnostics");
  auto diags = d.analysis().diagnostics(d.circuit().graph);
  if (!d.analysis().error.empty()) diags.insert(diags.begin(), Diagnostic{"", d.analysis().error});
  lua_createtable(L, int(diags.size()), 0);
  for (size_t k = 0; k < diags.size(); ++k) {
    lua_createtable(L, 0, 2);
    set_field(L, "node", diags[k].node);
    set_field(L, "message", diags[k].message);
    lua_rawseti(L, -2, lua_Integer(k + 1));
  }
  return 1;
}

// ---- circuit methods: files and copies ----------------------------------------------------

int m_to_json(lua_State* L) {
  Document& d = self(L, "c:to_json");
  std::string text = circuit_to_text(d.circuit());
  lua_pushlstring(L, text.data(), text.size());
  return 1;
}

bool ends_with(const std::string& s, const char* suffix) {
  size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}

int m_save(lua_State* L) {
  Document& d = self(L, "c:save");
  std::string path = arg_string(L, 2, "c:save", "path");
  // The sandbox writes no files, except circuits: saving them is what the module is for.
  if (!Host::of(L).options().allow_io && !ends_with(path, ".circuit.json"))
    throw LuaError("`c:save`: `" + path + "` does not end in .circuit.json; the sandbox only writes circuit files; run with --allow-io to allow it");
  Status s = save_circuit(d.circuit(), path);
  if (!s) throw LuaError("`c:save`: " + s.error);
  d.mark_saved();
  return 0;
}

int m_copy(lua_State* L) {
  Document& d = self(L, "c:copy");
  push_circuit(L, Document(d.circuit()));
  return 1;
}

int m_tostring(lua_State* L) {
  Document* d = to_circuit(L, 1);
  std::string s = d ? "circuit `" + d->circuit().name + "` (" + std::to_string(d->circuit().graph.nodes.size()) + " nodes)"
                    : "circuit (collected)";
  lua_pushlstring(L, s.data(), s.size());
  return 1;
}

int m_gc(lua_State* L) {
  auto* box = static_cast<CircuitBox*>(luaL_testudata(L, 1, kCircuitType));
  if (box) delete box->doc, box->doc = nullptr;
  return 0;
}

// circuit.diff(a, b): how circuit b differs from circuit a, as `circuit diff --json` writes it.
int l_diff(lua_State* L) {
  const Document& a = arg_circuit(L, 1, "circuit.diff");
  const Document& b = arg_circuit(L, 2, "circuit.diff");
  push_json(L, diff_json(diff(a.circuit(), b.circuit())));
  return 1;
}

// circuit.limits(): what this script may use and holds now, in bytes (and instructions).
int l_limits(lua_State* L) {
  Host& h = Host::of(L);
  lua_createtable(L, 0, 5);
  set_field(L, "memory", int64_t(h.memory.limit));
  set_field(L, "memory_used", int64_t(h.memory.used));
  set_field(L, "native", int64_t(h.native_limit()));
  set_field(L, "native_held", int64_t(h.native_held()));
  set_field(L, "instructions", h.options().limits.instructions);
  return 1;
}

const luaL_Reg kModuleFunctions[] = {
    {"new", protect<l_new>},
    {"limits", protect<l_limits>},
    {"diff", protect<l_diff>},
    {"load", protect<l_load>},
    {"import", protect<l_import>},
    {"parse", protect<l_parse>},
    {"ops", protect<l_ops>},
    {nullptr, nullptr},
};

const luaL_Reg kMethods[] = {
    {"input", protect<m_input>},
    {"add", protect<m_add>},
    {"remove", protect<m_remove>},
    {"connect", protect<m_connect>},
    {"set", protect<m_set>},
    {"get", protect<m_get>},
    {"rename", protect<m_rename>},
    {"set_outputs", protect<m_set_outputs>},
    {"outputs", protect<m_outputs>},
    {"set_symbol", protect<m_set_symbol>},
    {"group", protect<m_group>},
    {"ungroup", protect<m_ungroup>},
    {"delete", protect<m_delete>},
    {"copy_nodes", protect<m_copy_nodes>},
    {"paste", protect<m_paste>},
    {"insert_after", protect<m_insert_after>},
    {"undo", protect<m_undo>},
    {"redo", protect<m_redo>},
    {"nodes", protect<m_nodes>},
    {"node", protect<m_node>},
    {"shape", protect<m_shape>},
    {"shapes", protect<m_shapes>},
    {"info", protect<m_info>},
    {"diagnostics", protect<m_diagnostics>},
    {"to_json", protect<m_to_json>},
    {"save", protect<m_save>},
    {"copy", protect<m_copy>},
    {nullptr, nullptr},
};

}  // namespace

Document* to_circuit(lua_State* L, int idx) {
  auto* box = static_cast<CircuitBox*>(luaL_testudata(L, idx, kCircuitType));
  return box ? box->doc : nullptr;
}

Document& arg_circuit(lua_State* L, int idx, const char* fn) {
  Document* d = to_circuit(L, idx);
  if (!d) {
    bool method = fn[0] == 'c' && fn[1] == ':';
    throw LuaError(std::string("`") + fn + "`: " + (method && idx == 1 ? "call it as c:" + std::string(fn + 2) + "(...) on a circuit; got " : "argument " + std::to_string(idx) + " must be a circuit, got ") +
                   type_phrase(L, idx));
  }
  return *d;
}

void push_circuit(lua_State* L, Document doc) {
  // The userdata and its metatable exist before the Document is allocated, so a Lua memory
  // error here cannot leak it.
  auto* box = static_cast<CircuitBox*>(lua_newuserdatauv(L, sizeof(CircuitBox), 0));
  box->doc = nullptr;
  luaL_setmetatable(L, kCircuitType);
  box->doc = new Document(std::move(doc));
}

void add_circuit_methods(lua_State* L, const luaL_Reg* methods) {
  luaL_getmetatable(L, kCircuitType);
  lua_getfield(L, -1, "__index");
  luaL_setfuncs(L, methods, 0);
  lua_pop(L, 2);
}

void open_circuit_module(lua_State* L, int module) {
  module = lua_absindex(L, module);
  lua_pushvalue(L, module);
  luaL_setfuncs(L, kModuleFunctions, 0);
  lua_pop(L, 1);
  lua_pushinteger(L, kFormatVersion);
  lua_setfield(L, module, "format_version");
  luaL_newmetatable(L, kCircuitType);
  lua_newtable(L);
  luaL_setfuncs(L, kMethods, 0);
  lua_setfield(L, -2, "__index");
  lua_pushcfunction(L, m_gc);
  lua_setfield(L, -2, "__gc");
  lua_pushcfunction(L, protect<m_tostring>);
  lua_setfield(L, -2, "__tostring");
  lua_pop(L, 1);
}

}  // namespace script
