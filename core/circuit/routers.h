// The router kinds an MoE node may name, as the IR sees them: what each allows (checked by the
// moe op's shape rule), what its logits cost, and how the diagram labels it. The engine's
// routers implement the same kinds; a Lua router plugin adds one with add_router_kind. Nothing
// outside this catalogue and the routers themselves tests a router's name.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base_names.h"

namespace circuit {

/// One router kind. Defaults describe a plain learned top-k router.
struct RouterKind {
  std::string name;
  bool nominal_k = false;       // k only sets a nominal budget (expert choice, ReLU): not checked against the slots
  bool fixed_capacity = false;  // fixes each expert's capacity itself (expert choice): cannot be dropless
  int min_moe_layers = 1;       // carries state from one MoE layer to the next (recurrent): needs this many
  bool label_k = false;         // the diagram writes "name, k=K" on the router box
  bool scored = false;          // top-k over probabilities: takes scoring, routed_scale and groups
  /// Parameters of the router's logits for `d` features, `slots` routed slots and `hidden` (the
  /// node's router_hidden attribute). Default: one bias-free linear map [slots, d]; 0 for a
  /// router that computes no logits (hash).
  std::function<int64_t(int64_t d, int64_t slots, int64_t hidden)> params = [](int64_t d, int64_t slots, int64_t) { return d * slots; };
};

/// The kind named `name`, or null.
const RouterKind* find_router_kind(std::string_view name);
/// The built-in kinds' names, in catalogue order (the moe op's `router` choices).
std::vector<std::string> builtin_router_names();
/// Adds a kind (a Lua router plugin) and makes it a choice of the moe op's `router` attribute.
/// A built-in kind cannot be replaced; adding the same name again replaces the added kind.
Status add_router_kind(RouterKind kind);

}  // namespace circuit
