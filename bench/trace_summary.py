#!/usr/bin/python3
"""Sums a Chrome trace (bench_moe --profile) by op name: total and self milliseconds per step.

    /usr/bin/python3 bench/trace_summary.py trace.json [steps] [rows]
"""
import json
import sys
from collections import defaultdict

path = sys.argv[1]
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 50
rows = int(sys.argv[3]) if len(sys.argv) > 3 else 40
with open(path) as f:
    data = json.load(f)
events = data["traceEvents"] if isinstance(data, dict) else data
spans = [e for e in events if e.get("ph") == "X"]
by_thread = defaultdict(list)
for e in spans:
    by_thread[e.get("tid")].append(e)
total = defaultdict(float)
self_time = defaultdict(float)
count = defaultdict(int)
for tid, evs in by_thread.items():
    evs.sort(key=lambda e: (e["ts"], -e["dur"]))
    stack = []
    for e in evs:
        while stack and stack[-1]["ts"] + stack[-1]["dur"] <= e["ts"]:
            stack.pop()
        total[e["name"]] += e["dur"]
        count[e["name"]] += 1
        self_time[e["name"]] += e["dur"]
        if stack:
            self_time[stack[-1]["name"]] -= e["dur"]
        stack.append(e)
print(f"{'op':48s} {'calls/step':>10s} {'self ms/step':>12s} {'total ms/step':>13s}")
for name in sorted(self_time, key=lambda n: -self_time[n])[:rows]:
    print(f"{name[:48]:48s} {count[name] / steps:10.1f} {self_time[name] / 1000 / steps:12.4f} {total[name] / 1000 / steps:13.4f}")
print(f"{'all ops (self)':48s} {sum(count.values()) / steps:10.1f} {sum(self_time.values()) / 1000 / steps:12.4f}")
