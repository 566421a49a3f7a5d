// `circuit`: the command-line face of Circuit Studio. Thin: every subcommand is a few calls
// into core/ and some formatting.
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "commands.h"

static const char* kUsage =
    "usage: circuit <command> [options]\n"
    "\n"
    "commands:\n"
    "  check FILE...           load and shape-check circuits; exit 1 if any has a problem\n"
    "  info FILE [--json]      nodes with shapes, params, FLOPs, inference memory (--context N), and totals\n"
    "  train FILE --data NAME  train on a data set (circuit train --help)\n"
    "  doctor                  LibTorch threads and BLAS in use\n"
    "  fmt FILE...             rewrite circuits in the canonical layout (atomic)\n"
    "  import CONFIG -o OUT    a Hugging Face config.json as a circuit (circuit import --help)\n"
    "  ops [--json]            the op registry: every op with its attributes\n"
    "  run SCRIPT.lua [ARGS]   run a Lua script (docs/lua.md); --allow-io lifts the sandbox\n"
    "  plugins                 the Lua plugins found, with their kind and file, and why any failed\n"
    "  render FILE -o OUT      the circuit diagram as SVG, PDF or PNG (circuit render --help)\n"
    "  diff A B                how two circuits or stored trials (STUDY:TRIAL) differ; --render draws it\n"
    "  search SPEC --study S   architecture search; resumable; a PostgreSQL --db shares it across machines\n"
    "  worker --db URL --study S   join a study started elsewhere and run its trials\n"
    "  report STUDY            Pareto front and hypervolume plots (SVG) and a CSV of the trials\n"
    "  replay STUDY TRIAL      re-train one trial from its stored protocol\n"
    "  spos SPEC               one-shot search with a weight-sharing supernet and a rank check\n"
    "  serve --stdio           the engine for a front end: JSON lines on stdin/stdout (docs/protocol.md)\n"
    "  version                 print the version\n"
    "\n"
    "FLOPs count a multiply-add as 2 and are per example (batch = 1); see docs/cost.md.\n";

int main(int argc, char** argv) {
  if (argc < 2 || !std::strcmp(argv[1], "-h") || !std::strcmp(argv[1], "--help") || !std::strcmp(argv[1], "help")) {
    std::fputs(kUsage, argc < 2 ? stderr : stdout);
    return argc < 2 ? 2 : 0;
  }
  std::string cmd = argv[1];
  std::vector<std::string> args(argv + 2, argv + argc);
  if (cmd == "check") return cli::check(args);
  if (cmd == "info") return cli::info(args);
  if (cmd == "ops") return cli::ops(args);
  if (cmd == "fmt") return cli::fmt(args);
  if (cmd == "import") return cli::import_model(args);
  if (cmd == "train") return cli::train(args);
  if (cmd == "doctor") return cli::doctor(args);
  if (cmd == "run") return cli::run(args);
  if (cmd == "plugins") return cli::plugins(args);
  if (cmd == "render") return cli::render(args);
  if (cmd == "diff") return cli::diff(args);
  if (cmd == "search") return cli::search(args);
  if (cmd == "worker") return cli::worker(args);
  if (cmd == "report") return cli::report(args);
  if (cmd == "replay") return cli::replay(args);
  if (cmd == "spos") return cli::spos(args);
  if (cmd == "serve") return cli::serve(args);
  if (cmd == "version" || cmd == "--version") {
    std::printf("circuit %s (circuit format version 1)\n", CIRCUIT_VERSION);
    return 0;
  }
  std::fprintf(stderr, "circuit: unknown command `%s`\n\n%s", cmd.c_str(), kUsage);
  return 2;
}
