#!/usr/bin/env bash
# Configures and builds llamux into BUILD_DIR (default: build/). Extra arguments go to cmake.
# The CUDA plugin is built whenever the CUDA toolkit is found (nvcc on PATH or in
# /usr/local/cuda); no GPU is needed to build it.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build}"
cuda_args=()
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "${cuda_args[@]}" "$@" >/dev/null
cmake --build "$build_dir" -j "$(nproc)"
