// Training throughput of the engine against PyTorch in Python, on the same machine, threads,
// BLAS, architecture, batch size, optimizer and data. Ours: the example circuit compiled by
// engine::Model, trained with a timing loop around Model::forward + cross-entropy + backward +
// torch::optim::AdamW (lr 1e-3, weight decay 0.01). Peer: bench/peer_train.py, the same network
// written with torch.nn and the same loop, run by Debian's /usr/bin/python3 (python3-torch, the
// same LibTorch 1.13 build we link). Both index batches from a pre-built tensor of real
// Fashion-MNIST images; data loading is outside the timed region.
//
// Every row (model, batch) is measured in a fresh process on both sides: this program runs
// itself with --row for each, and that child starts its own peer. A step's speed depends on the
// state glibc's allocator has reached (a CNN at batch 64 trains ~1.5x faster in a process that
// has already trained at batch 256), so rows must not inherit each other's heap. Within a row
// the two sides never run at once, and their repeats are interleaved (ours, peer, peer, ours,
// ...) so that load from other processes hits both alike. Each row reports the median steps/s of
// the repeats and the ratio of the medians.
//
// Model FLOP/s: the IR's forward FLOPs per example (multiply-add = 2) x 3 (backward is about
// twice the forward) x examples/s, against a measured 1024x1024 float matmul peak.
//
//   build/bench/bench_train [--threads N] [--models mlp,cnn] [--batches 64,256] [--repeats R]
//                           [--warmup W] [--seconds S] [--breakdown] [--no-peer] [--same-heap]
//                           [--device cpu|cuda] [--python PATH]
// With --device cuda both sides train on the GPU with the data set already there, TF32 off, and
// every timed run ends in a device synchronisation; --python names a Python whose PyTorch has CUDA.
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "circuit/analysis.h"
#include "circuit/circuit_file.h"
#include "base/json.h"
#include "engine/data.h"
#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/model.h"
#include <torch/cuda.h>
#include "engine/train.h"

extern char** environ;

namespace {

using base::Json;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  size_t n = v.size();
  return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  for (std::string item; std::getline(ss, item, ',');)
    if (!item.empty()) out.push_back(item);
  return out;
}

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

double number(const Json* j) { return !j ? 0 : j->kind == Json::Kind::Int ? double(j->i) : j->f; }

std::vector<double> numbers(const Json* j) {
  std::vector<double> v;
  if (j)
    for (auto& x : j->items) v.push_back(number(&x));
  return v;
}

Json array_of(const std::vector<double>& v) {
  Json a = Json::array();
  for (double x : v) a.push(Json::number(x));
  return a;
}

torch::Tensor to_tensor(const engine::HostArray& a) {
  if (a.is_int) return torch::from_blob(const_cast<int64_t*>(a.i64.data()), a.shape, torch::kLong).clone();
  return torch::from_blob(const_cast<float*>(a.f32.data()), a.shape, torch::kFloat32).clone();
}

// 1024x1024 float matmul in GFLOP/s (2 * 1024^3 per product) after 3 warm-ups: the best of 50
// (the machine's peak; this VM's speed wanders by tens of percent) and the median.
std::pair<double, double> matmul_gflops() {
  torch::Tensor a = torch::randn({1024, 1024}), b = torch::randn({1024, 1024});
  for (int i = 0; i < 3; ++i) torch::matmul(a, b);
  std::vector<double> t;
  for (int i = 0; i < 50; ++i) {
    auto s = Clock::now();
    torch::Tensor c = torch::matmul(a, b);
    t.push_back(seconds_since(s));
  }
  double flop = 2.0 * 1024 * 1024 * 1024;
  return {flop / *std::min_element(t.begin(), t.end()) / 1e9, flop / median(t) / 1e9};
}

// ---- load from other processes ----------------------------------------------------------------

// CPU time used by the whole machine (/proc/stat) and by this process and its waited-for
// descendants (a row's process and its peer, once they have exited), so a row can say how many
// cores others took from it. On this 2-core machine a compiler holding one core slows a 2-thread
// OpenMP run many times over (threads wait at every parallel region for a descheduled sibling),
// so a row measured under load says so.
struct CpuSnap {
  double machine = 0, ours = 0;
  Clock::time_point t = Clock::now();
};
CpuSnap cpu_snap() {
  CpuSnap s;
  std::ifstream f("/proc/stat");
  std::string cpu;
  double user = 0, nice = 0, sys = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0;
  f >> cpu >> user >> nice >> sys >> idle >> iowait >> irq >> softirq >> steal;
  s.machine = (user + nice + sys + irq + softirq + steal) / double(sysconf(_SC_CLK_TCK));
  auto add = [&](int who) {
    rusage u{};
    getrusage(who, &u);
    s.ours += double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + 1e-6 * double(u.ru_utime.tv_usec + u.ru_stime.tv_usec);
  };
  add(RUSAGE_SELF);
  add(RUSAGE_CHILDREN);
  return s;
}
// Average cores busy with other processes between two snapshots.
double other_cores(const CpuSnap& a, const CpuSnap& b) {
  double wall = std::chrono::duration<double>(b.t - a.t).count();
  return wall > 0 ? std::max(0.0, (b.machine - a.machine) - (b.ours - a.ours)) / wall : 0;
}

// ---- child processes ----------------------------------------------------------------------------

// A process started with pipes to its stdin (optional) and from its stdout; stderr is shared.
class Child {
 public:
  Child(std::vector<std::string> args, bool with_stdin) {
    int to[2] = {-1, -1}, from[2];
    if ((with_stdin && pipe(to) != 0) || pipe(from) != 0) {
      error_ = "pipe failed";
      return;
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (with_stdin) posix_spawn_file_actions_adddup2(&fa, to[0], 0);
    posix_spawn_file_actions_adddup2(&fa, from[1], 1);
    for (int fd : {to[0], to[1], from[0], from[1]})
      if (fd >= 0) posix_spawn_file_actions_addclose(&fa, fd);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (with_stdin) close(to[0]);
    close(from[1]);
    if (rc != 0) {
      if (with_stdin) close(to[1]);
      close(from[0]);
      pid_ = -1;
      error_ = "cannot start " + args[0] + ": " + std::strerror(rc);
      return;
    }
    if (with_stdin) in_ = fdopen(to[1], "w");
    out_ = fdopen(from[0], "r");
  }
  ~Child() { wait(); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  bool started() const { return pid_ > 0; }
  const std::string& error() const { return error_; }
  void send(const std::string& line) {
    if (!in_) return;
    std::fputs((line + "\n").c_str(), in_);
    std::fflush(in_);
  }
  std::string read_line() {
    std::string line;
    char buf[4096];
    while (out_ && std::fgets(buf, sizeof buf, out_)) {
      line += buf;
      if (line.back() == '\n') break;
    }
    return line;
  }
  std::string read_all() {
    std::string text;
    char buf[4096];
    size_t n;
    while (out_ && (n = std::fread(buf, 1, sizeof buf, out_)) > 0) text.append(buf, n);
    return text;
  }
  // Closes the pipes and waits for the process; its exit status, or -1.
  int wait() {
    if (in_) std::fclose(in_), in_ = nullptr;
    if (out_) std::fclose(out_), out_ = nullptr;
    int status = -1;
    if (pid_ > 0) waitpid(pid_, &status, 0), pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  FILE* in_ = nullptr;
  FILE* out_ = nullptr;
  std::string error_;
};

// The peer: bench/peer_train.py --serve, one command per line, one JSON line per answer.
class Peer {
 public:
  Peer(const std::string& python, const std::string& model, int64_t batch, int threads, const std::string& device)
      : script_(std::string(CIRCUIT_SOURCE_DIR) + "/bench/peer_train.py"),
        proc_({python, script_, model, std::to_string(batch), std::to_string(threads), "--serve", "--device", device}, true) {
    if (!proc_.started()) {
      error_ = proc_.error();
      return;
    }
    auto hello = base::parse_json(proc_.read_line());
    if (!hello || !hello->get("ready")) {
      error_ = "the peer did not start (is python3-torch installed? run " + script_ + " by hand to see why)";
      return;
    }
    facts_ = *hello;
    ok_ = true;
  }
  ~Peer() {
    proc_.send("quit");
    proc_.wait();
  }

  bool ok() const { return ok_; }
  const std::string& error() const { return error_; }
  const Json& facts() const { return facts_; }

  // Sends one command and returns the number in field `key` of the answer.
  std::optional<double> ask(const std::string& command, const char* key) {
    if (!ok_) return std::nullopt;
    proc_.send(command);
    auto j = base::parse_json(proc_.read_line());
    const Json* v = j ? j->get(key) : nullptr;
    if (!v || !v->is_number()) {
      ok_ = false;
      error_ = "the peer gave no `" + std::string(key) + "` for `" + command + "`";
      return std::nullopt;
    }
    return number(v);
  }

 private:
  std::string script_;
  Child proc_;
  bool ok_ = false;
  std::string error_;
  Json facts_;
};

// ---- our side ---------------------------------------------------------------------------------

struct Ours {
  std::unique_ptr<engine::Model> model;
  std::unique_ptr<torch::optim::AdamW> opt;
  torch::Tensor x, y;
  int64_t batch = 0, per_epoch = 0, k = 0;  // k: batch counter, carried on as in a training loop

  std::pair<torch::Tensor, torch::Tensor> next() {
    int64_t s = (k++ % per_epoch) * batch;
    return {x.narrow(0, s, batch), y.narrow(0, s, batch)};
  }
  void step() {
    auto [xb, yb] = next();
    opt->zero_grad();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward({xb})[0], yb);
    loss.backward();
    opt->step();
  }
  void forward() {
    auto [xb, yb] = next();
    torch::Tensor loss = torch::nn::functional::cross_entropy(model->forward({xb})[0], yb);
  }
  void forward_backward() {
    auto [xb, yb] = next();
    opt->zero_grad();
    torch::nn::functional::cross_entropy(model->forward({xb})[0], yb).backward();
  }
  // Calls per second over n calls of f (to the device's end of them on a GPU).
  double rate(int n, void (Ours::*f)()) {
    bool cuda = x.is_cuda();
    if (cuda) torch::cuda::synchronize();
    auto t = Clock::now();
    for (int i = 0; i < n; ++i) (this->*f)();
    if (cuda) torch::cuda::synchronize();
    return double(n) / seconds_since(t);
  }
};

// Interleaved repeats: ours then the peer's on even repeats, the peer's then ours on odd ones.
// A short pause at each hand-over lets the other side's OpenMP threads stop spinning.
struct Pair {
  std::vector<double> ours, peer;
};
Pair interleave(Ours& o, Peer* p, int repeats, int steps, void (Ours::*f)(), const std::string& peer_cmd) {
  Pair r;
  auto run_ours = [&] { r.ours.push_back(o.rate(steps, f)); };
  auto run_peer = [&] {
    if (!p || !p->ok()) return;
    if (auto v = p->ask(peer_cmd + " " + std::to_string(steps), "rate")) r.peer.push_back(*v);
  };
  for (int i = 0; i < repeats; ++i) {
    if (i % 2 == 0) {
      run_ours();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      run_peer();
    } else {
      run_peer();
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      run_ours();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return r;
}

struct Options {
  int threads = 0, repeats = 9, warmup = 5;
  double seconds = 1.0;
  bool breakdown = false, peer = true;
  bool same_heap = false;  // give the peer the heap settings the engine makes for itself
  std::vector<std::string> models = {"mlp", "cnn"};
  std::vector<int64_t> batches = {64, 256};
  std::string device = "cpu", python = "/usr/bin/python3";  // device: as named, for the peer and the row processes
  engine::Device placed;                                     // where it resolved
  std::string row_model;  // --row MODEL BATCH: measure one row in this process (used internally)
  int64_t row_batch = 0;
};

// One row, measured in this process (a fresh one: see the top of the file). Returns a JSON
// object; "error" is set when the row could not be measured.
Json measure_row(const Options& o, const std::string& name, int64_t batch, int threads) {
  Json out = Json::object();
  auto fail = [&](const std::string& m) {
    out.set("error", Json::string(m));
    return out;
  };
  std::string path = std::string(CIRCUIT_SOURCE_DIR) + "/resources/examples/" + name + ".circuit.json";
  auto circ = circuit::load_circuit(path);
  if (!circ) return fail(circ.error().message);
  engine::DataOptions dopt;
  dopt.train_limit = 6400;
  auto data = engine::load_dataset(dopt);
  if (!data) return fail(data.error().message);

  Ours ours;
  auto m = engine::Model::compile(*circ, 0);
  if (!m) return fail(path + ": " + m.error().message);
  if (auto s = engine::check_fit(**m, *data); !s) return fail(path + ": " + s.error);
  ours.model = std::move(*m);
  ours.model->set_training(true);
  ours.model->to(o.placed);
  if (o.placed.is_cuda()) {
    at::globalContext().setAllowTF32CuBLAS(false);
    at::globalContext().setAllowTF32CuDNN(false);
  }
  ours.opt = std::make_unique<torch::optim::AdamW>(ours.model->module().parameters(), torch::optim::AdamWOptions(1e-3).weight_decay(0.01));
  const at::Device dev(o.placed.str());
  ours.x = to_tensor(data->train.x).to(dev), ours.y = to_tensor(data->train.y).to(dev);
  ours.batch = batch, ours.per_epoch = ours.x.size(0) / batch;
  if (ours.per_epoch < 1) return fail("batch " + std::to_string(batch) + " exceeds the " + std::to_string(ours.x.size(0)) + " training examples");

  // Warm-up, then size a repeat to about `seconds` from our own step time.
  for (int i = 0; i < o.warmup; ++i) ours.step();
  double per_step = 1.0 / ours.rate(std::max(2, o.warmup), &Ours::step);
  int steps = std::max(3, int(o.seconds / per_step + 0.5));

  Json notes = Json::array();
  std::unique_ptr<Peer> peer;
  if (o.peer) {
    peer = std::make_unique<Peer>(o.python, name, batch, threads, o.device);
    if (peer->ok()) {
      peer->ask("step " + std::to_string(o.warmup), "rate");  // the peer's warm-up
      Json facts = peer->facts();
      if (auto g = peer->ask("matmul", "gflops")) facts.set("matmul_gflops", Json::number(*g));  // best of 50
      out.set("peer_facts", facts);
    }
    if (!peer->ok()) notes.push(Json::string("peer: " + peer->error()));
  }

  Pair r = interleave(ours, peer.get(), o.repeats, steps, &Ours::step, "step");
  out.set("ours", array_of(r.ours));
  out.set("peer", array_of(r.peer));
  out.set("steps", Json::integer(steps));
  out.set("flops", Json::integer(ours.model->analysis().total.flops));  // forward, per example

  if (o.breakdown) {
    Pair f = interleave(ours, peer.get(), o.repeats, steps, &Ours::forward, "forward");
    Pair fb = interleave(ours, peer.get(), o.repeats, steps, &Ours::forward_backward, "fwdbwd");
    auto ms = [](const std::vector<double>& v) { return v.empty() ? 0.0 : 1e3 / median(v); };
    double of = ms(f.ours), ofb = ms(fb.ours), os = ms(r.ours), pf = ms(f.peer), pfb = ms(fb.peer), ps = ms(r.peer);
    notes.push(Json::string("ms/step  forward+loss  backward  optimizer  total:  ours " + fmt("%.3f", of) + "  " + fmt("%.3f", ofb - of) +
                            "  " + fmt("%.3f", os - ofb) + "  " + fmt("%.3f", os) + "   pytorch " + fmt("%.3f", pf) + "  " +
                            fmt("%.3f", pfb - pf) + "  " + fmt("%.3f", ps - pfb) + "  " + fmt("%.3f", ps)));
    peer.reset();  // the peer's threads must not compete with engine::train below

    // The product path: engine::train() on the same data (shuffled gather, LR schedule, gradient
    // clipping, loss.item() and per-step accuracy for the events bus), timed from the bus's own
    // events: mean step interval within epochs after the warm-up steps, so the epoch-end
    // evaluation falls outside. Enough epochs for about as many steps as two repeats.
    auto fresh = engine::Model::compile(*circ, 0);
    events::Bus bus;
    std::vector<std::pair<Clock::time_point, int>> at;  // (time, epoch) of each step
    bus.subscribe([&](const events::Event& e) {
      if (auto* st = std::get_if<events::TrainStep>(&e)) at.push_back({Clock::now(), st->epoch});
    });
    engine::TrainOptions t;
    t.batch = batch;
    t.bus = &bus;
    t.device = o.placed;
    t.epochs = int(std::clamp<int64_t>((2 * steps + ours.per_epoch - 1) / ours.per_epoch, 1, 20));
    auto tr = engine::train(**fresh, *data, t);
    double sum = 0;
    int n = 0;
    for (size_t i = size_t(std::max(1, o.warmup)); i < at.size(); ++i)
      if (at[i].second == at[i - 1].second) sum += std::chrono::duration<double>(at[i].first - at[i - 1].first).count(), ++n;
    if (tr && n > 0)
      notes.push(Json::string("engine::train() with events bus: " + fmt("%.1f", double(n) / sum) + " steps/s (" + std::to_string(n) +
                              " steps timed over " + std::to_string(t.epochs) + " epochs; not interleaved)"));
    else
      notes.push(Json::string("engine::train(): " + (tr ? std::string("too few steps to time") : tr.error().message)));
  }
  out.set("notes", notes);
  return out;
}

int usage() {
  std::fprintf(stderr,
               "usage: bench_train [--threads N] [--models mlp,cnn] [--batches 64,256] [--repeats R] [--warmup W]\n"
               "                   [--seconds S] [--breakdown] [--no-peer] [--same-heap] [--device cpu|cuda] [--python PATH]\n"
               "  --threads   LibTorch threads for both sides (default: every core)\n"
               "  --repeats   timed repeats per side, interleaved with the peer's (default 9; median reported)\n"
               "  --warmup    untimed steps before timing (default 5)\n"
               "  --seconds   target length of one repeat; sets the steps per repeat (default 1.0)\n"
               "  --breakdown also time forward + loss alone, forward + loss + backward alone, and engine::train()\n"
               "  --no-peer   ours only\n"
               "  --same-heap give the peer the heap settings the engine makes for itself (like-for-like kernels)\n");
  return 2;
}

struct Row {
  std::string model;
  int64_t batch = 0;
  std::vector<double> ours, peer;
  int64_t steps = 0, flops = 0;
  double others = 0;
  std::vector<std::string> notes;
  std::string error;
};

std::string spread(const std::vector<double>& v) {
  if (v.empty()) return "n/a";
  auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return fmt("%.1f", *lo) + ".." + fmt("%.1f", *hi);
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "%s needs a value\n", a.c_str());
        std::exit(usage());
      }
      return argv[++i];
    };
    if (a == "--threads") o.threads = std::atoi(value().c_str());
    else if (a == "--repeats") o.repeats = std::max(1, std::atoi(value().c_str()));
    else if (a == "--warmup") o.warmup = std::max(0, std::atoi(value().c_str()));
    else if (a == "--seconds") o.seconds = std::max(0.01, std::atof(value().c_str()));
    else if (a == "--models") o.models = split_list(value());
    else if (a == "--batches") {
      o.batches.clear();
      for (auto& b : split_list(value())) o.batches.push_back(std::max<int64_t>(1, std::atoll(b.c_str())));
    } else if (a == "--breakdown") o.breakdown = true;
    else if (a == "--no-peer") o.peer = false;
    else if (a == "--same-heap") o.same_heap = true;
    else if (a == "--device") o.device = value();
    else if (a == "--python") o.python = value();
    else if (a == "--row") {
      o.row_model = value();
      o.row_batch = std::max<int64_t>(1, std::atoll(value().c_str()));
    } else return usage();
  }

  std::signal(SIGPIPE, SIG_IGN);  // a peer that died must not take us with it when we write to it
  // Like for like: the row processes and the peer they start inherit this, and glibc reads it at
  // process start; configure_runtime then leaves the heap to it on our side too.
  if (o.same_heap && o.row_model.empty())
    setenv("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=1073741824", 1);
  engine::RuntimeInfo rt = engine::configure_runtime(o.threads);
  auto placed = engine::join_from_environment(o.device, engine::Backend::automatic, 0, -1);
  if (!placed) return std::fprintf(stderr, "bench_train: %s\n", placed.error().message.c_str()), 2;
  o.placed = placed->device;
  o.device = o.placed.str();

  if (!o.row_model.empty()) {  // a row's process: measure, answer in JSON on stdout
    Json r;
    try {
      r = measure_row(o, o.row_model, o.row_batch, rt.threads);
    } catch (const std::exception& e) {
      r = Json::object();
      r.set("error", Json::string(e.what()));
    }
    std::printf("%s\n", base::write_json(r).c_str());
    return 0;
  }

  auto [peak, peak_median] = matmul_gflops();
  CpuSnap idle0 = cpu_snap();
  std::this_thread::sleep_for(std::chrono::seconds(1));
  double load_before = other_cores(idle0, cpu_snap());

  std::printf("machine: %d threads of %d cores; LibTorch %s; BLAS %s; %s\n", rt.threads, rt.cores, rt.torch_version.c_str(),
              rt.blas.c_str(), rt.parallel.c_str());
  std::printf("heap: ours %s; peer %s\n", o.same_heap ? "the same as the peer's" : "as engine::configure_runtime sets it (glibc, mmap threshold 32 MiB, trim threshold 1 GiB)",
              o.same_heap ? (std::string("GLIBC_TUNABLES=") + std::getenv("GLIBC_TUNABLES")).c_str() : "glibc defaults (as python3 runs it)");
  std::printf("matmul peak (1024x1024 float, %d threads, ours): %.1f GFLOP/s best of 50 (median %.1f)\n", rt.threads, peak, peak_median);
  std::printf("data: the first 6400 Fashion-MNIST training images, batches taken in order from one tensor\n");
  std::printf("other processes before start: %.2f of %d cores busy%s\n", load_before, rt.cores,
              load_before > 0.2 ? "  (machine busy: multi-threaded numbers will be low and noisy)" : "");
  std::printf("loop: zero_grad, forward, cross-entropy, backward, AdamW(lr 1e-3, wd 0.01) step; %d warm-up steps;\n"
              "      median of %d repeats of ~%.1f s per side, ours and the peer interleaved; each row in fresh processes;\n"
              "      model FLOPs = 3 x IR forward FLOPs\n\n",
              o.warmup, o.repeats, o.seconds);
  std::fflush(stdout);

  std::vector<Row> rows;
  Json peer_facts;
  for (const std::string& name : o.models)
    for (int64_t batch : o.batches) {
      Row row;
      row.model = name, row.batch = batch;
      std::vector<std::string> args = {"/proc/self/exe", "--row", name, std::to_string(batch), "--threads", std::to_string(rt.threads),
                                       "--repeats", std::to_string(o.repeats), "--warmup", std::to_string(o.warmup), "--seconds",
                                       fmt("%g", o.seconds)};
      if (o.breakdown) args.push_back("--breakdown");
      args.insert(args.end(), {"--device", o.device, "--python", o.python});
      if (!o.peer) args.push_back("--no-peer");
      CpuSnap start = cpu_snap();
      std::string text;
      {
        Child child(args, false);
        if (!child.started()) row.error = child.error();
        text = child.read_all();
        if (child.started() && child.wait() != 0 && row.error.empty()) row.error = "the row's process failed";
      }
      row.others = other_cores(start, cpu_snap());
      auto j = base::parse_json(text);
      if (!j && row.error.empty()) row.error = "unreadable answer from the row's process: " + j.error().message;
      if (j) {
        if (auto* e = j->get("error")) row.error = e->s;
        row.ours = numbers(j->get("ours"));
        row.peer = numbers(j->get("peer"));
        row.steps = int64_t(number(j->get("steps")));
        row.flops = int64_t(number(j->get("flops")));
        if (auto* n = j->get("notes"))
          for (auto& s : n->items) row.notes.push_back(s.s);
        if (auto* f = j->get("peer_facts"); f && peer_facts.kind == Json::Kind::Null) peer_facts = *f;
      }
      if (!row.error.empty())
        std::printf("  %s batch %lld: %s\n", name.c_str(), (long long)batch, row.error.c_str());
      else
        std::printf("  measured %s batch %lld: ours %.1f, pytorch %s steps/s\n", name.c_str(), (long long)batch, median(row.ours),
                    row.peer.empty() ? "n/a" : fmt("%.1f", median(row.peer)).c_str());
      std::fflush(stdout);
      rows.push_back(std::move(row));
    }

  std::printf("\n%-6s %6s %14s %17s %20s %14s %18s %14s\n", "model", "batch", "ours steps/s", "pytorch steps/s", "ratio ours/pytorch",
              "model GFLOP/s", "% of matmul peak", "others' cores");
  for (auto& r : rows) {
    if (r.ours.empty()) {
      std::printf("%-6s %6lld %14s\n", r.model.c_str(), (long long)r.batch, "failed");
      continue;
    }
    double ours = median(r.ours), peer = median(r.peer);
    double gflops = 3.0 * double(r.flops) * double(r.batch) * ours / 1e9;
    std::printf("%-6s %6lld %14.1f %17s %20s %14.2f %17.1f%% %14.2f\n", r.model.c_str(), (long long)r.batch, ours,
                peer > 0 ? fmt("%.1f", peer).c_str() : "n/a", peer > 0 ? fmt("%.3f", ours / peer).c_str() : "n/a", gflops,
                100.0 * gflops / peak, r.others);
  }
  if (std::any_of(rows.begin(), rows.end(), [](const Row& r) { return r.others > 0.2; }))
    std::printf("LOAD: other processes kept more than 0.2 cores busy during some rows (last column): their speeds, and\n"
                "      their %% of the peak measured at start, are not this machine's; the interleaved ratio is still\n"
                "      meaningful. Re-run on a quiet machine.\n");

  std::printf("\nspread over repeats (min..max):\n");
  for (auto& r : rows) {
    std::vector<double> ratios;
    for (size_t i = 0; i < r.ours.size() && i < r.peer.size(); ++i) ratios.push_back(r.ours[i] / r.peer[i]);
    std::string rs = ratios.empty() ? "n/a"
                                    : fmt("%.2f", *std::min_element(ratios.begin(), ratios.end())) + ".." +
                                          fmt("%.2f", *std::max_element(ratios.begin(), ratios.end()));
    std::printf("%-6s %6lld  ours %s  pytorch %s  per-pair ratio %s\n", r.model.c_str(), (long long)r.batch, spread(r.ours).c_str(),
                spread(r.peer).c_str(), rs.c_str());
    if (!r.error.empty()) std::printf("               error: %s\n", r.error.c_str());
    if (r.steps) std::printf("               %lld steps per repeat; IR forward %.2f MFLOP/example\n", (long long)r.steps, double(r.flops) / 1e6);
    for (auto& n : r.notes) std::printf("               %s\n", n.c_str());
  }

  std::printf("\nmachine: %d threads, BLAS %s, matmul peak %.1f GFLOP/s best of 50, median %.1f (ours)\n", rt.threads,
              rt.blas.c_str(), peak, peak_median);
  if (peer_facts.kind == Json::Kind::Object) {
    std::string blas;
    if (auto* b = peer_facts.get("blas"))
      for (auto& lib : b->items) blas += (blas.empty() ? "" : " ") + lib.s;
    auto* t = peer_facts.get("threads");
    auto* v = peer_facts.get("torch");
    auto* g = peer_facts.get("matmul_gflops");
    std::printf("peer: /usr/bin/python3, torch %s, %lld threads, BLAS mapped: %s; matmul peak %s GFLOP/s best of 50\n",
                v ? v->s.c_str() : "?", (long long)(t ? t->i : 0), blas.c_str(), g ? fmt("%.1f", number(g)).c_str() : "n/a");
  }
  return 0;
}
