#!/usr/bin/env bash
# Configures (once) and builds everything into build/ with Ninja and ccache. Two jobs: this
# machine has two cores, and LibTorch translation units need ~1 GiB each.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -f build/build.ninja ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
fi
cmake --build build -j "${CIRCUIT_JOBS:-2}"
