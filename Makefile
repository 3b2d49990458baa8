# `make probes-default` runs the three stress panels of the shipped default (docs/results.md, about an hour on
# two cores: the features are cached) and writes its calibrated probes to probes/default/; `make artifact`
# exports them to artifacts/default (all-mpnet-base-v2 cut at layer 9, smooth-token int8, parity-gated). `make candidate`
# trains the earlier three-task MiniLM recipe (not shipped). The MiniLM default shipped before 2026-12-03 is
# artifacts/default at commit f76e7a6 (`git show f76e7a6:artifacts/default/model.onnx`), its probes
# probes/minilm-v1/. All need `pip install .[export]`.
PYTHON ?= python
LEC = $(PYTHON) -m lec_onnx
MODEL_NAME = all-MiniLM-L6-v2
MODEL = $(HOME)/.cache/lec-onnx/models/$(MODEL_NAME)
BUILD = build/candidate
THREADS ?= 2
MPNET = $(HOME)/.cache/lec-onnx/models/all-mpnet-base-v2
PROBES = probes/default

.PHONY: artifact artifact-system-policy probes-default candidate probes test clean

artifact: $(MPNET)/config.json
	$(LEC) export -m $(MPNET) --stride 64 --no-fp32 --threads $(THREADS) --quantize auto \
	  -p $(PROBES)/content_safety.json -p $(PROBES)/toxicity.json -p $(PROBES)/prompt_injection.json \
	  --parity-data data/content_safety.jsonl --parity-data data/toxicity.jsonl --parity-data data/prompt_injection.jsonl \
	  --parity-rows 500 -o artifacts/default

# The default's three heads plus system_policy (issue 36), in build/system-policy: not shipped yet, because the
# system_policy head misses the int8 gate with smooth-token (p99 score error 0.053-0.067 > 0.05 on every layer and C
# tried; labels agree 100% clear of the threshold), so `auto` falls back to the block method (3x slower).
artifact-system-policy: $(MPNET)/config.json
	$(LEC) export -m $(MPNET) --stride 64 --no-fp32 --threads $(THREADS) --quantize auto \
	  -p $(PROBES)/content_safety.json -p $(PROBES)/toxicity.json -p $(PROBES)/prompt_injection.json \
	  -p $(PROBES)/system_policy.json \
	  --parity-data data/content_safety.jsonl --parity-data data/toxicity.jsonl --parity-data data/prompt_injection.jsonl \
	  --parity-data data/system_policy.jsonl --parity-rows 500 -o build/system-policy

candidate: probes
	$(LEC) export -m $(MODEL) --stride 64 --no-fp32 --threads $(THREADS) \
	  -p $(BUILD)/content_safety.json -p $(BUILD)/toxicity.json -p $(BUILD)/prompt_injection.json \
	  --parity-data data/content_safety.jsonl --parity-data data/toxicity.jsonl --parity-data data/prompt_injection.jsonl \
	  --parity-rows 500 -o $(BUILD)/artifact

# Each probe comes out of its stress panel (docs/results.md, "Stress panel"): trained on every family of data/,
# calibrated on out-of-family predictions (Platt scaling folded into its weights), with the threshold its rule
# chooses. Layer, pooling and C are the ones the MiniLM panel chose (experiments/panels.sh with
# MODEL=all-MiniLM-L6-v2); the results of the last run are in probes/candidate/.
PANEL = $(LEC) panel -m $(MODEL) --max-length 256 --heldout data/heldout-sha256.txt --threads $(THREADS) --C-grid 0.01
CS_RECIPE = --cap 600 --pooling mean --layer 5
TOX_RECIPE = --cap 600 --pooling mean --layer 5
PI_RECIPE = --cap 50 --pooling text-mean --layer 4 --roles prompt

probes: $(MODEL)/config.json
	$(PANEL) --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
	  --negative-data data/toxicity.jsonl $(CS_RECIPE) -o $(BUILD)/panel/content_safety --probe-out $(BUILD)/content_safety.json
	$(PANEL) --task toxicity -d data/toxicity.jsonl \
	  $(TOX_RECIPE) -o $(BUILD)/panel/toxicity --probe-out $(BUILD)/toxicity.json
	$(PANEL) --task prompt_injection -d data/prompt_injection.jsonl \
	  $(PI_RECIPE) -o $(BUILD)/panel/prompt_injection --probe-out $(BUILD)/prompt_injection.json

$(MODEL)/config.json:
	$(LEC) fetch-models $(MODEL_NAME)

# The shipped default (issue 9): all-mpnet-base-v2, each task at the configuration its stress panel chose
# (docs/results.md; content_safety among layers 8-10, toxicity among 9-10, prompt_injection among 7-10 with plain
# requests as negatives (layer 8, C 0.01; kept there when role-play and document windows joined its data on
# 2026-12-07: layer 7 ranked 0.01 higher but lost 0.09 F1 on the system-prompt tasks family), system_policy among
# 7-9 with groups of operators held out whole (issue 36), ranked by mean held-out-family F1; the trunk is cut at
# the highest layer a head reads), calibrated, threshold by the
# family-regret rule (prompt_injection and system_policy: family-f1); int8 by `--quantize auto`, which
# keeps smooth-token on mpnet (it passes the gate; 3x faster than the block method it falls back to;
# docs/benchmarks.md). The panels leave their probes in probes/default/.
probes-default: $(MPNET)/config.json
	MODEL=all-mpnet-base-v2 LAYERS="8 9 10" C="0.003 0.01" TASKS=content_safety OUT=build/panel/default experiments/panels.sh
	MODEL=all-mpnet-base-v2 LAYERS="9 10" C="0.003 0.01" TASKS=toxicity OUT=build/panel/default experiments/panels.sh
	MODEL=all-mpnet-base-v2 LAYERS="8" C="0.01" RULE=family-f1 RANK=f1 TASKS=prompt_injection \
	  OUT=build/panel/default experiments/panels.sh
	MODEL=all-mpnet-base-v2 LAYERS="7 8 9" C="0.003 0.01 0.03" RULE=family-f1 RANK=f1 TASKS=system_policy \
	  OUT=build/panel/default experiments/panels.sh
	MODEL=all-mpnet-base-v2 LAYERS="7" C="0.03" RULE=family-f1 RANK=f1 TASKS=system_policy_disguises \
	  OUT=build/panel/default experiments/panels.sh
	cp build/panel/default/content_safety.json build/panel/default/toxicity.json \
	  build/panel/default/prompt_injection.json build/panel/default/system_policy.json $(PROBES)/

$(MPNET)/config.json:
	$(LEC) fetch-models all-mpnet-base-v2

test:
	$(PYTHON) -m pytest -q

clean:
	rm -rf build
