// Differences between LibTorch versions, in one place. The engine is built against Debian's
// LibTorch 1.13 (CI) and against the LibTorch inside a PyTorch wheel (2.x, CPU or CUDA).
#pragma once
#include "engine/detail/private.h"
#include <c10/core/Allocator.h>

#include <type_traits>

namespace engine::detail {

// A CPU allocator base whose `allocate` matches the installed c10::Allocator: `const` up to
// PyTorch 2.2; from 2.3 it is not, and `copy_data` became pure virtual (default_copy_data, a
// memcpy, implements it). Detected from the header rather than from version numbers. Derive from
// CpuAllocatorBase and implement `at::DataPtr make(size_t n) const`.
template <class Derived, class Base>
struct ConstAllocate : Base {
  at::DataPtr allocate(size_t n) const override { return static_cast<const Derived*>(this)->make(n); }
};
template <class Derived, class Base>
struct MutableAllocate : Base {
  at::DataPtr allocate(size_t n) override { return static_cast<const Derived*>(this)->make(n); }
  void copy_data(void* dest, const void* src, std::size_t count) const override { this->default_copy_data(dest, src, count); }
};

inline constexpr bool kConstAllocate = std::is_same_v<decltype(&c10::Allocator::allocate), c10::DataPtr (c10::Allocator::*)(size_t) const>;

template <class Derived>
using CpuAllocatorBase = std::conditional_t<kConstAllocate, ConstAllocate<Derived, c10::Allocator>, MutableAllocate<Derived, c10::Allocator>>;

}  // namespace engine::detail

#include <ATen/autocast_mode.h>
#include <torch/version.h>

namespace engine::detail {

// Autocast to bfloat16 on `device` for the guard's lifetime (training's --precision bf16). The
// switches moved in PyTorch 2.4: per-device-type functions replaced set_enabled /
// set_cpu_enabled and their dtype setters.
class AutocastGuard {
 public:
  AutocastGuard(c10::DeviceType type, bool on) : type_(type), on_(on) {
    if (on_) set(true);
  }
  ~AutocastGuard() {
    if (!on_) return;
    set(false);
    at::autocast::clear_cache();
  }
  AutocastGuard(const AutocastGuard&) = delete;
  AutocastGuard& operator=(const AutocastGuard&) = delete;

 private:
  void set(bool enabled) const {
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
    at::autocast::set_autocast_dtype(type_, at::kBFloat16);
    at::autocast::set_autocast_enabled(type_, enabled);
#else
    if (type_ == c10::DeviceType::CPU) {
      at::autocast::set_autocast_cpu_dtype(at::kBFloat16);
      at::autocast::set_cpu_enabled(enabled);
    } else {
      at::autocast::set_autocast_gpu_dtype(at::kBFloat16);
      at::autocast::set_enabled(enabled);
    }
#endif
  }
  c10::DeviceType type_;
  bool on_;
};

}  // namespace engine::detail

namespace engine::detail {

// Fused attention: at::scaled_dot_product_attention from PyTorch 2.1 (flash and memory-efficient
// kernels on CUDA, a fused kernel on CPU); 1.13 has none, and attention computes its scores and
// softmax itself. q [B, H, T, dh], k and v as many heads as q; `allowed` (bool, true where a query
// may see a key) or undefined; `causal` only without `allowed`.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 1)
inline constexpr bool kFusedAttention = true;
inline at::Tensor fused_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const at::Tensor& allowed, bool causal,
                                  double dropout) {
  return at::scaled_dot_product_attention(q, k, v, allowed.defined() ? c10::optional<at::Tensor>(allowed) : c10::optional<at::Tensor>(), dropout, causal);
}
#else
inline constexpr bool kFusedAttention = false;
inline at::Tensor fused_attention(const at::Tensor&, const at::Tensor&, const at::Tensor&, const at::Tensor&, bool, double) {
  TORCH_CHECK(false, "scaled_dot_product_attention needs LibTorch 2.1 or later");
}
#endif

}  // namespace engine::detail
