# Rebuild the shipped default artifact from scratch: `make artifact` (needs `pip install .[export]`).
# Base model and layers come from the sweeps in docs/results.md (leave-one-source-out F1 first, then size and speed).
PYTHON ?= python
LEC = $(PYTHON) -m lec_onnx
MODEL_NAME = all-MiniLM-L6-v2
MODEL = $(HOME)/.cache/lec-onnx/models/$(MODEL_NAME)
BUILD = build/default
THREADS ?= 2
COMMON = -m $(MODEL) --max-length 256 --heldout data/heldout-sha256.txt --all-rows --threads $(THREADS)

.PHONY: artifact test probes clean

artifact: probes
	$(LEC) export -m $(MODEL) --stride 64 --no-fp32 --threads $(THREADS) \
	  -p $(BUILD)/content_safety.json -p $(BUILD)/prompt_injection.json \
	  --parity-data data/content_safety.jsonl --parity-data data/prompt_injection.jsonl \
	  --parity-rows 500 -o artifacts/default

probes: $(MODEL)/config.json
	$(LEC) train $(COMMON) -d data/content_safety.jsonl -d data/overrefusal.jsonl \
	  --task content_safety --layer 5 --pooling mean -o $(BUILD)/content_safety.json
	$(LEC) train $(COMMON) -d data/prompt_injection.jsonl --cap 400 --documents 2000 \
	  --task prompt_injection --roles prompt --layer 5 --pooling text-mean -o $(BUILD)/prompt_injection.json

$(MODEL)/config.json:
	$(LEC) fetch-models $(MODEL_NAME)

test:
	$(PYTHON) -m pytest -q

clean:
	rm -rf build
