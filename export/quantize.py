"""int8 quantisation of the exported trunk, and the ranking of its MatMuls by the error int8 adds.

Weights are stored as *unsigned* 8-bit (U8U8 kernels). onnxruntime's U8S8 kernels on x86 CPUs without VNNI
(AVX2 only: most laptops and many cloud VMs) add pairs of u8*s8 products in 16 bits and saturate, so a graph
that passes the parity gate on an AVX-512/VNNI machine can miss it on an AVX2 one; U8U8 accumulates in 32 bits
on every instruction set, so the parity measured at export holds on the user's CPU.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx


def quantize_int8(src: Path, dst: Path, keep_fp32: list[str] = (), only: list[str] | None = None) -> None:
    """Dynamic int8 (U8U8), per-channel weights: every MatMul weight and the embedding table (Gather), except the
    MatMul nodes named in keep_fp32 (or only the nodes named in `only`)."""
    import logging

    from onnxruntime.quantization import QuantType, quantize_dynamic
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # mute its advice to pre-process, printed on every call
    try:
        quantize_dynamic(str(src), str(dst), per_channel=True, weight_type=QuantType.QUInt8,
                         op_types_to_quantize=["MatMul", "Gather"], nodes_to_exclude=list(keep_fp32),
                         nodes_to_quantize=only)
    finally:
        root.level = level


def weight_matmuls(graph_path: Path) -> list[str]:
    """Names of the MatMul nodes that multiply by a stored weight (the ones int8 quantisation touches)."""
    graph = onnx.load(str(graph_path), load_external_data=False).graph
    weights = {i.name for i in graph.initializer}
    return [n.name for n in graph.node if n.op_type == "MatMul" and n.input[1] in weights]


def rank_by_int8_error(trunk: Path, feeds: list[dict], work: Path) -> list[str]:
    """Weight MatMuls, most harmful first: the relative error of the pooled outputs when only that node is int8.

    Dynamic int8 takes one activation scale per tensor, so a layer whose input has outlier values (typically a
    feed-forward down-projection) loses most; keeping a few of those in fp32 buys back parity at little speed.
    """
    import onnxruntime as ort
    from tqdm.auto import tqdm

    def outputs(path):
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        return np.concatenate([np.concatenate(session.run(None, f), 1) for f in feeds])

    reference = outputs(trunk)
    errors = {}
    for name in tqdm(weight_matmuls(trunk), desc="int8 sensitivity", unit="node"):
        quantize_int8(trunk, work / "one.onnx", only=[name])
        errors[name] = float(np.linalg.norm(outputs(work / "one.onnx") - reference) / np.linalg.norm(reference))
    return sorted(errors, key=errors.get, reverse=True)
