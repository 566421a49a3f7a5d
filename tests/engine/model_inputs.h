// Random inputs for a compiled model at given axis sizes: what the engine, device and CUDA tests
// feed every example circuit; and the raw arrays a peer reads them and our outputs back from.
#pragma once
#include <torch/torch.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include "base/json.h"
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

/// Writes `t` to `file` as a raw little-endian array and returns its description for a fixture's
/// JSON ({"file", "shape", "dtype"}), as tests/python/ and tests/interop/run_onnx.mjs read it.
inline base::Json write_array(const at::Tensor& t, const std::filesystem::path& file) {
  at::Tensor c = t.contiguous();
  std::ofstream(file, std::ios::binary).write(static_cast<const char*>(c.data_ptr()), std::streamsize(c.nbytes()));
  base::Json j = base::Json::object();
  j.set("file", base::Json::string(file.filename().string()));
  base::Json shape = base::Json::array();
  for (auto s : c.sizes()) shape.push(base::Json::integer(s));
  j.set("shape", std::move(shape));
  j.set("dtype", base::Json::string(c.scalar_type() == at::kLong ? "int64" : "float32"));
  return j;
}

}  // namespace engine::test
