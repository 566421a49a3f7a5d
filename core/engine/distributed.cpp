// c10d process groups for data-parallel training (distributed.h). The rendezvous is a c10d
// TCPStore served by rank 0; the group is c10d's ProcessGroupGloo or ProcessGroupNCCL. The store
// also holds, per rank, who it is (host:pid), a heartbeat counter and, when it fails on its own,
// why: a rank whose collective breaks reads them to name the rank it lost, instead of printing
// only Gloo's "Connection closed by peer".
#include "engine/distributed.h"
#include "engine/detail/distributed.h"
#include "engine/detail/device.h"
#include "engine/device.h"
#include "base/enum_names.h"

#include <torch/torch.h>
#include <torch/version.h>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#ifdef CIRCUIT_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef CIRCUIT_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <csignal>
#include <cstdlib>
#include <mutex>
#include <stdexcept>
#include <thread>

namespace engine {

using base::Error;
using base::Result;

namespace {

// c10d's groups derive from ProcessGroup up to 1.13 and from Backend since 2.0.
#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;
#else
using GroupBase = c10d::ProcessGroup;
#endif

// Half a second between heartbeats; a rank is called lost when its counter has not moved for
// three of them.
constexpr auto kBeat = std::chrono::milliseconds(500);

// LibTorch 2.4 made libuv the TCPStore's default transport, and a build without libuv (Debian 13's
// 2.6) then refuses every store: "use_libuv was requested but PyTorch was build without libuv
// support". The classic transport is in every build, 1.13's included (which has no such option).
template <class Options>
auto classic_transport(Options& o, int) -> decltype(o.useLibUV = false, void()) {
  o.useLibUV = false;
}
template <class Options>
void classic_transport(Options&, long) {}

c10d::TCPStoreOptions store_options(int port, std::chrono::milliseconds timeout) {
  c10d::TCPStoreOptions o;
  o.port = uint16_t(port);
  o.timeout = timeout;
  o.waitWorkers = false;
  classic_transport(o, 0);
  return o;
}

std::string who_key(int r) { return "circuit/who/" + std::to_string(r); }
std::string beat_key(int r) { return "circuit/beat/" + std::to_string(r); }
std::string failed_key(int r) { return "circuit/failed/" + std::to_string(r); }

std::string message_of(const std::exception& e) {
  if (auto* c = dynamic_cast<const c10::Error*>(&e)) return c->what_without_backtrace();
  return e.what();
}

std::string text(const std::vector<uint8_t>& v) { return std::string(v.begin(), v.end()); }

bool is_loopback(const std::string& host) { return host == "127.0.0.1" || host == "localhost" || host == "::1"; }

}  // namespace

struct ProcessGroup::Impl final : detail::Collectives {
  DistConfig cfg;
  Backend backend = Backend::automatic;
  Device device;
  c10::intrusive_ptr<c10d::TCPStore> store;
  c10::intrusive_ptr<GroupBase> group;
  std::thread beat;
  std::mutex mu;
  std::condition_variable cv;
  bool stopping = false;

  ~Impl() override {
    {
      std::lock_guard<std::mutex> l(mu);
      stopping = true;
    }
    cv.notify_all();
    if (beat.joinable()) beat.join();
    group.reset();  // before the store it rendezvoused through
  }

  std::chrono::milliseconds timeout() const { return std::chrono::milliseconds(int64_t(cfg.timeout_s * 1000)); }
  std::string where() const { return cfg.master_addr + ":" + std::to_string(cfg.master_port); }
  std::string me() const { return "rank " + std::to_string(cfg.rank) + " of " + std::to_string(cfg.world_size); }

  // A connection of its own: the group's may be in the middle of a request on another thread.
  c10::intrusive_ptr<c10d::TCPStore> client(std::chrono::milliseconds t) const {
    c10d::TCPStoreOptions o = store_options(cfg.master_port, t);
    o.isServer = false;
    return c10::make_intrusive<c10d::TCPStore>(cfg.master_addr, o);
  }

  void start_heartbeat() {
    auto s = client(timeout());
    beat = std::thread([this, s] {
      std::unique_lock<std::mutex> l(mu);
      while (!cv.wait_for(l, kBeat, [this] { return stopping; })) {
        try {
          s->add(beat_key(cfg.rank), 1);
        } catch (...) {
          return;  // the store (rank 0) is gone; the next collective says so
        }
      }
    });
  }

  // Which ranks are gone and why: the ones whose heartbeat stopped, with the reason they left
  // in the store when they had one.
  std::string lost_ranks() const {
    try {
      auto s = client(std::chrono::seconds(5));
      auto read = [&] {
        std::vector<int64_t> v(size_t(cfg.world_size));
        for (int r = 0; r < cfg.world_size; ++r) v[size_t(r)] = s->add(beat_key(r), 0);
        return v;
      };
      auto a = read();
      std::this_thread::sleep_for(3 * kBeat);
      auto b = read();
      std::string out;
      for (int r = 0; r < cfg.world_size; ++r) {
        if (r == cfg.rank) continue;
        bool failed = s->check({failed_key(r)});
        if (!failed && a[size_t(r)] != b[size_t(r)]) continue;
        std::string who = s->check({who_key(r)}) ? text(s->get(who_key(r))) : "?";
        out += std::string(out.empty() ? "" : "; ") + "lost rank " + std::to_string(r) + " (" + who + "): " +
               (failed ? text(s->get(failed_key(r))) : "it stopped (killed, crashed or cut off)");
      }
      return out;
    } catch (const std::exception&) {
      return cfg.rank == 0 ? std::string() : "lost rank 0 (which serves the rendezvous store at " + where() + "): it is gone";
    }
  }

  std::string explain(const char* what, const std::exception& e) const {
    std::string lost = lost_ranks(), cause = message_of(e);
    if (auto nl = cause.find('\n'); nl != std::string::npos) cause.resize(nl);
    return me() + ": " + what + " failed: " + (lost.empty() ? cause : lost + " [" + cause + "]");
  }

  int rank() const override { return cfg.rank; }
  int size() const override { return cfg.world_size; }

  void all_reduce_sum(std::vector<at::Tensor>& tensors, const char* what) override {
    std::vector<std::vector<at::Tensor>> lists;
    lists.reserve(tensors.size());  // each list must stay where the work saw it
    try {
      std::vector<decltype(group->allreduce(lists.emplace_back()))> works;  // unevaluated: adds nothing
      for (auto& t : tensors) works.push_back(group->allreduce(lists.emplace_back(std::vector<at::Tensor>{t})));
      for (auto& w : works) w->wait(timeout());
    } catch (const std::exception& e) {
      throw std::runtime_error(explain(what, e));
    }
  }

  void broadcast(std::vector<at::Tensor>& tensors, int root, const char* what) override {
    std::vector<std::vector<at::Tensor>> lists;
    lists.reserve(tensors.size());
    c10d::BroadcastOptions o;
    o.rootRank = root;
    try {
      std::vector<decltype(group->broadcast(lists.emplace_back(), o))> works;
      for (auto& t : tensors) works.push_back(group->broadcast(lists.emplace_back(std::vector<at::Tensor>{t}), o));
      for (auto& w : works) w->wait(timeout());
    } catch (const std::exception& e) {
      throw std::runtime_error(explain(what, e));
    }
  }
};

ProcessGroup::ProcessGroup(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ProcessGroup::~ProcessGroup() = default;
int ProcessGroup::rank() const { return impl_->cfg.rank; }
int ProcessGroup::size() const { return impl_->cfg.world_size; }
const DistConfig& ProcessGroup::config() const { return impl_->cfg; }
Backend ProcessGroup::backend() const { return impl_->backend; }

namespace {
constexpr const char* kBackends[] = {"auto", "gloo", "nccl"};  // Backend order
}
const char* to_string(Backend b) { return base::enum_name(kBackends, b); }
std::optional<Backend> parse_backend(std::string_view s) { return s.empty() ? Backend::automatic : base::parse_enum<Backend>(kBackends, s); }
ProcessGroup::Impl& ProcessGroup::impl() { return *impl_; }

std::string ProcessGroup::share(const std::string& text) {
  Impl& g = *impl_;
  // NCCL moves device memory only; Gloo either.
  at::Device dev = detail::to_torch(g.device);
  std::vector<at::Tensor> v{torch::tensor({int64_t(text.size())}, torch::kLong).to(dev)};
  g.broadcast(v, 0, "handing out rank 0's next task");
  int64_t n = v[0].cpu().item<int64_t>();
  if (n == 0) return {};
  at::Tensor bytes = g.cfg.rank == 0 ? torch::from_blob(const_cast<char*>(text.data()), {n}, torch::kUInt8).clone() : torch::empty({n}, torch::kUInt8);
  v = {bytes.to(dev)};
  g.broadcast(v, 0, "handing out rank 0's next task");
  at::Tensor got = v[0].cpu().contiguous();
  return std::string(reinterpret_cast<const char*>(got.data_ptr<uint8_t>()), size_t(n));
}

void ProcessGroup::report_failure(const std::string& message) {
  try {
    impl_->client(std::chrono::seconds(2))->set(failed_key(impl_->cfg.rank), std::vector<uint8_t>(message.begin(), message.end()));
  } catch (...) {
    // The store is gone too; the others will say the rank stopped.
  }
}

std::string available_backends() {
  std::string s;
#ifdef CIRCUIT_WITH_GLOO
  s += "gloo";
#endif
#ifdef CIRCUIT_WITH_NCCL
  s += s.empty() ? "nccl" : ", nccl";
#endif
  return s.empty() ? "none" : s;
}

Result<DistConfig> dist_config_from_env() {
  DistConfig c;
  auto var = [](const char* name) -> const char* {
    const char* v = std::getenv(name);
    return v && *v ? v : nullptr;
  };
  std::string bad;
  auto number = [&](const char* name, int& out, int lo, int hi) {
    const char* v = var(name);
    if (!v || !bad.empty()) return;
    char* end = nullptr;
    long x = std::strtol(v, &end, 10);
    if (*end || x < lo || x > hi)
      bad = std::string("environment variable ") + name + "=`" + v + "`: expected a whole number from " + std::to_string(lo) + " to " +
            std::to_string(hi);
    else
      out = int(x);
  };
  if (!var("WORLD_SIZE")) return c;
  number("WORLD_SIZE", c.world_size, 1, 1 << 20);
  if (!bad.empty()) return Error{bad};
  if (c.world_size > 1 && !var("RANK"))
    return Error{"environment variable WORLD_SIZE=" + std::to_string(c.world_size) + " but RANK is not set (torchrun sets both)"};
  number("RANK", c.rank, 0, c.world_size - 1);
  c.local_rank = c.rank;
  c.local_world_size = c.world_size;
  number("LOCAL_RANK", c.local_rank, 0, c.world_size - 1);
  number("LOCAL_WORLD_SIZE", c.local_world_size, 1, c.world_size);
  number("MASTER_PORT", c.master_port, 1, 65535);
  if (!bad.empty()) return Error{bad};
  if (c.local_rank >= c.local_world_size)
    return Error{"environment variables LOCAL_RANK=" + std::to_string(c.local_rank) + " and LOCAL_WORLD_SIZE=" +
                 std::to_string(c.local_world_size) + " do not fit: a local rank counts from 0"};
  if (const char* a = var("MASTER_ADDR")) c.master_addr = a;
  return c;
}

Result<std::shared_ptr<ProcessGroup>> ProcessGroup::join(const DistConfig& c, const Device& device) {
  auto impl = std::make_unique<Impl>();
  impl->cfg = c;
  impl->device = device;
  bool cuda = device.is_cuda();
  impl->backend = c.backend == Backend::automatic ? (cuda ? Backend::nccl : Backend::gloo) : c.backend;
  const Backend be = impl->backend;
  std::string me = impl->me();
  if (be == Backend::nccl && !cuda) return Error{me + ": backend nccl needs a CUDA device; this rank trains on " + device.str() + " (use --backend gloo)"};
#ifndef CIRCUIT_WITH_GLOO
  if (be == Backend::gloo) return Error{"this build has no Gloo (its headers, libgloo-dev, were not found when it was configured); backends: " + available_backends()};
#endif
#ifndef CIRCUIT_WITH_NCCL
  if (be == Backend::nccl) return Error{"this LibTorch has no NCCL; backends: " + available_backends()};
#endif
  // A peer that dies mid-send would otherwise kill this rank with SIGPIPE, silently.
  std::signal(SIGPIPE, SIG_IGN);

  std::string where = impl->where();
  int64_t secs = int64_t(c.timeout_s);
  try {
    c10d::TCPStoreOptions o = store_options(c.master_port, impl->timeout());
    o.isServer = c.rank == 0;
    o.numWorkers = size_t(c.world_size);
    impl->store = c10::make_intrusive<c10d::TCPStore>(c.master_addr, o);
  } catch (const std::exception& e) {
    return Error{me + ": cannot " + std::string(c.rank == 0 ? "serve" : "reach") + " the rendezvous store at " + where +
                 " (MASTER_ADDR:MASTER_PORT) within " + std::to_string(secs) + " s: " + message_of(e)};
  }
  char host[256] = "?";
  gethostname(host, sizeof host - 1);
  std::string who = std::string(host) + ", pid " + std::to_string(getpid());
  try {
    impl->store->set(who_key(c.rank), std::vector<uint8_t>(who.begin(), who.end()));
    impl->store->add(beat_key(c.rank), 1);
    impl->start_heartbeat();
#ifdef CIRCUIT_WITH_GLOO
    if (be == Backend::gloo) {
      auto opts = c10d::ProcessGroupGloo::Options::create(impl->timeout());
      if (const char* ifname = std::getenv("GLOO_SOCKET_IFNAME"))
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(ifname));
      else if (is_loopback(c.master_addr))
        opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1"));
      else
        opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, c.rank, c.world_size, opts);
    }
#endif
#ifdef CIRCUIT_WITH_NCCL
    if (be == Backend::nccl) {
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = impl->timeout();
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, c.rank, c.world_size, opts);
    }
#endif
  } catch (const std::exception& e) {
    std::string missing;
    try {
      for (int r = 0; r < c.world_size; ++r)
        if (!impl->store->check({who_key(r)})) missing += (missing.empty() ? "" : ", ") + std::to_string(r);
    } catch (...) {
    }
    return Error{me + ": the " + std::string(to_string(be)) + " group did not form through " + where + " within " + std::to_string(secs) + " s" +
                 (missing.empty() ? "" : " (rank(s) " + missing + " never arrived)") + ": " + message_of(e)};
  }
  return std::shared_ptr<ProcessGroup>(new ProcessGroup(std::move(impl)));
}

Result<RankSetup> join_from_environment(const std::string& device_spec, Backend backend, double timeout_s, int threads) {
  static std::mutex once;
  static std::shared_ptr<ProcessGroup> joined;
  std::lock_guard<std::mutex> lock(once);
  auto cfg = dist_config_from_env();
  if (!cfg) return cfg.error();
  RankSetup s;
  s.config = *cfg;
  s.threads = threads;
  if (cfg->active()) {
    if (backend != Backend::automatic) s.config.backend = backend;
    if (timeout_s > 0) s.config.timeout_s = timeout_s;
    if (threads == 0) s.threads = std::max(1, int(std::thread::hardware_concurrency()) / s.config.local_world_size);
  }
  // The one place a run's device is resolved: where its rank is placed (`auto` and `cuda` give
  // each local rank its own GPU).
  auto request = parse_device_request(device_spec);
  if (!request) return request.error();
  auto device = resolve_device(*request, s.config.active() ? s.config.local_rank : 0);
  if (!device) return Error{(cfg->active() ? "rank " + std::to_string(cfg->rank) + ": " : std::string()) + device.error().message};
  s.device = *device;
  if (!cfg->active()) return s;
  if (joined) {
    if (backend != Backend::automatic && backend != joined->backend())
      return Error{std::string("this process already joined a ") + to_string(joined->backend()) + " group; it cannot switch to " + to_string(backend)};
    s.group = joined;
    return s;
  }
  auto g = ProcessGroup::join(s.config, s.device);
  if (!g) return g.error();
  joined = *g;
  s.group = joined;
  return s;
}

namespace detail {

Collectives& collectives(ProcessGroup& g) { return g.impl(); }

namespace {
thread_local Collectives* t_group = nullptr;

struct AllReduceSum : torch::autograd::Function<AllReduceSum> {
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& x) {
    Collectives* g = training_group();
    // The backward may run on another thread (CUDA's autograd workers): it keeps its own copy.
    ctx->saved_data["group"] = int64_t(reinterpret_cast<intptr_t>(g));
    std::vector<at::Tensor> v{x.detach().clone().contiguous()};
    g->all_reduce_sum(v, "a batch statistic's all-reduce");
    return v[0];
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto* g = reinterpret_cast<Collectives*>(intptr_t(ctx->saved_data["group"].toInt()));
    std::vector<at::Tensor> v{grads[0].contiguous().clone()};
    g->all_reduce_sum(v, "a batch statistic's gradient all-reduce");
    return {v[0]};
  }
};
}  // namespace

Collectives* training_group() { return t_group; }
TrainingGroupScope::TrainingGroupScope(Collectives* g) : previous_(t_group) { t_group = g; }
TrainingGroupScope::~TrainingGroupScope() { t_group = previous_; }

at::Tensor all_reduce_sum_differentiable(const at::Tensor& x) { return AllReduceSum::apply(x); }

// Averages gradients over the ranks. Each rank's loss was weighted by its share of the global
// batch (see train), so the average is the gradient of the global batch's loss, as on one
// process. Parameters travel in buckets of about 16 MiB, all in flight at once, after the
// backward pass (c10d's Reducer, which overlaps them with it, is not part of LibTorch's C++ API).
// The step's sums ride in the last bucket with one flag per parameter: a parameter that no rank
// gave a gradient (an expert no token reached) keeps none, so the optimizer skips it exactly as
// it does on one process.
StepSums reduce_step(Collectives& g, const std::vector<at::Tensor>& params, const StepSums& local, const at::Device& dev) {
  constexpr int64_t kBucketBytes = 16 << 20;
  size_t count = params.size();
  std::vector<at::Tensor> buckets, pieces;
  std::vector<size_t> ends;  // each bucket holds parameters [previous end, end)
  int64_t bytes = 0;
  std::vector<double> extra(count + 4, 0.0);
  for (size_t i = 0; i < count; ++i) {
    const at::Tensor& p = params[i];
    const at::Tensor& gr = p.grad();
    extra[i] = gr.defined() ? 1 : 0;
    pieces.push_back(gr.defined() ? gr.reshape({-1}).to(torch::kFloat) : torch::zeros({p.numel()}, p.options().dtype(torch::kFloat)));
    bytes += p.numel() * 4;
    if (bytes >= kBucketBytes || i + 1 == count) {
      buckets.push_back(torch::cat(pieces));
      ends.push_back(i + 1);
      pieces.clear();
      bytes = 0;
    }
  }
  extra[count] = local.loss, extra[count + 1] = local.correct, extra[count + 2] = local.counted, extra[count + 3] = local.cancel;
  buckets.push_back(torch::tensor(extra, torch::kDouble).to(dev));
  g.all_reduce_sum(buckets, "the gradient all-reduce");
  at::Tensor ex = buckets.back().cpu();
  const double* e = ex.data_ptr<double>();
  double ranks = double(g.size());
  size_t i = 0;
  for (size_t k = 0; k + 1 < buckets.size(); ++k) {
    at::Tensor flat = buckets[k].div_(ranks);
    int64_t off = 0;
    for (; i < ends[k]; ++i) {
      at::Tensor p = params[i];
      int64_t len = p.numel();
      if (e[i] > 0) {
        at::Tensor v = flat.narrow(0, off, len).view(p.sizes()).to(p.scalar_type());
        if (p.grad().defined())
          p.mutable_grad().copy_(v);
        else
          p.mutable_grad() = v.clone();
      } else {
        p.mutable_grad() = at::Tensor();
      }
      off += len;
    }
  }
  return StepSums{e[count], e[count + 1], e[count + 2], e[count + 3]};
}

}  // namespace detail

}  // namespace engine
