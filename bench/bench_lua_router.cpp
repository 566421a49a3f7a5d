// A MoE training step with the Lua top-k router (plugins/topk_lua.lua) against the built-in
// top-k router, same circuit, data, seed and threads, interleaved repeats. Prints the Lua
// overhead as a share of the step, and what expert-load telemetry every step (the default of
// `circuit train` and the studio) adds to the built-in step. Then the price of counting native
// memory (Host::hold_native / drop_native, issue 29): the pair timed alone, times the tensors a
// Lua-router step and a tensor-heavy Lua loop make, as a share of their time.
//
//   build/bench/bench_lua_router [--threads N] [--repeats R] [--batch B] [--circuit FILE]
#include <torch/torch.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "circuit/circuit_file.h"
#include "engine/data.h"
#include "engine/model.h"
#include "events/events.h"
#include "script/engine_extension.h"
#include "script/host.h"

namespace {

using Clock = std::chrono::steady_clock;

struct Trainer {
  std::unique_ptr<engine::Model> model;
  std::unique_ptr<torch::optim::AdamW> opt;
  torch::Tensor x, y;
  int64_t batch = 64, at = 0;
  bool telemetry = false;
  void step() {
    int64_t n = x.size(0), s = (at++ * batch) % (n - batch);
    std::vector<torch::Tensor> aux;
    std::vector<events::ExpertLoad> load;
    opt->zero_grad();
    torch::Tensor out = model->forward({x.narrow(0, s, batch)}, &aux, telemetry ? &load : nullptr, at)[0];
    torch::Tensor loss = torch::nn::functional::cross_entropy(out, y.narrow(0, s, batch));
    for (auto& a : aux) loss = loss + a;
    loss.backward();
    opt->step();
  }
  double ms_per_step(int steps) {
    auto t = Clock::now();
    for (int i = 0; i < steps; ++i) step();
    return std::chrono::duration<double, std::milli>(Clock::now() - t).count() / steps;
  }
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  int threads = 0, repeats = 21;
  int64_t batch = 64;
  std::string file = std::string(CIRCUIT_SOURCE_DIR) + "/resources/examples/moe_mlp.circuit.json";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--threads") threads = std::atoi(argv[i + 1]);
    else if (a == "--repeats") repeats = std::max(1, std::atoi(argv[i + 1]));
    else if (a == "--batch") batch = std::atoll(argv[i + 1]);
    else if (a == "--circuit") file = argv[i + 1];
    else return std::fprintf(stderr, "usage: bench_lua_router [--threads N] [--repeats R] [--batch B] [--circuit FILE]\n"), 2;
  }
  engine::RuntimeInfo rt = engine::configure_runtime(threads);
  script::install_engine_extension();
  script::Host host;
  host.load_plugins({std::string(CIRCUIT_SOURCE_DIR) + "/plugins"});
  script::register_lua_routers(host);

  engine::DataOptions d;
  d.train_limit = 6400;
  d.test_limit = 10;
  auto data = engine::load_dataset(d);
  if (!data) return std::fprintf(stderr, "%s\n", data.error().message.c_str()), 1;
  auto circ = circuit::load_circuit(file);
  if (!circ) return std::fprintf(stderr, "%s\n", circ.error().message.c_str()), 1;

  std::vector<Trainer> sides(3);
  const char* routers[3] = {"topk", "topk_lua", "topk"};  // the third records telemetry every step
  for (int k = 0; k < 3; ++k) {
    circuit::Circuit c = *circ;
    bool found = false;
    for (auto& n : c.graph.nodes)
      if (n.op == "moe") n.attrs["router"] = std::string(routers[k]), found = true;
    if (!found) return std::fprintf(stderr, "%s has no moe node\n", file.c_str()), 1;
    auto m = engine::Model::compile(c, 1);
    if (!m) return std::fprintf(stderr, "%s\n", m.error().message.c_str()), 1;
    Trainer& t = sides[size_t(k)];
    t.model = std::move(*m);
    t.model->set_training(true);
    t.opt = std::make_unique<torch::optim::AdamW>(t.model->module().parameters(), torch::optim::AdamWOptions(1e-3));
    t.x = torch::from_blob(data->train.x.f32.data(), data->train.x.shape, torch::kFloat).clone();
    t.y = torch::from_blob(data->train.y.i64.data(), {data->train.y.rows()}, torch::kLong).clone();
    t.batch = batch;
    t.telemetry = k == 2;
    for (int i = 0; i < 5; ++i) t.step();
  }
  double probe = sides[0].ms_per_step(5);
  int steps = std::max(5, int(250.0 / std::max(probe, 1e-3)));
  // The VM's speed drifts by more than the effect measured; the two sides of one repeat run back to
  // back, so the median of their ratios is steadier than the ratio of the medians.
  std::vector<double> ms[3], ratio, telemetry_ratio;
  for (int r = 0; r < repeats; ++r) {
    for (int i = 0; i < 3; ++i) {
      int k = (r + i) % 3;  // rotate the order
      ms[k].push_back(sides[size_t(k)].ms_per_step(steps));
    }
    ratio.push_back(ms[1].back() / ms[0].back());
    telemetry_ratio.push_back(ms[2].back() / ms[0].back());
  }
  double cpp = median(ms[0]), lua = median(ms[1]);
  std::printf("MoE training step (%s, batch %lld, %d threads, %d repeats of %d steps, interleaved)\n", circ->name.c_str(),
              (long long)batch, rt.threads, repeats, steps);
  std::printf("built-in topk: %.3f ms/step   Lua topk_lua: %.3f ms/step   Lua overhead: %+.1f %% of the step (target < 5 %%)\n", cpp,
              lua, 100 * (median(ratio) - 1));
  std::printf("expert-load telemetry every step: %.3f ms/step, %+.1f %% of the built-in step\n", median(ms[2]),
              100 * (median(telemetry_ratio) - 1));

  // Native-memory accounting: the lookup, hold and drop of a fresh key, timed alone (the median of repeats).
  std::vector<double> pair_ns;
  std::vector<int64_t> keys(100000);
  for (int r = 0; r < 7; ++r) {
    auto t = Clock::now();
    for (auto& k : keys)
      if (!host.holds_native(&k)) host.hold_native(&k, 256);  // as push_tensor does
    for (auto& k : keys) host.drop_native(&k);
    pair_ns.push_back(std::chrono::duration<double, std::nano>(Clock::now() - t).count() / double(keys.size()));
  }
  double per_tensor = median(pair_ns);
  int64_t holds = host.native_holds();
  sides[1].ms_per_step(steps);
  double per_step = double(host.native_holds() - holds) / steps;
  std::printf("native-memory accounting: %.0f ns per tensor (lookup, hold, drop); the Lua router makes %.1f tensors a step: %.3f %% of its step\n",
              per_tensor, per_step, 100 * per_step * per_tensor * 1e-6 / lua);
  // A tensor-heavy Lua loop: small tensor arithmetic, every result a new tensor.
  const char* loop = "local t = require('circuit').tensor; local a, b = t.randn{64}, t.randn{64}; "
                     "for i = 1, 20000 do local c = (a + b) * a - b end";
  std::vector<double> loop_ms;
  holds = host.native_holds();
  for (int r = 0; r < 7; ++r) {
    auto t = Clock::now();
    if (auto st = host.run_string(loop, "=loop"); !st) return std::fprintf(stderr, "%s\n", st.error.c_str()), 1;
    loop_ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t).count());
  }
  double per_run = double(host.native_holds() - holds) / 7;
  std::printf("tensor-heavy Lua loop (60,000 ops on [64]): %.1f ms, %.0f tensors: accounting %.2f %% of it (target < 2 %%)\n",
              median(loop_ms), per_run, 100 * per_run * per_tensor * 1e-6 / median(loop_ms));
  return 0;
}
