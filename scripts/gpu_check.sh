#!/usr/bin/env bash
# Prepares a GPU check of the CUDA backend: builds llamux HERE (Release, with the CUDA
# plugin; no GPU needed to build) and assembles .device/, a folder the GPU machine runs as
# it is: it has the CUDA toolkit (cuBLAS, driver), CMake and Python there, but none of
# Boost, spdlog, fmt, GoogleTest or oneDNN, so nothing is built there.
#
#   bash scripts/gpu_check.sh          # here: build and assemble .device/ (ignored by git)
#   PEER=/path/to/llama-bench FIXTURES=0 bash scripts/gpu_check.sh
#                                       # also take a llama.cpp CUDA build's llama-bench (built
#                                       # elsewhere, never here) to run beside llamux there;
#                                       # FIXTURES=0 leaves the test models out to make room
#
# Then, through the device tool (one call, within DEADLINE seconds, default 500):
#   run(command="bash .device/run.sh", carry=[".device"], timeout_s=600)
# run.sh is scripts/gpu_run.sh (its header lists the steps and knobs); everything it writes
# comes back in $OUT/logs.tgz, and a short table is printed last.
#
# .device/ layout (under 64 MiB, the device tool's carry limit; checked below):
#   bin/llamux, bin/test_cuda_backend, bin/gpu_ceilings, bin/gpu_gemv_sweep
#   lib/llamux/plugins/libllamux_backend_{cpu,cuda}.so  (found beside the binaries)
#   lib/libspdlog.so.*, lib/libfmt.so.*, ...            (what ldd resolves that the GPU
#                                                         machine lacks)
#   shared/models/..., shared/testdata/{reference,tokenizer}/  (LLAMUX_TEST_DATA)
#   run.sh                                              (scripts/gpu_run.sh)
#   peer/llama-bench.xz or .tar.xz (with its own libs)  (only with PEER=)
# The CUDA plugin itself needs libcublas.so.13 and libcublasLt.so.13 (CUDA 13, from the
# GPU machine's /usr/local/cuda/lib64) and the driver's libcuda.so.1; cudart is static.
set -euo pipefail
cd "$(dirname "$0")/.."
build_dir="${BUILD_DIR:-build-cuda}"
data="${LLAMUX_TEST_DATA:-../shared}"
jobs="${JOBS:-2}"

cuda_args=()
if ! command -v nvcc >/dev/null && [ -x /usr/local/cuda/bin/nvcc ]; then
  cuda_args+=(-DCMAKE_CUDA_COMPILER=/usr/local/cuda/bin/nvcc)
fi
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DLLAMUX_ONEDNN=OFF "${cuda_args[@]}" >/dev/null
cmake --build "$build_dir" -j "$jobs" --target llamux llamux_backend_cpu llamux_backend_cuda test_cuda_backend

plugins="$build_dir/lib/llamux/plugins"
if [ ! -f "$plugins/libllamux_backend_cuda.so" ]; then
  echo "gpu_check: $plugins/libllamux_backend_cuda.so was not built (CUDA toolkit not found?)" >&2
  exit 1
fi

rm -rf .device
mkdir -p .device/bin .device/lib/llamux/plugins .device/shared/models/synth .device/shared/testdata/reference
cp "$build_dir/bin/llamux" "$build_dir/bin/test_cuda_backend" .device/bin/
cp "$plugins/libllamux_backend_cpu.so" "$plugins/libllamux_backend_cuda.so" .device/lib/llamux/plugins/
strip --strip-unneeded .device/bin/* .device/lib/llamux/plugins/*.so

# The peer travels xz-compressed (a CUDA llama-bench is ~90 MB, ~32 MB packed); run.sh
# unpacks it to /tmp there. A shared build's own libraries (those ldd finds beside it:
# libllama, libggml*, ~90 MB for libggml-cuda at sm_90) go into the same tar; the others
# it needs are gathered with ours below.
peer_bin=""
peer_own=""
if [ -n "${PEER:-}" ]; then
  if [ ! -x "$PEER" ]; then
    echo "gpu_check: PEER=$PEER: expected an executable llama-bench" >&2
    exit 1
  fi
  mkdir -p .device/peer
  peer_own="$(cd "$(dirname "$PEER")" && pwd -P)"
  stage="$(mktemp -d)"
  cp "$PEER" "$stage/llama-bench"
  ldd "$PEER" | awk '/=> \// { print $3 }' | while read -r lib; do
    if [ "$(cd "$(dirname "$lib")" && pwd -P)" = "$peer_own" ]; then cp -L "$lib" "$stage/"; fi
  done
  strip --strip-unneeded "$stage"/*
  if ls "$stage"/*.so* >/dev/null 2>&1; then
    tar -C "$stage" -cf - . | xz -9 -T"$jobs" > .device/peer/llama-bench.tar.xz
  else
    xz -9 -T"$jobs" -c "$stage/llama-bench" > .device/peer/llama-bench.xz
  fi
  peer_bin="$stage/llama-bench"
fi

# Shared libraries: everything ldd resolves except the C/C++ runtime (the GPU machine's
# own, newer), CUDA (the GPU machine's toolkit and driver) and the peer's own (packed above).
system='/(ld-linux[^/]*|lib(c|m|dl|rt|pthread|stdc\+\+|gcc_s|cublas|cublasLt|cudart|cuda)\.so[^/]*)$'
for f in .device/bin/* .device/lib/llamux/plugins/*.so $peer_bin; do
  ldd "$f" | awk '/=> \// { print $3 }'
done | sort -u | grep -Ev "$system" | grep -v "^${peer_own:-/nonexistent}/" | while read -r lib; do
  cp -L "$lib" .device/lib/
done
if [ -n "$peer_bin" ]; then rm -rf "$(dirname "$peer_bin")"; fi

# FIXTURES=0 leaves the test models out (their tests then skip): room for a peer.
if [ "${FIXTURES:-1}" != 0 ]; then
  cp "$data/models/stories260K.gguf" "$data/models/stories260K-F16.gguf" .device/shared/models/
  cp "$data"/models/synth/synth-tiny-*.gguf .device/shared/models/synth/
  cp "$data"/testdata/reference/*.json .device/shared/testdata/reference/
fi
mkdir -p .device/shared/testdata/tokenizer  # synth's default vocabulary for the 7B shape
cp "$data/testdata/tokenizer/ggml-vocab-llama-spm.gguf" .device/shared/testdata/tokenizer/

# The card's ceilings (copy bandwidth, cuBLAS F16 rate) for the figures in performance.md.
nvcc="$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)"
"$nvcc" -O2 -gencode=arch=compute_80,code=sm_80 -gencode=arch=compute_90,code=sm_90 \
  -o .device/bin/gpu_ceilings scripts/gpu_ceilings.cu -lcublas
# Variants of the int8 matrix-vector kernel (includes backends/cuda/cuda_mmv.cu).
"$nvcc" -O3 -std=c++17 -gencode=arch=compute_90,code=sm_90 -Igraph/include -Ibackends/cuda \
  -o .device/bin/gpu_gemv_sweep scripts/gpu_gemv_sweep.cu

cp scripts/gpu_run.sh .device/run.sh
chmod +x .device/run.sh

size_kib=$(du -sk .device | cut -f1)
echo "gpu_check: .device/ is $((size_kib / 1024)) MiB:"
du -sh .device/bin .device/lib .device/shared
if [ "$size_kib" -gt $((64 * 1024)) ]; then
  echo "gpu_check: .device/ is over the device tool's 64 MiB carry limit" >&2
  exit 1
fi
echo "gpu_check: now run: run(command=\"bash .device/run.sh\", carry=[\".device\"], timeout_s=600)"
