// Random inputs for a compiled model at given axis sizes: what the engine, device and CUDA tests
// feed every example circuit.
#pragma once
#include <torch/torch.h>

#include <vector>

#include "circuit/analysis.h"
#include "engine/model.h"

namespace engine::test {

inline std::vector<at::Tensor> inputs_for(const Model& m, const circuit::Bindings& b, int64_t seed = 1) {
  torch::manual_seed(seed);
  std::vector<at::Tensor> in;
  for (int k : m.analysis().inputs) {
    const circuit::TensorType& t = m.analysis().nodes[size_t(k)].outputs[0];
    std::vector<int64_t> shape;
    for (auto& a : t.axes) shape.push_back(circuit::resolve(a.size, b));
    in.push_back(t.dtype == circuit::DType::i64 ? torch::randint(0, 8, shape, torch::kLong) : torch::randn(shape));
  }
  return in;
}

}  // namespace engine::test
