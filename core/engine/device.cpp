// Device discovery and choice (device.h). GPU names come from the CUDA driver, opened at run
// time, so a CPU-only LibTorch (Debian's) builds and runs this file unchanged.
#include "engine/device.h"

#include <ATen/Context.h>
#include <ATen/detail/CUDAHooksInterface.h>
#include <torch/cuda.h>
#include <torch/version.h>

#include <dlfcn.h>

#include <cstdlib>

#include "base/enum_names.h"

namespace engine {

namespace {

// "12040" -> "12.4"; cuDNN 8/9 style 90100 -> "9.1.0" (major*10000 + minor*100 + patch).
std::string cuda_version(long v) { return v > 0 ? std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 10) : ""; }
std::string cudnn_version(long v) {
  if (v <= 0) return "";
  if (v >= 10000) return std::to_string(v / 10000) + "." + std::to_string(v % 10000 / 100) + "." + std::to_string(v % 100);
  return std::to_string(v / 1000) + "." + std::to_string(v % 1000 / 100) + "." + std::to_string(v % 100);
}

// The driver API names GPUs without the CUDA runtime headers: cuInit, cuDeviceGet, cuDeviceGetName.
std::vector<std::string> gpu_names(int count) {
  std::vector<std::string> names;
  void* h = dlopen("libcuda.so.1", RTLD_LAZY | RTLD_LOCAL);
  using Init = int (*)(unsigned);
  using Get = int (*)(int*, int);
  using Name = int (*)(char*, int, int);
  auto init = h ? reinterpret_cast<Init>(dlsym(h, "cuInit")) : nullptr;
  auto get = h ? reinterpret_cast<Get>(dlsym(h, "cuDeviceGet")) : nullptr;
  auto name = h ? reinterpret_cast<Name>(dlsym(h, "cuDeviceGetName")) : nullptr;
  bool ok = init && get && name && init(0) == 0;
  for (int i = 0; i < count; ++i) {
    char buf[256] = {0};
    int dev = 0;
    if (ok && get(&dev, i) == 0 && name(buf, sizeof buf, dev) == 0) names.emplace_back(buf);
    else names.push_back("CUDA device " + std::to_string(i));
  }
  return names;  // the handle stays open: LibTorch holds the driver anyway
}

}  // namespace

TorchBuild torch_build() {
  TorchBuild b;
  b.version = TORCH_VERSION;
  const auto& hooks = at::detail::getCUDAHooks();
  b.built_with_cuda = hooks.hasCUDART() || torch::cuda::is_available();
  try {
    if (b.built_with_cuda) b.cuda = cuda_version(hooks.versionCUDART());
    if (b.built_with_cuda && hooks.compiledWithCuDNN()) b.cudnn = cudnn_version(hooks.versionCuDNN());
  } catch (const std::exception&) {
    // a CUDA build on a machine without a driver: versions unknown, devices none
  }
  if (torch::cuda::is_available()) b.gpus = gpu_names(int(torch::cuda::device_count()));
  return b;
}

CudaAvailability cuda_availability() {
  if (torch::cuda::is_available() && torch::cuda::device_count() > 0) return {true, ""};
  if (!at::detail::getCUDAHooks().hasCUDART())
    return {false, std::string("this LibTorch (") + TORCH_VERSION + ") was built without CUDA"};
  const char* visible = std::getenv("CUDA_VISIBLE_DEVICES");
  return {false, std::string("no CUDA device is visible") + (visible ? std::string(" (CUDA_VISIBLE_DEVICES=") + visible + ")" : "") +
                     "; check the driver with nvidia-smi"};
}

std::string Device::str() const { return is_cuda() ? "cuda:" + std::to_string(index) : "cpu"; }

std::string DeviceRequest::str() const {
  switch (kind) {
    case Kind::automatic: return "auto";
    case Kind::cpu: return "cpu";
    case Kind::cuda: return index < 0 ? "cuda" : "cuda:" + std::to_string(index);
  }
  return "?";
}

base::Result<DeviceRequest> parse_device_request(std::string_view spec) {
  std::string s(spec);
  if (s == "auto" || s.empty()) return DeviceRequest{};
  if (s == "cpu") return DeviceRequest{DeviceRequest::Kind::cpu, -1};
  if (s == "cuda") return DeviceRequest{DeviceRequest::Kind::cuda, -1};
  if (s.rfind("cuda:", 0) == 0 && s.size() > 5 && s.size() < 9 && s.find_first_not_of("0123456789", 5) == std::string::npos)
    return DeviceRequest{DeviceRequest::Kind::cuda, std::stoi(s.substr(5))};
  return base::Error{"unknown device `" + s + "`: use cpu, cuda, cuda:N or auto"};
}

namespace {
base::Status cuda_present(const std::string& named, int index) {
  CudaAvailability cuda = cuda_availability();
  if (!cuda.available) return base::Status::fail("device `" + named + "` is not available: " + cuda.reason + "; use --device cpu or auto");
  int count = int(torch::cuda::device_count());
  if (index >= count)
    return base::Status::fail("device `" + named + "` is not available: this machine has " + std::to_string(count) + " CUDA device(s), cuda:0.." +
                              "cuda:" + std::to_string(count - 1));
  return {};
}
}  // namespace

base::Result<Device> resolve_device(const DeviceRequest& r, int local_rank) {
  switch (r.kind) {
    case DeviceRequest::Kind::cpu: return Device::cpu();
    case DeviceRequest::Kind::automatic:
      if (!cuda_availability().available) return Device::cpu();
      [[fallthrough]];
    case DeviceRequest::Kind::cuda: {
      int index = r.index >= 0 ? r.index : local_rank;
      if (auto s = cuda_present(r.index >= 0 || local_rank == 0 ? r.str() : "cuda:" + std::to_string(index), index); !s) return base::Error{s.error};
      return Device::cuda(index);
    }
  }
  return base::Error{"unknown device"};
}

base::Result<Device> resolve_device(std::string_view spec) {
  auto r = parse_device_request(spec);
  if (!r) return r.error();
  return resolve_device(*r);
}

base::Status check_device(const Device& d) { return d.is_cuda() ? cuda_present(d.str(), d.index) : base::Status{}; }

std::string describe_device(const Device& device) {
  if (!device.is_cuda()) return "cpu";
  auto names = gpu_names(int(torch::cuda::device_count()));
  size_t i = size_t(device.index);
  return i < names.size() ? device.str() + " (" + names[i] + ")" : device.str();
}

}  // namespace engine
