#include "circuit_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "base/file.h"
#include "op.h"

namespace circuit {

namespace {

size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diag = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t up = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diag = up;
    }
  }
  return row[b.size()];
}

std::string suggestion(std::string_view word, const std::vector<std::string>& known) {
  std::string best;
  size_t bd = 3;  // only suggest close matches
  for (auto& k : known)
    if (size_t d = edit_distance(word, k); d < bd) bd = d, best = k;
  return best.empty() ? "" : " (did you mean `" + best + "`?)";
}

class Reader {
 public:
  explicit Reader(std::string source) : src_(std::move(source)) {}

  Error at(const Json& j, const std::string& what) const {
    return Error{src_ + ":" + std::to_string(j.line) + ":" + std::to_string(j.col) + ": " + what};
  }

  Status keys(const Json& obj, const std::string& what, std::initializer_list<const char*> allowed) const {
    for (auto& [k, v] : obj.members) {
      bool ok = false;
      std::vector<std::string> names;
      for (auto* a : allowed) ok |= k == a, names.emplace_back(a);
      if (!ok) {
        std::string list;
        for (auto& n : names) list += (list.empty() ? "" : ", ") + n;
        return at(v, "unknown key \"" + k + "\" in " + what + suggestion(k, names) + " (expected: " + list + ")");
      }
    }
    return {};
  }

  Result<std::string> string(const Json& obj, const char* key, const std::string& what, bool required) const {
    const Json* v = obj.get(key);
    if (!v) {
      if (required) return at(obj, what + " needs a \"" + key + "\" string");
      return std::string();
    }
    if (v->kind != Json::Kind::String) return at(*v, "\"" + std::string(key) + "\" must be a string, got " + v->kind_name());
    return v->s;
  }

  Result<PortRef> port(const Json& j) const {
    if (j.kind != Json::Kind::String) return at(j, std::string("a port reference must be a string like \"fc1\" or \"split:1\", got ") + j.kind_name());
    if (j.s.empty()) return PortRef{};  // an unconnected port: half-built circuits save too
    auto p = parse_port(j.s);
    if (!p) return at(j, p.error().message);
    return *p;
  }

  Result<AttrValue> attr_value(const Json& v, const AttrSpec& spec, const std::string& node) const {
    AttrValue raw;
    switch (v.kind) {
      case Json::Kind::Int: raw = v.i; break;
      case Json::Kind::Float: raw = v.f; break;
      case Json::Kind::Bool: raw = v.b; break;
      case Json::Kind::String: raw = v.s; break;
      case Json::Kind::Array: {
        if (v.items.empty()) {
          raw = std::vector<std::string>{};
          break;
        }
        if (v.items[0].kind == Json::Kind::Int) {
          std::vector<int64_t> l;
          for (auto& x : v.items) {
            if (x.kind != Json::Kind::Int) return at(x, "node `" + node + "`: attribute `" + spec.name + "`: every element must be an integer");
            l.push_back(x.i);
          }
          raw = std::move(l);
        } else if (v.items[0].kind == Json::Kind::String) {
          std::vector<std::string> l;
          for (auto& x : v.items) {
            if (x.kind != Json::Kind::String) return at(x, "node `" + node + "`: attribute `" + spec.name + "`: every element must be a string");
            l.push_back(x.s);
          }
          raw = std::move(l);
        } else {
          return at(v.items[0], "node `" + node + "`: attribute `" + spec.name + "`: lists hold integers or strings");
        }
        break;
      }
      default:
        return at(v, "node `" + node + "`: attribute `" + spec.name + "` expects " + attr_type_phrase(spec.type) + ", got " + v.kind_name());
    }
    auto checked = check_attr(spec, raw);
    if (!checked) return at(v, "node `" + node + "`: " + checked.error().message);
    if (spec.type == AttrType::Axes)
      for (auto& s : std::get<std::vector<std::string>>(*checked)) {
        std::string spec_text = s;
        if (spec_text.size() > 2 && spec_text.compare(spec_text.size() - 2, 2, ":?") == 0) spec_text.back() = '1';
        if (auto a = parse_axis(spec_text); !a) return at(v, "node `" + node + "`: attribute `" + spec.name + "`: " + a.error().message);
      }
    return *checked;
  }

  Result<Node> node(const Json& j, const std::set<std::string>& names) const {
    if (j.kind != Json::Kind::Object) return at(j, std::string("a node must be an object, got ") + j.kind_name());
    if (auto s = keys(j, "a node", {"name", "op", "inputs", "attrs", "body"}); !s) return Error{s.error};
    Node n;
    auto name = string(j, "name", "a node", true);
    if (!name) return name.error();
    n.name = *name;
    if (n.name.empty() || n.name.find_first_of("/: ") != std::string::npos)
      return at(*j.get("name"), "node name \"" + n.name + "\" must be non-empty without `/`, `:` or spaces");
    auto op = string(j, "op", "node `" + n.name + "`", true);
    if (!op) return op.error();
    n.op = *op;
    const OpDef* def = find_op(n.op);
    if (!def) {
      std::vector<std::string> known;
      for (auto* d : all_ops()) known.push_back(d->name);
      return at(*j.get("op"), "node `" + n.name + "`: unknown op `" + n.op + "`" + suggestion(n.op, known));
    }
    if (const Json* in = j.get("inputs")) {
      if (in->kind != Json::Kind::Array) return at(*in, "node `" + n.name + "`: \"inputs\" must be an array of port references");
      for (auto& x : in->items) {
        auto p = port(x);
        if (!p) return p.error();
        if (p->connected() && !names.count(p->node)) return at(x, "node `" + n.name + "`: input refers to `" + p->node + "`, which is not a node of this graph");
        n.inputs.push_back(*p);
      }
    }
    if (const Json* attrs = j.get("attrs")) {
      if (attrs->kind != Json::Kind::Object) return at(*attrs, "node `" + n.name + "`: \"attrs\" must be an object");
      for (auto& [key, v] : attrs->members) {
        const AttrSpec* spec = def->find_attr(key);
        if (!spec) {
          std::vector<std::string> known;
          for (auto& a : def->attrs) known.push_back(a.name);
          return at(v, "node `" + n.name + "`: op `" + n.op + "` has no attribute `" + key + "`" + suggestion(key, known));
        }
        auto val = attr_value(v, *spec, n.name);
        if (!val) return val.error();
        n.attrs[key] = *val;
      }
    }
    for (auto& spec : def->attrs)
      if (!spec.default_value && !n.attrs.count(spec.name))
        return at(j, "node `" + n.name + "`: op `" + n.op + "` needs attribute `" + spec.name + "` (" + attr_type_name(spec.type) + ")");
    if (const Json* body = j.get("body")) {
      if (!def->has_body) return at(*body, "node `" + n.name + "`: op `" + n.op + "` takes no body");
      auto g = graph(*body, "the body of `" + n.name + "`");
      if (!g) return g.error();
      n.body = Box<Graph>(std::move(*g));
    } else if (def->has_body) {
      return at(j, "node `" + n.name + "`: op `" + n.op + "` needs a \"body\" (a graph with nodes and outputs)");
    }
    return n;
  }

  Result<Graph> graph(const Json& j, const std::string& what) const {
    if (j.kind != Json::Kind::Object) return at(j, what + " must be an object with \"nodes\" and \"outputs\"");
    if (auto s = keys(j, what, {"nodes", "outputs"}); !s) return Error{s.error};
    const Json* nodes = j.get("nodes");
    if (!nodes || nodes->kind != Json::Kind::Array) return at(nodes ? *nodes : j, what + " needs a \"nodes\" array");
    // Names first, so inputs may refer to nodes listed later (files need not be in topological order).
    std::set<std::string> names;
    for (auto& nj : nodes->items) {
      if (nj.kind != Json::Kind::Object) continue;
      const Json* nm = nj.get("name");
      if (nm && nm->kind == Json::Kind::String && !names.insert(nm->s).second)
        return at(*nm, "duplicate node name `" + nm->s + "` in " + what);
    }
    Graph g;
    for (auto& nj : nodes->items) {
      auto n = node(nj, names);
      if (!n) return n.error();
      g.nodes.push_back(std::move(*n));
    }
    const Json* outs = j.get("outputs");
    if (!outs || outs->kind != Json::Kind::Array) return at(outs ? *outs : j, what + " needs an \"outputs\" array of port references");
    for (auto& o : outs->items) {
      auto p = port(o);
      if (!p) return p.error();
      if (!names.count(p->node)) return at(o, "output refers to `" + p->node + "`, which is not a node of " + what);
      g.outputs.push_back(*p);
    }
    return g;
  }

  Result<Circuit> circuit(const Json& j) const {
    if (j.kind != Json::Kind::Object) return at(j, std::string("a circuit file holds a JSON object, got ") + j.kind_name());
    const Json* fmt = j.get("format");
    if (!fmt || fmt->kind != Json::Kind::String || fmt->s != "circuit")
      return at(fmt ? *fmt : j, "not a circuit file: expected \"format\": \"circuit\"");
    const Json* ver = j.get("version");
    if (!ver) return at(j, "missing \"version\" (this build writes version " + std::to_string(kFormatVersion) + ")");
    if (ver->kind != Json::Kind::Int || ver->i < 1) return at(*ver, "\"version\" must be a positive integer");
    if (ver->i > kFormatVersion)
      return at(*ver, "format version " + std::to_string(ver->i) + " is newer than this build reads (up to " +
                          std::to_string(kFormatVersion) + "); open it with a newer Circuit Studio");
    if (auto s = keys(j, "a circuit", {"format", "version", "name", "doc", "symbols", "graph"}); !s) return Error{s.error};
    Circuit c;
    auto name = string(j, "name", "a circuit", false);
    if (!name) return name.error();
    c.name = *name;
    auto doc = string(j, "doc", "a circuit", false);
    if (!doc) return doc.error();
    c.doc = *doc;
    if (const Json* sy = j.get("symbols")) {
      if (sy->kind != Json::Kind::Object) return at(*sy, "\"symbols\" must be an object of name: positive integer");
      for (auto& [k, v] : sy->members) {
        if (v.kind != Json::Kind::Int || v.i < 1) return at(v, "symbol `" + k + "` must be a positive integer, got " + (v.kind == Json::Kind::Int ? std::to_string(v.i) : v.kind_name()));
        if (k == "batch") return at(v, "symbol `batch` is always 1 for per-example costs; do not set it");
        c.symbols[k] = v.i;
      }
    }
    const Json* g = j.get("graph");
    if (!g) return at(j, "missing \"graph\"");
    auto graph_r = graph(*g, "the graph");
    if (!graph_r) return graph_r.error();
    c.graph = std::move(*graph_r);
    return c;
  }

 private:
  std::string src_;
};

Json attr_json(const AttrValue& v) {
  struct V {
    Json operator()(int64_t i) const { return Json::integer(i); }
    Json operator()(double d) const { return Json::number(d); }
    Json operator()(bool b) const { return Json::boolean(b); }
    Json operator()(const std::string& s) const { return Json::string(s); }
    Json operator()(const std::vector<int64_t>& l) const {
      Json a = Json::array();
      for (auto x : l) a.push(Json::integer(x));
      return a;
    }
    Json operator()(const std::vector<std::string>& l) const {
      Json a = Json::array();
      for (auto& x : l) a.push(Json::string(x));
      return a;
    }
  };
  return std::visit(V{}, v);
}

Json graph_json(const Graph& g) {
  Json out = Json::object();
  Json nodes = Json::array();
  for (auto& n : g.nodes) {
    Json j = Json::object();
    j.set("name", Json::string(n.name));
    j.set("op", Json::string(n.op));
    if (!n.inputs.empty()) {
      Json in = Json::array();
      for (auto& p : n.inputs) in.push(Json::string(to_string(p)));
      j.set("inputs", std::move(in));
    }
    if (!n.attrs.empty()) {
      Json a = Json::object();
      for (auto& [k, v] : n.attrs) a.set(k, attr_json(v));
      j.set("attrs", std::move(a));
    }
    if (n.body) j.set("body", graph_json(*n.body));
    nodes.push(std::move(j));
  }
  out.set("nodes", std::move(nodes));
  Json outs = Json::array();
  for (auto& p : g.outputs) outs.push(Json::string(to_string(p)));
  out.set("outputs", std::move(outs));
  return out;
}

}  // namespace

Result<Circuit> parse_circuit(std::string_view text, const std::string& source) {
  auto j = base::parse_json(text);
  if (!j) {
    // "line L, column C: what" -> "source:L:C: what", the form editors jump to.
    const std::string& m = j.error().message;
    int line = 0, col = 0;
    if (std::sscanf(m.c_str(), "line %d, column %d:", &line, &col) == 2) {
      auto colon = m.find(':');
      return Error{source + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON:" + m.substr(colon + 1)};
    }
    return Error{source + ": invalid JSON: " + m};
  }
  return Reader(source).circuit(*j);
}

Result<Circuit> load_circuit(const std::string& path) {
  auto text = base::read_file(path);
  if (!text) return text.error();
  return parse_circuit(*text, path);
}

Json circuit_to_json(const Circuit& c) {
  Json j = Json::object();
  j.set("format", Json::string("circuit"));
  j.set("version", Json::integer(kFormatVersion));
  if (!c.name.empty()) j.set("name", Json::string(c.name));
  if (!c.doc.empty()) j.set("doc", Json::string(c.doc));
  if (!c.symbols.empty()) {
    std::vector<std::pair<std::string, int64_t>> sorted(c.symbols.begin(), c.symbols.end());
    std::sort(sorted.begin(), sorted.end());
    Json s = Json::object();
    for (auto& [k, v] : sorted) s.set(k, Json::integer(v));
    j.set("symbols", std::move(s));
  }
  j.set("graph", graph_json(c.graph));
  return j;
}

std::string circuit_to_text(const Circuit& c) { return write_json(circuit_to_json(c)); }


Status save_circuit(const Circuit& c, const std::string& path) { return base::write_file_atomic(path, circuit_to_text(c)); }

}  // namespace circuit
