"""Argparse value types shared by every command (runtime, export and generation side).

A leaf module: it imports nothing of lec_onnx, so any command module can use it without import cycles.
"""
from __future__ import annotations

import argparse


def probability(text: str) -> float | None:
    """The number in text if it is a probability (0 to 1), else None: for argparse types that say what they expect."""
    try:
        p = float(text)
    except ValueError:
        return None
    return p if 0.0 <= p <= 1.0 else None


def probability_option(value: str) -> float:
    """argparse type: a probability between 0 and 1."""
    p = probability(value)
    if p is None:
        raise argparse.ArgumentTypeError(f"expected a probability between 0 and 1, got {value!r}")
    return p


def threshold_option(value: str) -> tuple[str | None, float]:
    """argparse type of `--threshold [TASK=]P`: (task or None for every binary task, P)."""
    task, sep, number = value.rpartition("=")
    p = probability(number)
    if p is None:
        raise argparse.ArgumentTypeError(f"expected TASK=P or P with P between 0 and 1, got {value!r}")
    return (task if sep else None), p


def requires_extra(extra: str, packages: tuple[str, ...], run):
    """Wrap a command body whose heavy imports sit inside it: a missing package of the extra becomes a clear
    InputError (exit 2) naming the install line, instead of a traceback."""
    def checked(args):
        try:
            return run(args)
        except ModuleNotFoundError as e:
            if (e.name or "").split(".")[0] not in packages:
                raise
            from .errors import InputError  # a leaf too; imported here to keep this module import-free
            raise InputError(f"`lec-onnx {args.command}` needs the {extra} extra: pip install 'lec-onnx[{extra}]' "
                             f"({e.name} is missing)") from None
    return checked


# The packages of the export extra (pyproject.toml): a command that misses one of them says which extra to install.
EXPORT_PACKAGES = ("torch", "transformers", "accelerate", "gguf", "safetensors", "onnx", "onnxscript", "sklearn",
                   "matplotlib", "tqdm", "pyarrow")


def needs_export_extra(run):
    """A command body of the LEC pipeline or the generating-model tools: they import torch when they run."""
    return requires_extra("export", EXPORT_PACKAGES, run)
