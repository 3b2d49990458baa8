"""Issue 9: calibration folded into the probe, the threshold rules, the stress panel, a toxicity head in the graph."""
from __future__ import annotations

import json

import numpy as np
import pytest

from conftest import MAX_LENGTH, int8_score_bound, labelled_rows, sentences, write_jsonl
from lec_onnx import Classifier, InputError
from lec_onnx.cli import main
from lec_onnx.export.operating import choose_threshold, fit_platt, fold_platt, sigmoid
from lec_onnx.export.panel import PanelData, evaluate, family_of, load_panel_data, recall_at_fpr, run_grid
from lec_onnx.export.data import Dataset
from lec_onnx.export.probe import LECProbe, load_probe, save_probe
from test_export_runtime import torch_reference


def separable(n=400, seed=0, shift=1.0):
    rng = np.random.default_rng(seed)
    y = rng.random(n) < 0.4
    X = rng.normal(size=(n, 8)) + shift * y[:, None] * np.array([1, 0.5, 0, 0, 0, 0, 0, -0.5])
    return X, y


def test_folded_probe_outputs_the_calibrated_scores_of_the_unfolded_one(tmp_path):
    X, y = separable()
    probe = LECProbe(C=0.1).fit(X[:300], np.where(y[:300], "unsafe", "safe"))
    a, b = fit_platt(probe.decision_function(X[300:]), y[300:])
    assert a > 0 and (a, b) != pytest.approx((1.0, 0.0))  # a real rescaling, or the test proves nothing
    folded = fold_platt(probe, a, b)
    expected = sigmoid(a * probe.decision_function(X) + b)
    np.testing.assert_allclose(folded.predict_proba(X)[:, 1], expected, rtol=1e-12)
    # what the exporter's Gemm reads: the saved weights reload to the same calibrated scores
    reloaded, meta = load_probe(save_probe(folded, tmp_path / "p.json", threshold=0.7, task="t"))
    np.testing.assert_allclose(reloaded.predict_proba(X)[:, 1], expected, rtol=1e-12)
    assert meta["threshold"] == 0.7
    # calibrated: about as many positives as the mean score says, on the rows it was fitted on
    assert abs(folded.predict_proba(X[300:])[:, 1].mean() - y[300:].mean()) < 0.02


def test_folding_and_calibration_refuse_what_they_cannot_do():
    X, y = separable()
    with pytest.raises(InputError, match="both labels"):
        fit_platt(np.arange(5.0), np.ones(5, bool))
    three = LECProbe(C=0.1).fit(X, np.array(["a", "b", "c", "a"] * 100))
    with pytest.raises(InputError, match="binary"):
        fold_platt(three, 2.0, 0.0)


def test_max_f1_threshold_separates_separable_scores():
    scores = np.array([0.1, 0.2, 0.3, 0.35, 0.6, 0.7, 0.8, 0.9])
    positive = np.array([0, 0, 0, 0, 1, 1, 1, 1], bool)
    t = choose_threshold(scores, positive, "max-f1")
    assert 0.35 < t <= 0.6


def test_hard_negative_rule_flags_at_most_the_budget_and_no_fewer():
    rng = np.random.default_rng(1)
    hard_scores = rng.uniform(0.3, 0.9, 200)  # risky-sounding harmless texts score high
    scores = np.concatenate([rng.uniform(0, 0.4, 300), hard_scores, rng.uniform(0.5, 1, 300)])
    positive = np.r_[np.zeros(500, bool), np.ones(300, bool)]
    hard = np.r_[np.zeros(300, bool), np.ones(200, bool), np.zeros(300, bool)]
    t = choose_threshold(scores, positive, "hard-negative-fpr", hard, max_fpr=0.05)
    assert np.mean(hard_scores >= t) <= 0.05
    assert np.sum(hard_scores >= np.nextafter(np.sort(hard_scores)[-11], -np.inf)) == 11  # one lower: over budget
    assert t >= choose_threshold(scores, positive, "max-f1")
    with pytest.raises(InputError, match="hard-negative rows"):
        choose_threshold(scores, positive, "hard-negative-fpr")
    with pytest.raises(InputError, match="unknown threshold rule"):
        choose_threshold(scores, positive, "best")


def test_family_rule_counts_each_family_once():
    # a large family of negatives that reach 0.6 and a small family whose positives sit at 0.3-0.5: pooled F1
    # protects the large family; the family rule trades a few of its rows for the small family's recall
    rng = np.random.default_rng(2)
    big = (np.zeros(2000, bool), rng.uniform(0.0, 0.6, 2000))
    small = (np.r_[np.ones(50, bool), np.zeros(50, bool)], np.r_[rng.uniform(0.3, 0.5, 50), rng.uniform(0, 0.2, 50)])
    groups = [big, small]
    scores, positive = np.concatenate([big[1], small[1]]), np.concatenate([big[0], small[0]])

    def mean_f1(t):
        from sklearn.metrics import f1_score
        return np.mean([f1_score(y, s >= t, average="weighted", zero_division=0) for y, s in groups])

    pooled = choose_threshold(scores, positive, "max-f1")
    family = choose_threshold(scores, positive, "family-f1", groups=groups)
    assert family < pooled
    assert mean_f1(family) > mean_f1(pooled) + 0.05
    assert all(mean_f1(family) >= mean_f1(t) for t in np.linspace(0, 1, 101))
    with pytest.raises(InputError, match="families"):
        choose_threshold(scores, positive, "family-f1")


def test_family_regret_rule_protects_the_weakest_family():
    # one family of requests sits lower (positives 0.3-0.5) than three alike (0.6-0.9): the mean is carried by the
    # three, the regret rule gives up some of their F1 so that no family falls far below its own best threshold
    from sklearn.metrics import f1_score
    rng = np.random.default_rng(3)

    def family(pos, neg, n=100):
        return np.r_[np.ones(n, bool), np.zeros(n, bool)], np.r_[rng.uniform(*pos, n), rng.uniform(*neg, n)]

    def shortfall(groups):
        """(worst shortfall of a threshold, worst shortfall on a grid of thresholds, worst F1 on that grid)"""
        grid = np.linspace(0, 1, 101)
        f1 = lambda t: np.array([f1_score(y, s >= t, average="weighted") for y, s in groups])  # noqa: E731
        table = np.array([f1(t) for t in grid])
        best = table.max(0)
        return (lambda t: float(np.max(best - f1(t)))), (best - table).max(1), table.min(1)

    def rule(name, groups):
        return choose_threshold(np.concatenate([g[1] for g in groups]), np.concatenate([g[0] for g in groups]), name,
                                groups=groups)

    groups = [family((0.3, 0.5), (0, 0.2))] + [family((0.6, 0.9), (0, 0.45)) for _ in range(3)]
    worst, on_grid, _ = shortfall(groups)
    regret, mean = rule("family-regret", groups), rule("family-f1", groups)
    assert regret < mean
    assert worst(regret) < worst(mean) - 0.05
    assert worst(regret) <= on_grid.min() + 0.01
    # a family no threshold serves (scores near chance) does not dictate the threshold, as the worst F1 would
    groups.append(family((0.5, 1), (0.45, 1), 50))
    worst, on_grid, worst_f1 = shortfall(groups)
    regret = rule("family-regret", groups)
    assert worst(regret) <= on_grid.min() + 0.01
    assert worst(regret) < on_grid[int(np.argmax(worst_f1))] - 0.2
    with pytest.raises(InputError, match="families"):
        choose_threshold(np.r_[0.1, 0.9], np.r_[False, True], "family-regret")


def test_recall_at_fpr_counts_positives_above_the_allowed_negatives():
    positive = np.r_[np.zeros(100, bool), np.ones(4, bool)]
    scores = np.r_[np.arange(100) / 100, [0.985, 0.975, 0.5, 1.5]]
    assert recall_at_fpr(positive, scores, 0.01) == 0.5  # cut at 0.98: 0.985 and 1.5 pass
    assert recall_at_fpr(positive, scores, 0.05) == 0.75  # cut at 0.94


def test_sources_fall_in_families_and_unknown_sources_stand_alone():
    assert family_of("coconot", "content_safety") == "hard negatives"
    assert family_of("system-prompt-pairs", "prompt_injection") == "system-prompt pairs"
    assert family_of("hatecheck", "toxicity") == "hatecheck"
    assert family_of("my-own-data", "content_safety") == "my-own-data"


def test_panel_on_synthetic_families_beats_the_majority_baseline():
    X, y = separable(600, 2, shift=2.0)
    sources = ["negatives-only" if not y[i] and i % 3 == 0 else f"src{i % 3}" for i in range(600)]
    splits = ["test" if i % 5 == 0 else "train" for i in range(600)]
    data = PanelData("t", Dataset([str(i) for i in range(600)], list(np.where(y, "unsafe", "safe")),
                                  [None] * 600, sources, splits))
    Xe, ye = separable(200, 3, shift=2.0)
    result = evaluate(X, data, 0.1, {"unseen": (Xe, ye)})
    p = max(np.mean(y), 1 - np.mean(y))
    majority_f1 = 2 * p * p / (1 + p)  # weighted F1 of always answering the majority label
    assert set(result["families"]) == {"src0", "src1", "src2", "negatives-only"}
    for row in list(result["families"].values()) + [result["eval_only"]["unseen"]]:
        assert row["auc"] > 0.9 and row["f1"] > majority_f1 + 0.2
    # a one-label family meets the other families' unsafe test rows: an AUC exists, the row count says so
    lone = result["families"]["negatives-only"]
    unsafe_test = sum(y[i] and splits[i] == "test" for i in range(600))
    assert lone["positives"] == unsafe_test and lone["n"] == lone["family_rows"] + unsafe_test
    assert 0 < result["threshold"] < 1 and result["platt"][0] > 0
    # negatives_flagged: the family's own harmless rows over the threshold, not the complement's unsafe ones
    assert lone["negatives_flagged"] < 0.2 < lone["flag_rate"]
    mixed = result["families"]["src1"]
    assert 0 <= mixed["negatives_flagged"] < 0.2


def test_rank_by_f1_prefers_one_threshold_for_all_families_over_a_perfect_ranking_within_each():
    rng = np.random.default_rng(5)
    n = 600
    y = np.arange(n) % 2 == 1
    family = np.arange(n) // 200  # three families, both labels in each
    # layer 0: perfect order inside each family, but each family sits higher than the last: no threshold fits all
    # layer 1: some overlap, the same scale everywhere
    layers = np.stack([y + 3.0 * family + rng.normal(0, 0.05, n), y + rng.normal(0, 0.7, n)], 1)[:, :, None]
    data = PanelData("t", Dataset([str(i) for i in range(n)], list(np.where(y, "unsafe", "safe")), [None] * n,
                                  [f"src{f}" for f in family], ["test" if i % 5 == 0 else "train" for i in range(n)]))
    features = {"mean": np.concatenate([layers, rng.normal(0, 1, (n, 2, 1))], 2)}  # a noise column keeps 2-D
    by_auc = run_grid(features, data, {}, [0, 1], ["mean"], [1.0], rank_by="auc")
    by_f1 = run_grid(features, data, {}, [0, 1], ["mean"], [1.0], rank_by="f1")
    assert by_auc["best"]["layer"] == 0 and by_f1["best"]["layer"] == 1 and by_f1["rank_by"] == "f1"
    chosen = next(c for c in by_f1["configs"] if c["layer"] == 1)
    assert chosen["family_f1"] == pytest.approx(np.mean([f["f1"] for f in chosen["families"].values()]), abs=1e-4)


def test_panel_command_writes_report_and_a_calibrated_probe(tiny_encoder, tmp_path):
    data = write_jsonl(tmp_path / "cs.jsonl", labelled_rows(240, 0))
    unseen = write_jsonl(tmp_path / "unseen.jsonl", labelled_rows(60, 5))
    out, probe_path = tmp_path / "panel", tmp_path / "probe.json"
    assert main(["panel", "-m", str(tiny_encoder), "-d", str(data), "--task", "content_safety", "--eval-data",
                 str(unseen), "--layer", "1", "--layer", "2", "--C-grid", "0.1", "--C-grid", "1",
                 "--max-length", MAX_LENGTH, "--cache", str(tmp_path / "fc"), "-o", str(out),
                 "--probe-out", str(probe_path)]) == 0
    result = json.loads((out / "panel.json").read_text())
    assert len(result["configs"]) == 4 and (out / "panel.png").stat().st_size > 0
    assert "held out: src0" in (out / "panel.md").read_text()
    best = next(c for c in result["configs"] if c["layer"] == result["best"]["layer"] and c["C"] == result["best"]["C"])
    assert best["eval_only"]["unseen"]["f1"] > 0.75 and best["pooled_out_of_family"]["auc"] > 0.8
    probe, meta = load_probe(probe_path)
    assert meta["threshold"] == result["best"]["threshold"] and meta["operating_point"]["rule"] == "max-f1"
    assert meta["task"] == "content_safety" and meta["layer"] == result["best"]["layer"]


def test_negative_data_joins_as_negatives_of_the_chosen_new_sources_only(tmp_path):
    data = write_jsonl(tmp_path / "pi.jsonl", [dict(r, label="injection" if r["label"] == "unsafe" else "benign")
                                               for r in labelled_rows(60, 0)])
    other = [dict(r, source=f"other{i % 3}") for i, r in enumerate(labelled_rows(30, 1))]
    other += [dict(r, source="src0") for r in labelled_rows(6, 2)]  # a source the task data has: never joins
    extra = write_jsonl(tmp_path / "cs.jsonl", other)
    def load(sources):
        return load_panel_data("prompt_injection", [data], [extra], [], 1000, 1000, None, sources)[0]
    everything, chosen = load(None), load(["other1", "missing"])
    added = [(s, label) for s, label in zip(everything.train.source, everything.train.label) if s.startswith("other")]
    assert len(added) == 30 and {label for _, label in added} == {"benign"}  # harmful or not, none is an injection
    assert sorted(set(chosen.train.source)) == ["other1", "src0", "src1", "src2"] and len(chosen.train) == 70
    assert everything.lent == {"other0", "other1", "other2"} and chosen.lent == {"other1"}


TASKS = [("content_safety", 2, "mean", 0), ("toxicity", 1, "mean", 3), ("prompt_injection", 2, "text-mean", 1)]


def test_toxicity_head_in_one_graph_matches_torch_and_keeps_its_threshold(tiny_encoder, tmp_path, capsys):
    from lec_onnx.export.artifact import export_artifact
    probes = []
    for task, layer, pooling, seed in TASKS:
        rows = labelled_rows(200, seed, system=task == "prompt_injection")
        if task == "toxicity":
            rows = [dict(r, label="toxic" if r["label"] == "unsafe" else "safe") for r in rows]
        data = write_jsonl(tmp_path / f"{task}.jsonl", rows)
        out = tmp_path / f"{task}.json"
        assert main(["train", "-m", str(tiny_encoder), "-d", str(data), "--layer", str(layer), "--pooling", pooling,
                     "--task", task, "-o", str(out), "--max-length", MAX_LENGTH, "--C", "1",
                     "--cache", str(tmp_path / "fc")]) == 0
        probe, meta = load_probe(out)
        save_probe(fold_platt(probe, 0.5, -0.25), out, **dict(meta, threshold=0.42))  # a calibrated, own-threshold head
        probes.append(str(out))
    export_artifact(str(tiny_encoder), probes, tmp_path / "artifact", max_length=int(MAX_LENGTH), stride=16,
                    parity_rows=100, gate=False)
    manifest = json.loads((tmp_path / "artifact" / "manifest.json").read_text())
    assert list(manifest["tasks"]) == ["content_safety", "toxicity", "prompt_injection"]
    assert manifest["tasks"]["toxicity"]["labels"] == ["safe", "toxic"]
    assert all(spec["threshold"] == 0.42 for spec in manifest["tasks"].values())
    texts = sentences(8, seed=9)
    ref = torch_reference(tiny_encoder, probes, texts, [None] * 8)
    fp32 = Classifier.load(tmp_path / "artifact", precision="fp32").classify(texts, batch_size=3)
    int8 = Classifier.load(tmp_path / "artifact").classify(texts)
    for task, spec in manifest["tasks"].items():
        got = np.array([[r[task].scores[l] for l in spec["labels"]] for r in fp32])
        np.testing.assert_allclose(got, ref[task], atol=1e-4)
        got8 = np.array([[r[task].scores[l] for l in spec["labels"]] for r in int8])
        texts_systems = (texts, [None] * len(texts))
        assert np.abs(got8 - ref[task]).max() <= int8_score_bound(tmp_path / "artifact", task, *texts_systems)
    capsys.readouterr()  # what train and export printed
    assert main(["classify", "-a", str(tmp_path / "artifact"), "--jsonl", texts[0], texts[1]]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for doc in docs:
        assert {"content_safety", "toxicity", "prompt_injection"} <= set(doc)
        assert doc["toxicity"]["flagged"] == (doc["toxicity"]["scores"]["toxic"] >= 0.42)
        assert doc["flagged"] == any(doc[t]["flagged"] for t in manifest["tasks"])


def _rows(name):
    from pathlib import Path
    path = Path(__file__).resolve().parent.parent / "data" / name
    return [json.loads(line) for line in path.read_text(encoding="utf-8").split("\n") if line.strip()]


def test_group_statements_keep_test_wordings_out_of_train_and_label_hatecheck_abuse_toxic():
    rows = _rows("toxicity.jsonl")
    groups = [r for r in rows if r["source"] == "group-statements"]
    template = lambda text: text.split(" ", 2)[-1]  # noqa: E731  (drops a one- or two-word group)
    train = {template(r["text"]) for r in groups if r["split"] == "train"}
    test = [r for r in groups if r["split"] == "test"]
    assert test and sum(template(r["text"]) in train for r in test) <= len(test) // 10
    labels = {(r["category"], r["label"]) for r in groups}
    assert ("demeaning-generalisation", "toxic") in labels and ("counter-speech", "safe") in labels
    abuse = [r for r in rows if r["source"] == "hatecheck" and r["category"] in ("target_indiv_nh", "target_group_nh")]
    assert len(abuse) > 100 and all(r["label"] == "toxic" for r in abuse)
    assert all(r["label"] == "safe" for r in rows if r["source"] == "hatecheck" and r["category"] == "target_obj_nh")


def test_task_data_pairs_put_the_request_in_the_data_only_for_injections():
    rows = [r for r in _rows("prompt_injection.jsonl") if r["source"] == "task-data-pairs"]
    kinds = {r["category"]: r["label"] for r in rows}
    assert kinds == {"task-data/clean": "benign", "task-data/request-in-system": "benign",
                     "task-data/embedded": "injection", "task-data/embedded-lead-in": "injection"}
    clean_texts = {r["text"] for r in rows if r["category"] == "task-data/clean"}
    in_system = [r for r in rows if r["category"] == "task-data/request-in-system"]
    assert all("Then also do this:" in r["system"] for r in in_system)
    embedded = [r for r in rows if r["label"] == "injection"]
    assert all(r["text"] not in clean_texts and "Then also do this:" not in r["system"] for r in embedded)
    assert 0.1 < np.mean([r["split"] == "test" for r in rows]) < 0.3


def test_humour_requests_pair_everyday_jokes_with_cruel_ones():
    rows = [r for r in _rows("content_safety.jsonl") if r["source"] == "humour-requests"]
    safe = [r["text"] for r in rows if r["label"] == "safe"]
    unsafe = [r["text"] for r in rows if r["label"] == "unsafe"]
    assert len(safe) > 50 and len(unsafe) > 50 and {r["split"] for r in rows} == {"train", "test"}
    assert all("joke" in t.lower() or "limerick" in t.lower() for t in unsafe)


def test_assistant_talk_pairs_each_preference_with_its_override_and_system_prompts_with_both_labels():
    from collections import Counter
    rows = [r for r in _rows("prompt_injection.jsonl") if r["source"] == "assistant-talk"]
    by_label = Counter((r["label"], bool(r.get("system"))) for r in rows)
    # a system prompt under both labels, so that its presence says nothing
    assert min(by_label[(label, s)] for label in ("benign", "injection") for s in (True, False)) > 30
    preference = "keep your answers under three sentences"
    asked = [r["label"] for r in rows if preference in r["text"].lower()]
    assert "benign" in asked and "injection" in asked  # the same wish, with and without an override
    assert {r["split"] for r in rows} == {"train", "test"}
    assert not [r for r in rows if r["label"] == "benign" and "ignore" in r["text"].lower()]


def test_system_policy_rows_pair_each_kind_of_violation_with_the_same_request_allowed():
    rows = _rows("system_policy.jsonl")
    by_text: dict[str, set] = {}
    for r in rows:
        by_text.setdefault(r["text"], set()).add(r["label"])
    kinds = {(r["category"].split("/")[1], r["label"]) for r in rows}
    assert {("forbidden", "violation"), ("forbidden-permitted", "allowed"), ("out-of-scope", "violation"),
            ("out-of-scope-general", "allowed"), ("secret", "violation"), ("in-scope", "allowed")} <= kinds
    forbidden = [r["text"] for r in rows if r["category"].endswith("/forbidden") and r["category"].startswith(
        ("direct", "indirect"))]
    # a forbidden-topic request is allowed under the same operator's permissive prompt: the prompt decides
    assert forbidden and all(by_text[t] == {"violation", "allowed"} for t in forbidden)
    assert all(r["system"] for r in rows)
    # an operator's rows share one split, so a test operator's system prompts are never trained on
    operators = {}
    for r in rows:
        if r["category"].split("/")[1] in ("in-scope", "forbidden", "secret"):
            operators.setdefault(r["system"].split(".")[0], set()).add(r["split"])
    assert {"train", "test"} <= set().union(*operators.values())


def test_roleplay_and_document_windows_join_prompt_injection_with_both_labels_where_contrast_needs_them():
    rows = _rows("prompt_injection.jsonl")
    roleplay = [r for r in rows if r["source"] == "role-play-requests"]
    assert len(roleplay) >= 60 and {r["label"] for r in roleplay} == {"benign"}
    windows = [r for r in rows if r["source"] == "document-windows"]
    clean = [r for r in windows if r["label"] == "benign"]
    attacked = [r for r in windows if r["label"] == "injection"]
    assert len(clean) > 300 and len(attacked) > 300 and all(r["system"] for r in windows)
    # clean windows start mid-sentence, as the runtime's windows do; each attacked window holds one sentence more
    assert sum(not r["text"][0].isupper() for r in clean) > len(clean) // 4
    assert {r["split"] for r in windows} == {"train", "test"}
