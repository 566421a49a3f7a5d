// engine::Device in LibTorch's terms: the one conversion, and the one way tensors and batches move
// to a device (the loop, evaluation, measurement, the supernet and the collectives use it).
#pragma once
#include "engine/detail/private.h"
#include <ATen/ATen.h>

#include "engine/device.h"

namespace engine::detail {

inline at::Device to_torch(const Device& d) { return d.is_cuda() ? at::Device(at::kCUDA, c10::DeviceIndex(d.index)) : at::Device(at::kCPU); }

inline Device from_torch(const at::Device& d) { return d.is_cuda() ? Device::cuda(d.has_index() ? d.index() : 0) : Device::cpu(); }

/// `t` on `d`: itself when it is there already, else a copy (asynchronous from pinned host memory).
inline at::Tensor to_device(const at::Tensor& t, const Device& d) {
  at::Device target = to_torch(d);
  return t.device() == target ? t : t.to(target, /*non_blocking=*/true);
}

}  // namespace engine::detail
