"""`lec-onnx sweep`: a probe at every layer and pooling, in-distribution and leave-one-source-out, over training
sizes, against majority, TF-IDF + LR and the instruct model asked zero-shot."""
from __future__ import annotations

from pathlib import Path

from lec_onnx.options import needs_export_extra

from .common import features, set_threads


def register(sub, model, data) -> None:
    s = sub.add_parser("sweep", parents=[model, data], help="layers x pooling x training size, with baselines",
                       description="Score a probe at every layer and pooling, in-distribution and leave-one-source-"
                                   "out, over training sizes, against majority, TF-IDF and zero-shot baselines.")
    s.add_argument("--out", "-o", required=True, help="folder for sweep.json, sweep.md and the PNG plots")
    s.add_argument("--layer-step", type=int, default=0, help="score every n-th layer (default: ~15 layers)")
    s.add_argument("--zero-shot-rows", type=int, default=300, help="test rows the instruct model answers (0: skip)")
    s.set_defaults(run=needs_export_extra(sweep))


def sweep(args) -> int:
    import numpy as np

    from ..models import load_model
    from ..sweep import hard_negative_fpr, prepare_data, run_sweep, save_report, split_indices, zero_shot
    set_threads(args.threads)
    data = prepare_data(args.data, args.cap, args.heldout, args.label_column, args.text_column)
    loaded = load_model(args.model, args.revision)
    feats = features(args, loaded, data)
    zs = None
    if args.zero_shot_rows and loaded.kind == "decoder":
        _, test = split_indices(data)
        rows = np.random.default_rng(0).permutation(test)[:args.zero_shot_rows]
        zs = zero_shot(loaded, data, np.sort(rows))
    result = run_sweep(feats, data, zs, C=args.C, layer_step=args.layer_step)
    result["model"] = {"id": loaded.model_id, "revision": loaded.revision, "kind": loaded.kind,
                       "layers": loaded.num_layers, "hidden_size": loaded.hidden_size}
    result["data"] = [str(d) for d in args.data]
    hard = [s for s in sorted(set(data.source)) if "overrefusal" in s]
    if hard:
        result["hard_negatives"] = hard_negative_fpr(result, feats, data, hard[0], args.C)
    out = Path(args.out)
    save_report(result, out, f"{Path(loaded.model_id).name} / {data.name}")
    print((out / "sweep.md").read_text())
    return 0
