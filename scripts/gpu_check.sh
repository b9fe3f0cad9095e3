#!/usr/bin/env bash
# Prepares a GPU check of the CUDA backend: builds llamux HERE (Release, with the CUDA
# plugin; no GPU needed to build) and assembles .device/, a folder the GPU machine runs as
# it is: it has the CUDA toolkit (cuBLAS, driver), CMake and Python there, but none of
# Boost, spdlog, fmt, GoogleTest or oneDNN, so nothing is built there.
#
#   bash scripts/gpu_check.sh          # here: build and assemble .device/ (ignored by git)
#
# Then, through the device tool (one call, about 5 of its 10 minutes):
#   run(command="bash .device/run.sh", carry=[".device"], timeout_s=600)
# run.sh runs test_cuda_backend (op tests and every fixture model at every -ngl), then
# `llamux bench` on a 7B-shape Q4_0 file it makes there with `llamux synth` (skipped if
# either command is missing), and prints a short table last. Full logs and bench JSON land
# in $OUT (they come back with the reply).
#
# .device/ layout (under 64 MiB, the device tool's carry limit; checked below):
#   bin/llamux, bin/test_cuda_backend
#   lib/llamux/plugins/libllamux_backend_{cpu,cuda}.so  (found beside the binaries)
#   lib/libspdlog.so.*, lib/libfmt.so.*, ...            (what ldd resolves that the GPU
#                                                         machine lacks)
#   shared/models/..., shared/testdata/reference/       (LLAMUX_TEST_DATA for the tests)
#   run.sh
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

# Shared libraries: everything ldd resolves except the C/C++ runtime (the GPU machine's
# own, newer) and CUDA (the GPU machine's toolkit and driver).
system='/(ld-linux[^/]*|lib(c|m|dl|rt|pthread|stdc\+\+|gcc_s|cublas|cublasLt|cudart|cuda)\.so[^/]*)$'
for f in .device/bin/* .device/lib/llamux/plugins/*.so; do
  ldd "$f" | awk '/=> \// { print $3 }'
done | sort -u | grep -Ev "$system" | while read -r lib; do
  cp -L "$lib" .device/lib/
done

cp "$data/models/stories260K.gguf" "$data/models/stories260K-F16.gguf" .device/shared/models/
cp "$data"/models/synth/synth-tiny-*.gguf .device/shared/models/synth/
cp "$data"/testdata/reference/*.json .device/shared/testdata/reference/

cat > .device/run.sh <<'RUN'
#!/usr/bin/env bash
# On the GPU machine, from the repository root: bash .device/run.sh
# Made by scripts/gpu_check.sh. Tests, then a benchmark, then a short table (printed last).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/out}"
mkdir -p "$out"
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
export LLAMUX_TEST_DATA="$here/shared"
llamux="$here/bin/llamux"
deadline=540  # seconds: leave the rest of the device tool's 10 minutes for the transfers
elapsed() { echo $((SECONDS)); }

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free --format=csv,noheader || true
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
echo "== plugin libraries"
ldd "$here/lib/llamux/plugins/libllamux_backend_cuda.so" | grep -E "cublas|not found" || true
echo "== plugins"
"$llamux" plugins 2>&1 || true

echo "== test_cuda_backend (full log: $out/cuda_tests.log)"
timeout 300 "$here/bin/test_cuda_backend" --gtest_color=no > "$out/cuda_tests.log" 2>&1
test_rc=$?
grep -E "^\[  FAILED  \]|^\[ cuda +\]|Failure|Expected|Which is|Value of|error" "$out/cuda_tests.log" | head -150
grep -m1 -A1 "Skipped" "$out/cuda_tests.log" || true  # the first skip reason, if any
tests="$(grep -E "^\[ +(PASSED|FAILED|SKIPPED) +\] [0-9]+ test" "$out/cuda_tests.log" | tr '\n' ' ')"
[ "$test_rc" = 124 ] && tests="TIMED OUT after 300 s; $tests"

echo "== benchmark"
bench_note=""
ngls=""
model=""
if ! "$llamux" plugins 2>/dev/null | grep -Eq "^ok +cuda "; then
  bench_note="no usable cuda plugin (see == plugins above): no benchmark"
elif ! "$llamux" bench --help >/dev/null 2>&1; then
  bench_note="llamux bench not available in this build"
else
  model=/tmp/llamux-7b-q4_0.gguf
  ngls="33 32 16 0"
  if ! "$llamux" synth --help >/dev/null 2>&1; then
    bench_note="llamux synth not available: benchmarked stories260K instead"
    model=""
  else
    echo "synth 7b Q4_0 -> $model"
    if ! timeout 240 "$llamux" synth --shape 7b --type Q4_0 -o "$model" > "$out/synth.log" 2>&1; then
      bench_note="llamux synth failed (see synth.log): benchmarked stories260K instead"
      model=""
    fi
  fi
  if [ -z "$model" ]; then
    model="$here/shared/models/stories260K.gguf"
    ngls="6 0"
  fi
fi
for ngl in $ngls; do
  if [ "$(elapsed)" -gt $((deadline - 120)) ]; then
    echo "skipping -ngl $ngl: out of time"
    continue
  fi
  reps=3
  [ "$ngl" -le 16 ] && reps=2
  echo "bench -ngl $ngl (-r $reps)"
  timeout 120 "$llamux" bench -m "$model" -p 512 -n 128 -ngl "$ngl" -r "$reps" -o json \
    > "$out/bench_ngl$ngl.json" 2> "$out/bench_ngl$ngl.err" || tail -3 "$out/bench_ngl$ngl.err"
done

echo
echo "== summary ($gpu, $(elapsed) s)"
echo "tests: ${tests:-no summary (see cuda_tests.log)}"
[ -n "$bench_note" ] && echo "bench: $bench_note"
python3 - "$out" "$(basename "${model:-none}")" <<'PY'
import glob, json, os, sys
out, model = sys.argv[1], sys.argv[2]
# llama.cpp on an H100 80GB, same 7B-shape Q4_0 file kind (docs: /work/shared/design/anchors.md)
ref = {0: (38.9, 16.3), 16: (73.8, 27.8), 32: (9840, 180.2), 33: (10275, 230.8)}
rows = []
for f in glob.glob(os.path.join(out, "bench_ngl*.json")):
    try:
        data = json.load(open(f))
    except Exception:
        continue
    ngl = int(os.path.basename(f)[9:-5])
    pp = next((r["avg_ts"] for r in data if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0), None)
    tg = next((r["avg_ts"] for r in data if r.get("n_gen", 0) > 0), None)
    rows.append((ngl, pp, tg))
if not rows:
    print("bench: no results")
    sys.exit(0)
fmt = lambda v: "-" if v is None else f"{v:.1f}"
print(f"{model}: tokens/s (llama.cpp H100 reference for the 7B Q4_0 shape)")
print(f"{'-ngl':>5} {'pp512':>10} {'tg128':>8}   {'llama.cpp pp512':>15} {'tg128':>7}")
for ngl, pp, tg in sorted(rows, reverse=True):
    r = ref.get(ngl) if "7b" in model else None
    print(f"{ngl:>5} {fmt(pp):>10} {fmt(tg):>8}   {fmt(r[0] if r else None):>15} {fmt(r[1] if r else None):>7}")
PY
RUN
chmod +x .device/run.sh

size_kib=$(du -sk .device | cut -f1)
echo "gpu_check: .device/ is $((size_kib / 1024)) MiB:"
du -sh .device/bin .device/lib .device/shared
if [ "$size_kib" -gt $((64 * 1024)) ]; then
  echo "gpu_check: .device/ is over the device tool's 64 MiB carry limit" >&2
  exit 1
fi
echo "gpu_check: now run: run(command=\"bash .device/run.sh\", carry=[\".device\"], timeout_s=600)"
