// The `circuit` command's subcommands. Each returns the process exit code:
// 0 success, 1 the circuit has problems, 2 bad usage or an unreadable file.
#pragma once
#include <string>
#include <vector>

namespace cli {

int check(const std::vector<std::string>& args);
int info(const std::vector<std::string>& args);
int fmt(const std::vector<std::string>& args);
int train(const std::vector<std::string>& args);
int doctor(const std::vector<std::string>& args);
int ops(const std::vector<std::string>& args);
int run(const std::vector<std::string>& args);      // run.cpp: a Lua script; 1 on a Lua error
int plugins(const std::vector<std::string>& args);  // run.cpp: 1 if any plugin failed to load

}  // namespace cli
