"""Export side of lec-onnx (needs `pip install lec-onnx[export]`): load models, extract per-layer features,
train probes, sweep layers x pooling x training size, and export one int8 ONNX graph."""
