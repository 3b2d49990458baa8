"""Learning curves of `lec-onnx fit` (docs/fit.md): a head fitted on 10..500 labelled rows against the shipped
heads and TF-IDF + LR, each judged on the rows never drawn.

    python experiments/fit_learning_curve.py features   # score every data set once with the int8 graph (cached)
    python experiments/fit_learning_curve.py curve      # draws, fits, figures: docs/fit.json, docs/fit.png
    python experiments/fit_learning_curve.py table      # docs/fit.md's and README's tables, from docs/fit.json

--shared DIR: the shared data folder beside the project (default ../shared/data); eval-only sets in DIR/eval-only.
--C-grid: the C values tried per draw (default lec_onnx.fit.CS, the product's grid; docs/fit.md says what ran).

Data sets (eval-only sets are read where they lie, never copied; nothing fitted on them is shipped):
- toxicchat: ../shared/data/eval-only/toxicchat.jsonl (content: unsafe vs safe), all 4,995 rows;
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
SHARED = ROOT.parent / "shared" / "data"
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


def datasets(shared: Path = SHARED) -> dict[str, list[dict]]:
    """{name: rows with text, system, y (1 = flag)}."""
    toxic = read_jsonl(shared / "eval-only" / "toxicchat.jsonl")
    sep = capped(read_jsonl(shared / "eval-only" / "sep-should-it-be-executed.jsonl"))
    tox = [r for r in read_jsonl(ROOT / "data" / "toxicity.jsonl") if r.get("category") in HATE | ALLOWED_OFFENSIVE]
    safe = [r for r in read_jsonl(ROOT / "data" / "content_safety.jsonl") if r["label"] == "safe"]
    return {
        "toxicchat": [dict(text=r["text"], system=None, y=int(r["label"] == "unsafe")) for r in toxic],
        "sep": [dict(text=r["text"], system=r.get("system"), y=int(r["label"] == "injection")) for r in sep],
        "hate-not-profanity": [dict(text=r["text"], system=None, y=int(r["category"] in HATE)) for r in capped(tox)],
        "small-talk": [dict(text=r["text"], system=None, y=int(str(r.get("category")).startswith("chit-chat/")))
                       for r in capped(safe)],
    }


def score_features(shared: Path = SHARED) -> None:
    """Score each data set's rows once with the shipped int8 graph: per-window features, cached as NPZ."""
    from tqdm import tqdm

    from lec_onnx import Classifier
    clf = Classifier.load(threads=1)
    CACHE.mkdir(parents=True, exist_ok=True)
    for name, rows in datasets(shared).items():
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
    p.add_argument("step", choices=["features", "curve", "table"])
    p.add_argument("--shared", type=Path, default=SHARED, help="the shared data folder (default: %(default)s)")
    p.add_argument("--C-grid", type=float, nargs="+", dest="Cs", help="C values tried (default: the product's)")
    p.add_argument("--sets", nargs="+", choices=list(SHIPPED), default=list(SHIPPED), help="data sets (curve)")
    args = p.parse_args(argv)
    from fit_curve_figures import markdown_table, run_curves, short_table  # the draws and figures, beside this file
    if args.step == "features":
        score_features(args.shared)
    elif args.step == "curve":
        from lec_onnx.fit import CS
        run_curves(CACHE, SIZES, DRAWS, {k: SHIPPED[k] for k in args.sets}, tuple(args.Cs or CS))
    else:
        print(markdown_table() + "\n\n" + short_table())
    return 0


if __name__ == "__main__":
    sys.exit(main())
