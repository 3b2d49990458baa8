#!/bin/sh
# The MiniLM stress panels of docs/results.md (one thread; features cached in ~/.cache/lec-onnx/features).
set -e
M=${M:-$HOME/.cache/lec-onnx/models/all-MiniLM-L6-v2}
OUT=${OUT:-build/panel/minilm}
E=${E:-../shared/data/eval-only}
CAP=${CAP:-600}
LAYERS=${LAYERS:-"--layer 3 --layer 4 --layer 5 --layer 6"}
CS="--C-grid 0.01 --C-grid 0.05 --C-grid 0.2"
COMMON="-m $M --max-length 256 --threads 1 --heldout data/heldout-sha256.txt --cap $CAP"
lec() { python -m lec_onnx "$@"; }
if [ -z "$SKIP_CS" ]; then
lec panel $COMMON --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
  --negative-data data/toxicity.jsonl --eval-data $E/oktest.jsonl --eval-data $E/toxicchat.jsonl \
  --pooling mean $LAYERS $CS -o $OUT/content_safety
fi
lec panel $COMMON --task toxicity -d data/toxicity.jsonl --eval-data $E/toxicchat.jsonl --eval-data $E/ethos.jsonl \
  --eval-data $E/decodingtrust-toxicity.jsonl --eval-data $E/decodingtrust-stereotype.jsonl \
  --pooling mean $LAYERS $CS -o $OUT/toxicity
lec panel $COMMON --task prompt_injection -d data/prompt_injection.jsonl \
  --eval-data $E/sep-should-it-be-executed.jsonl --eval-data $E/toxicchat-jailbreak.jsonl \
  --pooling mean --pooling text-mean $LAYERS $CS -o $OUT/prompt_injection
