// The gated linear recurrence (detail/recurrence.h). The chunked form follows the structure of
// the pure-PyTorch references (fla's naive chunk forms, transformers' torch_chunk_gated_delta_rule)
// with one change: the delta rule's (I + A)^-1 is one batched unit-triangular solve instead of a
// Python loop over the chunk's rows, so autograd records one node instead of `chunk` of them.
//
// A decay per key dimension (Mamba-1) has no [chunk, chunk] matrix D common to the dimensions: formed
// explicitly it is [chunk, chunk, dk] per head, and with Mamba's value size of 1 that costs `chunk`
// times the recurrence itself. So that form runs the recurrence itself within the chunks, all
// chunks at once from a zero state (`chunk` steps on tensors 1/N of the whole), and then passes
// the state across the N chunks: chunk + N small steps, each factor exp(g) <= 1. Measured with
// `circuit train` (2 Mamba layers, d 64, state 8, seq 128, batch 64, one thread, this VM): the
// explicit form 85 s at chunk 16 and 14.6 s at chunk 1; a log-depth scan within chunks 21 s; this
// form 15.7 s at chunk 16 and 13.9 s at 64. All near the recurrence's own cost: on a CPU Mamba-1
// is bound by moving [batch, channels, seq, N] tensors.
#include "engine/detail/recurrence.h"

#include <algorithm>
#include <functional>
#include <limits>

namespace engine::detail {

using at::Tensor;

Tensor recurrence_stepwise(const Recurrence& r) {
  int64_t B = r.v.size(0), H = r.v.size(1), T = r.q.size(2), dk = r.q.size(3), dv = r.v.size(3);
  Tensor S = torch::zeros({B, H, dk, dv}, r.v.options());
  std::vector<Tensor> out;
  out.reserve(size_t(T));
  bool per_dim = r.g.dim() == 4;
  TORCH_CHECK(!(per_dim && r.delta), "a decay per key dimension is not defined for the delta rule");
  auto G = r.g.exp().unbind(2), Bt = r.beta.unbind(2), K = r.k.unbind(2), V = r.v.unbind(2), Q = r.q.unbind(2);
  for (size_t t = 0; t < size_t(T); ++t) {
    Tensor a = per_dim ? G[t].unsqueeze(-1) : G[t].unsqueeze(-1).unsqueeze(-1);  // [B, H, dk, 1] or [B, H, 1, 1]
    Tensor b = Bt[t].unsqueeze(-1).unsqueeze(-1);
    Tensor k = K[t].unsqueeze(-2);  // [B, H, 1, dk]
    Tensor v = V[t].unsqueeze(-2);  // [B, H, 1, dv]
    Tensor decayed = a * S;
    Tensor written = r.delta ? b * (v - torch::matmul(k, decayed)) : b * v;
    S = decayed + torch::matmul(k.transpose(-1, -2), written);
    out.push_back(torch::matmul(Q[t].unsqueeze(-2), S).squeeze(-2));
  }
  return torch::stack(out, 2);
}

namespace {

// S_t = diag(a_t) S_{t-1} + b_t k_t v_t^T, chunk by chunk: within a chunk U_i = a_i U_{i-1} + b_i k_i v_i^T
// from U = 0; across chunks S_n = exp(G_C) S_{n-1} + U_C; o_i = q_i^T (exp(G_i) S + U_i).
Tensor recurrence_per_dim(const Recurrence& r, int64_t C, int64_t B, int64_t H, int64_t N, int64_t pad,
                          const std::function<Tensor(const Tensor&)>& chunks) {
  int64_t dk = r.q.size(3), dv = r.v.size(3), T = r.q.size(2);
  Tensor q = chunks(r.q), k = chunks(r.k), v = chunks(r.v);
  Tensor beta = (pad ? torch::constant_pad_nd(r.beta, {0, pad}) : r.beta).reshape({B, H, N, C, 1});
  Tensor g = (pad ? torch::constant_pad_nd(r.g, {0, 0, 0, pad}) : r.g).reshape({B, H, N, C, dk});
  auto A = g.exp().unbind(3), W = ((k * beta).unsqueeze(-1) * v.unsqueeze(-2)).unbind(3);  // [B, H, N, dk(, dv)] per position
  std::vector<Tensor> U{W[0]};
  for (size_t i = 1; i < size_t(C); ++i) U.push_back(A[i].unsqueeze(-1) * U.back() + W[i]);
  Tensor G = g.cumsum(3);
  auto Dl = G.select(3, C - 1).exp().unsqueeze(-1).unbind(2);  // [B, H, dk, 1] per chunk
  std::vector<Tensor> starts{torch::zeros({B, H, dk, dv}, r.v.options())};
  for (size_t n = 0; n + 1 < size_t(N); ++n) starts.push_back(starts.back() * Dl[n] + U.back().select(2, int64_t(n)));
  Tensor within = (q.unsqueeze(-1) * torch::stack(U, 3)).sum(-2);                            // [B, H, N, C, dv]
  Tensor o = torch::matmul(q * G.exp(), torch::stack(starts, 2)) + within;
  o = o.reshape({B, H, N * C, dv});
  return pad ? o.narrow(2, 0, T) : o;
}

}  // namespace

Tensor recurrence_chunked(const Recurrence& r, int64_t C) {
  int64_t B = r.v.size(0), H = r.v.size(1), T = r.q.size(2), dk = r.q.size(3), dv = r.v.size(3);
  C = std::min(C, T);  // a short sequence is one chunk, not one padded to `chunk`
  int64_t pad = (C - T % C) % C, N = (T + pad) / C;
  // Zero padding at the end changes no earlier output: the recurrence is causal.
  std::function<Tensor(const Tensor&)> chunks = [&](const Tensor& x) {
    Tensor p = pad ? torch::constant_pad_nd(x, {0, 0, 0, pad}) : x;
    return p.reshape({x.size(0), x.size(1), N, C, x.size(3)});  // q and k may have one head for all
  };
  if (r.g.dim() == 4) {
    TORCH_CHECK(!r.delta, "a decay per key dimension is not defined for the delta rule");
    return recurrence_per_dim(r, C, B, H, N, pad, chunks);
  }
  Tensor q = chunks(r.q), k = chunks(r.k), v = chunks(r.v);
  Tensor G = (pad ? torch::constant_pad_nd(r.g, {0, pad}) : r.g).reshape({B, H, N, C}).cumsum(-1);  // decay since the chunk began
  Tensor beta = (pad ? torch::constant_pad_nd(r.beta, {0, pad}) : r.beta).reshape({B, H, N, C, 1});

  // D[i, j] = exp(G_i - G_j) on and below the diagonal, 0 above (masked before exp: no overflow).
  Tensor pos = torch::arange(C, r.q.options().dtype(torch::kLong));
  Tensor future = pos.unsqueeze(0) > pos.unsqueeze(1);  // [i, j]: j after i
  Tensor D = (G.unsqueeze(-1) - G.unsqueeze(-2)).masked_fill(future, -std::numeric_limits<double>::infinity()).exp();
  Tensor eG = G.exp().unsqueeze(-1);                                      // [B, H, N, C, 1]
  Tensor last = G.select(-1, C - 1);                                      // [B, H, N]
  Tensor k_to_end = k * (last.unsqueeze(-1) - G).exp().unsqueeze(-1);     // k_j exp(G_C - G_j)
  Tensor q_from_start = q * eG;
  Tensor within = torch::matmul(q, k.transpose(-1, -2)) * D;               // [B, H, N, C, C]

  // What each position writes, given the state S at the chunk's start: u - w S (plain: u).
  Tensor u, w;
  if (r.delta) {
    Tensor kb = k * beta;
    Tensor A = (torch::matmul(kb, k.transpose(-1, -2)) * D).tril(-1);
    Tensor L = A + torch::eye(C, r.q.options());
    Tensor X = torch::linalg_solve_triangular(L, torch::cat({v * beta, kb * eG}, -1), /*upper=*/false, /*left=*/true,
                                              /*unitriangular=*/true);
    u = X.narrow(-1, 0, dv), w = X.narrow(-1, dv, dk);
  } else {
    u = v * beta;
  }

  // Chunks are taken apart once (unbind): a select per chunk gives the backward pass a zero-filled
  // gradient of the whole tensor per chunk. (Under the profiler that was the largest item; the
  // wall time of bench_mixers did not change measurably at 8 chunks.)
  auto U = u.unbind(2), Qs = q_from_start.unbind(2), In = within.unbind(2), Ke = k_to_end.unbind(2), Dl = last.exp().unbind(2);
  std::vector<Tensor> W = r.delta ? w.unbind(2) : std::vector<Tensor>{};
  Tensor S = torch::zeros({B, H, dk, dv}, r.v.options());
  std::vector<Tensor> out;
  out.reserve(size_t(N));
  for (int64_t n = 0; n < N; ++n) {
    Tensor written = r.delta ? U[size_t(n)] - torch::matmul(W[size_t(n)], S) : U[size_t(n)];
    out.push_back(torch::matmul(Qs[size_t(n)], S) + torch::matmul(In[size_t(n)], written));
    S = S * Dl[size_t(n)].unsqueeze(-1).unsqueeze(-1) + torch::matmul(Ke[size_t(n)].transpose(-1, -2), written);
  }
  Tensor o = torch::stack(out, 2).reshape({B, H, N * C, dv});
  return pad ? o.narrow(2, 0, T) : o;
}

// Line for line the function above; the export tests compare the two through Python's PyTorch.
const char* const kRecurrenceScript = R"(
def recurrence_chunked(self, q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, delta: bool, C: int) -> Tensor:
    B = v.size(0)
    H = v.size(1)
    T = q.size(2)
    dk = q.size(3)
    dv = v.size(3)
    C = min(C, T)
    pad = (C - T % C) % C
    N = (T + pad) // C
    q = torch.constant_pad_nd(q, [0, 0, 0, pad]).reshape([q.size(0), q.size(1), N, C, dk])
    k = torch.constant_pad_nd(k, [0, 0, 0, pad]).reshape([k.size(0), k.size(1), N, C, dk])
    v = torch.constant_pad_nd(v, [0, 0, 0, pad]).reshape([B, H, N, C, dv])
    if g.dim() == 4:
        return self.recurrence_per_dim(q, k, v, g, beta, C, B, H, N, pad, T)
    G = torch.constant_pad_nd(g, [0, pad]).reshape([B, H, N, C]).cumsum(-1)
    beta = torch.constant_pad_nd(beta, [0, pad]).reshape([B, H, N, C, 1])
    pos = torch.arange(C, device=q.device)
    future = pos.unsqueeze(0) > pos.unsqueeze(1)
    D = (G.unsqueeze(-1) - G.unsqueeze(-2)).masked_fill(future, float('-inf')).exp()
    eG = G.exp().unsqueeze(-1)
    last = G.select(-1, C - 1)
    k_to_end = k * (last.unsqueeze(-1) - G).exp().unsqueeze(-1)
    q_from_start = q * eG
    within = torch.matmul(q, k.transpose(-1, -2)) * D
    u = v * beta
    w = u
    if delta:
        kb = k * beta
        A = (torch.matmul(kb, k.transpose(-1, -2)) * D).tril(-1)
        L = A + torch.eye(C, dtype=q.dtype, device=q.device)
        X = torch.linalg_solve_triangular(L, torch.cat([u, kb * eG], -1), upper=False, left=True, unitriangular=True)
        u = X.narrow(-1, 0, dv)
        w = X.narrow(-1, dv, dk)
    U = u.unbind(2)
    W = w.unbind(2)
    Qs = q_from_start.unbind(2)
    In = within.unbind(2)
    Ke = k_to_end.unbind(2)
    Dl = last.exp().unbind(2)
    S = torch.zeros([B, H, dk, dv], dtype=v.dtype, device=v.device)
    out: List[Tensor] = []
    for n in range(N):
        written = U[n]
        if delta:
            written = written - torch.matmul(W[n], S)
        out.append(torch.matmul(Qs[n], S) + torch.matmul(In[n], written))
        S = S * Dl[n].unsqueeze(-1).unsqueeze(-1) + torch.matmul(Ke[n].transpose(-1, -2), written)
    o = torch.stack(out, 2).reshape([B, H, N * C, dv])
    return o.narrow(2, 0, T)

def recurrence_per_dim(self, q: Tensor, k: Tensor, v: Tensor, g: Tensor, beta: Tensor, C: int, B: int, H: int, N: int, pad: int, T: int) -> Tensor:
    dk = q.size(-1)
    dv = v.size(-1)
    beta = torch.constant_pad_nd(beta, [0, pad]).reshape([B, H, N, C, 1])
    g = torch.constant_pad_nd(g, [0, 0, 0, pad]).reshape([B, H, N, C, dk])
    A = g.exp().unbind(3)
    W = ((k * beta).unsqueeze(-1) * v.unsqueeze(-2)).unbind(3)
    U: List[Tensor] = [W[0]]
    for i in range(1, C):
        U.append(A[i].unsqueeze(-1) * U[-1] + W[i])
    G = g.cumsum(3)
    Dl = G.select(3, C - 1).exp().unsqueeze(-1).unbind(2)
    starts: List[Tensor] = [torch.zeros([B, H, dk, dv], dtype=v.dtype, device=v.device)]
    for n in range(N - 1):
        starts.append(starts[-1] * Dl[n] + U[-1].select(2, n))
    within = (q.unsqueeze(-1) * torch.stack(U, 3)).sum(-2)
    o = torch.matmul(q * G.exp(), torch.stack(starts, 2)) + within
    o = o.reshape([B, H, N * C, dv])
    return o.narrow(2, 0, T)
)";

std::pair<int64_t, int64_t> time_conv_padding(int64_t K, bool causal) {
  return causal ? std::pair<int64_t, int64_t>{K - 1, 0} : std::pair<int64_t, int64_t>{(K - 1) / 2, K - 1 - (K - 1) / 2};
}

Tensor time_conv(const Tensor& x, const Tensor& weight, const Tensor& bias, int64_t groups, bool causal) {
  auto [before, after] = time_conv_padding(weight.size(2), causal);
  Tensor y = torch::constant_pad_nd(x.transpose(1, 2), {before, after});
  return torch::conv1d(y, weight, bias, at::IntArrayRef{1}, at::IntArrayRef{0}, at::IntArrayRef{1}, groups).transpose(1, 2);
}

}  // namespace engine::detail
