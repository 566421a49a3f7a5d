// `circuit train` and `circuit doctor`: the engine from the command line, with a progress bar
// fed by training events. Ctrl-C cancels cleanly (the last epoch checkpoint stays valid).
#include <algorithm>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <optional>
#include <cstdio>
#include <cstdlib>
#include <cerrno>
#include <cstring>
#include <map>
#include <memory>
#include <string>

#include "circuit/circuit_file.h"
#include "base/json.h"
#include "args.h"
#include "events/json.h"
#include "protocol/engine_process.h"
#include "base/file.h"
#include "commands.h"
#include "engine/data.h"
#include "engine/distributed.h"
#include "engine/experiment.h"
#include "engine/export.h"
#include "engine/options.h"
#include "exit_report.h"
#include "launch.h"
#include "script/engine_extension.h"
#include "engine/model.h"
#include "engine/train.h"

namespace cli {

namespace {

std::atomic<bool> g_cancel{false};
void on_sigint(int) { g_cancel = true; }

std::string train_usage() {
  return "usage: circuit train FILE --data NAME [options]\n"
         "  --data NAME        " + engine::data_set_names() + "\n"
         "training (circuit search takes the same; a study stores them with every trial):\n" +
         engine::train_options_usage() +
         "this run:\n"
         "  --seed S           weights, data order and synthetic data (0)\n"
    "  --limit N          train on the first N training examples (0: all)\n"
    "  --threads T        LibTorch threads (0: every core)\n"
    "  --text PATH        text file for --data text\n"
    "  --checkpoint PATH  write a checkpoint after every epoch\n"
    "  --resume PATH      continue from a checkpoint\n"
    "  --memory-budget F  refuse when the estimate exceeds F x available RAM (0.8)\n"
    "  --export PATH      write the trained model: .pt (TorchScript) or .onnx (ONNX)\n"
    "  --telemetry PATH   write MoE expert load per layer and step as JSON lines\n"
    CIRCUIT_DEVICE_USAGE
    CIRCUIT_DIST_USAGE
    "on another machine, through its engine (`circuit serve --stdio` over ssh; docs/protocol.md):\n"
    "  --on HOST          [user@]host: train there, events and --export come back here ($CIRCUIT_SSH: the ssh command)\n"
    "  --on-circuit PATH  the `circuit` program on HOST (circuit: its PATH)\n"
    "circuits with two or more exit heads also get an early-exit report:\n"
    "  --exit-budget F    calibrate exit thresholds for F x the full forward's FLOPs (0.6)\n"
    "  --exit-depth-cap K no example goes past exit head K (0: no cap)\n"
    "  --exit-report PATH write the calibration and the accuracy-vs-compute curve as JSON\n";
}

std::string clock(double s) {
  char b[32];
  int t = int(s + 0.5);
  std::snprintf(b, sizeof b, "%d:%02d", t / 60, t % 60);
  return b;
}

}  // namespace

int doctor(const std::vector<std::string>&) {
  engine::RuntimeInfo r = engine::configure_runtime(0);
  engine::TorchBuild b = engine::torch_build();
  std::printf("LibTorch %s (%s), %d thread(s) on %d core(s)\n%s\nBLAS: %s\nallocator: %s\n", r.torch_version.c_str(),
              b.built_with_cuda ? ("CUDA " + b.cuda + (b.cudnn.empty() ? "" : ", cuDNN " + b.cudnn)).c_str() : "CPU only",
              r.threads, r.cores, r.parallel.c_str(), r.blas.c_str(), r.allocator.c_str());
  // Only a LibTorch that uses the system's libblas.so.3 (Debian's) depends on which BLAS it is;
  // a PyTorch wheel's LibTorch brings its own and never loads it.
  if (r.blas_is_system && r.blas.find("openblas") == std::string::npos)
    std::printf("warning: libblas.so.3 is not OpenBLAS; matrix products may run ~50x slower (install libopenblas0-openmp)\n");
  std::printf("devices: cpu");
  for (size_t i = 0; i < b.gpus.size(); ++i) std::printf(", cuda:%zu (%s)", i, b.gpus[i].c_str());
  std::printf("\n");
  auto cuda = engine::cuda_availability();
  if (!cuda.available) std::printf("CUDA: not available: %s\n", cuda.reason.c_str());
  auto chosen = engine::join_from_environment("auto", engine::Backend::automatic, 0, -1);  // where a run started here would be placed
  std::printf("--device auto picks: %s\n", chosen ? chosen->device.str().c_str() : chosen.error().message.c_str());
  std::printf("data parallel (--nproc, torchrun): %s\n", engine::available_backends().c_str());
  return 0;
}

// A run's progress on stderr as events arrive, from this process's engine or from another's over
// the protocol: a bar with ETA on a terminal, one line per epoch, the engine's log lines.
void print_progress(events::Bus& bus, const std::string& file) {
  const bool tty = isatty(STDERR_FILENO);
  auto start = std::chrono::steady_clock::now();
  bus.subscribe([tty, file, start, last = start](const events::Event& e) mutable {
    if (auto* s = std::get_if<events::TrainStep>(&e)) {
      auto now = std::chrono::steady_clock::now();
      if (!tty || now - last < std::chrono::milliseconds(200)) return;
      last = now;
      double frac = double(s->step) / double(s->total_steps);
      double elapsed = std::chrono::duration<double>(now - start).count();
      int w = 24, fill = int(frac * w);
      std::fprintf(stderr, "\r\033[Kepoch %d/%d [%s%s] %lld/%lld  %.0f ex/s  loss %.4f  acc %.1f%%  ETA %s", s->epoch, s->epochs,
                   std::string(size_t(fill), '=').c_str(), std::string(size_t(w - fill), ' ').c_str(), (long long)s->step,
                   (long long)s->total_steps, s->examples_per_second, s->loss, 100 * s->accuracy,
                   clock(frac > 0 ? elapsed * (1 - frac) / frac : 0).c_str());
    } else if (auto* ep = std::get_if<events::EpochEnd>(&e)) {
      std::fprintf(stderr, "%sepoch %d/%d: train loss %.4f, val loss %.4f, val accuracy %.2f%% (%.1f s)\n", tty ? "\r\033[K" : "",
                   ep->epoch, ep->epochs, ep->train_loss, ep->val_loss, 100 * ep->val_accuracy, ep->seconds);
    } else if (auto* l = std::get_if<events::LogLine>(&e)) {
      std::fprintf(stderr, "%s: %s\n", file.c_str(), l->text.c_str());  // size, load time and data protocol
    }
  });
}

// `circuit train --on HOST`: the same run in an engine on HOST (the studio's Run on), its events
// printed here as a local run prints them and its export written here.
int train_on(const std::string& host, const std::string& remote_circuit, const std::string& file, protocol::Train t, const std::string& export_path) {
  std::mutex mu;
  std::condition_variable cv;
  std::optional<protocol::Hello> hello;
  std::optional<protocol::TrainDone> done;
  std::optional<protocol::Done> exported;
  std::optional<std::string> problem, died;
  std::string bytes;
  events::Bus progress;
  print_progress(progress, file);
  protocol::EngineProcess engine;
  auto started = engine.start(
      protocol::engine_argv(remote_circuit, host),
      [&](protocol::Reply r) {
        std::lock_guard lock(mu);
        if (auto* h = std::get_if<protocol::Hello>(&r.body)) hello = *h;
        else if (auto* e = std::get_if<events::Event>(&r.body)) progress.publish(*e);
        else if (auto* d = std::get_if<protocol::TrainDone>(&r.body)) done = *d;
        else if (auto* f = std::get_if<protocol::File>(&r.body)) bytes += f->bytes;
        else if (auto* x = std::get_if<protocol::Done>(&r.body)) exported = *x;
        else if (auto* p = std::get_if<protocol::Problem>(&r.body)) problem = p->message;
        cv.notify_all();
      },
      [&](const std::string& why) {
        std::lock_guard lock(mu);
        died = why;
        cv.notify_all();
      });
  if (!started) return std::fprintf(stderr, "circuit train --on %s: %s\n", host.c_str(), started.error.c_str()), 1;
  auto gone = [&] {
    std::string tail = engine.stderr_tail();
    while (!tail.empty() && tail.back() == '\n') tail.pop_back();
    return std::fprintf(stderr, "circuit train --on %s: the engine %s%s%s\n", host.c_str(), died->empty() ? "ended" : died->c_str(),
                        tail.empty() ? "" : ":\n", tail.c_str()), 1;
  };
  std::unique_lock lock(mu);
  if (!cv.wait_for(lock, std::chrono::seconds(60), [&] { return hello || died; }))
    return std::fprintf(stderr, "circuit train --on %s: the engine said nothing for 60 s\n", host.c_str()), 1;
  if (!hello) return gone();
  if (std::string problem = protocol::version_problem(*hello, "the engine there"); !problem.empty())
    return std::fprintf(stderr, "circuit train --on %s: %s\n", host.c_str(), problem.c_str()), 1;
  std::fprintf(stderr, "%s: training on %s (circuit %s, LibTorch %s)\n", file.c_str(), host.c_str(), hello->version.c_str(), hello->torch.c_str());
  lock.unlock();
  std::signal(SIGINT, on_sigint);
  int64_t id = engine.send({0, std::move(t)});
  lock.lock();
  for (bool cancelled = false; !cv.wait_for(lock, std::chrono::milliseconds(100), [&] { return done || problem || died; });)
    if (g_cancel && !cancelled) cancelled = true, engine.send({0, protocol::Cancel{id}});
  if (problem) return std::fprintf(stderr, "circuit train --on %s: %s\n", host.c_str(), problem->c_str()), 2;
  if (!done) return gone();
  if (done->status != events::RunStatus::finished) {
    std::fprintf(stderr, "%s: run %s: %s\n", file.c_str(), events::to_string(done->status), done->message.c_str());
    return done->status == events::RunStatus::cancelled ? 130 : 1;
  }
  std::printf("\n%-22s %s\n%-22s %s on %s\n", "circuit", file.c_str(), "device", done->device.c_str(), host.c_str());
  std::printf("%-22s %d epoch(s), %lld steps in %.1f s\n", "training", done->epochs_done, (long long)done->steps, done->seconds);
  std::printf("%-22s %.4f\n", "final train loss", done->train_loss);
  std::printf("%-22s loss %.4f, accuracy %.2f%%\n", "validation", done->val_loss, 100 * done->val_accuracy);
  if (done->tested) std::printf("%-22s loss %.4f, accuracy %.2f%%\n", "test", done->test_loss, 100 * done->test_accuracy);
  if (!export_path.empty()) {
    lock.unlock();
    engine.send({0, protocol::Export{std::filesystem::path(export_path).filename().string()}});
    lock.lock();
    cv.wait(lock, [&] { return exported || problem || died; });
    if (problem) return std::fprintf(stderr, "circuit train --on %s: %s\n", host.c_str(), problem->c_str()), 1;
    if (!exported) return gone();
    if (!exported->error.empty()) return std::fprintf(stderr, "%s\n", exported->error.c_str()), 1;
    if (auto s = base::write_file_atomic(export_path, bytes); !s) return std::fprintf(stderr, "%s\n", s.error.c_str()), 1;
    std::printf("%-22s %s (made on %s)\n", "exported", export_path.c_str(), host.c_str());
  }
  lock.unlock();
  engine.stop(5000);
  return 0;
}

int train(const std::vector<std::string>& args) {
  std::string file, export_path, telemetry_path;
  engine::DataOptions data;
  data.name.clear();
  engine::TrainOptions o;
  std::string device = "auto";
  int threads = 0;
  ExitReportOptions exits;
  Args table("circuit train", train_usage());
  add_train_options(table, o);
  table.positional(file).text("--data", data.name)
      .number("--seed", o.seed, data.seed)  // one seed: weights, data order and synthetic data
      .number("--limit", data.train_limit).number("--threads", threads).text("--text", data.text_path)
      .text("--checkpoint", o.checkpoint).text("--resume", o.resume).text("--export", export_path)
      .number("--memory-budget", o.memory_budget).text("--telemetry", telemetry_path).number("--exit-budget", exits.budget)
      .number("--exit-depth-cap", exits.depth_cap).text("--exit-report", exits.json_path);
  add_device_option(table, device);
  DistOptions dist;
  add_dist_options(table, dist);
  std::string on, on_circuit = "circuit";
  table.text("--on", on).text("--on-circuit", on_circuit);
  if (auto rc = table.parse(args)) return *rc;
  if (file.empty() || data.name.empty()) {
    std::fputs(train_usage().c_str(), stderr);
    return 2;
  }
  if (!on.empty()) {
    if (dist.nproc > 1) return std::fprintf(stderr, "circuit train: --on runs one process there; use ssh HOST circuit train --nproc N\n"), 2;
    protocol::Train t;
    auto text = base::read_file(file);
    if (!text) return std::fprintf(stderr, "%s\n", text.error().message.c_str()), 2;
    t.circuit = *text;
    t.data = data;
    t.train = o;
    t.device = device;
    t.threads = threads;
    return train_on(on, on_circuit, file, std::move(t), export_path);
  }
  if (dist.nproc > 1) {
    if (std::getenv("WORLD_SIZE"))
      return std::fprintf(stderr, "circuit train: --nproc %d under a launcher that set WORLD_SIZE: use one or the other\n", dist.nproc), 2;
    std::vector<std::string> rank_args{"train"};
    for (auto& a : without_nproc(args)) rank_args.push_back(a);
    return launch_ranks(dist.nproc, rank_args, 10);
  }
  // One rank of a data-parallel run (from --nproc or torchrun), or a plain run.
  auto setup = engine::join_from_environment(device, dist.backend, dist.timeout_s, threads);
  if (!setup) return std::fprintf(stderr, "circuit train: %s\n", setup.error().message.c_str()), 1;
  o.device = setup->device;
  o.group = setup->group;
  threads = setup->threads;
  const int rank = setup->config.rank;
  if (rank != 0) telemetry_path.clear();  // rank 0 reports for the run

  std::unique_ptr<script::Host> lua;  // runs the Lua routers a circuit may name
  try {
    lua = script::host_with_plugin_routers();
  } catch (const std::exception& e) {
    return std::fprintf(stderr, "circuit train: %s\n", e.what()), 2;
  }
  auto c = circuit::load_circuit(file);
  if (!c) return std::fprintf(stderr, "%s\n", c.error().message.c_str()), 2;

  events::Bus bus;
  print_progress(bus, file);
  // Expert load: summed per MoE layer over each epoch for the summary, every event to the file.
  struct EpochLoad {
    std::vector<int64_t> after;
    int64_t dropped = 0, steps = 0;
    double max_vio = 0, entropy = 0, active = 0;
  };
  std::map<std::string, EpochLoad> epoch_load;
  std::unique_ptr<std::FILE, int (*)(std::FILE*)> telemetry(nullptr, &std::fclose);
  if (!telemetry_path.empty()) {
    telemetry.reset(std::fopen(telemetry_path.c_str(), "w"));
    if (!telemetry) return std::fprintf(stderr, "%s: cannot write: %s\n", telemetry_path.c_str(), std::strerror(errno)), 2;
  }
  bus.subscribe([&](const events::Event& e) {
    if (auto* l = std::get_if<events::ExpertLoad>(&e)) {
      EpochLoad& s = epoch_load[l->layer];
      s.after.resize(l->after.size(), 0);
      for (size_t k = 0; k < l->after.size(); ++k) s.after[k] += l->after[k];
      s.dropped += l->dropped, ++s.steps, s.max_vio += l->max_vio, s.entropy += l->entropy, s.active += l->active_per_token;
      if (telemetry) std::fprintf(telemetry.get(), "%s", base::write_json_line(events::to_json(*l)).c_str());
    } else if (std::holds_alternative<events::EpochEnd>(e)) {
      for (auto& [layer, s] : epoch_load) {
        std::string load;
        for (size_t k = 0; k < s.after.size(); ++k) load += (k ? " " : "") + std::to_string(s.after[k]);
        double n = double(std::max<int64_t>(s.steps, 1));
        std::fprintf(stderr, "  %s: tokens per expert [%s]  dropped %lld  mean per step: MaxVio %.2f, entropy %.2f, experts/token %.2f\n",
                     layer.c_str(), load.c_str(), (long long)s.dropped, s.max_vio / n, s.entropy / n, s.active / n);
      }
      epoch_load.clear();
    }
  });

  engine::ExperimentRequest req;
  req.circuit = *c;
  // A token model fixes the task's sizes: its input's `seq` and its output's vocabulary.
  engine::size_to_circuit(data, *c);
  req.data = data;
  req.train = o;
  req.train.bus = rank == 0 ? &bus : nullptr;
  req.train.cancel = &g_cancel;
  req.threads = threads;
  req.latency = req.peak_memory = true;
  req.exits = false;  // the exit report below calibrates thresholds for a budget instead
  std::signal(SIGINT, on_sigint);
  engine::ExperimentReport rep = engine::run_experiment(std::move(req));
  std::signal(SIGINT, SIG_DFL);
  if (rank != 0) {  // rank 0 prints the run; the others only say why they stopped
    if (rep.status == events::RunStatus::finished || rep.status == events::RunStatus::cancelled)
      return rep.status == events::RunStatus::finished ? 0 : 130;
    bool named = rep.message.find("rank " + std::to_string(rank)) != std::string::npos;
    return std::fprintf(stderr, "%s: %s%s\n", file.c_str(), named ? "" : ("rank " + std::to_string(rank) + ": ").c_str(), rep.message.c_str()), 1;
  }
  if (isatty(STDERR_FILENO)) std::fputs("\r\033[K", stderr);
  using engine::Stage;
  switch (rep.status == events::RunStatus::error ? rep.stage : Stage::done) {
    case Stage::circuit:
      for (auto& x : rep.analysis.diagnostics(c->graph))
        std::fprintf(stderr, "%s: error: %s\n", file.c_str(), x.message.c_str());
      return 1;
    case Stage::data:
      return std::fprintf(stderr, "%s\n", rep.message.c_str()), 2;
    case Stage::done:
      break;
    default:
      return std::fprintf(stderr, "%s: %s\n", file.c_str(), rep.message.c_str()), 1;
  }
  if (!rep.finished()) {
    std::fprintf(stderr, "%s: run %s: %s\n", file.c_str(), events::to_string(rep.status), rep.message.c_str());
    return rep.status == events::RunStatus::cancelled ? 130 : 1;
  }
  const engine::TrainResult& r = rep.train;
  engine::Model& model = *rep.model;
  const engine::Dataset& ds = *rep.data;
  const engine::EvalResult& test = *rep.test;
  const engine::Latency& lat = *rep.latency;
  int64_t peak = *rep.peak_memory;
  const circuit::GraphAnalysis& a = rep.analysis;
  std::printf("\n%-22s %s\n", "circuit", file.c_str());
  std::printf("%-22s %s, %s%s\n", "device", rep.device.c_str(), engine::to_string(o.precision), o.tf32 ? ", TF32" : "");
  if (o.group)
    std::printf("%-22s %d ranks (%s), batch %lld per rank, global batch %lld; gradient all-reduce %.3f ms per step on rank 0\n",
                "data parallel", o.group->size(), engine::to_string(o.group->backend()), (long long)o.batch, (long long)(o.batch * o.group->size()),
                1000 * rep.train.allreduce_seconds / double(std::max<int64_t>(rep.train.steps, 1)));
  std::printf("%-22s %d epoch(s), %lld steps in %.1f s (%.1f steps/s; the steps alone, without evaluation, %.1f/s)\n", "training",
              r.epochs_done, (long long)r.steps, r.seconds, double(r.steps) / std::max(r.seconds, 1e-9),
              double(r.steps) / std::max(r.step_seconds, 1e-9));
  std::printf("%-22s %.4f\n", "final train loss", r.train_loss);
  std::printf("%-22s loss %.4f, accuracy %.2f%%\n", "validation", r.val.loss, 100 * r.val.accuracy);
  std::printf("%-22s loss %.4f, accuracy %.2f%% (%lld examples)\n", "test", test.loss, 100 * test.accuracy, (long long)test.examples);
  if (!test.per_class.empty()) {
    std::printf("%-22s", "test accuracy by class");
    for (size_t k = 0; k < test.per_class.size(); ++k)
      std::printf("%s%s %.1f%%", k ? ", " : " ", k < ds.class_names.size() ? ds.class_names[k].c_str() : std::to_string(k).c_str(),
                  100 * test.per_class[k]);
    std::printf("\n");
  }
  std::printf("%-22s %.3f ms at batch 1, %.3f ms at batch %lld (median of %d)\n", "latency", lat.batch1_ms, lat.batch_ms,
              (long long)lat.batch, lat.runs);
  std::printf("%-22s %.1f MiB of tensors in one forward + backward step at batch %lld (IR estimate %.1f MiB)\n", "peak memory",
              double(peak) / (1 << 20), (long long)o.batch, double(a.total.activation_bytes) * double(o.batch) * 2 / (1 << 20));
  if (model.circuit().graph.outputs.size() > 1 && !ds.token_targets)
    if (int rc = print_exit_report(model, ds, exits); rc) return rc;
  if (!export_path.empty()) {
    auto s = engine::export_model(model, export_path);
    if (!s) return std::fprintf(stderr, "%s\n", s.error.c_str()), 1;
    std::printf("%-22s %s\n", "exported", export_path.c_str());
  }
  return 0;
}

}  // namespace cli
