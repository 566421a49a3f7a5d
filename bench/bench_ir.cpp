// IR speed on a generated 10,000-node circuit: full shape inference + cost, and incremental
// re-inference after one attribute edit. The peer is the naive way to stay up to date after an
// edit, a full re-analysis, run in the same process on the same graph; the ratio is printed.
// Also: save and load of the same circuit as .circuit.json, and the analysis of the full-size
// DeepSeek-V3 imported from its Hugging Face config (tests/data/hf/full), target < 50 ms.
//
//   build/bench/bench_ir [blocks]      (default 1250 blocks x 8 nodes = 10,000 nodes)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <vector>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "circuit/edit.h"
#include "circuit/hf_import.h"
#include "base/file.h"
#include "generated_circuits.h"

using namespace circuit;
using bench::median_ms;
using bench::transformer;


int main(int argc, char** argv) {
  int blocks = argc > 1 ? std::atoi(argv[1]) : 1250;
  Circuit c = transformer(blocks);
  Bindings b = cost_bindings(c);
  std::printf("circuit: %zu nodes (pre-norm transformer, %d blocks, seq=128, d_model=256)\n\n", c.graph.nodes.size(), blocks);

  GraphAnalysis a;
  double full = median_ms(21, [&] { a = analyze(c.graph, b); });
  if (!a.ok()) {
    std::printf("generated circuit does not check: %s\n", a.diagnostics(c.graph)[0].message.c_str());
    return 1;
  }
  std::printf("full shape inference + cost:           %9.3f ms   (%.0f ns/node; target < 20 ms)\n", full,
              full * 1e6 / double(c.graph.nodes.size()));

  // One attribute edit in the middle (an FFN's width): the node and its consumer change, the
  // residual stream does not, so propagation stops after two nodes.
  Document doc(c);
  std::string mid = "up_" + std::to_string(blocks / 2);
  int64_t width = 1024;
  double inc = median_ms(201, [&] {
    width = width == 1024 ? 1536 : 1024;
    doc.apply(SetAttr{mid, "out", width});
  });
  double naive = median_ms(21, [&] {
    width = width == 1024 ? 1536 : 1024;
    Node* n = c.graph.node(mid);
    n->attrs["out"] = width;
    a = analyze(c.graph, b);
  });
  std::printf("edit `%s.out`, incremental:         %9.3f ms   (target < 1 ms; includes the undo record)\n", mid.c_str(), inc);
  std::printf("same edit, naive full re-analysis:     %9.3f ms\n", naive);
  std::printf("ratio naive / incremental:             %9.1fx\n\n", naive / inc);

  // Worst case: an edit at the top that changes every downstream type (here it breaks the first
  // residual add, so every later node becomes blocked, then is repaired by the next edit).
  double worst = median_ms(21, [&] {
    width = width == 256 ? 128 : 256;
    doc.apply(SetAttr{"down_0", "out", width});
  });
  std::printf("edit at block 0 that retypes all downstream: %7.3f ms (everything re-inferred; bounded by full)\n\n", worst);

  std::string text;
  double save = median_ms(5, [&] { text = circuit_to_text(c); });
  Result<Circuit> back = Error{""};
  double load = median_ms(5, [&] { back = parse_circuit(text, "bench"); });
  std::printf("serialise to .circuit.json:            %9.3f ms   (%.1f MiB)\n", save, double(text.size()) / (1 << 20));
  std::printf("parse .circuit.json:                   %9.3f ms\n", load);

  auto cfg = base::read_file(std::string(CIRCUIT_SOURCE_DIR) + "/tests/data/hf/full/deepseek-v3.json");
  auto j = cfg ? base::parse_json(*cfg) : base::Result<base::Json>(cfg.error());
  auto ds = j ? import_hf_config(*j, "deepseek-v3") : base::Result<HfImport>(j.error());
  if (!ds) return std::printf("DeepSeek-V3 import failed: %s\n", ds.error().message.c_str()), 1;
  GraphAnalysis da;
  double ds_ms = median_ms(21, [&] { da = analyze(ds->circuit); });
  double imp_ms = median_ms(21, [&] { ds = import_hf_config(*j, "deepseek-v3"); });
  std::printf("\nDeepSeek-V3 full size (61 layers, %.1f B params): analysis %7.3f ms (target < 50 ms); import %.3f ms\n",
              double(da.total.params) / 1e9, ds_ms, imp_ms);
  return back.ok() ? 0 : 1;
}
