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
from .manifest import Manifest, Task, decide, flag_scores

MIN_LABEL_AGREEMENT = 0.99  # int8 labels vs the torch probe's, per task, on the rows clear of the threshold
MAX_F1_GAP = 0.01  # |weighted F1 of int8 - of torch| against the true labels
# What int8 may do to a score, and so where a label may flip. A row's label changes only when the int8 error is
# larger than the row's distance to the threshold. A calibrated head puts many rows near its threshold (the
# threshold sits where the classes overlap), so plain label agreement mostly counts how crowded that region is,
# not how large the error is: the same graph agreed on 98.2% of toxicity labels and on 100% of those further than
# 0.05 from the threshold. The gate therefore bounds the error (99% of rows' scores within SCORE_MARGIN of
# torch's) and asks label agreement on the rows further than SCORE_MARGIN from the threshold, where an error that
# size cannot flip them; the F1 gap still counts every row. Within the margin a label is a coin toss for torch too.
SCORE_MARGIN = 0.05
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


def decision_margin(probs: np.ndarray, task: Task) -> np.ndarray:
    """Per row, how far its probabilities are from another label: |flag score - threshold| for a binary task,
    half the gap between the two most likely labels otherwise (each may move by that much before they swap)."""
    if len(task.labels) == 2:
        return np.abs(flag_scores(probs, task) - task.threshold)
    top = np.sort(probs, 1)
    return (top[:, -1] - top[:, -2]) / 2


def parity_figures(task: Task, truth: list[str], reference: np.ndarray, scores: np.ndarray) -> dict:
    """A graph's scores against the torch probe's: label agreement (all rows, and the rows clear of the threshold),
    F1 gap, and the score error (99th percentile and largest over rows, each row's largest over labels)."""
    agree = np.array(decide(reference, task)) == np.array(decide(scores, task))
    clear = decision_margin(reference, task) > SCORE_MARGIN
    error = np.abs(scores - reference).max(1)
    return {"rows": len(truth), "label_agreement": round(float(agree.mean()), 4),
            "agreement_clear_of_threshold": round(float(agree[clear].mean()) if clear.any() else 1.0, 4),
            "rows_near_threshold": round(float(1 - clear.mean()), 4),
            "f1_torch": round(weighted_f1(truth, decide(reference, task)), 4),
            "f1_onnx": round(weighted_f1(truth, decide(scores, task)), 4),
            "p99_abs_score_diff": round(float(np.percentile(error, 99)), 6),
            "max_abs_score_diff": round(float(error.max()), 6)}


def passes(figures: dict, margin: bool = False) -> bool:
    """The gate (SCORE_MARGIN says why): labels clear of the threshold agree, 99% of scores are within the margin,
    weighted F1 is kept; `margin`: export's stricter figures."""
    agreement = MIN_LABEL_AGREEMENT + (EXPORT_MARGIN["agreement"] if margin else 0.0)
    gap = MAX_F1_GAP - (EXPORT_MARGIN["f1"] if margin else 0.0)
    return (figures["agreement_clear_of_threshold"] >= agreement and figures["p99_abs_score_diff"] <= SCORE_MARGIN
            and abs(figures["f1_torch"] - figures["f1_onnx"]) <= gap)


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
