#include "analysis.h"

#include <algorithm>
#include <queue>

namespace circuit {

Bindings cost_bindings(const Circuit& c) {
  Bindings b = c.symbols;
  b["batch"] = 1;
  return b;
}

static int64_t bytes_of(const TensorType& t, const Bindings& b) {
  return numel(t, b) * (t.dtype == DType::i64 ? 8 : 4);
}

static GraphAnalysis analyze_level(const Graph& g, const Bindings& b, int64_t moe_layers);

static std::string validate_attrs(const Node& n, const OpDef& def) {
  for (auto& [key, value] : n.attrs) {
    const AttrSpec* spec = def.find_attr(key);
    if (!spec) {
      std::string known;
      for (auto& s : def.attrs) known += (known.empty() ? "" : ", ") + s.name;
      return "unknown attribute `" + key + "` for op `" + def.name + "`" +
             (known.empty() ? " (it takes none)" : " (known: " + known + ")");
    }
    auto r = check_attr(*spec, value);
    if (!r) return r.error().message;
  }
  for (auto& s : def.attrs)
    if (!s.default_value && !n.attrs.count(s.name))
      return "missing required attribute `" + s.name + "` (" + attr_type_name(s.type) + ")";
  return {};
}

// Infers one node from its sources' results. Everything a user can get wrong ends up in
// info.error; nothing here throws.
static void infer_node(const Graph& g, GraphAnalysis& a, const Bindings& b, int i) {
  const Node& n = g.nodes[size_t(i)];
  NodeInfo& info = a.nodes[size_t(i)];
  info.outputs.clear();
  info.cost = {};
  info.error.clear();
  info.blocked = false;
  info.body.reset();

  const OpDef* def = find_op(n.op);
  if (!def) {
    info.error = "unknown op `" + n.op + "`";
    return;
  }
  int nin = int(n.inputs.size());
  if (nin < def->min_inputs || (def->max_inputs >= 0 && nin > def->max_inputs)) {
    std::string want = def->min_inputs == def->max_inputs ? std::to_string(def->min_inputs)
                       : def->max_inputs < 0 ? "at least " + std::to_string(def->min_inputs)
                                             : std::to_string(def->min_inputs) + " to " + std::to_string(def->max_inputs);
    info.error = "op `" + def->name + "` takes " + want + " input" + (want == "1" ? "" : "s") + ", got " + std::to_string(nin);
    return;
  }
  if (auto e = validate_attrs(n, *def); !e.empty()) {
    info.error = e;
    return;
  }

  Shapes in;
  in.reserve(size_t(nin));
  for (int p = 0; p < nin; ++p) {
    const PortRef& ref = n.inputs[size_t(p)];
    if (!ref.connected()) {
      info.error = "input " + std::to_string(p) + ": not connected";
      return;
    }
    auto [src, sport] = a.sources[size_t(i)][size_t(p)];
    if (src < 0) {
      info.error = "input " + std::to_string(p) + ": no node named `" + ref.node + "`";
      return;
    }
    const NodeInfo& s = a.nodes[size_t(src)];
    if (!s.ok()) {
      info.blocked = true;
      return;
    }
    if (sport >= int(s.outputs.size())) {
      info.error = "input " + std::to_string(p) + ": node `" + ref.node + "` has no output " + std::to_string(sport) +
                   " (it has " + std::to_string(s.outputs.size()) + ")";
      return;
    }
    const TensorType& t = s.outputs[size_t(sport)];
    if (def->float_inputs && t.dtype != DType::f32) {
      info.error = "input " + std::to_string(p) + ": expected a f32 tensor, got " + to_string(t);
      return;
    }
    in.push_back(t);
  }

  if (def->has_body != bool(n.body)) {
    info.error = def->has_body ? "op `" + def->name + "` needs a body (a sub-graph)" : "op `" + def->name + "` takes no body";
    return;
  }
  if (n.body) {
    info.body = std::make_unique<GraphAnalysis>(analyze_level(*n.body, b, a.moe_layers));
    if (!info.body->ok()) {
      info.blocked = true;  // the body's own diagnostics say what is wrong
      return;
    }
  }

  OpCall call{n, *def, in, b, info.body.get(), a.moe_layers};
  auto out = def->shape(call);
  if (!out) {
    info.error = out.error().message;
    return;
  }
  // Named axes are only useful if names are unique within a tensor; an op's out_axis-style
  // attribute is the usual way to break this, so say which name and which output.
  for (size_t k = 0; k < out->size(); ++k) {
    const auto& axes = (*out)[k].axes;
    for (size_t x = 0; x < axes.size(); ++x)
      for (size_t y = x + 1; y < axes.size(); ++y)
        if (axes[x].name == axes[y].name) {
          info.error = "output " + std::to_string(k) + " would have two axes named `" + axes[x].name + "` " + to_string((*out)[k]) +
                       "; give the new axis another name";
          return;
        }
  }
  info.outputs = std::move(*out);
  if (def->cost) info.cost = def->cost(call, info.outputs);
  if (!def->has_body)
    for (auto& t : info.outputs) info.cost.activation_bytes += bytes_of(t, b);
}

static int own_failures(const NodeInfo& n) { return n.error.empty() ? 0 : 1; }
static int nested_failures(const NodeInfo& n) { return n.body ? n.body->failed + n.body->nested_failed : 0; }

static void collect_outputs(const Graph& g, GraphAnalysis& a) {
  a.outputs.clear();
  a.error.clear();
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    const PortRef& r = g.outputs[k];
    int src = g.find(r.node);
    if (src < 0) {
      a.error = "output " + std::to_string(k) + ": no node named `" + r.node + "`";
      a.outputs.clear();
      return;
    }
    const NodeInfo& s = a.nodes[size_t(src)];
    if (!s.ok()) {
      a.outputs.clear();
      return;
    }
    if (r.port >= int(s.outputs.size())) {
      a.error = "output " + std::to_string(k) + ": node `" + r.node + "` has no output " + std::to_string(r.port);
      a.outputs.clear();
      return;
    }
    a.outputs.push_back(s.outputs[size_t(r.port)]);
  }
}

static int64_t count_moe(const Graph& g) {
  int64_t n = 0;
  for (auto& node : g.nodes) n += (node.op == "moe") + (node.body ? count_moe(*node.body) : 0);
  return n;
}

GraphAnalysis analyze(const Graph& g, const Bindings& b) { return analyze_level(g, b, count_moe(g)); }

GraphAnalysis wire_up(const Graph& g) {
  GraphAnalysis a;
  size_t n = g.nodes.size();
  a.nodes.resize(n);
  a.sources.resize(n);
  a.consumers.assign(n, {});
  a.inputs = g.input_nodes();

  std::vector<int> indegree(n, 0);
  for (size_t i = 0; i < n; ++i) {
    auto& srcs = a.sources[i];
    srcs.resize(g.nodes[i].inputs.size(), {-1, 0});
    for (size_t p = 0; p < g.nodes[i].inputs.size(); ++p) {
      const PortRef& r = g.nodes[i].inputs[p];
      int s = r.connected() ? g.find(r.node) : -1;
      srcs[p] = {s, r.port};
      if (s >= 0) {
        a.consumers[size_t(s)].push_back({int(i), int(p)});
        ++indegree[i];
      }
    }
  }
  // Kahn's algorithm, seeded in node order so the order is stable for a given file.
  a.order.reserve(n);
  for (size_t i = 0; i < n; ++i)
    if (indegree[i] == 0) a.order.push_back(int(i));
  for (size_t head = 0; head < a.order.size(); ++head)
    for (auto [c, p] : a.consumers[size_t(a.order[head])])
      if (--indegree[size_t(c)] == 0) a.order.push_back(c);
  a.position.assign(n, -1);
  for (size_t k = 0; k < a.order.size(); ++k) a.position[size_t(a.order[k])] = int(k);
  return a;
}

static GraphAnalysis analyze_level(const Graph& g, const Bindings& b, int64_t moe_layers) {
  GraphAnalysis a = wire_up(g);
  a.moe_layers = moe_layers;
  size_t n = g.nodes.size();

  for (int i : a.order) {
    infer_node(g, a, b, i);
    const NodeInfo& info = a.nodes[size_t(i)];
    a.total += info.cost;
    a.failed += own_failures(info);
    a.nested_failed += nested_failures(info);
  }
  for (size_t i = 0; i < n; ++i)
    if (a.position[i] < 0) {
      a.nodes[i].error = "is part of a cycle: its inputs depend on its own output";
      ++a.failed;
    }
  collect_outputs(g, a);
  return a;
}

GraphAnalysis analyze(const Circuit& c) { return analyze(c.graph, cost_bindings(c)); }

int64_t inference_context(const Circuit& c) {
  for (const char* s : {"context", "seq"})
    if (auto it = c.symbols.find(s); it != c.symbols.end()) return it->second;
  return 4096;
}

int64_t kv_bytes(const Circuit& c, const Cost& total) { return total.inference.at(inference_context(c)) * 2; }

void reanalyze(GraphAnalysis& a, const Graph& g, const Bindings& b, const std::vector<int>& dirty) {
  // Min-heap on topological position: a node is recomputed only after every changed upstream node.
  std::priority_queue<int, std::vector<int>, std::greater<int>> todo;
  std::vector<char> queued(a.nodes.size(), 0);
  auto push = [&](int node) {
    int pos = a.position[size_t(node)];
    if (pos < 0 || queued[size_t(node)]) return;
    queued[size_t(node)] = 1;
    todo.push(pos);
  };
  for (int d : dirty) push(d);
  while (!todo.empty()) {
    int i = a.order[size_t(todo.top())];
    todo.pop();
    NodeInfo& info = a.nodes[size_t(i)];
    Shapes old_out = std::move(info.outputs);
    bool old_ok = info.ok();
    a.total -= info.cost;
    a.failed -= own_failures(info);
    a.nested_failed -= nested_failures(info);
    infer_node(g, a, b, i);
    a.total += info.cost;
    a.failed += own_failures(info);
    a.nested_failed += nested_failures(info);
    if (info.ok() != old_ok || info.outputs != old_out)
      for (auto [c, p] : a.consumers[size_t(i)]) push(c);
  }
  collect_outputs(g, a);
}

std::vector<Diagnostic> GraphAnalysis::diagnostics(const Graph& g, const std::string& prefix) const {
  std::vector<Diagnostic> out;
  auto visit = [&](int i) {
    const NodeInfo& info = nodes[size_t(i)];
    std::string path = prefix + g.nodes[size_t(i)].name;
    if (!info.error.empty()) {
      bool about_port = info.error.rfind("input ", 0) == 0;
      out.push_back({path, "node `" + path + "`" + (about_port ? " " : ": ") + info.error});
    }
    if (info.body) {
      auto inner = info.body->diagnostics(*g.nodes[size_t(i)].body, path + "/");
      out.insert(out.end(), inner.begin(), inner.end());
    }
  };
  for (int i : order) visit(i);
  for (size_t i = 0; i < nodes.size(); ++i)
    if (position[i] < 0) visit(int(i));
  if (!error.empty()) out.push_back({prefix, (prefix.empty() ? "graph" : "block `" + prefix.substr(0, prefix.size() - 1) + "`") + std::string(" ") + error});
  return out;
}

}  // namespace circuit
