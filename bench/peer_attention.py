#!/usr/bin/python3
"""The peer of bench_mixers' attention line: grouped-query causal self-attention with rotary
positions, written in PyTorch eager as Hugging Face's Llama writes it (q, k, v and o projections
without biases, rotate_half RoPE, repeat_kv for the grouped heads; F.scaled_dot_product_attention
where this PyTorch has it, as transformers' default "sdpa" attention, else softmax(q kᵀ/√d) v).

    /usr/bin/python3 bench/peer_attention.py B T D HEADS KV_HEADS THREADS REPEATS [cpu|cuda]

Prints one JSON line: median milliseconds per forward + backward (loss = sum of the output).
"""
import json
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

import peer_mixers  # same directory: the timing loop both peers share


def rotate_half(x):
    x1, x2 = x.chunk(2, -1)
    return torch.cat((-x2, x1), -1)


class Attention(nn.Module):
    def __init__(self, d, H, KV, theta=10000.0):
        super().__init__()
        self.H, self.KV, self.dh = H, KV, d // H
        self.q = nn.Linear(d, H * self.dh, bias=False)
        self.k = nn.Linear(d, KV * self.dh, bias=False)
        self.v = nn.Linear(d, KV * self.dh, bias=False)
        self.o = nn.Linear(H * self.dh, d, bias=False)
        self.inv_freq = 1.0 / (theta ** (torch.arange(0, self.dh, 2).float() / self.dh))

    def forward(self, x):
        B, T, _ = x.shape
        H, KV, dh = self.H, self.KV, self.dh
        q = self.q(x).view(B, T, H, dh).transpose(1, 2)
        k = self.k(x).view(B, T, KV, dh).transpose(1, 2)
        v = self.v(x).view(B, T, KV, dh).transpose(1, 2)
        ang = torch.arange(T, device=x.device).float()[:, None] * self.inv_freq.to(x.device)[None]
        emb = torch.cat((ang, ang), -1)
        cos, sin = emb.cos(), emb.sin()
        q = q * cos + rotate_half(q) * sin
        k = k * cos + rotate_half(k) * sin
        k = k.repeat_interleave(H // KV, 1)
        v = v.repeat_interleave(H // KV, 1)
        if hasattr(F, "scaled_dot_product_attention"):
            y = F.scaled_dot_product_attention(q, k, v, is_causal=True)
        else:
            s = q @ k.transpose(-2, -1) / dh ** 0.5
            s = s.masked_fill(torch.ones(T, T, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            y = torch.softmax(s, -1) @ v
        return self.o(y.transpose(1, 2).reshape(B, T, H * dh))


def main():
    B, T, d, H, KV, threads, repeats = (int(a) for a in sys.argv[1:8])
    device = sys.argv[8] if len(sys.argv) > 8 else "cpu"
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    layer = Attention(d, H, KV).to(device)
    x = torch.randn(B, T, d, device=device)

    def step():
        layer.zero_grad(set_to_none=True)
        layer(x).sum().backward()

    peer_mixers.DEVICE = device  # its median_ms synchronises the device around each step
    print(json.dumps({"attention_ms": peer_mixers.median_ms(step, repeats), "torch": torch.__version__,
                      "fused": hasattr(F, "scaled_dot_product_attention")}))


if __name__ == "__main__":
    main()
