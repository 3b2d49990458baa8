#!/bin/sh
# The four base models of issue 9 through the whole stress panel (every task, every held-out family, every
# eval-only set) on one small, family-balanced subset: CAP rows per source, label and split (PI_CAP for
# prompt_injection, whose documents and system prompts cost ~5x per row), EVAL_CAP per eval-only group.
# Decoders cost 2-6x mpnet per text, so the full-size panels (experiments/panels.sh) exist for the encoders only.
#   MODELS="SmolLM2-135M-Instruct" TASKS=toxicity experiments/panels_models.sh      # one model, one task
# Output: build/panel/models/<model>/<task>/panel.{json,md,png}; docs/results.md collects them.
set -e
E=${E:-../shared/data/eval-only}
CAP=${CAP:-50}
PI_CAP=${PI_CAP:-25}
EVAL_CAP=${EVAL_CAP:-50}
OUT=${OUT:-build/panel/models}
MODELS=${MODELS:-all-MiniLM-L6-v2 all-mpnet-base-v2 SmolLM2-135M-Instruct Qwen2.5-Coder-0.5B-Instruct}
TASKS=${TASKS:-content_safety toxicity prompt_injection}
M=$HOME/.cache/lec-onnx/models
lec() { python -m lec_onnx "$@"; }
layers() {  # a grid over the depth of each model (the LOSO sweeps' best layers included)
  case $1 in
  all-MiniLM-L6-v2) echo 2 3 4 5 6 ;;
  all-mpnet-base-v2) echo 4 6 8 9 10 12 ;;
  SmolLM2-135M-Instruct) echo 8 12 16 20 24 30 ;;
  Qwen2.5-Coder-0.5B-Instruct) echo 6 10 14 18 20 24 ;;
  esac
}
poolings() {  # model task: mean everywhere; what the LOSO sweeps chose besides (decoders: the generation prompt)
  case $1 in *MiniLM*|*mpnet*) dec="" ;; *) dec=1 ;; esac
  case $2 in
  prompt_injection) echo "--pooling text-mean --pooling mean${dec:+ --pooling last}" ;;
  *) echo "--pooling mean${dec:+ --pooling gen-last}" ;;
  esac
}
for model in $MODELS; do
  grid=""; for l in $(layers $model); do grid="$grid --layer $l"; done
  common="-m $M/$model --max-length 256 --threads 1 --heldout data/heldout-sha256.txt --eval-cap $EVAL_CAP \
    --threshold-rule family-regret --C-grid 0.003 --C-grid 0.01 --C-grid 0.03 $grid"
  for task in $TASKS; do
    out="-o $OUT/$model/$task $(poolings $model $task)"
    case $task in
    content_safety)
      lec panel $common $out --cap $CAP --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
        --negative-data data/toxicity.jsonl --eval-data $E/oktest.jsonl --eval-data $E/toxicchat.jsonl ;;
    toxicity)
      lec panel $common $out --cap $CAP --task toxicity -d data/toxicity.jsonl --eval-data $E/toxicchat.jsonl \
        --eval-data $E/ethos.jsonl --eval-data $E/decodingtrust-toxicity.jsonl \
        --eval-data $E/decodingtrust-stereotype.jsonl ;;
    prompt_injection)
      lec panel $common $out --cap $PI_CAP --task prompt_injection --roles prompt -d data/prompt_injection.jsonl \
        --eval-data $E/sep-should-it-be-executed.jsonl --eval-data $E/toxicchat-jailbreak.jsonl ;;
    esac
  done
done
