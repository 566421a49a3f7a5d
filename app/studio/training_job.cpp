#include "training_job.h"

#include <QMetaObject>

#include "base/ram.h"
#include "engine/distributed.h"
#include "engine/experiment.h"
#include "engine/model.h"
#include "script/engine_extension.h"

namespace studio {

namespace {

// The worker's run: the engine's one pipeline (a circuit with problems or a model too big for
// memory is refused before the data set is read or a weight allocated).
TrainOutcome run(TrainRequest& r, TrainedModel& trained) {
  TrainOutcome out;
  // Lua routers are registered per thread and run in this Host: it lives as long as the model.
  try {
    trained.lua = script::host_with_plugin_routers();
  } catch (const std::exception& e) {
    out.status = events::RunStatus::error, out.message = e.what();
    return out;
  }
  // The studio is a run of one rank: placed as any other front end places its rank.
  auto placed = engine::join_from_environment(r.device, engine::Backend::automatic, 0, -1);
  if (!placed) {
    out.status = events::RunStatus::error, out.message = placed.error().message;
    return out;
  }
  r.train.device = placed->device;
  engine::ExperimentRequest req;
  req.circuit = std::move(r.circuit);
  req.data = r.data;
  req.train = r.train;
  req.threads = r.threads > 0 ? r.threads : -1;  // 0: keep what main() configured
  engine::ExperimentReport rep = engine::run_experiment(std::move(req));
  out.status = rep.status, out.message = rep.message, out.result = rep.train;
  if (rep.status == events::RunStatus::error && rep.stage == engine::Stage::circuit) out.message = "the circuit has problems: " + rep.message;
  if (rep.test) out.test = *rep.test;
  if (rep.exits) {
    out.exit_histogram = rep.exits->histogram;
    out.exit_accuracy = rep.exits->accuracy, out.exit_cost = rep.exits->avg_cost;
  }
  trained.model = std::move(rep.model);
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
      out.status = events::RunStatus::error, out.message = e.what();
    }
    QMetaObject::invokeMethod(this, [this, out, trained] {
      drain();
      drain_timer_.stop();
      running_ = false;
      if (trained->model) trained_ = trained;
      // What the run and the model it replaced freed goes back to the system once the worker has
      // let go of everything: between runs the window holds what it keeps, not the last run's peak
      // (trimmed at the start of the next run only, 20 trainings swung between +15 % and +30 %).
      if (worker_.joinable()) worker_.join();
      base::return_free_memory();
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
