#include "edit.h"

#include <algorithm>
#include <set>

#include "op.h"

namespace circuit {

namespace {

std::string top_of(const std::string& path) { return path.substr(0, path.find('/')); }

Result<Graph*> level(Circuit& c, const std::string& parent) {
  Graph* g = graph_at(c.graph, parent);
  if (!g) return Error{"no block `" + parent + "`"};
  return g;
}

Result<NodeLocation> find_node(Circuit& c, const std::string& path) {
  NodeLocation l = locate(c.graph, path);
  if (!l.node()) return Error{"no node `" + path + "`"};
  return l;
}

// The analysis of the graph level at `parent`, or null when that level could not be analysed.
const GraphAnalysis* analysis_at(const GraphAnalysis& a, const Graph& g, const std::string& parent) {
  if (parent.empty()) return &a;
  auto slash = parent.find('/');
  int i = g.find(parent.substr(0, slash));
  if (i < 0 || !a.nodes[size_t(i)].body) return nullptr;
  const Graph& body = *g.nodes[size_t(i)].body;
  return analysis_at(*a.nodes[size_t(i)].body, body, slash == std::string::npos ? "" : parent.substr(slash + 1));
}

bool has_cycle(const Graph& g) {
  std::vector<int> indeg(g.nodes.size(), 0);
  std::vector<std::vector<int>> out(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& r : g.nodes[i].inputs)
      if (int s = r.connected() ? g.find(r.node) : -1; s >= 0) out[size_t(s)].push_back(int(i)), ++indeg[i];
  std::vector<int> q;
  for (size_t i = 0; i < g.nodes.size(); ++i)
    if (!indeg[i]) q.push_back(int(i));
  for (size_t h = 0; h < q.size(); ++h)
    for (int c : out[size_t(q[h])])
      if (!--indeg[size_t(c)]) q.push_back(c);
  return q.size() != g.nodes.size();
}

// Is `target` reachable by following consumers from `from`?
bool reaches(const Graph& g, const std::string& from, const std::string& target) {
  std::vector<std::vector<int>> out(g.nodes.size());
  for (size_t i = 0; i < g.nodes.size(); ++i)
    for (auto& r : g.nodes[i].inputs)
      if (int s = r.connected() ? g.find(r.node) : -1; s >= 0) out[size_t(s)].push_back(int(i));
  int start = g.find(from), goal = g.find(target);
  std::vector<char> seen(g.nodes.size(), 0);
  std::vector<int> stack{start};
  while (!stack.empty()) {
    int n = stack.back();
    stack.pop_back();
    if (n == goal) return true;
    if (seen[size_t(n)]) continue;
    seen[size_t(n)] = 1;
    for (int c : out[size_t(n)]) stack.push_back(c);
  }
  return false;
}

std::string sanitize(std::string s) {
  for (char& ch : s)
    if (ch == ':' || ch == '/') ch = '_';
  return s;
}

struct Applier {
  Circuit& c;
  const GraphAnalysis& a;

  Result<Command> operator()(const AddNode& cmd) {
    auto g = level(c, cmd.parent);
    if (!g) return g.error();
    Graph& G = **g;
    if (cmd.node.name.empty() || cmd.node.name.find_first_of("/: ") != std::string::npos)
      return Error{"node name \"" + cmd.node.name + "\" must be non-empty without `/`, `:` or spaces"};
    if (G.find(cmd.node.name) >= 0) return Error{"a node named `" + cmd.node.name + "` already exists"};
    const OpDef* def = find_op(cmd.node.op);
    if (!def) return Error{"unknown op `" + cmd.node.op + "`"};
    for (auto& r : cmd.node.inputs)
      if (r.connected() && G.find(r.node) < 0) return Error{"no node `" + r.node + "` to connect from"};
    for (auto& [consumer, port] : cmd.rewire) {
      const Node* n = G.node(consumer);
      if (!n || port < 0 || port >= int(n->inputs.size())) return Error{"no input " + std::to_string(port) + " on `" + consumer + "`"};
    }
    int idx = cmd.index < 0 || cmd.index > int(G.nodes.size()) ? int(G.nodes.size()) : cmd.index;
    G.nodes.insert(G.nodes.begin() + idx, cmd.node);
    G.invalidate_index();
    for (auto& [consumer, port] : cmd.rewire) G.node(consumer)->inputs[size_t(port)].node = cmd.node.name;
    for (auto& [slot, port] : cmd.output_slots)
      G.outputs.insert(G.outputs.begin() + std::min<size_t>(size_t(slot), G.outputs.size()), PortRef{cmd.node.name, port});
    std::string path = cmd.parent.empty() ? cmd.node.name : cmd.parent + "/" + cmd.node.name;
    return Command{RemoveNode{path}};
  }

  Result<Command> operator()(const RemoveNode& cmd) {
    auto l = find_node(c, cmd.path);
    if (!l) return l.error();
    Graph& G = *l->graph;
    AddNode inv{split_path(cmd.path).parent, G.nodes[size_t(l->index)], l->index, {}, {}};
    const std::string& name = inv.node.name;
    for (auto& n : G.nodes)
      for (size_t p = 0; p < n.inputs.size(); ++p)
        if (n.inputs[p].node == name) {
          // Keep the port number in the reference so undo restores port:index exactly.
          inv.rewire.push_back({n.name, int(p)});
          n.inputs[p].node.clear();
        }
    for (size_t k = 0; k < G.outputs.size(); ++k)
      if (G.outputs[k].node == name) inv.output_slots.push_back({int(k), G.outputs[k].port});
    std::erase_if(G.outputs, [&](const PortRef& r) { return r.node == name; });
    G.nodes.erase(G.nodes.begin() + l->index);
    G.invalidate_index();
    return Command{std::move(inv)};
  }

  Result<Command> operator()(const SetInputs& cmd) {
    auto l = find_node(c, cmd.path);
    if (!l) return l.error();
    Graph& G = *l->graph;
    Node& n = *l->node();
    for (auto& r : cmd.inputs) {
      if (!r.connected()) continue;
      if (G.find(r.node) < 0) return Error{"no node `" + r.node + "` to connect from"};
      if (r.node == n.name || reaches(G, n.name, r.node))
        return Error{"connecting `" + r.node + "` into `" + n.name + "` would create a cycle"};
    }
    SetInputs inv{cmd.path, n.inputs};
    n.inputs = cmd.inputs;
    return Command{std::move(inv)};
  }

  Result<Command> operator()(const SetAttr& cmd) {
    auto l = find_node(c, cmd.path);
    if (!l) return l.error();
    Node& n = *l->node();
    const OpDef* def = find_op(n.op);
    if (!def) return Error{"node `" + cmd.path + "` has unknown op `" + n.op + "`"};
    const AttrSpec* spec = def->find_attr(cmd.key);
    if (!spec) return Error{"op `" + n.op + "` has no attribute `" + cmd.key + "`"};
    SetAttr inv{cmd.path, cmd.key, {}};
    if (auto it = n.attrs.find(cmd.key); it != n.attrs.end()) inv.value = it->second;
    if (cmd.value) {
      auto v = check_attr(*spec, *cmd.value);
      if (!v) return Error{"node `" + cmd.path + "`: " + v.error().message};
      n.attrs[cmd.key] = *v;
    } else {
      n.attrs.erase(cmd.key);
    }
    return Command{std::move(inv)};
  }

  Result<Command> operator()(const SetOutputs& cmd) {
    auto g = level(c, cmd.parent);
    if (!g) return g.error();
    for (auto& r : cmd.outputs)
      if ((*g)->find(r.node) < 0) return Error{"no node `" + r.node + "` for a graph output"};
    SetOutputs inv{cmd.parent, (*g)->outputs};
    (*g)->outputs = cmd.outputs;
    return Command{std::move(inv)};
  }

  Result<Command> operator()(const RenameNode& cmd) {
    auto l = find_node(c, cmd.path);
    if (!l) return l.error();
    Graph& G = *l->graph;
    if (cmd.new_name.empty() || cmd.new_name.find_first_of("/: ") != std::string::npos)
      return Error{"node name \"" + cmd.new_name + "\" must be non-empty without `/`, `:` or spaces"};
    if (G.find(cmd.new_name) >= 0) return Error{"a node named `" + cmd.new_name + "` already exists"};
    std::string old = l->node()->name;
    l->node()->name = cmd.new_name;
    for (auto& n : G.nodes)
      for (auto& r : n.inputs)
        if (r.node == old) r.node = cmd.new_name;
    for (auto& r : G.outputs)
      if (r.node == old) r.node = cmd.new_name;
    G.invalidate_index();
    auto parent = split_path(cmd.path).parent;
    return Command{RenameNode{parent.empty() ? cmd.new_name : parent + "/" + cmd.new_name, old}};
  }

  Result<Command> operator()(const SetSymbol& cmd) {
    if (cmd.name == "batch") return Error{"`batch` is always 1 for per-example costs"};
    if (cmd.value && *cmd.value < 1) return Error{"symbol `" + cmd.name + "` must be a positive integer"};
    SetSymbol inv{cmd.name, {}};
    if (auto it = c.symbols.find(cmd.name); it != c.symbols.end()) inv.value = it->second;
    if (cmd.value) c.symbols[cmd.name] = *cmd.value;
    else c.symbols.erase(cmd.name);
    return Command{std::move(inv)};
  }

  Result<Command> operator()(const Group& cmd) {
    auto g = level(c, cmd.parent);
    if (!g) return g.error();
    Graph& G = **g;
    const GraphAnalysis* la = analysis_at(a, c.graph, cmd.parent);
    if (cmd.nodes.empty()) return Error{"nothing to group"};
    std::set<std::string> sel(cmd.nodes.begin(), cmd.nodes.end());
    for (auto& n : sel) {
      int i = G.find(n);
      if (i < 0) return Error{"no node `" + n + "` to group"};
      if (G.nodes[size_t(i)].is_input()) return Error{"`" + n + "` is a graph input; inputs stay outside blocks"};
    }
    if (G.find(cmd.block) >= 0 && !sel.count(cmd.block)) return Error{"a node named `" + cmd.block + "` already exists"};
    if (cmd.block.empty() || cmd.block.find_first_of("/: ") != std::string::npos)
      return Error{"block name \"" + cmd.block + "\" must be non-empty without `/`, `:` or spaces"};

    Graph body;
    std::vector<PortRef> ext_in;  // outer sources feeding the selection, in first-use order
    auto in_name = [&](const PortRef& r) { return "in_" + sanitize(to_string(r)); };
    int first = -1;
    for (size_t i = 0; i < G.nodes.size(); ++i) {
      const Node& n = G.nodes[i];
      if (!sel.count(n.name)) continue;
      if (first < 0) first = int(i);
      for (auto& r : n.inputs)
        if (r.connected() && !sel.count(r.node) && std::find(ext_in.begin(), ext_in.end(), r) == ext_in.end()) ext_in.push_back(r);
    }
    for (auto& r : ext_in) {
      int s = G.find(r.node);
      const NodeInfo* info = la ? &la->nodes[size_t(s)] : nullptr;
      if (!info || !info->ok() || r.port >= int(info->outputs.size()))
        return Error{"cannot group: the input from `" + to_string(r) + "` has no known type (fix its error first)"};
      Node in{in_name(r), "input", {}, {}, {}};
      std::vector<std::string> shape;
      for (auto& ax : info->outputs[size_t(r.port)].axes) shape.push_back(axis_spec(ax));
      in.attrs["shape"] = shape;
      if (info->outputs[size_t(r.port)].dtype == DType::i64) in.attrs["dtype"] = std::string("i64");
      body.nodes.push_back(std::move(in));
    }
    for (auto& n : G.nodes) {
      if (!sel.count(n.name)) continue;
      Node copy = n;
      for (auto& r : copy.inputs)
        if (r.connected() && !sel.count(r.node)) r = PortRef{in_name(r), 0};
      body.nodes.push_back(std::move(copy));
    }
    // Every selected output used outside becomes a block output.
    auto out_slot = [&](const PortRef& r) {
      auto it = std::find(body.outputs.begin(), body.outputs.end(), r);
      if (it != body.outputs.end()) return int(it - body.outputs.begin());
      body.outputs.push_back(r);
      return int(body.outputs.size()) - 1;
    };
    Graph result;
    for (auto& n : G.nodes) {
      if (sel.count(n.name)) continue;
      Node copy = n;
      for (auto& r : copy.inputs)
        if (r.connected() && sel.count(r.node)) r = PortRef{cmd.block, out_slot(r)};
      result.nodes.push_back(std::move(copy));
    }
    result.outputs = G.outputs;
    for (auto& r : result.outputs)
      if (sel.count(r.node)) r = PortRef{cmd.block, out_slot(r)};
    Node block{cmd.block, "block", ext_in, {}, Box<Graph>(std::move(body))};
    // Place the block where its first node was, counted among the nodes that stay.
    int before = 0;
    for (int i = 0; i < first; ++i) before += sel.count(G.nodes[size_t(i)].name) ? 0 : 1;
    result.nodes.insert(result.nodes.begin() + before, std::move(block));
    if (has_cycle(result)) return Error{"cannot group: a path leaves the selection and comes back into it"};
    return replace(cmd.parent, std::move(result));
  }

  Result<Command> operator()(const Ungroup& cmd) {
    auto l = find_node(c, cmd.path);
    if (!l) return l.error();
    Graph& G = *l->graph;
    const Node& blk = *l->node();
    if (blk.op != "block" || !blk.body) return Error{"`" + cmd.path + "` is not a block"};
    const Graph& body = *blk.body;
    auto ins = body.input_nodes();
    if (ins.size() != blk.inputs.size()) return Error{"block `" + cmd.path + "` has mismatched ports; fix it before ungrouping"};

    // Body names that collide with names left in the parent get the block's name as prefix.
    std::map<std::string, PortRef> port_of_input;
    for (size_t k = 0; k < ins.size(); ++k) port_of_input[body.nodes[size_t(ins[k])].name] = blk.inputs[k];
    std::map<std::string, std::string> rename;
    std::set<std::string> taken;
    for (auto& n : G.nodes)
      if (n.name != blk.name) taken.insert(n.name);
    for (auto& n : body.nodes) {
      if (n.is_input()) continue;
      std::string name = n.name;
      for (int k = 2; taken.count(name); ++k) name = blk.name + "_" + n.name + (k > 2 ? std::to_string(k - 1) : "");
      taken.insert(name);
      rename[n.name] = name;
    }
    auto map_ref = [&](const PortRef& r) -> PortRef {
      if (auto it = port_of_input.find(r.node); it != port_of_input.end()) return it->second;
      if (auto it = rename.find(r.node); it != rename.end()) return PortRef{it->second, r.port};
      return r;
    };
    Graph result;
    for (auto& n : G.nodes) {
      if (n.name == blk.name) {
        for (auto& bn : body.nodes) {
          if (bn.is_input()) continue;
          Node copy = bn;
          copy.name = rename[bn.name];
          for (auto& r : copy.inputs) r = map_ref(r);
          result.nodes.push_back(std::move(copy));
        }
        continue;
      }
      result.nodes.push_back(n);
    }
    auto outer = [&](const PortRef& r) -> PortRef {
      if (r.node != blk.name) return r;
      if (r.port >= int(body.outputs.size())) return PortRef{};
      return map_ref(body.outputs[size_t(r.port)]);
    };
    for (auto& n : result.nodes)
      for (auto& r : n.inputs) r = outer(r);
    for (auto& r : G.outputs) result.outputs.push_back(outer(r));
    return replace(split_path(cmd.path).parent, std::move(result));
  }

  Result<Command> operator()(const ReplaceGraph& cmd) { return replace(cmd.parent, cmd.graph); }

  Result<Command> replace(const std::string& parent, Graph g) {
    auto lv = level(c, parent);
    if (!lv) return lv.error();
    ReplaceGraph inv{parent, std::move(**lv)};
    **lv = std::move(g);
    (*lv)->invalidate_index();
    return Command{std::move(inv)};
  }
};

// Which top-level node an edit touched, and whether the graph's structure changed (which needs
// a full analysis) or only a node's attributes or body (which is incremental).
struct Touch {
  std::string top;
  bool structural = true;
};
Touch touch_of(const Command& c) {
  if (auto* s = std::get_if<SetAttr>(&c)) return {top_of(s->path), false};
  auto nested = [](const std::string& parent) { return Touch{top_of(parent), parent.empty()}; };
  if (auto* s = std::get_if<AddNode>(&c)) return nested(s->parent);
  if (auto* s = std::get_if<RemoveNode>(&c)) return nested(split_path(s->path).parent);
  if (auto* s = std::get_if<SetInputs>(&c)) return nested(split_path(s->path).parent);
  if (auto* s = std::get_if<SetOutputs>(&c)) return nested(s->parent);
  if (auto* s = std::get_if<RenameNode>(&c)) return nested(split_path(s->path).parent);
  if (auto* s = std::get_if<Group>(&c)) return nested(s->parent);
  if (auto* s = std::get_if<Ungroup>(&c)) return nested(split_path(s->path).parent);
  if (auto* s = std::get_if<ReplaceGraph>(&c)) return nested(s->parent);
  return {};
}

}  // namespace

std::string describe(const Command& c) {
  struct V {
    std::string operator()(const AddNode& x) const { return "Add " + x.node.name; }
    std::string operator()(const RemoveNode& x) const { return "Remove " + x.path; }
    std::string operator()(const SetInputs& x) const { return "Connect " + x.path; }
    std::string operator()(const SetAttr& x) const { return "Set " + x.path + "." + x.key; }
    std::string operator()(const SetOutputs& x) const { return "Set outputs"; }
    std::string operator()(const RenameNode& x) const { return "Rename " + x.path + " to " + x.new_name; }
    std::string operator()(const SetSymbol& x) const { return "Set symbol " + x.name; }
    std::string operator()(const Group& x) const { return "Group " + std::to_string(x.nodes.size()) + " nodes as " + x.block; }
    std::string operator()(const Ungroup& x) const { return "Ungroup " + x.path; }
    std::string operator()(const ReplaceGraph& x) const { return x.label.empty() ? "Replace graph" : x.label; }
  };
  return std::visit(V{}, c);
}

Document::Document(Circuit c) : c_(std::move(c)), b_(cost_bindings(c_)), a_(analyze(c_.graph, b_)) {}

Result<Command> Document::apply_raw(const Command& cmd) {
  auto inv = std::visit(Applier{c_, a_}, cmd);
  if (!inv) return inv;
  Touch t = touch_of(cmd);
  if (std::holds_alternative<SetSymbol>(cmd)) {
    b_ = cost_bindings(c_);
    a_ = analyze(c_.graph, b_);
  } else if (t.structural) {
    a_ = analyze(c_.graph, b_);
  } else {
    int i = c_.graph.find(t.top);
    if (i >= 0) reanalyze(a_, c_.graph, b_, {i});
  }
  return inv;
}

Status Document::apply(Command cmd) {
  auto inv = apply_raw(cmd);
  if (!inv) return Status(inv.error());
  if (clean_ > long(undo_.size())) clean_ = -1;  // the saved state was in the redo branch, now gone
  undo_.push_back({std::move(cmd), std::move(*inv)});
  redo_.clear();
  return {};
}

bool Document::undo() {
  if (undo_.empty()) return false;
  Entry e = std::move(undo_.back());
  undo_.pop_back();
  auto again = apply_raw(e.inverse);
  if (!again) return false;  // cannot happen for an inverse produced by apply; keep state as is
  redo_.push_back({std::move(e.done), std::move(*again)});
  return true;
}

bool Document::redo() {
  if (redo_.empty()) return false;
  Entry e = std::move(redo_.back());
  redo_.pop_back();
  auto inv = apply_raw(e.inverse);
  if (!inv) return false;
  undo_.push_back({std::move(e.done), std::move(*inv)});
  return true;
}

}  // namespace circuit
