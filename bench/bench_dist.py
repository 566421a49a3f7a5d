#!/usr/bin/python3
"""Data-parallel throughput: `circuit train` on 1 and 2 ranks (Gloo on the loopback) against
PyTorch's DistributedDataParallel on 1 and 2 ranks (Gloo, the same architecture, batch, data
and threads), in the same run. Prints steps/s, examples/s, the gradient all-reduce time per
step, and the ratios.

    /usr/bin/python3 bench/bench_dist.py [--circuit BUILD/app/cli/circuit] [--model mlp|cnn]
        [--batch 64] [--limit 12800] [--threads 1] [--repeats 3]

--batch is per rank (each rank of a 2-rank run takes --batch examples of a 2 x --batch global
batch); --threads is per rank. Timings are the median of --repeats runs of one epoch over the
first --limit training images; start-up (data load, compile, rendezvous) and the epoch's
validation are not counted: both sides time the optimizer steps alone. Run with Debian's /usr/bin/python3 (python3-torch).
"""
import argparse
import os
import re
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def ours(cli, model, batch, limit, threads, ranks):
    cmd = [cli, "train", os.path.join(ROOT, "resources/examples/%s.circuit.json" % model), "--data", "fashion-mnist",
           "--limit", str(limit), "--batch", str(batch), "--epochs", "1", "--device", "cpu", "--threads", str(threads)]
    if ranks > 1:
        cmd += ["--nproc", str(ranks)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
    m = re.search(r"the steps alone, without evaluation, ([0-9.]+)/s", out)
    ar = re.search(r"gradient all-reduce ([0-9.]+) ms per step", out)
    return float(m.group(1)), float(ar.group(1)) if ar else 0.0


PEER = r'''
import os, sys, time, torch, torch.distributed as dist
sys.path.insert(0, sys.argv[1])
import peer_train
model, batch, limit, threads = sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
torch.set_num_threads(threads)
ranks = int(os.environ.get("WORLD_SIZE", "1")); rank = int(os.environ.get("RANK", "0"))
if ranks > 1:
    dist.init_process_group("gloo")
net = peer_train.build(model)
if ranks > 1:
    net = torch.nn.parallel.DistributedDataParallel(net)
x, y = peer_train.load_fashion(limit)
opt = torch.optim.AdamW(net.parameters(), lr=1e-3, weight_decay=0.01)
glob = batch * ranks
steps = limit // glob
t0 = time.perf_counter()
for s in range(steps):
    lo = s * glob + rank * batch
    xb, yb = x[lo:lo + batch], y[lo:lo + batch]
    opt.zero_grad()
    loss = torch.nn.functional.cross_entropy(net(xb), yb)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(net.parameters(), 1.0)
    opt.step()
secs = time.perf_counter() - t0
if rank == 0:
    print("%d %.6f" % (steps, secs))
if ranks > 1:
    dist.destroy_process_group()
'''


def peer(model, batch, limit, threads, ranks, port):
    env = dict(os.environ)
    procs = []
    for r in range(ranks):
        e = dict(env, RANK=str(r), WORLD_SIZE=str(ranks), LOCAL_RANK=str(r), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
        procs.append(subprocess.Popen(["/usr/bin/python3", "-c", PEER, HERE, model, str(batch), str(limit), str(threads)], env=e,
                                      stdout=subprocess.PIPE, text=True))
    outs = [p.communicate()[0] for p in procs]
    if any(p.returncode for p in procs):
        raise SystemExit("the PyTorch peer failed")
    steps, secs = outs[0].split()
    return int(steps) / float(secs)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--circuit", default=os.path.join(ROOT, "build/app/cli/circuit"))
    ap.add_argument("--model", default="mlp")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--limit", type=int, default=12800)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=3)
    a = ap.parse_args()
    print("data parallel, %s, batch %d per rank, %d thread(s) per rank, %d examples, %d core(s), median of %d" %
          (a.model, a.batch, a.threads, a.limit, os.cpu_count(), a.repeats))
    print("%-6s %14s %14s %16s %14s %14s %8s" % ("ranks", "ours steps/s", "ours ex/s", "all-reduce ms", "DDP steps/s", "DDP ex/s", "ours/DDP"))
    port = 29600 + os.getpid() % 1000
    for ranks in (1, 2):
        o, p, ar = [], [], []
        for k in range(a.repeats):  # interleaved, so both see the same machine
            rate, ms = ours(a.circuit, a.model, a.batch, a.limit, a.threads, ranks)
            o.append(rate), ar.append(ms)
            p.append(peer(a.model, a.batch, a.limit, a.threads, ranks, port + 10 * k + ranks))
        so, sp = statistics.median(o), statistics.median(p)
        ex = a.batch * ranks
        print("%-6d %14.1f %14.0f %16.3f %14.1f %14.0f %7.2fx" % (ranks, so, so * ex, statistics.median(ar), sp, sp * ex, so / sp))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
