// The one experiment pipeline (experiment.h). No LibTorch include: it strings together the
// engine's torch-free entry points, so it compiles in seconds.
#include "engine/experiment.h"
#include "base/ram.h"
#include "engine/memory.h"
#include "engine/distributed.h"

#include <chrono>
#include <cstdio>
#include <exception>

namespace engine {

ExperimentReport run_experiment(ExperimentRequest r, std::shared_ptr<const Dataset> data) {
  base::return_free_memory();  // what earlier runs freed: one run after another keeps the footprint
  using events::RunStatus;
  ExperimentReport out;
  auto refuse = [&](Stage stage, std::string message) -> ExperimentReport&& {
    out.status = RunStatus::error, out.stage = stage, out.message = std::move(message);
    return std::move(out);
  };
  out.analysis = circuit::analyze(r.circuit);
  if (auto d = out.analysis.diagnostics(r.circuit.graph); !d.empty()) return refuse(Stage::circuit, d.front().message);
  // Before any weight exists: a model that cannot fit is refused, not crashed into.
  if (auto s = check_memory(out.analysis, r.train.batch, r.train.optimizer, r.train.memory_budget); !s)
    return refuse(Stage::memory, s.error);
  if (r.threads >= 0) configure_runtime(r.threads);
  // Resolved by the caller where its rank was placed; checked here, before the data is read.
  if (auto s = check_device(r.train.device); !s) return refuse(Stage::device, s.error);
  out.device = describe_device(r.train.device);

  auto t0 = std::chrono::steady_clock::now();
  if (!data) {
    auto loaded = load_dataset(r.data);
    if (!loaded) return refuse(Stage::data, loaded.error().message);
    data = std::make_shared<const Dataset>(std::move(*loaded));
  }
  out.data = data;
  auto m = Model::compile(r.circuit, r.train.seed, r.train.memory_budget);
  if (!m) return refuse(Stage::compile, m.error().message);
  out.model = std::move(*m);
  if (auto s = check_fit(*out.model, *data); !s) return refuse(Stage::fit, s.error);
  out.load_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const events::Bus* caller = r.train.bus;
  if (caller) {
    char loaded[256];
    std::snprintf(loaded, sizeof loaded, "%lld params, data loaded and model compiled in %.1f s; training on %s, %s%s",
                  (long long)out.model->parameter_count(), out.load_seconds, out.device.c_str(), to_string(r.train.precision),
                  r.train.tf32 ? ", TF32" : "");
    std::string line = loaded;
    if (const ProcessGroup* g = r.train.group.get())
      line += "; data parallel over " + std::to_string(g->size()) + " ranks (" + to_string(g->backend()) + "), global batch " +
              std::to_string(r.train.batch * g->size());
    caller->publish(events::LogLine{events::LogLine::Level::info, line});
    caller->publish(events::LogLine{events::LogLine::Level::info, data->protocol});
  }

  // The caller's bus sees every event; the pipeline also keeps the expert-load summary.
  events::Bus bus;
  bus.subscribe([&](const events::Event& e) {
    if (auto* l = std::get_if<events::ExpertLoad>(&e)) out.mean_max_vio += l->max_vio, ++out.expert_load_events;
    if (caller) caller->publish(e);
  });
  r.train.bus = &bus;
  auto trained = engine::train(*out.model, *data, r.train);
  r.train.bus = caller;
  if (!trained) return refuse(Stage::train, trained.error().message);
  out.train = *trained;
  out.status = trained->status, out.message = trained->message, out.stage = Stage::train;
  if (out.expert_load_events) out.mean_max_vio /= double(out.expert_load_events);
  if (!out.finished()) return out;
  out.stage = Stage::done;

  Model& model = *out.model;
  if (r.test) {
    try {
      out.test = evaluate(model, *data, data->test, r.train.eval_batch, r.train.group.get());
    } catch (const std::exception& e) {  // a data-parallel run's collective failed: it names the rank
      return refuse(Stage::train, e.what());
    }
  }
  // Measurements of the model alone: rank 0's job in a data-parallel run (they need no other rank).
  if (r.train.group && r.train.group->rank() != 0) return out;
  if (r.peak_memory) out.peak_memory = measure_peak_memory(model, *data, r.train.batch);
  if (r.latency) out.latency = measure_latency(model, *data, r.train.batch, r.latency_runs);
  if (r.exits && r.circuit.graph.outputs.size() >= 2 && !data->token_targets) {
    if (auto p = profile_exits(model, *data, data->val)) {
      ExitPolicy policy;
      policy.thresholds = {r.exit_threshold};
      if (auto o = simulate_exits(*p, policy)) out.exits = *o;
    }
  }
  return out;
}

}  // namespace engine
