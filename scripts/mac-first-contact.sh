#!/usr/bin/env bash
# The first run of anetrain on an Apple Neural Engine, as one command. On a Mac with Apple
# silicon: builds (scripts/setup.sh), asks `anetrain probe` whether the ANE is usable, compiles
# and evaluates every kernel program of `tiny` and `layer768` in both forms (proven, fused) and
# both variants (static, dynamic) through Apple's framework and compares each output with the CPU backend, trains `tiny` for 50 steps on the ANE
# beside the CPU, and writes one Markdown report to paste into an issue.
#
#   scripts/mac-first-contact.sh [OUT_DIR]         default first-contact/
#
# Every step runs even if an earlier one fails; the report says which held. On Linux the same
# steps run over the framework mock (tests/ane_framework_mock, built by the test suite) so CI
# proves the script works; such a report says plainly that no ANE was involved.
# Environment: STEPS (default 50), SKIP_SETUP=1 (use an existing build), BUILD_DIR (default
# build).
set -uo pipefail
cd "$(dirname "$0")/.."
OUT="${1:-first-contact}"
STEPS="${STEPS:-50}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
REPORT="$OUT/report.md"
LOG="$OUT/steps.log"
: >"$LOG"

if [ "${SKIP_SETUP:-0}" != 1 ]; then
  echo "first-contact: setting up and building (scripts/setup.sh), log in $OUT/setup.log"
  if ! scripts/setup.sh >"$OUT/setup.log" 2>&1; then
    echo "first-contact: set-up failed; see $OUT/setup.log" >&2
    exit 1
  fi
fi
BUILD_DIR="$(cd "${BUILD_DIR:-build}" 2>/dev/null && pwd || echo "${BUILD_DIR:-build}")"
BIN="$BUILD_DIR/anetrain"
[ -x "$BIN" ] || { echo "first-contact: $BIN is missing: run scripts/setup.sh" >&2; exit 1; }

# Where the ANE is: Apple's framework on a Mac; elsewhere the mock, and the report says so.
MODE="hardware"
if [ "$(uname -s)" != "Darwin" ]; then
  MOCK="$BUILD_DIR/libane_framework_mock.so"
  if [ ! -f "$MOCK" ]; then
    echo "first-contact: not a Mac and $MOCK is missing (build the tests: scripts/test.sh)" >&2
    exit 1
  fi
  export ANETRAIN_TEST_ANE_FRAMEWORK="$MOCK"
  MODE="mock"
fi
export ANETRAIN_ANE_CACHE="$OUT/ane-cache"
unset ANETRAIN_ANE_DRIVER  # the framework driver, never the fake one
rm -rf "$OUT/cpu" "$OUT/ane"

if [ "$(uname -s)" = "Darwin" ]; then
  CHIP="$(sysctl -n machdep.cpu.brand_string 2>/dev/null || echo unknown)"
  OS="macOS $(sw_vers -productVersion 2>/dev/null) ($(sw_vers -buildVersion 2>/dev/null))"
else
  CHIP="$(lscpu 2>/dev/null | sed -n 's/^Model name: *//p' | head -1)"
  OS="$(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") $(uname -r)"
fi

# Debian's python3 (with numpy and matplotlib from set-up), else the first on PATH (macOS).
PY=/usr/bin/python3
[ -x "$PY" ] && "$PY" -c "import matplotlib" 2>/dev/null || PY=python3

results=()
# step NAME FILE COMMAND...: runs it, keeps its output in FILE, records whether it held.
step() {
  local name="$1" file="$2"
  shift 2
  echo "first-contact: $name"
  local start=$SECONDS
  "$@" >"$OUT/$file" 2>&1
  local rc=$?
  echo "$name: exit $rc ($((SECONDS - start)) s)" >>"$LOG"
  if [ $rc -eq 0 ]; then results+=("| $name | held | $((SECONDS - start)) s |")
  else results+=("| $name | **failed (exit $rc)**: $(tail -1 "$OUT/$file" | tr '|' '/') | $((SECONDS - start)) s |"); fi
  return 0
}

step "probe" probe.txt "$BIN" probe --runs 5
for preset in tiny layer768; do
  for form in proven fused; do
    for variant in static dynamic; do
      step "kernels $preset $form $variant" "check-$preset-$form-$variant.txt" \
        "$BIN" ane check --config "$preset" --form "$form" --variant "$variant" --driver framework
    done
  done
done
DATA="$OUT/data.bin"
"$PY" - "$DATA" <<'EOF' || echo "first-contact: could not write $DATA" >&2
# A learnable token stream (repeating runs of a fixed permutation) in llm.c's shard format.
import random, struct, sys
random.seed(7)
perm = list(range(512)); random.shuffle(perm)
tokens = [perm[i % 512] if random.random() > 0.05 else random.randrange(512) for i in range(30000)]
with open(sys.argv[1], "wb") as f:
    f.write(struct.pack("<256i", 20240520, 1, len(tokens), *([0] * 253)))
    f.write(struct.pack(f"<{len(tokens)}H", *tokens))
EOF
TRAIN=(train --config tiny --set n_layers=3 --set batch_size=2 --data "$DATA" --steps "$STEPS")
step "train tiny on the CPU" train-cpu.txt "$BIN" "${TRAIN[@]}" --backend cpu --out "$OUT/cpu"
step "train tiny on the ANE" train-ane.txt "$BIN" "${TRAIN[@]}" --backend ane \
  --set loss_scale=1024 --set dynamic_loss_scale=true --out "$OUT/ane"
plot=""
if "$PY" tools/plot_metrics.py "$OUT/cpu" "$OUT/ane" --out "$OUT/loss.png" \
  >>"$LOG" 2>&1; then
  plot="![loss, CPU and ANE](loss.png)"
fi

# The report.
{
  echo "# anetrain first contact"
  echo
  if [ "$MODE" = mock ]; then
    echo "**No ANE was involved:** this run used the framework mock on $(uname -s) (the same driver"
    echo "code over a mock of Apple's frameworks, numerics from our fp16 interpreter). It proves the"
    echo "script and the driver's protocol, not the hardware."
    echo
  fi
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo "- machine: $CHIP"
  echo "- OS: $OS"
  echo "- anetrain: $("$BIN" --version 2>/dev/null | head -1)"
  echo "- commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "| step | result | time |"
  echo "|---|---|---|"
  printf '%s\n' "${results[@]}"
  echo
  echo "## probe"
  echo '```'
  cat "$OUT/probe.txt"
  echo '```'
  for preset in tiny layer768; do
    for form in proven fused; do
      for variant in static dynamic; do
        check="$OUT/check-$preset-$form-$variant.txt"
        echo
        echo "## kernels: $preset, $form form, $variant (compiled and evaluated through the driver, vs the CPU)"
        echo '```'
        grep -v ': warning: ' "$check"
        echo '```'
        warnings=$(grep -c ': warning: ' "$check")
        echo "lint warnings: $warnings (rules: $(grep -o ': warning: \[[a-z0-9-]*\]' "$check" |
          sort -u | sed 's/.*\[\(.*\)\]/\1/' | tr '\n' ' '))"
      done
    done
  done
  echo
  echo "## training: tiny, 3 layers, $STEPS steps"
  "$PY" - "$OUT/cpu/metrics.jsonl" "$OUT/ane/metrics.jsonl" <<'EOF'
import json, sys
def losses(path):
    try:
        return [json.loads(l)["loss"] for l in open(path) if '"loss"' in l]
    except OSError:
        return []
cpu, ane = losses(sys.argv[1]), losses(sys.argv[2])
n = min(len(cpu), len(ane))
print(f"steps: CPU {len(cpu)}, ANE {len(ane)}")
if n:
    worst = max(abs(a - c) / abs(c) for a, c in zip(ane[:n], cpu[:n]))
    print(f"first loss: CPU {cpu[0]:.4f}, ANE {ane[0]:.4f}; last: CPU {cpu[n-1]:.4f}, ANE {ane[n-1]:.4f}")
    print(f"largest relative difference of the ANE loss from the CPU loss: {worst:.2e}")
EOF
  echo
  echo "$plot"
  echo
  echo "Logs of every step are in $OUT/."
} >"$REPORT"
echo "first-contact: report written to $REPORT"
