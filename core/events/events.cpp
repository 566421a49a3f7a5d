#include "events.h"

namespace events {

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
