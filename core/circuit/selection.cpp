#include "selection.h"

#include <algorithm>
#include <map>

#include "circuit_file.h"
#include "base_names.h"
#include "op.h"
#include "templates.h"

namespace circuit {

namespace {

Result<Graph> level_copy(const Circuit& c, const std::string& parent) {
  const Graph* g = graph_at(c.graph, parent);
  if (!g) return Error{"no block `" + parent + "`"};
  return *g;
}

std::string nodes_label(const char* verb, size_t n) {
  return std::string(verb) + " " + std::to_string(n) + (n == 1 ? " node" : " nodes");
}

}  // namespace

NodeView view_node(const Document& doc, const std::string& path) {
  const Graph* g = &doc.circuit().graph;
  const GraphAnalysis* a = &doc.analysis();
  size_t start = 0;
  while (g && a) {
    size_t slash = path.find('/', start);
    std::string name = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    int i = g->find(name);
    if (i < 0 || size_t(i) >= a->nodes.size()) return {};
    const Node& n = g->nodes[size_t(i)];
    if (slash == std::string::npos) return {&n, &a->nodes[size_t(i)], g, a};
    g = n.body ? &*n.body : nullptr;
    a = a->nodes[size_t(i)].body.get();
    start = slash + 1;
  }
  return {};
}

LevelSelection at_one_level(const std::set<std::string>& paths) {
  LevelSelection s;
  if (paths.empty()) return s;
  s.parent = split_path(*paths.begin()).parent;
  for (auto& p : paths)
    if (auto [parent, name] = split_path(p); parent == s.parent) s.names.insert(name);
  return s;
}

Result<Command> delete_nodes(const Circuit& c, const std::string& parent, const std::set<std::string>& names) {
  auto g = level_copy(c, parent);
  if (!g) return g.error();
  for (auto& n : names)
    if (g->find(n) < 0) return Error{"no node `" + join_path(parent, n) + "`"};
  std::erase_if(g->nodes, [&](const Node& n) { return names.count(n.name) > 0; });
  for (auto& n : g->nodes)
    for (auto& p : n.inputs)
      if (names.count(p.node)) p = {};
  std::erase_if(g->outputs, [&](const PortRef& p) { return names.count(p.node) > 0; });
  g->invalidate_index();
  return Command{ReplaceGraph{parent, std::move(*g), nodes_label("Delete", names.size())}};
}

Result<Clip> copy_nodes(const Circuit& c, const std::string& parent, const std::set<std::string>& names) {
  const Graph* level = graph_at(c.graph, parent);
  if (!level) return Error{"no block `" + parent + "`"};
  for (auto& n : names)
    if (level->find(n) < 0) return Error{"no node `" + join_path(parent, n) + "`"};
  Clip clip;
  clip.circuit.name = "clipboard";
  for (const Node& node : level->nodes) {  // in graph order, as the user drew them
    if (!names.count(node.name)) continue;
    Node n = node;
    for (size_t q = 0; q < n.inputs.size(); ++q)
      if (n.inputs[q].connected() && !names.count(n.inputs[q].node)) {
        clip.external.push_back({n.name, int(q), n.inputs[q]});
        n.inputs[q] = {};
      }
    clip.circuit.graph.nodes.push_back(std::move(n));
  }
  return clip;
}

std::string clip_to_text(const Clip& clip) {
  Json wires = Json::array();
  for (auto& w : clip.external) {
    Json j = Json::object();
    j.set("node", Json::string(w.node));
    j.set("port", Json::integer(w.port));
    j.set("from", Json::string(to_string(w.from)));
    wires.push(std::move(j));
  }
  Json j = Json::object();
  j.set("circuit", Json::string(circuit_to_text(clip.circuit)));
  j.set("external", std::move(wires));
  return write_json(j);
}

Result<Clip> parse_clip(std::string_view text) {
  Clip clip;
  auto j = base::parse_json(text);
  const Json* inner = j ? j->get("circuit") : nullptr;
  if (!inner || inner->kind != Json::Kind::String) {  // a plain circuit text
    auto c = parse_circuit(text, "clipboard");
    if (!c) return c.error();
    clip.circuit = std::move(*c);
    return clip;
  }
  auto c = parse_circuit(inner->s, "clipboard");
  if (!c) return c.error();
  clip.circuit = std::move(*c);
  if (const Json* ext = j->get("external"); ext && ext->kind == Json::Kind::Array)
    for (const Json& w : ext->items) {
      const Json *node = w.get("node"), *port = w.get("port"), *from = w.get("from");
      if (!node || !port || !from || node->kind != Json::Kind::String || port->kind != Json::Kind::Int || from->kind != Json::Kind::String)
        return Error{"clipboard: an external wire needs `node`, `port` and `from`"};
      auto ref = parse_port(from->s);
      if (!ref) return Error{"clipboard: " + ref.error().message};
      clip.external.push_back({node->s, int(port->i), *ref});
    }
  return clip;
}

Result<Command> paste_nodes(const Circuit& c, const std::string& parent, const Clip& clip, std::vector<std::string>* pasted) {
  if (clip.circuit.graph.nodes.empty()) return Error{"the clipboard holds no circuit nodes"};
  auto g = level_copy(c, parent);
  if (!g) return g.error();
  Graph nodes = clip.circuit.graph;
  for (auto& w : clip.external)
    if (Node* n = nodes.node(w.node); n && w.port >= 0 && size_t(w.port) < n->inputs.size()) n->inputs[size_t(w.port)] = w.from;
  std::map<std::string, std::string> renamed;
  size_t first = g->nodes.size();
  for (auto& n : nodes.nodes) {
    std::string fresh = g->find(n.name) < 0 ? n.name : g->unique_name(n.name + "_copy");
    renamed[n.name] = fresh;
    Node copy = n;
    copy.name = fresh;
    g->nodes.push_back(std::move(copy));
    g->invalidate_index();
  }
  for (size_t i = first; i < g->nodes.size(); ++i) {
    if (pasted) pasted->push_back(join_path(parent, g->nodes[i].name));
    for (auto& p : g->nodes[i].inputs) {
      if (auto r = renamed.find(p.node); r != renamed.end()) p.node = r->second;
      else if (g->find(p.node) < 0) p = {};
    }
  }
  return Command{ReplaceGraph{parent, std::move(*g), nodes_label("Paste", nodes.nodes.size())}};
}

Result<Command> insert_after(const Circuit& c, const std::string& after, Node node, std::string* path) {
  auto [parent, source] = split_path(after);
  auto g = level_copy(c, parent);
  if (!g) return g.error();
  int at = g->find(source);
  if (at < 0) return Error{"no node `" + after + "`"};
  node.name = g->unique_name(node.name.empty() ? node.op : node.name);
  const OpDef* def = find_op(node.op);
  node.inputs.resize(std::max(node.inputs.size(), size_t(std::max(def ? def->min_inputs : 1, 1))));
  node.inputs[0] = {source, 0};
  for (auto& o : g->outputs)
    if (o.node == source) o = {node.name, 0};
  if (path) *path = join_path(parent, node.name);
  std::string label = "Add " + node.name;
  g->nodes.insert(g->nodes.begin() + at + 1, std::move(node));
  g->invalidate_index();
  return Command{ReplaceGraph{parent, std::move(*g), std::move(label)}};
}

Result<Command> add_from_palette(const Document& doc, const std::string& op, const std::string& after, std::string* path) {
  std::string parent = after.empty() ? "" : split_path(after).parent;
  const Graph* g = graph_at(doc.circuit().graph, parent);
  if (!g) return Error{"no block `" + parent + "`"};
  // The new node is sized from what it follows: the selected node's first output.
  const TensorType* in = nullptr;
  if (!after.empty()) {
    NodeView v = view_node(doc, after);
    if (!v.node) return Error{"no node `" + after + "`"};
    if (v.info && !v.info->outputs.empty()) in = &v.info->outputs[0];
  }
  auto made = palette_node(*g, op, in, doc.bindings());
  if (!made) return made.error();
  if (!after.empty()) return insert_after(doc.circuit(), after, std::move(*made), path);
  if (path) *path = made->name;
  return Command{AddNode{"", std::move(*made), -1, {}, {}}};
}

}  // namespace circuit
