// Lua strategy plugins behind search::Strategy: valid, distinct, repeatable proposals, and clear
// errors from a broken plugin.
#include <algorithm>
#include <cmath>
#include <set>

#include "helpers.h"
#include "script/lua_strategy.h"
#include "search/strategy.h"

namespace script::test {
namespace {

search::Problem toy_problem() {
  search::Problem p;
  p.names = {"a", "b", "c"};
  p.cardinalities = {5, 4, 3};
  p.objectives = {{"f1", search::Direction::minimize}, {"f2", search::Direction::minimize}};
  // Refuse one corner, as a shape error or a params bound would.
  p.reject = [](const search::Point& x) { return x.choice[0] == 4 && x.choice[1] == 3 ? std::string("corner refused") : std::string(); };
  return p;
}

// A trade-off: f1 grows with a, f2 shrinks with it; b and c add noise-free penalties.
search::Metrics evaluate(const search::Point& x) {
  double a = x.choice[0], b = x.choice[1], c = x.choice[2];
  return {{"f1", a + 0.5 * b}, {"f2", 4 - a + std::abs(c - 1)}};
}

std::vector<std::string> run(Host& h, uint64_t seed, int n) {
  auto s = search::make_strategy("pareto_local_search", toy_problem(), seed);
  EXPECT_TRUE(s.ok()) << s.error().message;
  std::vector<std::string> asked;
  for (int i = 1; i <= n && s.ok(); ++i) {
    auto p = (*s)->ask();
    if (!p) break;
    asked.push_back(search::key(*p));
    (*s)->tell({i, *p, true, evaluate(*p)});
  }
  return asked;
}

TEST(LuaStrategy, ProposesValidDistinctRepeatablePoints) {
  Host h;
  h.load_plugins({source("plugins")});
  auto names = register_lua_strategies(h);
  ASSERT_EQ(names, std::vector<std::string>{"pareto_local_search"});
  auto a = run(h, 7, 40), b = run(h, 7, 40), c = run(h, 8, 40);
  EXPECT_EQ(a.size(), 40u);
  EXPECT_EQ(a, b);  // same seed, same tells: same asks
  EXPECT_NE(a, c);
  std::set<std::string> distinct(a.begin(), a.end());
  EXPECT_EQ(distinct.size(), a.size());
  for (auto& k : a) {
    auto p = search::parse_point(k);
    ASSERT_TRUE(p.ok());
    EXPECT_NE(k, "4,3,0");  // the problem's rejection is respected
    EXPECT_LT(p->choice[0], 5);
    EXPECT_LT(p->choice[1], 4);
    EXPECT_LT(p->choice[2], 3);
  }
  auto names_now = search::strategy_names();
  EXPECT_NE(std::find(names_now.begin(), names_now.end(), "pareto_local_search"), names_now.end());
}

TEST(LuaStrategy, ABadProposalIsAClearError) {
  Host h;
  h.load_plugins({source("tests/script/plugins_strategy_error")});
  register_lua_strategies(h);
  auto s = search::make_strategy("bad_strategy", toy_problem(), 1);
  ASSERT_TRUE(s.ok()) << s.error().message;
  try {
    (*s)->ask();
    ADD_FAILURE() << "a short point was accepted";
  } catch (const std::exception& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("strategy `bad_strategy`"), std::string::npos) << m;
    EXPECT_NE(m.find("table of 3 0-based choice indices"), std::string::npos) << m;
  }
}

}  // namespace
}  // namespace script::test
