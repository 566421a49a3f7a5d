// Search spaces: the .search.json format, located load errors, and applying points.
#include <gtest/gtest.h>

#include "circuit/analysis.h"
#include "search/space.h"

namespace search {
namespace {

std::string src(const std::string& rel) { return std::string(CIRCUIT_SOURCE_DIR) + "/" + rel; }

Space example() {
  auto s = load_space(src("resources/search/moe_mlp.search.json"));
  EXPECT_TRUE(s.ok()) << (s.ok() ? "" : s.error().message);
  return *s;
}

TEST(Space, LoadsTheExample) {
  Space s = example();
  EXPECT_EQ(s.dims.size(), 6u);
  EXPECT_EQ(s.cardinalities(), (std::vector<int>{4, 3, 3, 3, 3, 2}));
  EXPECT_EQ(s.count(), 4 * 3 * 3 * 3 * 3 * 2);
  ASSERT_EQ(s.objectives.size(), 2u);
  EXPECT_EQ(s.objectives[0].direction, Direction::maximize);
  ASSERT_EQ(s.constraints.size(), 1u);
  EXPECT_EQ(*s.constraints[0].max, 200000);
  EXPECT_EQ(s.dims[5].label(1), "mlp");
  EXPECT_EQ(s.dims[4].label(2), "x3");
}

TEST(Space, ApplyingSetsAttributesSwapsOpsAndRepeats) {
  Space s = example();
  // experts=8 k=2 router=aux_free hidden=256 layers=x3 head=mlp
  Point p{{2, 1, 1, 2, 2, 1}};
  auto c = realize(s, p);
  ASSERT_TRUE(c.ok()) << c.error().message;
  const auto& g = c->circuit.graph;
  ASSERT_NE(g.node("moe_3"), nullptr);
  EXPECT_EQ(g.node("moe_3")->inputs[0].node, "moe_2");
  EXPECT_EQ(g.node("moe_2")->inputs[0].node, "moe");
  EXPECT_EQ(g.node("logits")->inputs[0].node, "moe_3");  // the consumer follows the last copy
  EXPECT_EQ(g.node("logits")->op, "block");
  EXPECT_EQ(std::get<int64_t>(g.node("moe_2")->attrs.at("experts")), 8);  // copies carry choices
  EXPECT_EQ(std::get<int64_t>(g.node("moe_3")->body->node("up")->attrs.at("out")), 256);
  // Three MoE layers cost three times one layer's params (plus the rest).
  auto one = realize(s, Point{{2, 1, 1, 2, 0, 1}});
  ASSERT_TRUE(one.ok());
  auto base = circuit::analyze(s.base);
  EXPECT_GT(c->cost.params, one->cost.params);
  EXPECT_EQ(c->static_metrics.at("params"), double(c->cost.params));
  EXPECT_EQ(describe(s, p), "experts=8 k=2 router=aux_free hidden=256 layers=x3 head=mlp");
}

TEST(Space, AnInvalidPointSaysWhichChoiceAndNode) {
  Space s = example();
  // k=4 with 2 experts: the MoE op refuses it in shape inference.
  auto c = realize(s, Point{{0, 2, 0, 0, 0, 0}});
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("experts=2 k=4"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("k=4 exceeds the 2 routable experts"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("moe"), std::string::npos);
  auto bad = apply(s, Point{{0, 0, 0, 0, 0, 7}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("choice `head`: index 7 out of range"), std::string::npos) << bad.error().message;
  EXPECT_FALSE(apply(s, Point{{0, 0}}).ok());
}

TEST(Space, LoadErrorsAreLocated) {
  const std::string dir = src("resources/examples");
  auto err = [&](const std::string& text) {
    auto s = parse_space(text, "t.search.json", dir);
    return s.ok() ? std::string("loaded") : s.error().message;
  };
  const std::string head = R"({"format": "search", "version": 1, "base": "moe_mlp.circuit.json", )";
  EXPECT_EQ(err(head + R"("choices": [{"name": "w", "node": "nope", "attr": "out", "values": [1]}]})"),
            "t.search.json:1:102: choice `w`: no node `nope` in the base circuit");
  EXPECT_NE(err(head + R"("choices": [{"name": "w", "node": "fc", "attr": "outt", "values": [1]}]})").find("has no attribute `outt`"), std::string::npos);
  EXPECT_NE(err(head + R"("choices": [{"name": "w", "node": "moe", "attr": "router", "values": ["nope"]}]})").find("t.search.json:1:"), std::string::npos);
  EXPECT_NE(err(head + R"("choices": [{"name": "h", "node": "fc", "alternatives": [{"op": "lineer"}]}]})").find("alternative 1: node `slot`: unknown op `lineer`"), std::string::npos);
  EXPECT_NE(err(head + R"("choices": [], "objectives": [{"metric": "acc", "direction": "up"}]})").find("needs \"direction\": \"min\" or \"max\""), std::string::npos);
  EXPECT_NE(err(R"({"format": "search", "version": 2, "base": "x", "choices": []})").find("version 2 is newer"), std::string::npos);
  EXPECT_NE(err(R"({"format": "search", "version": 1, "base": "missing.circuit.json", "choices": []})").find("base circuit:"), std::string::npos);
  EXPECT_NE(err("{\"format\": \"search\",}").find("t.search.json:1:"), std::string::npos);
  EXPECT_NE(err(head + R"("choices": [{"name": "d", "node": "image", "repeat": [2]}]})").find("only a node with one input can repeat"), std::string::npos);
}

TEST(Space, InlineBase) {
  auto s = parse_space(R"({"format": "search", "version": 1,
    "base": {"format": "circuit", "version": 1, "graph": {"nodes": [
      {"name": "x", "op": "input", "attrs": {"shape": ["batch", "d:8"]}},
      {"name": "fc", "op": "linear", "inputs": ["x"], "attrs": {"out": 4, "out_axis": "d"}}], "outputs": ["fc"]}},
    "choices": [{"name": "w", "node": "fc", "attr": "out", "values": [4, 8]}]})", "inline.search.json");
  ASSERT_TRUE(s.ok()) << s.error().message;
  auto c = realize(*s, Point{{1}});
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->cost.params, 8 * 8 + 8);
}

TEST(Point, KeyRoundTrips) {
  Point p{{3, 0, 12}};
  EXPECT_EQ(key(p), "3,0,12");
  EXPECT_EQ(*parse_point("3,0,12"), p);
  EXPECT_FALSE(parse_point("3,,1").ok());
  EXPECT_FALSE(parse_point("a").ok());
}

}  // namespace
}  // namespace search
