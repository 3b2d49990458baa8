"""Quality on the test split: the int8 artifacts, the fp32 PyTorch probe at the same layer, and TF-IDF + LR.

Every classifier is scored on the same rows: the test split of the capped data the bench probes were trained
with (`lec-onnx train --cap`), subsampled with a fixed seed. The bench probes and TF-IDF saw only the train split.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.metrics import roc_auc_score, roc_curve

from bench_artifacts import FEATURE_CACHE, MAX_LENGTH, ROOT, TASK_DATA, BenchModel

MAX_FPR = 0.01


@dataclass
class TaskSet:
    task: str
    data: object  # lec_onnx.export.data.Dataset (train and test rows of the capped data)
    train: np.ndarray
    rows: np.ndarray  # the scored test rows
    positive: str  # the label to flag
    negative: str
    test_rows: int  # test rows before the single-window filter and the subsample
    single_window: int  # of those, how many fit one window of every artifact


def fits_one_window(clf, text: str, system: str | None) -> bool:
    """True when the formatted input is a single window (as in the export parity gate). Longer texts are scored
    as overlapping windows; with a long system prompt the runtime can cut hundreds of windows from one text,
    which would make a decoder's test run take hours."""
    from lec_onnx.classifier import InputError, encode_parts, windows
    try:
        parts, types = encode_parts(clf.tokenizer, clf.input_format, text, system)
        return len(windows(parts, types, clf.max_length, 0)) == 1
    except InputError:
        return False


def task_set(task: str, max_rows: int, classifiers: list) -> TaskSet:
    """The capped data, its split, and up to max_rows test rows that fit one window of every classifier."""
    from lec_onnx.export.probe import negative_label_of
    from lec_onnx.export.sweep import prepare_data, split_indices
    files, cap = TASK_DATA[task]
    data = prepare_data([str(ROOT / f) for f in files], cap)
    train, test = split_indices(data)
    fitting = [i for i in test if all(fits_one_window(c, data.text[i], data.system[i]) for c in classifiers)]
    rows = np.sort(np.random.default_rng(0).permutation(np.array(fitting, int))[:max_rows])
    negative = negative_label_of(data.labels)
    positive = next(l for l in data.labels if l != negative)
    return TaskSet(task, data, train, rows, positive, negative, len(test), len(fitting))


def scores_metrics(ts: TaskSet, predicted: list[str], flag_scores: np.ndarray) -> dict:
    """Weighted F1 / precision / recall, ROC-AUC, and recall of the flagged label at <= 1% false positives."""
    from lec_onnx.export.sweep import metrics
    y = [ts.data.label[i] for i in ts.rows]
    out = metrics(y, predicted, flag_scores, ts.positive)
    is_pos = np.array(y) == ts.positive
    fpr, tpr, _ = roc_curve(is_pos, flag_scores)
    out["recall_at_1pct_fpr"] = round(float(tpr[fpr <= MAX_FPR].max()), 4)
    out["negatives"] = int((~is_pos).sum())
    if "roc_auc" not in out:
        out["roc_auc"] = round(float(roc_auc_score(is_pos, flag_scores)), 4)
    return out


def score_artifact(clf, ts: TaskSet) -> dict:
    """The int8 graph through Classifier.classify, as a user would run it."""
    texts = [ts.data.text[i] for i in ts.rows]
    systems = [ts.data.system[i] for i in ts.rows]
    results = clf.classify(texts, systems)
    predicted = [r[ts.task].label for r in results]
    flag = np.array([r[ts.task].score for r in results])
    return scores_metrics(ts, predicted, flag)


def score_tfidf(ts: TaskSet) -> dict:
    from lec_onnx.export.sweep import text_for_tfidf, tfidf_model
    texts = text_for_tfidf(ts.data)
    y = np.array(ts.data.label)
    model = tfidf_model().fit([texts[i] for i in ts.train], y[ts.train])
    proba = model.predict_proba([texts[i] for i in ts.rows])
    flag = proba[:, list(model.classes_).index(ts.positive)]
    return scores_metrics(ts, list(model.predict([texts[i] for i in ts.rows])), flag)


def score_torch_probe(model: BenchModel, loaded, ts: TaskSet) -> dict | None:
    """The bench probe on fp32 PyTorch features of its layer (first window only), read from the feature cache
    that `lec-onnx train` filled; None when the cache is missing (computing it would mean a full extraction)."""
    from lec_onnx.export.features import extract, feature_key
    from lec_onnx.export.probe import load_probe
    key = feature_key(loaded, ts.data.text, ts.data.system, MAX_LENGTH)
    if not (FEATURE_CACHE / key / "done.json").exists() or not model.probe(ts.task).exists():
        return None
    probe, meta = load_probe(model.probe(ts.task))
    feats = extract(loaded, ts.data.text, ts.data.system, MAX_LENGTH, cache=FEATURE_CACHE, poolings=("mean",))
    X = np.asarray(feats["mean"][ts.rows, meta["layer"]], np.float64)
    proba = probe.predict_proba(X)
    flag = proba[:, list(probe.classes_).index(ts.positive)]
    return scores_metrics(ts, list(probe.predict(X)), flag)
