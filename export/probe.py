"""The LEC probe: an L2-penalised logistic regression on one layer's pooled hidden state.

A scikit-learn estimator. Standardisation is folded into the weights after fitting, so the saved probe is
exactly scores = softmax/sigmoid(W·h + b) on the raw hidden state h, the Gemm the exporter appends.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from lec_onnx.errors import InputError

from . import DEFAULT_C

PROBE_FORMAT = "lec-onnx-probe/1"
HARMLESS_LABELS = ("safe", "benign", "harmless", "negative", "no", "0", "false")


def negative_label_of(labels) -> str:
    """The label that means 'nothing to flag'."""
    return next((l for l in labels if str(l).lower() in HARMLESS_LABELS), labels[0])


class LECProbe(ClassifierMixin, BaseEstimator):
    """Logistic regression on standardised features, stored unstandardised: predict_proba(h) = σ(W·h + b)."""

    def __init__(self, C: float = DEFAULT_C, class_weight: str | None = "balanced", max_iter: int = 2000):
        self.C = C
        self.class_weight = class_weight
        self.max_iter = max_iter

    def fit(self, X, y):
        X = np.asarray(X, np.float64)
        y = np.asarray(y)
        if len(set(y.tolist())) < 2:
            raise InputError("training rows have one label only; a probe needs two labels or more")
        scaler = StandardScaler().fit(X)
        scaler.scale_[scaler.scale_ < 1e-8] = 1.0  # constant features carry no signal
        # liblinear is ~5x faster than lbfgs on these features for two classes; its penalised intercept is
        # negligible on standardised inputs with intercept_scaling=10. lbfgs gives a true softmax for more.
        binary = len(set(y.tolist())) == 2
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=self.max_iter,
                                solver="liblinear" if binary else "lbfgs", intercept_scaling=10.0)
        lr.fit((X - scaler.mean_) / scaler.scale_, y)
        self.classes_ = lr.classes_
        self.coef_ = lr.coef_ / scaler.scale_
        self.intercept_ = lr.intercept_ - self.coef_ @ scaler.mean_
        self.n_features_in_ = X.shape[1]
        return self

    def decision_function(self, X):
        z = np.asarray(X, np.float64) @ self.coef_.T + self.intercept_
        return z[:, 0] if z.shape[1] == 1 else z

    def predict_proba(self, X):
        z = np.asarray(X, np.float64) @ self.coef_.T + self.intercept_
        if z.shape[1] == 1:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            return np.stack([1 - p, p], 1)
        z = z - z.max(1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(1, keepdims=True)

    def predict(self, X):
        return self.classes_[np.argmax(self.predict_proba(X), 1)]


def probe_to_dict(probe: LECProbe) -> dict:
    """The probe's weights and labels as JSON-ready values (exact float repr)."""
    labels = [str(c) for c in probe.classes_]
    return {"labels": labels, "negative_label": negative_label_of(labels), "C": probe.C,
            "class_weight": probe.class_weight, "coef": probe.coef_.tolist(), "intercept": probe.intercept_.tolist()}


def probe_from_dict(doc: dict) -> LECProbe:
    """The inverse of probe_to_dict: a fitted LECProbe."""
    probe = LECProbe(C=doc["C"], class_weight=doc["class_weight"])
    probe.classes_ = np.array(doc["labels"])
    probe.coef_ = np.array(doc["coef"], np.float64)
    probe.intercept_ = np.array(doc["intercept"], np.float64)
    probe.n_features_in_ = probe.coef_.shape[1]
    return probe


def save_probe(probe: LECProbe, path: str | Path, **meta) -> Path:
    """Write the probe as one JSON file: weights (exact float repr), labels, and the meta given
    (task, layer, pooling, input_format, model, metrics...)."""
    path = Path(path)
    weights = probe_to_dict(probe)
    head = {k: weights.pop(k) for k in ("coef", "intercept")}
    doc = {"format": PROBE_FORMAT, "threshold": 0.5, **weights, **meta, **head}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=1))
    return path


def load_probe(path: str | Path) -> tuple[LECProbe, dict]:
    """Read a probe file: (fitted LECProbe, its meta)."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read probe {path}: {e}") from None
    if not isinstance(doc, dict) or doc.get("format") != PROBE_FORMAT:
        raise InputError(f"{path} is not a lec-onnx probe (format {PROBE_FORMAT})")
    return probe_from_dict(doc), {k: v for k, v in doc.items() if k not in ("coef", "intercept")}
