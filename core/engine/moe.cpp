#include "moe.h"

#include <cmath>
#include <map>
#include <stdexcept>

namespace engine {

using at::Tensor;

int64_t moe_capacity(const MoeConfig& c, int64_t tokens) {
  if (c.dropless) return tokens * std::max<int64_t>(c.k, 1);
  return int64_t(std::ceil(c.capacity_factor * double(c.k * tokens) / double(c.experts)));
}

// Rank of each assignment within its slot, in assignment order (token-major, so earlier tokens
// win a full expert), computed with one stable sort instead of a loop over assignments.
Tensor apply_capacity(const Tensor& slot, int64_t slots, int64_t ffn_experts, int64_t capacity) {
  int64_t m = slot.size(0);
  if (m == 0) return torch::zeros({0}, slot.options().dtype(torch::kBool));
  Tensor order = std::get<1>(slot.sort(/*stable=*/true, 0, false));
  Tensor counts = torch::bincount(slot, {}, slots);
  Tensor starts = counts.cumsum(0) - counts;
  Tensor rank_sorted = torch::arange(m, slot.options()) - starts.index_select(0, slot.index_select(0, order));
  Tensor rank = torch::empty_like(rank_sorted).index_put_({order}, rank_sorted);
  return (rank < capacity).logical_or(slot >= ffn_experts);
}

static Routing from_topk(const Tensor& probs, const Tensor& idx, const MoeConfig& c) {
  Routing r;
  Tensor gate = probs.gather(1, idx);
  if (c.renormalize) gate = gate / gate.sum(-1, true);
  int64_t n = probs.size(0), k = idx.size(1);
  r.slot = idx.reshape({-1});
  r.token = torch::arange(n, idx.options()).repeat_interleave(k);
  r.gate = gate.reshape({-1});
  r.probs = probs;
  return r;
}

Routing route_topk(const Tensor& logits, const MoeConfig& c, bool training, const Tensor& noise_logits) {
  Tensor z = logits;
  if (c.noisy && training && noise_logits.defined()) z = z + torch::randn_like(z) * torch::softplus(noise_logits);
  Tensor probs = torch::softmax(z, -1);
  return from_topk(probs, std::get<1>(probs.topk(std::min(c.k, probs.size(1)), -1)), c);
}

Routing route_aux_free(const Tensor& logits, const MoeConfig& c, const Tensor& bias) {
  // The bias only chooses; the gates are the unbiased probabilities (no gradient reaches bias).
  Tensor probs = torch::softmax(logits, -1);
  return from_topk(probs, std::get<1>((probs.detach() + bias).topk(std::min(c.k, probs.size(1)), -1)), c);
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
    r.losses.push_back(l1_weight.item<double>() * gates.mean());  // a value: lambda changes in place below
    // ReMoE: lambda <- lambda * a^sign(target - sparsity), steering sparsity toward its target.
    torch::NoGradGuard ng;
    double sparsity = 1.0 - double(nz.size(0)) / double(gates.numel());
    double dir = (c.relu_target > sparsity) - (c.relu_target < sparsity);
    l1_weight.mul_(std::pow(c.relu_step, dir));
  }
  return r;
}

Routing route_hash(int64_t tokens, int64_t positions, const MoeConfig& c) {
  // Knuth's multiplicative hash of the position in the sequence; k consecutive experts from it.
  Tensor pos = torch::arange(tokens, torch::kLong).remainder(positions);
  Tensor h = (pos * int64_t(2654435761)).remainder(int64_t(1) << 32).remainder(c.experts);
  int64_t k = std::min(c.k, c.experts);
  Tensor offs = torch::arange(k, torch::kLong);
  Routing r;
  r.slot = (h.unsqueeze(1) + offs.unsqueeze(0)).remainder(c.experts).reshape({-1});
  r.token = torch::arange(tokens, torch::kLong).repeat_interleave(k);
  r.gate = torch::full({tokens * k}, 1.0 / double(k));
  r.probs = torch::zeros({tokens, c.slots()}).scatter_(1, r.slot.reshape({tokens, k}), 1.0 / double(k));
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

namespace {

class TopKRouter : public Router {
 public:
  explicit TopKRouter(MoeConfig c) : c_(std::move(c)) {}
  Routing route(const RouterInput& in) override {
    Routing r = route_topk(in.logits, c_, in.training, in.noise_logits);
    if (in.training) add_balancing_losses(r, in.logits, c_);
    return r;
  }

 private:
  MoeConfig c_;
};

class AuxFreeRouter : public Router {
 public:
  AuxFreeRouter(MoeConfig c, torch::nn::Module& layer) : c_(std::move(c)) {
    bias_ = layer.register_buffer("selection_bias", torch::zeros({c_.slots()}));
  }
  Routing route(const RouterInput& in) override {
    Routing r = route_aux_free(in.logits, c_, bias_);
    if (in.training) add_z_loss(r, in.logits, c_);
    return r;
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
  explicit ExpertChoiceRouter(MoeConfig c) : c_(std::move(c)) {}
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
  Routing route(const RouterInput& in) override { return route_hash(in.tokens, in.positions, c_); }

 private:
  MoeConfig c_;
};

const std::map<std::string, RouterFactory>& builtin_routers() {
  static const std::map<std::string, RouterFactory> r = {
      {"topk", [](const MoeConfig& c, torch::nn::Module&) { return std::make_unique<TopKRouter>(c); }},
      // The recurrent router differs only in where its logits come from (a GRU cell in MoeLayer).
      {"recurrent", [](const MoeConfig& c, torch::nn::Module&) { return std::make_unique<TopKRouter>(c); }},
      {"aux_free", [](const MoeConfig& c, torch::nn::Module& l) { return std::make_unique<AuxFreeRouter>(c, l); }},
      {"expert_choice", [](const MoeConfig& c, torch::nn::Module&) { return std::make_unique<ExpertChoiceRouter>(c); }},
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

static std::vector<int64_t> to_vec(const Tensor& t) {
  Tensor c = t.to(torch::kLong).contiguous();
  return std::vector<int64_t>(c.data_ptr<int64_t>(), c.data_ptr<int64_t>() + c.numel());
}

events::ExpertLoad measure_load(const MoeConfig& c, const Routing& r, const Tensor& kept, int64_t tokens, const MoeFlow& flow) {
  torch::NoGradGuard ng;
  int64_t s = c.slots();
  events::ExpertLoad e;
  e.layer = c.name;
  e.step = flow.step;
  e.tokens = tokens;
  e.before = to_vec(torch::bincount(r.slot, {}, s));
  Tensor kept_slot = r.slot.masked_select(kept);
  Tensor after = torch::bincount(kept_slot, {}, s);
  e.after = to_vec(after);
  e.dropped = r.slot.numel() - kept_slot.numel();
  Tensor gsum = torch::zeros({s}).index_add_(0, kept_slot, r.gate.detach().masked_select(kept).to(torch::kFloat));
  Tensor mean_gate = gsum / after.clamp_min(1).to(torch::kFloat);
  for (int64_t j = 0; j < s; ++j) e.mean_gate.push_back(mean_gate[j].item<double>());
  Tensor p = r.probs.detach().clamp_min(1e-12);
  e.entropy = -(p * p.log()).sum(-1).mean().item<double>();
  Tensor load = after.narrow(0, 0, c.experts).to(torch::kDouble);
  double mean = load.mean().item<double>();
  if (mean > 0) {
    e.load_cv = load.std(/*unbiased=*/false).item<double>() / mean;
    e.max_vio = (load.max().item<double>() - mean) / mean;
  }
  e.active_per_token = tokens ? double(kept_slot.numel()) / double(tokens) : 0;
  if (flow.prev_top1.defined() && flow.prev_top1.size(0) == tokens) {
    int64_t ps = flow.prev_logits.defined() ? flow.prev_logits.size(1) : s;
    Tensor top1 = r.probs.argmax(-1);
    e.previous_layer = flow.prev_layer;
    e.transitions = to_vec(torch::bincount(flow.prev_top1 * s + top1, {}, ps * s));
  }
  return e;
}

MoeLayer::MoeLayer(MoeConfig c, std::vector<std::shared_ptr<torch::nn::Module>> experts, std::vector<Expert> run,
                   std::vector<std::shared_ptr<torch::nn::Module>> shared, std::vector<Expert> run_shared)
    : c_(std::move(c)), run_(std::move(run)), run_shared_(std::move(run_shared)) {
  int64_t s = c_.slots(), d = c_.d;
  using torch::nn::LinearOptions;
  if (c_.router == "recurrent") {
    int64_t h = c_.router_hidden ? c_.router_hidden : d;
    cell_ = register_module("router_cell", torch::nn::GRUCell(d, h));
    cell_out_ = register_module("router", torch::nn::Linear(LinearOptions(h, s).bias(false)));
  } else if (c_.router != "hash") {
    router_ = register_module("router", torch::nn::Linear(LinearOptions(d, s).bias(false)));
  }
  if (c_.noisy) noise_ = register_module("noise", torch::nn::Linear(LinearOptions(d, s).bias(false)));
  if (c_.gating_residual) residual_ = register_module("gating_residual", torch::nn::Linear(LinearOptions(s, s).bias(false)));
  rule_ = make_router(c_, *this);
  if (c_.constant) {
    const_v_ = register_parameter("constant_vectors", torch::zeros({c_.constant, d}));
    const_mix_ = register_module("constant_mix", torch::nn::Linear(LinearOptions(d, 2 * c_.constant).bias(false)));
  }
  for (size_t e = 0; e < experts.size(); ++e) register_module("expert" + std::to_string(e), experts[e]);
  for (size_t e = 0; e < shared.size(); ++e) register_module("shared" + std::to_string(e), shared[e]);
}

// Rows of `grouped` (assignments sorted by slot, FFN experts first) go to a zero-padded
// [E, C, d] block, C the fullest expert's count; two baddbmm calls run every expert at once.
bool MoeLayer::run_grouped(const Tensor& grouped, const Tensor& token, const Tensor& gate, const std::vector<int64_t>& counts, Tensor& out) {
  const GroupedFfn& f = *grouped_;
  int64_t e_count = c_.experts, d = grouped.size(1), h = f.w1[0].size(0);
  int64_t rows = 0, fullest = 0;
  for (int64_t e = 0; e < e_count; ++e) rows += counts[size_t(e)], fullest = std::max(fullest, counts[size_t(e)]);
  if (rows == 0) return true;
  // Padding costs ~12 d h FLOPs per padded row (forward + backward of two products); one call
  // chain per expert costs about 0.1 ms, ~1e7 FLOPs here. Batch when the padding is cheaper.
  double padding = double(e_count * fullest - rows) * 12.0 * double(d) * double(h);
  if (!f.always && padding > 1e7 * double(e_count - 1)) return false;

  std::vector<int64_t> dest(static_cast<size_t>(rows));
  for (int64_t e = 0, i = 0; e < e_count; ++e)
    for (int64_t r = 0; r < counts[size_t(e)]; ++r) dest[size_t(i++)] = e * fullest + r;
  Tensor where = torch::tensor(dest, torch::kLong);
  Tensor x = grouped.narrow(0, 0, rows);
  Tensor padded = torch::zeros({e_count * fullest, d}, x.options()).index_copy(0, where, x).view({e_count, fullest, d});
  auto stack_bias = [&](const std::vector<Tensor>& b, int64_t n) {
    return b[0].defined() ? torch::stack(b).unsqueeze(1) : torch::zeros({e_count, 1, n}, x.options());
  };
  Tensor hid = torch::baddbmm(stack_bias(f.b1, h), padded, torch::stack(f.w1).transpose(1, 2));
  hid = f.activation == "gelu" ? gelu_fixed_backward(hid) : f.activation == "silu" ? torch::silu(hid) : torch::relu(hid);
  Tensor y = torch::baddbmm(stack_bias(f.b2, d), hid, torch::stack(f.w2).transpose(1, 2));
  y = y.view({e_count * fullest, d}).index_select(0, where);
  out.index_add_(0, token.narrow(0, 0, rows), y * gate.narrow(0, 0, rows).unsqueeze(1));
  return true;
}

Tensor MoeLayer::forward(const Tensor& x, MoeFlow& flow, std::vector<Tensor>* losses) {
  const MoeConfig& c = c_;
  int64_t d = x.size(-1), s = c.slots();
  Tensor tokens = x.reshape({-1, d});
  int64_t n = tokens.size(0);
  bool training = is_training();

  Tensor logits;
  if (c.router == "recurrent") {
    Tensor h0 = flow.router_h.defined() && flow.router_h.size(0) == n ? flow.router_h
                                                                       : torch::zeros({n, cell_->options.hidden_size()}, tokens.options());
    Tensor h = cell_(tokens, h0);
    flow.router_h = h;
    logits = cell_out_(h);
  } else if (c.router != "hash") {
    logits = router_(tokens);
  }
  if (residual_ && logits.defined() && flow.prev_logits.defined() && flow.prev_logits.size(0) == n && flow.prev_logits.size(1) == s)
    logits = logits + residual_(flow.prev_logits);

  RouterInput in;
  in.logits = logits;
  in.noise_logits = noise_ ? noise_(tokens) : Tensor();
  in.tokens = n;
  in.positions = x.dim() >= 3 ? x.size(-2) : 1;
  in.training = training;
  Routing r = rule_->route(in);

  // Expert choice fixes every expert's load by construction; token choice is limited here.
  // Expert choice fixes every expert's load by construction, and dropless never drops: only
  // token choice with a finite capacity needs the capacity pass.
  bool limited = rule_->limited_by_capacity() && !c.dropless;
  Tensor kept = limited ? apply_capacity(r.slot, s, c.experts, moe_capacity(c, n)) : Tensor();
  Tensor slot = r.slot, token = r.token, gate = r.gate;
  if (limited) slot = slot.masked_select(kept), token = token.masked_select(kept), gate = gate.masked_select(kept);
  Tensor order = std::get<1>(slot.sort(/*stable=*/true, 0, false));
  slot = slot.index_select(0, order), token = token.index_select(0, order), gate = gate.index_select(0, order);
  std::vector<int64_t> counts = to_vec(torch::bincount(slot, {}, s));

  // Experts were compiled for the MoE input's type, so they get tokens with that rank:
  // [n, 1, ..., 1, d].
  auto as_input = [&](const Tensor& t) {
    std::vector<int64_t> shape(size_t(x.dim()), 1);
    shape.front() = t.size(0);
    shape.back() = d;
    return t.reshape(shape);
  };
  // One gather of every assignment's token, grouped by slot; each expert reads a slice of it.
  // Gathering per expert instead would cost one [n, d] gradient buffer per expert in backward.
  Tensor grouped = tokens.index_select(0, token);
  Tensor out = torch::zeros_like(tokens);
  Tensor mix = c.constant && n ? torch::softmax(const_mix_(tokens).reshape({n, c.constant, 2}), -1) : Tensor();
  int64_t start = 0, first = 0;
  if (grouped_ && run_grouped(grouped, token, gate, counts, out)) first = c.experts;
  for (int64_t e = 0; e < first; ++e) start += counts[size_t(e)];
  for (int64_t e = first; e < s; ++e) {
    int64_t cnt = counts[size_t(e)];
    if (cnt == 0) continue;
    Tensor ti = token.narrow(0, start, cnt), g = gate.narrow(0, start, cnt).unsqueeze(1), xe = grouped.narrow(0, start, cnt);
    start += cnt;
    if (e < c.experts) {
      Tensor y = run_[size_t(e)](as_input(xe)).reshape({cnt, d});
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
  for (auto& sh : run_shared_) out = out + sh(as_input(tokens)).reshape({n, d});

  if (training) {
    if (losses)
      for (auto& l : r.losses) losses->push_back(l);
    if (flow.telemetry)
      flow.telemetry->push_back(measure_load(c, r, kept.defined() ? kept : torch::ones({r.slot.numel()}, torch::kBool), n, flow));
    torch::NoGradGuard ng;
    rule_->observe_load(torch::bincount(slot, {}, s));
  }
  if (r.probs.defined()) flow.prev_top1 = r.probs.detach().argmax(-1);
  if (logits.defined()) flow.prev_logits = logits;
  flow.prev_layer = c.name;
  return out.reshape(x.sizes());
}

}  // namespace engine
