#!/usr/bin/python3
"""The PyTorch peer of bench_train: the same architecture, optimizer, loss, batch and data,
trained in Python with torch.nn, timed the same way. Two modes:

    /usr/bin/python3 bench/peer_train.py MODEL BATCH THREADS STEPS [WARMUP REPEATS] [--breakdown]
    /usr/bin/python3 bench/peer_train.py MODEL BATCH THREADS --serve

One-shot: prints one JSON line with the median steps/s of REPEATS repeats of STEPS optimizer
steps after WARMUP untimed steps (defaults 5 and 5); --breakdown adds forward + loss alone and
forward + loss + backward alone (no optimizer step), as calls/s.

--serve (what bench_train uses): prints {"ready": ...} and then answers one JSON line per command
read from stdin, so bench_train can interleave our repeats with the peer's on a busy machine:
    step N | forward N | fwdbwd N    -> {"rate": calls per second over N calls}
    matmul                           -> {"gflops": 1024x1024 float matmul best of 50, "median": ...}
    quit
The batch counter carries on across commands, as in a training loop.

MODEL is mlp or cnn (resources/examples/{mlp,cnn}.circuit.json). Run it with Debian's
/usr/bin/python3 (python3-torch); other interpreters may lack torch.
"""
import gzip
import json
import statistics
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

DATA = "/usr/share/datasets/fashion-mnist"
TRAIN_LIMIT = 6400  # the first N training images, as bench_train loads them


def load_fashion(limit):
    """First `limit` training images, normalised as engine::load_dataset does."""
    with gzip.open(DATA + "/train-images-idx3-ubyte.gz", "rb") as f:
        raw = f.read()
    n = int.from_bytes(raw[4:8], "big")
    px = np.frombuffer(raw, dtype=np.uint8, offset=16).reshape(n, 1, 28, 28)[:limit]
    with gzip.open(DATA + "/train-labels-idx1-ubyte.gz", "rb") as f:
        lab = np.frombuffer(f.read(), dtype=np.uint8, offset=8)[:limit]
    x = ((px.astype(np.float64) / 255.0 - 0.2860) / 0.3530).astype(np.float32)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(lab.astype(np.int64))


def build(model):
    if model == "mlp":  # flatten-linear(784->256)-ReLU-linear(256->128)-ReLU-linear(128->10)
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 128), nn.ReLU(), nn.Linear(128, 10))
    if model == "cnn":  # two conv-BN-ReLU-maxpool stages, then linear(3136->128)-ReLU-dropout-linear(128->10)
        return nn.Sequential(
            nn.Conv2d(1, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Dropout(0.25), nn.Linear(128, 10))
    raise SystemExit("unknown model %r (mlp or cnn)" % model)


def sync(device):
    if device != "cpu":
        torch.cuda.synchronize()


def rate(fn, steps, warmup, repeats):
    """Median calls/s over `repeats` runs of `steps` calls, after `warmup` untimed calls."""
    k = 0
    for _ in range(warmup):
        fn(k)
        k += 1
    rates = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(steps):
            fn(k)
            k += 1
        rates.append(steps / (time.perf_counter() - t))
    return statistics.median(rates), rates


def matmul_gflops():
    """1024x1024 float matmul GFLOP/s after 3 warm-ups: (best of 50, median of 50)."""
    a, b = torch.randn(1024, 1024), torch.randn(1024, 1024)
    for _ in range(3):
        torch.matmul(a, b)
    t = []
    for _ in range(50):
        s = time.perf_counter()
        torch.matmul(a, b)
        t.append(time.perf_counter() - s)
    flop = 2.0 * 1024 ** 3
    return flop / min(t) / 1e9, flop / statistics.median(t) / 1e9


def blas_libraries():
    """Shared libraries mapped into this process whose name mentions BLAS."""
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.split()[-1] if len(line.split()) >= 6 else ""
            if "blas" in path.lower():
                libs.add(path)
    return sorted(libs)


def main():
    argv = sys.argv[1:]
    device = "cpu"
    if "--device" in argv:  # --device cpu|cuda[:N]: model and data there, each timed call synchronised
        at = argv.index("--device")
        device = argv[at + 1]
        del argv[at:at + 2]
    args = [a for a in argv if not a.startswith("--")]
    breakdown = "--breakdown" in argv
    serve = "--serve" in argv
    if len(args) not in ((3,) if serve else (4, 6)):
        raise SystemExit(__doc__)
    model_name, batch, threads = args[0], int(args[1]), int(args[2])
    steps = 0 if serve else int(args[3])
    warmup, repeats = (int(args[4]), int(args[5])) if len(args) == 6 else (5, 5)

    torch.set_num_threads(threads)
    torch.manual_seed(0)
    x, y = load_fashion(TRAIN_LIMIT)
    per_epoch = x.shape[0] // batch
    if device != "cpu":
        torch.backends.cuda.matmul.allow_tf32 = False  # as ours: fp32 unless asked
        torch.backends.cudnn.allow_tf32 = False
    x, y = x.to(device), y.to(device)

    model = build(model_name).to(device)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def batch_at(k):
        s = (k % per_epoch) * batch
        return x[s:s + batch], y[s:s + batch]

    def step(k):
        xb, yb = batch_at(k)
        opt.zero_grad()
        loss = F.cross_entropy(model(xb), yb)
        loss.backward()
        opt.step()

    def forward(k):
        xb, yb = batch_at(k)
        F.cross_entropy(model(xb), yb)

    def forward_backward(k):
        xb, yb = batch_at(k)
        opt.zero_grad()
        F.cross_entropy(model(xb), yb).backward()

    if serve:
        fns = {"step": step, "forward": forward, "fwdbwd": forward_backward}
        print(json.dumps({"ready": True, "threads": torch.get_num_threads(), "torch": torch.__version__,
                          "blas": blas_libraries()}), flush=True)
        k = 0
        for line in sys.stdin:
            cmd = line.split()
            if not cmd or cmd[0] == "quit":
                break
            if cmd[0] == "matmul":
                best, med = matmul_gflops()
                print(json.dumps({"gflops": best, "median": med}), flush=True)
            elif cmd[0] in fns and len(cmd) == 2:
                fn, n = fns[cmd[0]], int(cmd[1])
                sync(device)
                t = time.perf_counter()
                for _ in range(n):
                    fn(k)
                    k += 1
                sync(device)
                print(json.dumps({"rate": n / (time.perf_counter() - t)}), flush=True)
            else:
                print(json.dumps({"error": "unknown command %r" % line.strip()}), flush=True)
        return

    out = {"model": model_name, "batch": batch, "threads": torch.get_num_threads(), "steps": steps,
           "warmup": warmup, "repeats": repeats, "torch": torch.__version__}
    out["steps_per_s"], out["repeat_steps_per_s"] = rate(step, steps, warmup, repeats)
    if breakdown:
        out["forward_per_s"], _ = rate(forward, steps, warmup, repeats)
        out["forward_backward_per_s"], _ = rate(forward_backward, steps, warmup, repeats)
    out["matmul_gflops"], out["matmul_gflops_median"] = matmul_gflops()
    out["blas"] = blas_libraries()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
