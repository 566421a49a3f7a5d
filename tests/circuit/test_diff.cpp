// circuit::diff: nodes matched by path through bodies, effective attribute values, the cost
// model's deltas, and the union a diff drawing draws.
#include <algorithm>

#include "circuit/diff.h"
#include "helpers.h"

namespace circuit::test {
namespace {

Circuit example(const std::string& file) {
  auto c = load_circuit(std::string(CIRCUIT_SOURCE_DIR) + "/" + file);
  EXPECT_TRUE(c) << c.error().message;
  return *c;
}

const NodeDelta* find(const CircuitDiff& d, const std::string& path) {
  auto it = std::find_if(d.nodes.begin(), d.nodes.end(), [&](const NodeDelta& n) { return n.path == path; });
  return it == d.nodes.end() ? nullptr : &*it;
}

Circuit mlp(int64_t hidden, bool norm) {
  Circuit c;
  c.name = "mlp";
  std::vector<Node> nodes = {In("x", T({"batch", "f:32"})), N("fc1", "linear", {"x"}, {{"out", hidden}, {"out_axis", std::string("h")}}),
                             N("act", "gelu", {"fc1"})};
  std::string last = "act";
  if (norm) nodes.push_back(N("norm", "layer_norm", {"act"})), last = "norm";
  nodes.push_back(N("fc2", "linear", {last}, {{"out", int64_t(10)}, {"out_axis", std::string("class")}}));
  c.graph = G(nodes, {"fc2"});
  return c;
}

TEST(Diff, TheSameCircuitHasNoDifferences) {
  Circuit a = example("resources/examples/moe_transformer_block.circuit.json");
  CircuitDiff d = diff(a, a);
  EXPECT_TRUE(d.same());
  EXPECT_NE(diff_text(d, "a", "b").find("no differences"), std::string::npos);
  // Setting an attribute to its default is not a difference: values compare as the op reads them.
  Circuit b = mlp(64, false), c = b;
  c.graph.node("fc2")->attrs["bias"] = true;  // linear's default
  EXPECT_TRUE(diff(b, c).same()) << diff_text(diff(b, c), "b", "c");
  c.graph.node("fc2")->attrs["bias"] = false;
  CircuitDiff off = diff(b, c);
  ASSERT_EQ(off.nodes.size(), 1u);
  ASSERT_EQ(off.nodes[0].attrs.size(), 1u);
  EXPECT_EQ(off.nodes[0].attrs[0].before, "true");
  EXPECT_EQ(off.nodes[0].attrs[0].after, "false");
  EXPECT_EQ(off.total_before.params - off.total_after.params, 10) << "the bias of 10 classes";
}

TEST(Diff, NamesAddedRemovedAndChangedNodesWithTheirCosts) {
  Circuit a = mlp(64, false), b = mlp(128, true);
  CircuitDiff d = diff(a, b);
  ASSERT_EQ(d.count(NodeDelta::Kind::added), 1) << diff_text(d, "a", "b");
  EXPECT_EQ(d.count(NodeDelta::Kind::removed), 0);
  const NodeDelta* fc1 = find(d, "fc1");
  ASSERT_NE(fc1, nullptr);
  EXPECT_EQ(fc1->kind, NodeDelta::Kind::changed);
  ASSERT_EQ(fc1->attrs.size(), 1u);
  EXPECT_EQ(fc1->attrs[0].name, "out");
  EXPECT_EQ(fc1->attrs[0].before, "64");
  EXPECT_EQ(fc1->attrs[0].after, "128");
  EXPECT_EQ(fc1->cost_before.params, 32 * 64 + 64);
  EXPECT_EQ(fc1->cost_after.params, 32 * 128 + 128);
  EXPECT_EQ(fc1->type_after, "[batch, h=128]");
  const NodeDelta* norm = find(d, "norm");
  ASSERT_NE(norm, nullptr);
  EXPECT_EQ(norm->kind, NodeDelta::Kind::added);
  EXPECT_EQ(norm->inputs_after, std::vector<std::string>{"act"});
  const NodeDelta* fc2 = find(d, "fc2");
  ASSERT_NE(fc2, nullptr);
  EXPECT_EQ(fc2->inputs_before, std::vector<std::string>{"act"});
  EXPECT_EQ(fc2->inputs_after, std::vector<std::string>{"norm"});
  // The order is B's: fc1, act (its output type changed), norm, fc2.
  std::vector<std::string> order;
  for (auto& n : d.nodes) order.push_back(n.path);
  EXPECT_EQ(order, (std::vector<std::string>{"fc1", "act", "norm", "fc2"}));
  // Totals are the two analyses' totals.
  EXPECT_EQ(d.total_before.params, analyze(a).total.params);
  EXPECT_EQ(d.total_after.params, analyze(b).total.params);
  // The other way round, the added node is removed, and it goes back after `act` in the union.
  CircuitDiff r = diff(b, a);
  EXPECT_EQ(r.count(NodeDelta::Kind::removed), 1);
  EXPECT_EQ(r.count(NodeDelta::Kind::added), 0);
  EXPECT_EQ(r.count(NodeDelta::Kind::changed), d.count(NodeDelta::Kind::changed));
  std::string text = diff_text(r, "b", "a");
  EXPECT_NE(text.find("- norm"), std::string::npos) << text;
  EXPECT_NE(text.find("~ fc1   linear; out 128 → 64; output [batch, h=128] → [batch, h=64]; params 4.22K → 2.11K (-2.11K)"), std::string::npos) << text;
  EXPECT_NE(text.find("\nparams 5.77K → 2.76K (-3.01K)\n"), std::string::npos) << text;  // 32·128+128 + 256 + 128·10+10 → 32·64+64 + 64·10+10
  Circuit u = diff_union(b, a, r);
  ASSERT_EQ(u.graph.nodes.size(), 5u);
  EXPECT_EQ(u.graph.nodes[3].name, "norm");
  EXPECT_EQ(u.graph.node("fc2")->inputs[0].node, "act") << "the union is B's wiring";
}

TEST(Diff, ARenamedNodeIsARenameNotARemovalAndAnAddition) {
  Circuit a = mlp(64, true), b = a;
  // Rename fc1 and norm as an editor does: the node and every wire to it.
  for (auto [from, to] : {std::pair{"fc1", "hidden"}, {"norm", "ln"}}) {
    b.graph.node(from)->name = to;
    b.graph.invalidate_index();
    for (Node& n : b.graph.nodes)
      for (PortRef& p : n.inputs)
        if (p.node == from) p.node = to;
  }
  CircuitDiff d = diff(a, b);
  ASSERT_EQ(d.nodes.size(), 2u) << diff_text(d, "a", "b");
  EXPECT_EQ(d.nodes[0].kind, NodeDelta::Kind::renamed);
  EXPECT_EQ(d.nodes[0].path, "hidden");
  EXPECT_EQ(d.nodes[0].path_before, "fc1");
  EXPECT_EQ(d.nodes[1].path, "ln");
  EXPECT_EQ(d.nodes[1].path_before, "norm");
  EXPECT_TRUE(d.nodes[0].inputs_before.empty() && d.nodes[1].attrs.empty()) << "nothing else differs";
  EXPECT_EQ(d.count(NodeDelta::Kind::added) + d.count(NodeDelta::Kind::removed), 0);
  std::string text = diff_text(d, "a", "b");
  EXPECT_NE(text.find("r hidden  renamed from fc1; linear"), std::string::npos) << text;
  EXPECT_NE(text.find("0 added, 0 removed, 0 changed, 2 renamed"), std::string::npos) << text;
  EXPECT_EQ(diff_json(d).get("renamed")->i, 2);
  // A removed node put back in the union wires to the new name of a renamed input.
  Circuit c = a;
  c.graph.node("act")->name = "gelu1";
  c.graph.node("fc2")->inputs[0].node = "gelu1";
  c.graph.nodes.erase(c.graph.nodes.begin() + c.graph.find("norm"));
  c.graph.invalidate_index();
  CircuitDiff f = diff(a, c);
  EXPECT_EQ(f.count(NodeDelta::Kind::renamed), 1) << diff_text(f, "a", "c");
  EXPECT_EQ(f.count(NodeDelta::Kind::removed), 1);
  Circuit u = diff_union(a, c, f);
  ASSERT_NE(u.graph.node("norm"), nullptr);
  EXPECT_EQ(u.graph.node("norm")->inputs[0].node, "gelu1");
  EXPECT_TRUE(analyze(u).ok()) << "the union checks";
  // A renamed node whose attributes changed too is not the same node: removed and added.
  b.graph.node("hidden")->attrs["out"] = int64_t(96);
  CircuitDiff e = diff(a, b);
  EXPECT_EQ(e.count(NodeDelta::Kind::removed), 1) << diff_text(e, "a", "b");
  EXPECT_EQ(e.count(NodeDelta::Kind::added), 1);
}

TEST(Diff, ComparesBlockBodiesNodeByNode) {
  Circuit a = example("resources/examples/moe_mlp.circuit.json"), b = example("tests/data/diff/moe_mlp_wider.circuit.json");
  CircuitDiff d = diff(a, b);
  const NodeDelta* moe = find(d, "moe");
  ASSERT_NE(moe, nullptr) << diff_text(d, "a", "b");
  std::vector<std::string> names;
  for (auto& x : moe->attrs) names.push_back(x.name);
  EXPECT_EQ(names, (std::vector<std::string>{"experts", "k"}));
  const NodeDelta* act = find(d, "moe/act");
  ASSERT_NE(act, nullptr);
  EXPECT_EQ(act->op_before, "gelu");
  EXPECT_EQ(act->op_after, "silu");
  ASSERT_NE(find(d, "moe/up"), nullptr);
  EXPECT_EQ(find(d, "moe/down"), nullptr) << "down is the same in both";
  EXPECT_EQ(find(d, "fc"), nullptr);
  EXPECT_EQ(d.total_after.params - d.total_before.params, analyze(b).total.params - analyze(a).total.params);
  base::Json j = diff_json(d);
  EXPECT_EQ(j.get("changed")->i, 4);
  EXPECT_EQ(j.get("added")->i, 1);
  EXPECT_FALSE(j.get("same")->b);
}

}  // namespace
}  // namespace circuit::test
