"""What the shipped graph flags among the test rows of the system-policy and role-play data, per kind (issue 36).

    python experiments/system_policy_checks.py [--artifact artifacts/default] [--out docs/results/system-policy.md]

Rows: data/system_policy.jsonl's test split (operators whose system prompts no training row holds) and the
role-play rows of prompt_injection.jsonl's test split (persona/task pairs no training row holds), scored by the
artifact (int8, its thresholds). Reported per kind of row: how many, and the share each of `system_policy` and
`prompt_injection` flags. Harmless kinds (allowed, benign) should stay near 0; violations near 1 for
`system_policy`. The stress panels (docs/results.md) hold whole groups out; this is what the shipped heads do.
"""
from __future__ import annotations

import argparse
from collections import defaultdict
from pathlib import Path

from lec_onnx import Classifier
from lec_onnx.export.data import read_rows

ROOT = Path(__file__).resolve().parents[1]
TASKS = ("system_policy", "prompt_injection")
ROLE_PLAY = ("role-play-requests", "role-play-jailbreaks")


def test_rows() -> list[tuple[str, dict]]:
    """(kind, row) of every test row: system_policy rows by `category` kind and label, role-play rows by source."""
    read = lambda name: read_rows(ROOT / "data" / name)  # noqa: E731
    rows = [(f"system_policy: {r['category'].split('/', 1)[1]} ({r['label']})", r)
            for r in read("system_policy.jsonl") if r["split"] == "test"]
    rows += [(f"prompt_injection: {r['source']} ({r['label']})", r)
             for r in read("prompt_injection.jsonl") if r["source"] in ROLE_PLAY and r["split"] == "test"]
    return rows


def flag_shares(artifact: str) -> tuple[dict[str, dict], list[str]]:
    """{kind: {rows, task: share flagged}} for the tasks of TASKS the artifact has; those tasks."""
    clf = Classifier.load(artifact, threads=2)
    tasks = [t for t in TASKS if t in clf.tasks]
    rows = test_rows()
    results = clf.classify([r["text"] for _, r in rows], [r.get("system") for _, r in rows])
    table: dict[str, dict] = defaultdict(lambda: {"rows": 0, **{t: 0 for t in tasks}})
    for (kind, _), result in zip(rows, results):
        table[kind]["rows"] += 1
        for task in tasks:
            table[kind][task] += result[task].flagged
    shares = {k: {"rows": v["rows"], **{t: round(v[t] / v["rows"], 3) for t in tasks}} for k, v in table.items()}
    return dict(sorted(shares.items())), tasks


def markdown(table: dict, tasks: list[str], artifact: str) -> str:
    lines = [f"Test rows flagged by `{artifact}` (`experiments/system_policy_checks.py`):", "",
             "| rows of | n | " + " | ".join(f"{t} flags" for t in tasks) + " |", "|---|---|" + "---|" * len(tasks)]
    lines += [f"| {kind} | {v['rows']} | " + " | ".join(f"{v[t]:.0%}" for t in tasks) + " |"
              for kind, v in table.items()]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--artifact", default="artifacts/default")
    ap.add_argument("--out")
    args = ap.parse_args()
    text = markdown(*flag_shares(args.artifact), args.artifact)
    print(text)
    if args.out:
        Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
