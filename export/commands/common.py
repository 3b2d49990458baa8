"""What the pipeline's commands share: the model and data options, torch threads, and saving a probe with the
meta the exporter reads. Argparse at import time only; the pipeline is imported inside the helpers that use it."""
from __future__ import annotations

import argparse
from pathlib import Path


from .. import DEFAULT_C

DEFAULT_WINDOW = 256  # tokens per window of sweep, train and panel (export: the probes')


def model_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", "-m", required=True,
                        help="hub id (Qwen/Qwen2.5-0.5B-Instruct), local folder, or .gguf file")
    common.add_argument("--revision", help="hub revision (branch, tag or commit)")
    common.add_argument("--max-length", type=int,
                        help=f"tokens per window (sweep/train: {DEFAULT_WINDOW}; export: the probes')")
    common.add_argument("--batch-size", type=int, default=8, help="texts per forward pass")
    common.add_argument("--threads", type=int, help="torch threads (default 2)")
    common.add_argument("--cache", default=str(Path.home() / ".cache" / "lec-onnx" / "features"),
                        help="feature cache folder (memory-mapped .npy)")
    return common


def data_options() -> argparse.ArgumentParser:
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", "-d", action="append", required=True,
                      help="JSONL/CSV/Parquet file or hub dataset id; repeat to add rows (e.g. hard negatives)")
    data.add_argument("--text-column", default="text")
    data.add_argument("--label-column", default="label", help="e.g. 'category' for a multi-class probe")
    data.add_argument("--cap", type=int, help="at most this many rows per (source, label, split)")
    data.add_argument("--heldout", help="file of SHA-256 hashes of texts to drop (kept-aside evaluation sets)")
    data.add_argument("--C", type=float, default=DEFAULT_C, help=f"inverse L2 strength of the probe ({DEFAULT_C})")
    return data


def roles_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--roles", default="prompt,response",
                        help="what the task applies to: prompt, response or both (prompt injection: prompt)")


def set_threads(n: int | None) -> None:
    import torch
    torch.set_num_threads(n or 2)  # 2 threads measured 1.3-1.7x faster than 1 on this 2-core machine


def window(args) -> int:
    return args.max_length or DEFAULT_WINDOW


def features(args, loaded, data, poolings=None):
    """Per-layer pooled states of data's rows (cached on disk)."""
    from ..features import extract
    options = {"poolings": poolings} if poolings else {}
    return extract(loaded, data.text, data.system, max_length=window(args), batch_size=args.batch_size,
                   cache=args.cache, desc=f"features {Path(loaded.model_id).name} {data.name}", **options)


def save_probe_with_meta(probe, path, args, loaded, pooling: str, layer: int, data, **meta):
    """Save a probe with the meta the exporter reads (task, layer, pooling, roles, input format, window, model)."""
    import dataclasses

    from lec_onnx.errors import InputError
    from lec_onnx.manifest import ROLES

    from ..models import input_format
    from ..pooling import split_pooling
    from ..probe import save_probe
    name, gen = split_pooling(pooling)
    roles = [r.strip() for r in args.roles.split(",")]
    if not roles or set(roles) - set(ROLES):
        raise InputError(f"--roles takes prompt, response or both (comma-separated), not {args.roles!r}")
    return save_probe(probe, path, task=args.task or data.name, layer=layer, pooling=name, roles=roles,
                      input_format=dataclasses.asdict(input_format(loaded, gen)), max_length=window(args),
                      model={"id": loaded.model_id, "revision": loaded.revision, "kind": loaded.kind},
                      data=[str(d) for d in args.data + (getattr(args, "negative_data", None) or [])],
                      trained_rows=len(data), **meta)
