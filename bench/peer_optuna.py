# Peer for bench_search: Optuna's NSGA-II (python3-optuna) on ZDT1/2/3 with 30 integer variables
# 0..100 (x = i/100, the same discretisation as ours), population 50, SQLite storage, 5 seeds.
# Prints median hypervolume (reference 1.1, 11) and per-trial overhead (wall time minus the
# objective's own time, divided by trials).
import math, os, sys, tempfile, time, statistics
import optuna

optuna.logging.set_verbosity(optuna.logging.WARNING)
budget = int(sys.argv[1]) if len(sys.argv) > 1 else 500
seeds = int(sys.argv[2]) if len(sys.argv) > 2 else 5
problems = [int(x) for x in sys.argv[3].split(',')] if len(sys.argv) > 3 else [1, 2, 3]

def zdt(which, x):
    g = 1 + 9 * sum(x[1:]) / (len(x) - 1)
    f1 = x[0]
    if which == 1: h = 1 - math.sqrt(f1 / g)
    elif which == 2: h = 1 - (f1 / g) ** 2
    else: h = 1 - math.sqrt(f1 / g) - (f1 / g) * math.sin(10 * math.pi * f1)
    return f1, g * h

def hv2(points, ref):
    pts = sorted(p for p in points if p[0] < ref[0] and p[1] < ref[1])
    hv, y = 0.0, ref[1]
    for x, py in pts:
        if py < y:
            hv += (ref[0] - x) * (y - py); y = py
    return hv

for which in problems:
    hvs, over = [], []
    for seed in range(seeds):
        path = os.path.join(tempfile.gettempdir(), "peer_optuna_%d.db" % os.getpid())
        if os.path.exists(path): os.remove(path)
        eval_s = [0.0]
        def objective(trial):
            x = [trial.suggest_int("x%d" % i, 0, 100) / 100 for i in range(30)]
            t = time.perf_counter(); r = zdt(which, x); eval_s[0] += time.perf_counter() - t
            return r
        study = optuna.create_study(directions=["minimize", "minimize"], storage="sqlite:///" + path,
                                    sampler=optuna.samplers.NSGAIISampler(population_size=50, seed=seed))
        t0 = time.perf_counter()
        study.optimize(objective, n_trials=budget)
        total = time.perf_counter() - t0
        hvs.append(hv2([tuple(t.values) for t in study.trials if t.values], (1.1, 11.0)))
        over.append((total - eval_s[0]) / budget * 1000)
        os.remove(path)
    print("optuna ZDT%d: median hypervolume %.4f (ref 1.1, 11; seeds %.4f..%.4f), per-trial overhead %.3f ms" % (which, statistics.median(hvs), min(hvs), max(hvs), statistics.median(over)), flush=True)
