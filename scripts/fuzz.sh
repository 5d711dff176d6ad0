#!/usr/bin/env bash
# Builds every fuzz/*_fuzz.cpp as a libFuzzer binary (clang, AddressSanitizer + UBSan) and runs
# each for a fixed time. Exits nonzero if a target fails to build, crashes or trips a sanitizer.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET] [TARGET...]     default 20 s; all targets
#   e.g. scripts/fuzz.sh 10            scripts/fuzz.sh 300 milblob_fuzz
#
# Output goes to build/fuzz/ (ANETRAIN_FUZZ_DIR overrides): bin/, obj/, corpus/<target>/ (kept
# between runs so coverage accumulates), artifacts/<target>/ (crash reproducers), logs/.
# Library code linked into the targets: src/core/*.cpp (not the gemm backends), the ANE MIL and
# blob code, src/io, src/model, src/tokenizer and the data/train files that read files (see
# LIB_SOURCES); they go into one static archive, so a target only pulls in the objects it
# references. ANETRAIN_FUZZ_JOBS sets the compile jobs (default: one per core). See
# fuzz/README.md for writing a target.
set -euo pipefail
cd "$(dirname "$0")/.."

INSTALL_HINT="install clang 14 with libFuzzer and OpenMP: apt-get install clang-14 libclang-rt-14-dev libomp-14-dev"

usage() { sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; }
case "${1:-}" in -h|--help) usage; exit 0 ;; esac

SECONDS_PER_TARGET="${1:-20}"
[ $# -gt 0 ] && shift
if ! [[ "$SECONDS_PER_TARGET" =~ ^[1-9][0-9]*$ ]]; then
  echo "fuzz: SECONDS_PER_TARGET must be a positive integer, got '$SECONDS_PER_TARGET'" >&2
  usage >&2
  exit 2
fi
OUT="${ANETRAIN_FUZZ_DIR:-build/fuzz}"
JOBS="${ANETRAIN_FUZZ_JOBS:-$(nproc 2>/dev/null || echo 2)}"  # compile jobs

CXX=""
for c in clang++-14 clang++; do
  if command -v "$c" >/dev/null; then CXX="$c"; break; fi
done
if [ -z "$CXX" ]; then
  echo "fuzz: clang++ not found; $INSTALL_HINT" >&2
  exit 2
fi

# The library is built with fuzzer-no-link so its code is coverage-instrumented without
# getting libFuzzer's main; only the final link adds it. -fno-sanitize-recover makes undefined
# behaviour abort, so libFuzzer records it as a crash instead of printing and moving on.
SAN="address,undefined"
CXXFLAGS=(-std=c++20 -g -O1 -fno-sanitize-recover=undefined -fno-omit-frame-pointer -fopenmp -Isrc)
mkdir -p "$OUT/bin" "$OUT/obj" "$OUT/logs" "$OUT/corpus" "$OUT/artifacts"

# A tiny fuzzer that needs everything a real one does; failing it means a missing package.
probe_src="$OUT/obj/probe.cpp"
cat >"$probe_src" <<'EOF'
#include <omp.h>
#include <cstddef>
#include <cstdint>
extern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return omp_get_max_threads() > 0 ? 0 : 1; }
EOF
if ! "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer,$SAN "$probe_src" -o "$OUT/obj/probe" \
    >"$OUT/logs/probe.log" 2>&1; then
  echo "fuzz: $CXX cannot build a libFuzzer binary (see $OUT/logs/probe.log); $INSTALL_HINT" >&2
  exit 2
fi

# ---- targets ----
shopt -s nullglob
TARGETS=()
if [ $# -gt 0 ]; then
  for t in "$@"; do
    t="${t%.cpp}"; t="${t#fuzz/}"
    [ -f "fuzz/$t.cpp" ] || { echo "fuzz: no target fuzz/$t.cpp" >&2; exit 2; }
    TARGETS+=("$t")
  done
else
  for f in fuzz/*_fuzz.cpp; do TARGETS+=("$(basename "$f" .cpp)"); done
fi
if [ ${#TARGETS[@]} -eq 0 ]; then
  echo "fuzz: no fuzz/*_fuzz.cpp targets" >&2
  exit 2
fi

# ---- library archive ----
# The file readers: src/io, the model formats, the tokenizers, token shards, dataset manifests
# and a checkpoint's state.json / metrics.jsonl. Not the CPU/ANE backends or the trainer.
LIB_SOURCES=()
for f in src/core/*.cpp src/backends/ane/mil/*.cpp src/backends/ane/blob/*.cpp src/io/*.cpp \
    src/model/*.cpp src/tokenizer/*.cpp src/data/token_shard.cpp src/data/dataset_dir.cpp \
    src/train/checkpoint.cpp src/train/model_source.cpp src/train/lora_checkpoint.cpp \
    src/train/metrics_log.cpp \
    src/train/optimizer.cpp src/train/grad_norm.cpp; do
  case "$f" in src/core/gemm_*) continue ;; esac  # oneDNN / Accelerate: not needed, not linked
  [ -f "$f" ] && LIB_SOURCES+=("$f")
done
# Libraries those readers call: SentencePiece (its models), PCRE2 (GPT-2's pre-tokenizer
# regex), OpenSSL's libcrypto (tokenizer checksums). --as-needed: a target that calls none
# of them does not depend on them.
LIBS=(-Wl,--as-needed)
for pkg in sentencepiece libpcre2-8 libcrypto; do
  if ! flags=$(pkg-config --libs "$pkg" 2>/dev/null); then
    echo "fuzz: pkg-config does not know $pkg (scripts/setup.sh installs it)" >&2
    exit 2
  fi
  read -r -a pkg_libs <<<"$flags"
  LIBS+=("${pkg_libs[@]}")
done

# Header dependencies are approximated: any header under src/ newer than an object rebuilds it.
stale() {  # stale OUTPUT INPUT...
  local out="$1"; shift
  [ -f "$out" ] || return 0
  local f
  for f in "$@"; do [ "$f" -nt "$out" ] && return 0; done
  [ -n "$(find src -name '*.h' -newer "$out" -print -quit)" ]
}

OBJECTS=()
declare -A PIDS=()
build_failed=0
for src in "${LIB_SOURCES[@]}"; do
  obj="$OUT/obj/$(echo "${src%.cpp}" | tr '/' '_').o"
  OBJECTS+=("$obj")
  stale "$obj" "$src" scripts/fuzz.sh || continue
  rm -f "$obj"
  ( "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer-no-link,$SAN -c "$src" -o "$obj" \
      >"$obj.log" 2>&1 || { echo "fuzz: compiling $src failed:" >&2; head -n 20 "$obj.log" >&2; exit 1; } ) &
  PIDS[$!]="$src"
  while [ "$(jobs -rp | wc -l)" -ge "$JOBS" ]; do sleep 0.2; done
done
for pid in "${!PIDS[@]}"; do wait "$pid" || build_failed=1; done
[ $build_failed -eq 0 ] || { echo "fuzz: library build failed" >&2; exit 1; }
ARCHIVE="$OUT/obj/libanetrain_fuzz.a"
if stale "$ARCHIVE" "${OBJECTS[@]}"; then
  rm -f "$ARCHIVE"
  ar rcs "$ARCHIVE" "${OBJECTS[@]}"
fi

# ---- build and run each target ----
failed=()
for t in "${TARGETS[@]}"; do
  bin="$OUT/bin/$t"
  log="$OUT/logs/$t.log"
  if stale "$bin" "fuzz/$t.cpp" "$ARCHIVE" fuzz/*.h; then
    if ! "$CXX" "${CXXFLAGS[@]}" -fsanitize=fuzzer,$SAN "fuzz/$t.cpp" "$ARCHIVE" "${LIBS[@]}" \
        -pthread -o "$bin" >"$OUT/logs/$t.build.log" 2>&1; then
      echo "fuzz: $t BUILD FAILED (log $OUT/logs/$t.build.log)"
      head -n 20 "$OUT/logs/$t.build.log" >&2
      failed+=("$t")
      continue
    fi
  fi

  corpus="$OUT/corpus/$t"
  artifacts="$OUT/artifacts/$t/"
  mkdir -p "$corpus" "$artifacts"
  # Seeds: a target may write generated ones when ANETRAIN_FUZZ_WRITE_SEEDS is set (and exit);
  # one that does not just runs the empty input once here (no corpus is passed).
  if ! ANETRAIN_FUZZ_WRITE_SEEDS="$corpus" "$bin" -runs=0 >"$log" 2>&1; then
    echo "fuzz: $t FAILED on startup / writing seeds (log $log)"
    failed+=("$t")
    continue
  fi
  dirs=("$corpus")
  [ -d "fuzz/corpus/$t" ] && dirs+=("fuzz/corpus/$t")  # committed seeds, read-only
  extra=()
  [ -f "fuzz/$t.dict" ] && extra+=("-dict=fuzz/$t.dict")

  start=$SECONDS
  rc=0
  "$bin" -max_total_time="$SECONDS_PER_TARGET" -print_final_stats=1 -timeout=10 \
      -rss_limit_mb=2048 -artifact_prefix="$artifacts" ${extra[@]+"${extra[@]}"} "${dirs[@]}" \
      >"$log" 2>&1 || rc=$?
  elapsed=$((SECONDS - start))
  final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -n 1; }
  execs=$(final_stat number_of_executed_units); rate=$(final_stat average_exec_per_sec)
  rss=$(final_stat peak_rss_mb); inputs=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then
    echo "fuzz: $t ok: ${execs:-?} execs in ${elapsed}s (${rate:-?}/s), corpus $inputs inputs, peak RSS ${rss:-?} MB"
  else
    reason=$(grep -m1 -E '^==[0-9]+== ?ERROR|runtime error|_fuzz: ' "$log" || true)
    echo "fuzz: $t CRASHED (exit $rc) after ${elapsed}s: ${reason:-see log}; log $log, reproducer in $artifacts"
    tail -n 40 "$log" >&2
    failed+=("$t")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} of ${#TARGETS[@]} targets failed: ${failed[*]}"
  exit 1
fi
echo "fuzz: all ${#TARGETS[@]} targets ok (${SECONDS_PER_TARGET}s each)"
