"""int8 methods compared: pooled-state error, parity gate, size and speed per model, written as JSON.

    python -m benchmarks.run [--models NAME ...] [--methods dynamic static smooth auto] [--work build/int8]
                              [--out docs/benchmarks.json] [--reps 20]

Per model: trains the two probes at the layers docs/results.md chose (train split only), exports one artifact per
quantisation method with `export_artifact(..., quantize=METHOD, gate=False)` (the manifest keeps the parity
figures, so a graph that misses the gate is still measured, and marked), then times batch 1 x 128 tokens on one
thread: each int8 graph, the fp32 truncated graph and the full model in PyTorch, in the same minutes. The report
(docs/benchmarks.md) is rendered from the JSON by benchmarks/report.py. Not part of the test suite.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = Path.home() / ".cache" / "lec-onnx" / "models"
MAX_LENGTH = 128  # the speed setting, and it keeps the decoders' feature extraction within the time budget
PROBE_C = 0.01
# task -> (data files, rows per (source, label, split)): the caps bound the decoders' feature extraction time
TASK_DATA = {"content_safety": (["data/content_safety.jsonl", "data/overrefusal.jsonl"], 12),
             "prompt_injection": (["data/prompt_injection.jsonl"], 12)}


@dataclass(frozen=True)
class Model:
    name: str
    layers: int  # depth of the full model
    kind: str  # decoder or encoder
    heads: dict  # task -> (layer, pooling): docs/results.md's choices, in one input format per graph


# One graph takes one input format: the decoders read content safety at the generation prompt (gen-last, the
# sweeps' choice), so their prompt-injection head uses the gen- form of its pooling at the chosen layer.
MODELS = {m.name: m for m in (
    Model("all-MiniLM-L6-v2", 6, "encoder", {"content_safety": (5, "mean"), "prompt_injection": (5, "text-mean")}),
    Model("SmolLM2-135M-Instruct", 30, "decoder",
          {"content_safety": (30, "gen-last"), "prompt_injection": (12, "gen-text-mean")}),
    Model("Qwen2.5-Coder-0.5B-Instruct", 24, "decoder",
          {"content_safety": (20, "gen-last"), "prompt_injection": (14, "gen-text-mean")}),
)}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", nargs="+", choices=list(MODELS), default=list(MODELS))
    p.add_argument("--methods", nargs="+", default=["dynamic", "token", "static", "smooth"])
    p.add_argument("--work", default=str(ROOT / "build" / "int8"), help="probes, feature cache and artifacts")
    p.add_argument("--out", default=str(ROOT / "docs" / "benchmarks.json"))
    p.add_argument("--reps", type=int, default=20, help="timed calls per engine (median reported)")
    p.add_argument("--parity-rows", type=int, default=100)
    p.add_argument("--fp32-fallback", action="store_true",
                   help="let the export keep up to 10%% of the MatMuls in fp32 when a method misses the gate (the "
                   "issue's bound; slow: ranks every MatMul)")
    p.add_argument("--cap", type=int, help="training rows per (source, label, split), instead of the task's")
    p.add_argument("--weights", choices=["s7", "u8"], default="s7",
                   help="per-channel int8 weight format of dynamic, token and static (export --int8-weights; no "
                   "fallback to the other here): s7 (signed within -64..64) or u8 (unsigned); u8 results are keyed "
                   "METHOD+u8")
    return p.parse_args(argv)


def train_probes(model: Model, work: Path, cap: int | None = None) -> list[Path]:
    probes = []
    for task, (layer, pooling) in model.heads.items():
        out = work / model.name / "probes" / f"{task}.json"
        files, task_cap = TASK_DATA[task]
        if not _probe_matches(out, layer, pooling):
            subprocess.run([sys.executable, "-m", "lec_onnx", "train", "-m", str(MODELS_DIR / model.name),
                            *[a for f in files for a in ("-d", str(ROOT / f))], "--task", task, "--layer",
                            str(layer), "--pooling", pooling, "--C", str(PROBE_C), "--max-length", str(MAX_LENGTH),
                            "--cap", str(cap or task_cap), "--cache", str(work / "features"), "--threads", "1",
                            "-o", str(out)],
                           cwd=ROOT, check=True)
        probes.append(out)
    return probes


def _probe_matches(path: Path, layer: int, pooling: str) -> bool:
    """A probe trained by an earlier run is reused only if it reads the layer and pooling asked for now."""
    from lec_onnx.export.pooling import pooling_name
    if not path.exists():
        return False
    meta = json.loads(path.read_text())
    generation_prompt = (meta.get("input_format") or {}).get("generation_prompt", False)
    return meta["layer"] == layer and pooling_name(meta["pooling"], generation_prompt) == pooling


def _artifact_matches(folder: Path, probes: list[Path]) -> bool:
    """An artifact from an earlier run is reused only if its heads are these probes' (task, layer, pooling)."""
    if not (folder / "manifest.json").exists():
        return False
    tasks = json.loads((folder / "manifest.json").read_text())["tasks"]
    wanted = {m["task"]: (m["layer"], m["pooling"]) for m in (json.loads(p.read_text()) for p in probes)}
    return {t: (spec["layer"], spec["pooling"]) for t, spec in tasks.items()} == wanted


def export(model: Model, method: str, probes: list[Path], out: Path, parity_rows: int, fp32: bool,
           weights: str) -> Path:
    from lec_onnx.export.artifact import export_artifact
    if not _artifact_matches(out, probes):
        export_artifact(str(MODELS_DIR / model.name), [str(p) for p in probes], out, max_length=MAX_LENGTH,
                        parity_rows=parity_rows, cache=str(out.parents[1] / "features"), gate=False, quantize=method,
                        fp32=fp32, int8_weights=weights)
    return out


def median_seconds(run, reps: int) -> float:
    run()  # warm-up
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def onnx_timer(graph: Path, tokens: int, vocab: int, inputs: list[str]):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
    ids = np.random.default_rng(0).integers(10, vocab - 10, (1, tokens), dtype=np.int64)
    ones = np.ones_like(ids)
    feed = {"input_ids": ids, "attention_mask": ones, "token_type_ids": np.zeros_like(ids), "text_mask": ones}
    feed = {k: v for k, v in feed.items() if k in inputs}
    return lambda: session.run(None, feed)


def torch_timer(model: Model, tokens: int, vocab: int):
    """The full model (every layer) in PyTorch fp32 + the probes' dot products."""
    import torch

    from lec_onnx.export.models import load_model
    loaded = load_model(str(MODELS_DIR / model.name))
    ids = torch.from_numpy(np.random.default_rng(0).integers(10, vocab - 10, (1, tokens)))
    w = torch.randn(loaded.hidden_size, len(model.heads))

    def run():
        with torch.inference_mode():
            out = loaded.base(input_ids=ids, attention_mask=torch.ones_like(ids), output_hidden_states=True)
            return [out.hidden_states[layer][:, -1] @ w for layer, _ in model.heads.values()]
    return run


def measure(model: Model, folders: dict[str, Path], reps: int, tokens: int = 128) -> dict:
    import torch
    torch.set_num_threads(1)
    manifest = json.loads(next(iter(folders.values())).joinpath("manifest.json").read_text())
    vocab, inputs = manifest["graph"]["vocab_size"], manifest["graph"]["inputs"]
    timers = {f"int8 {m}": onnx_timer(f / "model.onnx", tokens, vocab, inputs) for m, f in folders.items()}
    fp32 = next((f / "model.fp32.onnx" for f in folders.values() if (f / "model.fp32.onnx").exists()), None)
    if fp32:
        timers["fp32 truncated"] = onnx_timer(fp32, tokens, vocab, inputs)
    timers["PyTorch fp32 full"] = torch_timer(model, tokens, vocab)
    seconds = {name: [] for name in timers}
    for _ in range(3):  # interleaved rounds: the ratios come from the same minutes of a shared machine
        for name, run in timers.items():
            seconds[name].append(median_seconds(run, max(1, reps // 3)))
    return {name: statistics.median(s) for name, s in seconds.items()}


def describe(folder: Path) -> dict:
    manifest = json.loads((folder / "manifest.json").read_text())
    return {"quantization": manifest["graph"].get("quantization"), "parity": manifest.get("parity", {}),
            "int8_bytes": (folder / "model.onnx").stat().st_size,
            "fp32_bytes": (folder / "model.fp32.onnx").stat().st_size if (folder / "model.fp32.onnx").exists()
            else None, "weight_matmuls_fp32": manifest["graph"].get("int8_fp32_matmuls", 0)}


def run_model(model: Model, methods: list[str], work: Path, reps: int, parity_rows: int, cap: int | None,
              suffix: str = "", weights: str = "s7") -> dict:
    probes = train_probes(model, work, cap)
    # the first method's artifact also carries the fp32 graph (the reference for speed and state error)
    folders = {m + suffix: export(model, m, probes, work / model.name / (m + suffix), parity_rows, i == 0, weights)
               for i, m in enumerate(methods)}
    seconds = measure(model, folders, reps)
    errors = state_errors(model, folders)
    return {"model": model.name, "layers": model.layers, "heads": model.heads, "parity_rows": parity_rows,
            "artifacts": {m: {**describe(f), "state_error": errors[m]} for m, f in folders.items()},
            "seconds_b1_128_1thread": seconds}


def state_errors(model: Model, folders: dict[str, Path], rows: int = 24) -> dict[str, dict[str, float]]:
    """Per artifact and head, the median relative error of the int8 graph's pooled state against the fp32 graph,
    on training-split rows the calibration did not see (one window each)."""
    import onnxruntime as ort

    from lec_onnx.export.quantize import CALIBRATION_ROWS, calibration_feeds, with_pooled_outputs
    from lec_onnx.manifest import InputFormat
    first = next(iter(folders.values()))
    manifest = json.loads((first / "manifest.json").read_text())
    files = [str(ROOT / f) for task in model.heads for f in TASK_DATA[task][0]]
    feeds = calibration_feeds(files, Tokenizer.from_file(str(first / "tokenizer.json")),
                              InputFormat(**manifest["input_format"]),
                              MAX_LENGTH, manifest["graph"]["inputs"], rows, skip=CALIBRATION_ROWS)

    def pooled(graph: Path) -> dict[str, np.ndarray]:
        session = ort.InferenceSession(with_pooled_outputs(graph), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        runs = [dict(zip(names, session.run(None, f))) for f in feeds]
        return {n.split(":", 1)[1]: np.concatenate([r[n] for r in runs]) for n in names if n.startswith("pooled:")}

    reference = pooled(first / "model.fp32.onnx")
    out = {}
    for method, folder in folders.items():
        got = pooled(folder / "model.onnx")
        out[method] = {t: round(float(np.median(np.linalg.norm(got[t] - h, axis=1) / np.linalg.norm(h, axis=1))), 5)
                       for t, h in reference.items()}
    return out


def main(argv=None) -> int:
    args = parse_args(argv)
    from lec_onnx.export import artifact  # without the fallback: the methods as they are, no MatMul kept in fp32
    artifact.MAX_FP32_SHARE = 0.10 if args.fp32_fallback else 0.0
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {"models": {}}
    started = time.time()
    for name in args.models:
        # smoothing is for decoders; an encoder's auto is dynamic
        methods = args.methods if MODELS[name].kind == "decoder" else [m for m in args.methods if m != "smooth"]
        suffix = ("+fp32-fallback" if args.fp32_fallback else "") + ("+u8" if args.weights == "u8" else "")
        results["models"][name + suffix] = run_model(MODELS[name], methods, Path(args.work), args.reps,
                                                     args.parity_rows, args.cap, suffix, args.weights)
        results.update(machine=machine(), run={"finished": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="minutes"), "minutes": round((time.time() - started) / 60, 1), "reps": args.reps,
            "command": "python -m benchmarks.run " + " ".join(sys.argv[1:] if argv is None else argv)})
        out.write_text(json.dumps(results, indent=1, default=str))
        print(f"{name}: written to {out}")
    return 0


def machine() -> dict:
    from importlib import metadata
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name")), "")
    flags = next((line.split(":", 1)[1].split() for line in open("/proc/cpuinfo") if line.startswith("flags")), [])
    return {"cpu": cpu, "cores": os.cpu_count(), "avx512_vnni": "avx512_vnni" in flags,
            "avx_vnni": "avx_vnni" in flags, "avx2": "avx2" in flags, "load_average": os.getloadavg(),
            "versions": {p: metadata.version(p) for p in ("onnxruntime", "torch", "transformers", "onnx")}}


if __name__ == "__main__":
    sys.exit(main())
