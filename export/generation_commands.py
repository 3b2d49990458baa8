"""`lec-onnx generate`, `lec-onnx sae ...` and `lec-onnx steer-eval` (argparse in generation_cli.py)."""
from __future__ import annotations

import json
import sys

import torch

from lec_onnx.errors import InputError

from .generation import generate as guarded_generate, load_prompt_check
from .models import load_model
from .refusal_judge import sae_judge  # noqa: F401 (command)
from .response_probe import load_guard
from .steering_eval import (sae_features, sae_grid, sae_harvest, sae_layers, sae_train,  # noqa: F401 (commands)
                            steer_eval)


def _prompts(args) -> list[str]:
    from lec_onnx.cli import read_rows
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


def steering_from_args(args, model):
    """The Steering of --steer/--sae (None without --steer)."""
    if args.steer is None:
        if args.sae:
            raise InputError("--sae needs --steer LATENT=VALUE")
        return None
    if not args.sae:
        raise InputError("--steer needs --sae DIR (an SAE from `lec-onnx sae train`)")
    from .sae import load_sae
    from .steering import sae_steering
    latent, value = args.steer
    return sae_steering(model, load_sae(args.sae), latent, value)


def generate(args) -> int:
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
