"""`lec-onnx fit TASK --data FILE -o DIR`: a new head on the artifact's own graph (lec_onnx.fit), as an artifact.

Its options next to its body; scikit-learn and onnx are imported only when it runs (the fit extra: without it,
exit 2 and the install line).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lec_onnx.classifier import Classifier
from lec_onnx.errors import InputError
from lec_onnx.manifest import ROLES
from lec_onnx.options import requires_extra

from .head import FEW_ROWS_PER_CLASS, SELECTION_RULE, labelled_rows, save_artifact


# The packages of the fit extra (pyproject.toml): a missing one is named with its install line.
FIT_PACKAGES = ("sklearn", "onnx", "scipy", "pyarrow")


def register(sub) -> None:
    """`lec-onnx fit` (scikit-learn and onnx are imported only when it runs: the fit extra)."""
    f = sub.add_parser("fit", help="fit a new head on the artifact's own graph from labelled rows (lec-onnx[fit])",
                       description="Score labelled rows with the artifact's int8 graph, choose the feature (layer, "
                       "pooling or a concatenation), C and the threshold by cross-validation (" + SELECTION_RULE +
                       "), append the head to a copy of the graph and write a complete artifact. No torch needed.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    f.add_argument("task", metavar="TASK", help="name of the new task (its graph output)")
    f.add_argument("--data", "-d", action="append", required=True, metavar="FILE",
                   help="JSONL, CSV or Parquet with text, label and optional system (repeatable)")
    f.add_argument("--artifact", "-a", help="the artifact to add the head to (default: the shipped one)")
    f.add_argument("--output", "-o", required=True, metavar="DIR", help="the new artifact's folder (must not exist)")
    f.add_argument("--negative", metavar="LABEL", help="the label not flagged (default: the most frequent)")
    f.add_argument("--replace", action="store_true", help="replace an existing task of that name")
    f.add_argument("--role", action="append", choices=ROLES, dest="roles",
                   help="what the task applies to (repeatable; default: prompts and responses)")
    f.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: all cores)")
    f.set_defaults(run=requires_extra("fit", FIT_PACKAGES, fit_command))


def read_data(paths: list[str]) -> tuple[list[str], list[str], list[str | None]]:
    """texts, labels, system prompts of every file (JSONL, CSV, Parquet: the LEC pipeline's reader, torch-free).
    One file may hold one label only (flagged rows in one file, the others in another)."""
    from lec_onnx.export.data import read_rows
    texts, labels, systems = [], [], []
    for path in paths:
        if not Path(path).is_file():
            raise InputError(f"data file not found: {path}")
        rows = read_rows(Path(path))
        if not rows:
            raise InputError(f"{path} has no rows")
        for n, row in enumerate(rows, 1):
            if row.get("label") in (None, "") or not isinstance(row.get("text"), str):
                raise InputError(f"{path}: row {n} needs a text and a label (columns there: {', '.join(row)})")
            if not row["text"].strip():
                raise InputError(f"{path}: row {n} has an empty text")
            texts.append(row["text"])
            labels.append(str(row["label"]))
            systems.append(str(row["system"]) if row.get("system") not in (None, "") else None)
    return texts, labels, systems


def progress_bar(total: int):
    """tqdm's bar on stderr when installed, else a plain line every tenth."""
    try:
        from tqdm import tqdm
        return tqdm(total=total, desc="scoring rows", unit="window", file=sys.stderr).update
    except ImportError:
        done = [0]

        def update(n):
            done[0] += n
            if done[0] == total or done[0] * 10 // total != (done[0] - n) * 10 // total:
                print(f"scored {done[0]}/{total} windows", file=sys.stderr)
        return update


def fit_command(args) -> int:
    texts, labels, systems = read_data(args.data)
    clf = Classifier.load(args.artifact, threads=args.threads)
    out = Path(args.output)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} exists and is not empty: give a new folder")
    rows = labelled_rows(texts, labels, systems, args.negative)  # bad rows refused before any scoring
    for label, n in rows.counts().items():
        if n < FEW_ROWS_PER_CLASS:
            print(f"warning: only {n} rows labelled {label!r}; the cross-validated figures are uncertain "
                  f"(aim for {FEW_ROWS_PER_CLASS}+ of each label)", file=sys.stderr)
    fitted = clf.fit(args.task, texts, labels, systems, args.negative, replace=args.replace, roles=args.roles,
                     trained_on=[Path(p).name for p in args.data], progress=progress_bar)
    spec = fitted.tasks[args.task]
    save_artifact(fitted, out)
    print(f"{args.task}: {len(rows.y)} rows ({', '.join(f'{n} {l}' for l, n in rows.counts().items())}); "
          f"reads {' + '.join(spec.inputs)}, C={spec.C}, threshold {spec.threshold:.3f}; cross-validated F1 of "
          f"{rows.labels[1]!r} {spec.fitted['cv_f1']:.3f}, ROC AUC {spec.fitted['cv_auc']:.3f}")
    print(f"artifact written to {out} (tasks: {', '.join(fitted.tasks)}); lec-onnx check {out}")
    return 0
