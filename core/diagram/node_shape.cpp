// One node's drawing in its own coordinates: op boxes with pass-by wires, junctions where
// wires regroup, collapsed and expanded blocks, and the MoE layer (router + experts + combine).
#include <algorithm>
#include <cstdio>

#include "circuit/einsum.h"
#include "circuit/op.h"
#include "circuit/routers.h"
#include "internal.h"
#include "text_metrics.h"

namespace circuit::diagram::detail {

namespace {

using S = Style;

int rank_of(const TensorType& t) { return t.axes.empty() ? 1 : int(t.rank()); }

std::vector<double> centered_rows(int n, double center) {
  std::vector<double> ys;
  for (int k = 0; k < n; ++k) ys.push_back(center + (k - (n - 1) / 2.0) * S::wire_gap);
  return ys;
}

double stack_height(const std::vector<TensorType>& ports) {
  double h = 0;
  for (size_t p = 0; p < ports.size(); ++p) h += rank_of(ports[p]) * S::wire_gap + (p ? S::wire_gap / 2 : 0);
  return h;
}

// Stacks the bundles of several ports (a tuple) from `top`, with a dashed separator between them.
std::vector<std::vector<double>> stacked_rows(const std::vector<TensorType>& ports, double top, bool input, NodeShape& s) {
  std::vector<std::vector<double>> ys;
  double y = top;
  for (size_t p = 0; p < ports.size(); ++p) {
    if (p) {
      s.seps.push_back({y + S::wire_gap / 4, input});
      y += S::wire_gap / 2;
    }
    std::vector<double> r;
    for (int k = 0; k < rank_of(ports[p]); ++k) r.push_back(y + (k + 0.5) * S::wire_gap);
    y += rank_of(ports[p]) * S::wire_gap;
    ys.push_back(r);
  }
  return ys;
}

void set_outputs(NodeShape& s, const std::vector<TensorType>& outs) {
  s.labels.clear(), s.unknown.clear();
  double widest = 0;
  for (auto& t : outs) {
    std::vector<std::string> l;
    std::vector<bool> u;
    if (t.axes.empty()) l.push_back("?"), u.push_back(true);
    for (auto& a : t.axes) l.push_back(axis_label(a)), u.push_back(false);
    for (auto& x : l) widest = std::max(widest, text_width(x, S::label_size));
    s.labels.push_back(l), s.unknown.push_back(u);
  }
  s.l.label_w = widest;
}

std::vector<std::vector<double>> same_x(const std::vector<std::vector<double>>& ys, double x) {
  std::vector<std::vector<double>> r;
  for (auto& p : ys) r.push_back(std::vector<double>(p.size(), x));
  return r;
}

std::string pretty(std::string op) {
  std::replace(op.begin(), op.end(), '_', ' ');
  return op;
}

// The box's second line: the op's own summary (OpDef::summary), else its name.
std::string summary(const Node& n, const OpDef& def, const std::vector<TensorType>& in, const Bindings& b) {
  if (!def.summary) return pretty(n.op);
  OpCall c{n, def, in, b};
  return def.summary(c);
}

bool body_learned(const Graph& g) {
  for (auto& n : g.nodes) {
    const OpDef* d = find_op(n.op);
    if ((d && d->learned) || (n.body && body_learned(*n.body))) return true;
  }
  return false;
}

void box_text(Scene& s, const Rect& r, const std::string& title, const std::string& sub, bool bold) {
  double cy = r.y + r.h / 2;
  if (sub.empty()) {
    s.texts.push_back({{r.x + r.w / 2, cy + 3}, title, S::title_size, bold, Align::center});
    return;
  }
  s.texts.push_back({{r.x + r.w / 2, cy - 1.5}, title, S::title_size, bold, Align::center});
  s.texts.push_back({{r.x + r.w / 2, cy + 8.5}, sub, S::sub_size, false, Align::center, false, true});
}

double box_width(const std::string& title, const std::string& sub, bool bold) {
  return std::max(36.0, std::max(text_width(title, S::title_size, bold), text_width(sub, S::sub_size)) + 2 * S::pad_x);
}

const Annotation* annotation(const Context& ctx, const std::string& path) {
  auto it = ctx.opts.overlay.find(path);
  return it == ctx.opts.overlay.end() ? nullptr : &it->second;
}

// A badge centred over `over_x` in the strip [0, badge_h) at the node's top.
void add_badge(Scene& s, const Annotation& a, double center_x, double y, const std::string& path) {
  double cells = a.cells.empty() ? 0 : 3 + double(a.cells.size()) * kBadgeCell;
  double w = text_width(a.text, S::sub_size) + 8 + cells;
  s.badges.push_back({{center_x - w / 2, y, w, S::badge_h - 2}, path, a.text, a.heat, a.cells});
}

void mark_error(BoxItem& b, const NodeInfo& info, const std::string& path, Context& ctx) {
  b.error = !info.error.empty();
  b.blocked = info.blocked;
  if (b.error) {
    ctx.notes.push_back(path + ": " + info.error);
    b.marker = int(ctx.notes.size());
  }
}

// How many leading and trailing axes pass by the box: same name in and out, not consumed.
std::pair<int, int> pass_by(const TensorType& in, const TensorType& out, const std::vector<std::string>& consumed) {
  auto used = [&](const std::string& a) { return std::find(consumed.begin(), consumed.end(), a) != consumed.end(); };
  int ri = int(in.rank()), ro = int(out.rank()), lim = std::min(ri, ro);
  int L = 0, T = 0;
  while (L < lim && in.axes[size_t(L)].name == out.axes[size_t(L)].name && !used(in.axes[size_t(L)].name)) ++L;
  while (T < lim - L && in.axes[size_t(ri - 1 - T)].name == out.axes[size_t(ro - 1 - T)].name && !used(in.axes[size_t(ri - 1 - T)].name)) ++T;
  return {L, T};
}

struct BoxSpec {
  BoxKind kind = BoxKind::op;
  std::string title, sub;
  bool bold = false;
  int lead = 0, trail = 0;  // pass-by axes (single input and output only)
  int stack = 1;
};

NodeShape op_box(const BoxSpec& spec, const std::vector<TensorType>& in, const std::vector<TensorType>& out,
                 const NodeInfo& info, const std::string& path, Context& ctx) {
  NodeShape s;
  const Annotation* ann = annotation(ctx, path);
  double bs = ann ? S::badge_h + 2 : 0;
  double w = box_width(spec.title, spec.sub, spec.bold);
  if (ann) w = std::max(w, text_width(ann->text, S::sub_size) + 10);
  Rect box{0, bs, w, 0};
  if (spec.lead + spec.trail > 0 && in.size() == 1 && out.size() == 1) {
    int L = spec.lead, T = spec.trail, mi = rank_of(in[0]) - L - T, mo = rank_of(out[0]) - L - T;
    std::vector<double> iy, oy;
    double y = bs;
    for (int k = 0; k < L; ++k) iy.push_back(y + (k + 0.5) * S::wire_gap), s.pass_y.push_back(iy.back());
    oy = iy;
    y += L * S::wire_gap + (L ? 4 : 0);
    double hb = std::max(S::min_box_h, std::max(mi, mo) * S::wire_gap + 8);
    box = {0, y, w, hb};
    for (double r : centered_rows(mi, y + hb / 2)) iy.push_back(r);
    for (double r : centered_rows(mo, y + hb / 2)) oy.push_back(r);
    y += hb + (T ? 4 : 0);
    for (int k = 0; k < T; ++k) {
      double r = y + (k + 0.5) * S::wire_gap;
      iy.push_back(r), oy.push_back(r), s.pass_y.push_back(r);
    }
    y += T * S::wire_gap;
    s.l.h = y;
    s.l.in_y = {iy}, s.l.out_y = {oy};
    auto xs = [&](int mid, double x) {
      std::vector<double> v(size_t(L), kEdge);
      v.insert(v.end(), size_t(mid), x);
      v.insert(v.end(), size_t(T), kEdge);
      return v;
    };
    s.in_x = {xs(mi, 0)}, s.out_x = {xs(mo, w)};
  } else {
    double ti = stack_height(in), to = stack_height(out);
    double hb = std::max(S::min_box_h, std::max(ti, to) + 8);
    box = {0, bs, w, hb};
    s.l.in_y = stacked_rows(in, bs + (hb - ti) / 2, true, s);
    s.l.out_y = stacked_rows(out, bs + (hb - to) / 2, false, s);
    s.l.h = bs + hb;
    s.in_x = same_x(s.l.in_y, 0), s.out_x = same_x(s.l.out_y, w);
  }
  s.l.w = w;
  BoxItem b{box, spec.kind, path, spec.title, spec.sub, spec.bold};
  b.stack = spec.stack;
  mark_error(b, info, path, ctx);
  s.local.boxes.push_back(b);
  box_text(s.local, box, spec.title, spec.sub, spec.bold);
  if (ann) add_badge(s.local, *ann, w / 2, 0, path);
  set_outputs(s, out);
  return s;
}

// The frame of an op drawn without a box (junctions, einsum): its caption strip on top, then the
// input and output bundles centred on the taller of the two.
NodeShape boxless(const Node& n, const std::vector<TensorType>& in, const std::vector<TensorType>& out, double min_w) {
  NodeShape s;
  const double strip = 12;
  double w = std::max(min_w, text_width(n.op, S::sub_size) + 8);
  double ti = stack_height(in), to = stack_height(out), region = std::max(ti, to);
  s.l.in_y = stacked_rows(in, strip + (region - ti) / 2, true, s);
  s.l.out_y = stacked_rows(out, strip + (region - to) / 2, false, s);
  s.l.w = w, s.l.h = strip + region + 2;
  s.in_x = same_x(s.l.in_y, 0), s.out_x = same_x(s.l.out_y, w);
  return s;
}

// Reshape, transpose, flatten, concat, split: no box, the wires themselves regroup or cross.
NodeShape junction(const Node& n, const std::vector<TensorType>& in, const std::vector<TensorType>& out,
                   const std::string& path) {
  NodeShape s = boxless(n, in, out, 44);
  double w = s.l.w;
  for (size_t p = 0; p < in.size(); ++p)
    for (size_t q = 0; q < out.size(); ++q) {
      const auto &a = in[p].axes, &b = out[q].axes;
      std::vector<bool> ua(a.size(), true), ub(b.size(), true);
      auto join = [&](size_t i, size_t j) {
        s.local.wires.push_back({s_curve({0, s.l.in_y[p][i]}, {w, s.l.out_y[q][j]}), "", "", "", path, int(j)});
      };
      for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = 0; j < b.size(); ++j)
          if (ub[j] && a[i].name == b[j].name) {
            join(i, j), ua[i] = ub[j] = false;
            break;
          }
      for (size_t i = 0; i < a.size(); ++i)
        for (size_t j = 0; j < b.size(); ++j)
          if (ua[i] && ub[j] && out.size() == 1) join(i, j);
      if (a.empty() || b.empty()) join(0, 0);
    }
  s.local.boxes.push_back({{0, 0, w, s.l.h}, BoxKind::junction, path, n.name, n.op});
  s.local.texts.push_back({{w / 2, 8}, n.op, S::sub_size, false, Align::center, false, true});
  set_outputs(s, out);
  return s;
}

// einsum, the notation's linear operation: no box. A kept axis's wires (one from each input that
// names it) run to its output wire and meet there; a contracted axis's wires run to a dot, where
// they join and end.
NodeShape contraction(const Node& n, const Einsum& eq, const std::vector<TensorType>& in, const std::vector<TensorType>& out,
                      const std::string& path) {
  NodeShape s = boxless(n, in, out, 56);
  double w = s.l.w;
  // Each contracted name's dot sits at the mean height of the wires that meet in it.
  std::vector<std::string> summed;
  std::vector<double> dot_y;
  std::vector<int> count;
  for (size_t p = 0; p < in.size() && p < eq.inputs.size(); ++p)
    for (size_t j = 0; j < eq.inputs[p].size() && j < s.l.in_y[p].size(); ++j) {
      const std::string& name = eq.inputs[p][j];
      if (!eq.contracted(name)) continue;
      auto it = std::find(summed.begin(), summed.end(), name);
      if (it == summed.end()) summed.push_back(name), dot_y.push_back(0), count.push_back(0), it = summed.end() - 1;
      size_t k = size_t(it - summed.begin());
      dot_y[k] += s.l.in_y[p][j], count[k] += 1;
    }
  for (size_t k = 0; k < summed.size(); ++k) dot_y[k] /= count[k];
  for (size_t p = 0; p < in.size() && p < eq.inputs.size(); ++p)
    for (size_t j = 0; j < eq.inputs[p].size() && j < s.l.in_y[p].size(); ++j) {
      const std::string& name = eq.inputs[p][j];
      Point from{0, s.l.in_y[p][j]};
      auto o = std::find(eq.output.begin(), eq.output.end(), name);
      if (o != eq.output.end()) {
        size_t q = size_t(o - eq.output.begin());
        s.local.wires.push_back({s_curve(from, {w, s.l.out_y[0][q]}), "", "", "", path, int(q)});
      } else {
        size_t k = size_t(std::find(summed.begin(), summed.end(), name) - summed.begin());
        s.local.wires.push_back({s_curve(from, {w / 2, dot_y[k]}), "", "", "", path, int(j)});
      }
    }
  s.local.boxes.push_back({{0, 0, w, s.l.h}, BoxKind::junction, path, n.name, n.op});
  for (size_t k = 0; k < summed.size(); ++k) s.local.boxes.push_back({{w / 2 - 3, dot_y[k] - 3, 6, 6}, BoxKind::dot, path, n.name, summed[k]});
  s.local.texts.push_back({{w / 2, 8}, n.op, S::sub_size, false, Align::center, false, true});
  set_outputs(s, out);
  return s;
}

// Wraps a drawn body in a fence; the parent's wires end and start at the fence's ports.
NodeShape fenced(GraphDrawing sub, const std::string& label, const std::vector<TensorType>& out, const std::string& path,
                 Context& ctx) {
  NodeShape s;
  const Annotation* ann = annotation(ctx, path);
  double badge_w = ann ? text_width(ann->text, S::sub_size) + 14 : 0;
  double w = std::max(sub.w + 2 * S::fence_pad, text_width(label, S::sub_size, true) + 2 * S::fence_pad + badge_w);
  double ox = (w - sub.w) / 2, oy = S::fence_strip + 4;
  for (auto& p : sub.in_y) {
    s.l.in_y.push_back({});
    for (double y : p) s.l.in_y.back().push_back(y + oy);
  }
  for (auto& p : sub.out_y) {
    s.l.out_y.push_back({});
    for (double y : p) s.l.out_y.back().push_back(y + oy);
  }
  s.in_x = same_x(s.l.in_y, ox), s.out_x = same_x(s.l.out_y, ox + sub.w);
  s.l.w = w, s.l.h = oy + sub.h + S::fence_pad;
  s.local.fences.push_back({{0, 0, w, s.l.h}, path, label});
  s.local.texts.push_back({{6, 11}, label, S::sub_size, true});
  if (ann) add_badge(s.local, *ann, w - 6 - (badge_w - 6) / 2, 2, path);
  append_moved(s.local, sub.scene, ox, oy);
  set_outputs(s, out);
  return s;
}

// Router below, experts (a stack of cards) above, and a combine box that weights the experts'
// outputs by the router's gates. The expert count is written on the fence and on the stack.
NodeShape moe_shape(const Node& n, const NodeInfo& info, const TensorType& x, const TensorType& y, const std::string& path,
                    bool open, Context& ctx) {
  const OpDef& def = *find_op("moe");
  std::vector<TensorType> in{x};
  OpCall c{n, def, in, ctx.bindings};
  int64_t E = c.i("experts"), k = c.i("k"), shared = c.i("shared_experts");
  std::string router = c.s("router");
  TensorType gates = x;
  if (!gates.axes.empty()) gates.axes.back() = Axis{"experts", Size::of(E)};

  NodeShape s;
  const double pad = S::fence_pad, fork = 36, card = 8;
  std::string label = (n.name == "moe" ? n.name : n.name + " · moe") + " · " + std::to_string(E) + " experts, top-" + std::to_string(k) +
                      (shared ? " + " + std::to_string(shared) + " shared" : "");
  const Annotation* ann = annotation(ctx, path);
  double badge_w = ann ? text_width(ann->text, S::sub_size) + 14 : 0;
  double top = S::fence_strip + 4 + card;
  double left = pad + fork;

  // Experts: the body drawn in a stacked fence, or one stacked box.
  std::vector<double> e_in, e_out;
  double ew, eh;
  std::string ex_label = "expert ×" + std::to_string(E);
  if (open && n.body && info.body) {
    GraphDrawing sub = draw_graph(*n.body, *info.body, path + "/", true, ctx);
    double ox = 8, oy = S::fence_strip;
    ew = std::max(sub.w + 2 * ox, text_width(ex_label, S::sub_size, true) + 16), eh = oy + sub.h + 8;
    ox = (ew - sub.w) / 2;
    for (double v : sub.in_y.empty() ? std::vector<double>{} : sub.in_y[0]) e_in.push_back(top + oy + v);
    for (double v : sub.out_y.empty() ? std::vector<double>{} : sub.out_y[0]) e_out.push_back(top + oy + v);
    s.local.fences.push_back({{left, top, ew, eh}, path + "/experts", ex_label, int(std::min<int64_t>(E, 3))});
    s.local.texts.push_back({{left + 6, top + 11}, ex_label, S::sub_size, true});
    append_moved(s.local, sub.scene, left + ox, top + oy);
    // Wires from the fence's edge to the body's ports and back.
    for (double v : e_in) s.local.wires.push_back({line({left, v}, {left + ox, v}), "", "", "", path, 0});
    for (double v : e_out) s.local.wires.push_back({line({left + ox + sub.w, v}, {left + ew, v}), "", "", "", path, 0});
  } else {
    std::string sub = "×" + std::to_string(E);
    ew = box_width("experts", sub, true);
    eh = std::max(S::min_box_h, std::max(rank_of(x), rank_of(y)) * S::wire_gap + 8);
    e_in = centered_rows(rank_of(x), top + eh / 2), e_out = centered_rows(rank_of(y), top + eh / 2);
    BoxItem b{{left, top, ew, eh}, BoxKind::experts, path, "experts", sub, true};
    b.stack = int(std::min<int64_t>(E, 3));
    s.local.boxes.push_back(b);
    box_text(s.local, b.r, "experts", sub, true);
  }

  // Router under the experts, fed by a copy of every input wire.
  const circuit::RouterKind* kind = circuit::find_router_kind(router);
  std::string rsub = router + (kind && kind->label_k ? ", k=" + std::to_string(k) : "");
  double rw = box_width("router", rsub, true);
  double rh = std::max(S::min_box_h, rank_of(x) * S::wire_gap + 8);
  double rtop = top + eh + 18;
  Rect rbox{left, rtop, rw, rh};
  BoxItem rb{rbox, BoxKind::router, path, "router", rsub, true};
  s.local.boxes.push_back(rb);
  box_text(s.local, rbox, "router", rsub, true);
  auto r_in = centered_rows(rank_of(x), rtop + rh / 2), r_out = centered_rows(rank_of(gates), rtop + rh / 2);

  // Combine: spans the experts' outputs and the gates.
  double col_r = left + std::max(ew + card, rw);
  double lz = 0;
  for (auto& a : gates.axes) lz = std::max(lz, text_width(axis_label(a), S::label_size));
  double cx = col_r + lz + 12;
  std::string csub = "Σ gate · expert";
  double cw = box_width("combine", csub, false);
  double ctop = (e_out.empty() ? top : e_out.front()) - 10, cbot = (r_out.empty() ? rtop + rh : r_out.back()) + 10;
  Rect cbox{cx, ctop, cw, cbot - ctop};
  s.local.boxes.push_back({cbox, BoxKind::combine, path, "combine", csub, false});
  box_text(s.local, cbox, "combine", csub, false);

  // Wires inside the layer.
  for (size_t j = 0; j < e_in.size(); ++j) {
    s.local.wires.push_back({line({0, e_in[j]}, {left, e_in[j]}), "", "", "", path, int(j)});
    if (j < r_in.size()) {
      auto w = line({0, e_in[j]}, {pad, e_in[j]});
      auto cv = s_curve({pad, e_in[j]}, {left, r_in[j]});
      w.insert(w.end(), cv.begin() + 1, cv.end());
      s.local.wires.push_back({w, "", "", "", path, int(j)});
    }
  }
  for (size_t j = 0; j < e_out.size(); ++j) s.local.wires.push_back({line({left + ew, e_out[j]}, {cx, e_out[j]}), "", "", "", path, int(j)});
  for (size_t j = 0; j < r_out.size(); ++j) {
    WireItem w{line({left + rw, r_out[j]}, {cx, r_out[j]}), "", "", "", path, int(j)};
    w.label = j < gates.axes.size() ? axis_label(gates.axes[j]) : "?";
    w.label_at = {col_r + 4, r_out[j] - 3};
    w.show_label = true;
    s.local.wires.push_back(w);
  }

  double w = std::max(cx + cw + pad, text_width(label, S::sub_size, true) + 2 * pad + badge_w);
  s.l.w = w, s.l.h = rtop + rh + pad;
  s.l.in_y = {e_in}, s.l.out_y = {e_out};
  s.in_x = {std::vector<double>(e_in.size(), 0)};
  s.out_x = {std::vector<double>(e_out.size(), cx + cw)};
  s.local.fences.insert(s.local.fences.begin(), FenceItem{{0, 0, w, s.l.h}, path, label});
  s.local.texts.push_back({{6, 11}, label, S::sub_size, true});
  if (ann) add_badge(s.local, *ann, w - 6 - (badge_w - 6) / 2, 2, path);
  set_outputs(s, {y});
  return s;
}

// An op opened to its parts (OpDef::parts): the parts drawn as a graph of their own inside a fence
// labelled with the node. The parts are not nodes of the circuit, so every item they draw belongs
// to the op's node: clicking any part selects the op, double-clicking closes it again.
NodeShape parts_shape(const Node& n, const std::vector<OpPart>& parts, const TensorType& x, const std::vector<TensorType>& out,
                      const std::string& path, Context& ctx) {
  // The op's input under a name no part can have (Mamba's parts include an `x`).
  const std::string in = "(in)";
  Graph g;
  g.nodes.push_back(Node{in, "input", {}, {}, {}});
  for (auto& p : parts) {
    Node m{p.name, std::string(kPartOp), {}, {}, {}};
    for (int f : p.from) m.inputs.push_back(PortRef{f < 0 ? in : parts[size_t(f)].name, 0});
    m.attrs["title"] = p.title, m.attrs["what"] = p.what, m.attrs["learned"] = p.params > 0;
    if (!p.consumes.empty()) m.attrs["consumes"] = p.consumes;
    g.nodes.push_back(std::move(m));
  }
  g.outputs = {PortRef{parts.back().name, 0}};
  GraphAnalysis a = wire_up(g);
  a.nodes[0].outputs = {x};
  for (size_t k = 0; k < parts.size(); ++k) a.nodes[k + 1].outputs = {parts[k].out}, a.nodes[k + 1].cost.params = parts[k].params;
  a.outputs = {parts.back().out};
  GraphDrawing sub = draw_graph(g, a, path + "/", true, ctx);
  for (auto& b : sub.scene.boxes) b.node = path;
  for (auto& w : sub.scene.wires) w.node = path, w.edge.clear(), w.from.clear(), w.to.clear();  // internal wires, as an MoE layer's
  for (auto& b : sub.scene.badges) b.node = path;
  return fenced(std::move(sub), n.name + " · " + pretty(n.op), out, path, ctx);
}

// One part's box: its own title and line, bold when it holds parameters. As for an op's box, the
// axes it maps over pass by it, and an elementwise part (same type out, acting on no named axis)
// takes every wire.
NodeShape part_box(const Node& n, const NodeInfo& info, const std::vector<TensorType>& in, const std::string& path, Context& ctx) {
  auto text = [&](const char* k) {
    auto it = n.attrs.find(k);
    return it == n.attrs.end() ? std::string() : std::get<std::string>(it->second);
  };
  BoxSpec spec{BoxKind::op, text("title"), text("what"), std::get<bool>(n.attrs.at("learned"))};
  if (in.size() == 1 && info.outputs.size() == 1) {
    auto it = n.attrs.find("consumes");
    std::vector<std::string> acts = it == n.attrs.end() ? std::vector<std::string>{} : std::get<std::vector<std::string>>(it->second);
    if (!acts.empty() || !(in[0] == info.outputs[0])) std::tie(spec.lead, spec.trail) = pass_by(in[0], info.outputs[0], acts);
  }
  return op_box(spec, in, info.outputs, info, path, ctx);
}

}  // namespace

NodeShape port_shape(const TensorType& t, const std::string& path, const std::string& label, bool is_input, bool body) {
  NodeShape s;
  std::vector<double> ys;
  for (int k = 0; k < rank_of(t); ++k) ys.push_back((k + 0.5) * S::wire_gap);
  s.l.h = rank_of(t) * S::wire_gap;
  if (!body) s.l.w = text_width(label, S::title_size) + 10;
  if (is_input) {
    s.l.out_y = {ys}, s.out_x = {std::vector<double>(ys.size(), s.l.w)};
    set_outputs(s, {t});
  } else {
    s.l.in_y = {ys}, s.in_x = {std::vector<double>(ys.size(), 0)};
    s.l.last_layer = body;
  }
  if (!body) {
    s.local.boxes.push_back({{0, 0, s.l.w, s.l.h}, is_input ? BoxKind::input : BoxKind::output, path, label, ""});
    s.local.texts.push_back({{is_input ? s.l.w - 5 : 5, s.l.h / 2 + 3}, label, S::title_size, false,
                             is_input ? Align::right : Align::left});
  }
  return s;
}

NodeShape shape_of(const Node& n, const NodeInfo& info, const std::vector<TensorType>& in, const std::string& path,
                   Context& ctx) {
  const OpDef* def = find_op(n.op);
  std::vector<TensorType> out = info.outputs;
  if (out.empty()) out.resize(1);  // unknown: one "?" wire
  // A part (only parts_shape makes these with a clean analysis; a file naming this op fails as unknown).
  if (!def && n.op == kPartOp && info.ok()) return part_box(n, info, in, path, ctx);
  if (!def) return op_box({BoxKind::op, n.name, n.op}, in, out, info, path, ctx);
  bool ok = info.ok();
  if (ok && def->category == circuit::OpCategory::shape) return junction(n, in, out, path);
  if (ok && def->contraction && out.size() == 1)
    if (auto eq = def->contraction(OpCall{n, *def, in, ctx.bindings})) return contraction(n, *eq, in, out, path);
  if (def && def->category == circuit::OpCategory::block) {
    if (ok && n.body && info.body && ctx.opts.expand.open(path)) {
      GraphDrawing sub = draw_graph(*n.body, *info.body, path + "/", true, ctx);
      return fenced(std::move(sub), n.name + " · block", out, path, ctx);
    }
    int count = 0;
    if (n.body)
      for (auto& m : n.body->nodes) count += !m.is_input();
    return op_box({BoxKind::block, n.name, "block · " + std::to_string(count) + " ops", n.body && body_learned(*n.body)}, in,
                  out, info, path, ctx);
  }
  if (def && def->category == circuit::OpCategory::moe && ok && in.size() == 1) return moe_shape(n, info, in[0], out[0], path, ctx.opts.expand.open(path), ctx);
  if (ok && def->parts && in.size() == 1 && out.size() == 1 && ctx.opts.expand.open_parts(path)) {
    OpCall c{n, *def, in, ctx.bindings};
    if (auto parts = def->parts(c); !parts.empty()) return parts_shape(n, parts, in[0], out, path, ctx);
  }
  BoxSpec spec{BoxKind::op, n.name, ok ? summary(n, *def, in, ctx.bindings) : pretty(n.op), def->learned};
  if (ok && def->consumes && in.size() == 1 && out.size() == 1) {
    OpCall c{n, *def, in, ctx.bindings, info.body.get()};
    auto consumed = def->consumes(c);
    if (!consumed.empty()) std::tie(spec.lead, spec.trail) = pass_by(in[0], out[0], consumed[0]);
  }
  return op_box(spec, in, out, info, path, ctx);
}

}  // namespace circuit::diagram::detail
