// Devices: which ones this machine and this LibTorch have, and what a user's `--device` means.
// Torch-free header: the CLI, the studio and Lua parse and print devices without LibTorch.
#pragma once
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"

namespace engine {

/// The LibTorch this binary runs on and the devices it sees (`circuit doctor`, run records).
struct TorchBuild {
  std::string version;            // LibTorch, e.g. 1.13.1
  bool built_with_cuda = false;   // whether this LibTorch can drive CUDA at all
  std::string cuda, cudnn;        // runtime versions when built with CUDA, e.g. "13.0", "9.10.2"
  std::vector<std::string> gpus;  // CUDA device names, cuda:0 first
};
TorchBuild torch_build();

/// What the user names (`cpu`, `cuda`, `cuda:N`, `auto`) resolved to a device this machine has:
/// `cpu` or `cuda:N`. `auto` is cuda:0 when a GPU is present, else cpu. A device that is not
/// here is an error that names it and says what is (never an abort inside LibTorch).
base::Result<std::string> resolve_device(std::string_view spec);

/// For records: "cpu", or "cuda:0 (NVIDIA H200)".
std::string describe_device(const std::string& device);

/// Whether the studio and front ends should offer CUDA, and if not, why (one line).
struct CudaAvailability {
  bool available = false;
  std::string reason;  // empty when available
};
CudaAvailability cuda_availability();

/// Arithmetic of training's forward pass. bf16 runs the forward under autocast (matrix products
/// and convolutions in bfloat16) with fp32 master weights, optimizer and loss.
enum class Precision { fp32, bf16 };
const char* to_string(Precision p);
std::optional<Precision> parse_precision(std::string_view s);

}  // namespace engine
