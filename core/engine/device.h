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

/// A device tensors live on: the CPU or CUDA device `index`. Resolved once per run, where its
/// rank is placed (join_from_environment); everything after holds this, never a name to parse.
struct Device {
  enum class Kind { cpu, cuda };
  Kind kind = Kind::cpu;
  int index = 0;
  static Device cpu() { return {}; }
  static Device cuda(int index) { return {Kind::cuda, index}; }
  bool is_cuda() const { return kind == Kind::cuda; }
  /// "cpu", "cuda:1".
  std::string str() const;
  bool operator==(const Device&) const = default;
};

/// What a user names, before it meets a machine: `auto` (CUDA when there is a GPU), `cpu`,
/// `cuda` (cuda:0; under --nproc each local rank its own GPU) or `cuda:N`.
struct DeviceRequest {
  enum class Kind { automatic, cpu, cuda };
  Kind kind = Kind::automatic;
  int index = -1;  // cuda:N; -1 for `cuda` alone
  /// As the user wrote it: "auto", "cpu", "cuda", "cuda:2".
  std::string str() const;
};

/// Parses a device name without touching a device (front ends check flags with it). Errors say
/// what is valid: "unknown device `gpu0`: use cpu, cuda, cuda:N or auto".
base::Result<DeviceRequest> parse_device_request(std::string_view spec);

/// The device a request names on this machine, for local rank `local_rank` of its run: `auto` is
/// cuda:<local rank> when a GPU is present, else cpu; `cuda` is cuda:<local rank>. A device that
/// is not here is an error that names it and says what is (never an abort inside LibTorch).
/// join_from_environment calls it once per run; no other engine code does.
base::Result<Device> resolve_device(const DeviceRequest& request, int local_rank = 0);
/// As above, from a name.
base::Result<Device> resolve_device(std::string_view spec);

/// Whether `d` exists on this machine (a Device built by hand may not); the error is
/// resolve_device's.
base::Status check_device(const Device& d);

/// For records: "cpu", or "cuda:0 (NVIDIA H200)".
std::string describe_device(const Device& device);

/// Whether the studio and front ends should offer CUDA, and if not, why (one line).
struct CudaAvailability {
  bool available = false;
  std::string reason;  // empty when available
};
CudaAvailability cuda_availability();

/// Arithmetic of training's forward pass. bf16 runs the forward under autocast (matrix products
/// and convolutions in bfloat16) with fp32 master weights, optimizer and loss.
enum class Precision { fp32, bf16 };
/// "fp32", "bf16" (the training option table's words, engine/options.cpp).
const char* to_string(Precision p);
std::optional<Precision> parse_precision(std::string_view s);

}  // namespace engine
