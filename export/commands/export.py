"""`lec-onnx export`: one int8 ONNX graph (the model cut at the deepest probe's layer, pooling, a Gemm head per
task) written as an artifact only when it passes the parity gate."""
from __future__ import annotations

from lec_onnx.options import needs_export_extra

from .. import QUANTIZE_METHODS
from .common import set_threads


def register(sub, model) -> None:
    e = sub.add_parser("export", parents=[model], help="one int8 ONNX graph from a model and its probes",
                       description="Cut the model at the deepest probe's layer, append pooling and a Gemm head per "
                       "task, quantise to int8 and check it against the torch probes (parity gate: >= 99.5% of test "
                       "labels agree, F1 within 0.005: a margin over what `lec-onnx check` asks on other CPUs). When "
                       "all-int8 misses the gate, the MatMuls whose quantisation hurts most stay fp32 (1, 2, 4, ... "
                       "up to a quarter) until it passes; otherwise nothing is written and the exit code is 2.")
    e.add_argument("--probe", "-p", action="append", required=True, help="probe JSON (repeat: one head per task)")
    e.add_argument("--out", "-o", required=True, help="artifact folder to write")
    e.add_argument("--stride", type=int, default=64, help="overlap of windows over long texts, in tokens")
    e.add_argument("--parity-data", action="append", help="labelled file per probe (same order) for the parity gate")
    e.add_argument("--parity-rows", type=int, default=400, help="test rows per task in the parity gate")
    e.add_argument("--no-fp32", action="store_true", help="skip the fp32 graph (for CUDA)")
    e.add_argument("--quantize", default="auto", choices=QUANTIZE_METHODS,
                   help="int8 method: dynamic (one activation scale per tensor, per run); token (one scale per "
                   "token, per run); smooth-token (activation outliers migrated into the weights by a per-channel "
                   "Mul, then token with s7 weights: the fast U8S8 kernels); block (weights and activations with "
                   "one scale per 32 channels: MatMulNBits, onnxruntime >= 1.22); smooth (decoders: outliers "
                   "migrated into the weights first, SmoothQuant); "
                   "static (calibrated ranges, QDQ); auto (default): encoders smooth-token when it passes the "
                   "parity gate, else the best on held-out calibration rows of dynamic and block; decoders the best "
                   "of dynamic, token, static and block")
    e.add_argument("--int8-weights", default="auto", choices=["auto", "s7", "u8"],
                   help="per-channel weight format of dynamic, token and static: s7 (signed within -64..64: the fast "
                   "U8S8 kernels of VNNI CPUs, ~3.7x fp32 per MatMul), u8 (unsigned 8-bit: one bit more precise, "
                   "~1.5x); both give the same integers on every CPU. auto (default): s7, u8 if s7 misses the gate")
    e.set_defaults(run=needs_export_extra(export))


def export(args) -> int:
    from ..artifact import export_artifact
    set_threads(args.threads)
    export_artifact(args.model, args.probe, args.out, revision=args.revision, parity_data=args.parity_data,
                    max_length=args.max_length, stride=args.stride, fp32=not args.no_fp32,
                    parity_rows=args.parity_rows, cache=args.cache, quantize=args.quantize,
                    int8_weights=args.int8_weights)
    return 0
