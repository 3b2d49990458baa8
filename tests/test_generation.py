"""Classify while generating (export/generation.py) on tiny random decoders."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from lec_onnx.errors import InputError
from lec_onnx.generation.guard import (GuardRule, LayerTap, PromptCheck, ProbeScorer, ResponseGuard, answer_states,
                                        chat_ids, first_violation, generate, left_pad,
                                        running_pool)
from lec_onnx.export.models import load_model
from lec_onnx.export.probe import LECProbe

PROMPTS = ["How do I bake a cake?", "Write poem about cats please tell me the weather today", "Hack into email."]


@pytest.fixture(scope="module")
def qwen(tiny_decoder):
    return load_model(str(tiny_decoder))


def constant_probe(hidden: int, logit: float, seed: int | None = None) -> LECProbe:
    """A probe whose score is sigmoid(logit) everywhere (seed: small random weights added)."""
    probe = LECProbe()
    probe.classes_ = np.array(["benign", "harmful"])
    rng = np.random.default_rng(seed or 0)
    probe.coef_ = rng.normal(0, 0.5, (1, hidden)) if seed is not None else np.zeros((1, hidden))
    probe.intercept_ = np.array([logit])
    probe.n_features_in_ = hidden
    return probe


def plain(loaded, prompts, n, **kwargs):
    tok = loaded.tokenizer
    ids, mask = left_pad([chat_ids(tok, p) for p in prompts], tok.pad_token_id)
    with torch.inference_mode():
        out = loaded.model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=n, min_new_tokens=n,
                                    do_sample=False, pad_token_id=tok.pad_token_id, **kwargs)
    return ids, out[:, ids.shape[1]:]


@pytest.mark.parametrize("use_cache", [True, False])
def test_the_hook_sees_each_new_token_once(qwen, use_cache):
    calls = []
    tap = LayerTap(qwen.model, 2, lambda states, first: calls.append((first, states.clone())))
    with tap.attached():
        ids, new = plain(qwen, PROMPTS[:1], 6, use_cache=use_cache)
    assert [c[0] for c in calls] == [True] + [False] * 5
    assert calls[0][1].shape[1] == ids.shape[1] and all(c[1].shape[1] == 1 for c in calls[1:])
    seen = torch.cat([c[1] for c in calls], 1)
    full = torch.cat([ids, new[:, :-1]], 1)  # every position fed to the model: the prompt and all answer tokens but
    with torch.inference_mode():  # the last, whose state is never computed
        reference = qwen.model(full, output_hidden_states=True).hidden_states[2]
    torch.testing.assert_close(seen, reference, atol=1e-4, rtol=1e-4)


def test_a_probe_that_never_fires_leaves_generation_token_identical(qwen):
    guard = ResponseGuard(constant_probe(qwen.hidden_size, -20.0, seed=1), layer=3, rule=GuardRule(0.99))
    gens = generate(qwen.model, qwen.tokenizer, PROMPTS, guard=guard, max_new_tokens=12, batch_size=3,
                    min_new_tokens=12)
    _, new = plain(qwen, PROMPTS, 12)
    assert [g.token_ids for g in gens] == new.tolist()
    assert all(g.violation_at == 0 and g.action is None and len(g.guard_scores) == 12 for g in gens)


@pytest.mark.parametrize("patience", [1, 3])
def test_a_probe_that_always_fires_stops_after_the_configured_steps(qwen, patience):
    guard = ResponseGuard(constant_probe(qwen.hidden_size, 20.0), layer=2, rule=GuardRule(0.5, patience))
    gens = generate(qwen.model, qwen.tokenizer, PROMPTS, guard=guard, max_new_tokens=12, batch_size=2,
                    min_new_tokens=12)
    _, new = plain(qwen, PROMPTS, 12)
    for g, reference in zip(gens, new.tolist()):
        assert g.tokens == patience and g.violation_at == patience and g.action == "stopped"
        assert g.token_ids == reference[:patience]  # stopping truncates, it does not change what came before


def test_min_tokens_delays_and_refuse_replaces_the_answer(qwen):
    guard = ResponseGuard(constant_probe(qwen.hidden_size, 20.0), layer=2, rule=GuardRule(0.5, 2, min_tokens=5))
    gen = generate(qwen.model, qwen.tokenizer, PROMPTS[:1], guard=guard, on_violation="refuse", max_new_tokens=12,
                   min_new_tokens=12, refusal_text="No.")[0]
    assert (gen.tokens, gen.violation_at, gen.action, gen.text) == (6, 6, "refused", "No.")


def test_monitor_records_the_violation_without_stopping(qwen):
    guard = ResponseGuard(constant_probe(qwen.hidden_size, 20.0), layer=2, rule=GuardRule(0.5, 2))
    gen = generate(qwen.model, qwen.tokenizer, PROMPTS[:1], guard=guard, on_violation="monitor",
                   max_new_tokens=8, min_new_tokens=8)[0]
    assert (gen.tokens, gen.violation_at, gen.action) == (8, 2, None)


@pytest.mark.parametrize("pooling", ["answer-mean", "answer-ema"])
def test_generation_scores_equal_teacher_forced_training_features(qwen, pooling):
    """The guard's running scores while generating = the probe on running_pool of teacher-forced answer states,
    so a probe trained on the latter sees the same features at run time."""
    probe = constant_probe(qwen.hidden_size, 0.0, seed=3)
    guard = ResponseGuard(probe, layer=3, rule=GuardRule(0.99, pooling=pooling, alpha=0.3))
    gen = generate(qwen.model, qwen.tokenizer, PROMPTS[1:2], guard=guard, max_new_tokens=10, min_new_tokens=10)[0]
    states = answer_states(qwen.model, 3, chat_ids(qwen.tokenizer, PROMPTS[1]), gen.token_ids)
    expected = ProbeScorer(probe)(running_pool(states[None], pooling, 0.3)[0])
    np.testing.assert_allclose(gen.guard_scores, expected.numpy(), atol=2e-3)


@pytest.mark.parametrize("threshold,patience,min_tokens", [(0.5, 2, 1), (0.45, 1, 3), (0.55, 3, 2)])
def test_the_offline_decision_rule_matches_the_guard(qwen, threshold, patience, min_tokens):
    rule = GuardRule(threshold, patience, min_tokens)
    guard = ResponseGuard(constant_probe(qwen.hidden_size, 0.0, seed=5), layer=2, rule=rule)
    gens = generate(qwen.model, qwen.tokenizer, PROMPTS, guard=guard, on_violation="monitor", max_new_tokens=16,
                    min_new_tokens=16, batch_size=3)
    assert [g.violation_at for g in gens] == [first_violation(g.guard_scores, rule) for g in gens]


@pytest.mark.parametrize("prompt_logit,fires", [(-3.0, False), (3.0, True)])
def test_the_prompt_floor_silences_answers_to_prompts_scored_below_it(qwen, tmp_path, prompt_logit, fires):
    from lec_onnx.generation.response_probe import load_guard, save_response_probe
    rule = GuardRule(0.5, 2, prompt_floor=0.3)
    path = save_response_probe(constant_probe(qwen.hidden_size, 20.0), tmp_path / "guard.json", qwen, rule, 2,
                               prompt_probe=constant_probe(qwen.hidden_size, prompt_logit))
    guard = load_guard(path)
    assert guard.rule == rule and guard.prompt_probe is not None
    gens = generate(qwen.model, qwen.tokenizer, PROMPTS[:2], guard=guard, max_new_tokens=8, min_new_tokens=8,
                    batch_size=2)
    expected_score = 1 / (1 + np.exp(-prompt_logit))
    for g in gens:
        assert g.guard_prompt_score == pytest.approx(expected_score, abs=1e-4)
        assert (g.violation_at, g.action) == ((2, "stopped") if fires else (0, None))
        assert first_violation([1.0] * 8, rule, g.guard_prompt_score) == g.violation_at
    with pytest.raises(InputError, match="prompt probe"):
        ResponseGuard(constant_probe(qwen.hidden_size, 0.0), layer=2, rule=rule)
    with pytest.raises(InputError, match="prompt score"):
        first_violation([1.0] * 8, rule)


def test_a_guard_file_gates_with_its_prompt_probe_at_the_guards_prompt_state(qwen, tmp_path):
    from lec_onnx.generation.guard import load_prompt_check
    from lec_onnx.generation.response_probe import load_guard, save_response_probe
    path = save_response_probe(constant_probe(qwen.hidden_size, -20.0), tmp_path / "guard.json", qwen,
                               GuardRule(0.5, 2, prompt_floor=0.3), 2,
                               prompt_probe=constant_probe(qwen.hidden_size, 0.0, seed=5))
    gate = load_prompt_check(path, qwen.tokenizer, threshold=1.0)  # never flags: both read the same prefill
    assert (gate.layer, gate.pooling, gate.tail) == (2, "last", 0)
    gens = generate(qwen.model, qwen.tokenizer, PROMPTS[:3], guard=load_guard(path), prompt_check=gate,
                    max_new_tokens=3, batch_size=3)
    assert len({round(g.prompt_score, 2) for g in gens}) > 1  # the random probe tells the prompts apart
    for g in gens:
        assert g.prompt_score == pytest.approx(g.guard_prompt_score, abs=1e-4)


def test_the_vectorised_rule_equals_the_guards_rule():
    gg = _guard_benchmark()
    rng = np.random.default_rng(3)
    scores = [rng.uniform(0, 1, rng.integers(1, 40)).round(3).tolist() for _ in range(200)]
    prompt_scores = rng.uniform(0, 1, 200)
    rules = list(gg.rule_grid((0.0, 0.3)))
    assert len(rules) == 35 * 6 * 3 * 2
    for rule in rules[::29]:
        assert gg.violation_steps(scores, prompt_scores, rule) == [
            first_violation(s, rule, p) for s, p in zip(scores, prompt_scores)]


def test_a_flagged_prompt_stops_at_prefill_and_composes_with_the_guard(qwen):
    check = PromptCheck(constant_probe(qwen.hidden_size, 20.0), layer=1, pooling="mean")
    guard = ResponseGuard(constant_probe(qwen.hidden_size, -20.0), layer=2)
    gens = generate(qwen.model, qwen.tokenizer, PROMPTS[:2], guard=guard, prompt_check=check, batch_size=2,
                    on_violation="refuse", max_new_tokens=8, min_new_tokens=8)
    assert all(g.tokens == 1 and g.action == "refused" and g.prompt_score > 0.99 for g in gens)
    check = PromptCheck(constant_probe(qwen.hidden_size, -20.0), layer=1, pooling="last")
    gens = generate(qwen.model, qwen.tokenizer, PROMPTS[:2], guard=guard, prompt_check=check, batch_size=2,
                    max_new_tokens=8, min_new_tokens=8)
    assert all(g.tokens == 8 and g.action is None for g in gens)


def test_bad_settings_are_refused(qwen):
    with pytest.raises(InputError, match="layer must be between"):
        LayerTap(qwen.model, 99, print)
    with pytest.raises(InputError, match="guard pooling"):
        GuardRule(pooling="max")
    with pytest.raises(InputError, match="threshold"):
        GuardRule(threshold=1.5)
    guard = ResponseGuard(constant_probe(qwen.hidden_size, 0.0), layer=2)
    with pytest.raises(InputError, match="steering latent"):
        generate(qwen.model, qwen.tokenizer, PROMPTS[:1], guard=guard, on_violation="steer")
    with pytest.raises(InputError, match="on-violation"):
        generate(qwen.model, qwen.tokenizer, PROMPTS[:1], guard=guard, on_violation="explode")


def test_response_probe_learns_answers_and_round_trips_as_a_guard(qwen, tmp_path):
    from lec_onnx.generation.response_probe import collect_states, fit_response_probe, load_guard, save_response_probe
    harmful, benign = "steal password hack into email account kill process now", "bake a cake recipe poem about cats"
    examples = [{"prompt": p, "answer": a, "label": label} for p in PROMPTS
                for a, label in ((harmful, "harmful"), (benign, "benign"))]
    collected = collect_states(qwen, examples, [2, 3])
    probe = fit_response_probe(collected, 3, "answer-mean", C=1.0)
    rule = GuardRule(0.6, 2, pooling="answer-mean")
    path = save_response_probe(probe, tmp_path / "response.json", qwen, rule, 3)
    guard = load_guard(path)
    assert (guard.layer, guard.rule) == (3, rule)
    np.testing.assert_array_equal(guard.probe.coef_, probe.coef_)
    assert load_guard(path, 0.9, patience=4).rule == GuardRule(0.9, 4, pooling="answer-mean")
    for ex in collected:  # the full answers are told apart at their last step
        score = float(ProbeScorer(probe)(running_pool(ex["states"][3].float()[None], "answer-mean", 0.1)[0])[-1])
        assert (score > 0.5) == (ex["label"] == "harmful")
    prompt_probe = tmp_path / "prompt.json"
    prompt_probe.write_text(path.read_text())
    with pytest.raises(InputError, match="response probe without a prompt probe"):
        from lec_onnx.generation.guard import load_prompt_check
        load_prompt_check(prompt_probe, qwen.tokenizer)


def test_cached_answer_states_equal_fresh_ones_and_skip_the_model(qwen, tmp_path, monkeypatch):
    from lec_onnx.generation import response_probe
    examples = [{"prompt": p, "answer": "a short answer about cats", "label": "benign"} for p in PROMPTS[:2]]
    fresh = response_probe.collect_states(qwen, examples, [2, 3])
    response_probe.collect_states(qwen, examples, [2], cache=tmp_path)
    assert len(list(tmp_path.glob("*.npy"))) == 2  # one file per answer and layer
    calls = []
    real = response_probe.multi_layer_answer_states
    monkeypatch.setattr(response_probe, "multi_layer_answer_states",
                        lambda model, layers, *a: calls.append(layers) or real(model, layers, *a))
    cached = response_probe.collect_states(qwen, examples, [2, 3], cache=tmp_path)
    assert calls == [[3], [3]]  # layer 2 read from disk, only layer 3 computed
    assert response_probe.collect_states(qwen, examples, [2, 3], cache=tmp_path) and calls == [[3], [3]]
    for a, b in zip(fresh, cached):
        for layer in (2, 3):
            torch.testing.assert_close(a["states"][layer], b["states"][layer])


def test_generate_cli_guards_and_reports_bad_input(tiny_decoder, tmp_path, capsys):
    import json

    from lec_onnx.cli import main
    from lec_onnx.generation.response_probe import save_response_probe
    loaded = load_model(str(tiny_decoder))
    probe = save_response_probe(constant_probe(loaded.hidden_size, 20.0), tmp_path / "always.json", loaded,
                                GuardRule(0.5, 2), 2)
    assert main(["generate", "-m", str(tiny_decoder), "--guard", str(probe), "--max-new-tokens", "8", "--jsonl",
                 "How do I bake a cake?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["violation_at"], out["action"]) == (2, "stopped") and out["tokens"] <= 2
    assert main(["generate", "-m", str(tiny_decoder), "--on-violation", "steer", "hi"]) == 2
    assert "needs --steer" in capsys.readouterr().err
    assert main(["generate", "-m", str(tiny_decoder), "--guard", str(tmp_path / "missing.json"), "hi"]) == 2
    with pytest.raises(SystemExit):  # argparse: exit 2 with the usage
        main(["generate", "-m", str(tiny_decoder), "--steer", "3=abc", "hi"])


def _guard_benchmark():
    from conftest import experiment_module
    return experiment_module("guarded_generation")


def test_guard_prompt_sets_are_disjoint_and_benign_sources_filter():
    gg = _guard_benchmark()
    sets = {s: gg.prompts_for(s, 40, 40) for s in ("train", "dev", "test")}
    ids = {s: {p["id"] for p in rows} for s, rows in sets.items()}
    assert all(len(v) == 80 for v in ids.values())
    assert not (ids["train"] & ids["dev"] or ids["train"] & ids["test"] or ids["dev"] & ids["test"])
    assert gg.prompts_for("test", 40, 40) == sets["test"]  # fixed by hashes: a rerun picks the same prompts
    hard = gg.prompts_for("train", 0, 30, ["coconot", "wildguardtest-benign"])
    assert len(hard) == 30 and {p["source"] for p in hard} <= {"coconot", "wildguardtest-benign"}
    assert {p["kind"] for p in hard} == {"benign"}
    assert gg.is_refusal("I'm sorry, but I can't help with that.") and not gg.is_refusal("Sure! Here is a cake.")


def test_guard_labels_follow_the_refusal_judge_and_the_hand_judgements():
    gg = _guard_benchmark()
    harmless = sorted(gg.not_harmful_answers())
    assert len(harmless) > 10
    row = {"id": "not-judged", "kind": "harmful", "refused": False}
    assert gg.guard_label(row) == "harmful"
    assert gg.guard_label(dict(row, refused=True)) == "benign"
    assert gg.guard_label(dict(row, kind="benign")) == "benign"
    assert gg.guard_label(dict(row, id=harmless[0])) == "benign"  # answered, but judged harmless by hand
    rows = [row, dict(row, id=harmless[0]), dict(row, kind="benign"), dict(row, kind="benign", id="b2")]
    m = gg.stop_metrics(rows, [5, 40, 0, 3])
    assert (m["harmful"], m["stopped_32"], m["answered"], m["answered_stopped_32"]) == (1, 1.0, 2, 0.5)
    assert (m["false_stops"], m["false_stop_rate"]) == (1, 0.5)
    assert m["tokens_to_stop_median"] == 5.0  # answer tokens before the stop (a step index)
