"""Does prompt-injection detection hold when the system prompt is long (and cut in its middle to fit)?

Test rows of data/prompt_injection.jsonl without a system prompt (attacks and ordinary messages) are sent under
real system prompts of ../shared/data/extra/system-prompts.jsonl, grouped by their length in the artifact's tokens:
none, under 200, 500-1,000 and 1,000-2,000. Prints a Markdown table (recall on attacks, flagged ordinary messages,
AUC, tokens dropped) and writes it to docs/long-system-prompts.md:
    python experiments/long_system_prompts.py [--artifact DIR] [--rows 200]
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from lec_onnx import Classifier

ROOT = Path(__file__).resolve().parents[1]
SYSTEM_PROMPTS = ROOT.parent / "shared" / "data" / "extra" / "system-prompts.jsonl"
BUCKETS = {"no system prompt": None, "< 200 tokens": (1, 200), "500-1,000 tokens": (500, 1000),
           "1,000-2,000 tokens": (1000, 2000)}
TASK = "prompt_injection"


def auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Probability that an attack outscores an ordinary message (ties count half)."""
    diff = positive[:, None] - negative[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def sample_rows(n: int, rng: random.Random) -> list[dict]:
    rows = [json.loads(line) for line in open(ROOT / "data" / "prompt_injection.jsonl", encoding="utf-8")]
    rows = [r for r in rows if r.get("split") == "test" and not r.get("system") and len(r["text"]) < 1500]
    by_label = {label: [r for r in rows if r["label"] == label] for label in ("injection", "benign")}
    return [r for label in by_label for r in rng.sample(by_label[label], min(n, len(by_label[label])))]


def systems_by_bucket(clf: Classifier) -> dict[str, list[str]]:
    prompts = [json.loads(line)["system"] for line in open(SYSTEM_PROMPTS, encoding="utf-8")]
    sized = [(len(clf.tokenizer.encode(p, add_special_tokens=False).ids), p) for p in prompts]
    return {name: [p for n, p in sized if span[0] <= n < span[1]] if span else None for name, span in BUCKETS.items()}


def measure(clf: Classifier, rows: list[dict], systems: list[str] | None, rng: random.Random) -> dict:
    chosen = [rng.choice(systems) for _ in rows] if systems else [None] * len(rows)
    results = clf.classify([r["text"] for r in rows], chosen)
    scores = np.array([res[TASK].score for res in results])
    attack = np.array([r["label"] == "injection" for r in rows])
    flagged = np.array([res[TASK].flagged for res in results])
    return {"rows": len(rows), "recall": float(flagged[attack].mean()), "false_flags": float(flagged[~attack].mean()),
            "auc": auc(scores[attack], scores[~attack]),
            "dropped": float(np.median([res[TASK].system_tokens_dropped for res in results]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--artifact", help="artifact folder (default: the shipped one)")
    parser.add_argument("--rows", type=int, default=200, help="attacks and ordinary messages each")
    args = parser.parse_args()
    clf, rng = Classifier.load(args.artifact, threads=1), random.Random(0)
    rows, buckets = sample_rows(args.rows, rng), systems_by_bucket(clf)
    lines = ["| system prompt | prompts in pool | rows | attacks caught | ordinary flagged | AUC | "
             "median system tokens dropped |", "|---|---|---|---|---|---|---|"]
    for name, systems in buckets.items():
        if systems is not None and not systems:
            continue
        m = measure(clf, rows, systems, rng)
        lines.append(f"| {name} | {len(systems) if systems else '-'} | {m['rows']} | {m['recall']:.1%} | "
                     f"{m['false_flags']:.1%} | {m['auc']:.3f} | {m['dropped']:.0f} |")
    table = "\n".join(lines)
    print(table)
    intro = __doc__.split("\n\n")[1].split(" Prints")[0].replace("\n", " ")
    (ROOT / "docs" / "long-system-prompts.md").write_text(
        f"# Prompt injection under long system prompts\n\n{intro}\n\n`python experiments/long_system_prompts.py "
        f"--rows {args.rows}` (artifact `{clf.folder.name}`, window {clf.max_length} tokens, threshold from its "
        f"manifest; the system prompt is cut in its middle to leave the text half a window).\n\n{table}\n\n"
        "Read: attacks stay caught and ranked above ordinary messages (AUC) however long the system prompt, but "
        "ordinary messages are flagged more often under any system prompt: the probe still takes the presence of "
        "a system prompt as a cue (README, Limits). The figures before 2026-12-07 were of an earlier default "
        "(ordinary messages flagged 25-47% under a system prompt, AUC 0.93-0.94).\n")


if __name__ == "__main__":
    main()
