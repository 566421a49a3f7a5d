#!/usr/bin/env bash
# On a machine with an NVIDIA GPU and a CUDA PyTorch: builds headless against the LibTorch inside
# that PyTorch, runs the CUDA tests (ctest label `cuda`) and the GPU benchmarks against PyTorch
# eager on the same GPU, and prints the results. Run it as is from the checkout:
#
#   scripts/gpu-check.sh [--deps DIR]    # DIR/env.sh: libraries unpacked by ../shared/device/unpack-debs.sh
#
# Environment: PYTHON (default python3, must import a torch built with CUDA), CIRCUIT_JOBS (build
# jobs, default: every core), BUILD (build folder, default build-gpu).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == "--deps" ]]; then
  # shellcheck disable=SC1091
  . "$2/env.sh"
  prefix_extra=";$2/usr"
fi
PYTHON=${PYTHON:-python3}
BUILD=${BUILD:-build-gpu}
JOBS=${CIRCUIT_JOBS:-$(nproc)}

say() { printf '\n== %s\n' "$*"; }

say "PyTorch"
"$PYTHON" - <<'PY' || { echo "gpu-check: $PYTHON cannot import torch with CUDA (set PYTHON=...)"; exit 2; }
import torch
print(f"torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}")
assert torch.cuda.is_available(), "torch.cuda.is_available() is False"
for i in range(torch.cuda.device_count()):
    print(f"cuda:{i}: {torch.cuda.get_device_name(i)}")
PY
torch_prefix=$("$PYTHON" -c 'import torch; print(torch.utils.cmake_prefix_path)')

say "configure and build ($BUILD, headless, LibTorch from $torch_prefix)"
t0=$(date +%s)
cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DCIRCUIT_GUI=OFF \
  "-DCMAKE_PREFIX_PATH=${torch_prefix}${prefix_extra:-}" "-DCIRCUIT_PYTHON=$(command -v "$PYTHON")" >"$BUILD.configure.log" 2>&1 ||
  { cat "$BUILD.configure.log"; exit 1; }
cmake --build "$BUILD" -j "$JOBS" >"$BUILD.build.log" 2>&1 || { tail -50 "$BUILD.build.log"; exit 1; }
echo "built in $(( $(date +%s) - t0 )) s"
"$BUILD/app/cli/circuit" doctor

say "CUDA tests (ctest -L cuda)"
status=0
ctest --test-dir "$BUILD" -L cuda --output-on-failure || status=1

say "bench_train --device cuda (ours vs PyTorch eager, same GPU, same run)"
"$BUILD/bench/bench_train" --device cuda --python "$(command -v "$PYTHON")" --models mlp,cnn --batches 512,1024 --repeats 5 || status=1

say "bench_moe --device cuda (E=8, k=2, 4096 tokens, d 512; dense active-equivalent and naive PyTorch MoE)"
"$BUILD/bench/bench_moe" --device cuda --python "$(command -v "$PYTHON")" --sizes 4096:512:1024,4096:512:2048 --experts 8 --k 2 --rounds 5 || status=1

say "bench_mixers --device cuda (gated_delta and mamba2 forward + backward, batch 8, seq 512, d 256, 4 heads; naive and chunked PyTorch)"
"$BUILD/bench/bench_mixers" --device cuda --python "$(command -v "$PYTHON")" --repeats 7 || status=1

say "done: $([[ $status == 0 ]] && echo 'every step passed' || echo 'something failed (see above)')"
exit $status
