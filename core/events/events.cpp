#include "events.h"

#include "base/enum_names.h"

namespace events {

namespace {
constexpr const char* kRunStatus[] = {"finished", "stopped", "cancelled", "nan", "error"};  // RunStatus order
}

const char* to_string(RunStatus s) { return base::enum_name(kRunStatus, s); }
std::optional<RunStatus> parse_run_status(std::string_view s) { return base::parse_enum<RunStatus>(kRunStatus, s); }

int Bus::subscribe(Handler h) {
  std::lock_guard<std::mutex> l(mu_);
  handlers_.emplace_back(next_, std::move(h));
  return next_++;
}

void Bus::unsubscribe(int id) {
  std::lock_guard<std::mutex> l(mu_);
  std::erase_if(handlers_, [id](auto& p) { return p.first == id; });
}

void Bus::publish(const Event& e) const {
  // Copy under the lock, call outside it, so a handler may (un)subscribe without deadlock.
  std::vector<std::pair<int, Handler>> hs;
  {
    std::lock_guard<std::mutex> l(mu_);
    hs = handlers_;
  }
  for (auto& [id, h] : hs) h(e);
}

}  // namespace events
