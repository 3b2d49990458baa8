"""Argparse for `lec-onnx generate`, `lec-onnx sae harvest|train|features` and `lec-onnx steer-eval`.

Only argparse here (listing the commands needs no export extra); the commands live in generation_commands.py.
"""
from __future__ import annotations

import argparse


def _probability(value: str) -> float:
    from lec_onnx.cli import probability  # the runtime's CLI is loaded first: it registers these commands
    p = probability(value)
    if p is None:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {value!r}")
    return p


def _latent(value: str) -> tuple[int, float]:
    latent, sep, number = value.partition("=")
    try:
        return int(latent), float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LATENT=VALUE (e.g. 1234=8.5), got {value!r}") from None


def _model_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", required=True, help="hub id, local folder or .gguf file of an instruct decoder")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")


def _steering_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steer", type=_latent, metavar="LATENT=VALUE",
                   help="clamp this SAE latent to VALUE at every position: h' = h + (VALUE - f(h)) W_dec[LATENT]")
    p.add_argument("--sae", help="SAE folder (from `lec-onnx sae train`) for --steer")
    p.add_argument("--gate", metavar="PROBE", help="prompt-side probe read at prefill: steer (or act) only when it "
                   "flags the prompt; it must sit at or below the steering layer")
    p.add_argument("--gate-threshold", type=_probability, help="flag the prompt at this score (default: the probe's)")


def _add_generate(sub, command) -> None:
    g = sub.add_parser(
        "generate", help="generate answers with the answer-side guard and/or refusal steering",
        description="Greedy chat generation with an instruct decoder. --guard reads the model's own layer-k states "
        "after every token (a response probe on the running mean of the answer) and acts on a violation; --gate "
        "checks the prompt at prefill; --steer clamps an SAE latent (always, when --gate flags, or from the "
        "guard's violation on with --on-violation steer).")
    _model_args(g)
    g.add_argument("texts", nargs="*", metavar="PROMPT", help="prompts; '-' reads one prompt a line from stdin")
    g.add_argument("--file", "-f", help="prompts, one a line, or JSONL with a 'text' (or 'prompt') field")
    g.add_argument("--system", help="system prompt for every prompt")
    g.add_argument("--max-new-tokens", type=int, default=128)
    g.add_argument("--batch-size", type=int, default=1, help="prompts per generate call (left-padded)")
    g.add_argument("--guard", metavar="PROBE", help="response probe (JSON, role 'response') read after every token")
    g.add_argument("--guard-threshold", type=_probability, help="violation score (default: the probe's rule)")
    g.add_argument("--guard-patience", type=int, help="consecutive flagged steps for a violation (default: rule's)")
    g.add_argument("--on-violation", choices=["stop", "refuse", "steer", "monitor"], default="stop",
                   help="stop the answer, replace it with a refusal, switch on --steer from that token on, or only "
                        "report (also applies to a prompt flagged by --gate when there is no --steer)")
    g.add_argument("--refusal-text", default="I'm sorry, but I can't help with that.")
    _steering_args(g)
    g.add_argument("--jsonl", action="store_true", help="one JSON object per prompt (answer, tokens, violation...)")
    g.set_defaults(run=command("generate"))


def _add_sae(sub, command) -> None:
    s = sub.add_parser("sae", help="Top-k sparse autoencoder on one layer: harvest, train, features, grid, judge",
                       description="Harvest a layer's activations (fp16 memmap, resumable), train a Top-k SAE on "
                                   "them, and rank candidate refusal latents.")
    ss = s.add_subparsers(dest="sae_command", required=True, metavar="STEP")
    h = ss.add_parser("harvest", help="cache one layer's activations of chat prompts and the model's own answers")
    _model_args(h)
    h.add_argument("--layer", type=int, required=True)
    h.add_argument("--data", "-d", action="append", required=True, help=
                   "JSONL with text or prompt (+ token_ids: an answer); train split rows only; repeatable")
    h.add_argument("--tokens", type=int, default=500_000, help="stop after this many tokens")
    h.add_argument("--answer-tokens", type=int, default=32, help="greedy answer tokens per prompt (0: prompts only)")
    h.add_argument("--max-length", type=int, default=256)
    h.add_argument("--batch-size", type=int, default=8, help="prompts answered and read per step (larger: faster "
                   "on CPU, more memory)")
    h.add_argument("--heldout", help="SHA-256 hashes of texts to drop")
    h.add_argument("--out", "-o", required=True, help="harvest folder (activations.f16, progress.json)")
    h.set_defaults(run=command("sae_harvest"))
    t = ss.add_parser("train", help="train a Top-k SAE on a harvest")
    t.add_argument("--harvest", required=True)
    t.add_argument("--expansion", type=int, default=8, help="latents per hidden unit (8x; 16x as an ablation)")
    t.add_argument("--k", type=int, default=32)
    t.add_argument("--batch-size", type=int, default=1024)
    t.add_argument("--lr", type=float, default=2e-4)
    t.add_argument("--epochs", type=float, default=1.0)
    t.add_argument("--max-minutes", type=float, help="stop training after this long (the report says so)")
    t.add_argument("--aux-k", type=int, default=256, help="latents in the AuxK loss for dead latents")
    t.add_argument("--holdout", type=float, default=0.05, help="share of tokens held out for FVU")
    t.add_argument("--threads", type=int, default=1)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--out", "-o", required=True, help="SAE folder (sae.safetensors + sae.json)")
    t.set_defaults(run=command("sae_train"))
    y = ss.add_parser("layers", help="refusal-direction sweep: which layer to train the SAE at")
    _model_args(y)
    y.add_argument("--data", "-d", action="append", required=True, help="labelled prompts (content_safety.jsonl)")
    y.add_argument("--prompts", type=int, default=32, help="harmful and harmless prompts per split")
    y.add_argument("--layer-step", type=int, default=1)
    y.add_argument("--out", "-o", required=True, help="folder for layers.json and directions.safetensors")
    y.set_defaults(run=command("sae_layers"))
    f = ss.add_parser("features", help="rank latents by activation on refusals vs compliance")
    _model_args(f)
    f.add_argument("--sae", required=True)
    f.add_argument("--pairs", required=True, help="refusal_pairs.jsonl (prompt, refusal, compliance)")
    f.add_argument("--top", type=int, default=10)
    f.add_argument("--out", "-o", help="write the ranking as JSON")
    f.set_defaults(run=command("sae_features"))
    r = ss.add_parser("grid", help="choose clamp values (and a direction scale) on dev prompts")
    _model_args(r)
    r.add_argument("--sae", required=True)
    r.add_argument("--features", required=True, help="the ranking written by `sae features -o`")
    r.add_argument("--data", "-d", action="append", required=True, help="labelled prompts (content_safety.jsonl)")
    r.add_argument("--direction", help="directions.safetensors of `sae layers`: also grid the addition baseline")
    r.add_argument("--top", type=int, default=3, help="candidate latents from the ranking")
    r.add_argument("--multiples", type=_multiples, default=(1.0, 2.0, 4.0, 8.0, 12.0),
                   help="comma-separated multiples of each latent's peak activation (and of the direction's norm)")
    r.add_argument("--prompts", type=int, default=32, help="harmful and harmless dev prompts")
    r.add_argument("--offset", type=int, default=1000, help="first train-split row of the dev prompts")
    r.add_argument("--out", "-o", required=True, help="grid.json: every setting's refusal shares and the choice")
    r.set_defaults(run=command("sae_grid"))
    _add_sae_judge(ss, command)


def _add_sae_judge(ss, command) -> None:
    j = ss.add_parser("judge", help="second refusal judge for steer-eval: an LEC probe on the answers' states")
    _model_args(j)
    j.add_argument("--pairs", required=True, help="refusal_pairs.jsonl: the probe's only training texts")
    j.add_argument("--eval", required=True, help="a steer-eval folder (its items.jsonl)")
    j.add_argument("--layer", type=int, required=True, help="decoder layer the probe reads")
    j.add_argument("--C", type=float, default=0.05, help="L2 strength (inverse) of the probe")
    j.add_argument("--threshold", type=float, default=0.5, help="P(refusal) from which an answer counts as one")
    j.add_argument("--hand", help="hand-read sample (JSON with rows of prompt, answer_text, refused, hand)")
    j.add_argument("--cache", help="folder for teacher-forced answer states, reused across runs")
    j.set_defaults(run=command("sae_judge"))


def _multiples(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None
    if not values or min(values) <= 0:
        raise argparse.ArgumentTypeError("multiples must be positive")
    return values


def _add_steer_eval(sub, command) -> None:
    e = sub.add_parser("steer-eval", help="refusal / over-refusal / capability under four steering conditions",
                       description="No steering, always-on, gated, and gated difference-of-means addition: refusal "
                                   "on harmful prompts, over-refusal on safe-but-risky ones, MMLU, GSM8K; Wilson "
                                   "95%% intervals. Resumable: one JSONL line per item and condition.")
    _model_args(e)
    _steering_args(e)
    e.add_argument("--direction", help="difference-of-means direction (.safetensors from `sae features` or sweep)")
    e.add_argument("--direction-scale", type=float, default=4.0, help="added multiple of the unit direction")
    e.add_argument("--direction-layer", type=int, help="layer to add the direction at (default: the gate's)")
    e.add_argument("--condition", action="append", choices=["none", "always", "gated", "gated-diffmean"],
                   help="conditions to run (default: all four)")
    e.add_argument("--harmful", type=int, default=100)
    e.add_argument("--overrefusal", type=int, default=100)
    e.add_argument("--mmlu", type=int, default=100,  # steering_eval.MMLU_EVAL; not imported: it needs torch
                   help="MMLU items, at most 100 (the steering gate trains on the rest)")
    e.add_argument("--misconceptions", type=int, default=100, help="true/false statements (first-token argmax)")
    e.add_argument("--gsm8k", type=int, default=50)
    e.add_argument("--max-new-tokens", type=int, default=48)
    e.add_argument("--shared-data", default="../shared/data", help="folder with steering/ and extra/")
    e.add_argument("--data-dir", default="data",
                   help="the project's data/ folder (content_safety.jsonl, overrefusal.jsonl)")
    e.add_argument("--out", "-o", required=True, help="folder for items.jsonl and steer-eval.md")
    e.set_defaults(run=command("steer_eval"))


def register(sub, command) -> None:
    """Add generate, sae and steer-eval to the `lec-onnx` subparsers. command(name) wraps a function of
    lec_onnx.export.generation_commands (lazy import, the export extra's error when it is missing)."""
    _add_generate(sub, command)
    _add_sae(sub, command)
    _add_steer_eval(sub, command)
