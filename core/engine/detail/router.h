// The router interface of the engine's MoE layers. Besides the engine, the Lua tensor binding
// implements it (core/script/lua_router.cpp: a Lua router plugin is a Router); that library links
// circuit_engine_internals for it. The MoE layer itself stays in detail/moe.h.
#pragma once
#include "engine/detail/private.h"
#include <torch/torch.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "events/events.h"

namespace engine {

/// One MoE node's settings, read from its attributes (see `circuit ops` for their meaning).
struct MoeConfig {
  std::string name;            // node path, for telemetry and messages
  std::string router = "topk"; // topk | expert_choice | relu | aux_free | hash | recurrent
  int64_t d = 0;               // features
  int64_t experts = 1, k = 1, shared = 0, zero = 0, copy = 0, constant = 0;
  bool noisy = false, renormalize = true, dropless = false, gating_residual = false;
  double capacity_factor = 1.25, aux_coef = 0, z_coef = 0, bias_rate = 1e-3, relu_target = 0.75, relu_step = 1.2;
  int64_t router_hidden = 0;
  // The top-k family's scoring (topk, aux_free, recurrent): sigmoid instead of softmax
  // probabilities (DeepSeek-V3), gates times routed_scale after renormalising (DeepSeek-V2/V3),
  // and group-limited selection: only experts of the top_groups best of `groups` equal groups,
  // a group scored by its best expert or by the sum of its best two (DeepSeek-V3).
  bool sigmoid = false, group_top2 = false;
  double routed_scale = 1;
  int64_t groups = 1, top_groups = 0;
  bool shared_gate = false;  // shared experts' output times sigmoid(w . x) (Qwen2-MoE)
  int64_t slots() const { return experts + zero + copy + constant; }
};

/// A router's decision for N tokens over S slots: a flat list of assignments.
struct Routing {
  at::Tensor slot, token, gate;    // [M] int64, int64, float (gate carries the gradient)
  at::Tensor probs;                // [N, S] router probabilities (entropy, balancing losses)
  std::vector<at::Tensor> losses;  // auxiliary losses this router adds in training
  int64_t max_per_slot = -1;       // a bound on assignments per slot when the router knows one (expert choice)
};

/// State that flows from one MoE layer to the next within one forward pass.
struct MoeFlow {
  at::Tensor prev_logits;  // for gating residuals (MoE++)
  at::Tensor prev_top1;    // [N] top-1 slot per token, for transition counts
  at::Tensor router_h;     // [N, h] recurrent router state (RMoE)
  std::string prev_layer;
  std::vector<events::ExpertLoad>* telemetry = nullptr;  // filled in training when set
  int64_t step = 0;
};

/// What a router gets for one MoE layer in one forward pass.
struct RouterInput {
  at::Tensor logits;        // [N, S] router logits; undefined for routers that use none (hash)
  at::Tensor noise_logits;  // [N, S] noisy top-k: the noise scale before softplus; else undefined
  int64_t tokens = 0;       // N, flattened in order from [batch, positions, ...]
  int64_t positions = 1;    // sequence length, for routers that route by position
  bool training = false;
  bool host = true;         // the host fast path may be used (MoePath); false: tensor ops only
  c10::Device device = at::kCPU;  // where the tokens are
};

namespace detail {
class Script;
}

/// The values a router's TorchScript form reads and sets (Router::torchscript).
struct ScriptRouting {
  std::string tokens;            // [N, d], read
  std::string probs, gate, idx;  // set: [N, S] probabilities; [N, k] gates and slots, before renormalisation
  int64_t k = 1;
};

/// A router owns everything about itself: its logits and their parameters (registered on the MoE
/// layer by its factory), its routing and losses, and its TorchScript form. The built-in routers
/// implement it, and so do Lua router plugins; MoeLayer applies capacity and runs the experts.
class Router {
 public:
  virtual ~Router() = default;
  /// Logits [N, S] for tokens [N, d]; may read and update `flow` (a recurrent router's state).
  /// Undefined for a router that uses none (hash). By default the `router` linear map.
  virtual at::Tensor logits(const at::Tensor& tokens, MoeFlow& flow);
  /// Every assignment before capacity, with the losses this router adds in training.
  virtual Routing route(const RouterInput& in) = 0;
  /// In training, after capacity: kept assignments per slot [S]. For state that follows the
  /// load, such as bias balancing; called without gradient.
  virtual void observe_load(const at::Tensor& kept_per_slot) {}
  /// False for routers that fix each expert's load themselves (expert choice).
  virtual bool limited_by_capacity() const { return true; }
  /// Writes TorchScript lines that route as route() does in inference; false when this router has
  /// no TorchScript form (the export is then refused with the router's name).
  virtual bool torchscript(detail::Script& w, const ScriptRouting& n) const { return false; }

 protected:
  /// Registers the bias-free linear map `router` [S, d] on `layer` that the default logits() use.
  /// Routers call it first thing, so weights draw from the seed in the same order for every kind.
  void add_linear_logits(const MoeConfig& c, torch::nn::Module& layer);
  /// The default logits as TorchScript: `probs = softmax(linear(tokens, self.router__weight), -1)`
  /// (sigmoid when the config says so).
  static void torchscript_probs(detail::Script& w, const ScriptRouting& n, const MoeConfig& c);
  /// The top-k family's choice in TorchScript: `idx` the k best slots by `scores` (an expression)
  /// within the allowed groups, `gate` the probabilities there.
  static void torchscript_select(detail::Script& w, const ScriptRouting& n, const MoeConfig& c, const std::string& scores);

 private:
  torch::nn::Linear linear_{nullptr};
};

/// Makes a router for `c`. State a router keeps across steps (the aux-loss-free bias, ReLU
/// routing's lambda) must be registered as buffers of `layer`, so checkpoints carry it.
using RouterFactory = std::function<std::unique_ptr<Router>(const MoeConfig& c, torch::nn::Module& layer)>;
/// The router `c.router` names: a built-in kind or one added with register_router.
std::unique_ptr<Router> make_router(const MoeConfig& c, torch::nn::Module& layer);
/// Adds (or replaces) a router kind for models compiled on the calling thread afterwards (a Lua
/// router must run on the thread of its Lua state). Built-in kinds cannot be shadowed.
void register_router(const std::string& kind, RouterFactory make);

/// Token ids of token-major routing with k assignments per token: 0 (k times), 1 (k times), ...
/// One arange and a division: repeat_interleave costs several times as much per step.
at::Tensor token_major(int64_t tokens, int64_t k, const at::TensorOptions& options = at::kLong);

}  // namespace engine
