#include "study.h"

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "events/events.h"

namespace search {

namespace {

// A fixed string hash (std::hash may differ between standard libraries).
uint64_t fnv1a(const std::string& s) {
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

Trial to_trial(const store::TrialRecord& r) {
  Trial t;
  t.number = r.number;
  auto p = parse_point(r.point);
  if (p) t.point = *p;
  t.ok = r.status == store::TrialStatus::finished;
  t.metrics = r.metrics;
  return t;
}

// The feasible trials' objectives, kept as trials complete, for the front after each one.
struct FrontTracker {
  const Problem& problem;
  Vec reference_min;
  std::vector<Vec> objectives;  // minimisation form
  std::vector<int> numbers;
  int done = 0;

  void add(const Trial& t) {
    ++done;
    if (!t.ok || total_violation(problem, t.metrics) > 0) return;
    if (auto v = objective_vector(problem, t.metrics)) objectives.push_back(*v), numbers.push_back(t.number);
  }
  FrontUpdate update() const {
    FrontUpdate u;
    u.trials_done = done;
    for (int i : pareto_front(objectives)) {
      u.front.push_back(numbers[size_t(i)]);
      Vec v = objectives[size_t(i)];
      for (size_t m = 0; m < v.size(); ++m)
        if (problem.objectives[m].direction == Direction::maximize) v[m] = -v[m];
      u.objectives.push_back(std::move(v));
    }
    if (!reference_min.empty()) u.hypervolume = hypervolume(objectives, reference_min);
    return u;
  }
};

// Renews the lease of the trial being evaluated, on a connection of its own (a Store is not
// thread-safe), three times per lease length, so a slow renewal or a short network break does not
// lose it. Evaluation runs on the caller's thread, unaware of it.
class LeaseKeeper {
 public:
  explicit LeaseKeeper(store::Store& db) : db_(db) {}
  ~LeaseKeeper() {
    {
      std::lock_guard<std::mutex> l(m_);
      stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
  }
  void hold(const store::TrialRecord& t) {
    std::lock_guard<std::mutex> l(m_);
    trial_ = t.id, lease_ = t.lease, lost_ = false;
    // Claims set lease_until = start + the study's lease length, both on the database's clock.
    interval_ = std::max(0.05, (t.lease_until - t.started) / 3);
    if (!thread_.joinable()) thread_ = std::thread([this] { run(); });
    cv_.notify_all();
  }
  void release() {
    std::lock_guard<std::mutex> l(m_);
    trial_ = 0;
  }

 private:
  void run() {
    std::unique_ptr<store::Store> conn;
    std::unique_lock<std::mutex> l(m_);
    while (!stop_) {
      if (trial_ == 0) {
        cv_.wait(l, [&] { return stop_ || trial_ != 0; });
        continue;
      }
      int64_t trial = trial_;
      cv_.wait_for(l, std::chrono::duration<double>(interval_), [&] { return stop_ || trial_ != trial; });
      if (stop_ || trial_ != trial || lost_) continue;
      std::string lease = lease_;
      l.unlock();
      if (!conn) {  // opened on first use, and again after a failure (the main connection reports it)
        if (auto c = db_.reopen()) {
          conn = std::move(*c);
          conn->on_notice([](const std::string&) {});
        }
      }
      auto ok = conn ? conn->renew_lease(trial, lease) : base::Result<bool>(base::Error{"no connection"});
      if (!ok) conn.reset();
      l.lock();
      if (ok && !*ok && trial_ == trial) lost_ = true;  // gone: stop renewing it
    }
  }

  store::Store& db_;
  std::mutex m_;
  std::condition_variable cv_;
  std::thread thread_;
  int64_t trial_ = 0;
  std::string lease_;
  double interval_ = 1;
  bool lost_ = false, stop_ = false;
};

Vec reference_in_min_form(const Problem& p, const Vec& ref) {
  if (ref.size() != p.objectives.size()) return {};
  Vec r = ref;
  for (size_t m = 0; m < r.size(); ++m)
    if (p.objectives[m].direction == Direction::maximize) r[m] = -r[m];
  return r;
}

}  // namespace

FrontUpdate front_of(const std::vector<store::TrialRecord>& trials, const Problem& problem, const Vec& reference) {
  FrontTracker f{problem, reference_in_min_form(problem, reference), {}, {}, 0};
  for (auto& r : trials)
    if (r.status == store::TrialStatus::finished || r.status == store::TrialStatus::failed) f.add(to_trial(r));
  return f.update();
}

base::Result<RunSummary> run_trials(store::Store& db, int64_t study, const Problem& problem, const Evaluate& evaluate,
                                      const RunConfig& cfg) {
  RunSummary sum;
  auto requeued = db.requeue_expired(study);
  if (!requeued) return requeued.error();
  sum.requeued = *requeued;

  auto made = make_strategy(cfg.strategy, problem, mix_seed(cfg.seed, uint64_t(cfg.worker)), cfg.options);
  if (!made) return made.error();
  Strategy& strategy = **made;
  FrontTracker tracker{problem, reference_in_min_form(problem, cfg.reference), {}, {}, 0};

  // Rebuild: every trial already completed is told (in finishing order); queued and running
  // ones are pending so nobody proposes them again.
  int64_t synced = 0;
  auto sync = [&]() -> base::Status {
    auto done = db.completed_since(study, synced);
    if (!done) return done.error();
    for (auto& r : *done) {
      Trial t = to_trial(r);
      strategy.tell(t);
      tracker.add(t);
      synced = r.seq;
    }
    return {};
  };
  if (auto st = sync(); !st) return base::Error{st.error};
  if (auto all = db.trials(study); !all) return all.error();
  else
    for (auto& r : *all)
      if (r.status == store::TrialStatus::queued || r.status == store::TrialStatus::running)
        if (auto p = parse_point(r.point)) strategy.mark_pending(*p);

  LeaseKeeper keeper(db);
  while (cfg.trials < 0 || sum.ran < cfg.trials) {
    if (cfg.cancel && cfg.cancel->load()) {
      sum.stop_reason = "cancelled";
      break;
    }
    std::optional<store::TrialRecord> rec;
    auto queued = db.claim_queued(study);
    if (!queued) return queued.error();
    if (*queued) {
      rec = std::move(**queued);
    } else {
      auto p = strategy.ask();
      if (!p) {
        sum.stop_reason = strategy.last_error();
        break;
      }
      store::NewTrial nt{key(*p), cfg.circuit_text ? cfg.circuit_text(*p) : std::string(), 0, cfg.protocol};
      // The trial seed depends on the point, not on who runs it, so a replay or a re-queued
      // run trains with the same seed.
      nt.seed = mix_seed(cfg.seed, fnv1a(nt.point));
      auto claim = db.start_trial(study, nt, cfg.total);
      if (!claim) return claim.error();
      if (claim->kind == store::Claim::Kind::budget_reached) {
        // Trials other workers still run may come back to the queue (their worker dies, its lease
        // runs out): wait for them, so that a study ends with every trial complete.
        auto running = db.count(study, store::TrialStatus::running);
        if (!running) return running.error();
        if (*running == 0) {
          sum.stop_reason = "total";
          break;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        continue;
      }
      if (claim->kind == store::Claim::Kind::duplicate_point) continue;  // another process took it first
      rec = std::move(claim->trial);
    }
    auto point = parse_point(rec->point);
    if (!point) return point.error();
    auto t0 = std::chrono::steady_clock::now();
    keeper.hold(*rec);
    Evaluation e = evaluate(*rec, *point);
    keeper.release();
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    base::Result<bool> committed = false;
    if (e.ok) {
      std::map<std::string, double> violations;
      for (auto& c : problem.constraints)
        if (auto it = e.metrics.find(c.metric); it != e.metrics.end()) violations[c.metric] = c.violation(it->second);
      committed = db.finish_trial(rec->id, rec->lease, e.metrics, violations);
    } else {
      committed = db.fail_trial(rec->id, rec->lease, e.error);
    }
    if (!committed) return committed.error();
    bool discarded = !*committed;
    if (discarded) ++sum.discarded;
    else ++(e.ok ? sum.finished : sum.failed);
    ++sum.ran;
    // Our own trial and any others completed meanwhile, in the store's finishing order.
    if (auto st = sync(); !st) return base::Error{st.error};
    sum.front = tracker.update();
    if (cfg.on_event) {
      cfg.on_event(TrialDone{rec->number, rec->point, "", e.ok, e.metrics, e.error, seconds, discarded});
      cfg.on_event(sum.front);
    }
    if (cfg.bus)
      cfg.bus->publish(events::LogLine{e.ok && !discarded ? events::LogLine::Level::info : events::LogLine::Level::warning,
                                       "trial " + std::to_string(rec->number) +
                                           (discarded ? " lost its lease while it ran (another worker took it back); result discarded"
                                            : e.ok    ? " finished"
                                                      : " failed: " + e.error) +
                                           "; front " + std::to_string(sum.front.front.size()) + ", hypervolume " +
                                           std::to_string(sum.front.hypervolume)});
  }
  if (sum.stop_reason.empty()) sum.stop_reason = "trials";
  if (sum.ran == 0) sum.front = tracker.update();
  return sum;
}

}  // namespace search
