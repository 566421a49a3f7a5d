// `circuit diff A B [--db STORE] [--json] [--render OUT]`: how circuit B differs from circuit A
// (circuit/diff.h). A and B are circuit files or STUDY:TRIAL references to a stored trial. Exit
// codes as diff(1): 0 the same, 1 different, 2 trouble.
#include <cstdio>
#include <filesystem>
#include <string>

#include "args.h"
#include "base/json.h"
#include "circuit/circuit_file.h"
#include "circuit/diff.h"
#include "commands.h"
#include "diagram/diagram.h"
#include "diagram/render.h"
#include "script/engine_extension.h"
#include "store/store.h"

namespace cli {

namespace {

const char* kDiffUsage =
    "usage: circuit diff A B [--db STORE] [--json] [--render OUT.svg|pdf|png] [--expand all|none|parts|PATH]...\n"
    "  A, B       circuit files, or STUDY:TRIAL for a trial stored in --db (circuit-studies.sqlite)\n"
    "  --json     the differences as JSON (the table Lua's circuit.diff returns)\n"
    "  --render   B's circuit with A's removed nodes put back, each added, removed or changed node marked\n"
    "exit code: 0 the same, 1 different, 2 a circuit could not be read\n";

// A file when one exists at `ref`; else STUDY:TRIAL in the store.
base::Result<circuit::Circuit> load_ref(const std::string& ref, const std::string& db_path) {
  if (std::filesystem::exists(ref)) return circuit::load_circuit(ref);
  size_t colon = ref.rfind(':');
  int number = colon == std::string::npos ? 0 : std::atoi(ref.c_str() + colon + 1);
  if (number <= 0) return base::Error{ref + ": no such file, and not a STUDY:TRIAL reference (trial numbers start at 1)"};
  std::string study = ref.substr(0, colon);
  if (!store::is_url(db_path) && !std::filesystem::exists(db_path))
    return base::Error{ref + ": no such file, and no store at " + db_path + " to find study `" + study + "` in (--db)"};
  auto db = store::Store::open(db_path);
  if (!db) return db.error();
  auto found = (*db)->find_study(study);
  if (!found) return found.error();
  if (!*found) return base::Error{ref + ": no study `" + study + "` in " + db_path};
  auto rec = (*db)->trial((*found)->id, number);
  if (!rec) return rec.error();
  if (!*rec) return base::Error{ref + ": study `" + study + "` has no trial " + std::to_string(number)};
  if ((*rec)->circuit.empty()) return base::Error{ref + ": the trial stored no circuit"};
  return circuit::parse_circuit((*rec)->circuit, ref);
}

}  // namespace

int diff(const std::vector<std::string>& args) {
  std::string a_ref, b_ref, db_path = "circuit-studies.sqlite", out;
  bool json = false;
  circuit::diagram::DiagramOptions opts;
  Args table("circuit diff", kDiffUsage);
  table.positional(a_ref).positional(b_ref).text("--db", db_path).set("--json", json).text("--render", out);
  table.value("--expand", [&](const std::string& v) -> std::optional<std::string> {
    if (auto e = opts.expand.add(v); !e.empty()) return e;
    return std::nullopt;
  });
  if (auto rc = table.parse(args)) return *rc;
  if (a_ref.empty() || b_ref.empty()) return std::fputs(kDiffUsage, stderr), 2;
  if (!out.empty())
    if (auto f = circuit::diagram::format_of(out); !f) return std::fprintf(stderr, "circuit diff: %s\n", f.error().message.c_str()), 2;
  // Router plugins add names to the `moe` node's router choices: load them before the circuits.
  try {
    script::host_with_plugin_routers();
  } catch (const std::exception& e) {
    return std::fprintf(stderr, "circuit diff: %s\n", e.what()), 2;
  }
  auto a = load_ref(a_ref, db_path);
  if (!a) return std::fprintf(stderr, "%s\n", a.error().message.c_str()), 2;
  auto b = load_ref(b_ref, db_path);
  if (!b) return std::fprintf(stderr, "%s\n", b.error().message.c_str()), 2;
  circuit::CircuitDiff d = circuit::diff(*a, *b);
  std::fputs(json ? base::write_json(circuit::diff_json(d)).c_str() : circuit::diff_text(d, a_ref, b_ref).c_str(), stdout);
  if (json) std::fputs("\n", stdout);
  if (!out.empty()) {
    circuit::diagram::Scene scene = circuit::diagram::diff_scene(*a, *b, d, opts);
    if (auto st = circuit::diagram::render_file(scene, out, 2.0); !st) return std::fprintf(stderr, "circuit diff: %s\n", st.error.c_str()), 2;
  }
  return d.same() ? 0 : 1;
}

}  // namespace cli
