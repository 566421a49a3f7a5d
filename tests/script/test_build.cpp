// The circuit module's IR part: a circuit built in Lua is the circuit its JSON file holds, edits
// undo and redo exactly, and inspection reports what circuit::analyze computes.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "circuit/analysis.h"
#include "circuit/op.h"
#include "helpers.h"

namespace script::test {
namespace {

using circuit::analyze;
using circuit::circuit_to_text;
using circuit::load_circuit;

std::string example_text(const std::string& name) {
  auto c = load_circuit(source("resources/examples/" + name + ".circuit.json"));
  EXPECT_TRUE(c.ok()) << (c.ok() ? "" : c.error().message);
  return c.ok() ? circuit_to_text(*c) : "";
}

class BuildInLua : public ::testing::TestWithParam<const char*> {};

TEST_P(BuildInLua, EqualsTheJsonFile) {
  Host h;
  std::string name = GetParam();
  auto s = eval_file(h, lua_dir() + "/build_" + name + ".lua");
  ASSERT_TRUE(s.ok()) << s.error;
  circuit::Document* d = to_circuit(h.state(), -1);
  ASSERT_NE(d, nullptr);
  EXPECT_EQ(circuit_to_text(d->circuit()), example_text(name));
  EXPECT_TRUE(d->analysis().ok());
}

INSTANTIATE_TEST_SUITE_P(Examples, BuildInLua, ::testing::Values("mlp", "transformer_block", "moe_transformer_block"));

TEST(BuildInLua, SaveWritesTheCanonicalFileAndLoadReadsItBack) {
  Host h;
  auto dir = std::filesystem::path(CIRCUIT_BINARY_DIR) / "script_test_files";
  std::filesystem::create_directories(dir);
  std::string out = (dir / "mlp_from_lua.circuit.json").string();
  std::filesystem::remove(out);
  auto s = eval(h, "local c = dofile('" + lua_dir() + "/build_mlp.lua'); c:save('" + out +
                       "'); return require('circuit').load('" + out + "'):to_json()");
  ASSERT_TRUE(s.ok()) << s.error;
  std::ifstream f(out);
  std::string file((std::istreambuf_iterator<char>(f)), {});
  EXPECT_EQ(file, example_text("mlp"));
  EXPECT_EQ(lua_tostring(h.state(), -1), example_text("mlp"));
}

TEST(BuildInLua, ImportReadsAHuggingFaceConfig) {
  Host h;
  std::string cfg = std::string(CIRCUIT_SOURCE_DIR) + "/tests/data/hf/full/deepseek-v3.json";
  auto s = eval(h, "local circuit = require('circuit'); local c, ignored = circuit.import('" + cfg +
                       "', {layers = 4, width = 64, experts = 8, vocab = 128}); local info = c:info(); "
                       "return #c:nodes() .. ' ' .. tostring(info.params > 0) .. ' ' .. ignored[1]");
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(std::string(lua_tostring(h.state(), -1)), "8 true architectures");
  auto bad = eval(h, "return require('circuit').import('" + cfg + "', {depth = 2})");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error.find("`circuit.import`: unknown option `depth` (expected: layers, width, experts, vocab, seq)"), std::string::npos) << bad.error;
}

// circuit.diff returns what `circuit diff --json` prints, as a table; an edit made in Lua shows up
// in it, and undoing the edit leaves no difference.
TEST(BuildInLua, DiffComparesTwoCircuits) {
  Host h;
  auto s = eval(h, R"lua(
    local circuit = require "circuit"
    local a = circuit.load(")lua" + source("resources/examples/moe_mlp.circuit.json") + R"lua(")
    local b = circuit.load(")lua" + source("resources/examples/moe_mlp.circuit.json") + R"lua(")
    assert(circuit.diff(a, b).same, "a circuit and its copy")
    b:set("logits", "out", 20)
    local d = circuit.diff(a, b)
    assert(not d.same and d.changed >= 1 and d.added == 0 and d.removed == 0)
    local n = d.nodes[1]
    assert(#d.nodes == 1 and n.path == "logits" and n.kind == "changed" and n.attrs[1].name == "out", n.path)
    assert(n.attrs[1].before == "10" and n.attrs[1].after == "20")
    assert(n.params_after - n.params_before == 10 * 65, n.params_after - n.params_before)
    assert(d.total.params_after - d.total.params_before == b:info().params - a:info().params)
    b:undo()
    return tostring(circuit.diff(a, b).same) .. " " .. tostring(pcall(circuit.diff, a, 3))
  )lua");
  ASSERT_TRUE(s.ok()) << s.error;
  EXPECT_EQ(std::string(lua_tostring(h.state(), -1)), "true false");
}

TEST(EditInLua, UndoAndRedoRestoreEveryState) {
  Host h;
  std::string mlp = source("resources/examples/mlp.circuit.json");
  auto s = eval_file(h, lua_dir() + "/edits.lua", {mlp});
  ASSERT_TRUE(s.ok()) << s.error;
  lua_State* L = h.state();
  std::string original = string_field(L, "original");
  EXPECT_EQ(original, example_text("mlp"));
  EXPECT_NE(string_field(L, "widened").find("\"out\": 512"), std::string::npos);
  EXPECT_NE(string_field(L, "edited").find("\"name\": \"drop\""), std::string::npos);
  EXPECT_NE(string_field(L, "edited").find("\"name\": \"gelu1\""), std::string::npos);
  EXPECT_EQ(string_field(L, "removed").find("\"drop\""), std::string::npos);
  EXPECT_EQ(integer_field(L, "undone"), 7);  // set, rename, set, add, connect, remove, connect
  EXPECT_EQ(string_field(L, "undo1"), "Connect fc2");
  EXPECT_EQ(string_field(L, "undo7"), "Set fc1.out");
  EXPECT_EQ(string_field(L, "after_undo"), original);
  EXPECT_EQ(string_field(L, "after_redo"), string_field(L, "removed"));
  EXPECT_NE(string_field(L, "grouped").find("\"name\": \"hidden2\""), std::string::npos);
  EXPECT_EQ(integer_field(L, "grouped_params"), 235146);  // grouping moves nodes, not parameters
  EXPECT_EQ(string_field(L, "ungrouped"), original);
}

TEST(EditInLua, InvalidEditsNameTheProblemAndChangeNothing) {
  Host h;
  std::string mlp = source("resources/examples/mlp.circuit.json");
  ASSERT_TRUE(h.run_string("c = require('circuit').load('" + mlp + "')").ok());
  EXPECT_NE(error_of(h, "c:set('fc1', 'out', 'wide')").find("test.lua:1: `c:set`: node `fc1`: attribute `out` expects an integer, got a string"),
            std::string::npos);
  EXPECT_NE(error_of(h, "c:set('fc1', 'bais', true)").find("op `linear` has no attribute `bais`"), std::string::npos);
  EXPECT_NE(error_of(h, "c:add('fc3', 'linear', {'act2'}, {})").find("node `fc3`: op `linear` needs attribute `out` (integer)"),
            std::string::npos);
  EXPECT_NE(error_of(h, "c:add('fc3', 'linaer', {'act2'})").find("node `fc3`: unknown op `linaer`"), std::string::npos);
  EXPECT_NE(error_of(h, "c:add('fc1', 'relu', {'act2'})").find("a node named `fc1` already exists"), std::string::npos);
  EXPECT_NE(error_of(h, "c:add('b', 'block', {'act2'})").find("op `block` needs a body"), std::string::npos);
  EXPECT_NE(error_of(h, "c:set('fc1', 'out', -3)").find("node `fc1`: "), std::string::npos);
  EXPECT_NE(error_of(h, "c:connect('fc1', {'logits'})").find("would create a cycle"), std::string::npos);
  EXPECT_NE(error_of(h, "c:remove('nope')").find("no node `nope`"), std::string::npos);
  EXPECT_NE(error_of(h, "c.add('x', 'relu')").find("call it as c:add(...) on a circuit; got a string"), std::string::npos);
  ASSERT_TRUE(eval(h, "return c:to_json()").ok());
  EXPECT_EQ(lua_tostring(h.state(), -1), example_text("mlp"));
}

// The studio's selection edits from Lua: one undo step each, the same wiring rules.
TEST(EditInLua, DeleteCopyPasteAndInsertAfter) {
  Host h;
  std::string mlp = source("resources/examples/mlp.circuit.json");
  ASSERT_TRUE(h.run_string("c = require('circuit').load('" + mlp + "')").ok());
  auto s = eval(h, R"(
    local pasted = c:paste(c:copy_nodes({ "fc2", "act2" }))
    local _, paste_label = c:undo(); c:redo()
    local soft = c:insert_after("logits", "softmax", { axis = "class" })
    local outs = c:outputs()
    c:delete({ "fc2_copy", "act2_copy" })
    local _, delete_label = c:undo()
    return { pasted = table.concat(pasted, ","), paste_label = paste_label, soft = soft, out = outs[1],
             delete_label = delete_label, after = #c:nodes() })");
  ASSERT_TRUE(s.ok()) << s.error;
  lua_State* L = h.state();
  EXPECT_EQ(string_field(L, "pasted"), "fc2_copy,act2_copy");
  EXPECT_EQ(string_field(L, "paste_label"), "Paste 2 nodes");
  EXPECT_EQ(string_field(L, "soft"), "softmax");
  EXPECT_EQ(string_field(L, "out"), "softmax");
  EXPECT_EQ(string_field(L, "delete_label"), "Delete 2 nodes");
  EXPECT_EQ(integer_field(L, "after"), 10);  // 7 nodes of the MLP, 2 pasted back by the undo, the softmax
  EXPECT_NE(error_of(h, "c:delete({ 'fc1', 'nope/x' })").find("is not at the level of `fc1`"), std::string::npos);
}

// Every number c:info() and c:shapes() report is the one circuit::analyze computes, for every example.
TEST(InspectInLua, NumbersEqualAnalyze) {
  for (auto& entry : std::filesystem::directory_iterator(source("resources/examples"))) {
    std::string path = entry.path().string();
    SCOPED_TRACE(path);
    auto c = load_circuit(path);
    ASSERT_TRUE(c.ok());
    circuit::GraphAnalysis a = analyze(*c);
    Host h;
    ASSERT_TRUE(eval(h, "local c = require('circuit').load('" + path + "'); return {info = c:info(), shapes = c:shapes()}").ok());
    lua_State* L = h.state();
    lua_getfield(L, -1, "info");
    EXPECT_EQ(integer_field(L, "params"), a.total.params);
    EXPECT_EQ(integer_field(L, "active_params"), a.total.active_params);
    EXPECT_EQ(integer_field(L, "flops"), a.total.flops);
    EXPECT_EQ(integer_field(L, "activation_bytes"), a.total.activation_bytes);
    lua_pop(L, 1);
    // Every node's output types, nested ones included, as "path: [axis, ...]" lines.
    std::vector<std::string> want;
    std::function<void(const circuit::Graph&, const circuit::GraphAnalysis&, const std::string&)> walk =
        [&](const circuit::Graph& g, const circuit::GraphAnalysis& ga, const std::string& prefix) {
          for (size_t i = 0; i < g.nodes.size(); ++i) {
            for (auto& t : ga.nodes[i].outputs) {
              std::string line = prefix + g.nodes[i].name + ":";
              for (auto& ax : t.axes) line += " " + circuit::axis_spec(ax);
              want.push_back(line + " " + circuit::dtype_name(t.dtype));
            }
            if (ga.nodes[i].body) walk(*g.nodes[i].body, *ga.nodes[i].body, prefix + g.nodes[i].name + "/");
          }
        };
    walk(c->graph, a, "");
    std::vector<std::string> got;
    lua_getfield(L, -1, "shapes");
    lua_pushnil(L);
    while (lua_next(L, -2)) {
      std::string node = lua_tostring(L, -2);
      for (lua_Integer k = 1; k <= lua_Integer(lua_rawlen(L, -1)); ++k) {
        lua_rawgeti(L, -1, k);
        std::string line = node + ":";
        for (lua_Integer x = 1; x <= lua_Integer(lua_rawlen(L, -1)); ++x) {
          lua_rawgeti(L, -1, x);
          line += std::string(" ") + lua_tostring(L, -1);
          lua_pop(L, 1);
        }
        line += " " + string_field(L, "dtype");
        got.push_back(line);
        lua_pop(L, 1);
      }
      lua_pop(L, 1);
    }
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    EXPECT_FALSE(want.empty());
    EXPECT_EQ(got, want);
  }
}

TEST(InspectInLua, NodeCostsAndDiagnostics) {
  Host h;
  std::string broken = source("tests/data/broken/shape_mismatch.circuit.json");
  auto c = load_circuit(broken);
  ASSERT_TRUE(c.ok());
  auto diags = analyze(*c).diagnostics(c->graph);
  ASSERT_FALSE(diags.empty());
  ASSERT_TRUE(eval(h, "local d = require('circuit').load('" + broken + "'):diagnostics(); return d[1]").ok());
  EXPECT_EQ(string_field(h.state(), "node"), diags[0].node);
  EXPECT_EQ(string_field(h.state(), "message"), diags[0].message);
  lua_pop(h.state(), 1);

  std::string moe = source("resources/examples/moe_transformer_block.circuit.json");
  auto m = load_circuit(moe);
  circuit::GraphAnalysis a = analyze(*m);
  const circuit::NodeInfo& info = a.nodes[size_t(m->graph.find("moe"))];
  ASSERT_TRUE(eval(h, "local c = require('circuit').load('" + moe + "'); return c:node('moe')").ok());
  lua_State* L = h.state();
  EXPECT_EQ(integer_field(L, "params"), info.cost.params);
  EXPECT_EQ(integer_field(L, "active_params"), info.cost.active_params);
  EXPECT_LT(info.cost.active_params, info.cost.params);  // top-2 of 8: the test would catch a swap
  EXPECT_EQ(integer_field(L, "flops"), info.cost.flops);
  EXPECT_EQ(string_field(L, "op"), "moe");
  lua_pop(L, 1);
  ASSERT_TRUE(eval(h, "local c = require('circuit').load('" + moe + "'); return table.concat(c:shape('moe/down'), ' ')").ok());
  EXPECT_STREQ(lua_tostring(L, -1), "batch seq d_model:128");
}

TEST(InspectInLua, OpsListsTheRegistry) {
  Host h;
  ASSERT_TRUE(eval(h, R"(
    local names, linear = {}, nil
    for _, op in ipairs(require('circuit').ops()) do
      names[#names + 1] = op.name
      if op.name == 'linear' then linear = op end
    end
    local out
    for _, a in ipairs(linear.attrs) do if a.name == 'out' then out = a end end
    return table.concat(names, ',') .. '|' .. tostring(out.required) .. '|' .. out.type .. '|' .. tostring(linear.learned))").ok());
  std::string want;
  for (auto* op : circuit::all_ops()) want += (want.empty() ? "" : ",") + op->name;
  EXPECT_EQ(lua_tostring(h.state(), -1), want + "|true|integer|true");
}

}  // namespace
}  // namespace script::test
