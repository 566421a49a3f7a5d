// Forward + backward of the gated_delta and mamba2 ops against the same layers in Python's
// PyTorch (bench/peer_mixers.py) with a naive step-by-step recurrence and with the chunked
// pure-PyTorch form of the references, same run, same threads. With --attention: the attention op
// (grouped-query, RoPE, causal) against the same layer in PyTorch eager (bench/peer_attention.py).
//
//   build/bench/bench_mixers [--attention] [--threads N] [--batch B] [--seq T] [--d D] [--heads H] [--kv-heads K]
//                            [--repeats R] [--no-peer] [--device cpu|cuda] [--python PATH] [--profile trace.json]
//
// Defaults: batch 8, seq 512, d 256, 4 heads (the size); with --attention d 512, 8 heads,
// 2 kv heads (the attention issue's size). Loss = sum of the output. On CUDA
// both sides synchronise the device around each timed step, and the peer runs in the Python given
// by --python (one whose torch has CUDA; scripts/gpu-check.sh passes it).
#include <torch/cuda.h>
#include <torch/torch.h>
#include <torch/csrc/autograd/profiler_legacy.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "base/json.h"
#include "circuit/graph.h"
#include "engine/detail/recurrence.h"
#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/model.h"

namespace {

using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

// Where the timed tensors live: "cpu" or "cuda:N" (kernels on a GPU run asynchronously, so a
// step's time is taken after the device has finished it).
engine::Device g_device;
bool on_cuda() { return g_device.is_cuda(); }
at::Tensor here(const at::Tensor& t) { return t.to(at::Device(g_device.str())); }

// Median milliseconds of `step` over `repeats` runs, after one warm-up run.
double median_ms(const std::function<void()>& step, int repeats) {
  step();
  std::vector<double> runs;
  for (int r = 0; r < repeats; ++r) {
    if (on_cuda()) torch::cuda::synchronize();
    auto t = Clock::now();
    step();
    if (on_cuda()) torch::cuda::synchronize();
    runs.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  return median(runs);
}

const char* targets(double vs_naive, double vs_chunked) {
  bool n = vs_naive >= 10, c = vs_chunked >= 1.0;
  return n && c ? "both met" : n ? "naive met" : c ? "chunked met" : "neither";
}

circuit::Circuit layer(const std::string& op, int64_t d, int64_t heads) {
  circuit::Circuit c;
  circuit::Node in;
  in.name = "x", in.op = "input";
  in.attrs["shape"] = std::vector<std::string>{"batch", "seq", "d:" + std::to_string(d)};
  circuit::Node n;
  n.name = "mix", n.op = op, n.inputs = {{"x", 0}};
  n.attrs["heads"] = heads;
  c.graph.nodes = {in, n};
  c.graph.outputs = {{"mix", 0}};
  c.symbols = {{"seq", 512}};
  return c;
}

double time_ours(engine::Model& m, const at::Tensor& x, int repeats) {
  auto step = [&] {
    for (auto& p : m.module().parameters()) p.mutable_grad() = at::Tensor();
    m.forward({x})[0].sum().backward();
  };
  return median_ms(step, repeats);
}

// The attention line: our op and the peer's layer at the same sizes, one row.
int attention_line(int64_t B, int64_t T, int64_t d, int64_t H, int64_t KV, int threads, int repeats, bool peer, const std::string& python) {
  circuit::Circuit c = layer("attention", d, H);
  c.graph.nodes[1].attrs = {{"heads", H}, {"kv_heads", KV}, {"bias", false}, {"causal", true}, {"rope_theta", 10000.0}};
  c.symbols["seq"] = T;
  auto m = engine::Model::compile(c, 1);
  if (!m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 1;
  (*m)->set_training(true);
  (*m)->to(g_device);
  torch::manual_seed(0);
  at::Tensor x = here(torch::randn({B, T, d}));
  double ours = time_ours(**m, x, repeats), theirs = 0;
  std::string version;
  if (peer) {
    std::string cmd = python + " " + std::string(CIRCUIT_SOURCE_DIR) + "/bench/peer_attention.py " + std::to_string(B) + " " +
                      std::to_string(T) + " " + std::to_string(d) + " " + std::to_string(H) + " " + std::to_string(KV) + " " +
                      std::to_string(threads) + " " + std::to_string(repeats) + " " + (on_cuda() ? "cuda" : "cpu") + " 2>&1";
    std::string out;
    if (std::FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (std::fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    auto j = base::parse_json(out.substr(std::min(out.size(), out.find('{'))));
    if (!j || !j->get("attention_ms")) return std::fprintf(stderr, "peer failed: %s\n", out.c_str()), 1;
    const base::Json& ms = *j->get("attention_ms");
    theirs = ms.kind == base::Json::Kind::Int ? double(ms.i) : ms.f;
    version = j->get("torch") ? j->get("torch")->s : "";
  }
  std::printf("attention: batch %lld, seq %lld, d %lld, %lld heads, %lld kv heads, RoPE, causal; forward + backward, median of %d\n",
              (long long)B, (long long)T, (long long)d, (long long)H, (long long)KV, repeats);
  std::printf("%-28s %10s\n%-28s %10.1f\n", "", "ms", "ours (circuit attention op)", ours);
  if (peer)
    std::printf("%-28s %10.1f\npeer / ours %.2fx (target >= 1.0x)\n", ("PyTorch " + version + " eager").c_str(), theirs, theirs / ours);
  return 0;
}

// The recurrence alone (the references' naive.py / chunk functions): inputs drawn at the layer's
// sizes, as peer_mixers.py's core_inputs does.
double time_core(bool delta, int64_t B, int64_t T, int64_t d, int64_t H, int repeats) {
  torch::manual_seed(5);
  engine::detail::Recurrence r;
  if (delta) {
    int64_t dh = d / H;
    r.q = torch::randn({B, H, T, dh});
    r.k = torch::randn({B, H, T, dh});
    r.k = r.k * torch::rsqrt(r.k.pow(2).sum(-1, true) + 1e-6);
    r.v = torch::randn({B, H, T, dh});
    r.g = -torch::softplus(torch::randn({B, H, T})) * 0.1;
    r.beta = torch::sigmoid(torch::randn({B, H, T}));
  } else {  // SSD: C and B shared by the heads, expand 2, N 16
    int64_t P = 2 * d / H, N = 16;
    r.q = torch::randn({B, 1, T, N});
    r.k = torch::randn({B, 1, T, N});
    r.v = torch::randn({B, H, T, P});
    r.g = -torch::softplus(torch::randn({B, H, T})) * 0.1;
    r.beta = torch::ones({B, H, T});
  }
  r.delta = delta;
  for (at::Tensor* t : {&r.q, &r.k, &r.v, &r.g, &r.beta}) *t = here(*t);
  auto step = [&] {
    engine::detail::Recurrence leaf = r;
    for (at::Tensor* t : {&leaf.q, &leaf.k, &leaf.v, &leaf.g, &leaf.beta}) *t = t->detach().requires_grad_(true);
    engine::detail::recurrence_chunked(leaf, 64).sum().backward();
  };
  return median_ms(step, repeats);
}

double field(const base::Json& j, const std::string& layer, const std::string& key) {
  const base::Json* l = j.get(layer);
  const base::Json* v = l ? l->get(key) : nullptr;
  return v && v->is_number() ? (v->kind == base::Json::Kind::Int ? double(v->i) : v->f) : 0;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, repeats = 7;
  int64_t B = 8, T = 512, d = 0, H = 0, KV = 2;
  bool peer = true, attention = false;
  std::string profile, device = "cpu", python = "/usr/bin/python3";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> const char* { return i + 1 < argc ? argv[++i] : "0"; };
    if (a == "--threads") threads = std::atoi(value());
    else if (a == "--batch") B = std::atoll(value());
    else if (a == "--seq") T = std::atoll(value());
    else if (a == "--d") d = std::atoll(value());
    else if (a == "--heads") H = std::atoll(value());
    else if (a == "--kv-heads") KV = std::atoll(value());
    else if (a == "--attention") attention = true;
    else if (a == "--repeats") repeats = std::atoi(value());
    else if (a == "--no-peer") peer = false;
    else if (a == "--profile") profile = value();
    else if (a == "--device") device = value();
    else if (a == "--python") python = value();
    else {
      std::fprintf(stderr,
                   "usage: bench_mixers [--attention] [--threads N] [--batch B] [--seq T] [--d D] [--heads H] [--kv-heads K]\n"
                   "                    [--repeats R] [--no-peer] [--device cpu|cuda] [--python PATH] [--profile trace.json]\n");
      return 2;
    }
  }
  auto placed = engine::join_from_environment(device, engine::Backend::automatic, 0, -1);
  if (!placed) return std::fprintf(stderr, "bench_mixers: %s\n", placed.error().message.c_str()), 2;
  g_device = placed->device;
  engine::RuntimeInfo rt = engine::configure_runtime(threads);
  if (!d) d = attention ? 512 : 256;
  if (!H) H = attention ? 8 : 4;
  if (attention) {
    std::printf("%d threads; %s; device %s\n", rt.threads, rt.blas.c_str(), engine::describe_device(g_device).c_str());
    return attention_line(B, T, d, H, KV, rt.threads, repeats, peer, python);
  }
  if (!profile.empty()) {
    // Where one gated_delta step's time goes, op by op (bench/trace_summary.py reads it).
    auto m = engine::Model::compile(layer("gated_delta", d, H), 1);
    if (!m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 1;
    at::Tensor x = torch::randn({B, T, d});
    time_ours(**m, x, 1);
    {
      torch::autograd::profiler::RecordProfile guard(profile);
      time_ours(**m, x, 2);
    }
    std::printf("wrote %s\n", profile.c_str());
    return 0;
  }
  std::printf("forward + backward, batch %lld, seq %lld, d %lld, %lld heads; %d threads; %s; device %s\n", (long long)B, (long long)T,
              (long long)d, (long long)H, rt.threads, rt.blas.c_str(), engine::describe_device(g_device).c_str());
  std::printf("ours: the op compiled by circuit (chunk 64); peers: the same layer in Python's PyTorch with a step-by-step loop\n"
              "(naive) and with the references' chunked form (chunked); median ms over %d repeats (naive: a third as many, at least 2)\n\n",
              repeats);
  base::Json peer_out;
  if (peer) {
    std::string cmd = python + " " + std::string(CIRCUIT_SOURCE_DIR) + "/bench/peer_mixers.py " + std::to_string(B) + " " +
                      std::to_string(T) + " " + std::to_string(d) + " " + std::to_string(H) + " " + std::to_string(rt.threads) + " " +
                      std::to_string(repeats) + " " + (on_cuda() ? "cuda" : "cpu") + " 2>&1";
    std::string out;
    if (std::FILE* p = popen(cmd.c_str(), "r")) {
      char buf[4096];
      while (std::fgets(buf, sizeof buf, p)) out += buf;
      pclose(p);
    }
    auto j = base::parse_json(out.substr(std::min(out.size(), out.rfind('{') == std::string::npos ? out.size() : out.find('{'))));
    if (!j) return std::fprintf(stderr, "peer failed: %s\n", out.c_str()), 1;
    peer_out = *j;
  }
  std::printf("%-12s %10s %12s %12s %16s %18s  %s\n", "layer", "ours (ms)", "naive (py)", "chunked (py)", "naive / ours", "chunked / ours",
              "targets (>= 10x, >= 1.0x)");
  for (const char* op : {"gated_delta", "mamba2"}) {
    bool delta = std::string(op) == "gated_delta";
    double ours = time_core(delta, B, T, d, H, repeats);
    std::string core = std::string(op) + "_core";
    double naive = peer ? field(peer_out, core, "naive_ms") : 0, chunked = peer ? field(peer_out, core, "chunked_ms") : 0;
    const char* verdict = !peer ? "-" : targets(naive / ours, chunked / ours);
    std::printf("%-12s %10.1f %12.1f %12.1f %15.1fx %17.2fx  %s\n", (delta ? "delta core" : "ssd core"), ours, naive, chunked,
                peer ? naive / ours : 0, peer ? chunked / ours : 0, verdict);
    std::fflush(stdout);
  }
  for (const char* op : {"gated_delta", "mamba2"}) {
    auto m = engine::Model::compile(layer(op, d, H), 1);
    if (!m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 1;
    (*m)->set_training(true);
    (*m)->to(g_device);
    torch::manual_seed(0);
    at::Tensor x = here(torch::randn({B, T, d}));
    double ours = time_ours(**m, x, repeats);
    double naive = peer ? field(peer_out, op, "naive_ms") : 0, chunked = peer ? field(peer_out, op, "chunked_ms") : 0;
    const char* verdict = !peer ? "-" : targets(naive / ours, chunked / ours);
    std::printf("%-12s %10.1f %12.1f %12.1f %15.1fx %17.2fx  %s\n", op, ours, naive, chunked, peer ? naive / ours : 0,
                peer ? chunked / ours : 0, verdict);
    std::fflush(stdout);
  }
  if (peer)
    std::printf("\npeer check: naive and chunked Python outputs differ by at most %.1e (gated_delta), %.1e (mamba2)\n",
                field(peer_out, "gated_delta", "naive_vs_chunked_max_diff"), field(peer_out, "mamba2", "naive_vs_chunked_max_diff"));
  return 0;
}
