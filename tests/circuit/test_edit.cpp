// The edit API: every command undoes and redoes exactly (compared as saved text), invalid edits
// change nothing, and incremental re-analysis always equals a full analysis.
#include <random>

#include "circuit/selection.h"
#include "circuit/templates.h"
#include "helpers.h"

namespace circuit::test {
namespace {

Circuit small() {
  Circuit c;
  c.name = "small";
  c.symbols = {{"seq", 8}};
  c.graph = G({In("x", T({"batch", "seq", "d:16"})), N("ln", "layer_norm", {"x"}), N("fc1", "linear", {"ln"}, {{"out", 32}}),
               N("act", "gelu", {"fc1"}), N("fc2", "linear", {"act"}, {{"out", 16}}), N("res", "add", {"x", "fc2"})},
              {"res"});
  return c;
}

std::string text(const Document& d) { return circuit_to_text(d.circuit()); }

// Applies `cmd`, then checks undo restores the text before it and redo the text after it.
void round_trip(Document& d, Command cmd) {
  std::string before = text(d);
  std::string label = describe(cmd);
  Status s = d.apply(std::move(cmd));
  ASSERT_TRUE(s.ok()) << label << ": " << s.error;
  std::string after = text(d);
  EXPECT_NE(before, after) << label << " changed nothing";
  ASSERT_TRUE(d.undo());
  EXPECT_EQ(text(d), before) << "undo of " << label;
  ASSERT_TRUE(d.redo());
  EXPECT_EQ(text(d), after) << "redo of " << label;
}

// Full analysis of the document's circuit, for comparison with its incremental one.
void expect_consistent(const Document& d) {
  GraphAnalysis full = analyze(d.circuit());
  const GraphAnalysis& inc = d.analysis();
  ASSERT_EQ(full.nodes.size(), inc.nodes.size());
  for (size_t i = 0; i < full.nodes.size(); ++i) {
    EXPECT_EQ(full.nodes[i].outputs, inc.nodes[i].outputs) << d.circuit().graph.nodes[i].name;
    EXPECT_EQ(full.nodes[i].error, inc.nodes[i].error) << d.circuit().graph.nodes[i].name;
    EXPECT_EQ(full.nodes[i].cost, inc.nodes[i].cost) << d.circuit().graph.nodes[i].name;
  }
  EXPECT_EQ(full.total, inc.total);
  EXPECT_EQ(full.failed, inc.failed);
  EXPECT_EQ(full.outputs, inc.outputs);
}

TEST(Edit, EveryCommandUndoesAndRedoes) {
  Document d(small());
  round_trip(d, AddNode{"", N("drop", "dropout", {"act"}), 4});
  round_trip(d, SetInputs{"fc2", {*parse_port("drop")}});
  round_trip(d, SetAttr{"fc1", "out", int64_t(64)});
  round_trip(d, SetAttr{"fc1", "bias", false});
  round_trip(d, RenameNode{"fc1", "up"});
  round_trip(d, RemoveNode{"act"});
  round_trip(d, SetOutputs{"", {*parse_port("res"), *parse_port("ln")}});
  round_trip(d, SetSymbol{"seq", 32});
  round_trip(d, Group{"", {"up", "drop", "fc2"}, "ffn"});
  round_trip(d, Ungroup{"ffn"});
  expect_consistent(d);
}

TEST(Edit, RemoveThenUndoRestoresConnectionsExactly) {
  Circuit c;
  c.graph = G({In("x", T({"batch", "d:8"})), N("sp", "split", {"x"}, {{"axis", std::string("d")}, {"sizes", std::vector<int64_t>{3, 5}}}),
               N("a", "relu", {"sp:1"}), N("b", "relu", {"sp"})},
              {"a", "sp:1", "b"});
  Document d(c);
  std::string before = text(d);
  ASSERT_TRUE(d.apply(RemoveNode{"sp"}).ok());
  EXPECT_FALSE(d.circuit().graph.node("a")->inputs[0].connected());
  EXPECT_EQ(d.circuit().graph.outputs.size(), 2u);
  EXPECT_EQ(d.analysis().diagnostics(d.circuit().graph).size(), 2u);  // a and b: "not connected"
  ASSERT_TRUE(d.undo());
  EXPECT_EQ(text(d), before);
  EXPECT_TRUE(d.analysis().ok());
}

TEST(Edit, GroupMakesATypedBlockAndKeepsBehaviour) {
  Document d(small());
  GraphAnalysis before = analyze(d.circuit());
  ASSERT_TRUE(d.apply(Group{"", {"fc1", "act", "fc2"}, "ffn"}).ok());
  const Graph& g = d.circuit().graph;
  const Node* ffn = g.node("ffn");
  ASSERT_NE(ffn, nullptr);
  EXPECT_EQ(ffn->op, "block");
  EXPECT_EQ(ffn->inputs.size(), 1u);
  EXPECT_EQ(ffn->body->input_nodes().size(), 1u);
  EXPECT_EQ(g.nodes.size(), 4u);  // x, ln, ffn, res
  EXPECT_TRUE(d.analysis().ok());
  EXPECT_EQ(d.analysis().outputs, before.outputs);
  EXPECT_EQ(d.analysis().total.params, before.total.params);
  EXPECT_EQ(d.analysis().total.flops, before.total.flops);
  // Edits inside the block are addressed by path and undo like any other.
  round_trip(d, SetAttr{"ffn/fc1", "out", int64_t(48)});
  expect_consistent(d);
  EXPECT_EQ(d.analysis().nodes[size_t(g.find("ffn"))].body->nodes[size_t(ffn->body->find("fc1"))].outputs[0],
            T({"batch", "seq", "d:48"}));
  // Ungrouping gives the original graph back (node order included).
  ASSERT_TRUE(d.undo());
  ASSERT_TRUE(d.apply(Ungroup{"ffn"}).ok());
  EXPECT_EQ(text(d), circuit_to_text(small()));
}

TEST(Edit, UngroupRenamesCollidingNames) {
  Circuit c = small();
  Node f = ffn_block("ffn", T({"batch", "seq", "d:16"}), 32);  // its nodes: x, up, act, down
  f.inputs = {*parse_port("res")};
  c.graph.nodes.push_back(f);
  c.graph.outputs = {*parse_port("ffn")};
  Document d(c);
  ASSERT_TRUE(d.analysis().ok());
  ASSERT_TRUE(d.apply(Ungroup{"ffn"}).ok());
  EXPECT_NE(d.circuit().graph.node("ffn_act"), nullptr);  // `act` was taken
  EXPECT_NE(d.circuit().graph.node("up"), nullptr);
  EXPECT_TRUE(d.analysis().ok());
  EXPECT_EQ(d.analysis().outputs[0], T({"batch", "seq", "d:16"}));
}

// The selection edits the studio and Lua share (circuit/selection.h): each is one undo step.
TEST(Edit, DeleteNodesIsOneStepAndUnwires) {
  Document d(small());
  auto cmd = delete_nodes(d.circuit(), "", {"fc1", "act"});
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  EXPECT_EQ(describe(*cmd), "Delete 2 nodes");
  round_trip(d, *cmd);
  EXPECT_LT(d.circuit().graph.find("fc1"), 0);
  EXPECT_FALSE(d.circuit().graph.node("fc2")->inputs[0].connected());  // read act, now gone
  EXPECT_FALSE(delete_nodes(d.circuit(), "", {"nope"}).ok());
}

TEST(Edit, CopyPasteRenamesFollowsInnerWiresAndKeepsOuterOnes) {
  Document d(small());
  auto clip = copy_nodes(d.circuit(), "", {"fc1", "act"});
  ASSERT_TRUE(clip.ok()) << clip.error().message;
  ASSERT_EQ(clip->external.size(), 1u);  // fc1 read ln, outside the copy
  EXPECT_EQ(clip->external[0].from.node, "ln");
  auto back = parse_clip(clip_to_text(*clip));  // through the clipboard's text form
  ASSERT_TRUE(back.ok()) << back.error().message;
  std::vector<std::string> pasted;
  auto cmd = paste_nodes(d.circuit(), "", *back, &pasted);
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  round_trip(d, *cmd);
  EXPECT_EQ(pasted, (std::vector<std::string>{"fc1_copy", "act_copy"}));
  const Graph& g = d.circuit().graph;
  EXPECT_EQ(g.node("fc1_copy")->inputs[0].node, "ln");        // the outer wire stays
  EXPECT_EQ(g.node("act_copy")->inputs[0].node, "fc1_copy");  // the inner wire follows
  EXPECT_TRUE(d.analysis().diagnostics(g).empty());
}

// The studio's selection edits act on the level of the first selected path.
TEST(Edit, AtOneLevelKeepsTheFirstPathsLevel) {
  LevelSelection s = at_one_level({"a", "blk/x", "b"});
  EXPECT_EQ(s.parent, "");
  EXPECT_EQ(s.names, (std::set<std::string>{"a", "b"}));
  s = at_one_level({"blk/x", "blk/y", "c"});
  EXPECT_EQ(s.parent, "blk");
  EXPECT_EQ(s.names, (std::set<std::string>{"x", "y"}));
  EXPECT_TRUE(at_one_level({}).names.empty());
}

// A palette click: the op is sized from the selected node's output and inserted after it; with
// nothing selected it stands alone; a block template needs something to follow.
TEST(Edit, AddFromPaletteFollowsTheSelectedNode) {
  Document d(starter_circuit());
  ASSERT_TRUE(d.analysis().diagnostics(d.circuit().graph).empty());
  std::string path;
  auto cmd = add_from_palette(d, "linear", "x", &path);
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  round_trip(d, *cmd);
  EXPECT_EQ(path, "linear");
  const Node* n = d.circuit().graph.node("linear");
  ASSERT_TRUE(n);
  EXPECT_EQ(n->inputs[0].node, "x");
  EXPECT_EQ(std::get<int64_t>(n->attrs.at("out")), 784);  // the input's last axis
  EXPECT_EQ(d.circuit().graph.outputs[0].node, "linear");
  EXPECT_TRUE(d.analysis().diagnostics(d.circuit().graph).empty());

  auto ffn = add_from_palette(d, "template:ffn", "linear", &path);
  ASSERT_TRUE(ffn.ok()) << ffn.error().message;
  ASSERT_TRUE(d.apply(*ffn).ok());
  EXPECT_EQ(path, "ffn");
  EXPECT_TRUE(d.circuit().graph.node("ffn")->body);

  auto alone = add_from_palette(d, "relu", "", &path);
  ASSERT_TRUE(alone.ok()) << alone.error().message;
  ASSERT_TRUE(d.apply(*alone).ok());
  EXPECT_FALSE(d.circuit().graph.node(path)->inputs[0].connected());

  auto refused = add_from_palette(d, "template:ffn", "", &path);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("select one"), std::string::npos) << refused.error().message;
  EXPECT_FALSE(add_from_palette(d, "no_such_op", "x", &path).ok());
  EXPECT_FALSE(add_from_palette(d, "relu", "nowhere", &path).ok());
}

TEST(Edit, InsertAfterWiresAndTakesTheOutputSlot) {
  Document d(small());
  Node n;
  n.op = "relu";
  std::string path;
  auto cmd = insert_after(d.circuit(), "res", n, &path);
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  EXPECT_EQ(describe(*cmd), "Add relu");
  round_trip(d, *cmd);
  EXPECT_EQ(path, "relu");
  const Graph& g = d.circuit().graph;
  EXPECT_EQ(g.find("relu"), g.find("res") + 1);
  EXPECT_EQ(g.node("relu")->inputs[0].node, "res");
  ASSERT_EQ(g.outputs.size(), 1u);
  EXPECT_EQ(g.outputs[0].node, "relu");
  // In the middle of a chain, readers of the node keep reading it.
  Node m;
  m.op = "relu";
  ASSERT_TRUE(d.apply(*insert_after(d.circuit(), "fc1", m, &path)).ok());
  EXPECT_EQ(path, "relu2");
  EXPECT_EQ(d.circuit().graph.node("act")->inputs[0].node, "fc1");
  EXPECT_EQ(split_path("blk/inner/fc1").parent, "blk/inner");
  EXPECT_EQ(join_path("", "fc1"), "fc1");
  EXPECT_TRUE(path_within("blk/inner/fc1", "blk"));
  EXPECT_TRUE(path_within("blk", "blk"));
  EXPECT_FALSE(path_within("blk2/fc1", "blk"));
  EXPECT_FALSE(path_within("blk", "blk/inner"));
}

TEST(Edit, InvalidEditsChangeNothing) {
  Document d(small());
  std::string before = text(d);
  EXPECT_NE(d.apply(AddNode{"", N("fc1", "relu", {"x"})}).error.find("already exists"), std::string::npos);
  EXPECT_NE(d.apply(AddNode{"", N("z", "nosuchop", {"x"})}).error.find("unknown op"), std::string::npos);
  EXPECT_NE(d.apply(SetInputs{"ln", {*parse_port("res")}}).error.find("would create a cycle"), std::string::npos);
  EXPECT_NE(d.apply(SetAttr{"fc1", "out", int64_t(-3)}).error.find("out of range"), std::string::npos);
  EXPECT_NE(d.apply(SetAttr{"fc1", "outs", int64_t(3)}).error.find("has no attribute `outs`"), std::string::npos);
  EXPECT_NE(d.apply(SetAttr{"nope", "out", int64_t(3)}).error.find("no node `nope`"), std::string::npos);
  EXPECT_NE(d.apply(Group{"", {"x"}, "blk"}).error.find("graph input"), std::string::npos);
  EXPECT_NE(d.apply(Group{"", {"ln", "fc2"}, "blk"}).error.find("comes back"), std::string::npos);
  EXPECT_NE(d.apply(Ungroup{"fc1"}).error.find("not a block"), std::string::npos);
  EXPECT_EQ(text(d), before);
  EXPECT_FALSE(d.can_undo());
}

TEST(Edit, ShapeErrorsFollowEditsAndUndo) {
  Document d(small());
  ASSERT_TRUE(d.apply(SetAttr{"fc2", "out", int64_t(12)}).ok());
  auto diags = d.analysis().diagnostics(d.circuit().graph);
  ASSERT_EQ(diags.size(), 1u);
  EXPECT_EQ(diags[0].node, "res");
  EXPECT_EQ(diags[0].message, "node `res` input 1: expected axis `d`=16, got `d`=12");
  ASSERT_TRUE(d.undo());
  EXPECT_TRUE(d.analysis().ok());
}

TEST(Edit, CyclesInAFileAreReportedOnTheirNodes) {
  // The edit API refuses cycles, but a hand-written file can contain one.
  Circuit c;
  c.graph = G({In("x", T({"batch", "d:4"})), N("a", "add", {"x", "b"}), N("b", "relu", {"a"}), N("c", "relu", {"x"})}, {"c"});
  GraphAnalysis a = analyze(c);
  auto d = a.diagnostics(c.graph);
  ASSERT_EQ(d.size(), 2u);
  EXPECT_EQ(d[0].message, "node `a`: is part of a cycle: its inputs depend on its own output");
  EXPECT_EQ(d[1].node, "b");
  EXPECT_TRUE(a.nodes[3].ok());  // the rest of the graph is still checked
}

TEST(Edit, ModifiedTracksTheSavedState) {
  Document d(small());
  EXPECT_FALSE(d.modified());
  ASSERT_TRUE(d.apply(SetAttr{"fc1", "out", int64_t(8)}).ok());
  EXPECT_TRUE(d.modified());
  d.mark_saved();
  EXPECT_FALSE(d.modified());
  d.undo();
  EXPECT_TRUE(d.modified());
  d.redo();
  EXPECT_FALSE(d.modified());
  d.undo();
  ASSERT_TRUE(d.apply(SetAttr{"fc1", "out", int64_t(9)}).ok());  // the saved state is now unreachable
  EXPECT_TRUE(d.modified());
  EXPECT_EQ(d.undo_label(), "Set fc1.out");
}

TEST(Edit, IncrementalAnalysisEqualsFullAfterRandomEdits) {
  // A chain of residual MLP blocks; random width edits break and repair shapes along the way.
  Circuit c;
  c.graph.nodes.push_back(In("x", T({"batch", "d:16"})));
  std::string prev = "x";
  for (int i = 0; i < 30; ++i) {
    std::string s = std::to_string(i);
    c.graph.nodes.push_back(N("up" + s, "linear", {prev}, {{"out", 32}}));
    c.graph.nodes.push_back(N("act" + s, "relu", {"up" + s}));
    c.graph.nodes.push_back(N("down" + s, "linear", {"act" + s}, {{"out", 16}}));
    c.graph.nodes.push_back(N("res" + s, "add", {prev, "down" + s}));
    prev = "res" + s;
  }
  c.graph.outputs = {*parse_port(prev)};
  Document d(c);
  std::mt19937 rng(7);
  for (int step = 0; step < 200; ++step) {
    std::string s = std::to_string(rng() % 30);
    bool up = rng() % 2;
    int64_t width = up ? int64_t(8 + rng() % 4 * 8) : (rng() % 5 ? 16 : 15);
    ASSERT_TRUE(d.apply(SetAttr{(up ? "up" : "down") + s, "out", width}).ok());
    if (step % 7 == 0) d.undo();
    expect_consistent(d);
  }
}

}  // namespace
}  // namespace circuit::test
