"""The LEC pipeline's subcommands, one module each: its options (argparse only, so `lec-onnx --help` lists them
without torch) next to its body, which imports the pipeline when it runs (without the [export] extra: exit 2 and
the install line)."""
from __future__ import annotations

from . import export, fetch_models, panel, sweep, train
from .common import data_options, model_options


def register(sub) -> None:
    """Add sweep, train, export, panel and fetch-models to the `lec-onnx` subparsers."""
    model, data = model_options(), data_options()
    sweep.register(sub, model, data)
    train.register(sub, model, data)
    export.register(sub, model)
    panel.register(sub, model, data)
    fetch_models.register(sub)
