"""The parity check: does this machine's onnxruntime give the labels the torch probe gave at export?

Export stores the gate's rows (text, system prompt, true label, the torch probe's scores) in the artifact; the
same check runs at export (the gate) and on a user's machine (`lec-onnx check`), with no torch needed. int8
kernels differ between CPUs, so a figure measured on one machine is re-measured where the artifact runs.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from .errors import ArtifactError
from .manifest import Manifest, Task, decide

MIN_LABEL_AGREEMENT = 0.99  # int8 labels vs the torch probe's, per task
MAX_F1_GAP = 0.01  # |weighted F1 of int8 - of torch| against the true labels
# Export asks for this much more, so that an artifact passing at export passes on CPUs whose int8 kernels
# round a little differently.
EXPORT_MARGIN = {"agreement": 0.005, "f1": 0.005}


def cpu_int8_path() -> str:
    """Which int8 kernels onnxruntime picks on this CPU (they round a little differently): vnni, avx512, avx2."""
    import platform
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text() if cpuinfo.exists() else platform.processor()
    return next((name for name, flag in (("vnni", "vnni"), ("avx512", "avx512bw"), ("avx2", "avx2"))
                 if flag in flags), "other")


def weighted_f1(y_true: list[str], y_pred: list[str]) -> float:
    """F1 per label weighted by the label's support (scikit-learn's average="weighted")."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    total = 0.0
    for label in np.unique(y_true):
        tp = np.sum((y_pred == label) & (y_true == label))
        predicted, actual = np.sum(y_pred == label), np.sum(y_true == label)
        f1 = 2 * tp / (predicted + actual) if predicted + actual else 0.0
        total += f1 * actual
    return float(total / len(y_true))


def parity_figures(task: Task, truth: list[str], reference: np.ndarray, scores: np.ndarray) -> dict:
    """Label agreement, F1 gap and the largest score difference of a graph's scores against the torch probe's."""
    y_ref, y_got = decide(reference, task), decide(scores, task)
    return {"rows": len(truth), "label_agreement": round(float(np.mean(np.array(y_ref) == np.array(y_got))), 4),
            "f1_torch": round(weighted_f1(truth, y_ref), 4), "f1_onnx": round(weighted_f1(truth, y_got), 4),
            "max_abs_score_diff": round(float(np.abs(scores - reference).max()), 6)}


def passes(figures: dict, margin: bool = False) -> bool:
    agreement = MIN_LABEL_AGREEMENT + (EXPORT_MARGIN["agreement"] if margin else 0.0)
    gap = MAX_F1_GAP - (EXPORT_MARGIN["f1"] if margin else 0.0)
    return figures["label_agreement"] >= agreement and abs(figures["f1_torch"] - figures["f1_onnx"]) <= gap


def read_parity_rows(folder: Path, manifest: Manifest) -> dict[str, list[dict]]:
    """{task: [{text, system, label, scores}]} from the artifact's parity rows file."""
    if not manifest.parity_rows:
        raise ArtifactError("this artifact carries no parity rows (exported by an older lec-onnx): re-export it")
    rows: dict[str, list[dict]] = {}
    with open(folder / manifest.parity_rows, encoding="utf-8") as f:
        for line in f:
            row = json.loads(line)
            rows.setdefault(row["task"], []).append(row)
    return rows


def check_parity(clf, margin: bool = False, tasks: list[str] | None = None) -> dict[str, dict]:
    """Re-score the artifact's parity rows with this Classifier (all tasks, or those given): {task: figures +
    "passed"}."""
    out = {}
    for task, rows in read_parity_rows(clf.folder, clf.manifest).items():
        if tasks is not None and task not in tasks:
            continue
        spec = clf.tasks[task]
        role = "prompt" if "prompt" in spec.roles else "response"
        results = clf.classify([r["text"] for r in rows], [r["system"] for r in rows], role=role)
        scores = np.array([[res[task].scores[l] for l in spec.labels] for res in results])
        figures = parity_figures(spec, [r["label"] for r in rows], np.array([r["scores"] for r in rows]), scores)
        out[task] = dict(figures, passed=passes(figures, margin))
    return out
