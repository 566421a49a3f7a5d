#include "engine/detail/moe.h"
#include "engine/detail/distributed.h"

#include "engine/detail/lowering.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <stdexcept>

namespace engine {

using at::Tensor;

Tensor token_major(int64_t tokens, int64_t k, const at::TensorOptions& options) {
  return torch::arange(tokens * k, options.dtype(torch::kLong)).div_(k, "floor");
}

int64_t moe_capacity(const MoeConfig& c, int64_t tokens) {
  if (c.dropless) return tokens * std::max<int64_t>(c.k, 1);
  return int64_t(std::ceil(c.capacity_factor * double(c.k * tokens) / double(c.experts)));
}

Dispatch plan_dispatch(const Tensor& slot, int64_t slots, int64_t ffn_experts, int64_t capacity) {
  // A counting sort: one pass counts, one places. Routing decides a few thousand assignments per
  // step, where this is a few microseconds and a sort plus its bookkeeping was a dozen ATen calls.
  Tensor s = slot.to(torch::kCPU, torch::kLong).contiguous();
  int64_t m = s.numel();
  const int64_t* sp = s.data_ptr<int64_t>();
  Dispatch d;
  d.counts.assign(size_t(slots), 0);
  Tensor kept = torch::empty({m}, torch::kBool);
  bool* kp = kept.data_ptr<bool>();
  for (int64_t i = 0; i < m; ++i) {
    int64_t e = sp[i];
    if (e < 0 || e >= slots)
      throw std::out_of_range("routing chose slot " + std::to_string(e) + ", outside 0.." + std::to_string(slots - 1));
    kp[i] = capacity < 0 || e >= ffn_experts || d.counts[size_t(e)] < capacity;
    d.counts[size_t(e)] += kp[i];
  }
  std::vector<int64_t> next(size_t(slots), 0);
  for (int64_t e = 1; e < slots; ++e) next[size_t(e)] = next[size_t(e - 1)] + d.counts[size_t(e - 1)];
  Tensor order = torch::empty({next.back() + d.counts.back()}, torch::kLong);
  int64_t* op = order.data_ptr<int64_t>();
  for (int64_t i = 0; i < m; ++i)
    if (kp[i]) op[next[size_t(sp[i])]++] = i;
  d.order = order.to(slot.device());
  d.kept = kept.to(slot.device());
  return d;
}

Tensor apply_capacity(const Tensor& slot, int64_t slots, int64_t ffn_experts, int64_t capacity) {
  return plan_dispatch(slot, slots, ffn_experts, capacity).kept;
}

TensorDispatch plan_dispatch_tensor(const Tensor& slot, int64_t slots, int64_t ffn_experts, int64_t capacity) {
  // An assignment's place in its slot is the running count of its slot's one-hot column: [M, S]
  // integers, small at the sizes we route (M = k tokens; S a few dozen).
  TensorDispatch d;
  Tensor s = slot.to(torch::kLong);
  // (A scatter, not one_hot: one_hot checks the range of its input, a read back from the device.)
  Tensor onehot = torch::zeros({s.size(0), slots}, s.options()).scatter_(1, s.unsqueeze(1), 1);
  d.pos = onehot.cumsum(0).gather(1, s.unsqueeze(1)).squeeze(1) - 1;
  d.kept = capacity < 0 ? torch::ones_like(s, torch::kBool) : (s.ge(ffn_experts) | d.pos.lt(capacity));
  d.per_slot = torch::zeros({slots}, s.options()).index_add_(0, s, d.kept.to(torch::kLong));
  return d;
}

Tensor run_padded_ffn(const GroupedFfn& f, const Tensor& x) {
  auto act = [&](const Tensor& h) { return detail::apply_elementwise(f.activation, h); };
  auto linear = [](const Tensor& in, const std::vector<Tensor>& w, const std::vector<Tensor>& b) {
    Tensor y = torch::matmul(in, torch::stack(w).transpose(1, 2));  // [E, C, out]
    if (!b.empty() && b.front().defined()) y = y + torch::stack(b).unsqueeze(1);
    return y;
  };
  Tensor h = act(linear(x, f.w1, f.b1));
  if (!f.wu.empty()) h = h * linear(x, f.wu, f.bu);
  return linear(h, f.w2, f.b2);
}

namespace {

// Top-k routing as one autograd node: per token, the k best slots by `scores` (best first, ties to
// the lower slot), gated by `probs` there, renormalised over the k if asked. Done in one pass
// over the rows on the CPU: as ATen calls (topk, gather, sum, div, the token list) with their
// backward nodes it was about twenty small calls per step, which in a small layer cost as much as
// the experts' products.
struct TopkGates : torch::autograd::Function<TopkGates> {
  static Tensor forward(torch::autograd::AutogradContext* ctx, const Tensor& probs, const Tensor& scores, int64_t k, bool renormalize,
                        Tensor* slot_out) {
    Tensor p = probs.detach().cpu().contiguous(), sc = scores.detach().cpu().to(p.scalar_type()).contiguous();
    int64_t n = p.size(0), s = p.size(1);
    Tensor slot = torch::empty({n * k}, torch::kLong), gate = torch::empty({n * k}, p.options());
    int64_t* sl = slot.data_ptr<int64_t>();
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "topk_gates", [&] {
      const scalar_t *pp = p.data_ptr<scalar_t>(), *sp = sc.data_ptr<scalar_t>();
      scalar_t* g = gate.data_ptr<scalar_t>();
      for (int64_t t = 0; t < n; ++t) {
        const scalar_t* row = sp + t * s;
        int64_t* pick = sl + t * k;
        scalar_t sum = 0;
        for (int64_t j = 0; j < k; ++j) {
          int64_t best = -1;
          for (int64_t e = 0; e < s; ++e) {
            if (std::find(pick, pick + j, e) != pick + j) continue;
            if (best < 0 || row[e] > row[best]) best = e;
          }
          pick[j] = best;
          g[t * k + j] = pp[t * s + best];
          sum += g[t * k + j];
        }
        if (renormalize)
          for (int64_t j = 0; j < k; ++j) g[t * k + j] /= sum;
      }
    });
    ctx->save_for_backward({p, slot, gate});
    ctx->saved_data["renormalize"] = renormalize;
    *slot_out = slot.to(probs.device());
    return gate.to(probs.device());
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx, torch::autograd::variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const Tensor &p = saved[0], &slot = saved[1], &gate = saved[2];
    bool renormalize = ctx->saved_data["renormalize"].toBool();
    Tensor dg = grads[0].cpu().to(p.scalar_type()).contiguous();
    int64_t n = p.size(0), s = p.size(1), k = slot.size(0) / std::max<int64_t>(n, 1);
    Tensor dp = torch::zeros_like(p);
    const int64_t* sl = slot.data_ptr<int64_t>();
    AT_DISPATCH_FLOATING_TYPES(p.scalar_type(), "topk_gates_backward", [&] {
      const scalar_t *pp = p.data_ptr<scalar_t>(), *g = gate.data_ptr<scalar_t>(), *d = dg.data_ptr<scalar_t>();
      scalar_t* out = dp.data_ptr<scalar_t>();
      for (int64_t t = 0; t < n; ++t) {
        // gate_j = p_j / sum over the k picked: d/dp_i = (dgate_i - sum_j dgate_j gate_j) / sum.
        scalar_t sum = 0, dot = 0;
        for (int64_t j = 0; j < k; ++j) sum += pp[t * s + sl[t * k + j]], dot += d[t * k + j] * g[t * k + j];
        for (int64_t j = 0; j < k; ++j)
          out[t * s + sl[t * k + j]] = renormalize ? (d[t * k + j] - dot) / sum : d[t * k + j];
      }
    });
    return {dp.to(grads[0].device()), Tensor(), Tensor(), Tensor(), Tensor()};
  }
};

// Every token's k best slots by `scores`, gated by `probs` (see TopkGates). Off the host path, the
// same as tensor ops on any device: topk + gather give TopkGates' gates, and autograd its backward.
Routing top_k(const Tensor& probs, const Tensor& scores, const MoeConfig& c, bool host) {
  int64_t n = probs.size(0), k = std::min(c.k, probs.size(1));
  Routing r;
  r.probs = probs;
  bool fp = probs.scalar_type() == at::kFloat || probs.scalar_type() == at::kDouble;  // not bf16 under autocast
  if (host && probs.is_cpu() && fp) {
    r.gate = TopkGates::apply(probs, scores, k, c.renormalize, &r.slot);
  } else {
    Tensor idx = std::get<1>(scores.topk(k, -1));
    Tensor gate = probs.gather(1, idx);
    if (c.renormalize) gate = gate / gate.sum(-1, true);
    r.slot = idx.reshape({-1});
    r.gate = gate.reshape({-1});
  }
  r.token = token_major(n, k, r.slot.options());
  return r;
}

}  // namespace

Tensor router_probs(const Tensor& logits, const MoeConfig& c) { return c.sigmoid ? torch::sigmoid(logits) : torch::softmax(logits, -1); }

Tensor limit_groups(const Tensor& scores, const MoeConfig& c) {
  if (c.groups <= 1 || !c.top_groups || c.top_groups >= c.groups) return scores;
  int64_t n = scores.size(0);
  Tensor g = scores.reshape({n, c.groups, -1});
  Tensor group_score = c.group_top2 ? std::get<0>(g.topk(2, -1)).sum(-1) : std::get<0>(g.max(-1));
  Tensor keep = torch::zeros_like(group_score, torch::kBool).scatter_(1, std::get<1>(group_score.topk(c.top_groups, -1)), true);
  return g.masked_fill(keep.logical_not().unsqueeze(-1), -std::numeric_limits<float>::infinity()).reshape({n, -1});
}

namespace {
// routed_scale multiplies the gates after renormalising (DeepSeek-V2/V3's routed_scaling_factor).
Routing scaled(Routing r, const MoeConfig& c) {
  if (c.routed_scale != 1) r.gate = r.gate * c.routed_scale;
  return r;
}
}  // namespace

Routing route_topk(const Tensor& logits, const MoeConfig& c, bool training, const Tensor& noise_logits, bool host) {
  Tensor z = logits;
  if (c.noisy && training && noise_logits.defined()) z = z + torch::randn_like(z) * torch::softplus(noise_logits);
  Tensor probs = router_probs(z, c);
  return scaled(top_k(probs, limit_groups(probs, c), c, host), c);
}

Routing route_aux_free(const Tensor& logits, const MoeConfig& c, const Tensor& bias, bool host) {
  // The bias only chooses (groups too, as DeepSeek-V3); the gates are the unbiased probabilities
  // (no gradient reaches bias).
  Tensor probs = router_probs(logits, c);
  return scaled(top_k(probs, limit_groups(probs.detach() + bias, c), c, host), c);
}

Routing route_expert_choice(const Tensor& logits, const MoeConfig& c) {
  Tensor probs = torch::softmax(logits, -1);
  int64_t n = probs.size(0), s = probs.size(1);
  int64_t cap = std::min<int64_t>(n, int64_t(std::ceil(double(n) * c.capacity_factor / double(s))));
  auto [vals, tok] = probs.topk(cap, 0);  // [cap, s]: each expert's best tokens
  Routing r;
  r.slot = torch::arange(s, tok.options()).repeat({cap});
  r.token = tok.reshape({-1});
  r.gate = vals.reshape({-1});
  r.probs = probs;
  r.max_per_slot = cap;
  return r;
}

Routing route_relu(const Tensor& logits, const MoeConfig& c, Tensor& l1_weight, bool training) {
  Tensor gates = torch::relu(logits);
  Tensor nz = (gates > 0).nonzero();  // row-major: token-major order
  Routing r;
  r.token = nz.select(1, 0).contiguous();
  r.slot = nz.select(1, 1).contiguous();
  r.gate = gates.index({r.token, r.slot});
  r.probs = torch::softmax(logits, -1);
  if (training) {
    r.losses.push_back(l1_weight.detach().clone() * gates.mean());  // a copy: lambda changes in place below
    // ReMoE: lambda <- lambda * a^sign(target - sparsity), steering sparsity toward its target.
    torch::NoGradGuard ng;
    double sparsity = 1.0 - double(nz.size(0)) / double(gates.numel());
    double dir = (c.relu_target > sparsity) - (c.relu_target < sparsity);
    l1_weight.mul_(std::pow(c.relu_step, dir));
  }
  return r;
}

Routing route_hash(int64_t tokens, int64_t positions, const MoeConfig& c, c10::Device device) {
  // Knuth's multiplicative hash of the position in the sequence; k consecutive experts from it.
  auto i64 = torch::TensorOptions(torch::kLong).device(device), f32 = torch::TensorOptions(torch::kFloat).device(device);
  Tensor pos = torch::arange(tokens, i64).remainder(positions);
  Tensor h = (pos * int64_t(2654435761)).remainder(int64_t(1) << 32).remainder(c.experts);
  int64_t k = std::min(c.k, c.experts);
  Tensor offs = torch::arange(k, i64);
  Routing r;
  r.slot = (h.unsqueeze(1) + offs.unsqueeze(0)).remainder(c.experts).reshape({-1});
  r.token = token_major(tokens, k, i64);
  r.gate = torch::full({tokens * k}, 1.0 / double(k), f32);
  r.probs = torch::zeros({tokens, c.slots()}, f32).scatter_(1, r.slot.reshape({tokens, k}), 1.0 / double(k));
  return r;
}

void add_z_loss(Routing& r, const Tensor& logits, const MoeConfig& c) {
  if (c.z_coef > 0 && logits.defined()) r.losses.push_back(c.z_coef * torch::logsumexp(logits, -1).pow(2).mean());
}

void add_balancing_losses(Routing& r, const Tensor& logits, const MoeConfig& c) {
  int64_t s = logits.size(1);
  if (c.aux_coef > 0 && r.slot.numel() > 0) {
    // Switch: alpha * S * sum_e f_e * P_e; f counts assignments (no gradient), P carries it.
    Tensor f = torch::bincount(r.slot, {}, s).to(r.probs.dtype()) / double(r.slot.numel());
    r.losses.push_back(c.aux_coef * double(s) * (f * r.probs.mean(0)).sum());
  }
  add_z_loss(r, logits, c);
}

// ---- the built-in routers behind the Router interface ---------------------------------------

void Router::add_linear_logits(const MoeConfig& c, torch::nn::Module& layer) {
  linear_ = layer.register_module("router", torch::nn::Linear(torch::nn::LinearOptions(c.d, c.slots()).bias(false)));
}

Tensor Router::logits(const Tensor& tokens, MoeFlow&) { return linear_ ? linear_(tokens) : Tensor(); }

void Router::torchscript_probs(detail::Script& w, const ScriptRouting& n, const MoeConfig& c) {
  std::string z = "torch.linear(" + n.tokens + ", " + w.self("router__weight") + ")";
  w.line(n.probs + " = " + (c.sigmoid ? "torch.sigmoid(" + z + ")" : "torch.softmax(" + z + ", -1)"));
}

void Router::torchscript_select(detail::Script& w, const ScriptRouting& n, const MoeConfig& c, const std::string& scores) {
  std::string sc = scores;
  if (c.groups > 1 && c.top_groups && c.top_groups < c.groups) {
    std::string g = w.fresh("grouped"), gs = w.fresh("group_score"), keep = w.fresh("keep");
    w.line(g + " = (" + scores + ").reshape([" + n.tokens + ".size(0), " + std::to_string(c.groups) + ", -1])");
    w.line(gs + " = " + (c.group_top2 ? g + ".topk(2, -1)[0].sum(-1)" : g + ".max(-1)[0]"));
    w.line(keep + " = torch.zeros_like(" + gs + ").scatter(1, " + gs + ".topk(" + std::to_string(c.top_groups) + ", -1)[1], 1.0) > 0");
    sc = g + ".masked_fill(" + keep + ".logical_not().unsqueeze(-1), float('-inf')).reshape([" + n.tokens + ".size(0), -1])";
  }
  w.line(n.idx + " = (" + sc + ").topk(" + std::to_string(n.k) + ", -1)[1]");
  w.line(n.gate + " = " + n.probs + ".gather(1, " + n.idx + ")");
}

namespace {

class TopKRouter : public Router {
 public:
  TopKRouter(MoeConfig c, torch::nn::Module& layer) : c_(std::move(c)) { add_linear_logits(c_, layer); }
  Routing route(const RouterInput& in) override {
    Routing r = route_topk(in.logits, c_, in.training, in.noise_logits, in.host);
    if (in.training) add_balancing_losses(r, in.logits, c_);
    return r;
  }
  // Inference has no noise: the k most probable slots (within the allowed groups).
  bool torchscript(detail::Script& w, const ScriptRouting& n) const override {
    torchscript_probs(w, n, c_);
    torchscript_select(w, n, c_, n.probs);
    return true;
  }

 private:
  MoeConfig c_;
};

// RMoE: top-k routing whose logits come from a GRU cell whose state flows from one MoE layer to
// the next within a forward pass.
class RecurrentRouter : public Router {
 public:
  RecurrentRouter(MoeConfig c, torch::nn::Module& layer) : c_(std::move(c)) {
    int64_t h = c_.router_hidden ? c_.router_hidden : c_.d;
    cell_ = layer.register_module("router_cell", torch::nn::GRUCell(c_.d, h));
    out_ = layer.register_module("router", torch::nn::Linear(torch::nn::LinearOptions(h, c_.slots()).bias(false)));
  }
  Tensor logits(const Tensor& tokens, MoeFlow& flow) override {
    int64_t n = tokens.size(0);
    Tensor h0 = flow.router_h.defined() && flow.router_h.size(0) == n ? flow.router_h
                                                                       : torch::zeros({n, cell_->options.hidden_size()}, tokens.options());
    flow.router_h = cell_(tokens, h0);
    return out_(flow.router_h);
  }
  Routing route(const RouterInput& in) override {
    Routing r = route_topk(in.logits, c_, in.training, in.noise_logits, in.host);
    if (in.training) add_balancing_losses(r, in.logits, c_);
    return r;
  }

 private:
  MoeConfig c_;
  torch::nn::GRUCell cell_{nullptr};
  torch::nn::Linear out_{nullptr};
};

class AuxFreeRouter : public Router {
 public:
  AuxFreeRouter(MoeConfig c, torch::nn::Module& layer) : c_(std::move(c)) {
    add_linear_logits(c_, layer);
    bias_ = layer.register_buffer("selection_bias", torch::zeros({c_.slots()}));
  }
  Routing route(const RouterInput& in) override {
    Routing r = route_aux_free(in.logits, c_, bias_, in.host);
    if (in.training) add_z_loss(r, in.logits, c_);
    return r;
  }
  // The selection bias chooses the experts; the gates are the unbiased probabilities.
  bool torchscript(detail::Script& w, const ScriptRouting& n) const override {
    torchscript_probs(w, n, c_);
    torchscript_select(w, n, c_, n.probs + " + " + w.self("selection_bias"));
    return true;
  }
  // After each step: b_e += u * sign(mean load - load_e), over the FFN experts.
  void observe_load(const Tensor& kept_per_slot) override {
    Tensor ffn = kept_per_slot.narrow(0, 0, c_.experts).to(torch::kFloat);
    bias_.narrow(0, 0, c_.experts).add_(c_.bias_rate * (ffn.mean() - ffn).sign());
  }

 private:
  MoeConfig c_;
  Tensor bias_;  // chooses experts only: no gradient reaches it
};

class ExpertChoiceRouter : public Router {
 public:
  ExpertChoiceRouter(MoeConfig c, torch::nn::Module& layer) : c_(std::move(c)) { add_linear_logits(c_, layer); }
  Routing route(const RouterInput& in) override {
    Routing r = route_expert_choice(in.logits, c_);
    if (in.training) add_z_loss(r, in.logits, c_);
    return r;
  }
  bool limited_by_capacity() const override { return false; }

 private:
  MoeConfig c_;
};

class ReluRouter : public Router {
 public:
  ReluRouter(MoeConfig c, torch::nn::Module& layer) : c_(std::move(c)) {
    add_linear_logits(c_, layer);
    l1_ = layer.register_buffer("l1_weight", torch::full({}, 1e-2));
  }
  Routing route(const RouterInput& in) override {
    Routing r = route_relu(in.logits, c_, l1_, in.training);
    if (in.training) add_z_loss(r, in.logits, c_);
    return r;
  }

 private:
  MoeConfig c_;
  Tensor l1_;  // the adaptive L1 weight lambda
};

class HashRouter : public Router {
 public:
  explicit HashRouter(MoeConfig c) : c_(std::move(c)) {}
  Routing route(const RouterInput& in) override { return route_hash(in.tokens, in.positions, c_, in.device); }

 private:
  MoeConfig c_;
};

const std::map<std::string, RouterFactory>& builtin_routers() {
  static const std::map<std::string, RouterFactory> r = {
      {"topk", [](const MoeConfig& c, torch::nn::Module& l) { return std::make_unique<TopKRouter>(c, l); }},
      {"recurrent", [](const MoeConfig& c, torch::nn::Module& l) { return std::make_unique<RecurrentRouter>(c, l); }},
      {"aux_free", [](const MoeConfig& c, torch::nn::Module& l) { return std::make_unique<AuxFreeRouter>(c, l); }},
      {"expert_choice", [](const MoeConfig& c, torch::nn::Module& l) { return std::make_unique<ExpertChoiceRouter>(c, l); }},
      {"relu", [](const MoeConfig& c, torch::nn::Module& l) { return std::make_unique<ReluRouter>(c, l); }},
      {"hash", [](const MoeConfig& c, torch::nn::Module&) { return std::make_unique<HashRouter>(c); }},
  };
  return r;
}

// Added routers belong to the thread that added them: a Lua router runs in its Lua state, and a
// Lua state must never be entered from another thread (a search worker has its own).
std::map<std::string, RouterFactory>& thread_routers() {
  thread_local std::map<std::string, RouterFactory> r;
  return r;
}

}  // namespace

std::unique_ptr<Router> make_router(const MoeConfig& c, torch::nn::Module& layer) {
  auto& builtin = builtin_routers();
  if (auto it = builtin.find(c.router); it != builtin.end()) return it->second(c, layer);
  auto& added = thread_routers();
  if (auto it = added.find(c.router); it != added.end()) return it->second(c, layer);
  throw std::invalid_argument("MoE `" + c.name + "`: no router of kind `" + c.router + "`");
}

void register_router(const std::string& kind, RouterFactory make) { thread_routers()[kind] = std::move(make); }

// On the host, in one pass per input: telemetry runs every training step by default, and as tensor
// calls it was ~30 small calls and a dozen reads back, 10-15 % of a small MoE model's step.
events::ExpertLoad measure_load(const MoeConfig& c, const Routing& r, const Tensor& kept, int64_t tokens, const MoeFlow& flow) {
  torch::NoGradGuard ng;
  int64_t s = c.slots();
  events::ExpertLoad e;
  e.layer = c.name;
  e.step = flow.step;
  e.tokens = tokens;
  e.before.assign(size_t(s), 0), e.after.assign(size_t(s), 0), e.mean_gate.assign(size_t(s), 0.0);
  Tensor slot = r.slot.to(torch::kCPU, torch::kLong).contiguous(), keep = kept.to(torch::kCPU, torch::kBool).contiguous();
  Tensor gate = r.gate.detach().to(torch::kCPU, torch::kDouble).contiguous();
  const int64_t* sp = slot.data_ptr<int64_t>();
  const bool* kp = keep.data_ptr<bool>();
  const double* gp = gate.data_ptr<double>();
  int64_t kept_count = 0;
  for (int64_t i = 0; i < slot.numel(); ++i) {
    size_t j = size_t(sp[i]);
    e.before[j]++;
    if (!kp[i]) continue;
    e.after[j]++, e.mean_gate[j] += gp[i], kept_count++;
  }
  e.dropped = slot.numel() - kept_count;
  for (int64_t j = 0; j < s; ++j) e.mean_gate[size_t(j)] /= double(std::max<int64_t>(e.after[size_t(j)], 1));

  // Entropy and the top-1 slot per token from the router's probabilities.
  std::vector<int64_t> top1;
  if (r.probs.defined() && r.probs.numel()) {
    Tensor p = r.probs.detach().to(torch::kCPU, torch::kDouble).contiguous();
    int64_t n = p.size(0), w = p.size(1);
    const double* pp = p.data_ptr<double>();
    top1.resize(size_t(n));
    double total = 0;
    for (int64_t t = 0; t < n; ++t) {
      const double* row = pp + t * w;
      int64_t best = 0;
      for (int64_t j = 0; j < w; ++j) {
        double q = std::max(row[j], 1e-12);
        total -= q * std::log(q);
        if (row[j] > row[best]) best = j;
      }
      top1[size_t(t)] = best;
    }
    e.entropy = n ? total / double(n) : 0;
  }
  double mean = 0, var = 0, most = 0;
  for (int64_t j = 0; j < c.experts; ++j) mean += double(e.after[size_t(j)]), most = std::max(most, double(e.after[size_t(j)]));
  mean /= double(std::max<int64_t>(c.experts, 1));
  for (int64_t j = 0; j < c.experts; ++j) var += (double(e.after[size_t(j)]) - mean) * (double(e.after[size_t(j)]) - mean);
  if (mean > 0) {
    e.load_cv = std::sqrt(var / double(c.experts)) / mean;
    e.max_vio = (most - mean) / mean;
  }
  e.active_per_token = tokens ? double(kept_count) / double(tokens) : 0;
  if (flow.prev_top1.defined() && flow.prev_top1.size(0) == tokens && int64_t(top1.size()) == tokens) {
    int64_t ps = flow.prev_logits.defined() ? flow.prev_logits.size(1) : s;
    Tensor prev = flow.prev_top1.to(torch::kCPU, torch::kLong).contiguous();
    const int64_t* pv = prev.data_ptr<int64_t>();
    e.previous_layer = flow.prev_layer;
    e.transitions.assign(size_t(ps * s), 0);
    for (int64_t t = 0; t < tokens; ++t) e.transitions[size_t(pv[t] * s + top1[size_t(t)])]++;
  }
  return e;
}

MoeLayer::MoeLayer(MoeConfig c, std::vector<std::shared_ptr<torch::nn::Module>> experts, std::vector<Expert> run,
                   std::vector<std::shared_ptr<torch::nn::Module>> shared, std::vector<Expert> run_shared)
    : c_(std::move(c)), run_(std::move(run)), run_shared_(std::move(run_shared)) {
  int64_t s = c_.slots(), d = c_.d;
  using torch::nn::LinearOptions;
  // The router first: it registers its own logits' parameters, drawn from the seed before the rest.
  rule_ = make_router(c_, *this);
  if (c_.noisy) noise_ = register_module("noise", torch::nn::Linear(LinearOptions(d, s).bias(false)));
  if (c_.gating_residual) residual_ = register_module("gating_residual", torch::nn::Linear(LinearOptions(s, s).bias(false)));
  if (c_.shared_gate && !shared.empty()) shared_gate_ = register_module("shared_gate", torch::nn::Linear(LinearOptions(d, 1).bias(false)));
  if (c_.constant) {
    const_v_ = register_parameter("constant_vectors", torch::zeros({c_.constant, d}));
    const_mix_ = register_module("constant_mix", torch::nn::Linear(LinearOptions(d, 2 * c_.constant).bias(false)));
  }
  for (size_t e = 0; e < experts.size(); ++e) register_module("expert" + std::to_string(e), experts[e]);
  for (size_t e = 0; e < shared.size(); ++e) register_module("shared" + std::to_string(e), shared[e]);
}

// Experts were compiled for the MoE input's type, so they get tokens with that rank: [n, 1, ..., 1, d].
Tensor MoeLayer::as_input(const Tensor& t, int64_t rank) const {
  std::vector<int64_t> shape(size_t(rank), 1);
  shape.front() = t.size(0);
  shape.back() = t.size(-1);
  return t.reshape(shape);
}

Tensor MoeLayer::forward(const Tensor& x, MoeFlow& flow, std::vector<Tensor>* losses) {
  const MoeConfig& c = c_;
  int64_t d = x.size(-1), s = c.slots();
  Tensor tokens = x.reshape({-1, d});
  int64_t n = tokens.size(0);
  bool training = is_training();
  // The host path reads fp32 host memory; bf16 activations (autocast) take the tensor path.
  bool host = path_ == MoePath::host || (path_ == MoePath::automatic && x.is_cpu() && x.scalar_type() == at::kFloat);
  if (host && !x.is_cpu())
    throw std::invalid_argument("MoE `" + c.name + "`: the host path needs CPU tensors; these are on " + x.device().str());

  Tensor logits = rule_->logits(tokens, flow);
  if (residual_ && logits.defined() && flow.prev_logits.defined() && flow.prev_logits.size(0) == n && flow.prev_logits.size(1) == s)
    logits = logits + residual_(flow.prev_logits);

  RouterInput in;
  in.logits = logits;
  in.noise_logits = noise_ ? noise_(tokens) : Tensor();
  in.tokens = n;
  in.positions = x.dim() >= 3 ? x.size(-2) : 1;
  in.training = training;
  in.host = host;
  in.device = x.device();
  Routing r = rule_->route(in);

  // Expert choice fixes every expert's load by construction, and dropless never drops: only
  // token choice with a finite capacity drops assignments.
  bool limited = rule_->limited_by_capacity() && !c.dropless;
  int64_t capacity = limited ? moe_capacity(c, n) : -1;
  Tensor kept, per_slot;
  Tensor out = host ? dispatch_host(tokens, r, capacity, x.dim(), kept, per_slot) : dispatch_tensor(tokens, r, capacity, x.dim(), kept, per_slot);
  if (!run_shared_.empty()) {
    Tensor always = run_shared_[0](as_input(tokens, x.dim())).reshape({n, d});
    for (size_t e = 1; e < run_shared_.size(); ++e) always = always + run_shared_[e](as_input(tokens, x.dim())).reshape({n, d});
    out = out + (shared_gate_ ? always * torch::sigmoid(shared_gate_(tokens)) : always);
  }

  if (training) {
    if (losses)
      for (auto& l : r.losses) losses->push_back(l);
    if (flow.telemetry)
      flow.telemetry->push_back(measure_load(c, r, kept, n, flow));
    torch::NoGradGuard ng;
    if (detail::Collectives* g = detail::training_group()) {
      // Data parallel: state that follows the load (the aux-loss-free bias) must see the global
      // batch's load, so that it stays the same on every rank and equals one process's.
      std::vector<Tensor> v{per_slot.contiguous()};
      g->all_reduce_sum(v, "the MoE load's all-reduce");
      per_slot = v[0];
    }
    rule_->observe_load(per_slot);
  }
  // Only telemetry reads the top-1 expert (the next layer's transition counts).
  if (r.probs.defined() && flow.telemetry) flow.prev_top1 = r.probs.detach().argmax(-1);
  if (logits.defined()) flow.prev_logits = logits;
  flow.prev_layer = c.name;
  return out.reshape(x.sizes());
}

Tensor MoeLayer::dispatch_host(const Tensor& tokens, const Routing& r, int64_t capacity, int64_t rank, Tensor& kept, Tensor& per_slot) {
  const MoeConfig& c = c_;
  int64_t d = tokens.size(1), s = c.slots(), n = tokens.size(0);
  Dispatch plan = plan_dispatch(r.slot, s, c.experts, capacity);
  Tensor token = r.token.index_select(0, plan.order), gate = r.gate.index_select(0, plan.order);
  const std::vector<int64_t>& counts = plan.counts;
  kept = plan.kept;
  per_slot = torch::tensor(counts, torch::kLong);

  Tensor out;
  int64_t start = 0, first = 0;
  if (grouped_) {
    std::vector<int64_t> ffn(counts.begin(), counts.begin() + c.experts);
    for (int64_t cnt : ffn) start += cnt;
    // Whole tensors when every assignment is an FFN expert's: a narrowed gate costs a slice
    // backward (a zero fill and a copy) per step.
    bool all = start == token.size(0);
    if (start > 0)
      out = run_grouped_ffn(*grouped_, tokens, all ? token : token.narrow(0, 0, start), all ? gate : gate.narrow(0, 0, start), ffn);
    first = c.experts;
  }
  if (!out.defined()) out = torch::zeros_like(tokens);
  // One gather of every other assignment's token, grouped by slot; each slot reads a slice of it.
  // Gathering per expert instead would cost one [n, d] gradient buffer per expert in backward.
  int64_t base = start;
  Tensor grouped = base < token.size(0) ? tokens.index_select(0, token.narrow(0, base, token.size(0) - base)) : Tensor();
  Tensor mix = c.constant && n ? torch::softmax(const_mix_(tokens).reshape({n, c.constant, 2}), -1) : Tensor();
  for (int64_t e = first; e < s; ++e) {
    int64_t cnt = counts[size_t(e)];
    if (cnt == 0) continue;
    Tensor ti = token.narrow(0, start, cnt), g = gate.narrow(0, start, cnt).unsqueeze(1), xe = grouped.narrow(0, start - base, cnt);
    start += cnt;
    if (e < c.experts) {
      Tensor y = run_[size_t(e)](as_input(xe, rank)).reshape({cnt, d});
      out.index_add_(0, ti, y * g);
    } else if (e < c.experts + c.zero) {
      // zero expert: the token is dropped from this layer (the residual carries it)
    } else if (e < c.experts + c.zero + c.copy) {
      out.index_add_(0, ti, xe * g);
    } else {
      int64_t j = e - c.experts - c.zero - c.copy;
      Tensor a = mix.index_select(0, ti).select(1, j);  // [cnt, 2]
      Tensor y = a.select(1, 0).unsqueeze(1) * xe + a.select(1, 1).unsqueeze(1) * const_v_[j];
      out.index_add_(0, ti, y * g);
    }
  }
  return out;
}

// Every step stays on the device: with a capacity no count comes back to the host, so nothing
// waits for the device mid-layer. The price is padding: each FFN expert computes `capacity` rows
// whatever its load (capacity factor x its fair share), and the assignments add their results in
// assignment order, not slot by slot (sums agree to rounding).
Tensor MoeLayer::dispatch_tensor(const Tensor& tokens, const Routing& r, int64_t capacity, int64_t rank, Tensor& kept, Tensor& per_slot) {
  const MoeConfig& c = c_;
  int64_t d = tokens.size(1), n = tokens.size(0), e_count = c.experts;
  TensorDispatch plan = plan_dispatch_tensor(r.slot, c.slots(), e_count, capacity >= 0 ? std::min(capacity, n) : -1);
  kept = plan.kept;
  per_slot = plan.per_slot;
  // The padded buffers' rows per expert: the capacity, or the router's own bound (expert choice).
  // Without either (dropless), the busiest expert's load: the one value this path reads back, as
  // padding every expert to all n tokens would cost E / k times the work.
  int64_t cap = capacity >= 0 ? std::min(capacity, n)
                : r.max_per_slot >= 0 ? r.max_per_slot
                : e_count > 0 ? per_slot.narrow(0, 0, e_count).max().item<int64_t>() : 0;
  const Tensor &slot = r.slot, &token = r.token, &gate = r.gate;
  Tensor xin = tokens.index_select(0, token);  // [M, d]
  Tensor ffn = kept & slot.lt(e_count);
  Tensor contrib;
  if (e_count > 0 && cap > 0) {
    // Kept FFN assignments go to row slot * cap + pos of the padded buffer; the rest to one spare
    // row past the end, which is dropped (so gets no gradient).
    int64_t rows = e_count * cap;
    Tensor dest = torch::where(ffn, slot * cap + plan.pos, torch::full_like(slot, rows));
    Tensor buf = torch::zeros({rows + 1, d}, tokens.options()).index_add(0, dest, xin);
    Tensor xe = buf.narrow(0, 0, rows).view({e_count, cap, d});
    Tensor ye;
    if (grouped_) {
      ye = run_padded_ffn(*grouped_, xe);
    } else {
      std::vector<Tensor> ys;
      for (int64_t e = 0; e < e_count; ++e) ys.push_back(run_[size_t(e)](as_input(xe.select(0, e), rank)).reshape({cap, d}));
      ye = torch::stack(ys);
    }
    Tensor yflat = torch::cat({ye.reshape({rows, d}), torch::zeros({1, d}, ye.options())});
    contrib = yflat.index_select(0, dest) * (gate * ffn.to(gate.scalar_type())).unsqueeze(1);
  } else {
    contrib = torch::zeros_like(xin);
  }
  int64_t copy0 = e_count + c.zero, const0 = copy0 + c.copy;
  if (c.copy) {
    Tensor is_copy = slot.ge(copy0) & slot.lt(const0);
    contrib = contrib + xin * (gate * is_copy.to(gate.scalar_type())).unsqueeze(1);
  }
  if (c.constant && n) {
    Tensor mix = torch::softmax(const_mix_(tokens).reshape({n, c.constant, 2}), -1);
    Tensor is_const = slot.ge(const0);
    Tensor j = (slot - const0).clamp_min(0);
    Tensor a = mix.index({token, j});  // [M, 2]
    Tensor y = a.select(1, 0).unsqueeze(1) * xin + a.select(1, 1).unsqueeze(1) * const_v_.index_select(0, j);
    contrib = contrib + y * (gate * is_const.to(gate.scalar_type())).unsqueeze(1);
  }
  return torch::zeros({n, d}, contrib.options()).index_add(0, token, contrib);
}

}  // namespace engine
