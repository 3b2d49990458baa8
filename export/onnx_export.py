"""Export: the model cut at the deepest probe's layer, each head's pooling and a Gemm per task, in one ONNX graph.

The trunk (embeddings -> layers 1..k, no final norm, no LM head) is exported with torch.onnx's dynamo exporter;
the heads are appended as named ONNX nodes (`head_<task>`: Gemm -> Sigmoid/Softmax) so they are exactly the
saved probes. The int8 graph quantises every weight but the heads (dynamic, per-channel); if it then misses
the parity gate, the MatMuls whose quantisation hurts most are kept in fp32, a few more each try.
"""
from __future__ import annotations

import datetime
import json
import platform
import shutil
import tempfile
from pathlib import Path

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper, numpy_helper

import lec_onnx
from lec_onnx.classifier import (MANIFEST, SCHEMA_VERSION, Classifier, InputError, encode_parts, model_inputs,
                                 sha256_file, window_rows, windows)

from .features import extract
from .models import LoadedModel, decoder_layers, load_model, runtime_tokenizer
from .probe import LECProbe, load_probe
from .quantize import quantize_int8, rank_by_int8_error, weight_matmuls
from .sweep import metrics, prepare_data, split_indices

OPSET = 18
PARITY_MIN_AGREEMENT = 0.99
PARITY_MAX_F1_GAP = 0.01
# When the int8 graph misses the gate, up to this share of its weight MatMuls (the most sensitive) stay fp32.
MAX_FP32_SHARE = 0.25


class Trunk(torch.nn.Module):
    """input ids/mask (+ token types, + the text's token mask for text-mean) -> one pooled state per head."""

    def __init__(self, loaded: LoadedModel, heads: list[tuple[int, str]]):
        super().__init__()
        self.base, self.heads, self.decoder = loaded.base, heads, loaded.kind == "decoder"
        with_types = loaded.kind == "encoder" and getattr(loaded.model.config, "type_vocab_size", 0) > 0
        self.inputs = (["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])
                       + (["text_mask"] if any(p == "text-mean" for _, p in heads) else []))

    def forward(self, *args):
        given = dict(zip(self.inputs, args))
        input_ids, attention_mask = given["input_ids"], given["attention_mask"]
        kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "output_hidden_states": True}
        if self.decoder:  # positions from the mask: left- or right-padded batches give the same states
            kwargs.update(position_ids=(attention_mask.cumsum(-1) - 1).clamp(min=0), use_cache=False)
        elif "token_type_ids" in given:
            kwargs["token_type_ids"] = given["token_type_ids"]
        states = self.base(**kwargs).hidden_states
        mask = attention_mask.to(states[0].dtype)
        positions = torch.arange(mask.shape[1], device=mask.device)[None, :]
        last = torch.argmax(mask * (positions + 1), dim=1)  # index of the last real token, either padding side
        first = torch.argmax(mask, dim=1)
        rows = torch.arange(mask.shape[0], device=mask.device)
        out = []
        for layer, pooling in self.heads:
            h = states[layer]
            if pooling in ("mean", "text-mean"):
                m = given["text_mask"].to(h.dtype) if pooling == "text-mean" else mask
                out.append((h * m[..., None]).sum(1) / m.sum(1, keepdim=True).clamp(min=1.0))
            else:
                out.append(h[rows, last if pooling == "last" else first])
        return tuple(out)


def truncate(loaded: LoadedModel, keep: int) -> None:
    """Drop every layer above `keep`, the final norm, the pooler and (by using the base model) the LM head."""
    layers = decoder_layers(loaded.base)
    del layers[keep:]
    loaded.base.config.num_hidden_layers = keep
    for name in ("norm", "final_layernorm", "ln_f"):
        if isinstance(getattr(loaded.base, name, None), torch.nn.Module):
            setattr(loaded.base, name, torch.nn.Identity())
    if getattr(loaded.base, "pooler", None) is not None:
        loaded.base.pooler = None


def export_trunk(trunk: Trunk, path: Path) -> None:
    example = {"input_ids": torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, 0, 0, 0]]),
               "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]),
               "token_type_ids": torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]]),
               "text_mask": torch.tensor([[0, 1, 1, 1, 1, 0], [0, 1, 0, 0, 0, 0]])}
    names = trunk.inputs
    args = tuple(example[n] for n in names)
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    torch.onnx.export(trunk, args, str(path), dynamo=True, opset_version=OPSET, input_names=names,
                      output_names=[f"pooled_{i}" for i in range(len(trunk.heads))],
                      dynamic_shapes={"args": tuple({0: batch, 1: seq} for _ in names)}, external_data=False,
                      verbose=False)


def append_heads(model: onnx.ModelProto, tasks: list[str], probes: list[LECProbe]) -> onnx.ModelProto:
    """Gemm -> Sigmoid (binary, output [1-p, p]) or Softmax per task; outputs named after the tasks."""
    graph = model.graph
    pooled = [o.name for o in graph.output]
    del graph.output[:]
    for task, probe, src in zip(tasks, probes, pooled):
        w = numpy_helper.from_array(probe.coef_.astype(np.float32), f"head_{task}.weight")
        b = numpy_helper.from_array(probe.intercept_.astype(np.float32), f"head_{task}.bias")
        graph.initializer.extend([w, b])
        logits = f"head_{task}.logits"
        graph.node.append(helper.make_node("Gemm", [src, w.name, b.name], [logits], name=f"head_{task}", transB=1))
        if probe.coef_.shape[0] == 1:
            p = f"head_{task}.p"
            one = numpy_helper.from_array(np.ones((1, 1), np.float32), f"head_{task}.one")
            graph.initializer.append(one)
            graph.node.extend([
                helper.make_node("Sigmoid", [logits], [p], name=f"head_{task}_sigmoid"),
                helper.make_node("Sub", [one.name, p], [f"head_{task}.q"], name=f"head_{task}_complement"),
                helper.make_node("Concat", [f"head_{task}.q", p], [task], name=f"head_{task}_scores", axis=1)])
        else:
            graph.node.append(helper.make_node("Softmax", [logits], [task], name=f"head_{task}_softmax", axis=1))
        graph.output.append(helper.make_tensor_value_info(task, TensorProto.FLOAT, ["batch", len(probe.classes_)]))
    return model


def export_artifact(model: str, probe_paths: list[str], out: str | Path, revision: str | None = None,
                    parity_data: list[str] | None = None, max_length: int = 512, stride: int = 128,
                    fp32: bool = True, parity_rows: int = 400, cache: str | None = None, gate: bool = True) -> Path:
    """Build the artifact folder. Refuses (InputError) when the int8 graph fails the parity gate."""
    loaded_probes = [load_probe(p) for p in probe_paths]
    tasks = [meta["task"] for _, meta in loaded_probes]
    if len(set(tasks)) != len(tasks):
        raise InputError(f"two probes share a task name: {tasks}")
    formats = {json.dumps(meta["input_format"], sort_keys=True) for _, meta in loaded_probes}
    if len(formats) > 1:
        raise InputError("the probes read differently formatted inputs (e.g. one with the generation prompt, one "
                         "without); one graph takes one input format: retrain them with the same pooling family")
    loaded = load_model(model, revision)
    for (probe, meta) in loaded_probes:
        if probe.coef_.shape[1] != loaded.hidden_size or meta["layer"] > loaded.num_layers:
            raise InputError(f"probe {meta['task']!r} (layer {meta['layer']}, width {probe.coef_.shape[1]}) "
                             f"does not fit {model} ({loaded.num_layers} layers, width {loaded.hidden_size})")
        if meta["model"]["revision"] != loaded.revision:
            print(f"warning: probe {meta['task']!r} was trained on weights {meta['model']['revision'][:12]}, "
                  f"exporting {loaded.revision[:12]}")
    input_format = loaded_probes[0][1]["input_format"]
    out = Path(out)
    tmp = Path(tempfile.mkdtemp(prefix="lec-export-"))
    try:
        reference = _reference(loaded, loaded_probes, parity_data, parity_rows, max_length, cache, input_format)
        keep = max(meta["layer"] for _, meta in loaded_probes)
        truncate(loaded, keep)
        trunk = Trunk(loaded, [(meta["layer"], meta["pooling"]) for _, meta in loaded_probes]).eval()
        heads = ", ".join(f"{t} at layer {m['layer']} ({m['pooling']})" for t, (_, m) in zip(tasks, loaded_probes))
        print(f"exporting {Path(loaded.model_id).name} cut at layer {keep}; heads: {heads}")
        export_trunk(trunk, tmp / "trunk.onnx")
        save_with_heads(tmp / "trunk.onnx", tmp / "model.fp32.onnx", tasks, [p for p, _ in loaded_probes])
        tok = runtime_tokenizer(loaded.tokenizer)
        pad_id = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
        tok.enable_padding(direction="right", pad_id=pad_id, pad_token=tok.id_to_token(pad_id) or "")
        tok.enable_truncation(max_length)
        tok.save(str(tmp / "tokenizer.json"))
        vocab = loaded.base.get_input_embeddings().weight.shape[0]
        manifest = {
            "schema_version": SCHEMA_VERSION,
            "lec_onnx_version": lec_onnx.__version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "model": {"id": loaded.source_id, "exported_from": loaded.model_id,
                      "revision": loaded.revision, "kind": loaded.kind,
                      "architecture": type(loaded.model).__name__, "layers_kept": keep,
                      "hidden_size": loaded.hidden_size},
            "graph": {"int8": "model.onnx", "fp32": "model.fp32.onnx" if fp32 else None, "opset": OPSET,
                      "inputs": trunk.inputs,
                      "vocab_size": int(vocab), "pad_id": int(pad_id)},
            "tokenizer": "tokenizer.json",
            "input_format": input_format,
            "window": {"max_length": max_length, "stride": stride},
            "tasks": {t: {"output": t, "labels": meta["labels"], "negative_label": meta["negative_label"],
                          "threshold": meta["threshold"], "layer": meta["layer"], "pooling": meta["pooling"],
                          "C": meta["C"], "trained_on": meta.get("data"), "trained_rows": meta.get("trained_rows")}
                      for t, (_, meta) in zip(tasks, loaded_probes)},
            "export": {"torch": torch.__version__, "onnx": onnx.__version__, "python": platform.python_version()},
            "files": {},
        }
        parity, keep_fp32 = {}, []
        if fp32:  # checked once: the fp32 graph does not change below
            _write_manifest(tmp, manifest)
            parity = _parity(tmp, reference, "fp32")
        else:
            (tmp / "model.fp32.onnx").rename(tmp / "fp32.unused")
        ranking, budget = None, int(MAX_FP32_SHARE * len(weight_matmuls(tmp / "trunk.onnx")))
        while True:
            # quantise the trunk alone, then append the heads: they stay exact fp32 Gemm nodes in both graphs
            quantize_int8(tmp / "trunk.onnx", tmp / "trunk.int8.onnx", keep_fp32)
            save_with_heads(tmp / "trunk.int8.onnx", tmp / "model.onnx", tasks, [p for p, _ in loaded_probes])
            manifest["graph"]["int8_fp32_matmuls"] = len(keep_fp32)
            _write_manifest(tmp, manifest)
            for task, figures in _parity(tmp, reference, "int8").items():
                parity.setdefault(task, {}).update(figures)
            failed = [t for t, p in parity.items() if not p["passed"]]
            if not failed or len(keep_fp32) >= budget:
                break
            if ranking is None:
                feeds = _calibration_feeds(reference, loaded, input_format, max_length, trunk.inputs)
                ranking = rank_by_int8_error(tmp / "trunk.onnx", feeds, tmp)
            keep_fp32 = ranking[:min(budget, max(1, 2 * len(keep_fp32)))]
            print(f"int8 parity missed for {', '.join(failed)}: keeping the {len(keep_fp32)} most sensitive of "
                  f"{len(ranking)} weight MatMuls in fp32 and trying again")
        manifest["parity"] = parity
        _write_manifest(tmp, manifest)
        _print_parity(parity)
        if failed and gate:
            raise InputError(f"parity gate failed for {', '.join(failed)}: the int8 graph disagrees with the torch "
                             f"probe (need >= {PARITY_MIN_AGREEMENT:.0%} label agreement and F1 within "
                             f"{PARITY_MAX_F1_GAP}); nothing was written to {out}")
        out.mkdir(parents=True, exist_ok=True)
        for name in [MANIFEST, "model.onnx", "tokenizer.json"] + (["model.fp32.onnx"] if fp32 else []):
            shutil.copy2(tmp / name, out / name)
        print(f"artifact written to {out}")
        return out
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _write_manifest(folder: Path, manifest: dict) -> None:
    manifest["files"] = {n: {"sha256": sha256_file(folder / n), "bytes": (folder / n).stat().st_size}
                         for n in ("model.onnx", "model.fp32.onnx", "tokenizer.json") if (folder / n).exists()}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=1))


def _reference(loaded, loaded_probes, parity_data, parity_rows, max_length, cache, input_format) -> dict:
    """Test rows per task and the torch probe's scores on them (single-window texts: windows are tested apart)."""
    tok = runtime_tokenizer(loaded.tokenizer)
    ref = {}
    for n, (probe, meta) in enumerate(loaded_probes):
        files = [parity_data[n]] if parity_data else meta.get("data")
        if not files:
            continue
        data = prepare_data(files)
        _, test = split_indices(data)
        rows = []
        for i in np.random.default_rng(0).permutation(test):
            try:
                parts, types = encode_parts(tok, input_format, data.text[i], data.system[i])
                if len(windows(parts, types, max_length, 0)) == 1:
                    rows.append(int(i))
            except InputError:
                pass
            if len(rows) >= parity_rows:
                break
        sub = data.subset(sorted(rows))
        pooling = ("gen-" if input_format.get("generation_prompt") else "") + meta["pooling"]
        X = extract(loaded, sub.text, sub.system, max_length, cache=cache, poolings=(pooling,),
                    desc=f"torch reference {meta['task']}")[pooling][:, meta["layer"]]
        ref[meta["task"]] = {"data": sub, "proba": probe.predict_proba(X), "labels": list(probe.classes_)}
    return ref


def _calibration_feeds(reference: dict, loaded, input_format: dict, max_length: int, inputs: list[str],
                       per_task: int = 16) -> list[dict]:
    """One-window feeds (batch of 1) of the first parity rows of each task, for the int8 sensitivity ranking."""
    tok = runtime_tokenizer(loaded.tokenizer)
    feeds = []
    for ref in reference.values():
        data = ref["data"]
        for i in range(min(per_task, len(data))):
            parts, types = encode_parts(tok, input_format, data.text[i], data.system[i])
            feed = model_inputs(window_rows(parts, types, max_length, 0)[:1])
            feeds.append({k: v for k, v in feed.items() if k in inputs})
    return feeds


def save_with_heads(trunk: Path, out: Path, tasks: list[str], probes: list[LECProbe]) -> None:
    graph = append_heads(onnx.load(str(trunk)), tasks, probes)
    graph.producer_name = "lec-onnx"
    onnx.checker.check_model(graph)
    onnx.save(graph, str(out))


def _parity(folder: Path, reference: dict, precision: str) -> dict:
    """Label agreement and F1 of one graph against the torch probe; the gate itself reads the int8 figures."""
    out = {}
    clf = Classifier.load(folder, precision=precision)
    for task, ref in reference.items():
        data = ref["data"]
        res = clf.classify(data.text, data.system, batch_size=16)
        proba = np.array([[r[task].scores[l] for l in ref["labels"]] for r in res])
        labels = np.array(ref["labels"])
        y_torch, y_onnx = labels[ref["proba"].argmax(1)], labels[proba.argmax(1)]
        f1_torch, f1_onnx = metrics(data.label, y_torch)["f1"], metrics(data.label, y_onnx)["f1"]
        figures = {"label_agreement": round(float(np.mean(y_torch == y_onnx)), 4),
                   "max_abs_score_diff": round(float(np.abs(proba - ref["proba"]).max()), 6),
                   "f1_torch": f1_torch, "f1_onnx": f1_onnx}
        out[task] = {"rows": len(data), precision: figures}
        if precision == "int8":
            out[task]["passed"] = (figures["label_agreement"] >= PARITY_MIN_AGREEMENT
                                   and abs(f1_torch - f1_onnx) <= PARITY_MAX_F1_GAP)
    return out


def _print_parity(parity: dict) -> None:
    for task, e in parity.items():
        for precision in ("int8", "fp32"):
            if precision in e:
                q = e[precision]
                print(f"parity {task} {precision}: {e['rows']} test rows, labels agree {q['label_agreement']:.2%}, "
                      f"F1 torch {q['f1_torch']:.4f} vs onnx {q['f1_onnx']:.4f}, max |score diff| "
                      f"{q['max_abs_score_diff']:.2e}")
