// Memory admission: a model is refused, with the numbers, before any weight is allocated when the
// IR's estimate would not fit in the RAM available now. Model::compile and the training loop ask
// it. Torch-free header.
#pragma once
#include <cstdint>

#include "base/result.h"
#include "optimizer.h"
#include "circuit/analysis.h"

namespace engine {

/// What training a circuit takes, from the IR's estimates: fp32 weights, their gradients and the
/// optimizer's state; and the activations at a batch, kept for backward, with their gradients.
struct TrainingMemory {
  double weights = 0, activations = 0;
  double total() const { return weights + activations; }
};
TrainingMemory training_memory(const circuit::GraphAnalysis& a, int64_t batch, Optimizer optimizer);

/// Refuses (with the numbers) when weights + gradients + optimizer state + activations at
/// `batch` would exceed `fraction` of the RAM available now. Uses the IR's estimates, so it runs
/// before any weight is allocated.
base::Status check_memory(const circuit::GraphAnalysis& a, int64_t batch, Optimizer optimizer, double fraction);

/// Refuses (with the numbers) when the weights and one example's activations would exceed
/// `fraction` of the RAM available now: what compiling alone allocates. Model::compile runs it.
base::Status check_model_memory(const circuit::GraphAnalysis& a, double fraction);

}  // namespace engine
