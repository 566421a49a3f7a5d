// Axis specs and the position-tracking JSON reader/writer.
#include "base/json.h"
#include "helpers.h"

namespace circuit::test {
namespace {

TEST(Axis, ParsesAndPrintsSpecs) {
  auto a = parse_axis("d_model:256");
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->name, "d_model");
  EXPECT_EQ(a->size, Size::of(256));
  auto b = parse_axis("batch");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->size, Size::symbol("batch"));
  auto c = parse_axis("tokens:seq");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->size, Size::symbol("seq"));
  for (auto s : {"d_model:256", "batch", "tokens:seq"}) EXPECT_EQ(axis_spec(*parse_axis(s)), s);
  EXPECT_EQ(to_string(T({"batch", "d_model:256"})), "[batch, d_model=256]");
  EXPECT_EQ(to_string(T({"batch", "tokens:seq"}, DType::i64)), "[batch, tokens=seq] i64");
}

TEST(Axis, RejectsBadSpecs) {
  for (auto s : {"", ":3", "3d:4", "d:0", "d:-1", "d:1x", "d e:3", "d:"}) EXPECT_FALSE(parse_axis(s).ok()) << s;
}

TEST(Axis, SymbolicAndConcreteSizesDiffer) {
  EXPECT_FALSE(Size::of(4) == Size::symbol("seq"));
  EXPECT_FALSE(Size::symbol("a") == Size::symbol("b"));
  EXPECT_EQ(numel(T({"batch", "seq", "d:4"}), B({{"seq", 10}})), 40);
}

TEST(Json, ParsesValuesWithPositions) {
  auto j = base::parse_json("{\n  \"a\": [1, -2.5e3, true, null],\n  \"b\": \"x\\u00e9\\n\"\n}");
  ASSERT_TRUE(j.ok()) << j.error().message;
  const Json* a = j->get("a");
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->line, 2);
  EXPECT_EQ(a->col, 8);
  EXPECT_EQ(a->items[0].kind, Json::Kind::Int);
  EXPECT_EQ(a->items[1].f, -2500.0);
  EXPECT_EQ(a->items[2].kind, Json::Kind::Bool);
  EXPECT_EQ(a->items[3].kind, Json::Kind::Null);
  EXPECT_EQ(j->get("b")->s, "x\xc3\xa9\n");
  EXPECT_EQ(j->get("b")->line, 3);
}

TEST(Json, ErrorsSayWhereAndWhat) {
  struct C {
    const char* text;
    const char* error;
  } cases[] = {
      {"{\"a\": 1,}", "line 1, column 9: expected a key after `,` (trailing commas are not JSON)"},
      {"[1 2]", "line 1, column 4: expected `,` or `]` in array, found `2`"},
      {"{\"a\" 1}", "line 1, column 6: expected `:` after the key, found `1`"},
      {"\n\n  tru", "line 3, column 3: expected a value, found `t`"},
      {"{\"a\": 1, \"a\": 2}", "line 1, column 10: duplicate key \"a\""},
      {"\"abc", "line 1, column 5: unterminated string"},
      {"[01]", "line 1, column 2: numbers cannot have leading zeros"},
      {"{} {}", "line 1, column 4: expected end of input after the top-level value"},
      {"", "line 1, column 1: expected a value, found end of input"},
  };
  for (auto& c : cases) {
    auto j = base::parse_json(c.text);
    ASSERT_FALSE(j.ok()) << c.text;
    EXPECT_EQ(j.error().message, c.error) << c.text;
  }
}

TEST(Json, WriterRoundTrips) {
  const char* text = R"({"s": "q\"\\\n\t", "i": -12, "f": 0.1, "g": 1e+300, "l": [1, [], {}], "long": ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb", 3]})";
  auto a = base::parse_json(text);
  ASSERT_TRUE(a.ok()) << a.error().message;
  std::string once = write_json(*a);
  auto b = base::parse_json(once);
  ASSERT_TRUE(b.ok()) << b.error().message;
  EXPECT_EQ(write_json(*b), once);
  EXPECT_EQ(b->get("f")->f, 0.1);
  EXPECT_EQ(b->get("s")->s, "q\"\\\n\t");
  EXPECT_NE(once.find("\n"), once.size() - 1) << "a long document should span lines";
}

}  // namespace
}  // namespace circuit::test
