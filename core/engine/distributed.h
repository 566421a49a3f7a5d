// Data-parallel training on several processes with LibTorch's c10d: a process group over Gloo
// (CPU) or NCCL (CUDA), joined through a TCPStore rendezvous. Nothing here talks to another
// process itself; it configures c10d and reads torchrun's variables, so the same binary runs
// under `circuit train --nproc N`, torchrun, SLURM or a Kubernetes job. Torch-free header.
#pragma once
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "base/result.h"
#include "engine/device.h"

namespace engine {

/// The c10d backend of a process group: Gloo (CPU or CUDA tensors) or NCCL (CUDA only);
/// `automatic` is NCCL on CUDA, Gloo on the CPU.
enum class Backend { automatic, gloo, nccl };
/// "auto", "gloo", "nccl".
const char* to_string(Backend b);
/// The backend a user names ("gloo", "nccl"; "auto" or empty: automatic), or nullopt.
std::optional<Backend> parse_backend(std::string_view s);

/// Where this process sits in a run, in torchrun's terms. world_size 1 is a plain run.
struct DistConfig {
  int rank = 0, world_size = 1;
  int local_rank = 0, local_world_size = 1;  // on this machine: which GPU and how many threads
  std::string master_addr = "127.0.0.1";     // the host of rank 0, which serves the TCPStore
  int master_port = 29500;
  Backend backend = Backend::automatic;
  double timeout_s = 300;                    // rendezvous and every collective: longer ends the run
  bool active() const { return world_size > 1; }
};

/// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR and MASTER_PORT from the
/// environment (torchrun's, which SLURM and Kubernetes jobs set the same way). Unset WORLD_SIZE
/// means one process. A malformed or inconsistent value is an error naming the variable.
base::Result<DistConfig> dist_config_from_env();

/// A joined c10d process group. Training, evaluation and the MoE and BatchNorm layers use it
/// while a run holds it (TrainOptions::group). When a collective fails, the error names the rank
/// that was lost and why, from the heartbeats every rank keeps in the store.
class ProcessGroup {
 public:
  /// Connects to the store at master_addr:master_port (rank 0 serves it) and forms the group.
  /// `device` is this rank's device; it picks the default backend. Fails with
  /// the host, port and the ranks missing when the rendezvous does not complete in time.
  static base::Result<std::shared_ptr<ProcessGroup>> join(const DistConfig& c, const Device& device);
  ~ProcessGroup();
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  int rank() const;
  int size() const;
  const DistConfig& config() const;
  /// Gloo or NCCL (never automatic: the choice is made when the group is joined).
  Backend backend() const;
  /// Rank 0's `text` on every rank (the others pass anything): how rank 0 hands out work, such as
  /// a search's next trial. Throws std::runtime_error naming the lost rank when a rank is gone.
  std::string share(const std::string& text);
  /// Records why this rank is stopping, so the ranks it leaves behind can say it.
  void report_failure(const std::string& message);

  struct Impl;
  Impl& impl();

 private:
  explicit ProcessGroup(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// What a front end (CLI, Lua) needs to take part in a run that `--nproc` or torchrun started.
struct RankSetup {
  DistConfig config;                    // world_size 1: not data parallel, group is null
  std::shared_ptr<ProcessGroup> group;
  Device device;                        // resolved: this rank's (its own GPU under --nproc)
  int threads = 0;                      // 0 (every core) shared fairly among the local ranks
};
/// Reads the environment and joins its group, once per process: later calls return the same
/// group (a run trains, evaluates and searches over one group). `backend` and `timeout_s` (> 0)
/// override the defaults. The device is resolved here, once per run: a device this machine lacks
/// is an error naming it.
base::Result<RankSetup> join_from_environment(const std::string& device_spec, Backend backend, double timeout_s, int threads);

/// The backends this LibTorch brings, e.g. "gloo" or "gloo, nccl" (`circuit doctor`).
std::string available_backends();

}  // namespace engine
