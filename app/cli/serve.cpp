// `circuit serve --stdio`: the engine as a process that front ends drive with JSON lines
// (core/protocol, docs/protocol.md). Jupyter's kernel model: one process per studio window, one
// persistent Lua state whose globals survive between requests, the last trained model kept for
// export. Whatever happens in here (an abort in a kernel, an out-of-memory kill) ends this
// process, never the window that started it.
#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "args.h"
#include "base/file.h"
#include "base/ram.h"
#include "circuit/circuit_file.h"
#include "commands.h"
#include "engine/device.h"
#include "engine/distributed.h"
#include "engine/experiment.h"
#include "engine/export.h"
#include "engine/model.h"
#include "protocol/protocol.h"
#include "script/circuit_module.h"
#include "script/engine_extension.h"
#include "script/host.h"
#include "script/lua_strategy.h"
#include "search/pipeline.h"
#include "search/space.h"

namespace cli {

namespace {

using protocol::Reply;

// Replies go to a descriptor of their own: fd 1 is pointed at stderr, so a stray printf in a
// library or a plugin can never corrupt the stream. Steps and expert load are written in batches
// every 50 ms (a front end redraws at 10 Hz): one write per event woke the reader on every step,
// and on 2 cores each wake-up preempted a LibTorch worker in the middle of a parallel region
// (bench_serve: 92 % of `circuit train`'s steps/s with a write per event). Every other reply is
// written at once, after what was batched before it, so the order holds.
class Out {
 public:
  Out() {
    fd_ = ::dup(STDOUT_FILENO);
    ::fcntl(fd_, F_SETFD, FD_CLOEXEC);
    ::dup2(STDERR_FILENO, STDOUT_FILENO);
    flusher_ = std::thread([this] {
      std::unique_lock lock(mu_);
      while (!stop_) {
        cv_.wait_for(lock, std::chrono::milliseconds(50));
        flush_locked();
      }
    });
  }
  ~Out() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
      flush_locked();
    }
    cv_.notify_all();
    flusher_.join();
  }
  void send(const Reply& r) {
    std::string line = protocol::to_line(r);
    auto* e = std::get_if<events::Event>(&r.body);
    bool batched = e && (std::holds_alternative<events::TrainStep>(*e) || std::holds_alternative<events::ExpertLoad>(*e));
    std::lock_guard lock(mu_);
    pending_ += line;
    if (!batched || pending_.size() > (1u << 20)) flush_locked();
  }

 private:
  void flush_locked() {
    for (size_t done = 0; done < pending_.size();) {
      ssize_t n = ::write(fd_, pending_.data() + done, pending_.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) break;  // the front end is gone; stdin's end stops us
      done += size_t(n);
    }
    pending_.clear();
  }

  int fd_ = -1;
  std::mutex mu_;
  std::condition_variable cv_;
  std::string pending_;  // guarded by mu_
  bool stop_ = false;
  std::thread flusher_;
};

// A request running on a thread of its own. Only one of each kind runs at a time.
struct Job {
  int64_t id = 0;
  std::thread thread;
  std::atomic<bool> cancel{false}, done{false};
  void join() {
    if (thread.joinable()) thread.join();
  }
};

// The trained model and the Lua state its Lua routers run in; the model goes first.
struct Trained {
  std::unique_ptr<script::Host> lua;
  std::shared_ptr<engine::Model> model;
  ~Trained() { model.reset(); }
};

class Server {
 public:
  explicit Server(size_t lua_memory) {
    script::install_engine_extension();
    script::HostOptions options;
    options.limits.native_bytes = lua_memory;
    lua_ = std::make_unique<script::Host>(options);
    lua_->load_plugins(script::default_plugin_folders());
    lua_State* L = lua_->state();
    lua_pushlightuserdata(L, this);
    lua_pushcclosure(L, &Server::print, 1);
    lua_setglobal(L, "print");
  }
  ~Server() { stop_all(); }

  void hello() {
    protocol::Hello h;
    h.version = CIRCUIT_VERSION;
    engine::TorchBuild b = engine::torch_build();
    h.torch = b.version;
    h.devices.push_back("cpu");
    for (size_t i = 0; i < b.gpus.size(); ++i) h.devices.push_back("cuda:" + std::to_string(i) + " (" + b.gpus[i] + ")");
    engine::CudaAvailability cuda = engine::cuda_availability();
    if (!cuda.available) h.cuda_reason = cuda.reason;
    h.threads = engine::runtime_threads();
    for (const auto& p : lua_->plugins()) h.plugins.push_back(p.name);
    for (const engine::DataSetInfo& d : engine::data_sets()) h.data_sets.push_back(d.name);
    h.pid = ::getpid();
    out_.send({0, std::move(h)});
  }

  // Returns false after a shutdown.
  bool handle(std::string_view line) {
    int64_t id = 0;
    auto r = protocol::parse_request(line, &id);
    if (!r) return problem(id, r.error().message), true;
    return std::visit([&](auto& body) { return take(r->id, body); }, r->body);
  }

  void problem(int64_t id, const std::string& message) { out_.send({id, protocol::Problem{message}}); }

  void stop_all() {
    for (Job* j : {&train_, &lua_job_, &search_, &export_}) j->cancel = true;
    {
      std::lock_guard lock(lua_mu_);
      stopping_ = true;
      lua_queue_.clear();
    }
    lua_->interrupt();
    for (Job* j : {&train_, &lua_job_, &search_, &export_}) j->join();
  }

 private:
  // Starts `job` for request `id` unless one of its kind runs; false (and a problem) if one does.
  template <class F>
  bool launch(Job& job, int64_t id, const char* kind, F&& body) {
    if (job.thread.joinable() && !job.done) {
      problem(id, std::string("a ") + kind + " is running (request " + std::to_string(job.id) + "): cancel it or wait for it");
      return false;
    }
    job.join();
    job.id = id, job.cancel = false, job.done = false;
    job.thread = std::thread([this, &job, body = std::forward<F>(body)]() mutable {
      protocol::ReplyBody answer;
      try {
        answer = body();
      } catch (const std::exception& e) {  // a request's failure is its reply, never the process's end
        answer = protocol::Problem{std::string("failed: ") + e.what()};
      }
      // Over before it answers: a front end that sends the next request (an export after its
      // training) as soon as it reads the answer must find this job done.
      job.done = true;
      out_.send({job.id, std::move(answer)});
    });
    return true;
  }

  bool take(int64_t id, protocol::Train& t) {
    launch(train_, id, "training", [this, id, t = std::move(t)]() mutable { return train(id, t); });
    return true;
  }
  bool take(int64_t id, protocol::Export& e) {
    if (train_.thread.joinable() && !train_.done) return problem(id, "a training is running (request " + std::to_string(train_.id) + "): export after it ends"), true;
    launch(export_, id, "export", [this, id, name = e.name] { return export_model(id, name); });
    return true;
  }
  // Lua requests queue, as cells do in a notebook kernel: each runs after the one before.
  bool take(int64_t id, protocol::Lua& l) {
    std::lock_guard lock(lua_mu_);
    lua_queue_.emplace_back(id, std::move(l));
    if (!lua_running_) {
      lua_running_ = true;
      lua_job_.join();
      lua_job_.thread = std::thread([this] { lua_loop(); });
    }
    return true;
  }
  void lua_loop() {
    for (;;) {
      std::pair<int64_t, protocol::Lua> next;
      {
        std::lock_guard lock(lua_mu_);
        if (lua_queue_.empty() || stopping_) {
          lua_running_ = false;
          lua_job_.id = 0;
          return;
        }
        next = std::move(lua_queue_.front());
        lua_queue_.pop_front();
        lua_job_.id = next.first;
      }
      try {
        run_lua(next.first, next.second);
      } catch (const std::exception& e) {
        out_.send({next.first, protocol::LuaDone{"", std::string("failed: ") + e.what(), std::nullopt}});
      }
    }
  }
  bool take(int64_t id, protocol::Search& s) {
    launch(search_, id, "search", [this, id, s = std::move(s)]() mutable { return search(id, s); });
    return true;
  }
  bool take(int64_t id, protocol::Cancel& c) {
    bool found = false;
    for (Job* j : {&train_, &search_, &export_})
      if (j->id == c.target && j->thread.joinable() && !j->done) j->cancel = true, found = true;
    {
      std::lock_guard lock(lua_mu_);
      if (lua_running_ && lua_job_.id == c.target) lua_->interrupt(), found = true;
      for (auto it = lua_queue_.begin(); it != lua_queue_.end(); ++it)
        if (it->first == c.target) {
          out_.send({c.target, protocol::LuaDone{"", "cancelled before it ran", std::nullopt}});
          lua_queue_.erase(it);
          found = true;
          break;
        }
    }
    out_.send({id, protocol::Done{found ? "cancelling request " + std::to_string(c.target) : "", found ? "" : "no running request " + std::to_string(c.target)}});
    return true;
  }
  bool take(int64_t id, protocol::Shutdown&) {
    stop_all();
    out_.send({id, protocol::Done{"shutting down", ""}});
    return false;
  }

  protocol::ReplyBody train(int64_t id, protocol::Train& t) {
    protocol::TrainDone done;
    auto c = circuit::parse_circuit(t.circuit, "request " + std::to_string(id));
    if (!c) {
      done.message = "the circuit has problems: " + c.error().message;
      return done;
    }
    auto trained = std::make_shared<Trained>();
    trained->lua = script::host_with_plugin_routers();  // Lua routers run in it as long as the model lives
    auto placed = engine::join_from_environment(t.device, engine::Backend::automatic, 0, -1);
    if (!placed) {
      done.message = placed.error().message;
      return done;
    }
    events::Bus bus;
    bus.subscribe([this, id](const events::Event& e) { out_.send({id, e}); });
    engine::ExperimentRequest req;
    const double exit_threshold = req.exit_threshold;
    req.circuit = std::move(*c);
    req.data = t.data;
    engine::size_to_circuit(req.data, req.circuit);  // a token model fixes the task's sizes
    req.train = t.train;
    req.train.device = placed->device;
    req.train.bus = &bus;
    req.train.cancel = &train_.cancel;
    req.threads = t.threads > 0 ? t.threads : -1;
    engine::ExperimentReport rep = engine::run_experiment(std::move(req));
    done.status = rep.status, done.message = rep.message, done.device = rep.device;
    if (rep.status == events::RunStatus::error && rep.stage == engine::Stage::circuit) done.message = "the circuit has problems: " + rep.message;
    done.epochs_done = rep.train.epochs_done, done.steps = rep.train.steps, done.seconds = rep.train.seconds;
    done.train_loss = rep.train.train_loss, done.val_loss = rep.train.val.loss, done.val_accuracy = rep.train.val.accuracy;
    if (rep.test) done.tested = true, done.test_loss = rep.test->loss, done.test_accuracy = rep.test->accuracy;
    if (rep.exits)
      done.exit_histogram = rep.exits->histogram, done.exit_accuracy = rep.exits->accuracy, done.exit_cost = rep.exits->avg_cost,
      done.exit_threshold = exit_threshold;
    if (rep.model) {
      trained->model = std::move(rep.model);
      std::lock_guard lock(model_mu_);
      model_ = trained;  // the last trained model, for export
    }
    rep = {};
    trained.reset();
    done.has_model = bool(model_);
    base::return_free_memory();  // between runs the engine holds what it keeps, not the last peak
    return done;
  }

  protocol::ReplyBody export_model(int64_t id, const std::string& name) {
    std::shared_ptr<Trained> m;
    {
      std::lock_guard lock(model_mu_);
      m = model_;
    }
    if (!m) return protocol::Done{"", "no trained model to export: train first"};
    std::string base = std::filesystem::path(name).filename().string();
    char dir_template[] = "/tmp/circuit-export-XXXXXX";
    if (!::mkdtemp(dir_template)) return protocol::Done{"", std::string("cannot make a temporary folder: ") + std::strerror(errno)};
    std::string path = std::string(dir_template) + "/" + base;
    base::Status s = engine::export_model(*m->model, path);
    if (!s) {
      std::filesystem::remove_all(dir_template);
      std::string message = s.error;  // about the name the front end asked for, not our temporary file
      if (size_t at = message.find(path); at != std::string::npos) message.replace(at, path.size(), base);
      return protocol::Done{"", message};
    }
    auto bytes = base::read_file(path);
    std::filesystem::remove_all(dir_template);
    if (!bytes) return protocol::Done{"", bytes.error().message};
    // Chunks well under the line limit (base64 grows them by a third).
    constexpr size_t kChunk = 4u << 20;
    for (size_t at = 0;; at += kChunk) {
      bool last = at + kChunk >= bytes->size();
      out_.send({id, protocol::File{base, int64_t(at), bytes->substr(at, kChunk), last}});
      if (last) break;
    }
    return protocol::Done{base + ": " + std::to_string(bytes->size()) + " bytes", ""};
  }

  // print(...) as Lua's, tab-separated, as a log event of the running request.
  static int print(lua_State* L) {
    auto* self = static_cast<Server*>(lua_touserdata(L, lua_upvalueindex(1)));
    std::string line;
    for (int i = 1, n = lua_gettop(L); i <= n; ++i) {
      if (i > 1) line += '\t';
      line += luaL_tolstring(L, i, nullptr);
      lua_pop(L, 1);
    }
    self->out_.send({self->lua_job_.id, events::Event(events::LogLine{events::LogLine::Level::info, line})});
    return 0;
  }

  void run_lua(int64_t id, const protocol::Lua& r) {
    protocol::LuaDone done;
    lua_State* L = lua_->state();
    int top = lua_gettop(L);
    std::string before;
    if (!r.circuit.empty()) {
      auto c = circuit::parse_circuit(r.circuit, "request " + std::to_string(id));
      if (!c) {
        done.error = "the circuit `c` cannot be read: " + c.error().message;
        return out_.send({id, std::move(done)});
      }
      before = circuit::circuit_to_text(*c);
      script::push_circuit(L, circuit::Document(std::move(*c)));
      lua_setglobal(L, "c");
    }
    // A line is first tried as an expression, as lua.c does, so `c:info()` shows its value.
    int status = r.expression ? luaL_loadbufferx(L, ("return " + r.code).data(), r.code.size() + 7, r.chunk.c_str(), "t") : LUA_ERRSYNTAX;
    if (status != LUA_OK) {
      lua_settop(L, top);
      status = luaL_loadbufferx(L, r.code.data(), r.code.size(), r.chunk.c_str(), "t");
    }
    if (status != LUA_OK) {
      done.error = lua_tostring(L, -1);
      lua_settop(L, top);
    } else if (auto s = lua_->call(0, LUA_MULTRET); !s) {
      done.error = s.error;
    } else {
      for (int i = top + 1; i <= lua_gettop(L); ++i) {
        if (i > top + 1) done.results += '\t';
        done.results += luaL_tolstring(L, i, nullptr);
        lua_pop(L, 1);
      }
      lua_settop(L, top);
    }
    if (!r.circuit.empty()) {
      lua_getglobal(L, "c");
      if (circuit::Document* d = script::to_circuit(L, -1)) {
        std::string after = circuit::circuit_to_text(d->circuit());
        if (after != before) done.circuit = std::move(after);
      }
      lua_settop(L, top);
    }
    out_.send({id, std::move(done)});
  }

  protocol::ReplyBody search(int64_t id, const protocol::Search& r) {
    // A space names its base circuit relative to its own file: resolved beside the name it came with.
    std::string source = r.space_name.empty() ? "request " + std::to_string(id) : r.space_name;
    std::string dir = r.space_name.empty() ? "." : std::filesystem::path(r.space_name).parent_path().string();
    auto space = search::parse_space(r.space, source, dir.empty() ? "." : dir);
    if (!space) return protocol::Done{"", space.error().message};
    auto log = [this, id](const std::string& text) { out_.send({id, events::Event(events::LogLine{events::LogLine::Level::info, text})}); };
    // Lua routers and strategies are registered per thread: this Host serves the whole study.
    std::unique_ptr<script::Host> lua = script::host_with_plugin_routers();
    script::register_lua_strategies(*lua);
    search::StudyRequest req;
    req.db = r.db;
    req.name = r.study;
    req.space = *space;
    req.spec_text = r.space;
    req.protocol.data.train_limit = r.train_limit;
    req.protocol.data.seed = r.seed;
    req.protocol.train = r.train;
    req.device = r.device;
    req.cfg.strategy = r.strategy;
    req.cfg.seed = r.seed;
    req.cfg.trials = r.trials;
    req.cfg.cancel = &search_.cancel;  // honoured between trials
    if (r.baseline) req.baseline = "random";
    req.on_log = log;
    int finished = 0, failed = 0;
    req.cfg.on_event = [&, name = req.name](const search::SearchEvent& e) {
      if (auto* d = std::get_if<search::TrialDone>(&e); d && d->study == name) {
        (d->ok ? finished : failed)++;
        log("trial " + std::to_string(d->number) + ": " + (d->ok ? d->describe : d->error));
      }
    };
    auto out = search::run_study(std::move(req));
    lua.reset();
    base::return_free_memory();
    if (!out) return protocol::Done{"", "study stopped: " + out.error().message};
    if (out->summary.ran == 0 && !search_.cancel)
      return protocol::Done{"", "the strategy has no new point: " + out->summary.stop_reason};
    return protocol::Done{r.study + ": " + std::to_string(finished) + (finished == 1 ? " trial" : " trials") + " finished, " +
                              std::to_string(failed) + " failed" + (search_.cancel ? " (cancelled)" : ""), ""};
  }

  Out out_;
  std::unique_ptr<script::Host> lua_;
  Job train_, lua_job_, search_, export_;
  std::mutex lua_mu_;  // guards the queue, lua_running_ and lua_job_.id
  std::deque<std::pair<int64_t, protocol::Lua>> lua_queue_;
  bool lua_running_ = false, stopping_ = false;
  std::mutex model_mu_;
  std::shared_ptr<Trained> model_;
};

const char* kServeUsage =
    "usage: circuit serve --stdio [--threads N] [--lua-memory-mib N]\n"
    "  the engine for a front end (the studio, a notebook, an editor): requests as JSON lines on\n"
    "  stdin, replies and events as JSON lines on stdout, its own log on stderr (docs/protocol.md).\n"
    "  Over ssh: ssh -T HOST circuit serve --stdio\n"
    "  --threads N         LibTorch threads (0: every core)\n"
    "  --lua-memory-mib N  native memory the Lua state's tensors and models may hold (0: the engine's budget)\n";

}  // namespace

int serve(const std::vector<std::string>& args) {
  bool stdio = false;
  int threads = 0;
  int64_t lua_mib = 0;
  Args table("circuit serve", kServeUsage);
  table.flag("--stdio", [&] { stdio = true; }).number("--threads", threads).number("--lua-memory-mib", lua_mib);
  if (auto rc = table.parse(args)) return *rc;
  if (!stdio) return std::fputs(kServeUsage, stderr), 2;
  engine::configure_runtime(threads);
  std::unique_ptr<Server> server;
  try {
    server = std::make_unique<Server>(size_t(std::max<int64_t>(lua_mib, 0)) << 20);
  } catch (const std::exception& e) {
    return std::fprintf(stderr, "circuit serve: %s\n", e.what()), 1;
  }
  server->hello();
  protocol::LineSplitter lines;
  char chunk[1 << 16];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, chunk, sizeof chunk);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    bool serving = lines.feed(
        std::string_view(chunk, size_t(n)), [&](std::string_view line) { return server->handle(line); },
        [&] { server->problem(0, "a line over " + std::to_string(protocol::kMaxLine) + " bytes: skipped to its end"); });
    if (!serving) return 0;  // shut down
  }
  if (lines.pending()) server->problem(0, "the input ended mid-line (" + std::to_string(lines.pending()) + " bytes without a newline): ignored");
  // stdin closed: the front end is gone (or done). Stop what runs and leave.
  server->stop_all();
  return 0;
}

}  // namespace cli
