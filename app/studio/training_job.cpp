#include "training_job.h"

#include <QMetaObject>

#include "circuit/analysis.h"
#include "engine/model.h"
#include "script/engine_extension.h"

namespace studio {

namespace {

// Everything the worker does, in the order that fails fastest: a circuit with problems or a
// model too big for memory is refused before the data set is read or a weight allocated.
TrainOutcome run(TrainRequest& r, TrainedModel& trained) {
  TrainOutcome out;
  auto fail = [&](std::string msg) {
    out.status = "error", out.message = std::move(msg);
    return out;
  };
  // Lua routers are registered per thread and run in this Host: it lives as long as the model.
  std::unique_ptr<script::Host>& lua = trained.lua;
  try {
    lua = script::host_with_plugin_routers();
  } catch (const std::exception& e) {
    return fail(e.what());
  }
  auto a = circuit::analyze(r.circuit);
  if (auto d = a.diagnostics(r.circuit.graph); !d.empty()) return fail("the circuit has problems: " + d.front().message);
  if (auto s = engine::check_memory(a, r.train.batch, r.train.optimizer, r.train.memory_budget); !s) return fail(s.error);
  auto ds = engine::load_dataset(r.data);
  if (!ds) return fail(ds.error().message);
  auto m = engine::Model::compile(r.circuit, r.train.seed);
  if (!m) return fail(m.error().message);
  if (auto s = engine::check_fit(**m, *ds); !s) return fail(s.error);
  if (r.train.bus) r.train.bus->publish(events::LogLine{events::LogLine::Level::info, ds->protocol});
  auto res = engine::train(**m, *ds, r.train);
  if (!res) return fail(res.error().message);
  out.status = res->status, out.message = res->message, out.result = *res;
  if (res->status == "finished") {
    out.test = engine::evaluate(**m, *ds, ds->test, r.train.eval_batch);
    // Early-exit networks: where examples leave at the default confidence policy.
    if ((*m)->circuit().graph.outputs.size() >= 2 && !ds->token_targets) {
      if (auto p = engine::profile_exits(**m, *ds, ds->val)) {
        engine::ExitPolicy policy;
        policy.thresholds = {0.9};
        if (auto o = engine::simulate_exits(*p, policy)) {
          out.exit_histogram = o->histogram;
          out.exit_accuracy = o->accuracy, out.exit_cost = o->avg_cost;
        }
      }
    }
  }
  trained.model = std::move(*m);
  return out;
}

}  // namespace

TrainedModel::~TrainedModel() { model.reset(); }

TrainingJob::TrainingJob(QObject* parent) : QObject(parent) {
  drain_timer_.setInterval(100);  // ten refreshes a second: live, and cheap for the GUI
  connect(&drain_timer_, &QTimer::timeout, this, &TrainingJob::drain);
}

TrainingJob::~TrainingJob() {
  cancel_ = true;
  if (worker_.joinable()) worker_.join();
}

bool TrainingJob::start(TrainRequest request) {
  if (running_) return false;
  if (worker_.joinable()) worker_.join();
  running_ = true;
  cancel_ = false;
  {
    std::lock_guard lock(mu_);
    pending_.clear();
  }
  drain_timer_.start();
  emit started(QString::fromStdString(request.data.name));
  worker_ = std::thread([this, r = std::move(request)]() mutable {
    events::Bus bus;
    bus.subscribe([this](const events::Event& e) {
      std::lock_guard lock(mu_);
      pending_.push_back(e);
    });
    r.train.bus = &bus;
    r.train.cancel = &cancel_;
    auto trained = std::make_shared<TrainedModel>();
    TrainOutcome out;
    try {
      out = run(r, *trained);
    } catch (const std::exception& e) {  // nothing the engine throws may take the studio down
      out.status = "error", out.message = e.what();
    }
    QMetaObject::invokeMethod(this, [this, out, trained] {
      drain();
      drain_timer_.stop();
      running_ = false;
      if (trained->model) trained_ = trained;
      emit finished(out);
    }, Qt::QueuedConnection);
  });
  return true;
}

void TrainingJob::cancel() { cancel_ = true; }

void TrainingJob::drain() {
  std::vector<events::Event> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
  }
  if (!batch.empty()) emit events_arrived(batch);
}

}  // namespace studio
