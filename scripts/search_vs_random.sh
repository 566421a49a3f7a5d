#!/usr/bin/env bash
# The example search of docs/search.md: NSGA-II against random search at the same budget on the
# MoE space (resources/search/moe_mlp.search.json), accuracy (validation) vs params, several
# seeds, tiny trials (one epoch on a Fashion-MNIST subset). Prints the final hypervolume of each
# run and writes the reports. Usage:
#   scripts/search_vs_random.sh [TRIALS] [SEEDS] [LIMIT] [OUT_DIR]     (default 30 3 3200 search-example)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
circuit=${CIRCUIT:-$root/build/app/cli/circuit}
trials=${1:-30} seeds=${2:-3} limit=${3:-3200} out=${4:-search-example}
mkdir -p "$out"
db="$out/studies.sqlite"
for seed in $(seq 1 "$seeds"); do
  for strategy in nsga2 random; do
    "$circuit" search "$root/resources/search/moe_mlp.search.json" --study "$strategy-$seed" --strategy "$strategy" --seed "$seed" \
      --population 10 --trials "$trials" --total "$trials" --limit "$limit" --no-latency --db "$db" > "$out/$strategy-$seed.log" 2>&1
  done
  "$circuit" report "nsga2-$seed" --baseline "random-$seed" --db "$db" -o "$out"
done
