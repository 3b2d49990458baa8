"""Shipped artifacts: `default/` is what `lec-onnx classify` uses when no --artifact is given."""
