// The engine's side of a process group: the collectives training needs, and the group that the
// layers with batch-wide state (BatchNorm statistics, the MoE router's load) reduce over while a
// data-parallel run is training. c10d itself stays inside distributed.cpp.
#pragma once
#include "engine/detail/private.h"
#include <ATen/core/Tensor.h>

#include <string>
#include <vector>

#include "engine/distributed.h"

namespace engine::detail {

/// The collectives over a joined group. Each throws std::runtime_error with a message that
/// names the operation, this rank and the rank that was lost, never hangs past the timeout.
class Collectives {
 public:
  virtual ~Collectives() = default;
  virtual int rank() const = 0;
  virtual int size() const = 0;
  /// Sums every tensor in place across ranks; all are in flight before the first wait.
  virtual void all_reduce_sum(std::vector<at::Tensor>& tensors, const char* what) = 0;
  /// Copies rank `root`'s tensors into everyone's, in place.
  virtual void broadcast(std::vector<at::Tensor>& tensors, int root, const char* what) = 0;
};

Collectives& collectives(ProcessGroup& g);

/// The group of the data-parallel run training on this thread, or null. Set by train() for its
/// duration; BatchNorm and MoE layers read it in their forward.
Collectives* training_group();
class TrainingGroupScope {
 public:
  explicit TrainingGroupScope(Collectives* g);
  ~TrainingGroupScope();
  TrainingGroupScope(const TrainingGroupScope&) = delete;
  TrainingGroupScope& operator=(const TrainingGroupScope&) = delete;

 private:
  Collectives* previous_;
};

/// What a data-parallel training step sums over ranks besides the gradients.
struct StepSums {
  double loss = 0, correct = 0, counted = 0, cancel = 0;
};
/// Averages the gradients of `params` over the ranks of `g` and sums `local` (the training loop's
/// one all-reduce per step; distributed.cpp says how).
StepSums reduce_step(Collectives& g, const std::vector<at::Tensor>& params, const StepSums& local, const at::Device& dev);

/// Sum across the training group's ranks that autograd differentiates: the backward sums the
/// incoming gradients the same way, so a statistic computed over the whole global batch
/// (synchronised BatchNorm) trains exactly as on one process.
at::Tensor all_reduce_sum_differentiable(const at::Tensor& x);

}  // namespace engine::detail
