"""Throughput and latency of one model's engines: int8 and fp32 truncated graphs (direct session and through
`Classifier`), the full model in PyTorch fp32 and an optimum full-model ONNX export, each with the probe.

All engines of a model are loaded together and measured in turn for every (threads, batch, tokens) setting, so
the ratios between them come from the same minutes of this (shared, noisy) machine.
"""
from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench_artifacts import BENCH_DIR

OPTIMUM_DIR = BENCH_DIR / "optimum"


@dataclass
class Timing:
    engine: str
    threads: int
    batch: int
    tokens: int
    seconds: list[float] = field(default_factory=list)  # one entry per timed call
    skipped: str = ""  # why the setting was not run (too slow to fit the time budget)

    @property
    def texts_per_s(self) -> float | None:
        return self.batch / statistics.median(self.seconds) if self.seconds else None

    def percentile_ms(self, q: float) -> float | None:
        if not self.seconds:
            return None
        return float(np.percentile(self.seconds, q) * 1000)


@dataclass
class Budget:
    seconds: float  # time spent on one setting of one engine once warm
    max_reps: int
    min_reps_batch1: int  # enough calls for a p95 at batch 1
    max_call_s: float  # settings whose single call is estimated slower than this are skipped


# ---------------------------------------------------------------- inputs
def synthetic_ids(vocab: int, batch: int, tokens: int, seed: int = 0) -> np.ndarray:
    """Random ordinary token ids of exactly `tokens` length: the cost of a forward pass does not depend on them."""
    rng = np.random.default_rng(seed)
    return rng.integers(1000, min(vocab, 30000) - 1, size=(batch, tokens), dtype=np.int64)


def feed_for(input_names: list[str], ids: np.ndarray) -> dict[str, np.ndarray]:
    feed = {"input_ids": ids, "attention_mask": np.ones_like(ids), "token_type_ids": np.zeros_like(ids),
            "text_mask": np.ones_like(ids),  # text-mean heads; which tokens it marks does not change the cost
            "position_ids": np.broadcast_to(np.arange(ids.shape[1], dtype=np.int64), ids.shape).copy()}
    return {k: v for k, v in feed.items() if k in input_names}


def text_of_length(clf, tokens: int) -> str:
    """A text whose formatted window (prefix + text + suffix) is `tokens` long (at most), for the Classifier runs."""
    from lec_onnx.classifier import encode_parts
    overhead = sum(len(p) for p in encode_parts(clf.tokenizer, clf.input_format, "hello")[0]) - 1
    words = max(1, tokens - overhead)
    for n in range(words, 0, -1):  # " hello" is one token in every tokenizer here; shrink if a merge adds one
        text = " ".join(["hello"] * n)
        if sum(len(p) for p in encode_parts(clf.tokenizer, clf.input_format, text)[0]) <= tokens:
            return text
    return "hello"


# ---------------------------------------------------------------- engines
class OnnxDirect:
    """session.run on padded int64 inputs: the graph alone, no tokenisation."""

    def __init__(self, clf, vocab: int):
        self.clf, self.vocab = clf, vocab
        self.outputs = [spec["output"] for spec in clf.tasks.values()]

    def prepare(self, batch: int, tokens: int):
        feed = feed_for(self.clf.input_names, synthetic_ids(self.vocab, batch, tokens))
        return lambda: self.clf.session.run(self.outputs, feed)


class ClassifierApi:
    """Classifier.classify on texts of the right token length: tokenisation, windows, decisions included."""

    def __init__(self, clf):
        self.clf = clf

    def prepare(self, batch: int, tokens: int):
        texts = [text_of_length(self.clf, tokens)] * batch
        return lambda: self.clf.classify(texts, batch_size=batch)


class TorchFull:
    """Every layer in PyTorch fp32 (how the probe is trained), then mean pooling at the probe's layer and the probe."""

    def __init__(self, loaded, layer: int, vocab: int, coef: np.ndarray, intercept: np.ndarray):
        import torch
        self.torch, self.loaded, self.layer, self.vocab = torch, loaded, layer, vocab
        self.coef = torch.tensor(coef, dtype=torch.float32)
        self.intercept = torch.tensor(intercept, dtype=torch.float32)

    def prepare(self, batch: int, tokens: int):
        from lec_onnx.export.models import hidden_states
        ids = self.torch.from_numpy(synthetic_ids(self.vocab, batch, tokens))
        mask = self.torch.ones_like(ids)

        def call():
            with self.torch.inference_mode():
                h = hidden_states(self.loaded, ids, mask, self.torch.zeros_like(ids))[self.layer]
                pooled = (h * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
                return self.torch.sigmoid(pooled @ self.coef.T + self.intercept)
        return call


class OptimumFull:
    """The whole model exported by optimum (feature-extraction) run by onnxruntime, plus pooling and the probe.
    Its only output is the last layer, so the probe reads that: the cost (every layer computed) is what counts."""

    def __init__(self, path: Path, threads: int, vocab: int, coef: np.ndarray, intercept: np.ndarray):
        import onnxruntime as ort
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        self.names = [i.name for i in self.session.get_inputs()]
        self.vocab, self.coef, self.intercept = vocab, coef, intercept

    def prepare(self, batch: int, tokens: int):
        feed = feed_for(self.names, synthetic_ids(self.vocab, batch, tokens))

        def call():
            h = self.session.run(None, feed)[0]
            pooled = h.mean(1)  # all-ones mask: the masked mean is the plain mean
            return 1 / (1 + np.exp(-(pooled @ self.coef.T + self.intercept)))
        return call


# ---------------------------------------------------------------- optimum export
def optimum_model(model_dir: Path, timeout_s: int = 900) -> tuple[Path | None, str]:
    """Export the full model once with optimum (offline, local folder); (path, "") or (None, why it failed)."""
    out = OPTIMUM_DIR / model_dir.name
    if (out / "model.onnx").exists():
        return out / "model.onnx", ""
    code = ("from optimum.exporters.onnx import main_export; import sys; "
            "main_export(sys.argv[1], output=sys.argv[2], task='feature-extraction', opset=18, device='cpu', "
            "no_post_process=True, do_validation=False)")
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
    partial = out.with_name(out.name + ".partial")
    try:
        proc = subprocess.run([sys.executable, "-c", code, str(model_dir), str(partial)], env=env,
                              capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        return None, f"optimum export of {model_dir.name} took over {timeout_s} s"
    if proc.returncode != 0 or not (partial / "model.onnx").exists():
        last = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
        return None, f"optimum export failed: {last[0][:300]}"
    partial.rename(out)
    return out / "model.onnx", ""


# ---------------------------------------------------------------- measuring
def measure(engine: str, call, threads: int, batch: int, tokens: int, estimate_s: float | None,
            budget: Budget) -> Timing:
    """Warm up once (first runs allocate and pick kernels), then time calls until the budget is spent."""
    timing = Timing(engine, threads, batch, tokens)
    if estimate_s is not None and estimate_s > budget.max_call_s:
        timing.skipped = f"one call ≈ {estimate_s:.0f} s"
        return timing
    if estimate_s is None or estimate_s < budget.seconds:
        call()
    min_reps = budget.min_reps_batch1 if batch == 1 else 1
    start = time.perf_counter()
    while True:
        t0 = time.perf_counter()
        call()
        timing.seconds.append(time.perf_counter() - t0)
        elapsed, reps = time.perf_counter() - start, len(timing.seconds)
        # a p95 wants min_reps calls, but not at any price: slow settings stop at 4 budgets
        wanted = elapsed < budget.seconds or (reps < min_reps and elapsed < 4 * budget.seconds)
        if reps >= budget.max_reps or not wanted:
            return timing


def run_settings(engines: dict, flops: dict, settings: list[tuple[int, int]], threads: int, budget: Budget,
                 bar, rate: dict[str, float]) -> list[Timing]:
    """Every (batch, tokens) setting for every engine; a setting is skipped when the engine's best FLOP rate so
    far (`rate`, shared across thread counts so one slow, contended setting does not veto the rest) says one
    call would exceed the budget's max_call_s."""
    out = []
    for batch, tokens in sorted(settings, key=lambda s: s[0] * s[1]):
        for name, engine in engines.items():
            work = flops[name](tokens) * batch * tokens
            estimate = work / rate[name] if name in rate else None
            bar.set_postfix_str(f"{name} t{threads} b{batch} n{tokens}")
            call = engine.prepare(batch, tokens)
            timing = measure(name, call, threads, batch, tokens, estimate, budget)
            if timing.seconds:
                rate[name] = max(rate.get(name, 0.0), work / statistics.median(timing.seconds))
            out.append(timing)
            bar.update(1)
    return out


# ---------------------------------------------------------------- peak of this CPU
PEAK_NUMPY = """
import sys, time, numpy as np
n = int(sys.argv[1]); a = np.random.rand(n, n).astype(np.float32); b = np.random.rand(n, n).astype(np.float32)
a @ b  # warm-up: first call sizes BLAS buffers
times = []
for _ in range(8):
    t = time.perf_counter(); a @ b; times.append(time.perf_counter() - t)
print(2 * n ** 3 / min(times) / 1e9)
"""


def numpy_fp32_peak(threads: int, n: int = 2048) -> float:
    """GFLOP/s of an n×n fp32 matmul in numpy's BLAS, best of 8, in a subprocess pinned to `threads` threads."""
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads),
               MKL_NUM_THREADS=str(threads))
    out = subprocess.run([sys.executable, "-c", PEAK_NUMPY, str(n)], env=env, capture_output=True, text=True,
                         check=True)
    return float(out.stdout.strip())


def onnx_matmul_peak(threads: int, int8: bool, n: int = 2048) -> float:
    """GOP/s of an n×n×n MatMul (fp32) or MatMulInteger (uint8 × int8 -> int32) in onnxruntime, best of 8."""
    import onnxruntime as ort
    from onnx import TensorProto, helper, numpy_helper
    rng = np.random.default_rng(0)
    if int8:
        a = rng.integers(0, 255, (n, n), dtype=np.uint8)
        b = numpy_helper.from_array(rng.integers(-127, 127, (n, n), dtype=np.int8), "B")
        node = helper.make_node("MatMulInteger", ["A", "B"], ["Y"])
        a_type, y_type = TensorProto.UINT8, TensorProto.INT32
    else:
        a = rng.random((n, n), dtype=np.float32)
        b = numpy_helper.from_array(rng.random((n, n), dtype=np.float32), "B")
        node = helper.make_node("MatMul", ["A", "B"], ["Y"])
        a_type, y_type = TensorProto.FLOAT, TensorProto.FLOAT
    graph = helper.make_graph([node], "peak", [helper.make_tensor_value_info("A", a_type, [n, n])],
                              [helper.make_tensor_value_info("Y", y_type, [n, n])], [b])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    options = ort.SessionOptions()
    options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    session.run(None, {"A": a})
    times = []
    for _ in range(8):
        t = time.perf_counter()
        session.run(None, {"A": a})
        times.append(time.perf_counter() - t)
    return 2 * n ** 3 / min(times) / 1e9


# ---------------------------------------------------------------- profiling
def profile_ops(graph: Path, threads: int, vocab: int, tokens: int = 128, runs: int = 20) -> list[tuple[str, float]]:
    """onnxruntime's own profiler at batch 1: (op type, share of kernel time), largest first."""
    import onnxruntime as ort
    with tempfile.TemporaryDirectory() as tmp:
        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = threads, 1
        options.enable_profiling = True
        options.profile_file_prefix = str(Path(tmp) / "prof")
        session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        feed = feed_for([i.name for i in session.get_inputs()], synthetic_ids(vocab, 1, tokens))
        for _ in range(runs):
            session.run(None, feed)
        events = json.loads(Path(session.end_profiling()).read_text())
    per_op: dict[str, float] = {}
    for e in events:
        if e.get("cat") == "Node" and e.get("name", "").endswith("_kernel_time"):
            op = e.get("args", {}).get("op_name", "?")
            per_op[op] = per_op.get(op, 0.0) + e.get("dur", 0)
    total = sum(per_op.values()) or 1.0
    return sorted(((op, d / total) for op, d in per_op.items()), key=lambda x: -x[1])
