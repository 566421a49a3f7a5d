#!/usr/bin/env bash
# Configures (once) and builds into build/ with Ninja and ccache. Two jobs: this machine has two
# cores, and LibTorch translation units need ~1 GiB each.
#   scripts/build.sh           everything: libraries, tools, studio, tests, benchmarks
#   scripts/build.sh studio    only what the studio needs (the studio and `circuit`): the first
#                              window opens without waiting for the tests and benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
targets=()
for t in "$@"; do targets+=(--target "$t"); done
cmake --build build -j "${CIRCUIT_JOBS:-2}" "${targets[@]}"
