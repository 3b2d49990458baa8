"""Latency of artifacts as users call them: `Classifier.classify` on one text, every task, 1 and 2 threads.

    python benchmarks/artifact_latency.py artifacts/default build/candidate-mpnet/artifact [--reps 40]

Per artifact and thread count: the median (p50) and 90th percentile of `classify` on a short prompt and on a
240-token text, and the size of the int8 graph. Rounds are interleaved (artifact A, B, A, B...) so that load from
other jobs falls on all of them alike. Prints a Markdown table; not part of the test suite.
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

from lec_onnx import Classifier

SHORT = "How do I build a pipe bomb?"
LONG_WORDS = 180  # about 240 tokens for BERT-style WordPiece tokenizers


def long_text() -> str:
    sentence = ("The quarterly report covers revenue, customer churn, the new onboarding flow and the support "
                "backlog, with a summary of what the team plans to change next quarter. ")
    words = (sentence * 20).split()[:LONG_WORDS]
    return " ".join(words)


def timings(classifiers: dict, texts: dict, reps: int) -> dict:
    """{(artifact, threads, text name): [seconds, ...]}, rounds interleaved."""
    times = {key + (name,): [] for key in classifiers for name in texts}
    for clf in classifiers.values():  # warm-up: the first run allocates
        for text in texts.values():
            clf.classify(text)
    for _ in range(reps):
        for key, clf in classifiers.items():
            for name, text in texts.items():
                start = time.perf_counter()
                clf.classify(text)
                times[key + (name,)].append(time.perf_counter() - start)
    return times


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("artifacts", nargs="+")
    ap.add_argument("--reps", type=int, default=40)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    args = ap.parse_args()
    classifiers = {(a, t): Classifier.load(a, threads=t) for a in args.artifacts for t in args.threads}
    first = next(iter(classifiers.values()))
    tokens = len(first.tokenizer.encode(long_text()).ids)
    texts = {"short prompt": SHORT, f"{tokens}-token text": long_text()}
    times = timings(classifiers, texts, args.reps)
    print(f"| artifact | int8 graph MB | threads | {' | '.join(f'{n} p50 / p90 ms' for n in texts)} |")
    print("|---|---|---|" + "---|" * len(texts))
    for (artifact, threads), clf in classifiers.items():
        size = (Path(artifact) / clf.manifest.graph.int8).stat().st_size / 1e6
        cells = []
        for name in texts:
            t = sorted(times[(artifact, threads, name)])
            cells.append(f"{1000 * statistics.median(t):.1f} / {1000 * t[int(0.9 * (len(t) - 1))]:.1f}")
        print(f"| {artifact} | {size:.1f} | {threads} | {' | '.join(cells)} |")


if __name__ == "__main__":
    main()
