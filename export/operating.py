"""Operating points: Platt calibration folded into a probe's Gemm, and the rule that picks a task's threshold.

Both are fitted on out-of-family predictions (each row scored by a probe that never saw its family of sources,
see panel.py), so "0.9" means about 90% on data like nothing the probe was trained on, not on its own rows.
Folding keeps the runtime and the graph unchanged: σ(a·(w·h + b0) + b) = σ((a·w)·h + (a·b0 + b)).
"""
from __future__ import annotations

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from lec_onnx.errors import InputError

from .probe import LECProbe

THRESHOLD_RULES = ("max-f1", "family-f1", "family-regret", "hard-negative-fpr")


def fit_platt(z, positive) -> tuple[float, float]:
    """(a, b) such that σ(a·z + b) is calibrated on these decision values. positive: bool per row."""
    positive = np.asarray(positive, bool)
    if positive.all() or not positive.any():
        raise InputError("calibration needs out-of-family predictions of both labels")
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(np.asarray(z, np.float64)[:, None], positive)
    return float(lr.coef_[0, 0]), float(lr.intercept_[0])


def fold_platt(probe: LECProbe, a: float, b: float) -> LECProbe:
    """A copy of a binary probe whose raw output is the calibrated score: coef·a, intercept·a + b."""
    if probe.coef_.shape[0] != 1:
        raise InputError("Platt folding applies to binary probes (one logit)")
    folded = LECProbe(C=probe.C, class_weight=probe.class_weight, max_iter=probe.max_iter)
    folded.classes_ = probe.classes_
    folded.coef_ = probe.coef_ * a
    folded.intercept_ = probe.intercept_ * a + b
    folded.n_features_in_ = probe.n_features_in_
    return folded


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, np.float64)))


def choose_threshold(scores, positive, rule: str = "max-f1", hard_negative=None, max_fpr: float = 0.05,
                     groups=None) -> float:
    """The decision threshold on calibrated scores.

    max-f1: the threshold that maximises weighted F1 over the rows given.
    family-f1: the threshold that maximises the mean weighted F1 over groups, a list of (positive, scores) per
    held-out family, each family counted once: the largest family (thousands of toxic statements) does not set
    the threshold for all the others.
    family-regret: the threshold at which the largest shortfall of any held-out family, against that family's F1
    at its own best threshold, is smallest (ties: the best mean). No unseen kind of text pays for the others, and a
    family no threshold serves (near-chance scores) does not dictate one.
    hard-negative-fpr: the lowest threshold (most recall) that flags at most max_fpr of the hard-negative rows
    (harmless texts that sound risky; a bool mask), never below the max-f1 one.
    """
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    if rule not in THRESHOLD_RULES:
        raise InputError(f"unknown threshold rule {rule!r}; use {', '.join(THRESHOLD_RULES)}")
    candidates = np.unique(np.concatenate([np.quantile(scores, np.linspace(0.005, 0.995, 199)), [0.5]]))
    if rule in ("family-f1", "family-regret"):
        if not groups:
            raise InputError(f"the {rule} rule needs the held-out families' scores")
        f1 = np.array([[f1_score(np.asarray(y, bool), np.asarray(s) >= t, average="weighted", zero_division=0)
                        for y, s in groups] for t in candidates])
        mean = f1.mean(1)
        if rule == "family-regret":  # the smallest worst shortfall first, then the best mean among those
            regret = (f1.max(0) - f1).max(1)
            mean = np.where(np.isclose(regret, regret.min()), mean, -np.inf)
        return float(candidates[int(np.argmax(mean))])
    f1 = [f1_score(positive, scores >= t, average="weighted", zero_division=0) for t in candidates]
    best = float(candidates[int(np.argmax(f1))])
    if rule == "max-f1":
        return best
    hard = np.asarray(hard_negative, bool) if hard_negative is not None else np.zeros(len(scores), bool)
    if not (hard & ~positive).any():
        raise InputError("the hard-negative-fpr rule needs hard-negative rows")
    negatives = np.sort(scores[hard & ~positive])
    # flag at most floor(max_fpr * n) of them: the threshold sits just above the score of the next one
    allowed = int(np.floor(max_fpr * len(negatives)))
    cut = float(np.nextafter(negatives[len(negatives) - allowed - 1], np.inf))
    return max(best, cut)
