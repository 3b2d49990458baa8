"""The shipped default against what a user would run instead: the whole model in PyTorch, the whole model exported
and quantised by optimum, and the truncated graph in fp32 (issue 34).

    pip install ".[export,bench]"
    python -m benchmarks.versus_full_model [--artifact artifacts/default --artifact OLD ...] [--reps 15]
    python -m benchmarks.report            # renders docs/benchmarks.md, this run's section included

Every configuration runs the same token ids (random ids of the model's vocabulary, all attended) through one
`session.run` (or one torch forward) at 1 and 2 threads, batch 1 and 16, 16 / 128 / 256 tokens; rounds are
interleaved (A, B, C, A, B, C...) so that other load on the machine falls on all alike, and the medians are
compared as ratios. Then the long-document row: `Classifier.classify` of a 5,000-token text (windows of the
manifest) per artifact, in tokens per second. Writes docs/benchmarks/versus-full-model.json.
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "benchmarks" / "versus-full-model.json"
MODEL = Path.home() / ".cache" / "lec-onnx" / "models" / "all-mpnet-base-v2"
SHAPES = [(1, 16), (1, 128), (1, 256), (16, 128)]  # (batch, tokens)
LONG_DOCUMENT_TOKENS = 5000


def onnx_runner(path: Path, threads: int):
    import onnxruntime as ort
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    names = [i.name for i in session.get_inputs()]

    def run(ids, mask):
        feed = {"input_ids": ids, "attention_mask": mask, "text_mask": mask, "token_type_ids": np.zeros_like(ids)}
        return session.run(None, {n: feed[n] for n in names})
    return run


def torch_runner(model_dir: Path, threads: int):
    import torch
    from transformers import AutoModel
    model = AutoModel.from_pretrained(str(model_dir)).eval()  # MPNet has no sdpa path: the default attention

    def run(ids, mask):
        torch.set_num_threads(threads)
        with torch.inference_mode():
            states = model(input_ids=torch.from_numpy(ids), attention_mask=torch.from_numpy(mask)).last_hidden_state
            return (states * torch.from_numpy(mask)[..., None]).sum(1) / torch.from_numpy(mask).sum(1, keepdim=True)
    return run


def optimum_graphs(model_dir: Path, work: Path) -> dict[str, Path]:
    """The whole model exported by optimum (fp32) and quantised by its ORTQuantizer, dynamic, with the preset of
    this CPU (AutoQuantizationConfig.avx512_vnni where VNNI exists, else .avx2): the three lines a user writes."""
    from optimum.onnxruntime import ORTModelForFeatureExtraction, ORTQuantizer
    from optimum.onnxruntime.configuration import AutoQuantizationConfig

    from lec_onnx.check import cpu_int8_path
    ORTModelForFeatureExtraction.from_pretrained(str(model_dir), export=True).save_pretrained(work / "fp32")
    preset = AutoQuantizationConfig.avx512_vnni if cpu_int8_path() == "vnni" else AutoQuantizationConfig.avx2
    quantizer = ORTQuantizer.from_pretrained(work / "fp32")
    quantizer.quantize(save_dir=work / "int8", quantization_config=preset(is_static=False, per_channel=True))
    return {"optimum fp32 (full model)": work / "fp32" / "model.onnx",
            "optimum dynamic int8 (full model)": next((work / "int8").glob("*.onnx"))}


def truncated_fp32(artifact: Path, model_dir: Path, work: Path) -> Path:
    """The artifact's graph before quantisation: the model cut at the artifact's layer with its heads, in fp32."""
    from lec_onnx.export.graph import Trunk, export_trunk, save_with_heads, truncate
    from lec_onnx.export.models import load_model
    from lec_onnx.manifest import read_manifest
    _, manifest = read_manifest(artifact)
    loaded = load_model(str(model_dir))
    truncate(loaded, manifest.model.layers_kept)
    trunk = Trunk(loaded, [(t.layer, t.pooling) for t in manifest.tasks.values()]).eval()
    export_trunk(trunk, work / "trunk.onnx")
    width = manifest.model.hidden_size  # stand-in heads of the tasks' shape: the timing does not need their weights
    heads = [SimpleNamespace(coef_=np.zeros((1 if len(t.labels) == 2 else len(t.labels), width)),
                             intercept_=np.zeros(1 if len(t.labels) == 2 else len(t.labels)))
             for t in manifest.tasks.values()]
    save_with_heads(work / "trunk.onnx", work / "truncated.fp32.onnx", list(manifest.tasks), heads)
    return work / "truncated.fp32.onnx"


def median_ms(runners: dict, ids: np.ndarray, mask: np.ndarray, reps: int) -> dict[str, float]:
    """Median milliseconds of each runner on the same inputs, rounds interleaved."""
    times = {name: [] for name in runners}
    for run in runners.values():
        run(ids, mask)  # warm-up: the first run allocates
    for _ in range(reps):
        for name, run in runners.items():
            start = time.perf_counter()
            run(ids, mask)
            times[name].append(time.perf_counter() - start)
    return {name: round(1000 * statistics.median(t), 2) for name, t in times.items()}


def latency_table(graphs: dict[str, Path], reps: int, threads: list[int], vocab: int) -> list[dict]:
    """One row per (threads, batch, tokens): the median ms of every configuration."""
    rows = []
    rng = np.random.default_rng(0)
    for n in threads:
        runners = {name: onnx_runner(path, n) for name, path in graphs.items()}
        runners["PyTorch fp32 (full model)"] = torch_runner(MODEL, n)
        for batch, tokens in SHAPES:
            ids = rng.integers(1000, vocab, (batch, tokens)).astype(np.int64)
            ms = median_ms(runners, ids, np.ones_like(ids), max(3, reps // (4 if batch > 1 else 1)))
            rows.append({"threads": n, "batch": batch, "tokens": tokens, "ms": ms})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def long_document(artifacts: list[Path], reps: int) -> list[dict]:
    """Tokens per second of `Classifier.classify` on a 5,000-token document, 1 thread, per artifact; and whether
    every artifact flags it alike."""
    from lec_onnx import Classifier
    sentence = "The committee reviewed the budget, the timetable and the letters residents sent about the park. "
    classifiers = {str(a): Classifier.load(a, threads=1) for a in artifacts}
    first = next(iter(classifiers.values()))
    text = sentence * (LONG_DOCUMENT_TOKENS // len(first.tokenizer.encode(sentence).ids))
    while len(first.tokenizer.encode(text).ids) < LONG_DOCUMENT_TOKENS:
        text += sentence
    tokens = len(first.tokenizer.encode(text).ids)
    ms = median_ms({a: (lambda ids, mask, c=c: c.classify(text)) for a, c in classifiers.items()}, None, None, reps)
    flags = {a: {t: r.flagged for t, r in c.classify(text)[0].items()} for a, c in classifiers.items()}
    return [{"artifact": a, "tokens": tokens, "ms": ms[a], "tokens_per_s": round(1000 * tokens / ms[a]),
             "flags": flags[a]} for a in classifiers]


def main(argv=None) -> int:
    import onnxruntime
    import torch
    from lec_onnx.check import cpu_int8_path
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", action="append", help="artifact to time (repeatable; default: artifacts/default)")
    ap.add_argument("--reps", type=int, default=15, help="rounds at batch 1 (a quarter at batch 16)")
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    artifacts = [Path(a) for a in args.artifact or [ROOT / "artifacts" / "default"]]
    started = time.time()
    with tempfile.TemporaryDirectory(prefix="lec-bench-") as work:
        graphs = {f"lec-onnx int8 ({a.name})": a / "model.onnx" for a in artifacts}
        graphs["truncated fp32"] = truncated_fp32(artifacts[0], MODEL, Path(work))
        graphs.update(optimum_graphs(MODEL, Path(work)))
        vocab = json.loads((artifacts[0] / "manifest.json").read_text())["graph"]["vocab_size"]
        rows = latency_table(graphs, args.reps, args.threads, vocab)
    given = sys.argv[1:] if argv is None else argv
    result = {"command": "python -m benchmarks.versus_full_model " + " ".join(given), "rows": rows,
              "long_document": long_document(artifacts, max(3, args.reps // 3)), "int8_path": cpu_int8_path(),
              "cpu": platform.processor() or platform.machine(), "minutes": round((time.time() - started) / 60, 1),
              "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="minutes"),
              "versions": {"onnxruntime": onnxruntime.__version__, "torch": torch.__version__}}
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=1))
    print(f"written to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
