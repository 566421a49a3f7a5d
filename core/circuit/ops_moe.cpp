// Mixture-of-experts layer: a router picks experts per token; the node's body is one expert,
// instantiated `experts` + `shared_experts` times with separate weights.
#include <optional>

#include "ops_common.h"
#include "routers.h"

namespace circuit::ops {

namespace {

// Routed slots: FFN experts plus the zero-computation experts of MoE++.
int64_t routed_slots(const OpCall& c) {
  return c.i("experts") + c.i("zero_experts") + c.i("copy_experts") + c.i("constant_experts");
}

// The node's router kind; the schema admits only catalogued names.
const RouterKind& router_kind(const OpCall& c) {
  static const RouterKind plain;
  const RouterKind* k = find_router_kind(c.s("router"));
  return k ? *k : plain;
}

// The top-k family's options: sigmoid scores, routed scaling, group-limited selection, the
// shared experts' gate. Set on a router that does not take them, they would be silently ignored.
std::optional<Error> check_scoring(const OpCall& c, const RouterKind& router, int64_t slots, int64_t k) {
  int64_t G = c.i("groups"), TG = c.i("top_groups"), E = c.i("experts");
  bool scoring = c.s("scoring") != "softmax" || c.f("routed_scale") != 1 || G > 1;
  if (scoring && !router.scored)
    return Error{"scoring, routed_scale and groups apply to the top-k family of routers (topk, aux_free, recurrent), not to `" + router.name + "`"};
  if (G > 1) {
    if (slots != E) return Error{"groups divide the FFN experts; they cannot be combined with zero, copy or constant experts"};
    if (E % G) return Error{"groups=" + std::to_string(G) + " does not divide the " + std::to_string(E) + " experts"};
    if (TG > G) return Error{"top_groups=" + std::to_string(TG) + " exceeds groups=" + std::to_string(G)};
    int64_t reachable = (TG ? TG : G) * (E / G);
    if (k > reachable)
      return Error{"k=" + std::to_string(k) + " exceeds the " + std::to_string(reachable) + " experts in the top_groups=" + std::to_string(TG) +
                   " groups a token may use"};
    if (c.s("group_score") == "top2" && E / G < 2) return Error{"group_score=top2 needs at least 2 experts per group"};
  } else if (TG) {
    return Error{"top_groups needs groups > 1"};
  }
  if (c.b("shared_gate") && !c.i("shared_experts")) return Error{"shared_gate gates the shared experts, but shared_experts=0"};
  return std::nullopt;
}

Result<Shapes> moe_shape(const OpCall& c) {
  const auto& t = c.in[0];
  auto d = concrete(0, t.axes.back(), "moe");
  if (!d) return d.error();
  int64_t slots = routed_slots(c), k = c.i("k");
  const RouterKind& router = router_kind(c);
  if (!router.nominal_k && k > slots)
    return Error{"k=" + std::to_string(k) + " exceeds the " + std::to_string(slots) + " routable experts"};
  if (!c.b("dropless") && c.f("capacity_factor") <= 0)
    return Error{"capacity_factor must be > 0 (set dropless=true to never drop tokens)"};
  if (c.moe_layers >= 0 && c.moe_layers < router.min_moe_layers)
    return Error{"router `" + router.name + "` carries its state from one MoE layer to the next, but this circuit has only " +
                 std::to_string(c.moe_layers) + " MoE layer; use it with " + std::to_string(router.min_moe_layers) +
                 " or more, or pick another router"};
  if (router.fixed_capacity && c.b("dropless"))
    return Error{"router `" + router.name + "` fixes each expert's capacity; it cannot be dropless"};
  if (auto e = check_scoring(c, router, slots, k)) return *e;
  const GraphAnalysis& body = *c.body;
  if (body.inputs.size() != 1) return Error{"the expert body must have exactly 1 input, it has " + std::to_string(body.inputs.size())};
  const auto& takes = body.nodes[size_t(body.inputs[0])].outputs[0];
  if (!(takes == t)) return input_error(0, "the expert body takes " + to_string(takes) + ", got " + to_string(t));
  if (body.outputs.size() != 1 || !(body.outputs[0] == t))
    return Error{"the expert body must return its input type " + to_string(t) +
                 (body.outputs.empty() ? std::string(", it returns nothing") : ", it returns " + to_string(body.outputs[0]))};
  return Shapes{t};
}

Cost moe_cost(const OpCall& c, const Shapes&) {
  const auto& t = c.in[0];
  int64_t d = t.axes.back().size.n, slots = routed_slots(c);
  int64_t tokens = numel(t, c.bindings) / d;
  const Cost& expert = c.body->total;
  // The router's logits, learned noise on them (noisy top-k) and the gating residual (MoE++);
  // a router without logits (hash) has none of these.
  int64_t router = router_kind(c).params(d, slots, c.i("router_hidden"));
  if (router && c.b("noisy")) router += d * slots;
  if (router && c.b("gating_residual")) router += slots * slots;
  if (c.b("shared_gate") && c.i("shared_experts")) router += d;  // one bias-free linear map to a scalar
  int64_t constant = c.i("constant_experts") * 3 * d;  // vector v (d) and mixing weights (2d)
  int64_t active = c.i("k") + c.i("shared_experts");

  Cost r;
  r.params = router + (c.i("experts") + c.i("shared_experts")) * expert.params + constant;
  r.active_params = router + active * expert.params;
  r.flops = 2 * tokens * d * slots                    // router logits
            + active * expert.flops                   // each token through k routed + shared experts
            + 2 * tokens * d * active                 // gate-weighted combine
            + (c.b("shared_gate") && c.i("shared_experts") ? 2 * tokens * d : 0);  // the shared experts' gate
  r.activation_bytes = active * expert.activation_bytes + tokens * slots * 4;
  return r;
}

}  // namespace

void register_moe_ops(std::vector<OpDef>& r) {
  OpDef m;
  m.name = "moe";
  m.category = OpCategory::moe;
  m.doc = "Mixture of experts: a router sends each token to k of E experts (the body is one expert).";
  m.attrs = {
      int_attr("experts", {}, 1, 65536, "routed FFN experts E"),
      int_attr("k", 2, 1, 65536, "experts per token (nominal for relu and expert_choice routing)"),
      enum_attr("router", "topk", builtin_router_names(), "router kind"),
      bool_attr("noisy", false, "top-k: add learned Gaussian noise to logits while training"),
      bool_attr("renormalize", true, "top-k: gates of the kept experts sum to 1"),
      float_attr("capacity_factor", 1.25, -1e9, 1e9, "capacity C = ceil(cf * k * T / E); must be > 0 unless dropless"),
      bool_attr("dropless", false, "never drop tokens (infinite capacity)"),
      int_attr("shared_experts", 0, 0, 1024, "always-on experts (DeepSeekMoE)"),
      int_attr("zero_experts", 0, 0, 1024, "MoE++ zero experts (output 0)"),
      int_attr("copy_experts", 0, 0, 1024, "MoE++ copy experts (output x)"),
      int_attr("constant_experts", 0, 0, 1024, "MoE++ constant experts (a x + (1 - a) v)"),
      bool_attr("gating_residual", false, "MoE++: add the previous MoE layer's routing logits"),
      float_attr("aux_loss_coef", 0.0, 0, 1e3, "switch load-balancing loss weight alpha"),
      float_attr("z_loss_coef", 0.0, 0, 1e3, "router z-loss weight beta"),
      float_attr("bias_update_rate", 1e-3, 0, 1, "aux_free: bias step u"),
      float_attr("relu_target_sparsity", 0.75, 0, 1, "relu: target fraction of inactive experts"),
      float_attr("relu_l1_step", 1.2, 1, 10, "relu: multiplicative step a of the adaptive L1 weight"),
      int_attr("router_hidden", 0, 0, 1e6, "recurrent: GRU router state size (0: features)"),
      enum_attr("scoring", "softmax", {"softmax", "sigmoid"}, "top-k family: router probabilities (sigmoid: DeepSeek-V3)"),
      float_attr("routed_scale", 1.0, 1e-6, 1e6, "top-k family: gates times this after renormalising (DeepSeek-V2/V3)"),
      int_attr("groups", 1, 1, 65536, "top-k family: equal expert groups for group-limited routing (DeepSeek-V2/V3)"),
      int_attr("top_groups", 0, 0, 65536, "groups a token may route to, the best by group_score (0: all)"),
      enum_attr("group_score", "max", {"max", "top2"}, "a group's score: its best expert (V2) or the sum of its best two (V3)"),
      bool_attr("shared_gate", false, "shared experts' output times sigmoid(w . x), a learned scalar gate per token (Qwen2-MoE)"),
  };
  m.learned = true;
  m.has_body = true;
  m.shape = moe_shape;
  m.cost = moe_cost;
  m.consumes = [](const OpCall& c) -> std::vector<std::vector<std::string>> { return {{c.in[0].axes.back().name}}; };
  r.push_back(std::move(m));
}

}  // namespace circuit::ops
