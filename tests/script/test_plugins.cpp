// Plugins: shipped ones load and work; broken ones are reported with file:line and do not stop
// the others.
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <map>

#include "circuit/analysis.h"
#include "helpers.h"

namespace script::test {
namespace {

std::map<std::string, PluginInfo> by_file(const std::vector<PluginInfo>& list) {
  std::map<std::string, PluginInfo> out;
  for (auto& p : list) out[p.file.substr(p.file.rfind('/') + 1)] = p;
  return out;
}

TEST(Plugins, BrokenOnesAreReportedAndTheOthersLoad) {
  Host h;
  std::string dir = source("tests/script/plugins_broken");
  auto loaded = h.load_plugins({source("plugins"), dir});
  auto p = by_file(loaded);
  // Shipped plugins may be added; the broken folder holds exactly these eight files.
  ASSERT_EQ(std::count_if(loaded.begin(), loaded.end(), [&](auto& x) { return x.file.rfind(dir, 0) == 0; }), 8);
  EXPECT_TRUE(p["prenorm_ffn.lua"].ok()) << p["prenorm_ffn.lua"].error;
  EXPECT_EQ(p["prenorm_ffn.lua"].kind, "block");

  EXPECT_EQ(p["a_syntax_error.lua"].error.rfind(dir + "/a_syntax_error.lua:3:", 0), 0u) << p["a_syntax_error.lua"].error;
  const std::string& runtime = p["b_runtime_error.lua"].error;
  EXPECT_EQ(runtime.rfind(dir + "/b_runtime_error.lua:2: attempt to index a nil value (field 'missing')", 0), 0u) << runtime;
  EXPECT_NE(runtime.find("stack traceback:"), std::string::npos);
  EXPECT_EQ(p["c_missing_build.lua"].error, dir + "/c_missing_build.lua:2: block plugin `no_build` needs a function `build`, got nil");
  EXPECT_NE(p["d_unknown_kind.lua"].error.find("d_unknown_kind.lua:1: unknown plugin kind `optimizer`"), std::string::npos);
  EXPECT_NE(p["g_strategy_without_tell.lua"].error.find("strategy plugin `half_strategy` needs a function `tell`, got a string"),
            std::string::npos);
  EXPECT_NE(p["h_infinite.lua"].error.find("h_infinite.lua:2: instruction limit of 10000000 exceeded"), std::string::npos)
      << p["h_infinite.lua"].error;

  // The router kind is validated now so Lua routers can be added with the tensor type.
  EXPECT_TRUE(p["e_router.lua"].ok()) << p["e_router.lua"].error;
  EXPECT_EQ(p["e_router.lua"].kind, "router");
  EXPECT_TRUE(p["f_strategy.lua"].ok());
  EXPECT_EQ(p["f_strategy.lua"].description, "validates only");

  // Loaded plugins are reachable from Lua; broken ones explain themselves.
  ASSERT_TRUE(eval(h, "return require('circuit').plugin('test_router', 'router').name").ok());
  EXPECT_STREQ(lua_tostring(h.state(), -1), "test_router");
  std::string err = error_of(h, "require('circuit').plugin('no_build')");
  EXPECT_NE(err.find("plugin `no_build` failed to load: "), std::string::npos) << err;
  err = error_of(h, "require('circuit').plugin('prenorm_ffn', 'router')");
  EXPECT_NE(err.find("plugin `prenorm_ffn` is a block plugin, not a router plugin"), std::string::npos) << err;
  ASSERT_TRUE(eval(h, "return #require('circuit').plugins()").ok());
  EXPECT_EQ(lua_tointeger(h.state(), -1), lua_Integer(loaded.size()));
  // The instruction limit of scripts is back after plugin loading.
  EXPECT_EQ(h.options().limits.instructions, Limits{}.instructions);
}

// Lua cuts file names longer than 60 characters to "...tail"; errors still name the whole file.
TEST(Plugins, ErrorsNameFilesInDeepFoldersInFull) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / ("circuit-plugins-" + std::to_string(::getpid())) /
                 "a-folder-name-long-enough-that-lua-would-shorten-it" / "plugins";
  fs::create_directories(dir);
  for (const char* name : {"a_syntax_error.lua", "b_runtime_error.lua"})
    fs::copy_file(source("tests/script/plugins_broken/") + name, dir / name, fs::copy_options::overwrite_existing);
  Host h;
  auto p = by_file(h.load_plugins({dir.string()}));
  fs::remove_all(dir.parent_path().parent_path());
  std::string syntax = p["a_syntax_error.lua"].error, runtime = p["b_runtime_error.lua"].error;
  EXPECT_EQ(syntax.rfind(dir.string() + "/a_syntax_error.lua:3:", 0), 0u) << syntax;
  EXPECT_EQ(runtime.rfind(dir.string() + "/b_runtime_error.lua:2: attempt to index", 0), 0u) << runtime;
  // The traceback lines too.
  EXPECT_NE(runtime.find("\n\t" + dir.string() + "/b_runtime_error.lua:2: in main chunk"), std::string::npos) << runtime;
  EXPECT_EQ(runtime.find("..."), std::string::npos) << runtime;
}

TEST(Plugins, DuplicateNamesAreRefused) {
  Host h;
  h.load_plugins({source("plugins")});
  auto again = by_file(h.load_plugins({source("plugins")}));
  ASSERT_TRUE(again.count("prenorm_ffn.lua"));
  EXPECT_NE(again["prenorm_ffn.lua"].error.find("plugin name `prenorm_ffn` is already used by"), std::string::npos);
}

// The shipped block plugin builds exactly the graph it documents, and it trains-ready checks.
TEST(Plugins, PrenormFfnBuildsTheDocumentedBlock) {
  Host h;
  h.load_plugins({source("plugins")});
  ASSERT_TRUE(eval(h, R"(
    local circuit = require 'circuit'
    local ffn = circuit.plugin('prenorm_ffn', 'block')
    local c = circuit.new { name = 'two_blocks', symbols = { seq = 16 } }
    c:input('x', { 'batch', 'seq', 'd_model:64' })
    c:add('ffn1', 'block', { 'x' }, {}, ffn.build { shape = c:shape('x'), hidden = 256 })
    c:add('ffn2', 'block', { 'ffn1' }, {}, ffn.build { shape = c:shape('ffn1'), hidden = 128, glu = true, activation = 'silu' })
    c:set_outputs { 'ffn2' }
    return c)").ok());
  circuit::Document* d = to_circuit(h.state(), -1);
  ASSERT_NE(d, nullptr);
  EXPECT_TRUE(d->analysis().ok());
  const int64_t dm = 64;
  // rms_norm scale + up (with bias) + down (with bias); then rms_norm + gate, up, down (no bias).
  int64_t ffn1 = dm + (dm * 256 + 256) + (256 * dm + dm);
  int64_t ffn2 = dm + 3 * dm * 128;
  EXPECT_EQ(d->analysis().total.params, ffn1 + ffn2);
  const circuit::Graph& g = *d->circuit().graph.node("ffn2")->body;
  std::vector<std::string> ops;
  for (auto& n : g.nodes) ops.push_back(n.name + "=" + n.op);
  EXPECT_EQ(ops, (std::vector<std::string>{"x=input", "norm=rms_norm", "gate=linear", "act=silu", "up=linear", "mix=multiply",
                                           "down=linear", "res=add"}));
  EXPECT_EQ(d->analysis().outputs.at(0), d->analysis().nodes[0].outputs.at(0));  // residual keeps the type
  std::string err = error_of(h, "require('circuit').plugin('prenorm_ffn').build { shape = { 'batch', 'd' } }", "@use.lua");
  EXPECT_NE(err.find("use.lua:1: prenorm_ffn: the last axis of `shape` must have a concrete size"), std::string::npos) << err;
}

}  // namespace
}  // namespace script::test
