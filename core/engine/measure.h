// Measuring a compiled model on this machine: forward latency and peak tensor memory of a step.
// Torch-free header.
#pragma once
#include <cstdint>

#include "data.h"
#include "model.h"

namespace engine {

/// Median forward latency after warm-up, at batch 1 and at `batch`.
struct Latency {
  double batch1_ms = 0, batch_ms = 0;
  int64_t batch = 0;
  int runs = 0;
};
Latency measure_latency(Model& m, const Dataset& d, int64_t batch, int runs = 20);
/// Peak bytes of tensor memory allocated during one forward + backward step at `batch`.
int64_t measure_peak_memory(Model& m, const Dataset& d, int64_t batch);

}  // namespace engine
