#!/usr/bin/env bash
# Builds anetrain, its tests and the framework mock with AddressSanitizer and UBSan, and runs the
# tests of the ANE framework driver over the mock (memory rules, training, probe) and of the mock
# itself. Exits nonzero if a build fails, a test fails or a sanitizer reports anything.
#
#   scripts/sanitize-ane-driver.sh [BUILD_DIR]        default build/sanitize
#
# Linux x86-64 only (the mock's objc_msgSend is x86-64 assembly). Takes about as long as a full
# build; ctest runs it once per run (label "sanitize").
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-build/sanitize}"
JOBS=$(nproc 2>/dev/null || echo 2)
FLAGS="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer"

cmake -S . -B "$OUT" -DCMAKE_BUILD_TYPE=Sanitize -DCMAKE_CXX_FLAGS_SANITIZE="-O1 -g $FLAGS" \
  -DCMAKE_EXE_LINKER_FLAGS_SANITIZE="$FLAGS" -DCMAKE_SHARED_LINKER_FLAGS_SANITIZE="$FLAGS" \
  >"$OUT.configure.log" 2>&1 || { cat "$OUT.configure.log" >&2; exit 1; }
cmake --build "$OUT" -j "$JOBS" --target anetrain ane_framework_tests ane_framework_mock \
  >"$OUT.build.log" 2>&1 || { tail -50 "$OUT.build.log" >&2; exit 1; }

# Death tests fork; leak checking covers the whole process, including the mock's tombstones
# (kept reachable on purpose). halt_on_error makes the first report fail the run.
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
"$OUT/ane_framework_tests"
