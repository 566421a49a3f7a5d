# Peer for bench_store: Optuna's RDB storage on the same PostgreSQL server as ours, the same number
# of worker processes and trials, the same cheap objective (ZDT1 over six integer choices 0..10, as
# zdt_worker). Prints trials per second and the store's (plus sampler's) overhead per trial in
# worker-milliseconds: workers x wall time / trials, the objective costing microseconds.
# The sampler is RandomSampler, Optuna's cheapest: its NSGAIISampler fails under concurrent workers
# in Optuna 3.1 (IndexError in _collect_parent_population, measured here), and a cheaper sampler
# only makes Optuna's overhead look smaller than with the NSGA-II our workers run.
#   python3 peer_optuna_rdb.py postgresql://user@host:port/db TRIALS WORKERS
import math, multiprocessing, sys, time
import optuna

url, trials, workers = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
storage_url = url.replace("postgresql://", "postgresql+psycopg2://", 1)

def zdt1(trial):
    x = [trial.suggest_int("x%d" % i, 0, 10) / 10 for i in range(6)]
    g = 1 + 9 * sum(x[1:]) / 5
    return x[0], g * (1 - math.sqrt(x[0] / g))

def work(index, n):
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name="zdt", storage=storage_url,
                              sampler=optuna.samplers.RandomSampler(seed=index))
    study.optimize(zdt1, n_trials=n)

if __name__ == "__main__":
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="zdt", storage=storage_url, directions=["minimize", "minimize"])
    share = [trials // workers + (1 if i < trials % workers else 0) for i in range(workers)]
    t0 = time.perf_counter()
    procs = [multiprocessing.Process(target=work, args=(i, share[i])) for i in range(workers)]
    for p in procs: p.start()
    for p in procs: p.join()
    wall = time.perf_counter() - t0
    complete = [t for t in optuna.load_study(study_name="zdt", storage=storage_url).trials if t.state.name == "COMPLETE"]
    done = len(complete)
    # As for ours: first trial started .. last trial completed, so Python's and Optuna's import
    # time (about a second per process here) is not counted against it.
    span = (max(t.datetime_complete for t in complete) - min(t.datetime_start for t in complete)).total_seconds()
    print("optuna-postgresql: %d trials complete, %.2f s (%.2f s with start-up), %.1f trials/s, %.2f worker-ms per trial"
          % (done, span, wall, done / span, workers * span / done * 1000), flush=True)
