"""Issues 10 and 14: smoothing keeps the fp32 function; int8 graphs stay within a bound derived from 8-bit steps.

The int8 tolerances are not tuned to a machine. The graphs' integer sums are exact on every x86 instruction set
(unsigned activations times signed weights within 7 bits; see export/quantize.py), so what varies between CPUs
is float summation order (~1e-6), and the bounds below come from the quantisation itself:

- head: a logistic head is Lipschitz, |p(h') - p(h)| <= ||w|| * ||h' - h|| / 4 (the sigmoid's slope is at most
  1/4), so each row's score error is bounded by the pooled-state error measured on that row;
- state: rounding moves each operand by at most half a step: an activation (8 bits over its range) by 1/510 of
  its range, i.e. at most crest/510 of its RMS (crest = max/RMS); a weight (signed, -64..64 around zero) by
  max/128, crest/128 of its RMS. A MatMul's relative output error is at most the sum over its two operands; a
  layer chains two quantised MatMuls per branch (v -> o, up -> down) and adds its branches to the residual stream,
  so after L layers the pooled state's relative error is at most 4 * L * crest * (1/510 + 1/128). Activations
  and weights of these random-init models have crest factors below 6 (Gaussian init, 64-wide), which gives
  state_bound.
"""
from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from tokenizers import Tokenizer

from conftest import MAX_LENGTH, make_decoder, sentences, write_jsonl
from lec_onnx import InputError
from lec_onnx.inputs import encode_fitted, model_inputs, windows
from lec_onnx.manifest import InputFormat
from lec_onnx.export.features import extract
from lec_onnx.export.models import load_model
from lec_onnx.export.probe import load_probe
from lec_onnx.export.quantize import quantize_trunk
from lec_onnx.export.smoothing import calibrate, smooth, smoothable

CREST = 6.0


def state_bound(layers: int) -> float:
    return 4 * layers * CREST * (1 / 510 + 1 / 128)


def _batch(tokenizer, texts):
    enc = tokenizer(texts, padding=True, return_tensors="pt")
    return {"input_ids": enc["input_ids"], "attention_mask": enc["attention_mask"]}


@pytest.mark.parametrize("arch", ["llama", "qwen2"])
def test_smoothing_leaves_the_fp32_outputs_unchanged(arch, tmp_path):
    loaded = load_model(str(make_decoder(tmp_path / arch, arch, 3)))
    base = loaded.base
    with torch.no_grad():  # give the layers outlier channels, as real decoders have, so the scales are far from 1
        for layer in base.layers:
            layer.input_layernorm.weight[:3] *= 40
            layer.post_attention_layernorm.weight[5] *= 25
    loaded.tokenizer.padding_side = "left"
    batch = _batch(loaded.tokenizer, sentences(6, seed=3))
    before = [h.clone() for h in base(**batch, output_hidden_states=True).hidden_states]
    norm_before = base.layers[0].input_layernorm.weight.clone()
    assert smoothable(base)
    smooth(base, calibrate(base, [batch]), alpha=0.5)
    after = base(**batch, output_hidden_states=True).hidden_states
    assert not torch.allclose(base.layers[0].input_layernorm.weight, norm_before)  # it did change the weights
    mask = batch["attention_mask"].bool()
    for h0, h1 in zip(before, after):
        scale = h0[mask].abs().max()
        assert (h1[mask] - h0[mask]).abs().max() <= 1e-5 * scale


def test_encoders_are_not_smoothable(tiny_encoder):
    assert not smoothable(load_model(str(tiny_encoder)).base)


def pooled_and_scores(artifact, texts):
    """The int8 graph's pooled states (the heads' Gemm inputs) and scores, one window per text."""
    import onnxruntime as ort
    manifest = json.loads((artifact / "manifest.json").read_text())
    graph = onnx.load(str(artifact / "model.onnx"))
    pooled = {t: next(n.input[0] for n in graph.graph.node if n.name == f"head_{t}") for t in manifest["tasks"]}
    graph.graph.output.extend(onnx.helper.make_tensor_value_info(p, onnx.TensorProto.FLOAT, None)
                              for p in pooled.values())
    session = ort.InferenceSession(graph.SerializeToString(), providers=["CPUExecutionProvider"])
    tok = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    names = [o.name for o in session.get_outputs()]
    states, scores = {t: [] for t in pooled}, {t: [] for t in pooled}
    for text in texts:
        encoded = encode_fitted(tok, InputFormat(**manifest["input_format"]), text, None, int(MAX_LENGTH))
        feed = model_inputs(windows(encoded, int(MAX_LENGTH), 0)[:1])
        out = dict(zip(names, session.run(None, {k: feed[k] for k in manifest["graph"]["inputs"]})))
        for t, p in pooled.items():
            states[t].append(out[p][0])
            scores[t].append(out[t][0])
    return {t: np.array(v) for t, v in states.items()}, {t: np.array(v) for t, v in scores.items()}


@pytest.mark.parametrize("kind", ["decoder", "encoder"])
def test_int8_graph_within_the_bound_of_its_quantisation(request, kind, tiny_decoder, tiny_encoder):
    artifact, probes, _ = request.getfixturevalue(f"{kind}_artifact")
    loaded = load_model(str(tiny_decoder if kind == "decoder" else tiny_encoder))
    texts = sentences(16, seed=11)
    states, scores = pooled_and_scores(artifact, texts)
    quantization = json.loads((artifact / "manifest.json").read_text())["graph"]["quantization"]
    # uint8 codes (range / 255 a step), the block method's symmetric int8 ones (max|x| / 127: the same step), or
    # s7 weights (max|w| / 64 a step: the bound's weight term)
    assert quantization["weights"].startswith(("uint8", "int8 within -64..64"))
    assert quantization["activations"].split(",")[0] in ("uint8", "int8")
    shift = quantization.get("head_bias_shift", {})
    for path in probes:
        probe, meta = load_probe(path)
        pooling = ("gen-" if meta["input_format"]["generation_prompt"] else "") + meta["pooling"]
        h = extract(loaded, texts, None, int(MAX_LENGTH), poolings=(pooling,))[pooling][:, meta["layer"]]
        dh = np.linalg.norm(states[meta["task"]] - h, axis=1)
        assert np.all(dh <= state_bound(meta["layer"]) * np.linalg.norm(h, axis=1))
        p_torch = probe.predict_proba(h)[:, -1]
        # the int8 head's bias carries the calibration shift: its logit moves by at most |shift| more
        lipschitz = (np.linalg.norm(probe.coef_) * dh + np.abs(shift.get(meta["task"], [0.0])[-1])) / 4
        assert np.all(np.abs(scores[meta["task"]][:, -1] - p_torch) <= lipschitz + 1e-5)


def test_auto_tries_four_methods_on_decoders_and_records_the_choice(decoder_artifact):
    manifest = json.loads((decoder_artifact[0] / "manifest.json").read_text())
    q = manifest["graph"]["quantization"]
    assert q["method"] in ("dynamic", "token", "static", "block") and q["smoothing"] is None
    assert set(q["state_error"]) == {"dynamic", "token", "static", "block"}
    assert max(q["state_error"][q["method"]]) == min(max(e) for e in q["state_error"].values())


def _one_matmul(tmp_path, weight, bias=None):
    """x @ W (+ bias: a Linear with bias, as Qwen2's q/k/v projections)."""
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("MatMul", ["x", "W"], ["y" if bias is None else "xW"], name="mm")]
    stored = [numpy_helper.from_array(weight, "W")]
    if bias is not None:
        nodes.append(helper.make_node("Add", ["xW", "b"], ["y"], name="bias"))
        stored.append(numpy_helper.from_array(bias, "b"))
    graph = helper.make_graph(nodes, "one",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, weight.shape[0]])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], stored)
    onnx.save(onnx.helper.make_model(graph, opset_imports=[onnx.helper.make_opsetid("", 18)]), tmp_path / "mm.onnx")
    return tmp_path / "mm.onnx"


def _run(path, x):
    import onnxruntime as ort
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"]).run(None, {"x": x})[0]


@pytest.mark.parametrize("with_bias", [False, True])
def test_per_token_quantiser_is_the_integer_arithmetic_it_claims(tmp_path, with_bias):
    """q = round(x / s) + 128 with s = max|x| / 127 per row, times the stored int8 weights: recomputed in numpy.
    With a bias: onnxruntime's MatMulIntegerToFloat fusion once scaled it wrongly (a 13x error on Qwen2)."""
    from onnx import numpy_helper

    from lec_onnx.export.quantize import quantize_per_token
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((32, 24)).astype(np.float32)
    bias = (20 * rng.standard_normal(24)).astype(np.float32) if with_bias else None
    x = rng.standard_normal((1, 10, 32)).astype(np.float32)
    quantize_per_token(_one_matmul(tmp_path, weight, bias), tmp_path / "q.onnx")
    stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / "q.onnx")).graph.initializer}
    w_q, w_scale, w_zero = (next(v for k, v in stored.items() if k.endswith(suffix))
                            for suffix in ("W_quantized", "W_scale", "W_zero_point"))
    scale = np.abs(x).max(-1, keepdims=True) / 127
    x_q = np.round(x / scale)
    expected = (x_q @ (w_q.astype(np.float64) - w_zero)) * scale * w_scale + (0 if bias is None else bias)
    np.testing.assert_allclose(_run(tmp_path / "q.onnx", x), expected, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("method", ["tensor", "token"])
@pytest.mark.parametrize("weights", ["s7", "u8"])
def test_weight_formats_give_exact_sums_at_the_top_of_their_range(tmp_path, method, weights):
    """Every code at the top of its range (activations 255; weights 64 when signed, 0 and 255 when unsigned): the
    sums equal numpy's. Signed weights within -64..64 keep each u8*s8 pair within 16 bits (2 * 255 * 64 < 32767),
    so AVX2's vpmaddubsw cannot saturate; full 8-bit signed weights (127) would on CPUs without VNNI (module
    docstring of quantize.py). Unsigned weights go through 32-bit sums everywhere."""
    from onnx import numpy_helper

    from lec_onnx.export.quantize import quantize_int8, quantize_per_token
    weight = np.ones((256, 8), np.float32)
    weight[:, 1::2] = -1
    x = np.ones((1, 4, 256), np.float32)
    quantize = {"tensor": quantize_int8, "token": quantize_per_token}[method]
    quantize(_one_matmul(tmp_path, weight), tmp_path / "q.onnx", weights=weights)
    stored = {i.name: numpy_helper.to_array(i) for i in onnx.load(str(tmp_path / "q.onnx")).graph.initializer}
    codes = next(v for k, v in stored.items() if k.endswith("W_quantized"))
    zero = next(v for k, v in stored.items() if k.endswith("W_zero_point"))
    spread = np.abs(codes.astype(int) - zero.astype(int)).max()
    assert (codes.dtype, spread) == (np.int8, 64) if weights == "s7" else (codes.dtype == np.uint8 and spread >= 127)
    np.testing.assert_allclose(_run(tmp_path / "q.onnx", x), x @ weight, rtol=1e-5)


def test_one_huge_token_spoils_per_tensor_int8_not_per_token(tmp_path):
    """A decoder's attention-sink row: per tensor, its range leaves the other rows a few levels; per token, not."""
    from lec_onnx.export.quantize import quantize_int8, quantize_per_token
    rng = np.random.default_rng(1)
    weight = rng.standard_normal((64, 32)).astype(np.float32)
    x = rng.standard_normal((1, 16, 64)).astype(np.float32)
    x[0, 0] *= 300  # the sink token
    exact = x @ weight
    graph = _one_matmul(tmp_path, weight)
    errors = {}
    for name, quantize in (("tensor", quantize_int8), ("token", quantize_per_token)):
        quantize(graph, tmp_path / f"{name}.onnx")
        got = _run(tmp_path / f"{name}.onnx", x)
        errors[name] = np.linalg.norm(got[0, 1:] - exact[0, 1:]) / np.linalg.norm(exact[0, 1:])
    assert errors["token"] < 0.02 < 0.2 < errors["tensor"]


def _block_reference(x, stored, block):
    """MatMulNBits at accuracy level 4, recomputed: per block of `block` input channels, the weights' uint8 codes
    minus 128 times their block scale, the activations rounded to int8 with their own block scale max|x| / 127."""
    codes, scales = stored["W_Q8"].astype(np.float64) - 128, stored["W_scales"]  # (N, blocks, block), (N, blocks)
    out = 0
    for b in range(codes.shape[1]):
        xb = x[..., b * block:(b + 1) * block].astype(np.float64)
        sx = np.abs(xb).max(-1, keepdims=True) / 127
        out = out + (np.round(xb / sx) @ codes[:, b].T) * sx * scales[:, b]
    return out


def test_block_quantiser_is_the_integer_arithmetic_it_claims(tmp_path):
    """The block method's MatMulNBits (8-bit weights, int8 dot products per block of 32) against numpy: equal up to
    float summation order, with random operands and with every code at the top of its range (a kernel that added
    u8 * s8 pairs in 16 bits would saturate there, as U8S8 did on AVX2)."""
    from onnx import numpy_helper

    from lec_onnx.export.quantize import BLOCK_SIZE, quantize_blockwise
    rng = np.random.default_rng(2)
    for weight, x in ((rng.standard_normal((64, 24)), rng.standard_normal((1, 10, 64))),
                      (np.where(np.arange(64)[:, None] % 32 == 0, -1.0, 1.0) * np.ones((64, 24)),
                       np.ones((1, 10, 64)))):
        quantize_blockwise(_one_matmul(tmp_path, weight.astype(np.float32)), tmp_path / "q.onnx")
        model = onnx.load(str(tmp_path / "q.onnx"))
        assert [n.op_type for n in model.graph.node] == ["MatMulNBits"]
        stored = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        expected = _block_reference(x, stored, BLOCK_SIZE)
        got = _run(tmp_path / "q.onnx", x.astype(np.float32))
        np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4 * np.abs(expected).max())


def test_block_method_stores_embeddings_with_a_scale_per_row(tmp_path):
    """Each looked-up row comes back within half of its own step, max|row| / 254: a row of small values keeps its
    precision beside a row of huge ones (one scale for the table would round it to a few levels)."""
    from onnx import TensorProto, helper, numpy_helper

    from lec_onnx.export.quantize import quantize_blockwise
    rng = np.random.default_rng(4)
    table = rng.standard_normal((50, 16)).astype(np.float32)
    table[3] *= 1000  # one huge row
    graph = helper.make_graph([helper.make_node("Gather", ["table", "ids"], ["rows"], name="lookup")], "emb",
                              [helper.make_tensor_value_info("ids", TensorProto.INT64, [None])],
                              [helper.make_tensor_value_info("rows", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(table, "table")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "emb.onnx")
    quantize_blockwise(tmp_path / "emb.onnx", tmp_path / "q.onnx")
    stored = {i.name: i for i in onnx.load(str(tmp_path / "q.onnx")).graph.initializer}
    assert stored["table.codes"].data_type == TensorProto.UINT8 and "table" not in stored
    import onnxruntime as ort
    ids = np.array([0, 3, 7, 3, 49])
    got = ort.InferenceSession(str(tmp_path / "q.onnx"), providers=["CPUExecutionProvider"]).run(None, {"ids": ids})[0]
    half_step = np.abs(table[ids]).max(1, keepdims=True) / 254
    assert np.all(np.abs(got - table[ids]) <= half_step * (1 + 1e-5))


def test_an_outlier_channel_costs_block_int8_least(tmp_path):
    """An encoder's or decoder's outlier channel: per tensor and per token it sets the scale of every value beside
    it; per block of 32 channels, only of its own block."""
    from lec_onnx.export.quantize import quantize_blockwise, quantize_int8, quantize_per_token
    rng = np.random.default_rng(3)
    weight = rng.standard_normal((256, 32)).astype(np.float32)
    x = rng.standard_normal((1, 16, 256)).astype(np.float32)
    x[..., 7] *= 100  # one outlier channel in every token
    weight[7] /= 100  # ...that the weights scale back, as a LayerNorm's outlier dimension is
    exact = x @ weight
    graph = _one_matmul(tmp_path, weight)
    errors = {}
    for name, quantize in (("tensor", quantize_int8), ("token", quantize_per_token), ("block", quantize_blockwise)):
        quantize(graph, tmp_path / f"{name}.onnx")
        errors[name] = np.linalg.norm(_run(tmp_path / f"{name}.onnx", x) - exact) / np.linalg.norm(exact)
    assert errors["block"] < errors["token"] / 2 and errors["token"] <= errors["tensor"]


def test_static_qdq_and_refusals(tiny_decoder, tmp_path):
    from lec_onnx.export.graph import Trunk, export_trunk, truncate
    loaded = load_model(str(tiny_decoder))
    truncate(loaded, 2)
    export_trunk(Trunk(loaded, [(2, "mean")]).eval(), tmp_path / "trunk.onnx")
    ids = np.random.default_rng(0).integers(5, 40, (8, 1, 12))
    feeds = [{"input_ids": i, "attention_mask": np.ones_like(i)} for i in ids]
    info = quantize_trunk(tmp_path / "trunk.onnx", tmp_path / "q.onnx", "static", feeds, "decoder")
    ops = {n.op_type for n in onnx.load(str(tmp_path / "q.onnx")).graph.node}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops and "DynamicQuantizeLinear" not in ops
    assert info["method"] == "static" and info["calibration_rows"] == 4
    with pytest.raises(InputError, match="smooth"):
        quantize_trunk(tmp_path / "trunk.onnx", tmp_path / "q.onnx", "smooth", feeds, "decoder")
    with pytest.raises(InputError, match="unknown"):
        quantize_trunk(tmp_path / "trunk.onnx", tmp_path / "q.onnx", "int4", feeds, "decoder")
    with pytest.raises(InputError, match="calibration"):
        quantize_trunk(tmp_path / "trunk.onnx", tmp_path / "q.onnx", "static", [], "decoder")


def test_int8_heads_absorb_the_mean_logit_error_of_the_calibration_rows(decoder_artifact, tiny_decoder):
    """The int8 graph's Gemm biases = the probe's + the recorded shift; the shift is the mean of
    W (h_fp32 - h_int8) over the calibration rows, so after it the int8 logits are unbiased on those rows."""
    from lec_onnx.export.artifact import _common_input_format
    from lec_onnx.export.quantize import calibration_feeds, pooled_outputs, with_pooled_outputs
    artifact, probes, _ = decoder_artifact
    manifest = json.loads((artifact / "manifest.json").read_text())
    shift = manifest["graph"]["quantization"]["head_bias_shift"]
    assert set(shift) == set(manifest["tasks"])
    loaded = [load_probe(p) for p in probes]
    feeds = calibration_feeds([f for _, m in loaded for f in m["data"]], Tokenizer.from_file(
        str(artifact / "tokenizer.json")), _common_input_format(loaded), int(MAX_LENGTH), manifest["graph"]["inputs"])
    graphs = {}
    for precision, name in (("fp32", "model.fp32.onnx"), ("int8", "model.onnx")):
        (artifact.parent / f"{precision}.pooled.onnx").write_bytes(with_pooled_outputs(artifact / name))
        graphs[precision] = pooled_outputs(artifact.parent / f"{precision}.pooled.onnx", feeds)
    weights = {n.name: n for n in onnx.load(str(artifact / "model.onnx")).graph.initializer}
    names = [o.name for o in onnx.load(str(artifact.parent / "int8.pooled.onnx")).graph.output]
    for probe, meta in loaded:
        task = meta["task"]
        bias = onnx.numpy_helper.to_array(weights[f"head_{task}.bias"])
        np.testing.assert_allclose(bias, probe.intercept_ + np.array(shift[task]), atol=1e-5)
        i = names.index(f"pooled:{task}")
        logits = {p: graphs[p][i] @ probe.coef_.T + probe.intercept_ for p in graphs}
        np.testing.assert_allclose((logits["fp32"] - logits["int8"]).mean(0), shift[task], atol=1e-4)


def _shared_input_graph(tmp_path, w_q, w_k):
    """LayerNorm -> (x @ Wq, x @ Wk) and x itself on the residual: the post-LN shape smooth_graph must keep."""
    from onnx import TensorProto, helper, numpy_helper
    d = w_q.shape[0]
    nodes = [helper.make_node("LayerNormalization", ["x", "gamma", "beta"], ["ln"], axis=-1),
             helper.make_node("MatMul", ["ln", "Wq"], ["q"], name="q"),
             helper.make_node("MatMul", ["ln", "Wk"], ["k"], name="k"),
             helper.make_node("Add", ["q", "ln"], ["residual"])]
    stored = [numpy_helper.from_array(np.ones(d, np.float32), "gamma"),
              numpy_helper.from_array(np.zeros(d, np.float32), "beta"),
              numpy_helper.from_array(w_q, "Wq"), numpy_helper.from_array(w_k, "Wk")]
    graph = helper.make_graph(nodes, "shared", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, d])],
                              [helper.make_tensor_value_info(n, TensorProto.FLOAT, None) for n in ("residual", "k")],
                              stored)
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "shared.onnx")
    return tmp_path / "shared.onnx"


def test_graph_smoothing_keeps_the_fp32_function_and_flattens_the_matmul_inputs(tmp_path):
    """smooth_graph (smooth-token's first step): one Mul shared by the MatMuls that read one tensor, the weights
    scaled to match, the residual path untouched; the inputs the MatMuls see lose their outlier channel."""
    from lec_onnx.export.smoothing import input_channel_maxima, smooth_graph
    rng = np.random.default_rng(0)
    d = 32
    src = _shared_input_graph(tmp_path, rng.normal(0, 0.1, (d, d)).astype(np.float32),
                              rng.normal(0, 0.1, (d, d)).astype(np.float32))
    x = rng.normal(0, 1, (1, 20, d)).astype(np.float32)
    x[..., 3] *= 40  # an outlier channel, as in the massive activations of real models
    feeds = [{"x": x, "attention_mask": np.ones((1, 20), np.int64)}]
    done = smooth_graph(src, tmp_path / "smooth.onnx", feeds, alpha=0.5)
    assert done["scaled_inputs"] == 1  # q and k share one Mul
    model = onnx.load(tmp_path / "smooth.onnx")
    assert [n.op_type for n in model.graph.node].count("Mul") == 1
    # the largest channels (an eighth of 32) go around int8 in fp32: one Gather, a MatMul and an Add per reader
    outliers = onnx.numpy_helper.to_array(next(i for i in model.graph.initializer
                                               if i.name == "ln.outlier_channels"))
    assert len(outliers) == d // 8 and 3 in outliers
    assert sorted(done["fp32_matmuls"]) == ["k.outliers", "q.outliers"]
    import onnxruntime as ort
    before = ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    after = ort.InferenceSession(str(tmp_path / "smooth.onnx"), providers=["CPUExecutionProvider"]).run(None, {"x": x})
    for b, a in zip(before, after):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4)
    crest = {name: float(m.max() / np.median(m)) for name, m in (
        ("before", input_channel_maxima(src, feeds, ["ln"])["ln"]),
        ("after", input_channel_maxima(tmp_path / "smooth.onnx", feeds, ["ln.smoothed"])["ln.smoothed"]))}
    assert crest["after"] < crest["before"] / 2


def test_auto_keeps_smooth_token_on_an_encoder_when_it_passes_the_gate(encoder_artifact):
    manifest = json.loads((encoder_artifact[0] / "manifest.json").read_text())
    q = manifest["graph"]["quantization"]
    assert q["method"] == "smooth-token" and q["weights"].startswith("int8 within -64..64")
    assert q["smoothing"]["alpha"] == 0.5 and q["smoothing"]["scaled_inputs"] > 0
    # outlier channels around int8 (an fp32 MatMul per weight MatMul), biases corrected, feed-forward per token
    graph = onnx.load(str(encoder_artifact[0] / "model.onnx"))
    fp32 = {n.name for n in graph.graph.node if n.op_type == "MatMul"}
    assert q["smoothing"]["fp32_matmuls"] and set(q["smoothing"]["fp32_matmuls"]) <= fp32
    assert q["smoothing"]["rounding_bias_corrected"] > 0 and q["smoothing"]["per_token_inputs"] > 0
    assert all(p["passed"] for p in manifest["parity"].values())


def _binary_task(threshold=0.5):
    from lec_onnx.manifest import Task
    return Task(output="t", labels=("safe", "unsafe"), negative_label="safe", threshold=threshold, layer=1,
                pooling="mean")


def _rows(flag_scores):
    p = np.asarray(flag_scores, float)
    return np.stack([1 - p, p], 1)


def test_the_gate_asks_agreement_clear_of_the_threshold_and_bounds_the_score_error():
    """check.SCORE_MARGIN: a label flips only where the error exceeds the distance to the threshold. Rows crowded
    at the threshold with tiny errors pass (plain agreement would fail them); errors as large as the margin fail
    even when no label flips; a flipped label clear of the threshold fails."""
    from lec_onnx.check import SCORE_MARGIN, parity_figures, passes
    task = _binary_task()
    rng = np.random.default_rng(0)
    clear = np.r_[rng.uniform(0.0, 0.4, 300), rng.uniform(0.6, 1.0, 300)]
    crowded = rng.uniform(0.49, 0.51, 60)  # 9% of rows near the threshold, as a calibrated head puts them
    reference = np.r_[clear, crowded]
    truth = ["unsafe" if s >= 0.5 else "safe" for s in reference]
    tiny = reference + np.r_[np.zeros(600), np.where(crowded >= 0.5, -0.011, 0.011)]  # every crowded label flips
    figures = parity_figures(task, truth, _rows(reference), _rows(tiny))
    assert figures["label_agreement"] < 0.95 and figures["agreement_clear_of_threshold"] == 1.0
    assert figures["rows_near_threshold"] == pytest.approx(0.09, abs=0.01)
    assert passes(dict(figures, f1_onnx=figures["f1_torch"]))  # the F1 gap is judged on its own below
    large = reference + np.where(reference >= 0.5, 1, -1) * (SCORE_MARGIN + 0.01)  # away from the threshold
    figures = parity_figures(task, truth, _rows(reference), _rows(large.clip(0, 1)))
    assert figures["label_agreement"] == 1.0 and not passes(figures)
    flipped = reference.copy()
    flipped[:8] = 0.7  # 8 rows far below the threshold now flagged
    figures = parity_figures(task, truth, _rows(reference), _rows(flipped))
    assert figures["agreement_clear_of_threshold"] < 0.99 and not passes(figures)


def test_the_gate_margin_of_a_multi_class_task_is_half_the_gap_of_its_top_two_labels():
    from lec_onnx.check import decision_margin
    from lec_onnx.manifest import Task
    task = Task(output="c", labels=("safe", "hate", "violence"), negative_label="safe", threshold=0.5, layer=1,
                pooling="mean")
    probs = np.array([[0.5, 0.3, 0.2], [0.34, 0.33, 0.33]])
    np.testing.assert_allclose(decision_margin(probs, task), [0.1, 0.005])


def _post_ln_block(tmp_path, rng, d=16):
    """x -> MatMul -> +bias -> GELU (as torch's exporter writes it) -> MatMul -> +bias -> +x -> LayerNormalization:
    a BERT/MPNet feed-forward block with its residual sum."""
    from onnx import TensorProto, helper, numpy_helper
    constants = {"w1": rng.normal(0, 0.3, (d, 2 * d)), "b1": rng.normal(0, 0.1, 2 * d),
                 "w2": rng.normal(0, 0.3, (2 * d, d)), "b2": rng.normal(0, 0.1, d), "gamma": rng.normal(1, 0.1, d),
                 "beta": rng.normal(0, 0.1, d), "sqrt2": np.array(np.sqrt(2)), "one": np.array(1.0),
                 "half": np.array(0.5)}
    stored = [numpy_helper.from_array(np.asarray(v, np.float32), k) for k, v in constants.items()]
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h0"]), helper.make_node("Add", ["h0", "b1"], ["h"]),
             helper.make_node("Div", ["h", "sqrt2"], ["h_s"]), helper.make_node("Erf", ["h_s"], ["erf"]),
             helper.make_node("Add", ["erf", "one"], ["erf1"]), helper.make_node("Mul", ["half", "erf1"], ["half_erf"]),
             helper.make_node("Mul", ["h", "half_erf"], ["gelu"]), helper.make_node("MatMul", ["gelu", "w2"], ["o0"]),
             helper.make_node("Add", ["o0", "b2"], ["o"]), helper.make_node("Add", ["o", "x"], ["sum"]),
             helper.make_node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1)]
    shape = ["batch", "sequence", d]  # named dimensions, as the exporter writes them (fusions compare shapes)
    graph = helper.make_graph(nodes, "block", [helper.make_tensor_value_info("x", TensorProto.FLOAT, shape)],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], stored)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_residual_sums_and_gelu_are_rewritten_for_onnxruntimes_fast_kernels(tmp_path):
    """graph.residual_sums_unfused / gelu_in_fusable_order: the same function (the sign folded into the last
    MatMul's weight and bias; the product by 0.5 moved), onnxruntime then builds no SkipLayerNormalization (its
    slow CPU kernel) and does fuse the GELU."""
    import onnxruntime as ort
    from lec_onnx.export.graph import gelu_in_fusable_order, residual_sums_unfused
    rng = np.random.default_rng(0)
    model = _post_ln_block(tmp_path, rng)
    x = rng.normal(0, 1, (1, 7, 16)).astype(np.float32)

    def run_and_optimise(m, name):
        options = ort.SessionOptions()
        options.optimized_model_filepath = str(tmp_path / f"{name}.optimised.onnx")
        out = ort.InferenceSession(m.SerializeToString(), options, providers=["CPUExecutionProvider"]).run(
            None, {"x": x})[0]
        return out, [n.op_type for n in onnx.load(options.optimized_model_filepath).graph.node]
    before, fused_before = run_and_optimise(model, "before")
    assert "SkipLayerNormalization" in fused_before and "Erf" in fused_before  # what the rewrite is for
    assert residual_sums_unfused(model.graph) == 1 and gelu_in_fusable_order(model.graph) == 1
    assert "Neg" not in [n.op_type for n in model.graph.node]  # folded into w2 and b2
    after, fused_after = run_and_optimise(model, "after")
    np.testing.assert_allclose(after, before, rtol=1e-5, atol=1e-5)
    assert "SkipLayerNormalization" not in fused_after and "LayerNormalization" in fused_after
    assert "Erf" not in fused_after and any("Gelu" in op for op in fused_after)


def _matmul_bias_graph(path, w, b, name="x"):
    from onnx import TensorProto, helper, numpy_helper
    nodes = [helper.make_node("MatMul", [name, "W"], ["xw"], name="proj"), helper.make_node("Add", ["xw", "b"], ["y"])]
    inputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, None, len(w)])]
    graph = helper.make_graph(nodes, "proj", inputs, [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(w, "W"), numpy_helper.from_array(b, "b")])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), path)


def test_rounding_bias_correction_removes_the_mean_error_of_s7_weights(tmp_path):
    """quantize.correct_rounding_bias: with inputs of non-zero mean, rounding W to the s7 grid shifts every output
    by mean(x) (Q(W) - W); the corrected bias cancels that shift on the calibration tokens (the rest is noise)."""
    from lec_onnx.export.quantize import correct_rounding_bias
    rng = np.random.default_rng(1)
    w = rng.normal(0, 0.2, (24, 8)).astype(np.float32)
    w[5, :] *= 20  # a row that sets every column's scale: the other rows round coarsely
    b = rng.normal(0, 0.1, 8).astype(np.float32)
    _matmul_bias_graph(tmp_path / "proj.onnx", w, b)
    x = (rng.normal(0, 1, (1, 400, 24)) + 2.0).astype(np.float32)
    feeds = [{"x": x, "attention_mask": np.ones((1, 400), np.int64)}]
    assert correct_rounding_bias(tmp_path / "proj.onnx", feeds) == 1
    b_new = onnx.numpy_helper.to_array(next(i for i in onnx.load(tmp_path / "proj.onnx").graph.initializer
                                            if i.name == "b"))
    step = np.abs(w).max(0) / 64
    w_q = np.round(w / step) * step
    exact, rounded, corrected = (x[0] @ w + b).mean(0), (x[0] @ w_q + b).mean(0), (x[0] @ w_q + b_new).mean(0)
    assert np.abs(rounded - exact).max() > 1e-3  # the shift is there to remove
    np.testing.assert_allclose(corrected, exact, atol=1e-4)


def test_smooth_token_quantises_the_feed_forward_inputs_per_token_and_the_rest_per_tensor(tmp_path):
    """quantize.feed_forward_inputs: the inputs of the widest MatMuls (an FFN's up and down projections), not those
    of the square attention projections."""
    from onnx import TensorProto, helper, numpy_helper
    from lec_onnx.export.quantize import feed_forward_inputs
    rng = np.random.default_rng(2)
    shapes = {"Wo": (16, 16), "Wup": (16, 64), "Wdown": (64, 16)}
    nodes = [helper.make_node("MatMul", ["x", "Wo"], ["o"], name="o"),
             helper.make_node("MatMul", ["o", "Wup"], ["up"], name="up"),
             helper.make_node("Relu", ["up"], ["act"]),
             helper.make_node("MatMul", ["act", "Wdown"], ["y"], name="down")]
    graph = helper.make_graph(nodes, "ffn", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, None, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)],
                              [numpy_helper.from_array(rng.normal(size=s).astype(np.float32), n)
                               for n, s in shapes.items()])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)]), tmp_path / "ffn.onnx")
    assert feed_forward_inputs(tmp_path / "ffn.onnx") == {"o", "act"}
    assert feed_forward_inputs(tmp_path / "ffn.onnx", skip=["up"]) == {"act"}


def test_calibration_rows_come_from_each_task_file_in_turn_never_from_test_rows(decoder_artifact, tmp_path):
    """A small task's inputs calibrate as often as a large one's (export/quantize.calibration_feeds): files
    alternate, a file named twice counts once, and a file that runs out leaves the turn to the others."""
    from lec_onnx.export.artifact import _common_input_format
    from lec_onnx.export.quantize import calibration_feeds
    artifact, probes, _ = decoder_artifact
    tok = Tokenizer.from_file(str(artifact / "tokenizer.json"))
    fmt = _common_input_format([load_probe(p) for p in probes])
    big = write_jsonl(tmp_path / "big.jsonl", [{"text": f"alpha {i} alpha", "label": "a" if i % 2 else "b",
                                                "split": "train"} for i in range(40)])
    small = write_jsonl(tmp_path / "small.jsonl", [{"text": f"omega {i}", "label": "a" if i % 2 else "b",
                                                    "split": "test" if i >= 3 else "train"} for i in range(10)])
    feeds = calibration_feeds([str(big), str(small), str(big)], tok, fmt, int(MAX_LENGTH), ["input_ids"], rows=12)
    omega = tok.encode("omega", add_special_tokens=False).ids
    holds = lambda ids: any(ids[i:i + len(omega)] == omega for i in range(len(ids)))  # noqa: E731
    from_small = [holds(f["input_ids"][0].tolist()) for f in feeds]
    assert len(feeds) == 12 and from_small[:6] == [False, True] * 3  # in turn: big, small, big, small...
    assert sum(from_small) == 3 and not any(from_small[6:])  # small's 3 train rows only, then big alone
