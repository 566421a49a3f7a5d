// Checkpoints: one file per run, written atomically after each epoch by the training loop (with
// weights and optimizer state) and read back by --resume. Torch-free header.
#pragma once
#include <cstdint>
#include <string>

#include "base/result.h"
#include "optimizer.h"

namespace engine {

/// Writes / reads a checkpoint: circuit, weights, optimizer state, seed, progress and protocol.
struct CheckpointInfo {
  std::string circuit_text, protocol;
  Optimizer optimizer = Optimizer::adamw;
  uint64_t seed = 0;
  int epochs_done = 0;
  int64_t steps = 0;
};
base::Result<CheckpointInfo> read_checkpoint_info(const std::string& path);

}  // namespace engine
