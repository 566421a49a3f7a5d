#include "training_job.h"

#include <QFile>
#include <QSaveFile>
#include <filesystem>

#include "circuit/circuit_file.h"
#include "engine_client.h"

namespace studio {

TrainingJob::TrainingJob(EngineClient* engine, QObject* parent) : QObject(parent), engine_(engine) {
  connect(engine_, &EngineClient::replies, this, &TrainingJob::on_replies);
  connect(engine_, &EngineClient::died, this, [this](const QString& why, const QString& tail) {
    has_model_ = false;  // it died with the engine
    if (!running()) return;
    TrainOutcome out;
    out.status = events::RunStatus::error;
    out.message = ("the engine (" + engine_->where() + ") " + why + (tail.isEmpty() ? "" : "; its last words:\n" + tail)).toStdString();
    end(out);
  });
}

TrainingJob::~TrainingJob() { cancel(); }

bool TrainingJob::start(TrainRequest r, QString* error) {
  if (running()) return false;
  protocol::Train t;
  t.circuit = circuit::circuit_to_text(r.circuit);
  t.data = r.data;
  t.train = r.train;
  t.device = r.device;
  t.threads = r.threads;
  id_ = engine_->send(std::move(t), error);
  if (!id_) return false;
  emit started(QString::fromStdString(r.data.name));
  return true;
}

void TrainingJob::cancel() {
  if (running()) engine_->cancel(id_);
}

void TrainingJob::on_replies(const std::vector<protocol::Reply>& batch) {
  if (!running()) return;
  std::vector<events::Event> events;
  for (const protocol::Reply& r : batch) {
    if (r.id != id_) continue;
    if (auto* e = std::get_if<events::Event>(&r.body)) {
      events.push_back(*e);
    } else if (auto* d = std::get_if<protocol::TrainDone>(&r.body)) {
      if (!events.empty()) emit events_arrived(std::move(events)), events.clear();
      has_model_ = d->has_model;
      return end(*d);
    } else if (auto* p = std::get_if<protocol::Problem>(&r.body)) {
      if (!events.empty()) emit events_arrived(std::move(events)), events.clear();
      TrainOutcome out;
      out.message = p->message;
      return end(out);
    }
  }
  if (!events.empty()) emit events_arrived(std::move(events));
}

void TrainingJob::end(TrainOutcome out) {
  id_ = 0;
  emit finished(out);
}

base::Status TrainingJob::export_model(const std::string& path) {
  if (!has_model_) return base::Status::fail("Train the circuit first (Run ▸ Train, Ctrl+R); the trained weights are exported.");
  std::vector<protocol::Reply> files;
  std::string name = std::filesystem::path(path).filename().string();
  auto done = engine_->call(protocol::Export{name}, 300'000, &files);
  if (!done) return base::Status::fail(done.error().message);
  if (!done->error.empty()) return base::Status::fail(done->error);
  // Written whole or not at all: the chunks go to a temporary file renamed at the end.
  QSaveFile f(QString::fromStdString(path));
  if (!f.open(QIODevice::WriteOnly)) return base::Status::fail(path + ": cannot write: " + f.errorString().toStdString());
  int64_t at = 0;
  for (const protocol::Reply& r : files)
    if (auto* file = std::get_if<protocol::File>(&r.body)) {
      if (file->offset != at) return base::Status::fail(path + ": the engine's file arrived out of order");
      f.write(file->bytes.data(), qint64(file->bytes.size()));
      at += int64_t(file->bytes.size());
    }
  if (!f.commit()) return base::Status::fail(path + ": cannot write: " + f.errorString().toStdString());
  return {};
}

}  // namespace studio
