"""The draws and figures of experiments/fit_learning_curve.py (docs/fit.md): per data set and size, 5 balanced
draws; the head `lec-onnx fit` would fit (lec_onnx.fit.fit_head, the same choice of feature, C and threshold),
TF-IDF + LR (word 1-2 grams, balanced, threshold 0.5) on the same rows, and the shipped heads at their
thresholds; binary F1 of the flagged label and ROC AUC on every row not drawn."""
from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def shipped_scores(states: dict, owner: np.ndarray, n: int, task: str) -> tuple[np.ndarray, float]:
    """The shipped head's scores from its Gemm weights on the cached features (what the graph computes)."""
    import onnx
    from onnx import numpy_helper

    from lec_onnx.fit import per_text_max
    from lec_onnx.manifest import read_manifest
    folder, manifest = read_manifest(ROOT / "artifacts" / "default")
    weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(folder / "model.onnx")).graph.initializer
               if t.name.startswith(f"head_{task}.")}
    spec = manifest.tasks[task]
    z = states[spec.inputs[0]].astype(np.float64) @ weights[f"head_{task}.weight"][0] + weights[f"head_{task}.bias"][0]
    return per_text_max(1 / (1 + np.exp(-z)), owner, n), spec.threshold


def balanced_draw(y: np.ndarray, size: int, seed: int) -> np.ndarray:
    rng = random.Random(seed)
    picks = [rng.sample(list(np.flatnonzero(y == c)), size // 2) for c in (0, 1)]
    return np.array(sorted(picks[0] + picks[1]))


def figures(y: np.ndarray, scores: np.ndarray, threshold: float) -> tuple[float, float]:
    from sklearn.metrics import f1_score, roc_auc_score
    return float(f1_score(y, scores >= threshold)), float(roc_auc_score(y, scores))


def one_draw(states, owner, y, texts, train: np.ndarray) -> dict:
    """Fitted head and TF-IDF + LR on the drawn rows, judged on the rest."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from lec_onnx.fit import fit_head
    rest = np.setdiff1d(np.arange(len(y)), train)
    keep = np.isin(owner, train)
    remap = {t: i for i, t in enumerate(train)}
    head = fit_head({k: v[keep] for k, v in states.items()}, np.array([remap[o] for o in owner[keep]]), y[train])
    fitted = figures(y[rest], head.flag_scores(states, owner, len(y))[rest], head.threshold)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    lr = LogisticRegression(class_weight="balanced", max_iter=2000)
    lr.fit(vectorizer.fit_transform([texts[i] for i in train]), y[train])
    tfidf = figures(y[rest], lr.predict_proba(vectorizer.transform([texts[i] for i in rest]))[:, 1], 0.5)
    return {"fitted": fitted, "tfidf": tfidf, "features": "+".join(head.features), "C": head.C}


def run_curves(cache: Path, sizes, draws: int, shipped: dict) -> None:
    results = {}
    for name, tasks in shipped.items():
        data = np.load(cache / f"{name}.npz")
        owner, y = data["owner"], data["y"]
        states = {k: data[k] for k in data.files if k.startswith("features.")}
        texts = json.loads((cache / f"{name}.texts.json").read_text())
        entry = results[name] = {"rows": len(y), "positives": int(y.sum()), "shipped": {}, "sizes": {}}
        for task in tasks:
            scores, threshold = shipped_scores(states, owner, len(y), task)
            entry["shipped"][task] = figures(y, scores, threshold)
        for size in sizes:
            if size // 2 > min(y.sum(), len(y) - y.sum()) - 10:
                continue
            runs = [one_draw(states, owner, y, texts, balanced_draw(y, size, seed)) for seed in range(draws)]
            entry["sizes"][size] = {k: np.mean([r[k] for r in runs], 0).round(3).tolist() for k in ("fitted", "tfidf")}
            entry["sizes"][size]["features"] = sorted({r["features"] for r in runs})
            print(name, size, entry["sizes"][size], flush=True)
    (DOCS / "fit.json").write_text(json.dumps(results, indent=1))
    plot(results, DOCS / "fit.png")


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), sharey=True)
    for ax, (name, entry) in zip(np.atleast_1d(axes), results.items()):
        sizes = [int(s) for s in entry["sizes"]]
        ax.plot(sizes, [entry["sizes"][s]["fitted"][0] for s in entry["sizes"]], "o-", label="lec-onnx fit")
        ax.plot(sizes, [entry["sizes"][s]["tfidf"][0] for s in entry["sizes"]], "s--", label="TF-IDF + LR")
        for task, (f1, _) in entry["shipped"].items():
            ax.axhline(f1, color="grey", linestyle=":", label=f"shipped {task}")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("labelled rows (balanced)")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("F1 of the flagged label, rows not drawn")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
