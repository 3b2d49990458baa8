"""Old default vs new recipe on every stress-panel row and every evaluation-only set, per task.

    python scripts/old_vs_new.py --panels build/panel/minilm --out docs/results/old_vs_new.md [--eval-dir ...]

"Old" is the shipped artifact (artifacts/default, int8 ONNX, its own thresholds) as users run it: its
content_safety head also stands in for toxicity, which it lacked. It was trained on the v1 sources, so on the
v1 families it is in-distribution (an advantage for it); every v2 family and evaluation-only set is unseen by both.
"New" is the best configuration of each panel (panel.json): out-of-family scores on the families, the probe
trained on the whole mix on the evaluation-only sets, calibrated, at its chosen threshold.
Old scores are cached in build/old_scores/ (one .npy per data set).
"""
from __future__ import annotations

import argparse
import hashlib
import json
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lec_onnx import Classifier
from lec_onnx.export.panel import PanelData, best_config, family_rows, load_panel_data, row_metrics

OLD_HEAD = {"content_safety": "content_safety", "toxicity": "content_safety", "prompt_injection": "prompt_injection"}
METRICS = (("f1", "F1"), ("auc", "AUC"), ("recall@5%fpr", "R@5%FPR"))


def old_scores(clf: Classifier, head: str, texts, systems, cache: Path) -> tuple[np.ndarray, float]:
    """Scores of the shipped artifact's head (the flag label's probability) and its threshold."""
    key = hashlib.sha256(json.dumps([head, texts, systems]).encode()).hexdigest()[:16]
    path = cache / f"{key}.npy"
    spec = clf.tasks[head]
    if not path.exists():
        out = []
        for start in tqdm(range(0, len(texts), 64), desc=f"old default {head}", unit="batch"):
            res = clf.classify(texts[start:start + 64], systems[start:start + 64])
            out += [r[head].score for r in res]
        cache.mkdir(parents=True, exist_ok=True)
        np.save(path, np.array(out))
    return np.load(path), spec["threshold"]


def compare(task: str, panel: dict, data: PanelData, evals: dict, clf: Classifier, cache: Path) -> list[dict]:
    head = OLD_HEAD[task]
    best = best_config(panel)
    p, t = old_scores(clf, head, data.train.text, data.train.system, cache)
    old_rows = family_rows(data, p, t)
    rows = [{"row": f"held out: {fam}", "old": old_rows[fam], "new": best["families"][fam]} for fam in best["families"]]
    for name, (ds, y) in evals.items():
        pe, te = old_scores(clf, head, ds.text, ds.system, cache)
        rows.append({"row": f"eval-only: {name}", "old": row_metrics(y, pe, te), "new": best["eval_only"][name]})
    return rows


def markdown(task: str, rows: list[dict], best: dict) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    head = " | ".join(f"old {n} | new {n}" for _, n in METRICS)
    lines = [f"#### {task} (new: layer {best['layer']}, {best['pooling']}, C = {best['C']}, threshold "
             f"{best['threshold']:.2f})", "", f"| panel row | rows | {head} |", "|---|---|" + "---|---|" * len(METRICS)]
    for r in rows:
        cells = " | ".join(f"{fmt(r['old'][k])} | **{fmt(r['new'][k])}**" if (r['new'][k] or 0) > (r['old'][k] or 0)
                           else f"{fmt(r['old'][k])} | {fmt(r['new'][k])}" for k, _ in METRICS)
        lines.append(f"| {r['row']} | {r['new'].get('family_rows', r['new']['n'])} | {cells} |")
    return "\n".join(lines) + "\n"


TASK_DATA = {  # the same files and options as scripts/panels_minilm.sh
    "content_safety": (["data/content_safety.jsonl", "data/overrefusal.jsonl"], ["data/toxicity.jsonl"],
                       ["oktest", "toxicchat"]),
    "toxicity": (["data/toxicity.jsonl"], [], ["toxicchat", "ethos", "decodingtrust-toxicity",
                                               "decodingtrust-stereotype"]),
    "prompt_injection": (["data/prompt_injection.jsonl"], [], ["sep-should-it-be-executed", "toxicchat-jailbreak"]),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--panels", default="build/panel/minilm")
    ap.add_argument("--eval-dir", default="../shared/data/eval-only")
    ap.add_argument("--cap", type=int, default=600)
    ap.add_argument("--eval-cap", type=int, default=500)
    ap.add_argument("--out", default="docs/results/old_vs_new.md")
    args = ap.parse_args()
    clf = Classifier.load(None, threads=1)
    parts, summary = [], {}
    for task, (files, negatives, evals) in TASK_DATA.items():
        panel_file = Path(args.panels) / task / "panel.json"
        if not panel_file.exists():
            continue
        panel = json.loads(panel_file.read_text())
        data, eval_sets = load_panel_data(task, files, negatives, [f"{args.eval_dir}/{e}.jsonl" for e in evals],
                                          args.cap, args.eval_cap, "data/heldout-sha256.txt")
        data = PanelData(task, data.train, excluded=frozenset(panel.get("exclude", [])))
        rows = compare(task, panel, data, eval_sets, clf, Path("build/old_scores"))
        parts.append(markdown(task, rows, panel["best"]))
        summary[task] = rows
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(parts))
    Path(args.out).with_suffix(".json").write_text(json.dumps(summary, indent=1))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
