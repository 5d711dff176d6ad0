#!/usr/bin/env bash
# Tokenization throughput (MB/s of UTF-8 text) of anetrain's tokenizers, each beside a baseline
# measured in the same run on the same text:
#   sp    anetrain (libsentencepiece, both cores, via `data prepare`)  vs  the library's spm_encode
#   gpt2  anetrain (PCRE2 + BPE, both cores, via `data prepare`)       vs  npm js-tiktoken (node)
#   bytes anetrain `data prepare` (I/O and shard writing only)
# Usage: bench/tokenizer_throughput.sh [CORPUS]   (default sotu, 10.8 MB; needs build/anetrain)
set -euo pipefail
cd "$(dirname "$0")/.."
CORPUS=${1:-sotu}
[ -x build/anetrain ] || { echo "tokenizer_throughput: build first (scripts/setup.sh)"; exit 1; }
scripts/fetch-corpus.sh "$CORPUS" >/dev/null
scripts/fetch-tokenizer.sh gpt2 >/dev/null
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
JSONL=data/corpora/$CORPUS/$CORPUS.jsonl
# Plain text for the baselines: the documents' text fields, one after another.
/usr/bin/python3 -c 'import json,sys
with open(sys.argv[2], "w") as out:
    for line in open(sys.argv[1]): out.write(json.loads(line)["text"] + "\n")' "$JSONL" "$WORK/text.txt"
MB=$(/usr/bin/python3 -c "import os,sys; print(os.path.getsize(sys.argv[1]) / 1e6)" "$WORK/text.txt")
build/anetrain tokenizer train --input "$JSONL" --vocab-size 8192 --out "$WORK/sp.model" 2>/dev/null >/dev/null

seconds() { local t0 t1; t0=$(date +%s%N); "$@" >/dev/null 2>&1; t1=$(date +%s%N); awk -v a="$t0" -v b="$t1" 'BEGIN { print (b - a) / 1e9 }'; }
rate() { awk -v mb="$MB" -v s="$1" 'BEGIN { printf "%.2f", mb / s }'; }
prepare() { build/anetrain data prepare --tokenizer "$1" --input "$JSONL" --out "$WORK/out-$2" --force --quiet --val-fraction 0; }

printf "%-6s %-44s %8s\n" tokenizer implementation "MB/s"
printf "%-6s %-44s %8s\n" bytes "anetrain data prepare" "$(rate "$(seconds prepare bytes bytes)")"
printf "%-6s %-44s %8s\n" sp "anetrain data prepare (2 threads)" "$(rate "$(seconds prepare "sp:$WORK/sp.model" sp)")"
printf "%-6s %-44s %8s\n" sp "spm_encode (library CLI, 1 thread)" \
  "$(rate "$(seconds sh -c "spm_encode --model=$WORK/sp.model --output_format=id < $WORK/text.txt")")"
printf "%-6s %-44s %8s\n" gpt2 "anetrain data prepare (2 threads)" "$(rate "$(seconds prepare gpt2:data/tokenizers/gpt2 gpt2)")"
TIKTOKEN_DIR=build/test-data/js-tiktoken
if [ ! -d "$TIKTOKEN_DIR/node_modules/js-tiktoken" ]; then
  npm install --silent --no-save --prefix "$TIKTOKEN_DIR" js-tiktoken@1.0.21 >/dev/null 2>&1 || true
fi
if [ -d "$TIKTOKEN_DIR/node_modules/js-tiktoken" ]; then
  cat > "$WORK/tik.cjs" <<'JS'
const { getEncoding } = require(process.argv[2] + "/node_modules/js-tiktoken");
const text = require("fs").readFileSync(process.argv[3], "utf8");
getEncoding("gpt2").encode(text, "all");
JS
  printf "%-6s %-44s %8s\n" gpt2 "js-tiktoken 1.0.21 (node, 1 thread)" \
    "$(rate "$(seconds node "$WORK/tik.cjs" "$(pwd)/$TIKTOKEN_DIR" "$WORK/text.txt")")"
fi
echo "(corpus $CORPUS: $MB MB of text; $(nproc) cores: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2))"
