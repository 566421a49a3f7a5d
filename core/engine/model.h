// A circuit compiled to LibTorch: parameters plus a forward that follows the graph. This header
// stays free of LibTorch includes (forward declarations only), so the CLI and GUI that hold a
// Model do not pay LibTorch's compile time; only engine .cpp files call the tensor functions.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "circuit/analysis.h"
#include "circuit/graph.h"
#include "base/result.h"
#include "engine/device.h"
#include "events/events.h"

namespace at {
class Tensor;
}
namespace torch::nn {
class Module;
}

namespace engine {

/// A compiled circuit. Created only from a circuit whose analysis has no errors.
class Model {
 public:
  /// Compiles `c`; weights are initialised as PyTorch initialises the same modules, from `seed`.
  /// Fails with a message naming the node when something cannot be compiled, and, before any
  /// weight is allocated, when the weights would not fit in `memory_budget` x the available RAM.
  static base::Result<std::unique_ptr<Model>> compile(const circuit::Circuit& c, uint64_t seed, double memory_budget = 0.8);
  ~Model();

  /// Runs the graph. `inputs` follow the graph's input nodes; results follow its outputs.
  /// In training, auxiliary losses (routers) are appended to `aux` and, when `telemetry` is
  /// given, every MoE layer appends its expert load for `step`.
  std::vector<at::Tensor> forward(const std::vector<at::Tensor>& inputs, std::vector<at::Tensor>* aux = nullptr,
                                  std::vector<events::ExpertLoad>* telemetry = nullptr, int64_t step = 0);
  void set_training(bool on);
  /// Moves weights and buffers to `device`. forward() then moves its inputs there; results stay there.
  void to(const Device& device);
  Device device() const;
  /// The underlying module: parameters, buffers, save/load.
  torch::nn::Module& module();
  const torch::nn::Module& module() const;
  int64_t parameter_count() const;

  const circuit::Circuit& circuit() const;
  const circuit::GraphAnalysis& analysis() const;

  struct Impl;

 private:
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Threads and BLAS as LibTorch sees them, for `circuit doctor` and run records.
struct RuntimeInfo {
  int threads = 0;
  int cores = 0;
  std::string torch_version;
  std::string blas;        // the BLAS library libblas.so.3 resolves to, or what LibTorch uses instead
  bool blas_is_system = false;  // LibTorch loaded the system's libblas.so.3 (Debian's does; wheels bring their own)
  std::string parallel;    // at::get_parallel_info(), first line
  std::string allocator;   // how the heap is tuned, or "glibc defaults"
};
/// Sets LibTorch's thread count (0: every core) and reports the setup. Debian's LibTorch starts
/// with one thread; call this once at start-up. With `keep_heap`, glibc malloc keeps freed
/// activation buffers instead of returning them to the kernel each step (see docs/engine.md):
/// about a third faster training for conv nets, at the cost of keeping the peak heap resident.
RuntimeInfo configure_runtime(int threads = 0, bool keep_heap = true);
/// LibTorch's thread count now.
int runtime_threads();

}  // namespace engine
