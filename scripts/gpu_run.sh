#!/usr/bin/env bash
# The GPU checks of the CUDA backend, run ON the GPU machine from the folder that
# scripts/gpu_check.sh assembles (it copies this file to .device/run.sh):
#
#   bash .device/run.sh        # through the device tool, carry [".device"]
#
# In order: the card and its two ceilings (bin/gpu_ceilings: copy bandwidth, cuBLAS F16
# rate), the int8 GEMV variants (bin/gpu_gemv_sweep), the op-conformance suite on the cuda
# plugin, test_cuda_backend (op tests and every fixture at every -ngl; failing tests are
# rerun under compute-sanitizer), then `llamux bench` on a 7B-shape Q4_0 file made there
# with `llamux synth` (while the tests run), llama.cpp on the same file when a peer build
# came along (gpu_check.sh with PEER=...; it then replaces the anchors in the table),
# generation 4000 tokens deep with the attention split along the cache and without,
# generation with the opt-ins on and the launch-overhead features off one at a time, two
# profiled runs (LLAMUX_CUDA_PROFILE, prompt and generation apart), and a short table,
# printed last. Logs and JSON are packed
# into $OUT/logs.tgz (the device tool returns at most 8 files).
# Knobs: NGLS (default "33 32 24 16 8 0"), PEER_NGLS (default "33 32"), DEADLINE (seconds,
# default 500: the steps that would start after it are skipped), SANITIZE=0 (no sanitizer
# reruns), SWEEP=0 (no GEMV variants), ABLATE=0 (no runs without graphs / PDL / fusions;
# ABLATE_EXTRA="VAR=value ..." adds a run with each setting alone),
# KQUANT=0 (no 7B-shape Q4_K_M file and benchmark), FUSE_TESTS=0 (no model tests at fusion
# levels 2, 4, 5 and 6 and with the GEMV opt-ins and split blocks).
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out=/tmp/llamux-gpu-run
rm -rf "$out" && mkdir -p "$out"
pack() { tar czf "${OUT:-$here}/logs.tgz" -C "$out" . 2>/dev/null; }
trap pack EXIT
export LD_LIBRARY_PATH="$here/lib:/usr/local/cuda/lib64:/usr/local/cuda/lib:${LD_LIBRARY_PATH:-}"
export LLAMUX_TEST_DATA="$here/shared"
llamux="$here/bin/llamux"
deadline="${DEADLINE:-500}"
ngls="${NGLS:-33 32 24 16 8 0}"
model=/tmp/llamux-7b-q4_0.gguf
late() { [ "$SECONDS" -gt "$1" ]; }  # true once fewer than (deadline - $1) seconds are left

echo "== device"
nvidia-smi --query-gpu=name,driver_version,memory.total,memory.free,clocks.sm,clocks.mem --format=csv,noheader || true
gpu="$(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)"
nproc

# The benchmark files are made on the CPU while the GPU runs the tests.
timeout 300 "$llamux" synth --shape 7b --type Q4_0 -o "$model" > "$out/synth.log" 2>&1 &
synth_pid=$!
kmodel=/tmp/llamux-7b-q4_k_m.gguf
kquant_pid=""
if [ "${KQUANT:-1}" = 1 ]; then
  timeout 400 "$llamux" synth --shape 7b --type Q4_K_M -o "$kmodel" > "$out/synth_q4_k_m.log" 2>&1 &
  kquant_pid=$!
fi

echo "== ceilings"
timeout 90 "$here/bin/gpu_ceilings" 2>&1 | tee "$out/ceilings.txt"
if [ "${SWEEP:-1}" = 1 ] && [ -x "$here/bin/gpu_gemv_sweep" ]; then
  echo "== int8 GEMV variants (scripts/gpu_gemv_sweep.cu)"
  timeout 150 "$here/bin/gpu_gemv_sweep" 2>&1 | tee "$out/gemv_sweep.txt"
fi

echo "== plugins"
"$llamux" plugins 2>&1 || true
ldd "$here/lib/llamux/plugins/libllamux_backend_cuda.so" | grep -E "cublas|not found" || true

echo "== conformance (llamux test-backend cuda; log: conformance.log)"
timeout 120 "$llamux" test-backend cuda > "$out/conformance.log" 2>&1
conf_rc=$?
grep -Eiv "^ *(ok|pass)" "$out/conformance.log" | tail -25

echo "== test_cuda_backend (log: cuda_tests.log)"
timeout 240 "$here/bin/test_cuda_backend" --gtest_color=no > "$out/cuda_tests.log" 2>&1
test_rc=$?
grep -E "^\[  FAILED  \]|^\[ cuda +\]|Failure|Expected|Which is|Value of|rror" "$out/cuda_tests.log" | head -120
tests="$(grep -E "^\[ +(PASSED|FAILED|SKIPPED) +\] [0-9]+ test" "$out/cuda_tests.log" | tr '\n' ' ')"
[ "$test_rc" = 124 ] && tests="TIMED OUT after 240 s; $tests"

if [ "${SANITIZE:-1}" = 1 ] && [ "$test_rc" != 0 ] && command -v compute-sanitizer >/dev/null; then
  failed="$(grep -E "^\[  FAILED  \] [A-Za-z]" "$out/cuda_tests.log" | awk '{print $4}' | sort -u | head -3 | paste -sd: -)"
  if [ -n "$failed" ] && ! late $((deadline - 200)); then
    echo "== compute-sanitizer memcheck on: $failed (log: sanitizer.log)"
    timeout 120 compute-sanitizer --tool memcheck --print-limit 20 "$here/bin/test_cuda_backend" \
      --gtest_filter="$failed" --gtest_color=no > "$out/sanitizer.log" 2>&1
    grep -E "=========|FAILED|Invalid|out of bounds" "$out/sanitizer.log" | head -40
  fi
fi

# The other fusion levels still selectable (2: rope, the KV stores and attn_output's
# rounding as kernels of their own; opt-in 4: the rope + KV store work in the q/k/v launch;
# opt-in 5: also the add + norm after attn_output and ffn_down in their launches; opt-in 6:
# also the SwiGLU in the gate/up launch), level 6 with the early weights, the
# weights-first GEMV with them, and Q4_0 / Q8_0 / Q6_K weights split into bodies and
# scales (LLAMUX_CUDA_SPLIT_BLOCKS=1) at levels 3 and 6, the attention split along the
# cache from the first row (LLAMUX_CUDA_SPLIT_ATTENTION_FROM=0): the model tests again with
# each (one-token decoding and prompts at every -ngl). The CudaFusions test runs the fused
# products on longer rows.
tests_fuse=""
if [ "${FUSE_TESTS:-1}" = 1 ]; then
  for flags in "LLAMUX_CUDA_FUSE=2" "LLAMUX_CUDA_FUSE=4" "LLAMUX_CUDA_FUSE=5" \
               "LLAMUX_CUDA_FUSE=6 LLAMUX_CUDA_EARLY_WEIGHTS=1" "LLAMUX_CUDA_WEIGHTS_FIRST=1 LLAMUX_CUDA_EARLY_WEIGHTS=1" \
               "LLAMUX_CUDA_SPLIT_BLOCKS=1" "LLAMUX_CUDA_SPLIT_BLOCKS=1 LLAMUX_CUDA_FUSE=6 LLAMUX_CUDA_EARLY_WEIGHTS=1" \
               "LLAMUX_CUDA_SPLIT_ATTENTION_FROM=0"; do
    late $((deadline - 200)) && break
    name="cuda_tests_$(echo "$flags" | tr ' =' '__')"
    echo "== test_cuda_backend model tests with $flags (log: $name.log)"
    env $flags timeout 150 "$here/bin/test_cuda_backend" --gtest_color=no \
      --gtest_filter='CudaReference*:CudaGreedy*:CudaSession*:CudaFusions*' > "$out/$name.log" 2>&1
    grep -E "^\[  FAILED  \]|Failure|Expected|Which is|Value of" "$out/$name.log" | head -40
    tests_fuse="$tests_fuse $flags: $(grep -E "^\[ +(PASSED|FAILED|SKIPPED) +\] [0-9]+ test" "$out/$name.log" | tr '\n' ' ')"
  done
fi

echo "== benchmark"
wait "$synth_pid"
synth_rc=$?
tail -2 "$out/synth.log"
bench_note=""
if [ "$synth_rc" != 0 ] || [ ! -s "$model" ]; then
  bench_note="llamux synth failed (rc $synth_rc, see synth.log): no benchmark"
  ngls=""
fi
for ngl in $ngls; do
  if late $((deadline - 60)); then
    echo "skipping -ngl $ngl: past the deadline"
    continue
  fi
  reps=3
  [ "$ngl" -lt 32 ] && reps=2
  echo "bench -ngl $ngl (-r $reps), $SECONDS s"
  timeout 150 "$llamux" bench -m "$model" -p 512 -n 128 -ngl "$ngl" -r "$reps" -o json \
    > "$out/bench_ngl$ngl.json" 2> "$out/bench_ngl$ngl.err" || tail -3 "$out/bench_ngl$ngl.err"
done
# A llama.cpp CUDA build's llama-bench, when gpu_check.sh got PEER=: packed with xz, alone
# (a static build) or in a tar with its own shared libraries, which then come first on the
# library path of its runs (peer_env).
peer_dir=/tmp/llama-peer
peer="$peer_dir/llama-bench"
rm -rf "$peer_dir" && mkdir -p "$peer_dir"
if [ -f "$here/peer/llama-bench.tar.xz" ]; then
  python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
    "$here/peer/llama-bench.tar.xz" "$peer_dir"
elif [ -f "$here/peer/llama-bench.xz" ]; then
  xz -dc "$here/peer/llama-bench.xz" > "$peer" 2>/dev/null ||
    python3 -c 'import lzma, shutil, sys; shutil.copyfileobj(lzma.open(sys.argv[1]), open(sys.argv[2], "wb"))' \
      "$here/peer/llama-bench.xz" "$peer"
fi
[ -f "$peer" ] && chmod +x "$peer"
peer_env="LD_LIBRARY_PATH=$peer_dir:$LD_LIBRARY_PATH"
if [ -x "$peer" ] && [ -n "$ngls" ]; then
  echo "== llama.cpp on the same card and file (peer/llama-bench)"
  for ngl in ${PEER_NGLS:-33 32}; do
    late $((deadline - 60)) && { echo "skipping llama.cpp -ngl $ngl: past the deadline"; continue; }
    env "$peer_env" timeout 150 "$peer" -m "$model" -p 512 -n 128 -ngl "$ngl" -r 3 -o json \
      > "$out/peer_ngl$ngl.json" 2> "$out/peer_ngl$ngl.err" || tail -3 "$out/peer_ngl$ngl.err"
  done
fi
# The K-quant int8 GEMV (Q4_K, Q5_K, Q6_K) on a Q4_K_M file, all layers on the GPU.
if [ -n "$kquant_pid" ] && ! late $((deadline - 60)); then
  echo "== 7B-shape Q4_K_M, -ngl 33"
  if wait "$kquant_pid" && [ -s "$kmodel" ]; then
    timeout 120 "$llamux" bench -m "$kmodel" -p 512 -n 128 -ngl 33 -r 3 -o json \
      > "$out/kquant_ngl33.json" 2> "$out/kquant_ngl33.err" || tail -3 "$out/kquant_ngl33.err"
    # Its Q6_K matrices (v and ffn_down of half the layers, the head) split.
    LLAMUX_CUDA_SPLIT_BLOCKS=1 timeout 60 "$llamux" bench -m "$kmodel" -p 0 -n 128 -ngl 33 -r 3 -o json \
      > "$out/kquant_split_ngl33.json" 2>/dev/null
    if [ -x "$peer" ]; then
      env "$peer_env" timeout 90 "$peer" -m "$kmodel" -p 512 -n 128 -ngl 33 -r 3 -o json \
        > "$out/kquant_peer_ngl33.json" 2> "$out/kquant_peer_ngl33.err" || tail -3 "$out/kquant_peer_ngl33.err"
    fi
  else
    tail -3 "$out/synth_q4_k_m.log"
  fi
fi
# Deep into the context: the attention split along the cache (the default from 1024 rows)
# against one block per head.
if [ -n "$ngls" ] && ! late $((deadline - 60)); then
  echo "== -ngl 33 generation at depth 4000"
  for from in 1024 100000000; do
    LLAMUX_CUDA_SPLIT_ATTENTION_FROM=$from timeout 60 "$llamux" bench -m "$model" -p 0 -n 32 -d 4000 -ngl 33 -r 2 \
      -o json > "$out/depth_from$from.json" 2>/dev/null
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("tg32 @ d4000, split attention from %s rows: %.1f t/s" % (sys.argv[2], d[0]["avg_ts"]))' \
      "$out/depth_from$from.json" "$from" 2>/dev/null || echo "tg32 @ d4000, split from $from: failed"
  done
fi
if [ "${ABLATE:-1}" = 1 ] && [ -n "$ngls" ] && ! late $((deadline - 60)); then
  echo "== -ngl 33 generation with the opt-ins (split blocks, fusion levels 4, 5 and 6, early"
  echo "   weight loads, the plain GEMV weights first),"
  echo "   and with the launch-overhead features off (ABLATE=0 skips)"
  for flags in ${ABLATE_EXTRA:-} "LLAMUX_CUDA_SPLIT_BLOCKS=1" \
               "LLAMUX_CUDA_SPLIT_BLOCKS=1 LLAMUX_CUDA_FUSE=6 LLAMUX_CUDA_EARLY_WEIGHTS=1" \
               "LLAMUX_CUDA_SPLIT_BLOCKS=1 LLAMUX_CUDA_WEIGHTS_FIRST=1 LLAMUX_CUDA_EARLY_WEIGHTS=1" \
               "LLAMUX_CUDA_FUSE=4" "LLAMUX_CUDA_FUSE=5" "LLAMUX_CUDA_FUSE=6" \
               "LLAMUX_CUDA_FUSE=6 LLAMUX_CUDA_EARLY_WEIGHTS=1" "LLAMUX_CUDA_EARLY_WEIGHTS=1" \
               "LLAMUX_CUDA_WEIGHTS_FIRST=1" "LLAMUX_CUDA_WEIGHTS_FIRST=1 LLAMUX_CUDA_EARLY_WEIGHTS=1" \
               "LLAMUX_CUDA_FUSE=2" "LLAMUX_CUDA_FUSE=1" "LLAMUX_CUDA_FUSE=0" "LLAMUX_CUDA_FUSE=0 LLAMUX_CUDA_PDL=0" \
               "LLAMUX_CUDA_FUSE=0 LLAMUX_CUDA_PDL=0 LLAMUX_CUDA_GRAPHS=0"; do
    late $((deadline - 30)) && { echo "skipping the rest: past the deadline"; break; }
    name="ablate_$(echo "$flags" | tr ' =' '__')"
    env $flags timeout 60 "$llamux" bench -m "$model" -p 0 -n 128 -ngl 33 -r 3 -o json > "$out/$name.json" 2>/dev/null
    python3 -c 'import json, sys; d = json.load(open(sys.argv[1])); print("tg128 with %s: %.1f t/s" % (sys.argv[2], d[0]["avg_ts"]))' \
      "$out/$name.json" "$flags" 2>/dev/null || echo "tg128 with $flags: failed"
  done
fi
for test in "512 0" "0 128"; do
  [ -n "$ngls" ] && ! late $((deadline - 30)) || break
  set -- $test
  echo "== profile, -ngl 33, -p $1 -n $2 (first run of each program left out)"
  LLAMUX_CUDA_PROFILE=1 timeout 60 "$llamux" bench -m "$model" -p "$1" -n "$2" -ngl 33 -r 2 > "$out/profile_p$1_n$2.md" 2> "$out/profile_p$1_n$2.txt"
  grep -A 14 "cuda profile" "$out/profile_p$1_n$2.txt" | cut -c1-110
done

echo
echo "== summary ($gpu, $SECONDS s)"
echo "conformance: rc $conf_rc, $(grep -Ei "passed|failed" "$out/conformance.log" | tail -1)"
echo "tests: ${tests:-no summary (see cuda_tests.log)}"
[ -n "$tests_fuse" ] && echo "model tests with the other settings:$tests_fuse"
grep -E "^(copy_bandwidth|gemm_f16_8192)" "$out/ceilings.txt" || true
[ -n "$bench_note" ] && echo "bench: $bench_note"
python3 - "$out" <<'PY'
import glob, json, os, re, sys
out = sys.argv[1]
# llama.cpp CUDA on an H100 80GB, same 7B-shape Q4_0 file kind (shared/design/anchors.md)
ref = {0: (38.9, 16.3), 8: (49.4, 18.1), 16: (73.8, 27.8), 24: (153.4, 46.8), 32: (9840, 180.2), 33: (10275, 230.8)}
bw = None
try:
    m = re.search(r"copy_bandwidth (\d+)", open(os.path.join(out, "ceilings.txt")).read())
    bw = float(m.group(1)) * 1e9 if m else None
except OSError:
    pass
def tps(path):
    """(pp512, tg128) tokens/s of a llama-bench style JSON file, None where missing."""
    try:
        data = json.load(open(path))
    except Exception:
        return None, None
    pp = next((r["avg_ts"] for r in data if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0), None)
    tg = next((r["avg_ts"] for r in data if r.get("n_gen", 0) > 0), None)
    return pp, tg
# llama.cpp measured here beside us replaces the anchors where present.
here_peer = {int(os.path.basename(f)[8:-5]): tps(f) for f in glob.glob(os.path.join(out, "peer_ngl*.json"))}
here_peer = {k: v for k, v in here_peer.items() if v[0] or v[1]}
if here_peer:
    ref = here_peer
rows, size = [], None
for f in glob.glob(os.path.join(out, "bench_ngl*.json")):
    try:
        data = json.load(open(f))
    except Exception:
        continue
    ngl = int(os.path.basename(f)[9:-5])
    pp = next((r["avg_ts"] for r in data if r.get("n_prompt", 0) > 0 and r.get("n_gen", 0) == 0), None)
    tg = next((r["avg_ts"] for r in data if r.get("n_gen", 0) > 0), None)
    size = next((r["model_size"] for r in data), size)
    rows.append((ngl, pp, tg))
kq, kq_peer = tps(os.path.join(out, "kquant_ngl33.json")), tps(os.path.join(out, "kquant_peer_ngl33.json"))
kq_split = tps(os.path.join(out, "kquant_split_ngl33.json"))
if kq[0] or kq[1]:
    print(f"7B-shape Q4_K_M, -ngl 33: pp512 {kq[0] or 0:.1f} tg128 {kq[1] or 0:.1f} t/s"
          + (f" (split blocks: tg128 {kq_split[1]:.1f})" if kq_split[1] else "")
          + (f"; llama.cpp here: pp512 {kq_peer[0] or 0:.1f} tg128 {kq_peer[1] or 0:.1f}" if kq_peer[1] else ""))
if not rows:
    print("bench: no results")
    sys.exit(0)
# Bytes a generated token reads: every weight but the embedding table (one row of it).
embd = 32000 * 4096 * 18 // 32
floor = bw / (size - embd) if bw and size else None
fmt = lambda v: "-" if v is None else f"{v:.1f}"
peer_note = "llama.cpp = measured here, same card and file" if here_peer else "llama.cpp = H100 anchors"
print(f"7B-shape Q4_0, {size / 2**30:.2f} GiB; tg floor {fmt(floor)} t/s (all layers); {peer_note}")
print(f"{'-ngl':>5} {'pp512':>9} {'tg128':>8} {'tg/floor':>9}   {'llama.cpp pp':>12} {'tg':>6}")
for ngl, pp, tg in sorted(rows, reverse=True):
    r = ref.get(ngl)
    frac = f"{100 * tg / floor:.0f}%" if floor and tg and ngl == 33 else ""
    print(f"{ngl:>5} {fmt(pp):>9} {fmt(tg):>8} {frac:>9}   {fmt(r[0] if r else None):>12} {fmt(r[1] if r else None):>6}")
PY
