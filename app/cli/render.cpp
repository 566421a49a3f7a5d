// `circuit render FILE -o OUT.svg|pdf|png [--expand all|none|BLOCK] [--overlay params|flops|memory]`:
// the neural circuit diagram of a circuit (docs/diagrams.md). An invalid circuit is still drawn,
// with its failing nodes marked; the exit code is then 1 so scripts notice.
#include <cstdio>
#include <cstdlib>
#include <string>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "circuit/op.h"
#include "commands.h"
#include "diagram/diagram.h"
#include "diagram/render.h"

namespace cli {

namespace {

const char* kRenderUsage =
    "usage: circuit render FILE -o OUT.svg|OUT.pdf|OUT.png [--expand all|none|parts|PATH]... [--overlay params|flops|memory]\n"
    "  --expand   which blocks to draw open: all (default), none, or a path (repeatable); a path may name\n"
    "             a block or a sequence mixer (attention, gated_delta, mamba2, lstm ...), drawn open to its parts;\n"
    "             parts: every block and every mixer open\n"
    "  --overlay  a badge on every node with its parameters or FLOPs (per example), or the memory a sequence\n"
    "             keeps at inference (bf16 KV cache and state at the circuit's `context`, else `seq`)\n"
    "  --scale N  PNG pixels per point (default 2)\n";

int usage(const std::string& msg) {
  std::fprintf(stderr, "circuit render: %s\n%s", msg.c_str(), kRenderUsage);
  return 2;
}

}  // namespace

int render(const std::vector<std::string>& args) {
  std::string file, out, overlay;
  double scale = 2.0;
  circuit::diagram::DiagramOptions opts;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& v) {
      if (i + 1 >= args.size()) return false;
      v = args[++i];
      return true;
    };
    std::string v;
    if (a == "-h" || a == "--help") {
      std::fputs(kRenderUsage, stdout);
      return 0;
    } else if (a == "-o" || a == "--output") {
      if (!value(out)) return usage("-o needs a file name");
    } else if (a == "--expand") {
      if (!value(v)) return usage("--expand needs all, none, parts or a path");
      if (auto e = opts.expand.add(v); !e.empty()) return usage(e);
    } else if (a == "--overlay") {
      if (!value(overlay) || (overlay != "params" && overlay != "flops" && overlay != "memory")) return usage("--overlay takes params, flops or memory");
    } else if (a == "--scale") {
      if (!value(v) || (scale = std::atof(v.c_str())) <= 0 || scale > 16) return usage("--scale takes a number in (0, 16]");
    } else if (!a.empty() && a[0] == '-') {
      return usage("unknown option `" + a + "`");
    } else if (file.empty()) {
      file = a;
    } else {
      return usage("one circuit file at a time (got `" + file + "` and `" + a + "`)");
    }
  }
  if (file.empty()) return usage("no circuit file given");
  if (out.empty()) return usage("no output file given (-o OUT.svg, OUT.pdf or OUT.png)");
  if (auto f = circuit::diagram::format_of(out); !f) return usage(f.error().message);

  auto c = circuit::load_circuit(file);
  if (!c) {
    std::fprintf(stderr, "%s\n", c.error().message.c_str());
    return 2;
  }
  circuit::GraphAnalysis a = circuit::analyze(*c);
  if (opts.expand.mode == circuit::diagram::Expansion::Mode::listed)
    for (auto& b : opts.expand.blocks) {
      auto* n = circuit::locate(c->graph, b).node();
      const circuit::OpDef* def = n ? circuit::find_op(n->op) : nullptr;
      if (!n || (!n->body && !(def && def->parts))) {
        std::fprintf(stderr, "circuit render: %s: no block or sequence mixer named `%s` (use a path such as `ffn`, `blk/inner` or `L0/mix`)\n",
                     file.c_str(), b.c_str());
        return 2;
      }
    }
  if (!overlay.empty()) opts.overlay = circuit::diagram::cost_overlay(*c, a, overlay);
  circuit::diagram::Scene scene = circuit::diagram::build_scene(*c, a, opts);
  if (auto st = circuit::diagram::render_file(scene, out, scale); !st) {
    std::fprintf(stderr, "circuit render: %s\n", st.error.c_str());
    return 2;
  }
  for (auto& d : a.diagnostics(c->graph)) std::fprintf(stderr, "%s: %s\n", file.c_str(), d.message.c_str());
  return a.ok() ? 0 : 1;
}

}  // namespace cli
