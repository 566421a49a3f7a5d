// Pieces of the training loop that other engine translation units reuse (the SPOS supernet).
// Internal: includes LibTorch, like moe.h.
#pragma once
#include "engine/detail/private.h"
#include <torch/torch.h>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/data.h"
#include "engine/model.h"
#include "engine/train.h"

namespace engine::detail {

/// A seed derived from `seed` and `salt` (splitmix64).
uint64_t mix(uint64_t seed, uint64_t salt);
/// The same permutation of 0..n-1 on every platform and library (Fisher-Yates, splitmix64).
torch::Tensor permutation(int64_t n, uint64_t seed);
/// A host array as a tensor (copied).
torch::Tensor to_tensor(const HostArray& a);
/// The message of a LibTorch exception without its C++ backtrace.
std::string torch_message(const std::exception& e);
/// Per-output loss weights: an exit head's own weight, 1 for anything else.
std::vector<double> output_weights(const Model& m);
/// Writes a checkpoint of `m` and `opt` to `path` atomically (checkpoint.cpp).
base::Status write_checkpoint(const std::string& path, Model& m, torch::optim::Optimizer& opt, const TrainOptions& o,
                              const std::string& protocol, int epochs_done, int64_t steps);
/// Cross-entropy over classes, or over tokens ignoring -100 targets.
torch::Tensor task_loss(const torch::Tensor& out, const torch::Tensor& y, bool tokens);

}  // namespace engine::detail
