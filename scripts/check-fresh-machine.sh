#!/usr/bin/env bash
# Proves the README's two commands work on a fresh Debian 12 machine, not just on one that kept
# packages from earlier work: builds a minimal Debian 12 root (debootstrap --variant=minbase,
# from the mirror in the host's own apt sources), copies a clean clone of HEAD into it and runs
# `scripts/quickstart.sh` (with a small STEPS) and then `scripts/test.sh` inside it under chroot.
# The root inherits what any fresh machine with working networking has: the host's apt sources
# for Debian, its CA certificate store and the variables that point at it, its DNS resolver.
#
#   sudo scripts/check-fresh-machine.sh            STEPS=30 quickstart, then the full test suite
#   STEPS=100 KEEP_ROOT=1 scripts/check-fresh-machine.sh    keep the root to look inside
#   FRESH_ROOT_PARENT=/srv scripts/check-fresh-machine.sh   where the root is built (default /var/tmp)
#   FRESH_MIRROR=http://host/debian scripts/check-fresh-machine.sh   another Debian mirror
#
# Prints each command's time and result; logs land in $FRESH_LOG_DIR (default
# /var/tmp/anetrain-fresh-logs). Exit codes: 0 both commands passed, 1 one failed (a missing
# package is a failure), 2 this machine cannot run the check (not root, no debootstrap, no
# Debian mirror in the apt sources), 77 the package mirror cannot be reached (a skip: network
# trouble is not a test failure).
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
SUITE=bookworm
STEPS=${STEPS:-30}
LOG_DIR=${FRESH_LOG_DIR:-/var/tmp/anetrain-fresh-logs}
SKIP=77

say() { echo "fresh-machine: $*"; }
cannot_run() { say "cannot run here: $*" >&2; exit 2; }

[ "$(id -u)" -eq 0 ] || cannot_run "debootstrap and chroot need root: run it with sudo"
command -v debootstrap >/dev/null || cannot_run "debootstrap is missing: apt-get install debootstrap"
HEAD_COMMIT=$(git -C "$REPO" rev-parse HEAD 2>/dev/null) || cannot_run "$REPO is not a git checkout"

# The host's apt source files that serve Debian itself (third-party repositories stay out: a
# fresh Debian machine has none).
debian_source_files() {
  local f
  for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] && grep -qE '^[^#]*(debian\.org|debian-archive-keyring)' "$f" && echo "$f"
  done
  return 0
}

# The first mirror URI that serves $SUITE, from one-line (.list) or deb822 (.sources) files.
mirror_in() {
  case "$1" in
    *.sources) awk -v suite="$SUITE" '
        BEGIN { RS = "" }
        { uri = ""; serves = 0
          n = split($0, lines, "\n")
          for (i = 1; i <= n; i++) {
            if (lines[i] ~ /^URIs:/) { split(lines[i], f, /[ \t]+/); uri = f[2] }
            if (lines[i] ~ /^Suites:/) {
              m = split(lines[i], s, /[ \t]+/)
              for (j = 2; j <= m; j++) if (s[j] == suite) serves = 1
            }
            if (lines[i] ~ /^Enabled:[ \t]*no/) serves = 0
          }
          if (serves && uri != "") { print uri; exit }
        }' "$1" ;;
    *) sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$1" |
         awk -v suite="$SUITE" '$1 == "deb" && $3 == suite { print $2; exit }' ;;
  esac
}

SOURCE_FILES=$(debian_source_files)
[ -n "$SOURCE_FILES" ] || cannot_run "no Debian archive in /etc/apt/sources.list{,.d}"
MIRROR=${FRESH_MIRROR:-}  # overrides the host's mirror (e.g. a local one)
for f in $SOURCE_FILES; do
  [ -n "$MIRROR" ] && break
  MIRROR=$(mirror_in "$f")
done
[ -n "$MIRROR" ] || cannot_run "no apt source serves Debian $SUITE ($SOURCE_FILES)"

if ! curl -fsS --max-time 30 -o /dev/null "$MIRROR/dists/$SUITE/Release" 2>/dev/null &&
   ! wget -q --timeout=30 -O /dev/null "$MIRROR/dists/$SUITE/Release" 2>/dev/null; then
  say "SKIP: the package mirror $MIRROR cannot be reached (network trouble, not a test failure)"
  exit $SKIP
fi

mkdir -p "$LOG_DIR" "${FRESH_ROOT_PARENT:-/var/tmp}"
ROOT=$(mktemp -d "${FRESH_ROOT_PARENT:-/var/tmp}/anetrain-fresh.XXXXXX")
chmod 755 "$ROOT"  # it becomes /: mktemp's 0700 would lock out apt's _apt user and every non-root test

# Ends whatever still runs inside the root, unmounts everything under it, and only then deletes
# it: rm must never walk into a still-mounted /dev or /proc of the host.
cleanup() {
  local rc=$? pid mounts
  trap - EXIT INT TERM
  for pid in $(ls /proc | grep -E '^[0-9]+$'); do
    [ "$(readlink "/proc/$pid/root" 2>/dev/null)" = "$ROOT" ] && kill -9 "$pid" 2>/dev/null
  done
  for m in dev sys proc; do
    mountpoint -q "$ROOT/$m" && { umount -R "$ROOT/$m" 2>/dev/null || umount -R -l "$ROOT/$m"; }
  done
  mounts=$(awk -v root="$ROOT/" 'index($2, root) == 1 { print $2 }' /proc/mounts)
  if [ -n "$mounts" ]; then
    say "left $ROOT in place: still mounted: $mounts" >&2
  elif [ "${KEEP_ROOT:-0}" = "1" ]; then
    say "kept the root at $ROOT (KEEP_ROOT=1)"
  else
    rm -rf --one-file-system "$ROOT"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

elapsed() { local s=$(($(date +%s) - $1)); printf '%dm%02ds' $((s / 60)) $((s % 60)); }

say "building a minimal Debian $SUITE root from $MIRROR in $ROOT"
start=$(date +%s)
if ! debootstrap --variant=minbase "$SUITE" "$ROOT" "$MIRROR" >"$LOG_DIR/debootstrap.log" 2>&1; then
  tail -n 5 "$LOG_DIR/debootstrap.log" >&2
  if grep -qiE "couldn't download|failed getting release|temporary failure|connection" \
       "$LOG_DIR/debootstrap.log"; then
    say "SKIP: debootstrap lost the package mirror $MIRROR (network trouble, not a test failure)"
    exit $SKIP
  fi
  say "FAIL: debootstrap failed (log: $LOG_DIR/debootstrap.log)"
  exit 1
fi
say "root built in $(elapsed "$start")"

# What a fresh machine with working networking has: Debian's apt sources, the network settings
# apt uses (proxies, date checks of snapshot mirrors), the CA store and DNS.
rm -f "$ROOT/etc/apt/sources.list"
for f in $SOURCE_FILES; do cp "$f" "$ROOT/etc/apt/sources.list.d/$(basename "$f")"; done
for f in /etc/apt/apt.conf /etc/apt/apt.conf.d/*; do
  [ -f "$f" ] && grep -q 'Acquire::' "$f" && cp "$f" "$ROOT/etc/apt/apt.conf.d/$(basename "$f")"
done
mkdir -p "$ROOT/usr/local/share/ca-certificates" "$ROOT/etc/ssl"
cp -a /usr/local/share/ca-certificates/. "$ROOT/usr/local/share/ca-certificates/" 2>/dev/null || true
cp -rL /etc/ssl/certs "$ROOT/etc/ssl/"
cp -L /etc/resolv.conf "$ROOT/etc/resolv.conf"
cp -L /etc/hosts "$ROOT/etc/hosts"
printf '#!/bin/sh\nexit 101\n' >"$ROOT/usr/sbin/policy-rc.d"  # packages start no services
chmod +x "$ROOT/usr/sbin/policy-rc.d"

git clone -q --no-hardlinks "$REPO" "$ROOT/root/anetrain"
git -C "$ROOT/root/anetrain" checkout -q --detach "$HEAD_COMMIT"
[ -z "$(git -C "$REPO" status --porcelain --untracked-files=no)" ] ||
  say "note: $REPO has uncommitted changes; the check runs HEAD ($HEAD_COMMIT) without them"

mount -t proc proc "$ROOT/proc"
mount --rbind /dev "$ROOT/dev" && mount --make-rslave "$ROOT/dev"
mount --rbind /sys "$ROOT/sys" && mount --make-rslave "$ROOT/sys"

# The variables that point at the CA store (and any proxy settings) pass into the root; nothing
# else of this shell's environment does.
CHROOT_ENV=(HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
            LANG=C.UTF-8 TERM="${TERM:-dumb}" STEPS="$STEPS")
while IFS='=' read -r name value; do
  case "$name" in *_proxy | *_PROXY) CHROOT_ENV+=("$name=$value"); continue ;; esac
  case "$value" in /etc/ssl/* | /usr/local/share/ca-certificates/*) CHROOT_ENV+=("$name=$value") ;; esac
done < <(env)

declare -A RESULT TIME
run_inside() {  # run_inside NAME COMMAND: runs COMMAND in the clone inside the root
  local name=$1 command=$2 t0 rc
  say "running '$command' inside the root (log: $LOG_DIR/$name.log)"
  t0=$(date +%s)
  set +e
  chroot "$ROOT" /usr/bin/env -i "${CHROOT_ENV[@]}" /bin/bash -c "cd /root/anetrain && $command" \
    2>&1 | tee "$LOG_DIR/$name.log"
  rc=${PIPESTATUS[0]}
  set -e
  TIME[$name]=$(elapsed "$t0")
  if [ "$rc" -eq 0 ]; then RESULT[$name]="passed"; else RESULT[$name]="FAILED (exit $rc)"; fi
}

run_inside quickstart "scripts/quickstart.sh"
run_inside test "scripts/test.sh"

echo
say "Debian $SUITE minimal root, clean clone of $HEAD_COMMIT, STEPS=$STEPS"
for name in quickstart test; do
  printf 'fresh-machine: %-28s %-20s %s\n' "scripts/$name.sh" "${RESULT[$name]}" "${TIME[$name]}"
done
say "total $(elapsed "$start")"
[ "${RESULT[quickstart]}" = passed ] && [ "${RESULT[test]}" = passed ]
