"""Does int8 pay on this CPU? One decoder-sized MatMul, fp32 against onnxruntime's int8 kernels, printed as a table.

    python -m benchmarks.int8_gemm [--tokens 128] [--k 576] [--n 1536] [--threads 1]

The speed-up an int8 graph can reach is bounded by its MatMuls' (they take ~90% of a decoder's time at 128
tokens). On CPUs with AVX-512 VNNI or AVX-VNNI the signed-weight (U8S8) dot products run at several times the fp32
rate (measured on an AMD EPYC with AVX-512 VNNI: 3.7x; unsigned weights, U8U8: 1.5x); on AVX2 alone onnxruntime
multiplies with vpmaddubsw / vpmaddwd, and on some cores (AMD Zen 1, which splits 256-bit operations and has one
vector-multiply pipe) that is no faster than fp32 FMA. Run this first on the machine you deploy to.
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def matmul_graph(path: Path, k: int, n: int) -> Path:
    weight = np.random.default_rng(0).standard_normal((k, n)).astype(np.float32)
    graph = helper.make_graph([helper.make_node("MatMul", ["x", "W"], ["y"], name="mm")], "one",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, k])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(weight, "W")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)
    return path


def milliseconds(path: Path, x: np.ndarray, threads: int, reps: int = 50) -> float:
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    for _ in range(5):
        session.run(None, {"x": x})
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        session.run(None, {"x": x})
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv=None) -> int:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from benchmarks.run import machine
    from lec_onnx.export import quantize as lec_quantize
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokens", type=int, default=128)
    p.add_argument("--k", type=int, default=576, help="input width (SmolLM2's hidden size)")
    p.add_argument("--n", type=int, default=1536, help="output width (SmolLM2's MLP width)")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args(argv)
    x = np.random.default_rng(1).standard_normal((1, args.tokens, args.k)).astype(np.float32)
    with tempfile.TemporaryDirectory() as tmp:
        fp32 = matmul_graph(Path(tmp) / "fp32.onnx", args.k, args.n)
        graphs = {"fp32": fp32}
        for name, weights, seven_bits in (("int8 U8S8, 8-bit weights (saturates without VNNI)", QuantType.QInt8, False),
                                          ("int8 U8S8, weights within -64..64 (lec-onnx)", QuantType.QInt8, True),
                                          ("int8 U8U8, unsigned weights (lec-onnx before 2026-12)", QuantType.QUInt8,
                                           False)):
            graphs[name] = Path(tmp) / f"{len(graphs)}.onnx"
            quantize_dynamic(str(fp32), str(graphs[name]), per_channel=True, weight_type=weights,
                             reduce_range=seven_bits)
        graphs["int8 per-token activations (lec-onnx token)"] = Path(tmp) / "token.onnx"
        lec_quantize.quantize_per_token(fp32, graphs["int8 per-token activations (lec-onnx token)"])
        graphs["int8 blocks of 32 (lec-onnx block, MatMulNBits)"] = Path(tmp) / "block.onnx"
        lec_quantize.quantize_blockwise(fp32, graphs["int8 blocks of 32 (lec-onnx block, MatMulNBits)"])
        times = {name: milliseconds(path, x, args.threads) for name, path in graphs.items()}
    cpu = machine()
    print(f"MatMul {args.tokens} x {args.k} x {args.n}, {args.threads} thread(s); AVX-512 VNNI "
          f"{'yes' if cpu['avx512_vnni'] else 'no'}, AVX-VNNI {'yes' if cpu['avx_vnni'] else 'no'}\n")
    print("| kernel | ms | x fp32 |\n|---|---|---|")
    for name, ms in times.items():
        print(f"| {name} | {ms:.2f} | {times['fp32'] / ms:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
