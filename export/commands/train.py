"""`lec-onnx train`: fit one probe at a given layer and pooling on all training rows; save it as JSON."""
from __future__ import annotations

from lec_onnx.options import needs_export_extra

from .common import features, roles_option, save_probe_with_meta, set_threads


def register(sub, model, data) -> None:
    t = sub.add_parser("train", parents=[model, data], help="fit one probe and save it as JSON")
    t.add_argument("--layer", type=int, required=True)
    t.add_argument("--pooling", default="mean",
                   help="mean, last, first, text-mean (the text's own tokens); gen-mean, gen-last or gen-text-mean for "
                        "chat decoders (the input ends in the generation prompt)")
    t.add_argument("--task", help="task name in the artifact (default: the data file's name)")
    roles_option(t)
    t.add_argument("--all-rows", action="store_true", help="train on test rows too (for a shipped probe)")
    t.add_argument("--documents", type=int, default=0,
                   help="add this many synthetic long documents of harmless rows, half ending in an attack row")
    t.add_argument("--exclude", action="append", metavar="SOURCE[:LABEL]",
                   help="leave out the rows of a source (or of one of its labels) from training; repeatable")
    t.add_argument("--system-pairs", type=int, default=0,
                   help="add this many system-less rows again under a system prompt from the data (label kept)")
    t.add_argument("--out", "-o", required=True, help="probe file (.json)")
    t.set_defaults(run=needs_export_extra(train))


def train(args) -> int:
    import numpy as np

    from lec_onnx.errors import InputError

    from ..data import with_documents, with_system_prompts, without_rows
    from ..features import poolings_for
    from ..models import load_model
    from ..probe import LECProbe
    from ..sweep import prepare_data, split_indices
    set_threads(args.threads)
    data = prepare_data(args.data, args.cap, args.heldout, args.label_column, args.text_column)
    data = without_rows(data, args.exclude or [])
    if args.documents:
        data = with_documents(data, args.documents)
    if args.system_pairs:
        data = with_system_prompts(data, args.system_pairs)
    loaded = load_model(args.model, args.revision)
    if args.pooling not in poolings_for(loaded):
        raise InputError(f"pooling {args.pooling!r} is not available for this model: {', '.join(poolings_for(loaded))}")
    if not 1 <= args.layer <= loaded.num_layers:
        raise InputError(f"layer must be between 1 and {loaded.num_layers}")
    feats = features(args, loaded, data)
    X = np.asarray(feats[args.pooling][:, args.layer], np.float64)
    train_rows, _ = split_indices(data)
    rows = np.arange(len(data)) if args.all_rows else train_rows
    probe = LECProbe(C=args.C).fit(X[rows], np.array(data.label)[rows])
    path = save_probe_with_meta(probe, args.out, args, loaded, args.pooling, args.layer, data.subset(rows))
    print(f"probe written to {path} ({len(rows)} rows, layer {args.layer}, {args.pooling})")
    return 0
