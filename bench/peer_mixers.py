#!/usr/bin/python3
"""The peer of bench_mixers: Gated DeltaNet and Mamba-2 layers written in PyTorch the way the
pure-PyTorch references write them, with two cores each:

- naive: the recurrence one position at a time (fla's naive recurrent forms, mamba2-minimal's
  step function);
- chunked: the chunked parallel form in Python (transformers' torch_chunk_gated_delta_rule for the
  delta rule, with its row-by-row loop for (I + A)^-1; mamba2-minimal's ssd with segsum).

    /usr/bin/python3 bench/peer_mixers.py B T D HEADS THREADS REPEATS [cpu|cuda]

Prints one JSON line: median milliseconds per forward + backward (loss = sum of the output) of each
layer and core, and the largest difference between the naive and the chunked outputs (a check that
both compute the same layer). The layers are wired as circuit's gated_delta and mamba2 ops
(core/engine/ops_mixers.cpp): same projections, short convolutions, norms and gates.
"""
import json
import math
import statistics
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


def l2norm(x):
    return x * torch.rsqrt(x.pow(2).sum(-1, keepdim=True) + 1e-6)


def rms(x, w, eps):
    return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + eps) * w


def causal_conv(x, w, b):  # x [B, T, C], w [C, 1, K]
    return F.conv1d(F.pad(x.transpose(1, 2), (w.size(2) - 1, 0)), w, b, groups=x.size(2)).transpose(1, 2)


# ---- the delta rule: q, k [B, H, T, dk], v [B, H, T, dv], g, beta [B, H, T]

def delta_naive(q, k, v, g, beta):
    B, H, T, dk = q.shape
    S = q.new_zeros(B, H, dk, v.size(-1))
    out = []
    for t in range(T):
        S = S * g[:, :, t, None, None].exp()
        kt = k[:, :, t]
        u = beta[:, :, t, None] * (v[:, :, t] - (kt.unsqueeze(-1) * S).sum(-2))
        S = S + kt.unsqueeze(-1) * u.unsqueeze(-2)
        out.append((q[:, :, t].unsqueeze(-1) * S).sum(-2))
    return torch.stack(out, 2)


def delta_chunked(q, k, v, g, beta, C=64):
    B, H, T, dk = q.shape
    dv = v.size(-1)
    pad = (C - T % C) % C
    q, k, v = [F.pad(x, (0, 0, 0, pad)) for x in (q, k, v)]
    beta, g = F.pad(beta, (0, pad)), F.pad(g, (0, pad))
    n = (T + pad) // C
    v_beta, k_beta = v * beta.unsqueeze(-1), k * beta.unsqueeze(-1)
    q, k, v, k_beta, v_beta = [x.reshape(B, H, n, C, x.size(-1)) for x in (q, k, v, k_beta, v_beta)]
    g = g.reshape(B, H, n, C).cumsum(-1)
    upper = torch.triu(torch.ones(C, C, dtype=torch.bool, device=q.device), diagonal=0)
    decay = (g.unsqueeze(-1) - g.unsqueeze(-2)).tril().exp().tril()
    attn = -((k_beta @ k.transpose(-1, -2)) * decay).masked_fill(upper, 0)
    for i in range(1, C):  # (I + A)^-1 row by row, as the reference does
        row = attn[..., i, :i].clone()
        sub = attn[..., :i, :i].clone()
        attn[..., i, :i] = row + (row.unsqueeze(-1) * sub).sum(-2)
    attn = attn + torch.eye(C, device=q.device)
    value = attn @ v_beta
    k_cumdecay = attn @ (k_beta * g.exp().unsqueeze(-1))
    S = q.new_zeros(B, H, dk, dv)
    strict = torch.triu(torch.ones(C, C, dtype=torch.bool, device=q.device), diagonal=1)
    out = []
    for i in range(n):
        q_i, k_i = q[:, :, i], k[:, :, i]
        a = (q_i @ k_i.transpose(-1, -2) * decay[:, :, i]).masked_fill(strict, 0)
        v_new = value[:, :, i] - k_cumdecay[:, :, i] @ S
        out.append((q_i * g[:, :, i, :, None].exp()) @ S + a @ v_new)
        S = S * g[:, :, i, -1, None, None].exp() + (k_i * (g[:, :, i, -1, None] - g[:, :, i]).exp()[..., None]).transpose(-1, -2) @ v_new
    return torch.stack(out, 2).reshape(B, H, n * C, dv)[:, :, :T]


class GatedDelta(nn.Module):
    def __init__(self, d, H, K=4, core=delta_chunked):
        super().__init__()
        self.H, self.dh, self.core = H, d // H, core
        inner = d
        self.w_qkv = nn.Linear(d, 3 * inner, bias=False)
        self.conv = nn.Parameter(torch.empty(3 * inner, 1, K).uniform_(-0.5, 0.5))
        self.w_beta = nn.Linear(d, H, bias=False)
        self.w_a = nn.Linear(d, H, bias=False)
        self.A_log = nn.Parameter(torch.empty(H).uniform_(1, 16).log())
        dt = torch.empty(H).uniform_(math.log(1e-3), math.log(1e-1)).exp()
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.w_gate = nn.Linear(d, inner, bias=False)
        self.norm = nn.Parameter(torch.ones(self.dh))
        self.w_o = nn.Linear(inner, d, bias=False)

    def forward(self, x):
        B, T, _ = x.shape
        H, dh = self.H, self.dh
        qkv = F.silu(causal_conv(self.w_qkv(x), self.conv, None)).reshape(B, T, 3, H, dh).transpose(1, 3).unbind(2)
        q, k = l2norm(qkv[0]) * dh ** -0.5, l2norm(qkv[1])
        beta = torch.sigmoid(self.w_beta(x)).transpose(1, 2)
        g = (-self.A_log.exp() * F.softplus(self.w_a(x) + self.dt_bias)).transpose(1, 2)
        o = rms(self.core(q, k, qkv[2], g, beta).transpose(1, 2), self.norm, 1e-6)
        o = o * F.silu(self.w_gate(x).reshape(B, T, H, dh))
        return self.w_o(o.reshape(B, T, H * dh))


# ---- SSD: x [B, T, H, P] (already times dt), a [B, T, H] (dt A), Bm, Cm [B, T, N]

def ssd_naive(x, a, Bm, Cm):
    Bsz, T, H, P = x.shape
    S = x.new_zeros(Bsz, H, P, Bm.size(-1))
    out = []
    for t in range(T):
        S = S * a[:, t, :, None, None].exp() + x[:, t, :, :, None] * Bm[:, t, None, None, :]
        out.append((S * Cm[:, t, None, None, :]).sum(-1))
    return torch.stack(out, 1)


def segsum(x):
    T = x.size(-1)
    x = x[..., None].expand(*x.shape, T)
    x = x.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=-1), 0)
    s = torch.cumsum(x, dim=-2)
    return s.masked_fill(~torch.tril(torch.ones(T, T, dtype=torch.bool, device=x.device), diagonal=0), -torch.inf)


def ssd_chunked(x, a, Bm, Cm, C=64):
    Bsz, T, H, P = x.shape
    N = Bm.size(-1)
    n = T // C  # as mamba2-minimal: T a multiple of the chunk
    x = x.reshape(Bsz, n, C, H, P)
    Bc = Bm.reshape(Bsz, n, C, N)
    Cc = Cm.reshape(Bsz, n, C, N)
    A = a.reshape(Bsz, n, C, H).permute(0, 3, 1, 2)  # b h c l
    A_cumsum = torch.cumsum(A, dim=-1)
    L = torch.exp(segsum(A))
    Y_diag = torch.einsum("bcln,bcsn,bhcls,bcshp->bclhp", Cc, Bc, L, x)
    decay_states = torch.exp(A_cumsum[:, :, :, -1:] - A_cumsum)
    states = torch.einsum("bcln,bhcl,bclhp->bchpn", Bc, decay_states, x)
    states = torch.cat([torch.zeros_like(states[:, :1]), states], dim=1)
    decay_chunk = torch.exp(segsum(F.pad(A_cumsum[:, :, :, -1], (1, 0))))
    states = torch.einsum("bhzc,bchpn->bzhpn", decay_chunk, states)[:, :-1]
    Y_off = torch.einsum("bcln,bchpn,bhcl->bclhp", Cc, states, torch.exp(A_cumsum))
    return (Y_diag + Y_off).reshape(Bsz, T, H, P)


class Mamba2(nn.Module):
    def __init__(self, d, H, N=16, expand=2, K=4, core=ssd_chunked):
        super().__init__()
        self.inner, self.H, self.N, self.core = expand * d, H, N, core
        self.w_in = nn.Linear(d, 2 * self.inner + 2 * N + H, bias=False)
        self.conv = nn.Conv1d(self.inner + 2 * N, self.inner + 2 * N, K, groups=self.inner + 2 * N)
        dt = torch.empty(H).uniform_(math.log(1e-3), math.log(1e-1)).exp()
        self.dt_bias = nn.Parameter(dt + torch.log(-torch.expm1(-dt)))
        self.A_log = nn.Parameter(torch.empty(H).uniform_(1, 16).log())
        self.D = nn.Parameter(torch.ones(H))
        self.norm = nn.Parameter(torch.ones(self.inner))
        self.w_out = nn.Linear(self.inner, d, bias=False)

    def forward(self, x):
        B, T, _ = x.shape
        inner, H, N = self.inner, self.H, self.N
        z, xbc, dt = torch.split(self.w_in(x), [inner, inner + 2 * N, H], -1)
        xbc = F.silu(causal_conv(xbc, self.conv.weight, self.conv.bias))
        xs, Bm, Cm = torch.split(xbc, [inner, N, N], -1)
        xs = xs.reshape(B, T, H, inner // H)
        dt = F.softplus(dt + self.dt_bias)
        y = self.core(xs * dt.unsqueeze(-1), dt * -self.A_log.exp(), Bm, Cm) + xs * self.D.unsqueeze(-1)
        y = y.reshape(B, T, inner) * F.silu(z)
        return self.w_out(rms(y, self.norm, 1e-5))


DEVICE = "cpu"


def sync():
    if DEVICE != "cpu":
        torch.cuda.synchronize()


def median_ms(step, repeats):
    step()  # warm-up
    runs = []
    for _ in range(repeats):
        sync()
        t = time.perf_counter()
        step()
        sync()
        runs.append((time.perf_counter() - t) * 1e3)
    return statistics.median(runs)


def time_ms(layer, x, repeats):
    def step():
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()
    return median_ms(step, repeats)


def time_core_ms(core, inputs, repeats):
    def step():
        leaves = [t.detach().requires_grad_(True) for t in inputs]
        core(*leaves).sum().backward()
    return median_ms(step, repeats)


def core_inputs(B, T, d, H, N=16, expand=2):
    """The recurrences' inputs at the layer's sizes: gated delta's q, k, v, g, beta and SSD's
    x dt, dt A, B, C (the same draws bench_mixers.cpp makes, in each one's layout)."""
    dh, P = d // H, expand * d // H
    torch.manual_seed(5)
    q, k, v = torch.randn(B, H, T, dh), l2norm(torch.randn(B, H, T, dh)), torch.randn(B, H, T, dh)
    g, beta = -F.softplus(torch.randn(B, H, T)) * 0.1, torch.sigmoid(torch.randn(B, H, T))
    xs, a = torch.randn(B, T, H, P), -F.softplus(torch.randn(B, T, H)) * 0.1
    Bm, Cm = torch.randn(B, T, N), torch.randn(B, T, N)
    return tuple(t.to(DEVICE) for t in (q, k, v, g, beta)), tuple(t.to(DEVICE) for t in (xs, a, Bm, Cm))


def main():
    global DEVICE
    B, T, d, H, threads, repeats = (int(a) for a in sys.argv[1:7])
    DEVICE = sys.argv[7] if len(sys.argv) > 7 else "cpu"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x = torch.randn(B, T, d).to(DEVICE)
    result = {}
    delta_in, ssd_in = core_inputs(B, T, d, H)
    result["gated_delta_core"] = {"naive_ms": time_core_ms(delta_naive, delta_in, max(2, repeats // 3)),
                                  "chunked_ms": time_core_ms(delta_chunked, delta_in, repeats)}
    result["mamba2_core"] = {"naive_ms": time_core_ms(ssd_naive, ssd_in, max(2, repeats // 3)),
                             "chunked_ms": time_core_ms(ssd_chunked, ssd_in, repeats)}
    for name, make, naive, chunked in (("gated_delta", GatedDelta, delta_naive, delta_chunked), ("mamba2", Mamba2, ssd_naive, ssd_chunked)):
        torch.manual_seed(1)
        layer = make(d, H).to(DEVICE)
        with torch.no_grad():
            layer.core = naive
            a = layer(x[:1, :128])
            layer.core = chunked
            b = layer(x[:1, :128])
        layer.core = chunked
        chunked_ms = time_ms(layer, x, repeats)
        layer.core = naive
        naive_ms = time_ms(layer, x, max(2, repeats // 3))
        result[name] = {"naive_ms": naive_ms, "chunked_ms": chunked_ms, "naive_vs_chunked_max_diff": (a - b).abs().max().item()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
