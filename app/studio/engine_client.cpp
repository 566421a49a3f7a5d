#include "engine_client.h"

#include <QCoreApplication>
#include <QElapsedTimer>
#include <QEventLoop>
#include <QSettings>
#include <QThread>

namespace studio {

EngineClient::EngineClient(QObject* parent) : QObject(parent) {
  lua_memory_mib_ = QSettings().value("lua/memory_mib", 0).toLongLong();
  drain_timer_.setInterval(100);
  connect(&drain_timer_, &QTimer::timeout, this, &EngineClient::drain);
  drain_timer_.start();
}

EngineClient::~EngineClient() {
  if (process_) {
    process_->stop(1000);
    process_.reset();
  }
}

bool EngineClient::ensure_started(QString* error, int timeout_ms) {
  if (running() && hello_) return true;
  if (!running()) {
    process_.reset();
    hello_.reset();
    {
      std::lock_guard lock(mu_);
      pending_.clear();
      pending_hello_.reset();
    }
    // The console's scripts' tensors and models count against the setting lua/memory_mib (MiB),
    // by default the engine's budget (docs/lua.md, "Memory").
    std::vector<std::string> extra;
    if (lua_memory_mib_ > 0) extra = {"--lua-memory-mib", std::to_string(lua_memory_mib_)};
    std::string circuit = location_.host.isEmpty() ? protocol::find_circuit(QCoreApplication::applicationFilePath().toStdString())
                                                   : location_.circuit.toStdString();
    auto argv = protocol::engine_argv(circuit, location_.host.toStdString(), extra);
    process_ = std::make_unique<protocol::EngineProcess>();
    int generation = ++generation_;
    auto status = process_->start(
        argv, [this](protocol::Reply r) { on_reply(std::move(r)); },
        [this, generation](const std::string& why) {
          QMetaObject::invokeMethod(this, [this, why, generation] {
            if (generation == generation_) on_exit(why);
          }, Qt::QueuedConnection);
        });
    if (!status) {
      if (error) *error = QString::fromStdString(status.error);
      process_.reset();
      return false;
    }
  }
  // The hello comes within a second here; over ssh, a connection first.
  QElapsedTimer clock;
  clock.start();
  while (clock.elapsed() < timeout_ms) {
    {
      std::lock_guard lock(mu_);
      if (pending_hello_) {
        hello_ = pending_hello_;
        break;
      }
    }
    if (!process_->running()) break;
    QThread::msleep(5);
  }
  QString what = location_.host.isEmpty() ? "The engine" : "The engine on " + location_.host;
  if (!hello_) {
    QString tail = QString::fromStdString(process_->stderr_tail()).trimmed();
    if (error)
      *error = what + (process_->running() ? " said nothing for " + QString::number(timeout_ms / 1000) + " s" : " ended before it said hello") +
               (tail.isEmpty() ? "" : ":\n" + tail);
    process_->kill();
    return false;
  }
  if (std::string problem = protocol::version_problem(*hello_, what.toStdString()); !problem.empty()) {
    if (error) *error = QString::fromStdString(problem);
    process_->stop(500);
    hello_.reset();
    return false;
  }
  emit started();
  return true;
}

int64_t EngineClient::send(protocol::RequestBody body, QString* error) {
  QString e;
  if (!ensure_started(&e)) {
    if (error) *error = e;
    return 0;
  }
  int64_t id = process_->send(protocol::Request{0, std::move(body)});
  if (!id && error) *error = "the engine is gone";
  return id;
}

base::Result<protocol::Done> EngineClient::call(protocol::RequestBody body, int timeout_ms, std::vector<protocol::Reply>* replies_out) {
  QString error;
  int64_t id = send(std::move(body), &error);
  if (!id) return base::Error{error.toStdString()};
  std::optional<base::Result<protocol::Done>> result;
  QEventLoop loop;
  auto c1 = connect(this, &EngineClient::replies, &loop, [&](const std::vector<protocol::Reply>& batch) {
    for (const protocol::Reply& r : batch) {
      if (r.id != id) continue;
      if (auto* d = std::get_if<protocol::Done>(&r.body)) result = *d;
      else if (auto* p = std::get_if<protocol::Problem>(&r.body)) result = base::Error{p->message};
      else if (replies_out) replies_out->push_back(r);
    }
    if (result) loop.quit();
  });
  auto c2 = connect(this, &EngineClient::died, &loop, [&](const QString& why, const QString&) {
    result = base::Error{"the engine " + why.toStdString()};
    loop.quit();
  });
  QTimer::singleShot(timeout_ms, &loop, &QEventLoop::quit);
  drain();
  if (!result) loop.exec();
  disconnect(c1), disconnect(c2);
  if (!result) return base::Error{"the engine did not answer in " + std::to_string(timeout_ms / 1000) + " s"};
  return *result;
}

void EngineClient::cancel(int64_t id) {
  if (running() && id) process_->send(protocol::Request{0, protocol::Cancel{id}});
}

void EngineClient::restart() {
  if (process_) {
    ++generation_;  // its exit is expected: nobody is told
    process_->stop(2000);
    process_.reset();
  }
  hello_.reset();
  lua_memory_mib_ = QSettings().value("lua/memory_mib", 0).toLongLong();
}

void EngineClient::kill() {
  if (process_) process_->kill();
}

void EngineClient::on_reply(protocol::Reply r) {
  bool now = false;
  {
    std::lock_guard lock(mu_);
    if (auto* h = std::get_if<protocol::Hello>(&r.body); h && r.id == 0) {
      pending_hello_ = *h;
      return;
    }
    // Steps and expert load wait for the timer; an answer is handed over at once.
    auto* e = std::get_if<events::Event>(&r.body);
    now = !e || !(std::holds_alternative<events::TrainStep>(*e) || std::holds_alternative<events::ExpertLoad>(*e));
    pending_.push_back(std::move(r));
  }
  if (now) QMetaObject::invokeMethod(this, &EngineClient::drain, Qt::QueuedConnection);
}

void EngineClient::drain() {
  std::vector<protocol::Reply> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(pending_);
  }
  if (!batch.empty()) emit replies(batch);
}

void EngineClient::on_exit(const std::string& why) {
  drain();  // what it said before it died is shown first
  QString tail = process_ ? QString::fromStdString(process_->stderr_tail()).trimmed() : QString();
  hello_.reset();
  if (!why.empty()) emit died(QString::fromStdString(why), tail);
}

}  // namespace studio
