// The `circuit` command's subcommands. Each returns the process exit code:
// 0 success, 1 the circuit has problems, 2 bad usage or an unreadable file.
#pragma once
#include <memory>
#include <string>
#include <vector>

namespace script {
class Host;
}

namespace cli {

int check(const std::vector<std::string>& args);
int info(const std::vector<std::string>& args);
int fmt(const std::vector<std::string>& args);
int import_model(const std::vector<std::string>& args);  // info.cpp: a Hugging Face config.json as a circuit
int train(const std::vector<std::string>& args);
int doctor(const std::vector<std::string>& args);
int ops(const std::vector<std::string>& args);
int run(const std::vector<std::string>& args);      // run.cpp: a Lua script; 1 on a Lua error
int plugins(const std::vector<std::string>& args);  // run.cpp: 1 if any plugin failed to load
int render(const std::vector<std::string>& args);
int diff(const std::vector<std::string>& args);     // diff.cpp: how two circuits (or stored trials) differ
int search(const std::vector<std::string>& args);   // search.cpp: run or resume a study
int worker(const std::vector<std::string>& args);   // search.cpp: join a stored study (any machine)
int report(const std::vector<std::string>& args);   // search.cpp: front and hypervolume plots, CSV
int replay(const std::vector<std::string>& args);   // search.cpp: re-train one stored trial
int serve(const std::vector<std::string>& args);    // serve.cpp: the engine for a front end (JSON lines)
int spos(const std::vector<std::string>& args);     // search.cpp: weight-sharing one-shot search   // render.cpp: the diagram as SVG, PDF or PNG

}  // namespace cli
