"""`lec-onnx fit` and `Classifier.fit`: a new head from a few dozen labelled rows, fitted on the artifact's own graph.

The rows are scored once by the artifact's int8 graph, which outputs the pooled states its heads read
(`features.layer<k>.<pooling>`, manifest `features`). A logistic regression (L2, standardised, the standardisation
folded into the weights: `lec_onnx.export.probe.LECProbe`, which needs scikit-learn, not torch) is fitted on them;
its Gemm and Sigmoid are appended to a copy of the graph, output named after the task, as export does.

Choice, by stratified k-fold cross-validation on the given rows (folds by text; every window of a text carries its
label; a text's score is its highest-scoring window's, as the runtime decides): the feature (one of the exposed
pooled states, or a concatenation of them) and C with the highest out-of-fold ROC AUC (ties: fewer features, then
stronger regularisation), then the threshold with the highest F1 of the flagged label on those out-of-fold scores.
The figures reported are these out-of-fold F1 and AUC: chosen on the same folds, so slightly optimistic.
Needs the fit extra (scikit-learn, onnx); nothing here executes code when an artifact loads.
"""
from __future__ import annotations

import dataclasses
import datetime
import os
import shutil
import tempfile
import hashlib
import itertools
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lec_onnx.errors import ArtifactError, InputError
from lec_onnx.manifest import INT8_GRAPH, PARITY_ROWS_FILE, ROLES, Task, write_manifest

CS = (0.001, 0.003, 0.01, 0.03, 0.1, 0.3, 1.0)  # inverse L2 strengths tried (standardised features)
FOLDS = 5
MIN_ROWS_PER_CLASS = 10  # fewer: refused, cross-validation would be noise
FEW_ROWS_PER_CLASS = 30  # fewer: a warning, the figures are uncertain
PARITY_ROWS = 500  # the fitted rows shipped as the new task's parity rows, at most
TASK_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")
SELECTION_RULE = (f"stratified {FOLDS}-fold cross-validation on the given rows: feature and C by out-of-fold ROC AUC "
                  "(ties: fewer features, smaller C), threshold by out-of-fold F1 of the flagged label")


@dataclass(frozen=True)
class LabelledRows:
    """The rows to fit: texts, their system prompts, y (1 = flagged) and the labels (harmless first)."""
    texts: list[str]
    systems: list[str | None]
    y: np.ndarray
    labels: tuple[str, str]

    def sha256(self) -> str:
        """The rows' digest (text, system, label of each, in order): which rows a head was fitted on."""
        h = hashlib.sha256()
        for text, system, y in zip(self.texts, self.systems, self.y):
            h.update(json.dumps([text, system, self.labels[int(y)]], ensure_ascii=False).encode() + b"\n")
        return h.hexdigest()

    def counts(self) -> dict[str, int]:
        return {label: int(np.sum(self.y == i)) for i, label in enumerate(self.labels)}


def labelled_rows(texts, labels, system=None, negative: str | None = None) -> LabelledRows:
    """Check the rows (two labels, no empty text, enough of each label) and name the harmless label: `negative`,
    or the most frequent one."""
    texts, labels = list(texts), [str(label) for label in labels]
    if len(texts) != len(labels):
        raise InputError(f"got {len(texts)} texts and {len(labels)} labels")
    systems = [system] * len(texts) if system is None or isinstance(system, str) else list(system)
    if len(systems) != len(texts):
        raise InputError(f"got {len(systems)} system prompts for {len(texts)} texts")
    empty = next((i for i, t in enumerate(texts) if not isinstance(t, str) or not t.strip()), None)
    if empty is not None:
        raise InputError(f"row {empty + 1} has an empty text")
    counts = Counter(labels)
    if len(counts) != 2:
        raise InputError(f"a head needs exactly two labels; the rows have {len(counts)}: "
                         f"{', '.join(sorted(counts)) or 'none'}")
    negative = negative if negative is not None else counts.most_common(1)[0][0]
    if negative not in counts:
        raise InputError(f"--negative {negative!r} is not one of the labels ({', '.join(sorted(counts))})")
    positive = next(label for label in counts if label != negative)
    scarce = {label: n for label, n in counts.items() if n < MIN_ROWS_PER_CLASS}
    if scarce:
        raise InputError(f"too few rows to fit and cross-validate: {', '.join(f'{n} {l!r}' for l, n in scarce.items())}"
                         f" (at least {MIN_ROWS_PER_CLASS} of each label)")
    y = np.array([int(label == positive) for label in labels])
    return LabelledRows(texts, systems, y, (negative, positive))


@dataclass(frozen=True)
class FittedHead:
    """The chosen head: features it reads (concatenated), C, weights on the raw features, threshold, CV figures."""
    features: tuple[str, ...]
    C: float
    coef: np.ndarray  # [1, width]
    intercept: np.ndarray  # [1]
    threshold: float
    cv_f1: float
    cv_auc: float

    def flag_scores(self, states: dict[str, np.ndarray], owner: np.ndarray, n_texts: int) -> np.ndarray:
        """Per text, the highest window's probability of the flagged label (what the graph's head gives)."""
        z = window_matrix(states, self.features).astype(np.float64) @ self.coef[0] + self.intercept[0]
        return per_text_max(1.0 / (1.0 + np.exp(-z)), owner, n_texts)


def window_matrix(states: dict[str, np.ndarray], names: tuple[str, ...]) -> np.ndarray:
    return np.concatenate([states[n] for n in names], axis=1)


def per_text_max(values: np.ndarray, owner: np.ndarray, n_texts: int) -> np.ndarray:
    out = np.full(n_texts, -np.inf)
    np.maximum.at(out, owner, values)
    return out


def candidate_features(names: list[str]) -> list[tuple[str, ...]]:
    """Each exposed feature alone, then every concatenation of them (fewer features first)."""
    return [c for k in range(1, len(names) + 1) for c in itertools.combinations(names, k)]


def out_of_fold_scores(X: np.ndarray, y: np.ndarray, owner: np.ndarray, fold: np.ndarray, C: float) -> np.ndarray:
    """Per text, the score of a probe fitted on the other folds (a text's windows stay in its fold)."""
    from lec_onnx.export.probe import LECProbe
    scores = np.zeros(len(y))
    for k in np.unique(fold):
        train = fold[owner] != k
        probe = LECProbe(C=C).fit(X[train], y[owner][train])
        held = np.flatnonzero(fold[owner] == k)
        window_scores = probe.predict_proba(X[held])[:, 1]
        texts = owner[held]
        best = per_text_max(window_scores, texts, len(y))
        scores[fold == k] = best[fold == k]
    return scores


def best_threshold(scores: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The threshold (a score seen, flag when >=) with the highest F1 of the flagged label; (threshold, F1)."""
    order = np.argsort(-scores)
    tp = np.cumsum(y[order])
    f1 = 2 * tp / (np.arange(1, len(y) + 1) + y.sum())
    distinct = np.r_[scores[order][1:] != scores[order][:-1], True]  # a cut between tied scores is no threshold
    f1 = np.where(distinct, f1, -1.0)
    best = int(np.argmax(f1))
    return float(scores[order][best]), float(f1[best])


def fit_head(states: dict[str, np.ndarray], owner: np.ndarray, y: np.ndarray, Cs=CS, folds: int = FOLDS,
             seed: int = 0) -> FittedHead:
    """Choose the feature, C and threshold by cross-validation (module docstring), then fit on every row."""
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold

    from lec_onnx.export.probe import LECProbe
    fold = np.zeros(len(y), int)
    splitter = StratifiedKFold(n_splits=min(folds, int(np.bincount(y).min())), shuffle=True, random_state=seed)
    for k, (_, held) in enumerate(splitter.split(np.zeros(len(y)), y)):
        fold[held] = k
    best = None
    for names in candidate_features(list(states)):
        X = window_matrix(states, names)
        for C in sorted(Cs):
            scores = out_of_fold_scores(X, y, owner, fold, C)
            auc = float(roc_auc_score(y, scores))
            if best is None or auc > best[0] + 1e-9:
                best = (auc, names, C, scores)
    auc, names, C, scores = best
    threshold, f1 = best_threshold(scores, y)
    probe = LECProbe(C=C).fit(window_matrix(states, names), y[owner])
    return FittedHead(names, C, probe.coef_, probe.intercept_, threshold, f1, auc)


def fitted_task(task: str, rows: LabelledRows, head: FittedHead, features: dict, roles, trained_on) -> Task:
    """The manifest entry of a fitted head: layer and pooling of what it reads (`inputs` names it exactly)."""
    read = [features[name] for name in head.features]
    return Task(output=task, labels=rows.labels, negative_label=rows.labels[0], threshold=round(head.threshold, 6),
                layer=max(f.layer for f in read), pooling="+".join(f.pooling for f in read),
                roles=tuple(roles or ROLES), C=head.C, trained_on=tuple(trained_on or ()), trained_rows=len(rows.y),
                inputs=head.features,
                fitted={"rows": len(rows.y), "rows_sha256": rows.sha256(), "label_counts": rows.counts(),
                        "rule": SELECTION_RULE, "cv_f1": round(head.cv_f1, 4), "cv_auc": round(head.cv_auc, 4),
                        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")})


def check_task_name(clf, task: str, replace: bool) -> None:
    if not isinstance(task, str) or not TASK_NAME.fullmatch(task):
        raise InputError(f"task name {task!r}: use a letter, then letters, digits, _ or - (at most 64)")
    if task in clf.tasks and not replace:
        raise InputError(f"this artifact already has a task {task!r}: choose another name, or --replace it")
    if task in clf.manifest.features or task in clf.manifest.graph.inputs:
        raise InputError(f"{task!r} names a graph input or feature output: choose another task name")
    if not clf.manifest.features:
        raise ArtifactError("this artifact's graph exposes no features (exported before graphs output their pooled "
                            "states): re-export it, or run scripts/expose_features.py on it")
    if not clf.quantized:
        raise InputError("fit works on the int8 graph: load the classifier with precision='int8'")


def fit_classifier(clf, task: str, texts, labels, system=None, negative: str | None = None, *, replace: bool = False,
                   roles=None, trained_on=None, progress=None, Cs=CS, folds: int = FOLDS):
    """Classifier.fit: a new Classifier whose graph carries the fitted head beside the others (unsaved)."""
    check_task_name(clf, task, replace)
    rows = labelled_rows(texts, labels, system, negative)
    states, owner = clf.features(rows.texts, rows.systems, progress=progress)
    head = fit_head(states, owner, rows.y, Cs, folds)
    spec = fitted_task(task, rows, head, clf.manifest.features, roles, trained_on)
    scores = head.flag_scores(states, owner, len(rows.y))
    parity = [{"task": task, "text": t, "system": s, "label": rows.labels[int(y)], "scores": [1.0 - p, p]}
              for t, s, y, p in zip(rows.texts, rows.systems, rows.y, scores)]
    keep = np.random.default_rng(0).permutation(len(parity))[:PARITY_ROWS]
    return with_head(clf, spec, head.coef, head.intercept, [parity[i] for i in sorted(keep)])


def with_head(clf, spec: Task, coef: np.ndarray, intercept: np.ndarray, parity_rows: list[dict]):
    """A Classifier on a copy of clf's int8 graph with spec's head appended (an existing head of that name
    replaced); it keeps the graph and its parity rows in memory until save()."""
    import onnxruntime as ort

    from lec_onnx.export.heads import add_fitted_head, graph_bytes, load_graph, remove_head
    model = load_graph(clf.folder / clf.manifest.graph.int8)
    remove_head(model, spec.output)
    add_fitted_head(model, spec.output, spec.inputs, coef, intercept)
    graph = graph_bytes(model)
    tasks = {t: s for t, s in clf.tasks.items() if t != spec.output} | {spec.output: spec}
    parity = {t: figures for t, figures in clf.manifest.parity.items() if t != spec.output}
    manifest = dataclasses.replace(clf.manifest, tasks=tasks, parity=parity, files={},
                                   graph=dataclasses.replace(clf.manifest.graph, int8=INT8_GRAPH, fp32=None))
    session = ort.InferenceSession(graph, clf.session.get_session_options(), providers=clf.session.get_providers())
    fitted = type(clf)(clf.folder, manifest, session, clf.tokenizer, "int8", clf.max_length, clf.stride)
    base_rows = [r for rows in _base_parity_rows(clf).values() for r in rows if r["task"] != spec.output]
    fitted.unsaved = {"graph": graph, "parity_rows": base_rows + parity_rows, "task": spec.output}
    return fitted


def _base_parity_rows(clf) -> dict[str, list[dict]]:
    from lec_onnx.check import read_parity_rows
    return read_parity_rows(clf.folder, clf.manifest) if clf.manifest.parity_rows else {}


def save_artifact(clf, folder: Path) -> Path:
    """Write clf as an artifact folder: into a temporary folder beside it, the fitted task's parity checked there
    (the gate `lec-onnx check` runs), then renamed; on any failure nothing is left."""
    folder = Path(folder)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise InputError(f"{folder} exists and is not empty: give a new folder")
    folder.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        _write_files(clf, work)
        unsaved = clf.unsaved
        if unsaved:
            _gate_fitted_task(work, clf.manifest, unsaved["task"], type(clf).load)
        if folder.exists():
            folder.rmdir()
        os.replace(work, folder)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return folder


def _write_files(clf, work: Path) -> None:
    manifest, unsaved = clf.manifest, clf.unsaved
    shutil.copy2(clf.folder / manifest.tokenizer, work / manifest.tokenizer)
    if unsaved:
        (work / INT8_GRAPH).write_bytes(unsaved["graph"])
        with open(work / PARITY_ROWS_FILE, "w", encoding="utf-8") as f:
            f.writelines(json.dumps(r, ensure_ascii=False) + "\n" for r in unsaved["parity_rows"])
        manifest.parity_rows = PARITY_ROWS_FILE
    else:
        for name in manifest.file_names():
            if name != manifest.tokenizer:
                shutil.copy2(clf.folder / name, work / name)
    write_manifest(work, manifest)


def _gate_fitted_task(work: Path, manifest, task: str, loader) -> None:
    """Score the fitted task's parity rows with the written graph: its labels must be the fitted model's."""
    from lec_onnx.check import check_parity
    figures = check_parity(loader(work), tasks=[task])[task]
    passed = figures.pop("passed")
    if not passed:
        raise ArtifactError(f"the written graph's {task} scores disagree with the fitted model's ({figures}); "
                            "nothing was written")
    manifest.parity[task] = {"rows": figures.pop("rows"), "int8": figures, "passed": True}
    write_manifest(work, manifest)

