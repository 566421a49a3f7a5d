#include "routers.h"

#include <map>
#include <mutex>

#include "op_choices.h"

namespace circuit {

namespace {

std::vector<RouterKind> builtin_kinds() {
  std::vector<RouterKind> k(6);
  k[0].name = "topk", k[0].label_k = true, k[0].scored = true;
  k[1].name = "expert_choice", k[1].nominal_k = true, k[1].fixed_capacity = true;
  k[2].name = "relu", k[2].nominal_k = true;
  k[3].name = "aux_free", k[3].scored = true;
  k[4].name = "hash", k[4].params = [](int64_t, int64_t, int64_t) { return int64_t(0); };  // routes by token id
  k[5].name = "recurrent", k[5].min_moe_layers = 2, k[5].scored = true;
  k[5].params = [](int64_t d, int64_t slots, int64_t hidden) {  // a GRU cell carried across layers, then the logits
    int64_t h = hidden ? hidden : d;
    return 3 * h * (d + h) + 6 * h + h * slots;
  };
  return k;
}

struct Catalogue {
  std::mutex mu;
  std::vector<RouterKind> builtin = builtin_kinds();
  std::map<std::string, RouterKind, std::less<>> added;  // entries are never erased, so pointers stay valid
};
Catalogue& catalogue() {
  static Catalogue c;
  return c;
}

}  // namespace

const RouterKind* find_router_kind(std::string_view name) {
  Catalogue& c = catalogue();
  for (auto& k : c.builtin)
    if (k.name == name) return &k;
  std::lock_guard lock(c.mu);
  auto it = c.added.find(name);
  return it == c.added.end() ? nullptr : &it->second;
}

std::vector<std::string> builtin_router_names() {
  std::vector<std::string> names;
  for (auto& k : catalogue().builtin) names.push_back(k.name);
  return names;
}

Status add_router_kind(RouterKind kind) {
  Catalogue& c = catalogue();
  for (auto& k : c.builtin)
    if (k.name == kind.name) return Status::fail("router `" + kind.name + "` is built in and cannot be replaced");
  std::string name = kind.name;
  {
    std::lock_guard lock(c.mu);
    auto [it, added] = c.added.try_emplace(name, kind);
    if (!added) it->second = std::move(kind);
  }
  return add_attr_choice("moe", "router", name);
}

}  // namespace circuit
