#!/bin/sh
# Base models compared on the same small, family-balanced subset of the content_safety panel (and toxicity
# unless CS_ONLY=1; the figures in docs/results.md were made with CS_ONLY=1): CAP rows per source, label and
# split, EVAL_CAP per eval-only set group.
set -e
E=${E:-../shared/data/eval-only}
CAP=${CAP:-15}
EVAL_CAP=${EVAL_CAP:-40}
M=$HOME/.cache/lec-onnx/models
lec() { python -m lec_onnx "$@"; }
run() {  # name, layers...
  name=$1; shift
  layers=""; for l in "$@"; do layers="$layers --layer $l"; done
  common="-m $M/$name --max-length 256 --threads 1 --heldout data/heldout-sha256.txt --cap $CAP --eval-cap $EVAL_CAP \
    --pooling mean $layers --C-grid 0.01"
  lec panel $common --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
    --negative-data data/toxicity.jsonl --eval-data $E/oktest.jsonl --eval-data $E/toxicchat.jsonl \
    -o build/panel/models/$name/content_safety
  [ -n "$CS_ONLY" ] && return
  lec panel $common --task toxicity -d data/toxicity.jsonl --eval-data $E/toxicchat.jsonl --eval-data $E/ethos.jsonl \
    --eval-data $E/decodingtrust-toxicity.jsonl -o build/panel/models/$name/toxicity
}
run all-mpnet-base-v2 4 6 8 10 12
run all-MiniLM-L6-v2 2 3 4 5 6
# not run yet (CPU budget on the shared machine; decoders cost ~5-10x MiniLM per text):
# run SmolLM2-135M-Instruct 6 10 14 18 22
# run Qwen2.5-Coder-0.5B-Instruct 6 10 14 18 22
