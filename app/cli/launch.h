// `--nproc N`: what torchrun does on one machine, for the commands that train. The ranks
// themselves join through c10d (engine/distributed.h); this only starts and watches them.
#pragma once
#include <string>
#include <vector>

namespace cli {

/// Runs this executable `nproc` times with `args` (the command and its options, without
/// --nproc) and torchrun's variables: RANK, LOCAL_RANK, WORLD_SIZE, LOCAL_WORLD_SIZE,
/// MASTER_ADDR=127.0.0.1 and a free MASTER_PORT (or the one already in the environment). When a
/// rank fails, the others get `grace_s` seconds to end on their own (they say which rank they
/// lost) and are then stopped. Ctrl-C reaches every rank, which cancel together. Returns 0 when
/// every rank succeeded, else the first failing rank's exit code (128 + signal when killed).
int launch_ranks(int nproc, const std::vector<std::string>& args, double grace_s);

/// `args` without `--nproc N` (and the value), for the ranks' command line.
std::vector<std::string> without_nproc(const std::vector<std::string>& args);

}  // namespace cli
