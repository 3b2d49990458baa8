"""The artifact build: probes + model -> graphs, tokenizer, parity rows and manifest, written only if the gate passes.

The int8 graph quantises every weight but the heads; if it then misses the parity gate, the MatMuls whose
quantisation hurts most are kept in fp32, a few more each try (up to MAX_FP32_SHARE of them).
"""
from __future__ import annotations

import copy
import dataclasses
import datetime
import json
import platform
import shutil
import tempfile
from pathlib import Path

import onnx
import torch

import lec_onnx
from lec_onnx.check import EXPORT_MARGIN, MAX_F1_GAP, MIN_LABEL_AGREEMENT, SCORE_MARGIN, check_parity
from lec_onnx.classifier import Classifier
from lec_onnx.errors import InputError
from lec_onnx.manifest import (FP32_GRAPH, INT8_GRAPH, MANIFEST_FILE, PARITY_ROWS_FILE, ROLES, TOKENIZER_FILE, Feature,
                               GraphInfo, InputFormat, Manifest, ModelInfo, Task, Window, feature_name, write_manifest)

from .graph import OPSET, Trunk, export_trunk, save_with_heads, truncate
from .models import LoadedModel, load_model, runtime_tokenizer
from .parity import reference_rows, write_rows
from .probe import LECProbe, load_probe
from .quantize import (SMOOTH_ALPHA, WEIGHT_FORMATS, calibration_feeds, head_bias_shift, pooled_outputs, quantize_trunk,
                       rank_by_int8_error, weight_matmuls)
from .smoothing import smooth_for_int8, smoothable

MAX_FP32_SHARE = 0.25  # when int8 misses the gate, at most this share of weight MatMuls (the most sensitive) stay fp32


def export_artifact(model: str, probe_paths: list[str], out: str | Path, revision: str | None = None,
                    parity_data: list[str] | None = None, max_length: int | None = None, stride: int = 64,
                    fp32: bool = True, parity_rows: int = 400, cache: str | None = None, gate: bool = True,
                    quantize: str = "auto", smooth_alpha: float = SMOOTH_ALPHA, int8_weights: str = "auto") -> Path:
    """Build the artifact folder. Refuses (InputError) when the int8 graph fails the parity gate.
    quantize: the int8 method (quantize.py): auto, dynamic, token, smooth or static. int8_weights: the per-channel
    weight format, s7 or u8 (quantize.WEIGHT_FORMATS); auto tries s7 (fastest) and takes u8 when s7 misses the
    gate, before any MatMul is kept in fp32."""
    if int8_weights != "auto" and int8_weights not in WEIGHT_FORMATS:
        raise InputError(f"unknown int8 weight format {int8_weights!r}: auto, {', '.join(WEIGHT_FORMATS)}")
    probes = [load_probe(p) for p in probe_paths]
    fmt = _common_input_format(probes)
    loaded = load_model(model, revision)
    max_length = _check_probes_fit(probes, loaded, max_length)
    with tempfile.TemporaryDirectory(prefix="lec-export-") as work:
        tmp = Path(work)
        rows = reference_rows(loaded, probes, fmt, max_length, parity_data, parity_rows, cache)
        write_rows(tmp / PARITY_ROWS_FILE, rows)
        trunk = _build_trunk(loaded, probes)
        files = parity_data or [f for _, m in probes for f in m.get("data") or []]  # training rows calibrate
        calibration = calibration_feeds(files, runtime_tokenizer(loaded.tokenizer), fmt, max_length, trunk.inputs)
        smoothing = None  # decoders: outliers migrated into the weights before export (same fp32 function)
        if quantize == "smooth" and smoothable(loaded.base) and calibration:
            smoothing = smooth_for_int8(loaded.base, calibration[: len(calibration) // 2], smooth_alpha)
        export_trunk(trunk, tmp / "trunk.onnx")
        _save_tokenizer(loaded, tmp / TOKENIZER_FILE)
        manifest = _new_manifest(loaded, trunk, probes, fmt, Window(max_length, stride), fp32)
        method = {"method": quantize, "calibration": calibration, "smoothing": smoothing, "kind": loaded.kind,
                  "weights": list(WEIGHT_FORMATS) if int8_weights == "auto" else [int8_weights]}
        failed = _quantise_fastest(tmp, manifest, probes, method)
        if failed and gate:
            agreement, gap = MIN_LABEL_AGREEMENT + EXPORT_MARGIN["agreement"], MAX_F1_GAP - EXPORT_MARGIN["f1"]
            raise InputError(f"parity gate failed for {', '.join(failed)}: the int8 graph disagrees with the torch "
                             f"probe (export needs 99% of scores within {SCORE_MARGIN}, >= {agreement:.1%} label "
                             f"agreement further than {SCORE_MARGIN} from the threshold and F1 within {gap:.3f}); "
                             f"nothing was written to {out}")
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        for name in [MANIFEST_FILE] + manifest.file_names():
            shutil.copy2(tmp / name, out / name)
    print(f"artifact written to {out}")
    return out


def _common_input_format(probes: list[tuple[LECProbe, dict]]) -> InputFormat:
    tasks = [meta["task"] for _, meta in probes]
    if len(set(tasks)) != len(tasks):
        raise InputError(f"two probes share a task name: {tasks}")
    formats = {json.dumps(meta["input_format"], sort_keys=True) for _, meta in probes}
    if len(formats) > 1:
        raise InputError("the probes read differently formatted inputs (e.g. one with the generation prompt, one "
                         "without); one graph takes one input format: retrain them with the same pooling family")
    return InputFormat(**probes[0][1]["input_format"])


def _check_probes_fit(probes, loaded: LoadedModel, max_length: int | None) -> int:
    """Each probe must fit the model (width, layer, weights) and the window it was trained at; returns the window."""
    windows = {meta.get("max_length") for _, meta in probes} - {None}
    if len(windows) > 1 or (max_length and windows and windows != {max_length}):
        raise InputError(f"the probes were trained with windows of {sorted(windows)} tokens; export them with the "
                         f"same --max-length (given: {max_length})")
    for probe, meta in probes:
        if probe.coef_.shape[1] != loaded.hidden_size or meta["layer"] > loaded.num_layers:
            raise InputError(f"probe {meta['task']!r} (layer {meta['layer']}, width {probe.coef_.shape[1]}) "
                             f"does not fit {loaded.model_id} ({loaded.num_layers} layers, width {loaded.hidden_size})")
        if meta["model"]["revision"] != loaded.revision:
            raise InputError(f"probe {meta['task']!r} was trained on weights {meta['model']['revision'][:12]}, but "
                             f"{loaded.model_id} has {loaded.revision[:12]}: retrain it on these weights")
    return max_length or (windows.pop() if windows else 256)


def _build_trunk(loaded: LoadedModel, probes) -> Trunk:
    keep = max(meta["layer"] for _, meta in probes)
    truncate(loaded, keep)
    heads = ", ".join(f"{m['task']} at layer {m['layer']} ({m['pooling']})" for _, m in probes)
    print(f"exporting {Path(loaded.model_id).name} cut at layer {keep}; heads: {heads}")
    return Trunk(loaded, [(meta["layer"], meta["pooling"]) for _, meta in probes]).eval()


def _save_tokenizer(loaded: LoadedModel, path: Path) -> None:
    """tokenizer.json with neither truncation nor padding: a runtime following the format windows long texts itself,
    never cuts them silently."""
    runtime_tokenizer(loaded.tokenizer).save(str(path))


def _new_manifest(loaded: LoadedModel, trunk: Trunk, probes, fmt: InputFormat, window: Window, fp32: bool) -> Manifest:
    vocab = int(loaded.base.get_input_embeddings().weight.shape[0])
    tasks = {meta["task"]: Task(output=meta["task"], labels=tuple(meta["labels"]),
                                negative_label=meta["negative_label"], threshold=meta["threshold"],
                                layer=meta["layer"], pooling=meta["pooling"], roles=tuple(meta.get("roles", ROLES)),
                                C=meta["C"], trained_on=tuple(Path(d).name for d in meta.get("data") or ()),
                                trained_rows=meta.get("trained_rows")) for _, meta in probes}
    return Manifest(
        model=ModelInfo(loaded.source_id, loaded.revision, loaded.kind, type(loaded.model).__name__,
                        max(t.layer for t in tasks.values()), loaded.hidden_size),
        graph=GraphInfo(INT8_GRAPH, FP32_GRAPH if fp32 else None, OPSET, tuple(trunk.inputs), vocab),
        input_format=fmt, window=window, tasks=tasks, parity_rows=PARITY_ROWS_FILE,
        export={"torch": torch.__version__, "onnx": onnx.__version__, "python": platform.python_version()},
        lec_onnx_version=lec_onnx.__version__,
        created=datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"))


def _quantise_fastest(tmp: Path, manifest: Manifest, probes, method: dict) -> list[str]:
    """auto on an encoder: smooth-token (the U8S8 kernels, ~3x the block method's speed) when it passes the gate as
    it is; otherwise the candidates of quantize_trunk's auto, with the fallbacks of _quantise_until_parity."""
    if method["method"] == "auto" and method["kind"] == "encoder" and method["calibration"]:
        fast = dict(method, method="smooth-token", weights=["s7"])
        failed = _quantise_until_parity(tmp, manifest, probes, fast)
        if not failed:
            return failed
        print(f"int8 smooth-token missed the parity gate for {', '.join(failed)}: trying dynamic and block")
    return _quantise_until_parity(tmp, manifest, probes, method)


def _quantise_until_parity(tmp: Path, manifest: Manifest, probes, method: dict) -> list[str]:
    """Write the graphs and manifest into tmp, trying the next weight format, then keeping more MatMuls fp32, until
    int8 passes; the tasks that fail. method: the quantisation method asked for, its calibration feeds, the
    smoothing done, the model's kind, the weight formats to try (fastest first)."""
    tasks, heads = list(manifest.tasks), [p for p, _ in probes]
    exposed = _feature_outputs(manifest)
    save_with_heads(tmp / "trunk.onnx", tmp / FP32_GRAPH, tasks, heads, exposed, manifest.model.hidden_size)
    ranking, keep_fp32 = None, []
    budget = 0 if method["method"] == "smooth-token" else int(MAX_FP32_SHARE * len(weight_matmuls(tmp / "trunk.onnx")))
    calibration = method["calibration"]
    reference = pooled_outputs(tmp / "trunk.onnx", calibration) if calibration else None
    while True:
        # quantise the trunk alone, then append the heads: they stay fp32 Gemm nodes in both graphs (the int8
        # graph's biases absorb the mean logit error measured on the calibration rows)
        weights = method["weights"][0]
        quantization = quantize_trunk(tmp / "trunk.onnx", tmp / "trunk.int8.onnx", method["method"],
                                      calibration, method["kind"], keep_fp32, method["smoothing"], weights=weights)
        method["method"] = quantization["method"].split("+")[-1]  # a retry keeps the method, adds fp32 MatMuls
        int8_heads = heads
        if reference is not None:
            shifts = head_bias_shift(reference, pooled_outputs(tmp / "trunk.int8.onnx", calibration), heads)
            int8_heads = [_with_bias_shift(p, s) for p, s in zip(heads, shifts)]
            quantization["head_bias_shift"] = {t: [round(float(x), 6) for x in s] for t, s in zip(tasks, shifts)}
            print(f"int8 head biases += the mean logit error on {len(calibration)} calibration rows: " + ", ".join(
                f"{t} {' '.join(f'{x:+.4f}' for x in s)}" for t, s in zip(tasks, shifts)))
        save_with_heads(tmp / "trunk.int8.onnx", tmp / INT8_GRAPH, tasks, int8_heads, exposed,
                        manifest.model.hidden_size)
        manifest.graph = dataclasses.replace(manifest.graph, int8_fp32_matmuls=len(keep_fp32),
                                             quantization=quantization)
        write_manifest(tmp, manifest)
        if manifest.graph.fp32 and not manifest.parity:  # the fp32 graph does not change: measured once
            _record(manifest.parity, tmp, "fp32")
        _record(manifest.parity, tmp, "int8")
        failed = [t for t, p in manifest.parity.items() if not p["passed"]]
        if not failed:
            break
        missed = ", ".join(f"{t} ({_agreement(manifest.parity[t]['int8'])})" for t in failed)
        if len(method["weights"]) > 1 and method["method"] != "block":  # block stores its own weight codes
            method["weights"] = method["weights"][1:]  # the next format, one bit more precise, before any fp32
            print(f"int8 parity missed for {missed} with {weights} weights: trying {method['weights'][0]}")
            continue
        if len(keep_fp32) >= budget:
            break
        ranking = ranking or rank_by_int8_error(tmp / "trunk.onnx", method["calibration"][:32], tmp,
                                                method["method"], weights)
        keep_fp32 = ranking[:min(budget, max(1, 2 * len(keep_fp32)))]
        print(f"int8 parity missed for {missed}: keeping the {len(keep_fp32)} most sensitive of "
              f"{len(ranking)} weight MatMuls in fp32 and trying again")
    write_manifest(tmp, manifest)
    _print_parity(manifest.parity)
    return failed


def _feature_outputs(manifest: Manifest) -> dict[str, str]:
    """{feature output: the trunk's pooled output} for each distinct (layer, pooling) a head reads (the trunk's
    outputs are pooled_<i>, one per task in order); recorded in manifest.features and each task's inputs."""
    exposed = {}
    for i, (task, spec) in enumerate(list(manifest.tasks.items())):
        name = feature_name(spec.layer, spec.pooling)
        exposed.setdefault(name, f"pooled_{i}")
        manifest.features[name] = Feature(spec.layer, spec.pooling, manifest.model.hidden_size)
        manifest.tasks[task] = dataclasses.replace(spec, inputs=(name,))
    return exposed


def _with_bias_shift(probe: LECProbe, shift) -> LECProbe:
    shifted = copy.copy(probe)
    shifted.intercept_ = probe.intercept_ + shift
    return shifted


def _record(parity: dict, folder: Path, precision: str) -> None:
    """Measure one graph on the parity rows (the gate's margin included) into parity[task]."""
    for task, figures in check_parity(Classifier.load(folder, precision=precision), margin=True).items():
        entry = parity.setdefault(task, {})
        entry["rows"], passed = figures.pop("rows"), figures.pop("passed")
        entry[precision] = figures
        if precision == "int8":
            entry["passed"] = passed


def _agreement(figures: dict) -> str:
    return (f"labels agree {figures['agreement_clear_of_threshold']:.2%} clear of the threshold "
            f"({figures['label_agreement']:.2%} of all), score diff p99 {figures['p99_abs_score_diff']:.4f}, "
            f"F1 torch {figures['f1_torch']:.4f} vs onnx {figures['f1_onnx']:.4f}")


def _print_parity(parity: dict) -> None:
    for task, e in parity.items():
        for precision in ("int8", "fp32"):
            if precision in e:
                q = e[precision]
                print(f"parity {task} {precision}: {e['rows']} test rows, {_agreement(q)}, max |score diff| "
                      f"{q['max_abs_score_diff']:.2e}")
