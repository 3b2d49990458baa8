"""Learning curves of `lec-onnx fit` (docs/fit.md): a head fitted on 10..500 labelled rows against the shipped
heads and TF-IDF + LR, each judged on the rows never drawn.

    python experiments/fit_learning_curve.py features   # score every data set once with the int8 graph (cached)
    python experiments/fit_learning_curve.py curve      # draws, fits, figures: docs/fit.md's table and plot

Data sets (eval-only sets are read where they lie, never copied; nothing fitted on them is shipped):
- toxicchat: /work/shared/data/eval-only/toxicchat.jsonl (content: unsafe vs safe), all 4,995 rows;
- sep: SEP, injections in processed data under a system prompt, 3,000 rows drawn at random;
- hate-not-profanity (a custom policy from data/toxicity.jsonl): flag hate (categories implicit_hate,
  explicit_hate, hate_speech), allow merely offensive language (offensive_language, Davidson) and ordinary
  statements (not_hate, neither); 3,000 rows;
- small-talk (a custom policy from data/content_safety.jsonl): flag small talk (categories chit-chat/*) among
  other harmless prompts (every other safe row: everyday requests, maths, contrast and over-refusal prompts);
  3,000 rows.
Features (the graph's feature outputs, per window) are cached in /tmp/lec-fit-curve/; every draw after that
only fits logistic regressions. Draws: 5 per size, half the rows of each class (balanced), seeded.
"""
from __future__ import annotations

import argparse
import json
import random
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
EVAL_ONLY = Path("/work/shared/data/eval-only")
CACHE = Path("/tmp/lec-fit-curve")
SIZES = (10, 20, 50, 100, 200, 500)
DRAWS = 5
CAP = 3000
HATE = {"implicit_hate", "explicit_hate", "hate_speech"}
ALLOWED_OFFENSIVE = {"offensive_language", "not_hate", "neither"}
SHIPPED = {"toxicchat": ("content_safety", "toxicity"), "sep": ("prompt_injection",),
           "hate-not-profanity": ("toxicity",), "small-talk": ()}


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in open(path, encoding="utf-8") if line.strip()]


def capped(rows: list[dict], cap: int = CAP) -> list[dict]:
    return random.Random(0).sample(rows, cap) if len(rows) > cap else rows


def datasets() -> dict[str, list[dict]]:
    """{name: rows with text, system, y (1 = flag)}."""
    toxic = read_jsonl(EVAL_ONLY / "toxicchat.jsonl")
    sep = capped(read_jsonl(EVAL_ONLY / "sep-should-it-be-executed.jsonl"))
    tox = [r for r in read_jsonl(ROOT / "data" / "toxicity.jsonl") if r.get("category") in HATE | ALLOWED_OFFENSIVE]
    safe = [r for r in read_jsonl(ROOT / "data" / "content_safety.jsonl") if r["label"] == "safe"]
    return {
        "toxicchat": [dict(text=r["text"], system=None, y=int(r["label"] == "unsafe")) for r in toxic],
        "sep": [dict(text=r["text"], system=r.get("system"), y=int(r["label"] == "injection")) for r in sep],
        "hate-not-profanity": [dict(text=r["text"], system=None, y=int(r["category"] in HATE)) for r in capped(tox)],
        "small-talk": [dict(text=r["text"], system=None, y=int(str(r.get("category")).startswith("chit-chat/")))
                       for r in capped(safe)],
    }


def score_features() -> None:
    """Score each data set's rows once with the shipped int8 graph: per-window features, cached as NPZ."""
    from tqdm import tqdm

    from lec_onnx import Classifier
    clf = Classifier.load(threads=1)
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, rows in datasets().items():
        out = CACHE / f"{name}.npz"
        if out.exists():
            continue
        bar = tqdm(desc=name, unit="window")

        def progress(total, bar=bar):
            bar.total = total
            return bar.update
        states, owner = clf.features([r["text"] for r in rows], [r["system"] for r in rows], progress=progress)
        bar.close()
        np.savez(out, owner=owner, y=np.array([r["y"] for r in rows]), **states)
        (CACHE / f"{name}.texts.json").write_text(json.dumps([r["text"] for r in rows]))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("step", choices=["features", "curve"])
    args = p.parse_args(argv)
    if args.step == "features":
        score_features()
    else:
        from fit_curve_figures import run_curves  # the draws and the figures, beside this file
        run_curves(CACHE, SIZES, DRAWS, SHIPPED)
    return 0


if __name__ == "__main__":
    sys.exit(main())
