// Diagram layout and SVG of a generated 1,000-node circuit (a flattened pre-norm transformer,
// 8 nodes per block), and re-layout after one edit with the previous layout as the hint, against
// a full layout of the edited circuit without the hint in the same run.
//
//   build/bench/bench_diagram [nodes]      (default 1000)
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "circuit/analysis.h"
#include "diagram/diagram.h"
#include "diagram/render.h"
#include "generated_circuits.h"

using namespace circuit;

int main(int argc, char** argv) {
  int nodes = argc > 1 ? std::max(8, std::atoi(argv[1])) : 1000;
  Circuit c = bench::transformer(nodes / 8);
  GraphAnalysis a = analyze(c);
  diagram::Scene scene;
  double layout = bench::median_ms(7, [&] { scene = diagram::build_scene(c, a); });
  std::string svg;
  double render = bench::median_ms(7, [&] { svg = *diagram::render(scene, diagram::Format::svg); });
  double both = bench::median_ms(5, [&] {
    auto s = diagram::build_scene(c, analyze(c));
    svg = *diagram::render(s, diagram::Format::svg);
  });

  // One edit in the middle: a wider FFN in one block (its boxes and labels change size).
  Circuit edited = c;
  for (auto& n : edited.graph.nodes)
    if (n.name == "up_" + std::to_string(nodes / 16)) n.attrs["out"] = int64_t(2048);
  GraphAnalysis ea = analyze(edited);
  diagram::DiagramOptions hinted;
  hinted.hint = &scene.memory;
  double incremental = bench::median_ms(7, [&] { diagram::build_scene(edited, ea, hinted); });
  double fresh = bench::median_ms(7, [&] { diagram::build_scene(edited, ea); });

  std::printf("diagram of a generated transformer: %zu nodes, %zu boxes, SVG %.1f KiB\n", c.graph.nodes.size(), scene.boxes.size(),
              double(svg.size()) / 1024);
  std::printf("layout (analysis to scene)            %8.1f ms\n", layout);
  std::printf("SVG from the scene                    %8.1f ms\n", render);
  std::printf("analysis + layout + SVG               %8.1f ms   (target < 200 ms)\n", both);
  std::printf("re-layout after one edit, with hint   %8.1f ms   (target < 20 ms)\n", incremental);
  std::printf("full layout of the edited circuit     %8.1f ms   (peer: no hint; ratio %.1fx)\n", fresh, fresh / incremental);
  return 0;
}
