// Golden structural tests of the scene for every example circuit: what is drawn (boxes, wires,
// labels, bold) and how (nothing overlaps, no wire runs through a box it does not enter).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <functional>
#include <map>
#include <regex>
#include <set>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "circuit/einsum.h"
#include "circuit/op.h"
#include "diagram/diagram.h"
#include "diagram/render.h"
#include "scene_checks.h"
#include "../example_files.h"

namespace circuit::diagram {
namespace {

using test::colliding_labels;
using test::overlapping_boxes;
using test::wires_through_boxes;


Circuit load(const std::string& file) {
  auto c = load_circuit(CIRCUIT_SOURCE_DIR "/resources/examples/" + file);
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? *c : Circuit{};
}

bool any_learned(const Graph& g) {
  for (auto& n : g.nodes)
    if ((find_op(n.op) && find_op(n.op)->learned) || (n.body && any_learned(*n.body))) return true;
  return false;
}

// Boxes the notation asks for, counted from the circuit alone.
int contracted_names(const Node& n) {
  auto e = parse_einsum(std::get<std::string>(n.attrs.at("equation")));
  std::set<std::string> names;
  for (auto& t : e->inputs)
    for (auto& x : t)
      if (e->contracted(x)) names.insert(x);
  return int(names.size());
}

// The parts node `i` of `g` is drawn open to (OpDef::parts), from its input types in `a`.
std::vector<OpPart> parts_of(const Graph& g, const GraphAnalysis& a, size_t i, const Bindings& b) {
  const Node& n = g.nodes[i];
  std::vector<TensorType> in;
  for (auto [src, port] : a.sources[i]) in.push_back(a.nodes[size_t(src)].outputs[size_t(port)]);
  OpCall c{n, *find_op(n.op), in, b};
  return c.def.parts(c);
}

bool has_parts(const Node& n) {
  const OpDef* d = find_op(n.op);
  return (d && d->parts) || (n.body && std::any_of(n.body->nodes.begin(), n.body->nodes.end(), has_parts));
}

int expected_boxes(const Graph& g, const GraphAnalysis& a, const Bindings& b, const std::string& prefix, bool top, const Expansion& ex) {
  int k = top ? int(g.outputs.size()) : 0;
  for (size_t i = 0; i < g.nodes.size(); ++i) {
    const Node& n = g.nodes[i];
    std::string path = prefix + n.name;
    const OpDef* def = find_op(n.op);
    if (n.op == "input") k += top;
    else if (def && def->parts && ex.open_parts(path)) k += int(parts_of(g, a, i, b).size());
    else if (n.op == "block") k += ex.open(path) ? expected_boxes(*n.body, *a.nodes[i].body, b, path + "/", false, ex) : 1;
    else if (n.op == "moe") k += 2 + (ex.open(path) ? expected_boxes(*n.body, *a.nodes[i].body, b, path + "/", false, ex) : 1);
    else if (n.op == "einsum") k += 1 + contracted_names(n);  // a dot per contracted axis
    else k += 1;
  }
  return k;
}

struct Case {
  std::string file;
  Expansion::Mode mode;
  bool parts = false;  // every mixer drawn open to its parts
};

// The graph level holding the node at `path`, its analysis and the node's index there.
struct Level {
  const Graph* g = nullptr;
  const GraphAnalysis* a = nullptr;
  size_t i = 0;
};
Level level_of(const Graph& g, const GraphAnalysis& a, const std::string& path) {
  auto slash = path.find('/');
  int i = g.find(path.substr(0, slash));
  if (i < 0) return {};
  if (slash == std::string::npos) return {&g, &a, size_t(i)};
  const Node& n = g.nodes[size_t(i)];
  if (!n.body || !a.nodes[size_t(i)].body) return {};
  return level_of(*n.body, *a.nodes[size_t(i)].body, path.substr(slash + 1));
}

// The analysis of the node at `path`, walking through bodies.
const NodeInfo* info_at(const Graph& g, const GraphAnalysis& a, const std::string& path) {
  Level l = level_of(g, a, path);
  return l.a ? &l.a->nodes[l.i] : nullptr;
}

class ExampleScene : public ::testing::TestWithParam<Case> {};

TEST_P(ExampleScene, IsStructurallySound) {
  Circuit c = load(GetParam().file);
  GraphAnalysis a = analyze(c);
  ASSERT_TRUE(a.ok());
  DiagramOptions opts;
  opts.expand.mode = GetParam().mode;
  opts.expand.all_parts = GetParam().parts;
  Scene s = build_scene(c, a, opts);
  Bindings bind = cost_bindings(c);

  // Count of boxes.
  EXPECT_EQ(int(s.boxes.size()), expected_boxes(c.graph, a, bind, "", true, opts.expand));

  // Wires per tensor = number of axes, each labelled with its axis; each tensor labelled once.
  std::map<std::string, std::set<int>> axes_of_edge;
  std::map<std::string, const WireItem*> any_wire;
  std::set<std::string> labelled_sources;
  for (auto& w : s.wires) {
    if (w.edge.empty()) continue;
    axes_of_edge[w.edge].insert(w.axis);
    any_wire[w.edge] = &w;
    std::string port = w.edge.substr(0, w.edge.find('>'));
    if (w.show_label) labelled_sources.insert(port);
  }
  ASSERT_FALSE(axes_of_edge.empty());
  for (auto& [edge, axes] : axes_of_edge) {
    const WireItem& w = *any_wire[edge];
    std::string port = edge.substr(0, edge.find('>'));
    int p = std::stoi(port.substr(port.rfind(':') + 1));
    const NodeInfo* info = info_at(c.graph, a, w.from);
    ASSERT_NE(info, nullptr) << w.from;
    const TensorType& t = info->outputs[size_t(p)];
    EXPECT_EQ(axes.size(), t.rank()) << edge;
    EXPECT_TRUE(labelled_sources.count(port)) << "no label on " << edge;
  }
  for (auto& w : s.wires)
    if (!w.edge.empty()) {
      std::string port = w.edge.substr(0, w.edge.find('>'));
      const TensorType& t = info_at(c.graph, a, w.from)->outputs[size_t(std::stoi(port.substr(port.rfind(':') + 1)))];
      EXPECT_EQ(w.label, axis_label(t.axes[size_t(w.axis)])) << w.edge;
    }
  // Every connection at the top level is drawn.
  size_t top_edges = c.graph.outputs.size();
  for (auto& n : c.graph.nodes) top_edges += n.inputs.size();
  size_t drawn_top = 0;
  for (auto& [edge, axes] : axes_of_edge) drawn_top += edge.substr(0, edge.find('>')).find('/') == std::string::npos;
  EXPECT_EQ(drawn_top, top_edges);

  // Bold exactly on learned ops.
  int bold = 0;
  for (auto& b : s.boxes) {
    bool want = false;
    const NodeInfo* info = info_at(c.graph, a, b.node);
    const OpDef* def = b.kind == BoxKind::op ? find_op(locate(c.graph, b.node).node()->op) : nullptr;
    if (def && def->parts && opts.expand.open_parts(b.node)) {
      // A part's box: bold when the part holds parameters.
      Level l = level_of(c.graph, a, b.node);
      auto parts = parts_of(*l.g, *l.a, l.i, bind);
      auto p = std::find_if(parts.begin(), parts.end(), [&](auto& q) { return q.title == b.title; });
      ASSERT_NE(p, parts.end()) << b.node << ": no part titled " << b.title;
      want = p->params > 0;
    } else if (b.kind == BoxKind::op) {
      want = def->learned;
    }
    else if (b.kind == BoxKind::block) want = any_learned(*locate(c.graph, b.node).node()->body);
    else if (b.kind == BoxKind::router || b.kind == BoxKind::experts) want = true;
    EXPECT_EQ(b.bold, want) << b.node << " " << b.title;
    EXPECT_FALSE(b.error) << b.node;
    if (b.kind != BoxKind::input && b.kind != BoxKind::output) {
      EXPECT_NE(info, nullptr) << b.node;
    }
    bold += b.bold;
  }
  EXPECT_GT(bold, 0);

  // Nothing a reader would stumble over.
  for (auto& m : overlapping_boxes(s)) ADD_FAILURE() << m;
  for (auto& m : wires_through_boxes(s)) ADD_FAILURE() << m;
  for (auto& m : colliding_labels(s)) ADD_FAILURE() << m;
  for (auto& b : s.boxes) {
    EXPECT_GE(b.r.x, 0);
    EXPECT_LE(b.r.right(), s.width);
    EXPECT_LE(b.r.bottom(), s.height);
  }
}

std::vector<Case> cases() {
  std::vector<Case> v;
  for (auto& f : example_files()) {
    v.push_back({f, Expansion::Mode::all}), v.push_back({f, Expansion::Mode::none});
    Circuit c = load(f);
    if (std::any_of(c.graph.nodes.begin(), c.graph.nodes.end(), has_parts)) v.push_back({f, Expansion::Mode::all, true});
  }
  return v;
}

INSTANTIATE_TEST_SUITE_P(Examples, ExampleScene, ::testing::ValuesIn(cases()), [](const auto& info) {
  std::string n = info.param.file.substr(0, info.param.file.find('.'));
  return n + (info.param.parts ? "_parts" : info.param.mode == Expansion::Mode::all ? "_open" : "_collapsed");
});

const BoxItem* box(const Scene& s, const std::string& node, BoxKind kind) {
  for (auto& b : s.boxes)
    if (b.node == node && b.kind == kind) return &b;
  return nullptr;
}

TEST(Scene, MappedOverAxesPassByTheBox) {
  Circuit c = load("transformer_block.circuit.json");
  Scene s = build_scene(c, analyze(c));
  // layer_norm acts on d_model: batch and seq pass by, only one wire enters the box.
  int pass = 0, enter = 0;
  for (auto& w : s.wires) pass += w.node == "ln1" && w.edge.empty(), enter += w.to == "ln1";
  EXPECT_EQ(pass, 2);
  EXPECT_EQ(enter, 3);  // the wires end at the column edge or the box
  const BoxItem* ln1 = box(s, "ln1", BoxKind::op);
  ASSERT_NE(ln1, nullptr);
  int inside = 0;
  for (auto& w : s.wires)
    if (w.to == "ln1" && w.pts.back().x >= ln1->r.x - 0.01 && w.pts.back().y > ln1->r.y && w.pts.back().y < ln1->r.bottom()) ++inside;
  EXPECT_EQ(inside, 1);
}

TEST(Scene, ResidualSkipBundleRejoins) {
  Circuit c = load("transformer_block.circuit.json");
  Scene s = build_scene(c, analyze(c));
  int skip = 0;
  for (auto& w : s.wires)
    if (w.from == "x" && w.to == "res1") ++skip;
  EXPECT_EQ(skip, 3);
  // The add box takes two bundles, separated by a dashed tuple line.
  const BoxItem* add = box(s, "res1", BoxKind::op);
  ASSERT_NE(add, nullptr);
  bool sep = false;
  for (auto& sp : s.separators) sep |= sp.a.y > add->r.y && sp.a.y < add->r.bottom() && sp.b.x <= add->r.x + 0.01;
  EXPECT_TRUE(sep);
}

TEST(Scene, BlocksCollapseToOneBox) {
  Circuit c = load("transformer_block.circuit.json");
  GraphAnalysis a = analyze(c);
  DiagramOptions open, closed;
  closed.expand.mode = Expansion::Mode::none;
  Scene so = build_scene(c, a, open), sc = build_scene(c, a, closed);
  EXPECT_EQ(box(sc, "ffn", BoxKind::block) != nullptr, true);
  EXPECT_EQ(box(so, "ffn", BoxKind::block), nullptr);
  EXPECT_NE(box(so, "ffn/up", BoxKind::op), nullptr);
  EXPECT_TRUE(std::any_of(so.fences.begin(), so.fences.end(), [](auto& f) { return f.node == "ffn"; }));
  EXPECT_LT(sc.width, so.width);
  DiagramOptions listed;
  listed.expand = {Expansion::Mode::listed, {"ffn"}};
  EXPECT_NE(box(build_scene(c, a, listed), "ffn/up", BoxKind::op), nullptr);
}

TEST(Scene, MixersOpenToTheirPartsWhenNamed) {
  Circuit c = load("mamba2_hybrid.circuit.json");
  GraphAnalysis a = analyze(c);
  ASSERT_TRUE(a.ok());
  // The first mamba2 node, wherever it sits.
  std::string mixer;
  std::function<void(const Graph&, const std::string&)> find = [&](const Graph& g, const std::string& prefix) {
    for (auto& n : g.nodes) {
      if (mixer.empty() && n.op == "mamba2") mixer = prefix + n.name;
      if (n.body) find(*n.body, prefix + n.name + "/");
    }
  };
  find(c.graph, "");
  ASSERT_FALSE(mixer.empty());
  auto boxes_of = [&](const Scene& s) {
    std::vector<const BoxItem*> r;
    for (auto& b : s.boxes)
      if (b.node == mixer) r.push_back(&b);
    return r;
  };
  // Blocks open, mixers closed by default: one bold box.
  Scene closed = build_scene(c, a);
  ASSERT_EQ(boxes_of(closed).size(), 1u);
  EXPECT_TRUE(boxes_of(closed)[0]->bold);
  // Named: a fence around its parts, the SSD state among them and not bold, the projections bold.
  DiagramOptions o;
  o.expand.parts = {mixer};
  Scene open = build_scene(c, a, o);
  auto parts = boxes_of(open);
  EXPECT_EQ(parts.size(), 9u);  // z, x B C, dt, conv, decay, SSD, D skip, gated norm, out
  auto titled = [&](const std::string& t) -> const BoxItem* {
    for (auto* b : parts)
      if (b->title == t) return b;
    return nullptr;
  };
  ASSERT_NE(titled("SSD"), nullptr);
  EXPECT_FALSE(titled("SSD")->bold);
  ASSERT_NE(titled("x B C"), nullptr);
  EXPECT_TRUE(titled("x B C")->bold);
  EXPECT_TRUE(std::any_of(open.fences.begin(), open.fences.end(), [&](auto& f) { return f.node == mixer && f.label.find("mamba2") != std::string::npos; }));
  EXPECT_GT(open.width, closed.width);
  // Head and state wires are labelled inside.
  EXPECT_TRUE(std::any_of(open.wires.begin(), open.wires.end(), [&](auto& w) { return w.node == mixer && w.show_label && w.label.rfind("head ", 0) == 0; }));
  // Other mixers stay closed; `all_parts` opens them all.
  auto mixer_fences = [&](const Scene& s) {
    int k = 0;
    for (auto& f : s.fences) {
      const Node* n = locate(c.graph, f.node).node();  // null for an MoE layer's experts fence
      k += n && find_op(n->op)->parts != nullptr;
    }
    return k;
  };
  int open_fences = mixer_fences(open);
  o.expand.all_parts = true;
  int all_fences = mixer_fences(build_scene(c, a, o));
  EXPECT_EQ(open_fences, 1);
  EXPECT_GT(all_fences, 1);
  // A listed path opens the mixer too (the CLI's --expand PATH).
  Expansion listed;
  EXPECT_EQ(listed.add(mixer), "");
  EXPECT_TRUE(listed.open_parts(mixer));
  EXPECT_NE(listed.add("blk/"), "");
}

TEST(Scene, MoeIsRouterStackedExpertsAndCombine) {
  Circuit c = load("moe_transformer_block.circuit.json");
  GraphAnalysis a = analyze(c);
  for (auto mode : {Expansion::Mode::all, Expansion::Mode::none}) {
    DiagramOptions o;
    o.expand.mode = mode;
    Scene s = build_scene(c, a, o);
    const BoxItem* router = box(s, "moe", BoxKind::router);
    const BoxItem* combine = box(s, "moe", BoxKind::combine);
    ASSERT_TRUE(router && combine);
    EXPECT_LT(router->r.right(), combine->r.x);
    bool count_visible = std::any_of(s.texts.begin(), s.texts.end(), [](auto& t) { return t.text.find("8 experts") != std::string::npos; });
    EXPECT_TRUE(count_visible);
    int stack = 0;
    for (auto& f : s.fences) stack = std::max(stack, f.stack);
    for (auto& b : s.boxes) stack = std::max(stack, b.stack);
    EXPECT_GE(stack, 2);
    bool gates = std::any_of(s.wires.begin(), s.wires.end(), [](auto& w) { return w.show_label && w.label == "experts 8"; });
    EXPECT_TRUE(gates);
  }
}

TEST(Scene, ExitHeadsBranchBelowTheMainFlow) {
  Circuit c = load("early_exit.circuit.json");
  Scene s = build_scene(c, analyze(c));
  for (auto [head, main] : {std::pair{"exit1", "conv2"}, {"exit2", "conv3"}}) {
    const BoxItem *h = box(s, head, BoxKind::op), *m = box(s, main, BoxKind::op);
    ASSERT_TRUE(h && m);
    EXPECT_GT(h->r.y, m->r.bottom()) << head;
  }
}

TEST(Scene, ReshapesAreJunctionsWhereWiresRegroup) {
  Circuit c = load("hybrid_conv_attention.circuit.json");
  Scene s = build_scene(c, analyze(c));
  const BoxItem* tr = box(s, "to_tokens", BoxKind::junction);
  const BoxItem* fl = box(s, "tokens", BoxKind::junction);
  ASSERT_TRUE(tr && fl);
  int inside_tr = 0, inside_fl = 0;
  for (auto& w : s.wires) inside_tr += w.node == "to_tokens", inside_fl += w.node == "tokens";
  EXPECT_EQ(inside_tr, 4);  // a transpose: every axis crosses to its new place
  EXPECT_EQ(inside_fl, 4);  // batch, channels go straight; height and width join into tokens
}

TEST(Scene, InvalidCircuitRendersWithTheFailingNodeMarked) {
  auto c = load_circuit(CIRCUIT_SOURCE_DIR "/tests/data/broken/shape_mismatch.circuit.json");
  ASSERT_TRUE(c.ok());
  GraphAnalysis a = analyze(*c);
  ASSERT_FALSE(a.ok());
  Scene s = build_scene(*c, a);
  const BoxItem* bad = box(s, "ffn2", BoxKind::op);
  ASSERT_NE(bad, nullptr);
  EXPECT_TRUE(bad->error);
  EXPECT_EQ(bad->marker, 1);
  int errors = 0;
  for (auto& b : s.boxes) errors += b.error;
  EXPECT_EQ(errors, 1);
  bool message = std::any_of(s.texts.begin(), s.texts.end(), [](auto& t) {
    return t.error && t.text.find("ffn2") != std::string::npos && t.text.find("expected axis `d_model`=256") != std::string::npos;
  });
  EXPECT_TRUE(message);
  for (auto& m : overlapping_boxes(s)) ADD_FAILURE() << m;
  for (auto& m : wires_through_boxes(s)) ADD_FAILURE() << m;
}

TEST(Scene, MemoryOverlayShowsWhatEachLayerKeepsAtInference) {
  // Qwen3-Next shrunk: Gated DeltaNet layers keep a state, the attention layer a cache that grows
  // with the context; the badges are the bf16 bytes at the circuit's context.
  Circuit c = load("qwen3_next_hybrid_small.circuit.json");
  GraphAnalysis a = analyze(c);
  auto o = cost_overlay(c, a, "memory");
  ASSERT_TRUE(o.count("layer0") && o.count("layer3"));
  int64_t ctx = inference_context(c);
  EXPECT_EQ(ctx, c.symbols.at("context"));
  const Cost& attn = a.nodes[size_t(c.graph.find("layer3"))].cost;
  EXPECT_EQ(attn.inference.state, 0);
  EXPECT_GT(attn.inference.per_token, 0);
  EXPECT_EQ(o["layer3"].heat, 1.0) << "at a long context the cache outgrows the recurrent state";
  EXPECT_NE(o["layer3"].text.find("iB"), std::string::npos) << o["layer3"].text;
  EXPECT_FALSE(o.count("embed")) << "nothing kept, no badge";
}

TEST(Scene, OverlayBadgesSitOverTheirNodes) {
  Circuit c = load("mlp.circuit.json");
  GraphAnalysis a = analyze(c);
  DiagramOptions o;
  o.overlay = cost_overlay(c, a, "params");
  o.overlay["act1"] = {"12% latency", 0.12};
  Scene s = build_scene(c, a, o);
  auto find = [&](const std::string& node) {
    return std::find_if(s.badges.begin(), s.badges.end(), [&](auto& b) { return b.node == node; });
  };
  ASSERT_NE(find("fc1"), s.badges.end());
  EXPECT_EQ(find("fc1")->text, "201K params");
  EXPECT_DOUBLE_EQ(find("fc1")->heat, 1.0);
  ASSERT_NE(find("act1"), s.badges.end());
  EXPECT_EQ(find("act1")->text, "12% latency");
  EXPECT_EQ(find("flat"), s.badges.end());  // no parameters, no badge
  const BoxItem* fc1 = box(s, "fc1", BoxKind::op);
  EXPECT_LE(find("fc1")->r.bottom(), fc1->r.y);
  for (auto& b : s.badges)
    for (auto& x : s.boxes)
      if (x.kind != BoxKind::junction) {
        EXPECT_FALSE(b.r.overlaps(x.r)) << b.node << " badge over " << x.node;
      }
}

// Expert load as heat squares in the MoE node's badge: the badge widens by one square per value,
// and every renderer draws them (one filled rectangle each in the SVG).
TEST(Scene, BadgeCellsWidenTheBadgeAndAreRendered) {
  Circuit c = load("moe_mlp.circuit.json");
  GraphAnalysis a = analyze(c);
  DiagramOptions o;
  o.overlay["moe"] = {"MaxVio 0.40", 0.2};
  Scene plain = build_scene(c, a, o);
  o.overlay["moe"].cells = {0.1, 0.9, 0.5, 0.5};
  Scene with = build_scene(c, a, o);
  ASSERT_EQ(plain.badges.size(), 1u);
  ASSERT_EQ(with.badges.size(), 1u);
  EXPECT_EQ(with.badges[0].cells.size(), 4u);
  EXPECT_NEAR(with.badges[0].r.w - plain.badges[0].r.w, 3 + 4 * kBadgeCell, 1e-9);
  auto svg_plain = render(plain, Format::svg), svg_with = render(with, Format::svg);
  ASSERT_TRUE(svg_plain && svg_with);
  auto count = [](const std::string& text, const std::string& what) {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  };
  EXPECT_GE(count(*svg_with, "<path") , count(*svg_plain, "<path") + 4);
}

// The studio's folding: a closed block hides what is inside it, a mixer opens to its parts, and a
// plain op has neither, so toggling it changes nothing.
TEST(Folding, TogglesBlocksAndMixers) {
  Circuit c = load("gated_deltanet_hybrid.circuit.json");
  Folding f;
  EXPECT_EQ(f.expansion(c.graph).mode, Expansion::Mode::all);
  EXPECT_TRUE(f.toggle(c.graph, "moe"));
  Expansion e = f.expansion(c.graph);
  EXPECT_FALSE(e.open("moe"));
  EXPECT_TRUE(f.toggle(c.graph, "delta1"));
  EXPECT_TRUE(f.expansion(c.graph).open_parts("delta1"));
  EXPECT_FALSE(f.expansion(c.graph).open_parts("delta2"));
  EXPECT_FALSE(f.toggle(c.graph, "delta1_norm"));
  EXPECT_FALSE(f.toggle(c.graph, "no_such_node"));
  EXPECT_TRUE(f.toggle(c.graph, "moe"));
  EXPECT_TRUE(f.expansion(c.graph).open("moe"));

  f.open_all_mixers(c.graph);
  EXPECT_EQ(f.parts, (std::set<std::string>{"delta1", "delta2", "swa"}));
  f.close_all_blocks(c.graph);
  EXPECT_EQ(f.closed, (std::set<std::string>{"moe"}));
  EXPECT_TRUE(f.parts.empty());
  // Drawn: the closed MoE has fewer boxes than the open one.
  DiagramOptions open, closed;
  closed.expand = f.expansion(c.graph);
  auto a = analyze(c);
  EXPECT_LT(build_scene(c, a, closed).boxes.size(), build_scene(c, a, open).boxes.size());
}

}  // namespace
}  // namespace circuit::diagram

namespace circuit::diagram {
namespace {

// The diff drawing: B with A's removed nodes put back, each marked, with a badge saying what
// changed; the SVG carries the marks' colours.
TEST(DiffScene, MarksAddedRemovedAndChangedNodes) {
  Circuit a = load("moe_mlp.circuit.json");
  auto b = load_circuit(CIRCUIT_SOURCE_DIR "/tests/data/diff/moe_mlp_wider.circuit.json");
  ASSERT_TRUE(b) << b.error().message;
  auto marks = [](const Scene& s) {
    std::map<std::string, Change> m;
    for (auto& box : s.boxes)
      if (box.change != Change::none) m[box.node] = box.change;
    return m;
  };
  Scene forward = diff_scene(a, *b, diff(a, *b));
  std::map<std::string, Change> m = marks(forward);
  EXPECT_EQ(m["norm"], Change::added);
  EXPECT_EQ(m["moe"], Change::changed);
  EXPECT_EQ(m["moe/up"], Change::changed);
  EXPECT_EQ(m["logits"], Change::changed);
  EXPECT_EQ(m.count("fc"), 0u) << "fc is the same in both";
  EXPECT_EQ(m.count("moe/down"), 0u);
  bool badge = false;
  for (auto& t : forward.badges) badge |= t.text == "experts 8 → 16 (+1)";
  EXPECT_TRUE(badge) << "the moe node's badge names its first changed attribute and how many more";
  for (auto& msg : overlapping_boxes(forward)) ADD_FAILURE() << msg;
  // The other way round, norm is removed and still drawn, from the union.
  Scene back = diff_scene(*b, a, diff(*b, a));
  EXPECT_EQ(marks(back)["norm"], Change::removed);
  auto svg = render(back, Format::svg);
  ASSERT_TRUE(svg) << svg.error().message;
  // Cairo 1.16 (Debian 12) writes style="stroke:rgb(75%,20%,20%)", 1.18 (Debian 13) stroke="rgb(75%, 20%, 20%)".
  EXPECT_TRUE(std::regex_search(*svg, std::regex(R"(stroke(:|=")rgb\(75%, ?20%, ?20%\))")))
      << "the removed node's outline colour";
}

}  // namespace
}  // namespace circuit::diagram
