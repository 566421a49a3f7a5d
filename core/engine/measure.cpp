// Latency (median of timed forwards, each ended by a device synchronisation) and peak memory (the
// CUDA caching allocator's peak on a GPU; our counting allocator on the CPU).
#include "measure.h"
#include "engine/detail/device.h"
#include "engine/detail/torch_compat.h"
#include "engine/detail/train.h"

#include <c10/core/CPUAllocator.h>
#include <torch/cuda.h>
#include <torch/torch.h>
#ifdef CIRCUIT_WITH_CUDA
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <vector>

namespace engine {

using torch::Tensor;
using namespace detail;

namespace {

// Blocks until the device has finished its queued work, so a clock read after it measures it.
void sync(const Model& m) {
  if (m.device().is_cuda()) torch::cuda::synchronize();
}

// Counts live and peak bytes of CPU tensor memory. Installed once, on first use, and left in
// place (memory allocated through it must find its deleter); the cost is two atomics per
// allocation. Each block carries its size in a 64-byte header, so the data pointer is also the
// deleter's context, as LibTorch's raw_allocate requires.
struct CountingAllocator final : engine::detail::CpuAllocatorBase<CountingAllocator> {
  static constexpr size_t kHeader = 64;  // keeps c10's 64-byte alignment
  static inline std::atomic<int64_t> live{0}, peak{0};

  at::DataPtr make(size_t n) const {
    size_t total = (n + kHeader + kHeader - 1) / kHeader * kHeader;  // aligned_alloc wants a multiple
    char* base = static_cast<char*>(std::aligned_alloc(kHeader, total));
    if (!base) throw std::bad_alloc();
    *reinterpret_cast<size_t*>(base) = n;
    int64_t now = live.fetch_add(int64_t(n)) + int64_t(n);
    for (int64_t p = peak.load(); now > p && !peak.compare_exchange_weak(p, now);) {
    }
    void* data = base + kHeader;
    return {data, data, &CountingAllocator::release, at::Device(at::kCPU)};
  }
  static void release(void* data) {
    if (!data) return;
    char* base = static_cast<char*>(data) - kHeader;
    live.fetch_sub(int64_t(*reinterpret_cast<size_t*>(base)));
    std::free(base);
  }
  at::DeleterFnPtr raw_deleter() const override { return &CountingAllocator::release; }
};

CountingAllocator& counting_allocator() {
  static CountingAllocator* a = [] {
    auto* c = new CountingAllocator;
    c10::SetCPUAllocator(c, /*priority=*/100);
    return c;
  }();
  return *a;
}

}  // namespace

Latency measure_latency(Model& m, const Dataset& d, int64_t batch, int runs) {
  torch::NoGradGuard ng;
  m.set_training(false);
  Tensor x = to_tensor(d.test.x);
  auto time = [&](int64_t b) {
    Tensor xb = x.narrow(0, 0, std::min(b, x.size(0))).contiguous();
    xb = detail::to_device(xb, m.device());  // latency of the model, not of the copy
    for (int w = 0; w < 3; ++w) m.forward({xb});
    sync(m);
    std::vector<double> t;
    for (int i = 0; i < runs; ++i) {
      auto a = std::chrono::steady_clock::now();
      m.forward({xb});
      sync(m);
      t.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - a).count());
    }
    std::sort(t.begin(), t.end());
    return t[t.size() / 2];
  };
  Latency l;
  l.batch = batch;
  l.runs = runs;
  l.batch1_ms = time(1);
  l.batch_ms = time(batch);
  return l;
}

int64_t measure_peak_memory(Model& m, const Dataset& d, int64_t batch) {
  Tensor x = to_tensor(d.train.x).narrow(0, 0, std::min<int64_t>(batch, d.train.x.rows())).contiguous();
  Tensor y = to_tensor(d.train.y).narrow(0, 0, x.size(0)).contiguous();
  if (m.device().is_cuda()) {
#ifdef CIRCUIT_WITH_CUDA
    // The CUDA caching allocator's own peak over one step, from a reset just before it.
    namespace alloc = c10::cuda::CUDACachingAllocator;
    at::Device dev = detail::to_torch(m.device());
    x = x.to(dev), y = y.to(dev);
    m.set_training(true);
    m.module().zero_grad();
    torch::cuda::synchronize();
    auto index = dev.index();
    int64_t base = alloc::getDeviceStats(index).allocated_bytes[size_t(alloc::StatType::AGGREGATE)].current;
    alloc::resetPeakStats(index);
    {
      auto outs = m.forward({x});
      task_loss(outs.back(), y, d.token_targets).backward();
    }
    torch::cuda::synchronize();
    int64_t peak = alloc::getDeviceStats(index).allocated_bytes[size_t(alloc::StatType::AGGREGATE)].peak - base;
    m.module().zero_grad();
    m.set_training(false);
    return peak;
#else
    return -1;  // unreachable: a LibTorch without c10_cuda has no device but the CPU
#endif
  }
  CountingAllocator& c = counting_allocator();
  m.set_training(true);
  m.module().zero_grad();
  int64_t base = c.live.load();
  c.peak.store(base);
  {
    auto outs = m.forward({x});
    Tensor loss = task_loss(outs.back(), y, d.token_targets);
    loss.backward();
  }
  int64_t peak = c.peak.load() - base;
  m.module().zero_grad();
  m.set_training(false);
  return peak;
}

}  // namespace engine
