// The gated linear recurrence that linear attention, Gated DeltaNet and Mamba-2 share, in two
// forms: a step-by-step reference and the chunked parallel form training uses. Both forms are
// written once here for LibTorch and once as TorchScript (kRecurrenceScript) for the export.
//
// Private to the engine: includes LibTorch.
#pragma once
#include "engine/detail/private.h"
#include <torch/torch.h>

namespace engine::detail {

/// One recurrence over [B, H, T, dk] queries and keys and [B, H, T, dv] values, with a state S of
/// [dk, dv] per head and sequence, starting at zero:
///   plain:  S_t = a_t S_{t-1} + b_t k_t v_t^T
///   delta:  S_t = a_t S_{t-1} + b_t k_t (v_t - a_t S_{t-1}^T k_t)^T   (the delta rule; the same as
///           S_t = a_t (I - b_t k_t k_t^T) S_{t-1} + b_t k_t v_t^T)
///   o_t = S_t^T q_t,  a_t = exp(g_t)
/// g (log decays, <= 0) and b are [B, H, T]; pass zeros for no decay and ones for no b. q and k
/// may have one head ([B, 1, T, dk]) that every head shares (Mamba-2's B and C).
/// g may instead be [B, H, T, dk], a decay per key dimension (the GLA form, Mamba-1's exp(Δ A)):
///   S_t = diag(a_t) S_{t-1} + b_t k_t v_t^T; not with the delta rule.
struct Recurrence {
  at::Tensor q, k, v, g, beta;
  bool delta = false;
};

/// The reference: one step per position. [B, H, T, dv].
at::Tensor recurrence_stepwise(const Recurrence& r);

/// The same outputs, `chunk` positions at a time: within a chunk every output is a masked matrix
/// product (for the delta rule after one unit-triangular solve, the WY form), and only the state
/// passes from chunk to chunk. T need not be a multiple of `chunk`. With a decay per key dimension
/// the within-chunk sums are a log-depth scan instead of a masked product (recurrence.cpp says why).
at::Tensor recurrence_chunked(const Recurrence& r, int64_t chunk);

/// TorchScript of recurrence_chunked, as a method of the exported module:
///   self.recurrence_chunked(q, k, v, g, beta, delta: bool, chunk: int) -> Tensor
extern const char* const kRecurrenceScript;

/// A 1-D convolution over time that keeps the length: x [B, T, C], weight [out, C / groups, K], bias
/// [out] or undefined. Causal: output t sees inputs t-K+1 .. t (zeros before the start); else
/// the window is centred ((K-1)/2 before, the rest after).
at::Tensor time_conv(const at::Tensor& x, const at::Tensor& weight, const at::Tensor& bias, int64_t groups, bool causal);
/// The padding time_conv uses: (before, after).
std::pair<int64_t, int64_t> time_conv_padding(int64_t kernel, bool causal);

}  // namespace engine::detail
