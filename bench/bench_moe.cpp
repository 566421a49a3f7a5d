// MoE layer forward + backward (E experts, top-k) against two peers, in the same run:
//  (a) our own dense FFN with the same active parameters (hidden = k x the expert's hidden), which
//      does the same expert FLOPs per token with no routing: the price of routing and dispatch;
//  (b) PyTorch in Python, a loop over experts with boolean masks (bench/peer_moe.py), as popular
//      open MoE implementations write it.
//
//   build/bench/bench_moe [--threads N] [--rounds R] [--sizes T:d:h,...] [--experts E] [--k K] [--gated] [--profile trace.json] [--no-peer]
//                         [--device cpu|cuda] [--python PATH] [--path auto|host|tensor]
//
// On CUDA both sides run on the GPU (ours through the MoE tensor path), each step is timed to a
// device synchronisation, and the peer runs in the Python given by --python (one with CUDA).
//
// Both sides: top-k softmax router, gates renormalised, dropless (no token dropped, so the work is
// the same), GELU experts (SwiGLU with --gated), loss = sum of the output, fresh gradients each step. Rounds alternate
// ours and the peer's (one Python process per round), and each side's median is reported.
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include <torch/csrc/autograd/profiler_legacy.h>

#include "circuit/analysis.h"
#include "base/json.h"
#include "circuit/templates.h"
#include "engine/detail/moe.h"
#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/model.h"
#include <torch/cuda.h>

namespace {

using Clock = std::chrono::steady_clock;

struct Size {
  int64_t tokens, d, hidden;
};

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

circuit::TensorType tokens_type(int64_t d) {
  circuit::TensorType t;
  t.axes = {circuit::Axis{"tokens", circuit::Size::symbol("tokens")}, circuit::Axis{"d_model", circuit::Size::of(d)}};
  return t;
}

// input [tokens, d] -> body (an MoE over FFN experts, or one dense FFN) -> output.
circuit::Circuit layer_circuit(const Size& s, int64_t experts, int64_t k, bool moe, bool gated) {
  circuit::TensorType t = tokens_type(s.d);
  int64_t hidden = moe ? s.hidden : k * s.hidden;
  circuit::Node body = gated ? circuit::glu_ffn_block("layer", t, hidden, "silu") : circuit::ffn_block("layer", t, hidden);
  body.inputs = {circuit::PortRef{"x", 0}};
  if (moe) {
    body.op = "moe";
    body.attrs = {{"experts", experts}, {"k", k}, {"router", std::string("topk")}, {"dropless", true}};
  }
  circuit::Circuit c;
  c.name = moe ? "moe" : "dense";
  c.symbols["tokens"] = s.tokens;
  c.graph.nodes = {circuit::input_node("x", t), body};
  c.graph.outputs = {circuit::PortRef{"layer", 0}};
  return c;
}

// Median milliseconds per forward + backward over `repeats` x `iters`.
double time_ours(engine::Model& m, const torch::Tensor& x, int iters, int repeats) {
  auto step = [&] {
    for (auto& p : m.module().parameters()) p.mutable_grad() = torch::Tensor();
    m.forward({x})[0].sum().backward();
  };
  bool cuda = x.is_cuda();
  for (int i = 0; i < 3; ++i) step();
  std::vector<double> runs;
  for (int r = 0; r < repeats; ++r) {
    if (cuda) torch::cuda::synchronize();
    auto t = Clock::now();
    for (int i = 0; i < iters; ++i) step();
    if (cuda) torch::cuda::synchronize();
    runs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count() / iters);
  }
  return median(runs);
}

std::string run_peer(const std::string& python, const std::string& script, const Size& s, int64_t experts, int64_t k, int threads, int iters,
                     int repeats, bool gated, const std::string& device) {
  std::ostringstream cmd;
  cmd << python << ' ' << script << ' ' << s.tokens << ' ' << s.d << ' ' << s.hidden << ' ' << experts << ' ' << k << ' ' << threads
      << ' ' << iters << ' ' << repeats << (gated ? " swiglu" : " gelu") << ' ' << device << " 2>&1";
  std::string out;
  if (std::FILE* p = popen(cmd.str().c_str(), "r")) {
    char buf[4096];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    pclose(p);
  }
  return out;
}

double json_number(const std::string& text, const std::string& key) {
  size_t at = text.rfind('{');
  if (at == std::string::npos) return 0;
  auto j = base::parse_json(text.substr(at));
  if (!j) return 0;
  const base::Json* v = j->get(key);
  return v && v->is_number() ? (v->kind == base::Json::Kind::Int ? double(v->i) : v->f) : 0;
}

std::vector<Size> parse_sizes(const std::string& s) {
  std::vector<Size> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');) {
    Size z{};
    if (std::sscanf(item.c_str(), "%ld:%ld:%ld", &z.tokens, &z.d, &z.hidden) == 3) out.push_back(z);
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, rounds = 7;
  bool peer = true;     // --no-peer: ours only (A/B runs of our own changes)
  bool gated = false;   // --gated: SwiGLU experts (and dense FFN) instead of GELU FFNs
  std::string device = "cpu", python = "/usr/bin/python3";
  std::string path = "auto";  // --path host|tensor: force one MoE implementation (tensor: what GPUs run)
  std::string profile;  // write a Chrome trace of our MoE steps (first size) there, and stop
  int64_t experts = 8, k = 2;
  std::vector<Size> sizes = {{256, 64, 128}, {1024, 128, 256}, {4096, 256, 512}, {2048, 512, 1024}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) std::fprintf(stderr, "%s needs a value\n", a.c_str()), std::exit(2);
      return argv[++i];
    };
    if (a == "--threads") threads = std::atoi(value().c_str());
    else if (a == "--rounds") rounds = std::max(1, std::atoi(value().c_str()));
    else if (a == "--experts") experts = std::atoll(value().c_str());
    else if (a == "--k") k = std::atoll(value().c_str());
    else if (a == "--sizes") sizes = parse_sizes(value());
    else if (a == "--profile") profile = value();
    else if (a == "--no-peer") peer = false;
    else if (a == "--gated") gated = true;
    else if (a == "--device") device = value();
    else if (a == "--path") path = value();
    else if (a == "--python") python = value();
    else {
      std::fprintf(stderr,
                   "usage: bench_moe [--threads N] [--rounds R] [--sizes T:d:h,...] [--experts E] [--k K] [--gated] [--profile F] [--no-peer]\n"
                   "                 [--device cpu|cuda] [--python PATH] [--path auto|host|tensor]\n"
                   "  T tokens, d features, h expert hidden size (default 256:64:128,1024:128:256,4096:256:512,2048:512:1024)\n");
      return 2;
    }
  }
  engine::RuntimeInfo rt = engine::configure_runtime(threads);
  auto placed = engine::join_from_environment(device, engine::Backend::automatic, 0, -1);
  if (!placed) return std::fprintf(stderr, "bench_moe: %s\n", placed.error().message.c_str()), 2;
  device = placed->device.str();
  std::printf("device: %s\n", engine::describe_device(placed->device).c_str());
  std::string script = std::string(CIRCUIT_SOURCE_DIR) + "/bench/peer_moe.py";
  std::printf("MoE layer forward + backward, E=%lld experts, k=%lld, top-k softmax, dropless, %s experts; %d threads; %s\n",
              (long long)experts, (long long)k, gated ? "SwiGLU (no biases)" : "GELU", rt.threads, rt.blas.c_str());
  std::printf("dense = one FFN with hidden k x h (the same active parameters); naive = Python loop over experts with boolean masks\n");
  std::printf("median ms per step over %d alternating rounds (ours, then a fresh Python process); ratios: medians of the\n"
              "ratios within each round\n\n", rounds);
  // "naive bound": naive / dense in Python, the most any MoE that is no faster than a dense FFN of
  // the same active parameters could gain over the naive one at that size.
  std::printf("%-16s %10s %10s %12s %12s %14s %16s %12s  %s\n", "tokens:d:h", "our MoE", "our dense", "naive (py)", "dense (py)",
              "MoE / dense", "naive / our MoE", "naive bound", "targets");
  for (const Size& s : sizes) {
    auto moe = engine::Model::compile(layer_circuit(s, experts, k, true, gated), 1);
    auto ffn = engine::Model::compile(layer_circuit(s, experts, k, false, gated), 1);
    if (!moe || !ffn) {
      std::fprintf(stderr, "%s\n", (!moe ? moe.error() : ffn.error()).message.c_str());
      return 1;
    }
    (*moe)->set_training(true);
    (*ffn)->set_training(true);
    (*moe)->to(placed->device);
    for (auto& mod : (*moe)->module().modules())
      if (auto* layer = dynamic_cast<engine::MoeLayer*>(mod.get()))
        layer->set_path(path == "tensor" ? engine::MoePath::tensor : path == "host" ? engine::MoePath::host : engine::MoePath::automatic);
    (*ffn)->to(placed->device);
    torch::manual_seed(0);
    torch::Tensor x = torch::randn({s.tokens, s.d}).to(at::Device(device));
    if (!profile.empty()) {
      // Where our step's time goes, op by op: chrome://tracing or bench/trace_summary.py reads it.
      time_ours(**moe, x, 20, 1);
      {
        torch::autograd::profiler::RecordProfile guard(profile);
        time_ours(**moe, x, 50, 1);
      }
      std::printf("wrote %s (50 steps of our MoE at %lld:%lld:%lld)\n", profile.c_str(), (long long)s.tokens, (long long)s.d,
                  (long long)s.hidden);
      return 0;
    }
    // About a quarter second per repeat on either side.
    double probe = time_ours(**moe, x, 1, 1);
    int iters = std::max(1, int(250.0 / std::max(probe, 1e-3)));
    // The VM's speed drifts by up to 1.5x over seconds, more than the effects measured: ratios are
    // taken within each round (whose parts run back to back) and their medians reported.
    std::vector<double> ours_moe, ours_dense, naive, py_dense, vs_dense, vs_naive, bound;
    for (int r = 0; r < rounds; ++r) {
      ours_moe.push_back(time_ours(**moe, x, iters, 3));
      ours_dense.push_back(time_ours(**ffn, x, iters, 3));
      vs_dense.push_back(ours_moe.back() / ours_dense.back());
      if (!peer) continue;
      std::string out = run_peer(python, script, s, experts, k, rt.threads, iters, 3, gated, device);
      double n = json_number(out, "naive_ms"), dn = json_number(out, "dense_ms");
      if (n <= 0) {
        std::fprintf(stderr, "peer failed: %s\n", out.c_str());
        return 1;
      }
      naive.push_back(n), py_dense.push_back(dn);
      vs_naive.push_back(n / ours_moe.back()), bound.push_back(n / dn);
    }
    double m = median(ours_moe), dn = median(ours_dense), nv = median(naive), pd = median(py_dense);
    double rd = median(vs_dense), rn = median(vs_naive);
    char label[64];
    std::snprintf(label, sizeof label, "%lld:%lld:%lld", (long long)s.tokens, (long long)s.d, (long long)s.hidden);
    const char* verdict = !peer ? "-" : rd <= 1.5 && rn >= 2 ? "both met" : rd <= 1.5 ? "dense met" : rn >= 2 ? "naive met" : "neither";
    std::printf("%-16s %10.2f %10.2f %12.2f %12.2f %13.2fx %15.2fx %11.2fx  %s\n", label, m, dn, nv, pd, rd, rn, median(bound), verdict);
    std::fflush(stdout);
  }
  std::printf("\ntargets: MoE / dense <= 1.5x; naive / our MoE >= 2x\n");
  return 0;
}
