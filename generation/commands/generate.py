"""`lec-onnx generate`: greedy chat generation with the answer-side guard, the prompt gate and/or refusal
steering."""
from __future__ import annotations

from lec_onnx.errors import InputError
from lec_onnx.options import needs_export_extra, probability_option

from .common import model_options, steering_from_args, steering_options


def register(sub) -> None:
    g = sub.add_parser(
        "generate", help="generate answers with the answer-side guard and/or refusal steering",
        description="Greedy chat generation with an instruct decoder. --guard reads the model's own layer-k states "
        "after every token (a response probe on the running mean of the answer) and acts on a violation; --gate "
        "checks the prompt at prefill; --steer clamps an SAE latent (always, when --gate flags, or from the "
        "guard's violation on with --on-violation steer).")
    model_options(g)
    g.add_argument("texts", nargs="*", metavar="PROMPT", help="prompts; '-' reads one prompt a line from stdin")
    g.add_argument("--file", "-f", help="prompts, one a line, or JSONL with a 'text' (or 'prompt') field")
    g.add_argument("--system", help="system prompt for every prompt")
    g.add_argument("--max-new-tokens", type=int, default=128)
    g.add_argument("--batch-size", type=int, default=1, help="prompts per generate call (left-padded)")
    g.add_argument("--guard", metavar="PROBE", help="response probe (JSON, role 'response') read after every token")
    g.add_argument("--guard-threshold", type=probability_option, help="violation score (default: the probe's rule)")
    g.add_argument("--guard-patience", type=int, help="consecutive flagged steps for a violation (default: rule's)")
    g.add_argument("--on-violation", choices=["stop", "refuse", "steer", "monitor"], default="stop",
                   help="stop the answer, replace it with a refusal, switch on --steer from that token on, or only "
                        "report (also applies to a prompt flagged by --gate when there is no --steer)")
    g.add_argument("--refusal-text", default="I'm sorry, but I can't help with that.")
    steering_options(g)
    g.add_argument("--jsonl", action="store_true", help="one JSON object per prompt (answer, tokens, violation...)")
    g.set_defaults(run=needs_export_extra(generate))


def _prompts(args) -> list[str]:
    from lec_onnx.rows import read_rows  # one reader of prompt files for every command
    texts = [t for t in args.texts if t != "-"]
    if "-" in args.texts:
        texts += [r.text for r in read_rows("-", False, 1_000_000) if r.error is None]
    if args.file:
        rows = read_rows(args.file, None, 1_000_000)
        bad = next((r for r in rows if r.error), None)
        if bad:
            raise InputError(bad.error)
        texts += [r.text for r in rows]
    if not texts or any(not t.strip() for t in texts):
        raise InputError("give prompts as arguments, '-' (stdin) or --file; empty prompts are refused")
    return texts


def generate(args) -> int:
    import json
    import sys

    import torch

    from lec_onnx.export.models import load_model

    from ..guard import generate as guarded_generate, load_prompt_check
    from ..response_probe import load_guard
    torch.set_num_threads(args.threads)
    prompts = _prompts(args)
    if args.on_violation == "steer" and args.steer is None:
        raise InputError("--on-violation steer needs --steer LATENT=VALUE and --sae DIR")
    loaded = load_model(args.model)
    if loaded.kind != "decoder":
        raise InputError(f"{args.model} is not a decoder; generate needs an instruct decoder")
    guard = load_guard(args.guard, args.guard_threshold, patience=args.guard_patience) if args.guard else None
    check = load_prompt_check(args.gate, loaded.tokenizer, args.gate_threshold) if args.gate else None
    steering = steering_from_args(args, loaded.model)
    gens = guarded_generate(loaded.model, loaded.tokenizer, prompts, [args.system] * len(prompts), guard=guard,
                            on_violation=args.on_violation, prompt_check=check, steering=steering,
                            max_new_tokens=args.max_new_tokens, batch_size=args.batch_size,
                            refusal_text=args.refusal_text)
    for g in gens:
        if args.jsonl:
            print(json.dumps({"prompt": g.prompt, "answer": g.text, "tokens": g.tokens, "action": g.action,
                              "violation_at": g.violation_at, "prompt_score": g.prompt_score,
                              "guard_scores": g.guard_scores, "guard_prompt_score": g.guard_prompt_score},
                             ensure_ascii=False))
            continue
        notes = [f"prompt score {g.prompt_score:.3f}"] if g.prompt_score is not None else []
        if g.violation_at:
            notes.append(f"guard fired after {g.violation_at} tokens")
        if g.action:
            notes.append(g.action)
        print(f"> {g.prompt}\n{g.text}" + (f"\n[{'; '.join(notes)}]" if notes else "") + "\n")
    sys.stdout.flush()
    return 0
