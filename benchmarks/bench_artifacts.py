"""The artifacts the benchmark compares: the shipped default plus ones it builds itself into build/bench/<model>.

Every built artifact uses the same recipe (mean pooling, 256-token windows, probes from `lec-onnx train`, graphs
from `lec-onnx export`, int8 and fp32) at a mid-depth layer. The probes are fitted on the *train* split only (no
--all-rows) so that the test split the quality section scores on is really unseen.
"""
from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS_DIR = Path.home() / ".cache" / "lec-onnx" / "models"
BENCH_DIR = ROOT / "build" / "bench"
FEATURE_CACHE = BENCH_DIR / "features"  # memory-mapped features from `train`; the quality section reuses them
LEC = [str(Path(sys.executable).with_name("lec-onnx"))]

# task -> (data files, rows per (source, label, split)); the caps bound the decoders' feature extraction time
TASK_DATA = {
    "content_safety": (["data/content_safety.jsonl", "data/overrefusal.jsonl"], 60),
    "prompt_injection": (["data/prompt_injection.jsonl"], 40),
}
MAX_LENGTH = 256
# The shipped default's C, also the best C by leave-one-source-out F1 in docs/results.md; at the CLI default
# (0.05) MiniLM's int8 graph missed the export parity gate (98.0-98.7 % label agreement on 150 rows, gate 99 %).
PROBE_C = 0.01


@dataclass(frozen=True)
class BenchModel:
    name: str  # folder name under ~/.cache/lec-onnx/models
    layer: int  # the layer the probes read (and where the graph is cut)
    layers: int  # depth of the full model

    @property
    def path(self) -> Path:
        return MODELS_DIR / self.name

    @property
    def artifact(self) -> Path:
        return BENCH_DIR / self.name

    def probe(self, task: str) -> Path:
        return BENCH_DIR / "probes" / self.name / f"{task}.json"


# Mid-depth cuts for the decoders (the chosen layers per task are in docs/results.md); MiniLM's 5 of 6 is the
# shipped default's layer, rebuilt here so the benchmark also has its fp32 graph and a train-split-only probe.
MODELS = {
    "all-MiniLM-L6-v2": BenchModel("all-MiniLM-L6-v2", 5, 6),
    "SmolLM2-135M-Instruct": BenchModel("SmolLM2-135M-Instruct", 15, 30),
    "Qwen2.5-Coder-0.5B-Instruct": BenchModel("Qwen2.5-Coder-0.5B-Instruct", 12, 24),
}
DEFAULT_ARTIFACT = ROOT / "artifacts" / "default"


def torch_threads() -> str:
    """1 torch thread when other jobs keep the cores busy: measured 3x faster than 2 on this 2-core machine then
    (2 threads spin-wait on each other while a core is taken); 2 on an idle machine."""
    return "1" if os.getloadavg()[0] > 1.0 else "2"


def train_command(model: BenchModel, task: str) -> list[str]:
    files, cap = TASK_DATA[task]
    data = [arg for f in files for arg in ("-d", str(ROOT / f))]
    return LEC + ["train", "-m", str(model.path), *data, "--task", task, "--layer", str(model.layer),
                  "--pooling", "mean", "--C", str(PROBE_C), "--max-length", str(MAX_LENGTH), "--cap", str(cap),
                  "--cache", str(FEATURE_CACHE), "--threads", torch_threads(), "-o", str(model.probe(task))]


def export_command(model: BenchModel) -> list[str]:
    probes = [arg for task in TASK_DATA for arg in ("-p", str(model.probe(task)))]
    return LEC + ["export", "-m", str(model.path), *probes, "--max-length", str(MAX_LENGTH),
                  "--parity-rows", "150", "--cache", str(FEATURE_CACHE), "--threads", torch_threads(),
                  "-o", str(model.artifact)]


def ensure_artifact(model: BenchModel, log=print) -> Path:
    """Train the two probes and export the graphs unless the artifact (with its fp32 graph) is already there."""
    if (model.artifact / "manifest.json").exists() and (model.artifact / "model.fp32.onnx").exists():
        return model.artifact
    for task in TASK_DATA:
        if not model.probe(task).exists():
            run_logged(train_command(model, task), log)
    try:
        run_logged(export_command(model), log)
    except subprocess.CalledProcessError:
        # Most likely the parity gate (int8 vs torch labels). The benchmark still wants the graphs to measure, so
        # export again without the gate; the manifest keeps the parity figures and the report shows them.
        log(f"export of {model.name} failed (parity gate?); exporting again without the gate")
        export_without_gate(model)
    return model.artifact


def export_without_gate(model: BenchModel) -> None:
    code = ("import sys, torch; from lec_onnx.export.onnx_export import export_artifact; "
            f"torch.set_num_threads({torch_threads()}); "
            "export_artifact(sys.argv[1], sys.argv[2:4], sys.argv[4], max_length=int(sys.argv[5]), "
            "parity_rows=150, cache=sys.argv[6], gate=False)")
    subprocess.run([sys.executable, "-c", code, str(model.path), *[str(model.probe(t)) for t in TASK_DATA],
                    str(model.artifact), str(MAX_LENGTH), str(FEATURE_CACHE)], cwd=ROOT, check=True)


def run_logged(cmd: list[str], log) -> None:
    log("$ " + " ".join(cmd))
    subprocess.run(cmd, cwd=ROOT, check=True)


if __name__ == "__main__":  # build without benchmarking: python benchmarks/bench_artifacts.py [model ...]
    for name in sys.argv[1:] or MODELS:
        ensure_artifact(MODELS[name])
