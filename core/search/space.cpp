#include "space.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>

#include "base/file.h"
#include "circuit/circuit_file.h"
#include "base/json.h"
#include "circuit/op.h"

namespace search {

using base::Error;
using base::Json;
using base::Result;

int Dimension::size() const {
  return std::visit([](auto& k) -> int {
    using K = std::decay_t<decltype(k)>;
    if constexpr (std::is_same_v<K, AttrChoice>) return int(k.values.size());
    else if constexpr (std::is_same_v<K, OpChoice>) return int(k.alternatives.size());
    else return int(k.counts.size());
  }, kind);
}

std::string Dimension::label(int i) const {
  if (auto* a = std::get_if<AttrChoice>(&kind)) {
    if (auto* s = std::get_if<std::string>(&a->values[size_t(i)])) return *s;  // unquoted: labels are for people
    return circuit::to_string(a->values[size_t(i)]);
  }
  if (auto* o = std::get_if<OpChoice>(&kind)) return o->labels[size_t(i)];
  return "x" + std::to_string(std::get<RepeatChoice>(kind).counts[size_t(i)]);
}

double Constraint::violation(double v) const {
  if (std::isnan(v)) return 1.0;
  if (max && v > *max) return (v - *max) / std::max(1.0, std::abs(*max));
  if (min && v < *min) return (*min - v) / std::max(1.0, std::abs(*min));
  return 0;
}

bool is_static_metric(std::string_view m) {
  for (auto* s : kStaticMetrics)
    if (m == s) return true;
  return false;
}

std::vector<int> Space::cardinalities() const {
  std::vector<int> c;
  for (auto& d : dims) c.push_back(d.size());
  return c;
}

int64_t Space::count() const {
  int64_t n = 1;
  for (auto& d : dims) {
    if (d.size() > 0 && n > std::numeric_limits<int64_t>::max() / d.size()) return std::numeric_limits<int64_t>::max();
    n *= d.size();
  }
  return n;
}

namespace {

class Reader {
 public:
  Reader(std::string source, std::string base_dir) : src_(std::move(source)), dir_(std::move(base_dir)) {}

  Error at(const Json& j, const std::string& what) const {
    return Error{src_ + ":" + std::to_string(j.line) + ":" + std::to_string(j.col) + ": " + what};
  }

  base::Status keys(const Json& obj, const std::string& what, std::initializer_list<const char*> allowed) const {
    for (auto& [k, v] : obj.members) {
      bool ok = false;
      std::string list;
      for (auto* a : allowed) ok |= k == a, list += (list.empty() ? "" : ", ") + std::string(a);
      if (!ok) return at(v, "unknown key \"" + k + "\" in " + what + " (expected: " + list + ")");
    }
    return {};
  }

  // Messages from the circuit loader start with their own "source:line:col: "; inside a search
  // file those positions mean nothing, so keep only the message and locate it here.
  static std::string strip_location(const std::string& m, const std::string& source) {
    if (m.rfind(source + ":", 0) != 0) return m;
    size_t p = source.size() + 1;
    for (int colons = 0; p < m.size() && colons < 2; ++p)
      if (m[p] == ':') ++colons;
    while (p < m.size() && m[p] == ' ') ++p;
    return m.substr(p);
  }

  Result<circuit::AttrValue> value(const Json& v, const std::string& what) const {
    switch (v.kind) {
      case Json::Kind::Int: return circuit::AttrValue(v.i);
      case Json::Kind::Float: return circuit::AttrValue(v.f);
      case Json::Kind::Bool: return circuit::AttrValue(v.b);
      case Json::Kind::String: return circuit::AttrValue(v.s);
      case Json::Kind::Array: {
        if (v.items.empty()) return circuit::AttrValue(std::vector<std::string>{});
        if (v.items[0].kind == Json::Kind::Int) {
          std::vector<int64_t> l;
          for (auto& x : v.items) {
            if (x.kind != Json::Kind::Int) return at(x, what + ": every element must be an integer");
            l.push_back(x.i);
          }
          return circuit::AttrValue(std::move(l));
        }
        std::vector<std::string> l;
        for (auto& x : v.items) {
          if (x.kind != Json::Kind::String) return at(x, what + ": lists hold integers or strings");
          l.push_back(x.s);
        }
        return circuit::AttrValue(std::move(l));
      }
      default: return at(v, what + ": expected an attribute value, got " + v.kind_name());
    }
  }

  Result<circuit::Circuit> base(const Json& j) const {
    if (j.kind == Json::Kind::String) {
      std::filesystem::path p(j.s);
      if (p.is_relative()) p = std::filesystem::path(dir_) / p;
      auto c = circuit::load_circuit(p.lexically_normal().string());
      if (!c) return at(j, "base circuit: " + c.error().message);
      return c;
    }
    if (j.kind == Json::Kind::Object) {
      const std::string inner = "<inline base>";
      auto c = circuit::parse_circuit(base::write_json(j), inner);
      if (!c) return at(j, "inline base circuit: " + strip_location(c.error().message, inner));
      return c;
    }
    return at(j, std::string("\"base\" must be a path to a .circuit.json or an inline circuit object, got ") + j.kind_name());
  }

  Result<std::vector<std::string>> node_list(const Json& j, circuit::Circuit& base, const std::string& what) const {
    std::vector<std::string> nodes;
    if (j.kind == Json::Kind::String) nodes.push_back(j.s);
    else if (j.kind == Json::Kind::Array)
      for (auto& x : j.items) {
        if (x.kind != Json::Kind::String) return at(x, what + ": \"node\" lists node paths (strings)");
        nodes.push_back(x.s);
      }
    else return at(j, what + ": \"node\" must be a node path or a list of them");
    if (nodes.empty()) return at(j, what + ": \"node\" names no node");
    for (auto& n : nodes)
      if (!circuit::locate(base.graph, n).node()) return at(j, what + ": no node `" + n + "` in the base circuit");
    return nodes;
  }

  Result<Dimension> dimension(const Json& j, circuit::Circuit& base) const {
    if (j.kind != Json::Kind::Object) return at(j, std::string("a choice must be an object, got ") + j.kind_name());
    if (auto s = keys(j, "a choice", {"name", "node", "attr", "values", "alternatives", "repeat"}); !s) return Error{s.error};
    const Json* name = j.get("name");
    if (!name || name->kind != Json::Kind::String || name->s.empty()) return at(name ? *name : j, "a choice needs a non-empty \"name\" string");
    Dimension d{name->s, AttrChoice{}};
    const std::string what = "choice `" + d.name + "`";
    const Json* node = j.get("node");
    if (!node) return at(j, what + " needs a \"node\"");
    int kinds = (j.get("values") != nullptr) + (j.get("alternatives") != nullptr) + (j.get("repeat") != nullptr);
    if (kinds != 1) return at(j, what + " needs exactly one of \"values\" (with \"attr\"), \"alternatives\" or \"repeat\"");
    auto nodes = node_list(*node, base, what);
    if (!nodes) return nodes.error();

    if (const Json* vals = j.get("values")) {
      const Json* attr = j.get("attr");
      if (!attr || attr->kind != Json::Kind::String) return at(attr ? *attr : j, what + ": \"values\" needs an \"attr\" string");
      if (vals->kind != Json::Kind::Array || vals->items.empty()) return at(*vals, what + ": \"values\" must be a non-empty array");
      AttrChoice a{*nodes, attr->s, {}};
      for (auto& n : a.nodes) {
        const circuit::Node* nd = circuit::locate(base.graph, n).node();
        const circuit::OpDef* def = circuit::find_op(nd->op);
        if (!def || !def->find_attr(a.attr)) return at(*attr, what + ": op `" + nd->op + "` of node `" + n + "` has no attribute `" + a.attr + "`");
      }
      for (auto& v : vals->items) {
        auto raw = value(v, what);
        if (!raw) return raw.error();
        for (auto& n : a.nodes) {
          const circuit::OpDef* def = circuit::find_op(circuit::locate(base.graph, n).node()->op);
          auto ok = circuit::check_attr(*def->find_attr(a.attr), *raw);
          if (!ok) return at(v, what + ": node `" + n + "`: " + ok.error().message);
          *raw = *ok;
        }
        a.values.push_back(*raw);
      }
      d.kind = std::move(a);
      return d;
    }
    if (nodes->size() != 1) return at(*node, what + ": alternatives and repeats take one node");
    if (const Json* alts = j.get("alternatives")) {
      if (alts->kind != Json::Kind::Array || alts->items.empty()) return at(*alts, what + ": \"alternatives\" must be a non-empty array of node definitions");
      OpChoice o{nodes->front(), {}, {}};
      for (size_t k = 0; k < alts->items.size(); ++k) {
        const Json& a = alts->items[k];
        const std::string wk = what + " alternative " + std::to_string(k + 1);
        if (a.kind != Json::Kind::Object) return at(a, wk + ": expected a node definition object");
        if (auto s = keys(a, wk, {"label", "op", "attrs", "body"}); !s) return Error{s.error};
        // Reuse the circuit loader for the node (op, attributes against the schema, body) by
        // wrapping it in a one-node circuit; name and inputs come from the slot.
        Json node_json = Json::object();
        node_json.set("name", Json::string("slot"));
        std::string label;
        for (auto& [key, v] : a.members)
          if (key == "label") {
            if (v.kind != Json::Kind::String) return at(v, wk + ": \"label\" must be a string");
            label = v.s;
          } else node_json.set(key, v);
        Json graph = Json::object();
        graph.set("nodes", Json::array()).push(std::move(node_json));
        graph.set("outputs", Json::array());
        Json wrapper = Json::object();
        wrapper.set("format", Json::string("circuit"));
        wrapper.set("version", Json::integer(1));
        wrapper.set("graph", std::move(graph));
        const std::string inner = "<alternative>";
        auto c = circuit::parse_circuit(base::write_json(wrapper), inner);
        if (!c) return at(a, wk + ": " + strip_location(c.error().message, inner));
        circuit::Node n = std::move(c->graph.nodes[0]);
        o.labels.push_back(label.empty() ? n.op : label);
        o.alternatives.push_back(std::move(n));
      }
      d.kind = std::move(o);
      return d;
    }
    const Json* rep = j.get("repeat");
    if (rep->kind != Json::Kind::Array || rep->items.empty()) return at(*rep, what + ": \"repeat\" must be a non-empty array of counts");
    RepeatChoice r{nodes->front(), {}};
    for (auto& c : rep->items) {
      if (c.kind != Json::Kind::Int || c.i < 1 || c.i > 1000) return at(c, what + ": a repeat count must be an integer from 1 to 1000");
      r.counts.push_back(int(c.i));
    }
    const circuit::Node* nd = circuit::locate(base.graph, r.node).node();
    if (nd->inputs.size() != 1) return at(*node, what + ": node `" + r.node + "` has " + std::to_string(nd->inputs.size()) + " inputs; only a node with one input can repeat");
    d.kind = std::move(r);
    return d;
  }

  Result<Objective> objective(const Json& j) const {
    if (j.kind != Json::Kind::Object) return at(j, "an objective must be an object like {\"metric\": \"accuracy\", \"direction\": \"max\"}");
    if (auto s = keys(j, "an objective", {"metric", "direction"}); !s) return Error{s.error};
    const Json* m = j.get("metric");
    if (!m || m->kind != Json::Kind::String || m->s.empty()) return at(m ? *m : j, "an objective needs a \"metric\" name");
    const Json* d = j.get("direction");
    if (!d || d->kind != Json::Kind::String || (d->s != "min" && d->s != "max"))
      return at(d ? *d : j, "objective `" + m->s + "` needs \"direction\": \"min\" or \"max\"");
    return Objective{m->s, d->s == "max" ? Direction::maximize : Direction::minimize};
  }

  Result<Constraint> constraint(const Json& j) const {
    if (j.kind != Json::Kind::Object) return at(j, "a constraint must be an object like {\"metric\": \"params\", \"max\": 200000}");
    if (auto s = keys(j, "a constraint", {"metric", "min", "max"}); !s) return Error{s.error};
    const Json* m = j.get("metric");
    if (!m || m->kind != Json::Kind::String || m->s.empty()) return at(m ? *m : j, "a constraint needs a \"metric\" name");
    Constraint c{m->s, {}, {}};
    for (const char* side : {"min", "max"})
      if (const Json* v = j.get(side)) {
        if (!v->is_number()) return at(*v, "constraint on `" + m->s + "`: \"" + side + "\" must be a number");
        (std::string(side) == "min" ? c.min : c.max) = v->kind == Json::Kind::Int ? double(v->i) : v->f;
      }
    if (!c.min && !c.max) return at(j, "constraint on `" + m->s + "` needs \"min\" or \"max\"");
    return c;
  }

  Result<Space> space(const Json& j) const {
    if (j.kind != Json::Kind::Object) return at(j, "a search file must be a JSON object");
    const Json* fmt = j.get("format");
    if (!fmt || fmt->kind != Json::Kind::String || fmt->s != "search") return at(fmt ? *fmt : j, "not a search file: expected \"format\": \"search\"");
    const Json* ver = j.get("version");
    if (!ver) return at(j, "missing \"version\" (this build writes version " + std::to_string(kSearchFormatVersion) + ")");
    if (ver->kind != Json::Kind::Int || ver->i < 1) return at(*ver, "\"version\" must be a positive integer");
    if (ver->i > kSearchFormatVersion)
      return at(*ver, "search format version " + std::to_string(ver->i) + " is newer than this build reads (up to " + std::to_string(kSearchFormatVersion) + ")");
    if (auto s = keys(j, "a search file", {"format", "version", "name", "doc", "base", "choices", "objectives", "constraints"}); !s) return Error{s.error};
    Space sp;
    if (const Json* n = j.get("name")) {
      if (n->kind != Json::Kind::String) return at(*n, "\"name\" must be a string");
      sp.name = n->s;
    }
    const Json* b = j.get("base");
    if (!b) return at(j, "a search file needs a \"base\" circuit (a path or an inline circuit)");
    auto base_circuit = base(*b);
    if (!base_circuit) return base_circuit.error();
    sp.base = std::move(*base_circuit);
    const Json* ch = j.get("choices");
    if (!ch || ch->kind != Json::Kind::Array) return at(ch ? *ch : j, "a search file needs a \"choices\" array");
    for (auto& c : ch->items) {
      auto d = dimension(c, sp.base);
      if (!d) return d.error();
      for (auto& prev : sp.dims)
        if (prev.name == d->name) return at(c, "duplicate choice name `" + d->name + "`");
      sp.dims.push_back(std::move(*d));
    }
    if (const Json* obj = j.get("objectives")) {
      if (obj->kind != Json::Kind::Array) return at(*obj, "\"objectives\" must be an array");
      for (auto& o : obj->items) {
        auto r = objective(o);
        if (!r) return r.error();
        sp.objectives.push_back(*r);
      }
    }
    if (const Json* con = j.get("constraints")) {
      if (con->kind != Json::Kind::Array) return at(*con, "\"constraints\" must be an array");
      for (auto& o : con->items) {
        auto r = constraint(o);
        if (!r) return r.error();
        sp.constraints.push_back(*r);
      }
    }
    return sp;
  }

 private:
  std::string src_, dir_;
};

// Points every reference to `from` (consumer inputs, graph outputs) at `to`, except inside `skip`.
void rewire(circuit::Graph& g, const std::string& from, const std::string& to, const std::string& skip) {
  for (auto& n : g.nodes) {
    if (n.name == skip) continue;
    for (auto& in : n.inputs)
      if (in.node == from) in.node = to;
  }
  for (auto& o : g.outputs)
    if (o.node == from) o.node = to;
}


}  // namespace

Result<Space> parse_space(std::string_view text, const std::string& source, const std::string& base_dir) {
  auto j = base::parse_json(text);
  if (!j) {
    const std::string& m = j.error().message;
    int line = 0, col = 0;
    if (std::sscanf(m.c_str(), "line %d, column %d:", &line, &col) == 2)
      return Error{source + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON:" + m.substr(m.find(':') + 1)};
    return Error{source + ": invalid JSON: " + m};
  }
  return Reader(source, base_dir).space(*j);
}

Result<Space> load_space(const std::string& path) {
  auto text = base::read_file(path);
  if (!text) return text.error();
  auto dir = std::filesystem::path(path).parent_path().string();
  return parse_space(*text, path, dir.empty() ? "." : dir);
}

Result<circuit::Circuit> apply(const Space& space, const Point& point) {
  if (point.choice.size() != space.dims.size())
    return Error{"point " + key(point) + " has " + std::to_string(point.choice.size()) + " choices; the space has " +
                 std::to_string(space.dims.size()) + " dimensions"};
  circuit::Circuit c = space.base;
  // Attributes and alternatives first, repeats last, so copies of a repeated block carry the
  // chosen attributes.
  for (int pass = 0; pass < 2; ++pass)
    for (size_t i = 0; i < space.dims.size(); ++i) {
      const Dimension& d = space.dims[i];
      int k = point.choice[i];
      if (k < 0 || k >= d.size())
        return Error{"choice `" + d.name + "`: index " + std::to_string(k) + " out of range (it has " + std::to_string(d.size()) + " choices)"};
      bool repeat = std::holds_alternative<RepeatChoice>(d.kind);
      if (repeat != (pass == 1)) continue;
      if (auto* a = std::get_if<AttrChoice>(&d.kind)) {
        for (auto& path : a->nodes) {
          circuit::Node* n = circuit::locate(c.graph, path).node();
          if (!n) return Error{"choice `" + d.name + "`: no node `" + path + "`"};
          const circuit::OpDef* def = circuit::find_op(n->op);
          const circuit::AttrSpec* spec = def ? def->find_attr(a->attr) : nullptr;
          if (!spec) return Error{"choice `" + d.name + "`: node `" + path + "` (op `" + n->op + "`) has no attribute `" + a->attr + "`"};
          auto v = circuit::check_attr(*spec, a->values[size_t(k)]);
          if (!v) return Error{"choice `" + d.name + "`: node `" + path + "`: " + v.error().message};
          n->attrs[a->attr] = *v;
        }
      } else if (auto* o = std::get_if<OpChoice>(&d.kind)) {
        circuit::Node* n = circuit::locate(c.graph, o->node).node();
        if (!n) return Error{"choice `" + d.name + "`: no node `" + o->node + "`"};
        circuit::Node alt = o->alternatives[size_t(k)];
        alt.name = n->name;
        alt.inputs = n->inputs;
        *n = std::move(alt);
      } else {
        auto& r = std::get<RepeatChoice>(d.kind);
        auto [parent, name] = circuit::split_path(r.node);
        circuit::Graph* g = circuit::graph_at(c.graph, parent);
        if (!g || g->find(name) < 0) return Error{"choice `" + d.name + "`: no node `" + r.node + "`"};
        std::string prev = name;
        for (int copy = 2; copy <= r.counts[size_t(k)]; ++copy) {
          circuit::Node n = g->nodes[size_t(g->find(name))];
          n.name = g->unique_name(name + "_" + std::to_string(copy));
          n.inputs = {circuit::PortRef{prev, 0}};
          rewire(*g, prev, n.name, "");
          g->nodes.push_back(std::move(n));
          g->invalidate_index();
          prev = g->nodes.back().name;
        }
      }
    }
  return c;
}

std::string describe(const Space& space, const Point& point) {
  std::string s;
  for (size_t i = 0; i < space.dims.size() && i < point.choice.size(); ++i) {
    int k = point.choice[i];
    s += (i ? " " : "") + space.dims[i].name + "=" + (k >= 0 && k < space.dims[i].size() ? space.dims[i].label(k) : "?");
  }
  return s;
}

Result<Candidate> realize(const Space& space, const Point& point) {
  auto c = apply(space, point);
  if (!c) return Error{describe(space, point) + ": " + c.error().message};
  auto a = circuit::analyze(*c);
  if (!a.ok()) {
    auto diags = a.diagnostics(c->graph);
    std::string why = diags.empty() ? a.error : diags.front().message;
    if (why.empty()) why = "the circuit does not pass shape inference";
    return Error{describe(space, point) + ": " + why};
  }
  Candidate cand{std::move(*c), a.total, {}};
  cand.static_metrics = {{"params", double(cand.cost.params)},
                         {"active_params", double(cand.cost.active_params)},
                         {"flops", double(cand.cost.flops)},
                         {"kv_bytes", double(circuit::kv_bytes(cand.circuit, cand.cost))}};
  return cand;
}

Point random_point(const std::vector<int>& card, Rng& rng) {
  Point p;
  p.choice.reserve(card.size());
  for (int n : card) p.choice.push_back(rng.below(n));
  return p;
}

}  // namespace search

namespace search {

std::string spec_with_inline_base(std::string_view text, const Space& space) {
  auto j = base::parse_json(text);
  auto base = base::parse_json(circuit::circuit_to_text(space.base));
  if (!j || !base) return std::string(text);
  for (auto& [k, v] : j->members)
    if (k == "base") v = *base;
  return base::write_json(*j);
}

}  // namespace search
