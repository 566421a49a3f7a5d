// A graph level → laid-out scene fragment (recursively for open blocks), and the whole scene.
#include "diagram.h"

#include <algorithm>
#include <numeric>
#include <cmath>
#include <cstdio>

#include "base/units.h"
#include "circuit/op.h"
#include "internal.h"
#include "text_metrics.h"

namespace circuit::diagram {

namespace detail {

std::vector<Point> line(Point a, Point b) { return {a, a, b, b}; }

std::vector<Point> s_curve(Point a, Point b) {
  double mx = (a.x + b.x) / 2;
  return {a, {mx, a.y}, {mx, b.y}, b};
}

void append_moved(Scene& to, const Scene& s, double dx, double dy) {
  auto mv = [&](Point p) { return Point{p.x + dx, p.y + dy}; };
  auto mr = [&](Rect r) { return Rect{r.x + dx, r.y + dy, r.w, r.h}; };
  for (auto f : s.fences) f.r = mr(f.r), to.fences.push_back(std::move(f));
  for (auto w : s.wires) {
    for (auto& p : w.pts) p = mv(p);
    w.label_at = mv(w.label_at);
    to.wires.push_back(std::move(w));
  }
  for (auto sp : s.separators) to.separators.push_back({mv(sp.a), mv(sp.b)});
  for (auto b : s.boxes) b.r = mr(b.r), to.boxes.push_back(std::move(b));
  for (auto t : s.texts) t.at = mv(t.at), to.texts.push_back(std::move(t));
  for (auto b : s.badges) b.r = mr(b.r), to.badges.push_back(std::move(b));
}

std::vector<TensorType> input_types(const GraphAnalysis& a, int i, size_t ports) {
  std::vector<TensorType> in(ports);
  for (size_t q = 0; q < ports && q < a.sources[size_t(i)].size(); ++q) {
    auto [src, port] = a.sources[size_t(i)][q];
    if (src >= 0 && port < int(a.nodes[size_t(src)].outputs.size())) in[q] = a.nodes[size_t(src)].outputs[size_t(port)];
  }
  return in;
}

namespace {

// Exit heads branch off the main flow: a node is "side" when every path from it ends in an
// exit head, and the layout keeps side nodes below the main line.
std::vector<bool> side_nodes(const Graph& g, const GraphAnalysis& a, const std::vector<int>& sink_src) {
  std::vector<bool> main(g.nodes.size(), false);
  std::vector<bool> has_succ(g.nodes.size(), false);
  // When every output is an exit head, the deepest one (longest path) ends the main flow.
  std::vector<int> depth(g.nodes.size(), 0);
  for (int i : a.order)
    for (auto [src, port] : a.sources[size_t(i)])
      if (src >= 0) depth[size_t(i)] = std::max(depth[size_t(i)], depth[size_t(src)] + 1);
  int deepest = -1;
  bool any_main = false;
  for (int s : sink_src)
    if (s >= 0) {
      const OpDef* d = find_op(g.nodes[size_t(s)].op);
      has_succ[size_t(s)] = true;
      if (!d || d->category != circuit::OpCategory::exit) main[size_t(s)] = any_main = true;
      if (deepest < 0 || depth[size_t(s)] > depth[size_t(deepest)]) deepest = s;
    }
  if (!any_main && deepest >= 0) main[size_t(deepest)] = true;
  for (auto it = a.order.rbegin(); it != a.order.rend(); ++it) {
    int i = *it;
    for (auto [c, port] : a.consumers[size_t(i)]) {
      has_succ[size_t(i)] = true;
      if (main[size_t(c)]) main[size_t(i)] = true;
    }
    if (!has_succ[size_t(i)]) main[size_t(i)] = true;  // dangling: keep in the main flow
  }
  std::vector<bool> side(g.nodes.size());
  for (size_t i = 0; i < side.size(); ++i) side[i] = !main[i];
  return side;
}

}  // namespace

GraphDrawing draw_graph(const Graph& g, const GraphAnalysis& a, const std::string& prefix, bool body, Context& ctx) {
  GraphDrawing d;
  const size_t n = g.nodes.size();
  std::vector<NodeShape> shapes;
  shapes.reserve(n + g.outputs.size());
  for (size_t i = 0; i < n; ++i) {
    const Node& node = g.nodes[i];
    std::string path = prefix + node.name;
    if (node.is_input()) {
      TensorType t = a.nodes[i].outputs.empty() ? TensorType{} : a.nodes[i].outputs[0];
      shapes.push_back(port_shape(t, path, node.name, true, body));
      if (!a.nodes[i].ok() && !body) {
        // A bad input declaration: mark it like any failing node.
        ctx.notes.push_back(path + ": " + a.nodes[i].error);
        shapes.back().local.boxes.back().error = true;
        shapes.back().local.boxes.back().marker = int(ctx.notes.size());
      }
    } else {
      shapes.push_back(shape_of(node, a.nodes[i], input_types(a, int(i), node.inputs.size()), path, ctx));
    }
    shapes.back().l.key = path;
  }
  // Graph outputs: sinks where the wires end.
  std::vector<int> sink_src;
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    int s = g.find(g.outputs[k].node);
    sink_src.push_back(s);
    TensorType t;
    if (s >= 0 && g.outputs[k].port < int(a.nodes[size_t(s)].outputs.size())) t = a.nodes[size_t(s)].outputs[size_t(g.outputs[k].port)];
    shapes.push_back(port_shape(t, prefix + "output:" + std::to_string(k), to_string(g.outputs[k]), false, body));
    shapes.back().l.key = prefix + "output:" + std::to_string(k);
  }
  auto side = side_nodes(g, a, sink_src);
  for (size_t i = 0; i < n; ++i) shapes[i].l.side = side[i];
  for (size_t k = 0; k < g.outputs.size(); ++k)
    if (sink_src[k] >= 0) shapes[n + k].l.side = side[size_t(sink_src[k])];

  // Edges: only between nodes that analysis ordered (a cycle is left undrawn, and reported).
  std::vector<LEdge> edges;
  for (size_t i = 0; i < n; ++i) {
    if (a.position[i] < 0) continue;
    for (size_t q = 0; q < a.sources[i].size(); ++q) {
      auto [src, port] = a.sources[i][q];
      if (src < 0 || a.position[size_t(src)] < 0) continue;
      edges.push_back({src, port, int(i), int(q), prefix + g.nodes[size_t(src)].name + ":" + std::to_string(port) + ">" + g.nodes[i].name + ":" + std::to_string(q)});
    }
  }
  for (size_t k = 0; k < g.outputs.size(); ++k)
    if (sink_src[k] >= 0 && a.position[size_t(sink_src[k])] >= 0)
      edges.push_back({sink_src[k], g.outputs[k].port, int(n + k), 0, prefix + g.outputs[k].node + ":" + std::to_string(g.outputs[k].port) + ">output:" + std::to_string(k)});

  std::vector<LNode> lnodes;
  lnodes.reserve(shapes.size());
  for (auto& s : shapes) lnodes.push_back(s.l);
  Layout lay = layered_layout(lnodes, edges, ctx.opts.hint);
  for (auto& [k, v] : lay.memory.y) ctx.memory.y[k] = v;

  // The inputs of a commutative op may enter in any order: stack them as their wires arrive, so
  // a skip bundle routed below the main line enters the box below instead of crossing it.
  for (size_t v = 0; v < n; ++v) {
    const OpDef* def = find_op(g.nodes[v].op);
    auto& in_y = shapes[v].l.in_y;
    if (!def || def->category != OpCategory::combine || in_y.size() < 2) continue;  // add, multiply
    bool same = std::all_of(in_y.begin(), in_y.end(), [&](const auto& p) { return p.size() == in_y[0].size() && !p.empty(); });
    if (!same) continue;
    std::vector<std::pair<double, int>> arrival;  // (y where the port's first wire arrives, port)
    for (size_t k = 0; k < edges.size(); ++k) {
      const LEdge& e = edges[k];
      if (e.dst != int(v) || e.src_port >= int(shapes[size_t(e.src)].l.out_y.size())) continue;
      double y = lay.dummy_y[k].empty() ? lay.y[size_t(e.src)] + shapes[size_t(e.src)].l.out_y[size_t(e.src_port)][0] : lay.dummy_y[k].back();
      arrival.push_back({y, e.dst_port});
    }
    if (arrival.size() != in_y.size()) continue;
    std::stable_sort(arrival.begin(), arrival.end());
    std::vector<size_t> slots(in_y.size());
    std::iota(slots.begin(), slots.end(), size_t(0));
    std::sort(slots.begin(), slots.end(), [&](size_t x, size_t y) { return in_y[x][0] < in_y[y][0]; });
    auto old_y = in_y;
    auto old_x = shapes[v].in_x;
    for (size_t r = 0; r < arrival.size(); ++r) {
      in_y[size_t(arrival[r].second)] = old_y[slots[r]];
      if (slots[r] < old_x.size() && size_t(arrival[r].second) < shapes[v].in_x.size()) shapes[v].in_x[size_t(arrival[r].second)] = old_x[slots[r]];
    }
  }

  Scene& sc = d.scene;
  auto col_l = [&](int v) { return lay.col_x[size_t(lay.layer[size_t(v)])]; };
  auto col_r = [&](int v) { return col_l(v) + lay.col_w[size_t(lay.layer[size_t(v)])]; };
  for (size_t v = 0; v < shapes.size(); ++v) {
    const NodeShape& s = shapes[v];
    double x = lay.x[v], y = lay.y[v];
    append_moved(sc, s.local, x, y);
    std::string path = s.l.key;
    for (double py : s.pass_y) sc.wires.push_back({line({col_l(int(v)), y + py}, {col_r(int(v)), y + py}), "", "", "", path, 0});
    for (auto [sy, input] : s.seps) {
      double x0 = input ? col_l(int(v)) : x + s.l.w, x1 = input ? x : col_r(int(v)) + 12;
      sc.separators.push_back({{x0 - (input ? 12 : 0), y + sy}, {x1, y + sy}});
    }
  }

  // Wires: one per axis, from the source's port through any dummies to the target's port.
  std::vector<std::pair<int, int>> labelled;
  for (size_t k = 0; k < edges.size(); ++k) {
    const LEdge& e = edges[k];
    const NodeShape &S = shapes[size_t(e.src)], &T = shapes[size_t(e.dst)];
    if (e.src_port >= int(S.l.out_y.size()) || e.dst_port >= int(T.l.in_y.size())) continue;
    const auto& oy = S.l.out_y[size_t(e.src_port)];
    const auto& iy = T.l.in_y[size_t(e.dst_port)];
    bool first_label = std::find(labelled.begin(), labelled.end(), std::pair{e.src, e.src_port}) == labelled.end();
    if (first_label) labelled.push_back({e.src, e.src_port});
    int ls = lay.layer[size_t(e.src)];
    for (size_t i = 0; i < oy.size() && i < iy.size(); ++i) {
      WireItem w;
      w.edge = e.key, w.axis = int(i);
      w.from = S.l.key, w.to = T.l.key;
      const auto& lab = S.labels[size_t(e.src_port)];
      w.label = i < lab.size() ? lab[i] : "?";
      w.unknown = i < S.unknown[size_t(e.src_port)].size() && S.unknown[size_t(e.src_port)][i];
      double sx = S.out_x[size_t(e.src_port)][i];
      double y0 = lay.y[size_t(e.src)] + oy[i];
      double cr = col_r(e.src);
      Point p{std::isnan(sx) ? cr : lay.x[size_t(e.src)] + sx, y0};
      w.pts.push_back(p);
      auto go = [&](Point q) {
        auto seg = std::abs(q.y - p.y) < 1e-9 ? line(p, q) : s_curve(p, q);
        w.pts.insert(w.pts.end(), seg.begin() + 1, seg.end());
        p = q;
      };
      if (p.x < cr) go({cr, y0});
      w.label_at = {cr + 4, y0 - 3};
      w.show_label = first_label;
      int l = ls;
      for (double dy : lay.dummy_y[k]) {
        ++l;
        go({cr + lay.label_w[size_t(l - 1)], p.y});
        double yy = dy + (oy[i] - oy[0]);
        go({lay.col_x[size_t(l)], yy});
        cr = lay.col_x[size_t(l)] + lay.col_w[size_t(l)];
        go({cr, yy});
      }
      go({cr + lay.label_w[size_t(l)], p.y});
      double ty = lay.y[size_t(e.dst)] + iy[i];
      go({col_l(e.dst), ty});
      double tx = T.in_x[size_t(e.dst_port)][i];
      if (!std::isnan(tx) && lay.x[size_t(e.dst)] + tx > p.x) go({lay.x[size_t(e.dst)] + tx, ty});
      sc.wires.push_back(std::move(w));
    }
  }

  d.w = lay.width, d.h = lay.height;
  for (size_t k = 0; k < a.inputs.size(); ++k) {
    int v = a.inputs[k];
    std::vector<double> ys;
    for (double y : shapes[size_t(v)].l.out_y[0]) ys.push_back(lay.y[size_t(v)] + y);
    d.in_y.push_back(ys);
  }
  for (size_t k = 0; k < g.outputs.size(); ++k) {
    std::vector<double> ys;
    for (double y : shapes[n + k].l.in_y[0]) ys.push_back(lay.y[n + k] + y);
    d.out_y.push_back(ys);
  }
  if (!a.error.empty()) ctx.notes.push_back((prefix.empty() ? std::string("graph") : prefix.substr(0, prefix.size() - 1)) + ": " + a.error);
  return d;
}

}  // namespace detail

bool Expansion::open(const std::string& path) const {
  if (mode != Mode::listed) return mode == Mode::all;
  for (auto& b : blocks)
    if (path_within(b, path)) return true;
  return false;
}

bool Expansion::open_parts(const std::string& path) const {
  return all_parts || parts.count(path) || (mode == Mode::listed && blocks.count(path));
}

std::string Expansion::add(const std::string& word) {
  if (word == "all") mode = Mode::all, blocks.clear();
  else if (word == "none") mode = Mode::none, blocks.clear();
  else if (word == "parts") all_parts = true;
  else if (word.empty() || word.front() == '/' || word.back() == '/') return "`" + word + "` is not a path (write `ffn` or `blk/inner`)";
  else mode = Mode::listed, blocks.insert(word);
  return "";
}

namespace {

// Paths of the nodes, bodies included, that `keep` picks.
template <class Keep>
void node_paths(const Graph& g, const std::string& prefix, const Keep& keep, std::set<std::string>& out) {
  for (auto& n : g.nodes) {
    std::string p = prefix.empty() ? n.name : prefix + "/" + n.name;
    if (keep(n)) out.insert(p);
    if (n.body) node_paths(*n.body, p, keep, out);
  }
}
bool has_body(const Node& n) { return bool(n.body); }
bool has_parts(const Node& n) {
  const OpDef* def = find_op(n.op);
  return def && def->parts;
}

}  // namespace

bool Folding::toggle(const Graph& root, const std::string& path) {
  const Node* found = node_at(root, path);
  if (!found) return false;
  const Node& n = *found;
  if (n.body) {
    if (!closed.erase(path)) closed.insert(path);
  } else if (has_parts(n)) {
    if (!parts.erase(path)) parts.insert(path);
  } else {
    return false;
  }
  return true;
}

void Folding::close_all_blocks(const Graph& root) {
  closed.clear(), parts.clear();
  node_paths(root, "", has_body, closed);
}

void Folding::open_all_mixers(const Graph& root) { node_paths(root, "", has_parts, parts); }

Expansion Folding::expansion(const Graph& root) const {
  Expansion e;
  e.parts = parts;
  if (closed.empty()) return e;
  std::set<std::string> all;
  node_paths(root, "", has_body, all);
  e.mode = Expansion::Mode::listed;
  for (auto& p : all) {
    bool hidden = false;  // a block inside a closed one is hidden anyway
    for (auto& c : closed) hidden |= path_within(p, c);
    if (!hidden) e.blocks.insert(p);
  }
  return e;
}

std::string axis_label(const Axis& a) {
  if (!a.size.concrete()) return a.size.sym == a.name ? a.name : a.name + " " + a.size.sym;
  return a.name + " " + std::to_string(a.size.n);
}

Scene build_scene(const Circuit& c, const GraphAnalysis& a, const DiagramOptions& opts) {
  using detail::Style;
  detail::Context ctx{c, opts, cost_bindings(c), {}, {}};
  detail::GraphDrawing g = detail::draw_graph(c.graph, a, "", false, ctx);
  Scene s;
  const double margin = 16;
  double top = margin;
  if (opts.title) {
    s.texts.push_back({{margin, margin + 10}, c.name.empty() ? "circuit" : c.name, 11, true});
    top += 24;
  }
  detail::append_moved(s, g.scene, margin, top);
  s.width = g.w + 2 * margin;
  double y = top + g.h + 8;
  for (size_t k = 0; k < ctx.notes.size(); ++k) {
    y += 14;
    std::string t = std::to_string(k + 1) + "  " + ctx.notes[k];
    s.texts.push_back({{margin, y}, t, 8.5, false, Align::left, true});
    s.width = std::max(s.width, 2 * margin + text_width(t, 8.5));
  }
  if (opts.title) s.width = std::max(s.width, 2 * margin + text_width(s.texts.front().text, 11, true));
  s.height = y + margin;
  if (!opts.changes.empty())
    for (BoxItem& b : s.boxes)
      if (auto it = opts.changes.find(b.node); it != opts.changes.end()) b.change = it->second;
  s.memory = std::move(ctx.memory);
  return s;
}

namespace {

// A diff badge: what made the node differ, shortest first.
std::string diff_label(const NodeDelta& n) {
  if (n.kind == NodeDelta::Kind::renamed) return "was " + split_path(n.path_before).name;
  if (n.kind != NodeDelta::Kind::changed) return to_string(n.kind);
  std::string s;
  if (n.op_before != n.op_after) s = n.op_before + " → " + n.op_after;
  else if (!n.attrs.empty()) s = n.attrs.front().name + " " + n.attrs.front().before + " → " + n.attrs.front().after;
  else if (n.inputs_before != n.inputs_after) s = "inputs changed";
  else s = "output type changed";
  size_t more = n.attrs.size() - (n.op_before == n.op_after && !n.attrs.empty() ? 1 : 0);
  if (more > 0) s += " (+" + std::to_string(more) + ")";
  return s;
}

}  // namespace

Scene diff_scene(const Circuit& a, const Circuit& b, const CircuitDiff& d, DiagramOptions opts) {
  Circuit u = diff_union(a, b, d);
  u.name = a.name == b.name ? b.name + ": diff" : a.name + " → " + b.name;
  for (const NodeDelta& n : d.nodes) {
    opts.changes[n.path] = n.kind == NodeDelta::Kind::added ? Change::added : n.kind == NodeDelta::Kind::removed ? Change::removed : Change::changed;
    opts.overlay[n.path] = {diff_label(n), -1, {}};
  }
  return build_scene(u, analyze(u), opts);
}

namespace {

// `memory`: the bf16 bytes a sequence keeps at inference at the circuit's context.
void collect(const Graph& g, const GraphAnalysis& a, const std::string& prefix, const std::string& what, int64_t context,
             std::vector<std::pair<std::string, int64_t>>& out) {
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    if (n.is_input()) continue;
    const Cost& k = a.nodes[i].cost;
    out.push_back({prefix + n.name, what == "params" ? k.params : what == "memory" ? 2 * k.inference.at(context) : k.flops});
    if (n.body && a.nodes[i].body) collect(*n.body, *a.nodes[i].body, prefix + n.name + "/", what, context, out);
  }
}

}  // namespace

std::unordered_map<std::string, Annotation> cost_overlay(const Circuit& c, const GraphAnalysis& a, const std::string& what) {
  std::unordered_map<std::string, Annotation> r;
  if (what != "params" && what != "flops" && what != "memory") return r;
  std::vector<std::pair<std::string, int64_t>> v;
  collect(c.graph, a, "", what, inference_context(c), v);
  int64_t top = 1;
  for (auto& [p, x] : v)
    if (p.find('/') == std::string::npos) top = std::max(top, x);
  for (auto& [p, x] : v)
    if (x > 0) r[p] = {what == "memory" ? base::bytes_text(double(x)) : base::count_text(double(x), what == "params" ? "params" : "FLOPs"), std::min(1.0, double(x) / double(top))};
  return r;
}

}  // namespace circuit::diagram
