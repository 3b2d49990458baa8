"""`lec-onnx steer-eval`: refusal, over-refusal and capability under four steering conditions (none, always-on,
gated, gated difference-of-means addition), resumable, with Wilson intervals."""
from __future__ import annotations

from lec_onnx.errors import InputError
from lec_onnx.options import needs_export_extra

from .common import model_options, steering_from_args, steering_options


def register(sub) -> None:
    e = sub.add_parser("steer-eval", help="refusal / over-refusal / capability under four steering conditions",
                       description="No steering, always-on, gated, and gated difference-of-means addition: refusal "
                                   "on harmful prompts, over-refusal on safe-but-risky ones, MMLU, GSM8K; Wilson "
                                   "95%% intervals. Resumable: one JSONL line per item and condition.")
    model_options(e)
    steering_options(e)
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
    e.set_defaults(run=needs_export_extra(steer_eval))


def steer_eval(args) -> int:
    import json
    from pathlib import Path

    import torch
    from tqdm.auto import tqdm

    from lec_onnx.export.models import load_model

    from ..steering_eval import METRICS, eval_items, gate_flags, plot_rates, read_jsonl, run_item_batch, summarise
    """Every item under every condition, one JSONL line each (resumable), then the table in steer-eval.md. A gated
    condition run after `none` copies none's row for each prompt its gate lets through (tested token-identical)."""
    torch.set_num_threads(args.threads)
    loaded = load_model(args.model)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "items.jsonl"
    done = {(r["condition"], r["id"]) for r in read_jsonl(path)} if path.exists() else set()
    items = eval_items(args)
    gate_flagged: dict[str, bool] = {}
    with path.open("a", buffering=1) as f:  # line-buffered: runs of other conditions may append alongside
        for name, (check, steering) in conditions(args, loaded).items():
            unsteered = {r["id"]: r for r in read_jsonl(path) if r["condition"] == "none"} \
                if check is not None and path.exists() else {}
            for kind in METRICS:
                todo = [it for it in items if it["set"] == kind and (name, it["id"]) not in done]
                if unsteered:  # what the gate lets through generates exactly as without steering: reuse it
                    unread = [it for it in todo if it["id"] not in gate_flagged]  # all gated conditions: one gate
                    gate_flagged.update(zip([it["id"] for it in unread],
                                            gate_flags(loaded, check, [it["prompt"] for it in unread])))
                    flags = [gate_flagged[it["id"]] for it in todo]
                    for it in [it for it, flagged in zip(todo, flags) if not flagged and it["id"] in unsteered]:
                        f.write(json.dumps({**unsteered[it["id"]], "condition": name, "steered": False,
                                            "reused": "none"}, ensure_ascii=False) + "\n")
                    todo = [it for it, flagged in zip(todo, flags) if flagged or it["id"] not in unsteered]
                for start in tqdm(range(0, len(todo), 8), desc=f"{name} {kind}", unit="batch"):
                    batch = todo[start:start + 8]
                    for it, row in zip(batch, run_item_batch(loaded, batch, check, steering, args.max_new_tokens)):
                        f.write(json.dumps({"condition": name, **it, **row}, ensure_ascii=False) + "\n")
                    f.flush()
    asked = {it["id"] for it in items}
    (out / "asked.json").write_text(json.dumps(sorted(asked)))  # for `sae judge`: the same items as the table
    rows = [r for r in read_jsonl(path) if r["id"] in asked]  # rows of items no longer asked for stay out
    table = summarise(rows)
    (out / "steer-eval.md").write_text(table + "\n")
    plot_rates(rows, out / "steer-eval.png")
    print(table)
    return 0


def conditions(args, loaded):
    """{name: (prompt_check, steering)} for the requested conditions."""
    from ..guard import load_prompt_check
    from ..steering import Steering, addition_edit
    wanted = args.condition or ["none", "always", "gated", "gated-diffmean"]
    needs_gate = [c for c in wanted if c.startswith("gated")]
    if needs_gate and not args.gate:
        raise InputError(f"conditions {', '.join(needs_gate)} need --gate PROBE")
    gate = lambda: load_prompt_check(args.gate, loaded.tokenizer, args.gate_threshold)  # noqa: E731
    out = {}
    for name in wanted:
        if name == "none":
            out[name] = (None, None)
        elif name in ("always", "gated"):
            if args.steer is None:
                raise InputError(f"condition {name} needs --steer LATENT=VALUE --sae DIR")
            out[name] = (gate() if name == "gated" else None, steering_from_args(args, loaded.model))
        else:
            if not args.direction:
                raise InputError("condition gated-diffmean needs --direction (directions.safetensors of sae layers)")
            from safetensors.torch import load_file
            layer = gate().layer if args.direction_layer is None else args.direction_layer
            key = f"layer_{layer}"
            directions = load_file(args.direction)
            if key not in directions:
                raise InputError(f"{args.direction} has no direction for layer {layer}")
            out[name] = (gate(), Steering(loaded.model, layer, addition_edit(directions[key], args.direction_scale)))
    return out
