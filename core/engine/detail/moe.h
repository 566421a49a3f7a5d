// Mixture-of-experts layers and the router catalogue (shared/TECHNIQUES.md section 2).
//
// Internal to the engine and, later, the Lua tensor binding (a Lua router plugin implements
// Router). It includes LibTorch, unlike every public engine header: only translation units that
// include LibTorch anyway include this one, so it adds no compile time to anything else.
#pragma once
#include "engine/detail/private.h"
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "circuit/op.h"
#include "engine/detail/router.h"
#include "events/events.h"

namespace engine {

/// Which implementation an MoE layer runs. `host` is the CPU fast path: routing and dispatch in
/// one pass over host memory, the FFN experts in run_grouped_ffn. `tensor` is pure tensor ops
/// that run on any device: each FFN expert gets a padded buffer of `capacity` rows and all of
/// them run as batched products; with a capacity nothing is read back to the host (dropless
/// reads one number per layer, the busiest expert's load, which sizes the buffers). `automatic`
/// takes the host path for fp32 CPU tensors and the tensor path otherwise.
enum class MoePath { automatic, host, tensor };

/// Capacity C = ceil(cf * k * N / E) of token-choice routing, or N * k when dropless.
int64_t moe_capacity(const MoeConfig& c, int64_t tokens);

/// Keeps, per slot, the first `capacity` assignments in token order; returns the kept mask [M].
/// Zero, copy and constant slots are never limited (they cost nothing).
at::Tensor apply_capacity(const at::Tensor& slot, int64_t slots, int64_t ffn_experts, int64_t capacity);

// The built-in routers. `logits` is [N, S]. Each returns every assignment before capacity.
// `host` picks the CPU fast path for top-k (TopkGates) over topk + gather; both give the same
// routing and gradients (a test holds them equal).
/// The top-k family's probabilities: softmax of the logits, or their sigmoid (MoeConfig::sigmoid).
at::Tensor router_probs(const at::Tensor& logits, const MoeConfig& c);
/// Group-limited selection scores: `scores` [N, S] with the experts outside each token's
/// top_groups best groups at -inf (unchanged without groups).
at::Tensor limit_groups(const at::Tensor& scores, const MoeConfig& c);
Routing route_topk(const at::Tensor& logits, const MoeConfig& c, bool training, const at::Tensor& noise_logits, bool host = true);
Routing route_expert_choice(const at::Tensor& logits, const MoeConfig& c);
Routing route_relu(const at::Tensor& logits, const MoeConfig& c, at::Tensor& l1_weight, bool training);
Routing route_aux_free(const at::Tensor& logits, const MoeConfig& c, const at::Tensor& bias, bool host = true);
Routing route_hash(int64_t tokens, int64_t positions, const MoeConfig& c, c10::Device device = at::kCPU);

/// Load-balancing losses of token-choice routing: switch aux loss and router z-loss.
void add_balancing_losses(Routing& r, const at::Tensor& logits, const MoeConfig& c);
/// The router z-loss alone (when c.z_coef > 0).
void add_z_loss(Routing& r, const at::Tensor& logits, const MoeConfig& c);

/// Expert-load telemetry of one step from a routing and its kept mask.
events::ExpertLoad measure_load(const MoeConfig& c, const Routing& r, const at::Tensor& kept, int64_t tokens, const MoeFlow& flow);

/// The weights of experts that are all linear -> activation -> linear over the features, or gated
/// (SwiGLU, GEGLU): act(x W1ᵀ + b1) * (x Wuᵀ + bu) -> linear. With them, MoeLayer runs every FFN
/// expert inside one autograd node (run_grouped_ffn) instead of one module call chain per expert,
/// whose framework overhead is most of a small layer's step.
struct GroupedFfn {
  std::vector<at::Tensor> w1, b1, w2, b2;  // per expert; they alias the experts' parameters (b may be undefined)
  std::vector<at::Tensor> wu, bu;          // gated experts: the "up" projection; empty for plain ones
  circuit::Elementwise activation = circuit::Elementwise::relu;  // the activation op's own function (OpDef::elementwise)
};

/// The FFN experts of `f` on their rows, as one autograd node: assignment i (grouped by expert,
/// counts[e] rows for expert e, in order) takes row token[i] of x [n, d], and its output times
/// gate[i] is added to row token[i] of the result [n, d]. Gradients reach x, gate and the
/// weights; an expert without rows gets none. On CPU the experts run in parallel, one per
/// intra-op thread.
at::Tensor run_grouped_ffn(const GroupedFfn& f, const at::Tensor& x, const at::Tensor& token, const at::Tensor& gate,
                           const std::vector<int64_t>& counts);

/// Assignments grouped by slot for dispatch: `order` lists the kept assignments slot by slot, in
/// assignment order within a slot; `counts` has their number per slot; `kept` [M] marks them.
struct Dispatch {
  at::Tensor order, kept;
  std::vector<int64_t> counts;
};
/// One counting pass over `slot` [M] (on the CPU, where this is cheapest at any M we route):
/// groups assignments by slot and keeps the first `capacity` of each FFN slot (slot <
/// ffn_experts); capacity < 0 keeps all. Throws std::out_of_range for a slot outside [0, slots).
Dispatch plan_dispatch(const at::Tensor& slot, int64_t slots, int64_t ffn_experts, int64_t capacity);

/// plan_dispatch as tensor ops on the slot's device, with nothing read back to the host: `pos` [M]
/// is each assignment's place among its slot's assignments (in assignment order), `kept` [M] keeps
/// the first `capacity` of each FFN slot (every assignment of other slots), `per_slot` [S] counts
/// the kept ones.
struct TensorDispatch {
  at::Tensor pos, kept, per_slot;
};
TensorDispatch plan_dispatch_tensor(const at::Tensor& slot, int64_t slots, int64_t ffn_experts, int64_t capacity);

/// The experts of `f` on padded buffers x [E, C, d] (rows past an expert's count are zeros and
/// their results are ignored): batched products, any device. Returns [E, C, d].
at::Tensor run_padded_ffn(const GroupedFfn& f, const at::Tensor& x);

/// An MoE layer: router, routed FFN experts, shared experts and MoE++ zero-computation experts.
/// Dispatch is grouped: assignments are sorted by slot (plan_dispatch) and each expert runs once on
/// exactly its tokens (index_select), results are added back weighted by their gates (index_add).
class MoeLayer : public torch::nn::Module {
 public:
  // Tokens shaped like the MoE input, every axis but the first and last of size 1: [n, 1..., d].
  using Expert = std::function<at::Tensor(const at::Tensor&)>;
  MoeLayer(MoeConfig c, std::vector<std::shared_ptr<torch::nn::Module>> experts, std::vector<Expert> run,
           std::vector<std::shared_ptr<torch::nn::Module>> shared, std::vector<Expert> run_shared);

  /// x [..., d]. Appends auxiliary losses to `losses` (training only) and updates `flow`.
  at::Tensor forward(const at::Tensor& x, MoeFlow& flow, std::vector<at::Tensor>* losses);
  const MoeConfig& config() const { return c_; }
  const Router& router() const { return *rule_; }
  /// Runs the FFN experts as one node (see GroupedFfn); nullopt goes back to one call chain per expert.
  void use_grouped_ffn(std::optional<GroupedFfn> g) { grouped_ = std::move(g); }
  bool grouped() const { return grouped_.has_value(); }
  /// Host fast path, tensor path or automatic (the default). The host path needs CPU tensors.
  void set_path(MoePath p) { path_ = p; }
  MoePath path() const { return path_; }

 private:
  // The two dispatches after routing: the host one (plan_dispatch, run_grouped_ffn) and the
  // tensor one (plan_dispatch_tensor, padded buffers). Each returns the combined output [n, d]
  // and sets the kept mask [M] and kept count per slot [S].
  at::Tensor dispatch_host(const at::Tensor& tokens, const Routing& r, int64_t capacity, int64_t rank, at::Tensor& kept, at::Tensor& per_slot);
  at::Tensor dispatch_tensor(const at::Tensor& tokens, const Routing& r, int64_t capacity, int64_t rank, at::Tensor& kept, at::Tensor& per_slot);
  at::Tensor as_input(const at::Tensor& t, int64_t rank) const;

  MoeConfig c_;
  std::unique_ptr<Router> rule_;
  torch::nn::Linear noise_{nullptr}, residual_{nullptr}, shared_gate_{nullptr};
  std::optional<GroupedFfn> grouped_;
  at::Tensor const_v_;    // constant experts: learned vectors [constant, d]
  torch::nn::Linear const_mix_{nullptr};  // constant experts: mixing weights a(x), 2 per constant expert
  std::vector<Expert> run_, run_shared_;
  MoePath path_ = MoePath::automatic;
};

}  // namespace engine
