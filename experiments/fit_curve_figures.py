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


def shipped_heads(states, owner, n: int, tasks) -> dict[str, tuple[np.ndarray, float]]:
    """{task: (scores, threshold)}; with two heads also `either` (flagged when either head flags: the score
    max(score / threshold) over the heads, threshold 1, so its AUC ranks by the same rule)."""
    heads = {task: shipped_scores(states, owner, n, task) for task in tasks}
    if len(heads) > 1:
        heads["either"] = (np.max([s / t for s, t in heads.values()], 0), 1.0)
    return heads


def one_draw(states, owner, y, texts, train: np.ndarray, heads: dict, Cs) -> dict:
    """Fitted head, TF-IDF + LR on the drawn rows and the shipped heads, each judged on the rest."""
    import time

    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from lec_onnx.fit import fit_head
    rest = np.setdiff1d(np.arange(len(y)), train)
    keep = np.isin(owner, train)
    remap = {t: i for i, t in enumerate(train)}
    started = time.process_time()
    head = fit_head({k: v[keep] for k, v in states.items()}, np.array([remap[o] for o in owner[keep]]), y[train],
                    Cs=Cs)
    cpu = time.process_time() - started
    fitted = figures(y[rest], head.flag_scores(states, owner, len(y))[rest], head.threshold)
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)
    lr = LogisticRegression(class_weight="balanced", max_iter=2000)
    lr.fit(vectorizer.fit_transform([texts[i] for i in train]), y[train])
    tfidf = figures(y[rest], lr.predict_proba(vectorizer.transform([texts[i] for i in rest]))[:, 1], 0.5)
    shipped = {task: figures(y[rest], s[rest], t) for task, (s, t) in heads.items()}
    return {"fitted": fitted, "tfidf": tfidf, "shipped": shipped, "features": "+".join(head.features), "C": head.C,
            "fit_cpu_s": cpu}


def summary(runs: list[dict]) -> dict:
    """Means over the draws (F1, AUC pairs), the features and C chosen, the fit's CPU seconds."""
    mean = lambda values: np.mean(values, 0).round(3).tolist()  # noqa: E731
    return {"fitted": mean([r["fitted"] for r in runs]), "fitted_sd": np.std([r["fitted"] for r in runs], 0).round(3)
            .tolist(), "tfidf": mean([r["tfidf"] for r in runs]),
            "shipped": {t: mean([r["shipped"][t] for r in runs]) for t in runs[0]["shipped"]},
            "features": sorted({r["features"] for r in runs}), "C": sorted({r["C"] for r in runs}),
            "fit_cpu_s": round(float(np.mean([r["fit_cpu_s"] for r in runs])), 2)}


def run_curves(cache: Path, sizes, draws: int, shipped: dict, Cs) -> None:
    """Every data set's curve into docs/fit.json (merged with the sets already there) and docs/fit.png."""
    path = DOCS / "fit.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    for name, tasks in shipped.items():
        data = np.load(cache / f"{name}.npz")
        owner, y = data["owner"], data["y"]
        states = {k: data[k] for k in data.files if k.startswith("features.")}
        texts = json.loads((cache / f"{name}.texts.json").read_text())
        heads = shipped_heads(states, owner, len(y), tasks)
        entry = results[name] = {"rows": len(y), "positives": int(y.sum()), "windows": len(owner),
                                 "C_grid": list(Cs), "sizes": {}}
        for size in sizes:
            if size // 2 > min(y.sum(), len(y) - y.sum()) - 10:
                continue
            runs = [one_draw(states, owner, y, texts, balanced_draw(y, size, seed), heads, Cs)
                    for seed in range(draws)]
            entry["sizes"][str(size)] = summary(runs)
            print(name, size, entry["sizes"][str(size)], flush=True)
            path.write_text(json.dumps(results, indent=1))
    path.write_text(json.dumps(results, indent=1))
    plot(results, DOCS / "fit.png")


def markdown_table(path: Path = DOCS / "fit.json") -> str:
    """docs/fit.md's table: per data set and size, F1 / AUC of the fitted head, TF-IDF + LR and the shipped
    head(s), means of the draws on the rows not drawn."""
    results = json.loads(path.read_text())
    lines = ["| data set | rows | lec-onnx fit | TF-IDF + LR | shipped head(s) | feature chosen |",
             "|---|---|---|---|---|---|"]
    for name, entry in results.items():
        for size, row in entry["sizes"].items():
            shipped = ", ".join(f"{t} {f1:.3f} / {auc:.3f}" for t, (f1, auc) in row["shipped"].items()) or "none"
            features = ", ".join(f.replace("features.", "") for f in row["features"])
            lines.append(f"| {name} | {size} | {row['fitted'][0]:.3f} / {row['fitted'][1]:.3f} | "
                         f"{row['tfidf'][0]:.3f} / {row['tfidf'][1]:.3f} | {shipped} | {features} |")
    return "\n".join(lines)


def short_table(path: Path = DOCS / "fit.json", at: str = "100") -> str:
    """README's table: the fitted head's F1 per size, TF-IDF + LR and the best shipped head at `at` rows."""
    results = json.loads(path.read_text())
    sizes = sorted({int(s) for entry in results.values() for s in entry["sizes"]})
    lines = ["| F1 on rows not drawn | " + " | ".join(map(str, sizes)) + f" | TF-IDF + LR ({at}) | shipped ({at}) |",
             "|---|" + "---|" * (len(sizes) + 2)]
    for name, entry in results.items():
        row = entry["sizes"]
        if at not in row:  # a curve still running
            continue
        cells = [f"{row[str(n)]['fitted'][0]:.2f}" if str(n) in row else "" for n in sizes]
        shipped = max(row[at]["shipped"].items(), key=lambda kv: kv[1][0], default=None)
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {row[at]['tfidf'][0]:.2f} | "
                     + (f"{shipped[1][0]:.2f} ({shipped[0]})" if shipped else "none") + " |")
    return "\n".join(lines)


def plot(results: dict, path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    fig, axes = plt.subplots(1, len(results), figsize=(4 * len(results), 3.4), sharey=True)
    for ax, (name, entry) in zip(np.atleast_1d(axes), results.items()):
        sizes, rows = [int(s) for s in entry["sizes"]], list(entry["sizes"].values())
        ax.plot(sizes, [r["fitted"][0] for r in rows], "o-", label="lec-onnx fit")
        ax.plot(sizes, [r["tfidf"][0] for r in rows], "s--", label="TF-IDF + LR")
        for task, style in zip(rows[-1]["shipped"] if rows else (), (":", "-.", "--")):
            ax.plot(sizes, [r["shipped"][task][0] for r in rows], style, color="grey", label=f"shipped {task}")
        ax.set_xscale("log")
        ax.set_title(name)
        ax.set_xlabel("labelled rows (balanced)")
        ax.legend(fontsize=7)
    np.atleast_1d(axes)[0].set_ylabel("F1 of the flagged label, rows not drawn")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
