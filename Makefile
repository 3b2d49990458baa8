# Rebuild the shipped default artifact from scratch: `make artifact` (needs `pip install .[export]`).
# Base model, layers, pooling, C and thresholds come from the stress panel in docs/results.md (families of sources
# held out whole; scripts/panels_minilm.sh). The committed probes/*.json are what `make probes` writes.
PYTHON ?= python
LEC = $(PYTHON) -m lec_onnx
MODEL_NAME = all-MiniLM-L6-v2
MODEL = $(HOME)/.cache/lec-onnx/models/$(MODEL_NAME)
BUILD = build/default
THREADS ?= 2

.PHONY: artifact test probes clean

artifact: probes
	$(LEC) export -m $(MODEL) --max-length 256 --stride 64 --no-fp32 --threads $(THREADS) \
	  -p $(BUILD)/content_safety.json -p $(BUILD)/toxicity.json -p $(BUILD)/prompt_injection.json \
	  --parity-data data/content_safety.jsonl --parity-data data/toxicity.jsonl --parity-data data/prompt_injection.jsonl \
	  --parity-rows 500 -o artifacts/default

# Each probe comes out of its stress panel (docs/results.md, "Stress panel"): trained on every family of data/,
# calibrated on out-of-family predictions (Platt scaling folded into its weights), with the threshold its rule
# chooses. Layer, pooling and C are the ones the MiniLM panel chose (scripts/panels_minilm.sh).
PANEL = $(LEC) panel -m $(MODEL) --max-length 256 --heldout data/heldout-sha256.txt --threads $(THREADS) --C-grid 0.01
CS_RECIPE = --cap 600 --pooling mean --layer 5
TOX_RECIPE = --cap 600 --pooling mean --layer 5
PI_RECIPE = --cap 50 --pooling text-mean --layer 4

probes: $(MODEL)/config.json
	$(PANEL) --task content_safety -d data/content_safety.jsonl -d data/overrefusal.jsonl \
	  --negative-data data/toxicity.jsonl $(CS_RECIPE) -o $(BUILD)/panel/content_safety --probe-out $(BUILD)/content_safety.json
	$(PANEL) --task toxicity -d data/toxicity.jsonl \
	  $(TOX_RECIPE) -o $(BUILD)/panel/toxicity --probe-out $(BUILD)/toxicity.json
	$(PANEL) --task prompt_injection -d data/prompt_injection.jsonl \
	  $(PI_RECIPE) -o $(BUILD)/panel/prompt_injection --probe-out $(BUILD)/prompt_injection.json

$(MODEL)/config.json:
	$(LEC) fetch-models $(MODEL_NAME)

test:
	$(PYTHON) -m pytest -q

clean:
	rm -rf build
