#!/usr/bin/python3
"""The peer of bench_moe: an MoE layer as popular open implementations write it in PyTorch,
a Python loop over experts with boolean masks, and a dense FFN of the same active parameters.

    /usr/bin/python3 bench/peer_moe.py TOKENS D HIDDEN EXPERTS K THREADS ITERS REPEATS [gelu|swiglu] [cpu|cuda:N]

Prints one JSON line: median milliseconds per forward+backward of each, over REPEATS x ITERS.
Same work as ours: top-k softmax router, gates renormalised over the k kept experts, no capacity
limit (dropless), GELU experts Linear(d, h) -> GELU -> Linear(h, d), input [tokens, d], loss =
sum of the output. With `swiglu` the experts (and the dense FFN) are down(silu(gate(x)) * up(x))
without biases, as circuit's glu_ffn_block makes them.
"""
import json
import statistics
import sys
import time

import torch
import torch.nn as nn


class SwiGLU(nn.Module):
    def __init__(self, d, h):
        super().__init__()
        self.gate = nn.Linear(d, h, bias=False)
        self.up = nn.Linear(d, h, bias=False)
        self.down = nn.Linear(h, d, bias=False)

    def forward(self, x):
        return self.down(nn.functional.silu(self.gate(x)) * self.up(x))


def ffn(d, h, kind):
    return SwiGLU(d, h) if kind == "swiglu" else nn.Sequential(nn.Linear(d, h), nn.GELU(), nn.Linear(h, d))


class NaiveMoE(nn.Module):
    def __init__(self, d, h, experts, k, kind):
        super().__init__()
        self.k = k
        self.router = nn.Linear(d, experts, bias=False)
        self.experts = nn.ModuleList(ffn(d, h, kind) for _ in range(experts))

    def forward(self, x):
        probs = torch.softmax(self.router(x), -1)
        gate, idx = probs.topk(self.k, -1)
        gate = gate / gate.sum(-1, keepdim=True)
        out = torch.zeros_like(x)
        for e, expert in enumerate(self.experts):
            hit = idx == e                      # [T, k] boolean mask
            rows = hit.any(-1)                  # tokens that chose expert e
            if not rows.any():
                continue
            g = (gate * hit).sum(-1)[rows]      # their gate for e
            out[rows] += g.unsqueeze(-1) * expert(x[rows])
        return out


def sync(x):
    if x.is_cuda:
        torch.cuda.synchronize()


def time_ms(model, x, iters, repeats):
    for _ in range(3):
        model.zero_grad(set_to_none=True)
        model(x).sum().backward()
    runs = []
    for _ in range(repeats):
        sync(x)
        t = time.perf_counter()
        for _ in range(iters):
            model.zero_grad(set_to_none=True)
            model(x).sum().backward()
        sync(x)
        runs.append((time.perf_counter() - t) * 1000 / iters)
    return statistics.median(runs)


def main():
    tokens, d, h, experts, k, threads, iters, repeats = (int(a) for a in sys.argv[1:9])
    kind = sys.argv[9] if len(sys.argv) > 9 else "gelu"
    device = sys.argv[10] if len(sys.argv) > 10 else "cpu"
    torch.set_num_threads(threads)
    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False  # as ours: fp32 products
        torch.backends.cudnn.allow_tf32 = False
    torch.manual_seed(0)
    x = torch.randn(tokens, d).to(device)
    moe = NaiveMoE(d, h, experts, k, kind).to(device)
    dense = ffn(d, k * h, kind).to(device)
    print(json.dumps({"naive_ms": time_ms(moe, x, iters, repeats), "dense_ms": time_ms(dense, x, iters, repeats),
                      "torch": torch.__version__, "threads": torch.get_num_threads()}))


if __name__ == "__main__":
    main()
