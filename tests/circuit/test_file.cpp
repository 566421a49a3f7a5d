// The .circuit.json format: every example round-trips; every malformed file gives its own
// located message; saves are atomic.
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "base/file.h"
#include "helpers.h"

namespace circuit::test {
namespace {

namespace fs = std::filesystem;

std::vector<std::string> examples() {
  std::vector<std::string> v;
  for (auto& e : fs::directory_iterator(source("resources/examples")))
    if (e.path().string().ends_with(".circuit.json")) v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

TEST(File, TheExamplesWeShip) {
  std::vector<std::string> names;
  for (auto& p : examples()) names.push_back(fs::path(p).filename().string());
  for (auto want : {"mlp", "cnn", "attention", "transformer_block", "moe_transformer_block", "hybrid_conv_attention", "early_exit"})
    EXPECT_NE(std::find(names.begin(), names.end(), std::string(want) + ".circuit.json"), names.end()) << want;
}

TEST(File, EveryExampleLoadsChecksAndRoundTrips) {
  for (auto& path : examples()) {
    SCOPED_TRACE(path);
    auto c = load_circuit(path);
    ASSERT_TRUE(c.ok()) << c.error().message;
    GraphAnalysis a = analyze(*c);
    EXPECT_TRUE(a.ok()) << (a.diagnostics(c->graph).empty() ? "" : a.diagnostics(c->graph)[0].message);
    EXPECT_FALSE(a.outputs.empty());
    // Saved text is canonical: the shipped file is already in it, and it reads back identically.
    std::string text = circuit_to_text(*c);
    EXPECT_EQ(text, *base::read_file(path)) << "run `circuit fmt` on it";
    auto again = parse_circuit(text, "round trip");
    ASSERT_TRUE(again.ok()) << again.error().message;
    EXPECT_EQ(circuit_to_text(*again), text);
    GraphAnalysis b = analyze(*again);
    EXPECT_EQ(a.total, b.total);
    EXPECT_EQ(a.outputs, b.outputs);
  }
}

TEST(File, MalformedFilesGiveTheirOwnLocatedError) {
  struct C {
    const char* file;
    const char* where;  // line:column
    const char* what;
  } cases[] = {
      {"trailing_comma", "8:75", "invalid JSON: expected a key after `,` (trailing commas are not JSON)"},
      {"unterminated_string", "8:20", "invalid JSON: unterminated string (strings cannot span lines)"},
      {"duplicate_key", "8:76", "invalid JSON: duplicate key \"out\""},
      {"not_an_object", "1:1", "a circuit file holds a JSON object, got an array"},
      {"wrong_format", "2:13", "not a circuit file: expected \"format\": \"circuit\""},
      {"missing_version", "1:1", "missing \"version\" (this build writes version 1)"},
      {"future_version", "3:14", "format version 7 is newer than this build reads (up to 1); open it with a newer Circuit Studio"},
      {"unknown_op", "8:29", "node `fc1`: unknown op `lineer` (did you mean `linear`?)"},
      {"duplicate_node", "9:16", "duplicate node name `fc1` in the graph"},
      {"attr_wrong_type", "8:73", "node `fc1`: attribute `out` expects an integer, got \"256\""},
      {"attr_out_of_range", "8:73", "node `fc1`: attribute `out` = 0 is out of range: it must be at least 1"},
      {"unknown_attr", "8:84", "node `fc1`: op `linear` has no attribute `bais` (did you mean `bias`?)"},
      {"unknown_key", "8:64", "unknown key \"atrs\" in a node (did you mean `attrs`?)"},
      {"missing_source", "8:50", "node `fc1`: input refers to `fc0`, which is not a node of this graph"},
      {"missing_required_attr", "8:7", "node `fc1`: op `linear` needs attribute `out` (integer)"},
      {"bad_port", "8:50", "bad port reference `x:one` (expected `node` or `node:index`)"},
      {"bad_axis", "7:55", "node `x`: attribute `shape`: bad axis `pixels:-3`: the size must be a positive integer or a symbol"},
      {"bad_symbol", "5:22", "symbol `seq` must be a positive integer, got 0"},
      {"moe_without_body", "8:7", "node `fc1`: op `moe` needs a \"body\""},
      {"body_on_plain_op", "8:62", "node `fc1`: op `relu` takes no body"},
  };
  size_t files = 0;
  for (auto& e : fs::directory_iterator(source("tests/data/malformed"))) files += e.path().extension() == ".json";
  EXPECT_EQ(files, std::size(cases)) << "every malformed file needs a case here";
  for (auto& c : cases) {
    std::string path = source(std::string("tests/data/malformed/") + c.file + ".circuit.json");
    auto r = load_circuit(path);
    ASSERT_FALSE(r.ok()) << c.file << " loaded";
    EXPECT_EQ(r.error().message.rfind(path + ":" + c.where + ": ", 0), 0u) << r.error().message;
    EXPECT_NE(r.error().message.find(c.what), std::string::npos) << r.error().message;
  }
}

TEST(File, ShapeErrorsAreNotLoadErrors) {
  auto c = load_circuit(source("tests/data/broken/shape_mismatch.circuit.json"));
  ASSERT_TRUE(c.ok()) << c.error().message;
  GraphAnalysis a = analyze(*c);
  auto d = a.diagnostics(c->graph);
  ASSERT_EQ(d.size(), 1u);  // `res` downstream is blocked, not reported: the error stays at its cause
  EXPECT_EQ(d[0].message, "node `ffn2` input 0: expected axis `d_model`=256, got `hidden`=512");
  EXPECT_TRUE(a.nodes[size_t(c->graph.find("res"))].blocked);
}

TEST(File, SaveIsAtomicAndLeavesNoTemporaries) {
  fs::path dir = fs::temp_directory_path() / ("circuit_save_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::string path = (dir / "m.circuit.json").string();
  auto c = load_circuit(source("resources/examples/mlp.circuit.json"));
  ASSERT_TRUE(c.ok());
  ASSERT_TRUE(save_circuit(*c, path).ok());
  { std::ofstream(path, std::ios::app) << "garbage"; }  // a previous, different file
  ASSERT_TRUE(save_circuit(*c, path).ok());            // replaced whole, not appended to
  EXPECT_EQ(*base::read_file(path), circuit_to_text(*c));
  size_t entries = 0;
  for (auto& e : fs::directory_iterator(dir)) entries += 1, (void)e;
  EXPECT_EQ(entries, 1u);
  // A save into a folder that does not exist fails with a message and writes nothing.
  auto bad = save_circuit(*c, (dir / "no/such/dir/x.circuit.json").string());
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.error.find("cannot create a temporary file"), std::string::npos) << bad.error;
  fs::remove_all(dir);
}

TEST(File, UnconnectedPortsSaveAndLoad) {
  Circuit c;
  c.graph = G({In("x", T({"batch", "d:4"})), N("a", "add", {"x"})}, {"a"});
  c.graph.nodes[1].inputs.push_back(PortRef{});
  auto back = parse_circuit(circuit_to_text(c), "mem");
  ASSERT_TRUE(back.ok()) << back.error().message;
  EXPECT_FALSE(back->graph.nodes[1].inputs[1].connected());
  EXPECT_EQ(analyze(*back).diagnostics(back->graph)[0].message, "node `a` input 1: not connected");
}

}  // namespace
}  // namespace circuit::test
