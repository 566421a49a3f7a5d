// Internal to core/engine: what the sequence ops' lowerings (ops_sequence.cpp, ops_mixers.cpp)
// share. Each computes over [B, T, d]: the sequence axis moved next to the features and every other
// axis folded into one batch, the same way in all three forms.
#pragma once
#include <cmath>
#include <functional>

#include "engine/detail/lowering.h"

namespace engine::detail {

/// torch.nn.Linear's initialisation: U(-1/sqrt(in), 1/sqrt(in)).
inline at::Tensor linear_init(int64_t out, int64_t in) {
  return torch::empty({out, in}).uniform_(-1 / std::sqrt(double(in)), 1 / std::sqrt(double(in)));
}

/// x with the sequence axis `sa` moved next to the features (last, `f`) and every other axis folded
/// into one batch, given to `fn` as [B, T, d]; its [B, T, d'] result is unfolded the same way.
inline at::Tensor on_sequences(const at::Tensor& x, int64_t sa, int64_t f, const std::function<at::Tensor(const at::Tensor&)>& fn) {
  at::Tensor y = sa == f - 1 ? x : x.movedim(sa, f - 1);
  auto shape = y.sizes().vec();
  at::Tensor r = fn(y.reshape({-1, shape[size_t(f - 1)], shape[size_t(f)]}));
  shape[size_t(f)] = r.size(2);
  r = r.reshape(shape);
  return sa == f - 1 ? r : r.movedim(f - 1, sa);
}

/// The same in TorchScript: writes the fold, `call` (the [B, T, d] expression), and the unfold.
inline std::string ts_on_sequences(Script& w, const Site& s, const std::string& x, const std::function<std::string(const std::string&)>& call) {
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1;
  std::string y = w.fresh("y"), shape = w.fresh("shape"), v = w.fresh(s.node.name);
  w.line(y + " = " + ts_movedim(x, sa, f - 1));
  w.line(shape + " = " + y + ".shape");
  w.line(y + " = " + call(y + ".reshape([-1, " + y + ".size(" + std::to_string(f - 1) + "), " + y + ".size(" + std::to_string(f) + ")])"));
  w.line(y + " = " + y + ".reshape(" + shape + "[:-1] + [" + y + ".size(2)])");
  w.line(v + " = " + ts_movedim(y, f - 1, sa));
  return v;
}

/// A mixer module M(d, args...) whose forward maps [B, T, d] to [B, T, d'], applied to the node's input.
template <class M, class... A>
base::Result<Fn> compile_mixer(Compiler& c, const Site& s, A... args) {
  int64_t sa = s.dim(s.s("seq_axis"), -2), f = s.rank() - 1;
  auto m = c.add(s, std::make_shared<M>(s.size(f), args...));
  return unary([m, sa, f](const at::Tensor& x) { return on_sequences(x, sa, f, [&](const at::Tensor& y) { return m->forward(y); }); });
}

inline std::string ts_bool(bool b) { return b ? "True" : "False"; }
/// "self.x" for a tensor the node has, else "None" (a TorchScript Optional[Tensor] argument).
inline std::string ts_optional(Script& w, bool has, const std::string& name) { return has ? w.self(name) : "None"; }

/// L2 normalisation over the last axis, as fla's l2norm (eps inside the root).
inline at::Tensor l2norm(const at::Tensor& x) { return x * torch::rsqrt(x.pow(2).sum(-1, true) + 1e-6); }
/// RMS normalisation over the last axis with a learned scale.
inline at::Tensor rms(const at::Tensor& x, const at::Tensor& weight, double eps) {
  return x * torch::rsqrt(x.pow(2).mean(-1, true) + eps) * weight;
}

/// l2norm and rms as TorchScript methods (Script::method adds them once).
inline const char* const kNormScript = R"(
def l2norm(self, x: Tensor) -> Tensor:
    return x * torch.rsqrt(x.pow(2).sum(-1, True) + 1e-6)

def rms(self, x: Tensor, weight: Tensor, eps: float) -> Tensor:
    return x * torch.rsqrt(x.pow(2).mean(-1, True) + eps) * weight
)";

}  // namespace engine::detail
