// Events are not the bottleneck: the same fast MoE training (expert-load telemetry on every step)
// run by `circuit train` alone, writing its telemetry to a file, and by `circuit serve --stdio`
// for a front end that reads every step and expert-load event from the pipe, as the studio does.
// Prints each run's steps per second (the engine's own clock over the training) and the ratio.
//
//     build/bench/bench_serve [runs=3] [limit=16384] [batch=16]
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "protocol/engine_process.h"

namespace {

const std::string kCircuit = CIRCUIT_SOURCE_DIR "/resources/examples/moe_mlp.circuit.json";

// `circuit train` alone: steps / training seconds from its summary line.
double alone(int64_t limit, int64_t batch) {
  std::string cmd = std::string(CIRCUIT_CLI) + " train " + kCircuit + " --data fashion-mnist --epochs 1 --threads 2 --limit " + std::to_string(limit) +
                    " --batch " + std::to_string(batch) + " --telemetry /tmp/bench_serve_telemetry.jsonl 2>/dev/null";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
  ::pclose(p);
  size_t at = out.find(" s (");  // "1 epoch(s), 256 steps in 3.2 s (80.1 steps/s; ..."
  if (out.find(" steps in ") == std::string::npos || at == std::string::npos)
    return std::fprintf(stderr, "circuit train said:\n%s\n", out.c_str()), 0;
  return std::atof(out.c_str() + at + 4);
}

// The same through the protocol, every event parsed on this side.
double served(int64_t limit, int64_t batch, int64_t* events_read) {
  protocol::EngineProcess engine;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<protocol::TrainDone> done;
  int64_t events = 0;
  auto s = engine.start(protocol::engine_argv(CIRCUIT_CLI, "", {"--threads", "2"}),
                        [&](protocol::Reply r) {
                          std::lock_guard lock(mu);
                          if (std::holds_alternative<events::Event>(r.body)) ++events;
                          if (auto* d = std::get_if<protocol::TrainDone>(&r.body)) done = *d, cv.notify_all();
                        },
                        [&](const std::string&) { cv.notify_all(); });
  if (!s) return std::fprintf(stderr, "%s\n", s.error.c_str()), 0;
  std::ifstream f(kCircuit);
  std::stringstream text;
  text << f.rdbuf();
  protocol::Train t;
  t.circuit = text.str();
  t.data.name = "fashion-mnist";
  t.data.train_limit = limit;
  t.train.epochs = 1;
  t.train.batch = batch;
  engine.send({0, t});
  std::unique_lock lock(mu);
  cv.wait(lock, [&] { return done.has_value() || !engine.running(); });
  lock.unlock();
  engine.stop(5000);
  *events_read = events;
  if (!done || done->status != events::RunStatus::finished) return std::fprintf(stderr, "the served run did not finish\n"), 0;
  return double(done->steps) / done->seconds;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int runs = argc > 1 ? std::atoi(argv[1]) : 3;
  int64_t limit = argc > 2 ? std::atoll(argv[2]) : 16384, batch = argc > 3 ? std::atoll(argv[3]) : 16;
  std::printf("moe_mlp (8 experts, telemetry every step), fashion-mnist, %lld examples, batch %lld, 2 threads, %d runs each (alternating)\n",
              (long long)limit, (long long)batch, runs);
  std::vector<double> a, b;
  int64_t events = 0;
  for (int i = 0; i < runs; ++i) {
    a.push_back(alone(limit, batch));
    b.push_back(served(limit, batch, &events));
    std::printf("  run %d: circuit train %.1f steps/s, circuit serve + client %.1f steps/s (%lld events read)\n", i + 1, a.back(), b.back(), (long long)events);
  }
  double ma = median(a), mb = median(b);
  std::printf("median: circuit train alone %.1f steps/s, through the protocol %.1f steps/s: ratio %.3f\n", ma, mb, mb / std::max(ma, 1e-9));
  return 0;
}
