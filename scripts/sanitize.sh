#!/usr/bin/env bash
# Builds anetrain, every test and the ANE framework mock with AddressSanitizer and UBSan
# (-DANETRAIN_SANITIZE=ON) and runs the whole ctest suite under them (the fuzz smoke run aside:
# its targets are sanitized builds already). Exits nonzero if a build fails, a test fails or a
# sanitizer reports anything. CI runs it after scripts/test.sh.
#
#   scripts/sanitize.sh [BUILD_DIR] [CTEST_ARGS...]      default build/sanitize
#   e.g. scripts/sanitize.sh build/sanitize -R 'RunLock|Drills'
#
# Needs what scripts/setup.sh installs (run that first on a new machine).
set -euo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-build/sanitize}"
[ $# -gt 0 ] && shift
JOBS=$(nproc 2>/dev/null || echo 2)

cmake -S . -B "$OUT" -DCMAKE_BUILD_TYPE=Release -DANETRAIN_SANITIZE=ON \
  >"$OUT.configure.log" 2>&1 || { cat "$OUT.configure.log" >&2; exit 1; }
cmake --build "$OUT" -j "$JOBS" >"$OUT.build.log" 2>&1 || { tail -50 "$OUT.build.log" >&2; exit 1; }

# The first report fails the run; leak checking covers every process, the CLI's included
# (the mock's tombstones are kept reachable on purpose and are not leaks).
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cd "$OUT"
ctest --output-on-failure -j "$JOBS" -LE fuzz "$@"
