#include "memory.h"

#include <cstdio>
#include <fstream>
#include <string>

#include "base/ram.h"


namespace engine {

using base::Status;

namespace {

std::string gib(double b) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", b / double(1LL << 30));
  return buf;
}

}  // namespace

TrainingMemory training_memory(const circuit::GraphAnalysis& a, int64_t batch, Optimizer optimizer) {
  double states = optimizer == Optimizer::sgd ? 1 : 2;  // momentum, or Adam's two moments
  return {double(a.total.params) * 4 * (2 + states), double(a.total.activation_bytes) * double(batch) * 2};
}

Status check_memory(const circuit::GraphAnalysis& a, int64_t batch, Optimizer optimizer, double fraction) {
  TrainingMemory m = training_memory(a, batch, optimizer);
  double weights = m.weights, acts = m.activations, need = m.total();
  double avail = double(base::available_ram());
  if (avail > 0 && need > fraction * avail)
    return Status::fail("estimated training memory " + gib(need) + " (weights, gradients and optimizer state " + gib(weights) +
                        ", activations at batch " + std::to_string(batch) + " " + gib(acts) + ") exceeds the budget of " +
                        gib(fraction * avail) + " (" + std::to_string(int(fraction * 100)) +
                        "% of available RAM); lower the batch size or the model size");
  return {};
}

Status check_model_memory(const circuit::GraphAnalysis& a, double fraction) {
  double weights = double(a.total.params) * 4, acts = double(a.total.activation_bytes);
  double avail = double(base::available_ram());
  if (avail > 0 && weights + acts > fraction * avail)
    return Status::fail("the circuit has " + std::to_string(a.total.params) + " parameters: its weights alone take " + gib(weights) +
                        ", more than the budget of " + gib(fraction * avail) + " (" + std::to_string(int(fraction * 100)) +
                        "% of available RAM); make the model smaller");
  return {};
}

}  // namespace engine
