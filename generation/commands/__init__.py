"""The generating-model tools' subcommands, one module each: options (argparse only, so `lec-onnx --help` lists
them without torch) next to the body, which imports torch and the models when it runs."""
from __future__ import annotations

from . import generate, sae, steer_eval


def register(sub) -> None:
    """Add generate, sae and steer-eval to the `lec-onnx` subparsers."""
    generate.register(sub)
    sae.register(sub)
    steer_eval.register(sub)
