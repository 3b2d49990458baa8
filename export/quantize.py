"""int8 quantisation of the exported trunk: the methods, the choice between them, and the ranking of MatMuls by
the error int8 adds.

Methods (`lec-onnx export --quantize METHOD`):
  - dynamic: every MatMul weight and the embedding table int8 per output channel; activations quantised at run time
    with one scale per tensor (DynamicQuantizeLinear -> MatMulInteger).
  - token: dynamic, with one activation scale per token (row) instead of per tensor: each DynamicQuantizeLinear
    becomes a symmetric per-row quantiser around 128 (a few elementwise ops; the MatMulInteger and its per-column
    weight zero points are unchanged). A decoder's attention-sink token and any other row with huge values get a
    scale of their own instead of setting everyone's.
  - smooth: dynamic, on a model whose activation outliers were first migrated into the weights (smoothing.py,
    SmoothQuant); decoders only. Applied on the torch side before export, so the fp32 graph computes the same
    function and the int8 graph gets no extra op.
  - static: QDQ with activation ranges calibrated once on real inputs (min/max over the real tokens, the first
    token -- the attention sink -- left out, and a percentile clip); no run-time range computation.
  - block: every MatMul weight int8 with one scale per block of 32 input channels (MatMulNBits, 8 bits), and the
    activations quantised per block of 32 too, at run time (accuracy level 4: int8 dot products); the embedding
    tables int8 per row (token). An outlier channel costs only its own block's precision, not the whole row's: on
    all-mpnet-base-v2 (layers 8-10) the pooled-state error is 0.02, against 0.08 per token and 0.4-0.5 per tensor.
    Needs onnxruntime >= 1.22 (its x86 8-bit kernels).
  - smooth-token: any architecture. SmoothQuant on the exported graph (smoothing.smooth_graph: an explicit
    per-channel Mul before each group of weight MatMuls, alpha 0.5), with each input's 16 largest channels taken
    out of int8 into a small fp32 MatMul (LLM.int8()'s decomposition); the biases corrected for the mean error of
    rounding the weights (correct_rounding_bias); then `s7` weights, the feed-forward MatMuls' inputs quantised per
    token and the attention ones per tensor (onnxruntime's fused DynamicQuantizeMatMul), the embedding tables int8
    per row as in `block`. On all-mpnet-base-v2 cut at 9 (128 tokens, one thread): a third of `block`'s time, as
    fast as optimum's dynamic int8 of the whole model, p99 score error 0.025-0.035 (docs/benchmarks.md).
    No MatMul is kept in fp32 when it misses the gate: export falls back to another method instead.
  - auto: encoders: smooth-token when it passes the parity gate (the fastest kernels), else the smaller
    pooled-state error of dynamic and block; decoders: dynamic, token, static and block, the one with the smallest
    pooled-state error on the calibration rows (smoothing only when asked: on SmolLM2 it lowered the last-token
    error but raised the mean-pooled one).

Why parity does not depend on the CPU's int8 path, and why the weights are *signed 7-bit*: onnxruntime's fast
int8 kernels multiply unsigned activations by signed weights (U8S8). With VNNI (vpdpbusd: AVX-512 VNNI, AVX-VNNI)
the products are summed in 32 bits and run ~3.7x faster than fp32; on x86 CPUs without VNNI (AVX2 only: most
laptops, many cloud VMs) the kernel uses vpmaddubsw, which adds pairs of u8*s8 products into a signed 16-bit lane
and saturates when weights use the full 8 bits: 2*255*127 = 64770 does not fit in 32767, so a graph that passes
the parity gate on a VNNI machine can miss it on an AVX2 one (seen: 98.2 % label agreement on a 99.6 % manifest).
Weights within -64..64 (onnxruntime's reduce_range) keep every pair within 2*255*64 = 32640: the sums are exact
on every instruction set, so the int8 graph computes the same integers everywhere and the parity measured at
export is the parity on the user's CPU (up to float summation order, ~1e-6), at U8S8 speed where VNNI exists.
(Unsigned weights, U8U8, are exact too but run at 1.5x fp32 on a VNNI core, against 3.7x: benchmarks/int8_gemm.py.)
The block method's codes are signed (activations within +-127, weights within -128..127 around the zero point
128), so a pair of products is at most 2 * 128 * 127 < 32767 and fits 16 bits: tests/test_int8.py recomputes
both in numpy with every code at the top of its range.
"""
from __future__ import annotations

import logging
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import onnx

from lec_onnx.errors import InputError
from lec_onnx.inputs import encode_fitted, model_inputs, windows
from lec_onnx.manifest import InputFormat

from . import QUANTIZE_METHODS

METHODS = QUANTIZE_METHODS
STATIC_PERCENTILE = 99.99
CALIBRATION_ROWS = 128  # half calibrate (smoothing scales, static ranges), half judge the candidates
SMOOTH_ALPHA = 0.5  # clip the rare extreme activation of a calibration set (per tensor)
BLOCK_SIZE = 32  # input channels per scale of the block method (weights and activations alike)
# per-channel weight formats of dynamic, token and static, fastest first (both exact on every CPU: module docstring)
WEIGHT_FORMATS = {"s7": "int8 within -64..64, per output channel", "u8": "uint8, per output channel"}
S7_LEVELS = 64  # s7 codes: round(w / step) within -64..64, step = max |w| / 64 per output column (reduce_range)


def _weights(weights: str) -> dict:
    """quantize_dynamic / quantize_static arguments of a weight format: "s7" (signed within -64..64: U8S8 kernels,
    ~2.5x faster than u8 on VNNI cores) or "u8" (unsigned 8-bit: one more bit of precision)."""
    from onnxruntime.quantization import QuantType
    if weights not in WEIGHT_FORMATS:
        raise InputError(f"unknown int8 weight format {weights!r}: one of {', '.join(WEIGHT_FORMATS)}")
    return {"weight_type": QuantType.QInt8 if weights == "s7" else QuantType.QUInt8, "reduce_range": weights == "s7"}


@contextmanager
def _quiet():
    """onnxruntime.quantization logs advice (pre-process the model) on every call."""
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR
    try:
        yield
    finally:
        root.level = level


def quantize_int8(src: Path, dst: Path, keep_fp32: list[str] = (), only: list[str] | None = None,
                  weights: str = "s7", tables: bool = True) -> None:
    """Dynamic int8, per-channel weights in a WEIGHT_FORMATS format: every MatMul weight and (with `tables`) the
    embedding table (Gather), except the MatMul nodes named in keep_fp32 (or only the nodes named in `only`)."""
    from onnxruntime.quantization import quantize_dynamic
    with _quiet():
        quantize_dynamic(str(src), str(dst), per_channel=True, **_weights(weights),
                         op_types_to_quantize=["MatMul", "Gather"] if tables else ["MatMul"],
                         nodes_to_exclude=list(keep_fp32), nodes_to_quantize=only)


def quantize_per_token(src: Path, dst: Path, keep_fp32: list[str] = (), only: list[str] | None = None,
                       weights: str = "s7", tables_per_row: bool = False, per_token: set[str] | None = None) -> None:
    """quantize_int8, then every activation (or those named in `per_token`; the others keep one scale per tensor)
    quantised with one scale per row of its last axis (per token). tables_per_row: the embedding tables int8 with
    a scale per row (as the block method), not one per table."""
    if tables_per_row:
        model = onnx.load(str(src))
        _per_row_embeddings(model.graph)
        src = dst.with_name(f"{dst.stem}.tables.onnx")
        onnx.save(model, str(src))
    quantize_int8(src, dst, keep_fp32, only, weights, tables=not tables_per_row)
    model = onnx.load(str(dst))
    _per_token_activations(model.graph, per_token)
    if not any(o.domain == "com.microsoft" for o in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid("com.microsoft", 1))
    onnx.save(model, str(dst))


def quantize_smooth_token(src: Path, dst: Path, feeds: list[dict], weights: str = "s7") -> dict:
    """The smooth-token method (module docstring); returns what the smoothing did, for the manifest."""
    from .smoothing import smooth_graph
    if not feeds:
        raise InputError("--quantize smooth-token needs calibration rows: probes that name their data, or "
                         "--parity-data")
    smoothed = dst.with_name(f"{dst.stem}.smoothed.onnx")
    done = smooth_graph(src, smoothed, feeds)
    if weights == "s7":
        done["rounding_bias_corrected"] = correct_rounding_bias(smoothed, feeds, done["fp32_matmuls"])
    per_token = feed_forward_inputs(smoothed, done["fp32_matmuls"])
    quantize_per_token(smoothed, dst, keep_fp32=done["fp32_matmuls"], weights=weights, tables_per_row=True,
                       per_token=per_token)
    done["per_token_inputs"] = len(per_token)
    return done


def feed_forward_inputs(graph_path: Path, skip: list[str] = ()) -> set[str]:
    """The inputs of the widest weight MatMuls (a weight dimension above the narrowest layer's widest: the
    feed-forward up and down projections, not q/k/v/o). smooth-token quantises these per token and the rest per
    tensor: attention inputs lose nothing per tensor after smoothing (on all-mpnet-base-v2 their int8 error was
    the same either way), and a per-tensor input runs onnxruntime's fused DynamicQuantizeMatMul instead of six
    extra ops."""
    from .graph import weight_matmul_nodes
    graph = onnx.load(str(graph_path), load_external_data=False).graph
    dims = {i.name: tuple(i.dims) for i in graph.initializer}
    matmuls = [n for n in weight_matmul_nodes(graph) if n.name not in skip]
    narrowest = min(max(dims[n.input[1]]) for n in matmuls)
    return {n.input[0] for n in matmuls if max(dims[n.input[1]]) > narrowest}


def correct_rounding_bias(graph_path: Path, feeds: list[dict], skip: list[str] = ()) -> int:
    """Bias correction for s7 weights: each weight MatMul's bias (the first Add after it with a stored operand)
    loses mean(x) (Q(W) - W), the mean output error that rounding the weights to the s7 grid (per output column,
    max |w| / S7_LEVELS) adds over the calibration tokens; the graph is rewritten in place. Returns the count
    corrected."""
    from onnx import numpy_helper
    from .graph import readers_of, weight_matmul_nodes
    from .smoothing import real_token_values
    model = onnx.load(str(graph_path))
    graph = model.graph
    stored, readers = {i.name: i for i in graph.initializer}, readers_of(graph)
    matmuls = [n for n in weight_matmul_nodes(graph) if n.name not in skip]
    names = sorted({n.input[0] for n in matmuls})
    sums, tokens = dict.fromkeys(names, 0.0), 0
    for values in real_token_values(graph_path, feeds, names):
        sums = {n: sums[n] + values[n].astype(np.float64).sum(0) for n in names}
        tokens += len(values[names[0]])
    corrected = 0
    for matmul in matmuls:
        bias = _bias_after(graph, matmul, stored, readers)
        if bias is None:
            continue
        w = numpy_helper.to_array(stored[matmul.input[1]]).astype(np.float64)
        step = np.abs(w).max(0) / S7_LEVELS
        step[step == 0] = 1.0
        error = np.round(w / step) * step - w
        b = numpy_helper.to_array(stored[bias]) - (sums[matmul.input[0]] / tokens) @ error
        stored[bias].CopyFrom(numpy_helper.from_array(b.astype(np.float32), bias))
        corrected += 1
    onnx.save(model, str(graph_path))
    return corrected


def _bias_after(graph: onnx.GraphProto, matmul, stored: dict, readers: dict) -> str | None:
    """The stored operand of the first Add after `matmul` that has one, following a chain of Adds that each have
    one reader (the outlier part's Add comes between a MatMul and its bias), made that Add's own (a copy when the
    exporter shared it among equal biases); None when there is no such Add."""
    from .graph import own_initializer
    out = matmul.output[0]
    while len(readers.get(out, [])) == 1 and readers[out][0].op_type == "Add":
        add = readers[out][0]
        bias = next((i for i in add.input if i in stored), None)
        if bias is not None:
            return own_initializer(graph, add, bias, stored, readers)
        out = add.output[0]
    return None


def quantize_blockwise(src: Path, dst: Path, keep_fp32: list[str] = (), only: list[str] | None = None,
                       weights: str = "s7") -> None:
    """The block method (module docstring): each weight MatMul not in keep_fp32 (or only those in `only`) becomes a
    MatMulNBits with 8-bit weights in blocks of BLOCK_SIZE; the embedding tables int8 with a scale per row. The
    block format has its own weight codes: `weights` is accepted for a uniform signature and ignored."""
    from onnxruntime.quantization.matmul_nbits_quantizer import DefaultWeightOnlyQuantConfig, MatMulNBitsQuantizer
    model = onnx.load(str(src))
    excluded = [m for m in weight_matmuls(src) if m in keep_fp32 or (only is not None and m not in only)]
    if only is None:
        _per_row_embeddings(model.graph)
    config = DefaultWeightOnlyQuantConfig(block_size=BLOCK_SIZE, is_symmetric=True, accuracy_level=4, bits=8)
    with _quiet():
        quantizer = MatMulNBitsQuantizer(model, nodes_to_exclude=excluded, algo_config=config)
        quantizer.process()
    quantizer.model.save_model_to_file(str(dst), False)


def _per_row_embeddings(graph: onnx.GraphProto) -> None:
    """Each Gather from a stored 2-D table (token, position, type embeddings) becomes a Gather of uint8 codes and
    one of row scales: row = (code - 128) * scale, scale = max|row| / 127. quantize_dynamic gives a table one scale
    for all its rows, and on all-mpnet-base-v2 that alone added half the pooled-state error of the block method."""
    from onnx import TensorProto, helper, numpy_helper
    tables = {i.name: i for i in graph.initializer if len(i.dims) == 2}
    nodes, middle = [], "emb.middle"
    graph.initializer.append(numpy_helper.from_array(np.array(128.0, np.float32), middle))
    for node in graph.node:
        axis = next((a.i for a in node.attribute if a.name == "axis"), 0)
        table = tables.get(node.input[0]) if node.op_type == "Gather" and axis == 0 else None
        if table is None:
            nodes.append(node)
            continue
        rows = numpy_helper.to_array(table).astype(np.float32)
        scale = (np.abs(rows).max(1, keepdims=True) / 127).clip(min=1e-12)
        codes = (np.round(rows / scale) + 128).astype(np.uint8)
        name, ids = node.name, node.input[1]
        graph.initializer.extend([numpy_helper.from_array(codes, f"{table.name}.codes"),
                                  numpy_helper.from_array(scale.astype(np.float32), f"{table.name}.row_scale")])
        nodes += [helper.make_node("Gather", [f"{table.name}.codes", ids], [f"{name}.codes"], name=f"{name}.codes"),
                  helper.make_node("Gather", [f"{table.name}.row_scale", ids], [f"{name}.scale"], name=f"{name}.scale"),
                  helper.make_node("Cast", [f"{name}.codes"], [f"{name}.float"], to=TensorProto.FLOAT),
                  helper.make_node("Sub", [f"{name}.float", middle], [f"{name}.centred"]),
                  helper.make_node("Mul", [f"{name}.centred", f"{name}.scale"], list(node.output), name=name)]
    graph.ClearField("node")
    graph.node.extend(nodes)
    used = {i for n in graph.node for i in n.input}
    kept = [i for i in graph.initializer if i.name in used]
    graph.ClearField("initializer")
    graph.initializer.extend(kept)


def _per_token_activations(graph: onnx.GraphProto, inputs: set[str] | None = None) -> None:
    """Replace each DynamicQuantizeLinear(x) (or those of the x named in `inputs`; the others keep one scale per
    tensor) -> (q, scale, zero point) by q = round(x / s) + 128 with s = max|x| / 127 over x's last axis
    (shape [..., 1]) and the zero point 128: symmetric, so one scalar zero point serves every
    row (MatMulInteger takes a scalar one for its first input). The rounding is one QuantizeLinear per axis over x
    flattened to rows (one pass; the same codes as Div -> Round -> Add -> Cast at a third of the time). The
    quantiser's scale output becomes 1, and the row scale multiplies each MatMul's float result in a Mul of its
    own, before any bias is added (_scale_rows_after_rescale)."""
    from onnx import helper, numpy_helper
    constants = {"pt.levels": np.array(127.0, np.float32), "pt.tiny": np.array(1e-12, np.float32),
                 "pt.last_axis": np.array([-1], np.int64), "pt.zero_point": np.array(128, np.uint8),
                 "pt.one": np.array(1.0, np.float32)}
    graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in constants.items())
    row_scale, nodes = {}, []
    for node in graph.node:
        if node.op_type != "DynamicQuantizeLinear" or (inputs is not None and node.input[0] not in inputs):
            nodes.append(node)
            continue
        (x,), (q, scale, zero_point), p = node.input, node.output, node.name
        row_scale[q] = f"{p}.row_scale"

        def step(op, inputs, out, **attributes):  # a node named and output as "<quantiser>.<out>"
            return helper.make_node(op, inputs, [f"{p}.{out}"], name=f"{p}.{out}", **attributes)
        nodes += [step("Abs", [x], "abs"), step("ReduceMax", [f"{p}.abs", "pt.last_axis"], "max"),
                  step("Max", [f"{p}.max", "pt.tiny"], "range"),
                  helper.make_node("Div", [f"{p}.range", "pt.levels"], [row_scale[q]], name=f"{p}.row_scale"),
                  step("Flatten", [x], "rows", axis=-1), step("Reshape", [row_scale[q], "pt.last_axis"], "scales"),
                  step("Shape", [f"{p}.scales"], "count"), step("Expand", ["pt.zero_point", f"{p}.count"], "zeros"),
                  step("QuantizeLinear", [f"{p}.rows", f"{p}.scales", f"{p}.zeros"], "codes", axis=0),
                  step("Shape", [x], "shape"),
                  helper.make_node("Reshape", [f"{p}.codes", f"{p}.shape"], [q], name=f"{p}.unflatten"),
                  helper.make_node("Identity", ["pt.one"], [scale], name=f"{p}.scale"),
                  helper.make_node("Identity", ["pt.zero_point"], [zero_point], name=f"{p}.zero_point")]
    del graph.node[:]
    graph.node.extend(_scale_rows_after_rescale(nodes, row_scale))


def _scale_rows_after_rescale(nodes: list, row_scale: dict[str, str]) -> list:
    """Each MatMulInteger(q, W) -> Cast -> Mul(per-column scales) becomes one MatMulIntegerToFloat (com.microsoft:
    the integer GEMM writes floats scaled per column, no int32 tensor and no extra pass over the output), then a
    Mul by q's row scale. The row scale is not given to MatMulIntegerToFloat itself: its a_scale is a scalar (a
    per-row one was mis-broadcast, with a bias: Qwen2's q/k/v came out 13x off), so it gets the stored 1."""
    from onnx import helper
    consumer = {i: n for n in nodes for i in n.input}
    # the pair takes the place of the rescaling Mul (every input is ready there); the MatMulInteger and Cast go
    fused, dropped = {}, set()
    for node in nodes:
        if node.op_type == "MatMulInteger" and node.input[0] in row_scale:
            cast = consumer[node.output[0]]
            rescale = consumer[cast.output[0]]
            column_scale = next(i for i in rescale.input if i != cast.output[0])
            q, weight, q_zero, weight_zero = node.input
            result = rescale.output[0]
            fused[id(rescale)] = [
                helper.make_node("MatMulIntegerToFloat", [q, weight, "pt.one", column_scale, q_zero, weight_zero],
                                 [f"{result}.per_column"], name=f"{node.name}.to_float", domain="com.microsoft"),
                helper.make_node("Mul", [f"{result}.per_column", row_scale[q]], [result], name=f"{node.name}.per_row")]
            dropped |= {id(node), id(cast)}
    out = []
    for node in nodes:
        if id(node) not in dropped:
            out.extend(fused.get(id(node), [node]))
    return out


def weight_matmuls(graph_path: Path) -> list[str]:
    """Names of the MatMul nodes that multiply by a stored weight (the ones int8 quantisation touches)."""
    from .graph import weight_matmul_nodes
    return [n.name for n in weight_matmul_nodes(onnx.load(str(graph_path), load_external_data=False).graph)]


def _matmul_inputs(graph_path: Path) -> list[str]:
    from .graph import weight_matmul_nodes
    return sorted({n.input[0] for n in weight_matmul_nodes(onnx.load(str(graph_path), load_external_data=False).graph)})


def activation_ranges(trunk: Path, feeds: list[dict], skip_first: bool = True,
                      percentile: float = STATIC_PERCENTILE) -> dict[str, tuple[float, float]]:
    """(rmin, rmax) of every weight MatMul's input over the real tokens of the calibration feeds: position 0 of each
    row left out (the attention sink's huge values would set a range that wipes out every other token), then the
    given percentile of |x| per side."""
    from .smoothing import real_token_values
    names = _matmul_inputs(trunk)
    values: dict[str, list[np.ndarray]] = {n: [] for n in names}
    for feed_values in real_token_values(trunk, feeds, names, skip_first):
        for n in names:
            values[n].append(feed_values[n])
    ranges = {}
    for n, parts in values.items():
        x = np.concatenate(parts).ravel()
        ranges[n] = (float(min(np.percentile(x, 100 - percentile), 0.0)), float(max(np.percentile(x, percentile), 0.0)))
    return ranges


class _Feeds:
    """The CalibrationDataReader protocol over a list of feeds."""

    def __init__(self, feeds):
        self.rows = iter(feeds)

    def get_next(self):
        return next(self.rows, None)


def quantize_static_qdq(src: Path, dst: Path, feeds: list[dict], keep_fp32: list[str] = (),
                        weights: str = "s7") -> None:
    """Static QDQ, U8 activations with the ranges of activation_ranges(), per-channel weights (MatMul only) in a
    WEIGHT_FORMATS format."""
    from onnxruntime.quantization import QuantFormat, QuantType, quantize_static
    overrides = {n: [{"rmin": np.float32(lo), "rmax": np.float32(hi)}]
                 for n, (lo, hi) in activation_ranges(src, feeds).items()}
    with _quiet():
        quantize_static(str(src), str(dst), _Feeds(feeds[:1]), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, **_weights(weights),
                        op_types_to_quantize=["MatMul"], nodes_to_exclude=list(keep_fp32),
                        extra_options={"TensorQuantOverrides": overrides})


def pooled_outputs(graph: Path, feeds: list[dict]) -> list[np.ndarray]:
    """The trunk's pooled outputs (one array per head, rows stacked) over the feeds, 1 thread."""
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    runs = [session.run(None, f) for f in feeds]
    return [np.concatenate([r[i] for r in runs]) for i in range(len(runs[0]))]


def with_pooled_outputs(graph_path: Path) -> bytes:
    """The artifact graph with each head's input (the pooled state: the Gemm node `head_<task>`'s first input)
    added as an output named `pooled:<task>`, serialised for an InferenceSession."""
    from .heads import expose_features, head_sources
    model = onnx.load(str(graph_path))
    expose_features(model, {f"pooled:{task}": tensor for task, tensor in head_sources(model).items()})
    return model.SerializeToString()


def head_bias_shift(reference: list[np.ndarray], got: list[np.ndarray], probes) -> list[np.ndarray]:
    """Per head, the mean logit error int8 adds on the calibration rows, W (h_fp32 - h_int8) averaged over rows.
    Added to the int8 head's bias it removes the systematic part of the error: a decoder's fixed prefix (system
    prompt, attention-sink token) is quantised alike in every input, so its error shifts every row's logit alike."""
    return [((r - g).mean(0) @ p.coef_.T).astype(np.float64) for r, g, p in zip(reference, got, probes)]


def state_error(reference: list[np.ndarray], got: list[np.ndarray]) -> list[float]:
    """Per head, the median over rows of ||Δh|| / ||h||: the pooled-state error the issue's table reports."""
    return [float(np.median(np.linalg.norm(g - r, axis=1) / np.linalg.norm(r, axis=1).clip(min=1e-12)))
            for r, g in zip(reference, got)]


def quantize_trunk(trunk: Path, out: Path, method: str, calibration: list[dict], kind: str,
                   keep_fp32: list[str] = (), smoothing: dict | None = None, log=print, weights: str = "s7") -> dict:
    """Quantise the fp32 trunk with `method` ("auto" tries the candidates: see the module docstring). `smoothing`
    says what smoothing.py did to the model before export (None: nothing). Returns what was done, for the manifest
    (graph.quantization): method, weights, activations, smoothing, calibration_rows, state_error (per candidate
    tried: the median relative pooled-state error per head on the held-out half of the calibration rows)."""
    if method not in METHODS:
        raise InputError(f"unknown quantisation method {method!r}: one of {', '.join(METHODS)}")
    if method == "smooth" and not smoothing:
        raise InputError("--quantize smooth needs a Llama-style decoder (RMSNorm -> q/k/v, gate/up -> down)")
    if method == "static" and not calibration:
        raise InputError("--quantize static needs calibration rows: probes that name their data, or --parity-data")
    auto = ["dynamic", "token", "static", "block"] if kind == "decoder" else ["dynamic", "block"]
    candidates = {"auto": auto if calibration else ["dynamic"],
                  "smooth": ["dynamic"]}.get(method, [method])
    calibrate, judge = calibration[: len(calibration) // 2], calibration[len(calibration) // 2:]
    reference = pooled_outputs(trunk, judge) if len(candidates) > 1 else None
    errors, folded = {}, smoothing
    for name in candidates:
        target = out if len(candidates) == 1 else out.with_name(f"{out.stem}.{name}.onnx")
        smoothing = _quantize_one(trunk, target, name, calibrate, keep_fp32, weights) or folded
        if reference is not None:
            errors[name] = [round(e, 5) for e in state_error(reference, pooled_outputs(target, judge))]
            log(f"int8 {'smoothed + ' if smoothing else ''}{name}: pooled-state error per head (median relative) "
                f"{', '.join(f'{e:.4f}' for e in errors[name])} on {len(judge)} held-out calibration rows")
    kept = min(errors, key=lambda n: max(errors[n])) if errors else candidates[0]
    if len(candidates) > 1:
        out.with_name(f"{out.stem}.{kept}.onnx").replace(out)
        log(f"int8: kept {kept} (the smaller worst-head pooled-state error)")
    calibrated = kept in ("static", "smooth-token")
    per_token = "uint8, per token (symmetric, zero point 128), computed per run"
    activations = {"static": f"uint8, per tensor, static ranges (first token left out, {STATIC_PERCENTILE} "
                             "percentile)", "token": per_token,
                   "smooth-token": "uint8, computed per run after a per-channel smoothing Mul: the feed-forward "
                                   "MatMuls' inputs per token (symmetric, zero point 128), the others per tensor; "
                                   "each input's outlier channels in fp32",
                   "block": f"int8, per block of {BLOCK_SIZE} channels of a token, computed per run"}
    stored = f"uint8, per block of {BLOCK_SIZE} input channels" if kept == "block" else WEIGHT_FORMATS[weights]
    return {"method": ("smooth+" if folded else "") + kept, "weights": stored,
            "activations": activations.get(kept, "uint8, per tensor, dynamic (computed per run)"),
            "smoothing": smoothing, "fp32_matmuls": list(keep_fp32),
            "calibration_rows": len(calibrate) if calibrated or smoothing else 0, "state_error": errors}


def _quantize_one(trunk: Path, out: Path, method: str, feeds: list[dict], keep_fp32, weights: str) -> dict | None:
    """Quantise as `method`; what smooth-token's smoothing did (None for the other methods)."""
    if method == "smooth-token":
        if keep_fp32:
            raise InputError("smooth-token keeps no MatMul in fp32: choose another --quantize method")
        return quantize_smooth_token(trunk, out, feeds, weights)
    if method == "static":
        quantize_static_qdq(trunk, out, feeds, keep_fp32, weights)
    else:
        _quantizer(method)(trunk, out, keep_fp32, weights=weights)
    return None


def _quantizer(method: str):
    """The function that quantises a graph without calibration as `method` does (per tensor for "dynamic")."""
    return {"token": quantize_per_token, "block": quantize_blockwise}.get(method, quantize_int8)


def calibration_feeds(files: list[str], tokenizer, input_format: InputFormat, max_length: int, inputs: list[str],
                      rows: int = CALIBRATION_ROWS, skip: int = 0) -> list[dict]:
    """Batch-of-1 feeds (the first window) of `rows` random rows of the *training* split of the probes' data:
    never the test rows the parity gate scores on. The rows come from each file in turn (one task's data each):
    drawn from the pooled rows, the largest file (prompt_injection's, half of all rows) set the smoothing scales
    and the heads' bias shift; in turn, every task's kind of input counts (the default's re-export of 2026-12-07:
    OKTest and DecodingTrust stereotypes through int8 moved from 0.007-0.012 F1 off torch's to within 0.004).
    `skip` leaves out the first rows of the (seeded) draw: the benchmark measures on rows the calibration did not
    see."""
    from .sweep import prepare_data, split_indices
    draws = []
    for path in dict.fromkeys(files):  # a file named twice (one per probe) is one task's data
        data = prepare_data([path])
        train, _ = split_indices(data)
        draws.append((data, iter(np.random.default_rng(0).permutation(train).tolist())))
    picked = []  # (data, row) in turn from each file, until the files run out
    while draws and len(picked) < skip + rows:
        turn = [(data, next(order, None)) for data, order in draws]
        draws = [d for d, (_, i) in zip(draws, turn) if i is not None]
        picked += [(data, i) for data, i in turn if i is not None]
    feeds = []
    for data, i in picked[skip:skip + rows]:
        encoded = encode_fitted(tokenizer, input_format, data.text[i], data.system[i], max_length)
        feeds.append(model_inputs(windows(encoded, max_length, 0)[:1], inputs))
    return feeds


def rank_by_int8_error(trunk: Path, feeds: list[dict], work: Path, method: str = "dynamic",
                       weights: str = "s7") -> list[str]:
    """Weight MatMuls, most harmful first: the relative error of the pooled outputs when only that node is int8
    (quantised as `method` does it: per token for "token", per block for "block", per tensor otherwise).

    Dynamic int8 takes one activation scale per tensor, so a layer whose input has outlier values (typically a
    feed-forward down-projection) loses most; keeping a few of those in fp32 buys back parity at little speed.
    """
    from tqdm.auto import tqdm

    def outputs(path):
        return np.concatenate(pooled_outputs(path, feeds), 1)

    reference = outputs(trunk)
    errors = {}
    for name in tqdm(weight_matmuls(trunk), desc="int8 sensitivity", unit="node"):
        _quantizer(method)(trunk, work / "one.onnx", only=[name], weights=weights)
        errors[name] = float(np.linalg.norm(outputs(work / "one.onnx") - reference) / np.linalg.norm(reference))
    return sorted(errors, key=errors.get, reverse=True)
