#!/usr/bin/env bash
# Installs every Debian 12 package Circuit Studio needs to build, test and run. Idempotent: when
# everything is present it does no apt work at all and returns in well under a second.
#   scripts/setup.sh               packages, then ONNX Runtime into .cache/
#   scripts/setup.sh --onnxruntime only ONNX Runtime (check-debian.sh: the host's npm for a chroot)
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config ccache git
  # dpkg-shlibdeps and file: the .deb's dependencies (cpack -G DEB)
  dpkg-dev file
  # libraries (shared/DESIGN.md lists what each layer uses)
  qt6-base-dev libvulkan-dev glslc libimgui-dev liblua5.4-dev libtorch-dev
  # Gloo's headers: LibTorch's ProcessGroupGloo.hpp includes them (data-parallel training on CPUs)
  libgloo-dev
  libgtest-dev libbenchmark-dev libsqlite3-dev libpq-dev libcairo2-dev zlib1g-dev
  # a fast BLAS for LibTorch: the reference BLAS is ~50x slower (it takes over libblas.so.3)
  libopenblas0-openmp
  # real data, and peers that read back what we write
  dataset-fashion-mnist python3 python3-torch python3-onnx python3-optuna librsvg2-bin poppler-utils
  # a real PostgreSQL server for the store's tests (each starts its own), and Optuna's client for it
  postgresql python3-psycopg2
  # scripts/check-debian.sh: the README's test command in a fresh chroot of either release
  debootstrap
  # the engine on "another machine" (circuit serve over ssh): its tests start their own sshd on
  # 127.0.0.1 with their own keys
  openssh-client openssh-server
  # headless GUI tests: a virtual X server and a CPU Vulkan device (lavapipe)
  xvfb xauth mesa-vulkan-drivers
  # the font every renderer and the canvas draw text with
  fonts-dejavu-core
)

install_onnxruntime() {
  # ONNX Runtime, the peer that runs our ONNX files in the tests (tests/interop/run_onnx.mjs): the
  # npm package onnxruntime-node ships its CPU library inside; its install script only fetches GPU
  # extras from elsewhere, so it is skipped. Into .cache/ (ignored by git), once.
  local ort_dir
  ort_dir="$(cd "$(dirname "$0")/.." && pwd)/.cache/onnxruntime"
  if [[ ! -f $ort_dir/node_modules/onnxruntime-node/package.json ]]; then
    echo "setup: installing onnxruntime-node into $ort_dir"
    npm install --prefix "$ort_dir" --no-audit --no-fund --ignore-scripts --loglevel=error onnxruntime-node@1.31.1
  fi
}
if [[ ${1:-} == --onnxruntime ]]; then
  install_onnxruntime
  exit 0
fi

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
# Node.js and npm for ONNX Runtime (below); a machine that has them from elsewhere keeps its own.
command -v npm >/dev/null || missing+=(nodejs npm)

if (( ${#missing[@]} == 0 )); then
  echo "setup: all ${#packages[@]} packages present"
else
  sudo=()
  if (( EUID != 0 )); then
    command -v sudo >/dev/null || { echo "setup: run as root (or install sudo) to install: ${missing[*]}" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
  # Debian enables a system sshd when openssh-server is installed; the tests start their own, so
  # a server this script brought in is not left listening on port 22.
  if [[ " ${missing[*]} " == *" openssh-server "* ]] && command -v systemctl >/dev/null && systemctl is-system-running >/dev/null 2>&1; then
    "${sudo[@]}" systemctl disable --now ssh >/dev/null 2>&1 || true
  fi
fi

install_onnxruntime
