"""`lec-onnx panel`: the stress panel of a task (families held out whole, eval-only sets) over a grid of layers,
poolings and C; optionally the best configuration as a calibrated probe."""
from __future__ import annotations

import dataclasses
from pathlib import Path

from lec_onnx.options import needs_export_extra

from .common import features, roles_option, save_probe_with_meta, set_threads

THRESHOLD_RULES = ("max-f1", "family-f1", "family-regret", "hard-negative-fpr")


def register(sub, model, data) -> None:
    sp = sub.add_parser("panel", parents=[model, data], help="stress panel: families held out whole, eval-only sets",
                        description="Hold out each family of sources whole (hard negatives, toxic statements, system-"
                        "prompt pairs, indirect injections...) and score evaluation-only sets: weighted F1, AUC and "
                        "recall at 1%%/5%% FPR per row, over a grid of layers, poolings and C. Scores are calibrated "
                        "on out-of-family predictions and the threshold follows --threshold-rule; --probe-out writes "
                        "the best configuration as a calibrated probe (Platt folded into its weights).")
    sp.add_argument("--task", required=True, help="task name (content_safety, toxicity, prompt_injection...)")
    roles_option(sp)
    sp.add_argument("--negative-data", action="append", help="file whose rows (of new sources) join as negatives")
    sp.add_argument("--negative-source", action="append", metavar="SOURCE",
                    help="only this source of --negative-data joins (repeatable; default: every new source)")
    sp.add_argument("--eval-data", action="append", help="evaluation-only file: measured, never trained on")
    sp.add_argument("--eval-cap", type=int, default=500, help="rows per (source, label, split) of an eval file")
    sp.add_argument("--exclude", action="append", metavar="SOURCE", help="leave a source out of the mix")
    sp.add_argument("--layer", type=int, action="append", help="layer to score (repeatable; default: all)")
    sp.add_argument("--pooling", action="append", help="pooling to score (repeatable; default: mean)")
    sp.add_argument("--C-grid", type=float, action="append", help="C values to score (repeatable; default --C)")
    sp.add_argument("--threshold-rule", choices=THRESHOLD_RULES, default="max-f1",
                    help="on calibrated out-of-family scores: max-f1 (weighted F1 over all rows), family-f1 (mean "
                         "weighted F1 over the held-out families, each counted once), family-regret (the "
                         "smallest worst shortfall of a held-out family against its own best threshold), or "
                         "hard-negative-fpr (the most recall with <= --max-fpr on hard negatives)")
    sp.add_argument("--max-fpr", type=float, default=0.05, help="false-positive budget of hard-negative-fpr")
    sp.add_argument("--rank-by", choices=["auc", "f1"], default="auc",
                    help="pick the configuration with the best mean held-out-family AUC, or the best mean weighted "
                         "F1 at its threshold (what users get at the operating point)")
    sp.add_argument("--out", "-o", required=True, help="folder for panel.json, panel.md and panel.png")
    sp.add_argument("--probe-out", help="write the best configuration as a calibrated probe JSON here")
    sp.set_defaults(run=needs_export_extra(panel))


def panel(args) -> int:
    from .. import panel as stress
    from ..models import load_model
    set_threads(args.threads)
    loaded = load_model(args.model, args.revision)
    data, evals = stress.load_panel_data(args.task, args.data, args.negative_data or [], args.eval_data or [],
                                         args.cap, args.eval_cap, args.heldout, args.negative_source)
    poolings = tuple(args.pooling or ["mean"])
    feats = features(args, loaded, data.train, poolings)
    data = dataclasses.replace(data, excluded=frozenset(args.exclude or []))
    eval_feats = {name: (features(args, loaded, ds, poolings), y) for name, (ds, y) in evals.items()}
    layers = args.layer or list(range(1, loaded.num_layers + 1))
    result = stress.run_grid(feats, data, eval_feats, layers, poolings, args.C_grid or [args.C], args.threshold_rule,
                             args.max_fpr, args.rank_by)
    result["model"] = {"id": loaded.model_id, "kind": loaded.kind, "layers": loaded.num_layers}
    result["data"], result["exclude"] = [str(d) for d in args.data + (args.negative_data or [])], args.exclude or []
    result["negative_data"], result["negative_sources"] = [str(d) for d in args.negative_data or []], \
        args.negative_source or []
    result["cap"], result["eval_cap"] = args.cap, args.eval_cap
    stress.save(result, Path(args.out), f"{Path(loaded.model_id).name}")
    print((Path(args.out) / "panel.md").read_text())
    if args.probe_out:
        save_best_probe(args, loaded, feats, data, result)
    return 0


def save_best_probe(args, loaded, feats, data, result) -> None:
    """The panel's best configuration fitted on every trainable row, calibrated (Platt folded in), with the
    threshold its rule chose."""
    import numpy as np

    from lec_onnx.errors import InputError

    from .. import panel as stress
    from ..operating import fold_platt
    from ..probe import LECProbe
    best = result["best"]
    config = stress.best_config(result)
    X = np.asarray(feats[best["pooling"]][:, best["layer"]], np.float64)
    rows = np.flatnonzero(data.trainable)
    if sorted(set(data.train.label))[0] != data.negative:
        raise InputError(f"the negative label {data.negative!r} must sort first for the calibration to fold")
    probe = fold_platt(LECProbe(C=best["C"]).fit(X[rows], np.array(data.train.label)[rows]), *config["platt"])
    path = save_probe_with_meta(probe, args.probe_out, args, loaded, best["pooling"], best["layer"],
                                data.train.subset(rows), threshold=best["threshold"],
                                operating_point={"rule": config["rule"], "platt": config["platt"],
                                                 "max_fpr": args.max_fpr, "panel": str(Path(args.out) / "panel.json")})
    print(f"calibrated probe written to {path} (threshold {best['threshold']})")
