// Weight sharing for single-path one-shot search (SPOS): every circuit of a search space binds to
// one bank of weights, so training a randomly sampled circuit each step trains the supernet, and
// any circuit of the space can then be evaluated with inherited weights. Torch-free header.
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "circuit/graph.h"
#include "base/result.h"
#include "data.h"
#include "model.h"

namespace engine {

/// The shared weights. A parameter is identified by its node path, its name and its shape:
/// circuits that share a node with the same shape share its weights (an op alternative or a
/// width choice with another shape gets weights of its own; repeated copies of a block share
/// across depths). One AdamW optimizer updates the bank; buffers are not shared.
class SharedWeights {
 public:
  /// The bank and every bound model live on `device`.
  SharedWeights(uint64_t seed, double lr = 1e-3, double weight_decay = 0.01, Device device = {});
  ~SharedWeights();
  SharedWeights(const SharedWeights&) = delete;
  SharedWeights& operator=(const SharedWeights&) = delete;

  /// Compiles `c` with its parameters bound to the bank (weights created on first use with the
  /// seeded initialisation of the first circuit that needs them).
  base::Result<std::shared_ptr<Model>> bind(const circuit::Circuit& c);
  /// One training step of a bound model on training batch `step` (a seeded permutation per
  /// epoch): forward, loss (+ router and exit losses), backward, AdamW step on the bank.
  /// Returns the loss.
  base::Result<double> train_step(Model& m, const Dataset& d, int64_t step, int64_t batch);
  /// Re-estimates batch-norm statistics of a bound model (they are per circuit, not shared) with
  /// `batches` training batches in training mode, without gradients. SPOS needs this before a
  /// sub-network with inherited weights is evaluated.
  base::Status recalibrate(Model& m, const Dataset& d, int64_t batches, int64_t batch);
  /// Weights in the bank (scalars), and how many distinct tensors.
  int64_t parameter_count() const;
  int64_t tensors() const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace engine
