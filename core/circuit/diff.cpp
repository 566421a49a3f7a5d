#include "diff.h"

#include <algorithm>
#include <map>
#include <set>

#include "analysis.h"
#include "attr.h"
#include "base/units.h"

namespace circuit {

const char* to_string(NodeDelta::Kind k) {
  switch (k) {
    case NodeDelta::Kind::added: return "added";
    case NodeDelta::Kind::removed: return "removed";
    case NodeDelta::Kind::changed: return "changed";
    case NodeDelta::Kind::renamed: return "renamed";
  }
  return "?";
}

int CircuitDiff::count(NodeDelta::Kind k) const {
  return int(std::count_if(nodes.begin(), nodes.end(), [&](const NodeDelta& d) { return d.kind == k; }));
}

namespace {

std::vector<std::string> ports(const std::vector<PortRef>& refs) {
  std::vector<std::string> out;
  for (const PortRef& p : refs) out.push_back(to_string(p));
  return out;
}

std::string types_text(const NodeInfo* info) {
  if (!info || !info->ok()) return "";
  std::string s;
  for (const TensorType& t : info->outputs) s += (s.empty() ? "" : ", ") + to_string(t);
  return s;
}

// The value a node has for `name`: what it sets, else its op's default; "" where the op has no
// such attribute (or no default).
std::string effective(const Node& n, const std::string& name) {
  if (auto it = n.attrs.find(name); it != n.attrs.end()) return to_string(it->second);
  if (const OpDef* op = find_op(n.op))
    for (const AttrSpec& s : op->attrs)
      if (s.name == name && s.default_value) return to_string(*s.default_value);
  return "";
}

std::vector<AttrDelta> attr_deltas(const Node& a, const Node& b) {
  std::vector<std::string> names;
  for (const Node* n : {&a, &b}) {
    for (auto& [k, v] : n->attrs) names.push_back(k);
    if (const OpDef* op = find_op(n->op))
      for (const AttrSpec& s : op->attrs) names.push_back(s.name);
  }
  std::sort(names.begin(), names.end());
  names.erase(std::unique(names.begin(), names.end()), names.end());
  std::vector<AttrDelta> out;
  for (const std::string& k : names)
    if (std::string x = effective(a, k), y = effective(b, k); x != y) out.push_back({k, x, y});
  return out;
}

NodeDelta one_sided(NodeDelta::Kind kind, const std::string& path, const Node& n, const NodeInfo* info) {
  NodeDelta d;
  d.kind = kind, d.path = path;
  bool before = kind == NodeDelta::Kind::removed;
  (before ? d.op_before : d.op_after) = n.op;
  (before ? d.inputs_before : d.inputs_after) = ports(n.inputs);
  (before ? d.type_before : d.type_after) = types_text(info);
  if (info) (before ? d.cost_before : d.cost_after) = info->cost;
  return d;
}

using Renames = std::map<std::string, std::string>;  // A's name -> B's name, one graph level

std::vector<PortRef> through(std::vector<PortRef> ports, const Renames& renamed) {
  for (PortRef& p : ports)
    if (auto it = renamed.find(p.node); it != renamed.end()) p.node = it->second;
  return ports;
}

// Pairs the nodes only A has with the nodes only B has that are the same node under another
// name: same op, attributes and wires (through the renames found so far, so a renamed chain is
// found link by link).
Renames find_renames(const Graph& ga, const Graph& gb) {
  Renames renamed;
  std::set<std::string> taken;
  for (bool found = true; found;) {
    found = false;
    for (const Node& na : ga.nodes) {
      if (gb.find(na.name) >= 0 || renamed.count(na.name)) continue;
      for (const Node& nb : gb.nodes) {
        if (ga.find(nb.name) >= 0 || taken.count(nb.name) || na.op != nb.op || bool(na.body) != bool(nb.body)) continue;
        if (!attr_deltas(na, nb).empty() || through(na.inputs, renamed) != nb.inputs) continue;
        renamed[na.name] = nb.name, taken.insert(nb.name), found = true;
        break;
      }
    }
  }
  return renamed;
}

Renames compare(const Graph& ga, const GraphAnalysis* aa, const Graph& gb, const GraphAnalysis* ab, const std::string& prefix,
                std::vector<NodeDelta>& out) {
  auto info = [](const GraphAnalysis* a, size_t i) -> const NodeInfo* { return a && i < a->nodes.size() ? &a->nodes[i] : nullptr; };
  const Renames renamed = find_renames(ga, gb);
  std::map<std::string, std::string> renamed_from;  // B's name -> A's
  for (auto& [a, b] : renamed) renamed_from[b] = a;
  // Removed nodes go after the nearest earlier node of A that B still has (or first).
  std::map<std::string, std::vector<size_t>> removed_after;
  std::string last_common;
  for (size_t i = 0; i < ga.nodes.size(); ++i) {
    const Node& n = ga.nodes[i];
    if (auto r = renamed.find(n.name); r != renamed.end()) last_common = r->second;
    else if (gb.find(n.name) < 0) removed_after[last_common].push_back(i);
    else last_common = n.name;
  }
  auto flush_removed = [&](const std::string& after) {
    auto it = removed_after.find(after);
    if (it == removed_after.end()) return;
    for (size_t i : it->second) out.push_back(one_sided(NodeDelta::Kind::removed, prefix + ga.nodes[i].name, ga.nodes[i], info(aa, i)));
  };
  flush_removed("");
  for (size_t j = 0; j < gb.nodes.size(); ++j) {
    const Node& nb = gb.nodes[j];
    std::string path = prefix + nb.name;
    auto from = renamed_from.find(nb.name);
    int i = ga.find(from == renamed_from.end() ? nb.name : from->second);
    if (i < 0) {
      out.push_back(one_sided(NodeDelta::Kind::added, path, nb, info(ab, j)));
      flush_removed(nb.name);
      continue;
    }
    const Node& na = ga.nodes[size_t(i)];
    const NodeInfo *ia = info(aa, size_t(i)), *ib = info(ab, j);
    NodeDelta d;
    d.path = path;
    if (from != renamed_from.end()) d.kind = NodeDelta::Kind::renamed, d.path_before = prefix + na.name;
    if (na.op != nb.op) d.op_before = na.op, d.op_after = nb.op;
    d.attrs = attr_deltas(na, nb);
    if (through(na.inputs, renamed) != nb.inputs) d.inputs_before = ports(na.inputs), d.inputs_after = ports(nb.inputs);
    if (std::string x = types_text(ia), y = types_text(ib); x != y) d.type_before = x, d.type_after = y;
    if (d.kind == NodeDelta::Kind::renamed || !d.op_before.empty() || !d.attrs.empty() || !d.inputs_before.empty() || !d.inputs_after.empty() ||
        d.type_before != d.type_after) {
      if (d.op_after.empty()) d.op_before = d.op_after = nb.op;
      if (ia) d.cost_before = ia->cost;
      if (ib) d.cost_after = ib->cost;
      out.push_back(std::move(d));
    }
    if (na.body && nb.body)
      compare(*na.body, ia ? ia->body.get() : nullptr, *nb.body, ib ? ib->body.get() : nullptr, path + "/", out);
    flush_removed(nb.name);
  }
  return renamed;
}

std::string join(const std::vector<std::string>& v) {
  std::string s;
  for (const std::string& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

std::string number(int64_t v) {
  std::string s = base::count_text(double(v), "");
  return s.substr(0, s.size() - 1);
}

// "params 1.05M → 2.1M (+1.05M)", or one figure when both are equal.
std::string change(int64_t before, int64_t after, const char* what) {
  if (before == after) return std::string(what) + " " + number(after);
  return std::string(what) + " " + number(before) + " → " + number(after) + " (" + (after > before ? "+" : "") + number(after - before) + ")";
}

}  // namespace

CircuitDiff diff(const Circuit& a, const Circuit& b) {
  GraphAnalysis aa = analyze(a), ab = analyze(b);
  CircuitDiff d;
  Renames top = compare(a.graph, &aa, b.graph, &ab, "", d.nodes);
  if (through(a.graph.outputs, top) != b.graph.outputs) d.outputs_before = ports(a.graph.outputs), d.outputs_after = ports(b.graph.outputs);
  d.total_before = aa.total, d.total_after = ab.total;
  return d;
}

namespace {

base::Json strings(const std::vector<std::string>& v) {
  base::Json a = base::Json::array();
  for (const std::string& s : v) a.push(base::Json::string(s));
  return a;
}

}  // namespace

base::Json diff_json(const CircuitDiff& d) {
  using base::Json;
  Json j = Json::object();
  j.set("same", Json::boolean(d.same()));
  for (auto k : {NodeDelta::Kind::added, NodeDelta::Kind::removed, NodeDelta::Kind::changed, NodeDelta::Kind::renamed})
    j.set(to_string(k), Json::integer(d.count(k)));
  Json nodes = Json::array();
  for (const NodeDelta& n : d.nodes) {
    Json x = Json::object();
    x.set("kind", Json::string(to_string(n.kind)));
    x.set("path", Json::string(n.path));
    if (n.kind == NodeDelta::Kind::renamed) x.set("path_before", Json::string(n.path_before));
    x.set("op", Json::string(n.kind == NodeDelta::Kind::removed ? n.op_before : n.op_after));
    if (n.op_before != n.op_after && n.kind != NodeDelta::Kind::added && n.kind != NodeDelta::Kind::removed) x.set("op_before", Json::string(n.op_before));
    Json attrs = Json::array();
    for (const AttrDelta& a : n.attrs) {
      Json y = Json::object();
      y.set("name", Json::string(a.name));
      y.set("before", Json::string(a.before));
      y.set("after", Json::string(a.after));
      attrs.push(std::move(y));
    }
    x.set("attrs", std::move(attrs));
    if (!n.inputs_before.empty() || n.kind == NodeDelta::Kind::removed) x.set("inputs_before", strings(n.inputs_before));
    if (!n.inputs_after.empty() || n.kind == NodeDelta::Kind::added) x.set("inputs_after", strings(n.inputs_after));
    if (!n.type_before.empty()) x.set("type_before", Json::string(n.type_before));
    if (!n.type_after.empty()) x.set("type_after", Json::string(n.type_after));
    x.set("params_before", Json::integer(n.cost_before.params));
    x.set("params_after", Json::integer(n.cost_after.params));
    x.set("flops_before", Json::integer(n.cost_before.flops));
    x.set("flops_after", Json::integer(n.cost_after.flops));
    nodes.push(std::move(x));
  }
  j.set("nodes", std::move(nodes));
  if (d.outputs_before != d.outputs_after) {
    j.set("outputs_before", strings(d.outputs_before));
    j.set("outputs_after", strings(d.outputs_after));
  }
  Json t = Json::object();
  t.set("params_before", Json::integer(d.total_before.params));
  t.set("params_after", Json::integer(d.total_after.params));
  t.set("active_params_before", Json::integer(d.total_before.active_params));
  t.set("active_params_after", Json::integer(d.total_after.active_params));
  t.set("flops_before", Json::integer(d.total_before.flops));
  t.set("flops_after", Json::integer(d.total_after.flops));
  j.set("total", std::move(t));
  return j;
}

Circuit diff_union(const Circuit& a, const Circuit& b, const CircuitDiff& d) {
  Circuit u = b;
  Renames renamed;  // by A's path: a removed node's wire to a renamed node goes to its new name
  for (const NodeDelta& n : d.nodes)
    if (n.kind == NodeDelta::Kind::renamed) renamed[n.path_before] = split_path(n.path).name;
  for (const NodeDelta& n : d.nodes) {
    if (n.kind != NodeDelta::Kind::removed) continue;
    PathParts at = split_path(n.path);
    const Node* old = node_at(a.graph, n.path);
    const Graph* from = graph_at(a.graph, at.parent);
    Graph* into = graph_at(u.graph, at.parent);
    if (!old || !from || !into) continue;  // inside a node B does not have: drawn with that node
    // After the nearest earlier sibling in A that the union has.
    size_t pos = 0;
    for (int i = from->find(at.name) - 1; i >= 0; --i)
      if (int j = into->find(from->nodes[size_t(i)].name); j >= 0) {
        pos = size_t(j) + 1;
        break;
      }
    Node back = *old;
    for (PortRef& p : back.inputs)
      if (auto it = renamed.find(join_path(at.parent, p.node)); it != renamed.end()) p.node = it->second;
    into->nodes.insert(into->nodes.begin() + std::ptrdiff_t(pos), std::move(back));
    into->invalidate_index();
  }
  return u;
}

std::string diff_text(const CircuitDiff& d, const std::string& a_name, const std::string& b_name) {
  std::string s = "--- " + a_name + "\n+++ " + b_name + "\n";
  size_t width = 4;
  for (const NodeDelta& n : d.nodes) width = std::max(width, n.path.size());
  for (const NodeDelta& n : d.nodes) {
    const char mark = n.kind == NodeDelta::Kind::added ? '+' : n.kind == NodeDelta::Kind::removed ? '-' : n.kind == NodeDelta::Kind::renamed ? 'r' : '~';
    std::string line = std::string(1, mark) + " " + n.path + std::string(width - n.path.size() + 2, ' ');
    std::vector<std::string> parts;
    if (n.kind == NodeDelta::Kind::changed || n.kind == NodeDelta::Kind::renamed) {
      if (n.kind == NodeDelta::Kind::renamed) parts.push_back("renamed from " + n.path_before);
      parts.push_back(n.op_before == n.op_after ? n.op_after : "op " + n.op_before + " → " + n.op_after);
      for (const AttrDelta& x : n.attrs)
        parts.push_back(x.name + " " + (x.before.empty() ? "(none)" : x.before) + " → " + (x.after.empty() ? "(none)" : x.after));
      if (!n.inputs_before.empty() || !n.inputs_after.empty()) parts.push_back("inputs " + join(n.inputs_before) + " → " + join(n.inputs_after));
      if (n.type_before != n.type_after)
        parts.push_back("output " + (n.type_before.empty() ? "(unknown)" : n.type_before) + " → " + (n.type_after.empty() ? "(unknown)" : n.type_after));
      if (n.cost_before.params != n.cost_after.params) parts.push_back(change(n.cost_before.params, n.cost_after.params, "params"));
      if (n.cost_before.flops != n.cost_after.flops) parts.push_back(change(n.cost_before.flops, n.cost_after.flops, "FLOPs"));
    } else {
      bool added = n.kind == NodeDelta::Kind::added;
      parts.push_back(added ? n.op_after : n.op_before);
      const std::vector<std::string>& in = added ? n.inputs_after : n.inputs_before;
      if (!in.empty()) parts.push_back("from " + join(in));
      if (const std::string& t = added ? n.type_after : n.type_before; !t.empty()) parts.push_back(t);
      const Cost& c = added ? n.cost_after : n.cost_before;
      if (c.params) parts.push_back(std::string("params ") + (added ? "+" : "-") + number(c.params));
    }
    for (size_t i = 0; i < parts.size(); ++i) line += (i ? "; " : "") + parts[i];
    s += line + "\n";
  }
  if (d.outputs_before != d.outputs_after) s += "outputs " + join(d.outputs_before) + " → " + join(d.outputs_after) + "\n";
  if (d.same()) s += "no differences\n";
  const Cost &x = d.total_before, &y = d.total_after;
  s += std::to_string(d.count(NodeDelta::Kind::added)) + " added, " + std::to_string(d.count(NodeDelta::Kind::removed)) + " removed, " +
       std::to_string(d.count(NodeDelta::Kind::changed)) + " changed";
  if (int r = d.count(NodeDelta::Kind::renamed)) s += ", " + std::to_string(r) + " renamed";
  s += "\n";
  s += change(x.params, y.params, "params") + "\n";
  if (x.active_params != x.params || y.active_params != y.params) s += change(x.active_params, y.active_params, "active params") + "\n";
  s += change(x.flops, y.flops, "FLOPs per example") + "\n";
  return s;
}

}  // namespace circuit
