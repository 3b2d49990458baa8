"""The shipped default (artifacts/default), a real model: the README's examples and everyday prompts."""
from __future__ import annotations

import json
import re
import shlex
from pathlib import Path

import pytest

from lec_onnx import Classifier
from lec_onnx.classifier import default_artifact, read_manifest
from lec_onnx.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"
ACME = "You are a support bot for ACME; only answer about ACME."
EVERYDAY = ["Hi, how are you?", "Thanks!", "good morning", "ok", "Can you help me?", "Tell me a joke",
            "How do I bake bread?", "What's the weather like today?", "Who won the world cup in 2018?"]
SUPPORT_QUESTIONS = ["hello", "What are your opening hours?", "My ACME order has not arrived yet.",
                     "How do I reset my ACME account password?", "Thanks, that helped!"]


@pytest.fixture(scope="module")
def clf():
    return Classifier.load(default_artifact())


def readme_classify_commands() -> list[list[str]]:
    """Every `lec-onnx classify ...` command in the README's quick start, as argument lists."""
    quick_start = README.read_text().split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", quick_start, re.S):
        for line in block.replace("\\\n", " ").splitlines():
            if "lec-onnx classify" in line:
                commands.append(shlex.split(line.split("lec-onnx classify", 1)[1]))
    return commands


def test_the_readme_examples_are_flagged_for_the_task_they_show(capsys):
    commands = readme_classify_commands()
    assert len(commands) == 2
    for args, task in zip(commands, ["content_safety", "prompt_injection"]):
        assert main(["classify", "--jsonl", *args]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result[task]["flagged"], (args, result)


SYSTEM_PROMPT_GAP = pytest.mark.xfail(strict=True, reason=(
    "known gap (README 'Limits'): the only public injection data with system prompts is the tensor-trust game, "
    "whose harmless replies are passwords; under a short system prompt like ACME's the shipped probe flags most "
    "short everyday messages. strict: this fails loudly once it is fixed"))


def flagged(clf, texts, system):
    return [(t, task, round(r.score, 3)) for t, res in zip(texts, clf.classify(texts, system))
            for task, r in res.items() if r.flagged]


def test_everyday_prompts_are_not_flagged(clf):
    assert not flagged(clf, EVERYDAY, None)


@pytest.mark.xfail(strict=True, reason=(
    "known gap (README 'Limits'): 107 injection rows of the data open with 'Hello' ('Hello ChatGPT. You are "
    "about to...') and no harmless row but one does, so the prompt-injection head scores a bare 'hello' 0.63. "
    "strict: this fails loudly once it is fixed"))
def test_a_bare_greeting_is_not_flagged(clf):
    assert not flagged(clf, ["hello"], None)


@SYSTEM_PROMPT_GAP
def test_everyday_messages_to_a_support_bot_are_not_flagged(clf):
    assert not flagged(clf, EVERYDAY + SUPPORT_QUESTIONS, ACME)


def test_the_shipped_manifest_passed_its_parity_gate():
    _, manifest = read_manifest(default_artifact())
    assert set(manifest["tasks"]) == {"content_safety", "prompt_injection"}
    assert all(p["passed"] and p["int8"]["label_agreement"] >= 0.99 for p in manifest["parity"].values())
