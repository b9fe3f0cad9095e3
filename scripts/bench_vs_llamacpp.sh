#!/usr/bin/env bash
# llama.cpp's llama-bench and `llamux bench` side by side, on the same files, with the same
# thread count, in one run (the only comparison that counts on a shared, noisy machine).
#
#   scripts/bench_vs_llamacpp.sh LLAMA_CPP_BUILD_DIR [MODEL_DIR]
#
# LLAMA_CPP_BUILD_DIR holds an already built llama-bench (bin/llama-bench or llama-bench);
# this script never builds llama.cpp. MODEL_DIR (default /tmp/llamux-bench) keeps the
# benchmark files: random-weight models of real shapes written by `llamux synth` when
# missing, reused otherwise (speed does not depend on the weights' values).
#
# Environment:
#   THREADS=2         threads for both tools and for the bandwidth measurement
#   REPS=5            timed repetitions per test (after one warm-up)
#   PP=512 TG=128     prompt and generation lengths
#   MODELS="1b:Q4_0 1b:Q4_K_M 7b:Q4_0"   shape:type pairs (shapes: tiny 1b 7b 13b)
#   LLAMUX=path       the llamux binary (default: the newest build*/bin/llamux of the checkout)
#   LLAMUX_FLAGS=...  extra flags for llamux bench (e.g. "--backend onednn")
#   LLAMA_FLAGS=...   extra flags for llama-bench
#
# Prints both tools' tables, then per test the medians, the ratio llamux / llama.cpp, and
# for tg the weight bytes read per second as a fraction of the measured read bandwidth
# (the floor: every generated token reads every weight once); then per file each tool's
# peak resident memory over its whole benchmark run (GNU time's maximum RSS, when
# /usr/bin/time is there).
set -euo pipefail

usage() { sed -n '2,26p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
[[ $# -ge 1 && $# -le 2 ]] || usage
[[ "$1" == "-h" || "$1" == "--help" ]] && usage 0

LLAMA_DIR=$1
MODEL_DIR=${2:-/tmp/llamux-bench}
THREADS=${THREADS:-2}
REPS=${REPS:-5}
PP=${PP:-512}
TG=${TG:-128}
MODELS=${MODELS:-"1b:Q4_0 1b:Q4_K_M 7b:Q4_0"}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$HERE")

die() { echo "bench_vs_llamacpp: $*" >&2; exit 1; }

LLAMA_BENCH=""
for c in "$LLAMA_DIR/bin/llama-bench" "$LLAMA_DIR/llama-bench"; do
    [[ -x "$c" ]] && { LLAMA_BENCH=$c; break; }
done
[[ -n "$LLAMA_BENCH" ]] || die "no llama-bench in $LLAMA_DIR (looked in bin/ and the folder itself); build llama.cpp first"

if [[ -z "${LLAMUX:-}" ]]; then
    # shellcheck disable=SC2012  # newest build wins; paths are ours
    LLAMUX=$(ls -t "$ROOT"/build*/bin/llamux 2>/dev/null | head -n 1 || true)
fi
[[ -n "${LLAMUX:-}" && -x "$LLAMUX" ]] || die "no llamux binary: build it or set LLAMUX=path"
command -v python3 >/dev/null || die "python3 is needed to read the JSON results"
CXX=${CXX:-c++}
command -v "$CXX" >/dev/null || die "no C++ compiler ($CXX) for the bandwidth helper"

# Peak RSS of a command, in KiB, into a file (nothing when GNU time is missing).
TIME_BIN=/usr/bin/time
measure_rss() {
    local out=$1
    shift
    if [[ -x "$TIME_BIN" ]]; then
        "$TIME_BIN" -f "%M" -o "$out" "$@"
    else
        "$@"
    fi
}

mkdir -p "$MODEL_DIR"
RESULTS=$(mktemp -d "${TMPDIR:-/tmp}/bench_vs_llamacpp.XXXXXX")
trap 'rm -rf "$RESULTS"' EXIT

echo "llama-bench: $LLAMA_BENCH"
echo "llamux:      $LLAMUX"
echo "models in:   $MODEL_DIR; threads $THREADS, repetitions $REPS, pp$PP, tg$TG"
echo

# Benchmark files.
FILES=()
for spec in $MODELS; do
    shape=${spec%%:*}
    type=${spec#*:}
    file="$MODEL_DIR/synth-$shape-$type.gguf"
    if [[ ! -s "$file" ]]; then
        echo "writing $file (llamux synth --shape $shape --type $type) ..."
        "$LLAMUX" synth --shape "$shape" --type "$type" -o "$file.part" -t "$THREADS" 2> "$RESULTS/synth.log" \
            || { tail -n 5 "$RESULTS/synth.log" >&2; rm -f "$file.part"; die "synth failed for $spec"; }
        tail -n 1 "$RESULTS/synth.log"
        mv "$file.part" "$file"
    fi
    FILES+=("$file")
done

# Read bandwidth, the floor for generation.
MEMBW="$MODEL_DIR/membw"
if [[ ! -x "$MEMBW" || "$HERE/membw.cpp" -nt "$MEMBW" ]]; then
    "$CXX" -O2 -march=native -pthread "$HERE/membw.cpp" -o "$MEMBW" || die "cannot compile membw.cpp"
fi
echo
echo "== read bandwidth ($THREADS threads, 1 GiB) =="
"$MEMBW" "$THREADS" 1024 10 | tee "$RESULTS/membw.txt"
BW_BEFORE=$(sed -n 's/^read_gbps=//p' "$RESULTS/membw.txt")

i=0
for file in "${FILES[@]}"; do
    i=$((i + 1))
    echo
    echo "== $(basename "$file") =="
    echo "-- llama.cpp (llama-bench) --"
    # shellcheck disable=SC2086
    measure_rss "$RESULTS/llama-$i.rss" \
        "$LLAMA_BENCH" -m "$file" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" -o json ${LLAMA_FLAGS:-} \
        > "$RESULTS/llama-$i.json" 2> "$RESULTS/llama-$i.log" \
        || { tail -n 20 "$RESULTS/llama-$i.log" >&2; die "llama-bench failed on $file"; }
    python3 - "$RESULTS/llama-$i.json" <<'EOF'
import json, sys
for t in json.load(open(sys.argv[1])):
    name = f"pp{t['n_prompt']}" if t["n_gen"] == 0 else f"tg{t['n_gen']}"
    print(f"  {t['model_type']:<28} {t['backends']:<8} t={t['n_threads']:<3} {name:>7}  {t['avg_ts']:9.2f} ± {t['stddev_ts']:.2f} t/s")
EOF
    echo "-- llamux --"
    # shellcheck disable=SC2086
    measure_rss "$RESULTS/llamux-$i.rss" \
        "$LLAMUX" bench -m "$file" -p "$PP" -n "$TG" -t "$THREADS" -r "$REPS" -o json ${LLAMUX_FLAGS:-} \
        > "$RESULTS/llamux-$i.json" 2> "$RESULTS/llamux-$i.log" \
        || { tail -n 20 "$RESULTS/llamux-$i.log" >&2; die "llamux bench failed on $file"; }
    python3 - "$RESULTS/llamux-$i.json" <<'EOF'
import json, sys
for t in json.load(open(sys.argv[1])):
    name = f"pp{t['n_prompt']}" if t["n_gen"] == 0 else f"tg{t['n_gen']}"
    print(f"  {t['model_type']:<28} {t['backends']:<8} t={t['n_threads']:<3} {name:>7}  {t['avg_ts']:9.2f} ± {t['stddev_ts']:.2f} t/s")
EOF
done

echo
echo "== read bandwidth again (after the runs) =="
"$MEMBW" "$THREADS" 1024 10 | tee "$RESULTS/membw2.txt"
BW_AFTER=$(sed -n 's/^read_gbps=//p' "$RESULTS/membw2.txt")

echo
echo "== summary (medians of $REPS repetitions; bandwidth: best of the two measurements) =="
python3 - "$RESULTS" "${#FILES[@]}" "$BW_BEFORE" "$BW_AFTER" <<'EOF'
import json, os, statistics, sys
results, n, bw1, bw2 = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
bw = max(bw1, bw2)
print(f"read bandwidth: {bw1:.1f} GB/s before, {bw2:.1f} GB/s after; floor uses {bw:.1f} GB/s")
hdr = f"| {'file':<28} | {'test':>6} | {'llama.cpp t/s':>14} | {'llamux t/s':>11} | {'llamux/llama.cpp':>16} | {'llama.cpp GB/s, floor':>22} | {'llamux GB/s, floor':>19} |"
print(hdr)
print("|" + "|".join("-" * (len(c)) for c in hdr.split("|")[1:-1]) + "|")
def key(t):
    return ("pp", t["n_prompt"]) if t["n_gen"] == 0 else ("tg", t["n_gen"])
for i in range(1, n + 1):
    ll = {key(t): t for t in json.load(open(os.path.join(results, f"llama-{i}.json")))}
    lx = {key(t): t for t in json.load(open(os.path.join(results, f"llamux-{i}.json")))}
    for k in sorted(set(ll) & set(lx)):
        a, b = ll[k], lx[k]
        ma, mb = statistics.median(a["samples_ts"]), statistics.median(b["samples_ts"])
        name = os.path.basename(a["model_filename"])
        ratio = mb / ma if ma > 0 else float("nan")
        if k[0] == "tg":
            ga = a["model_size"] * ma / 1e9
            gb = b["model_size"] * mb / 1e9
            fa = f"{ga:6.1f} ({ga / bw:4.0%})"
            fb = f"{gb:6.1f} ({gb / bw:4.0%})"
        else:
            fa = fb = "-"
        print(f"| {name:<28} | {k[0]}{k[1]:<4} | {ma:14.2f} | {mb:11.2f} | {ratio:16.2f} | {fa:>22} | {fb:>19} |")

def rss(path):
    try:
        return int(open(path).read().split()[-1]) / 1024
    except (OSError, ValueError, IndexError):
        return None
print()
print("| file | llama.cpp peak RSS MiB | llamux peak RSS MiB | llamux / llama.cpp |")
print("|---|---:|---:|---:|")
for i in range(1, n + 1):
    name = os.path.basename(json.load(open(os.path.join(results, f"llama-{i}.json")))[0]["model_filename"])
    a, b = rss(os.path.join(results, f"llama-{i}.rss")), rss(os.path.join(results, f"llamux-{i}.rss"))
    if a is None or b is None:
        print(f"| {name} | - | - | - |")
    else:
        print(f"| {name} | {a:.0f} | {b:.0f} | {b / a:.2f} |")
EOF
