"""The same probes through two int8 graphs: does a quantisation method change what users get? (issue 34)

    python experiments/int8_methods.py --old-artifact OLD --new-artifact NEW --out docs/results/int8-methods.md

Family rows of the stress panel are the torch probe's and do not depend on the graph; the evaluation-only sets are
what users run, so each is scored whole by both artifacts' int8 graphs at their manifests' thresholds (the
protocol of old_vs_new.py's evaluation-only rows), with the rows where the two disagree counted.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from old_vs_new import TASK_DATA  # experiments/ is on the path when this script runs

from lec_onnx.export.panel import read_set, row_metrics
from lec_onnx.export.probe import HARMLESS_LABELS

EVAL_SETS = {task: evals for task, (_, _, evals, _, _) in TASK_DATA.items()}  # old_vs_new's evaluation-only sets


def scores(artifact: str, texts: list[str], systems: list) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """Every task's flag score of every row (2 threads), and the manifest's thresholds."""
    from lec_onnx import Classifier
    clf = Classifier.load(artifact, threads=2)
    results = clf.classify(texts, system=systems)
    thresholds = {t: spec.threshold for t, spec in clf.tasks.items()}
    return {t: np.array([r[t].score for r in results]) for t in clf.tasks}, thresholds


def compare(old: str, new: str, eval_dir: str) -> list[dict]:
    rows = []
    for name in sorted({n for sets in EVAL_SETS.values() for n in sets}):
        ds = read_set(f"{eval_dir}/{name}.jsonl", None, "data/heldout-sha256.txt")
        positive = np.array([label.lower() not in HARMLESS_LABELS for label in ds.label])
        (old_scores, old_thr), (new_scores, new_thr) = (scores(a, list(ds.text), list(ds.system)) for a in (old, new))
        for task in (t for t, sets in EVAL_SETS.items() if name in sets):
            flips = int(np.sum((old_scores[task] >= old_thr[task]) != (new_scores[task] >= new_thr[task])))
            rows.append({"set": name, "task": task, "rows": len(ds), "labels_changed": flips,
                         "max_score_change": round(float(np.abs(old_scores[task] - new_scores[task]).max()), 4),
                         "old": row_metrics(positive, old_scores[task], old_thr[task]),
                         "new": row_metrics(positive, new_scores[task], new_thr[task])})
            print(json.dumps(rows[-1]), flush=True)
    return rows


def markdown(rows: list[dict], old: str, new: str) -> str:
    lines = ["| task | evaluation-only set (whole) | rows | F1 old | F1 new | AUC old | AUC new | labels changed |",
             "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        auc = [r[k].get("auc") for k in ("old", "new")]
        lines.append(f"| {r['task']} | {r['set']} | {r['rows']} | {r['old']['f1']:.4f} | {r['new']['f1']:.4f} | "
                     + " | ".join("-" if a is None else f"{a:.4f}" for a in auc) + f" | {r['labels_changed']} |")
    return f"Old: `{old}`; new: `{new}` (int8 graphs, manifest thresholds).\n\n" + "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--old-artifact", default="artifacts/default")
    ap.add_argument("--new-artifact", required=True)
    ap.add_argument("--eval-dir", default="../shared/data/eval-only")
    ap.add_argument("--out", default="docs/results/int8-methods.md")
    args = ap.parse_args()
    rows = compare(args.old_artifact, args.new_artifact, args.eval_dir)
    Path(args.out).write_text(markdown(rows, args.old_artifact, args.new_artifact))
    Path(args.out).with_suffix(".json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
