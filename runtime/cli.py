"""`lec-onnx`: classify text with an artifact; sweep, train and export on the export side.

Exit codes: 0 success; 1 something was flagged (only with --fail-on-flag) or `check` failed; 2 bad input or usage;
3 a missing, corrupt or mismatched artifact; 4 the requested provider is unavailable.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from .check import MAX_F1_GAP, MIN_LABEL_AGREEMENT, SCORE_MARGIN, check_parity, cpu_int8_path
from .classifier import Classifier
from .errors import ArtifactError, InputError, LecError, ProviderError
from .inputs import SURROGATE, well_formed
from .rows import Row, read_rows
from .scoring import result_record
from .options import threshold_option

EXIT = {InputError: 2, ArtifactError: 3, ProviderError: 4}
MAX_TEXT_CHARS = 1_000_000  # ~250k tokens: past this a "text" is almost surely a wrong file
SHARED_DATA = "../shared/data"


def classify_rows(clf: Classifier, rows: list[Row], args) -> None:
    """Fill row.result (or row.error). A failing batch is retried row by row so one bad row names itself."""
    good = [r for r in rows if r.error is None]
    thresholds = args.thresholds
    for start in range(0, len(good), 256):
        chunk = good[start:start + 256]
        try:
            results = clf.classify([r.text for r in chunk], [r.system or args.system for r in chunk], args.role,
                                   [r.prompt or args.prompt for r in chunk], args.batch_size, thresholds)
        except InputError:
            results = []
            for r in chunk:
                try:
                    results.append(clf.classify(r.text, r.system or args.system, args.role, r.prompt or args.prompt,
                                                args.batch_size, thresholds)[0])
                except InputError as e:
                    r.error = f"line {r.line}: {e}" if args.source != "args" else str(e)
                    results.append(None)
        for r, res in zip(chunk, results):
            r.result = res


def render(rows: list[Row], args, tasks: list[str]) -> str:
    out = []
    for r in rows:
        if r.error is not None:
            if args.jsonl:
                out.append(json_line({"line": r.line, "id": r.id, "error": r.error}))
            continue
        res = {t: r.result[t] for t in tasks}
        if args.jsonl:
            doc = {"line": r.line} if args.source != "args" else {}
            if r.id is not None:
                doc["id"] = r.id
            doc["text"] = r.text
            doc.update(result_record(res))
            out.append(json_line(doc))
        else:
            flag = "FLAGGED" if any(v.flagged for v in res.values()) else "ok"
            text = well_formed(r.text)  # as scored: a lone surrogate cannot be printed
            preview = text if len(text) <= 70 else text[:67] + "..."
            out.append(f"{flag:8} {preview}")
            out.append("         " + "   ".join(
                f"{t}: {v.label} ({v.score:.3f}{f', {v.windows} windows' if v.windows > 1 else ''})"
                for t, v in res.items()))
    return "\n".join(out) + ("\n" if out else "")


def json_line(doc: dict) -> str:
    """One JSON line, non-ASCII kept readable; a lone surrogate (valid in JSON, unprintable as UTF-8) is written
    as its escape, so the text reads back exactly as given."""
    line = json.dumps(doc, ensure_ascii=False)
    return SURROGATE.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def write_atomic(path: str, content: str) -> None:
    """Write next to the target, then rename: readers never see half a file."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent if str(target.parent) else ".", prefix=f".{target.name}.")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(content)
    os.replace(tmp, target)


def classify(args) -> int:
    if args.file and args.texts:
        raise InputError("give texts or --file, not both")
    if not args.file and not args.texts:
        raise InputError("nothing to classify: give a TEXT, --file FILE, or - to read stdin")
    if args.file or args.texts == ["-"]:
        args.source = args.file or "-"
        rows = read_rows(args.source, True if args.file_format == "jsonl" else None if args.file_format == "auto"
                         else False, args.max_chars)
    else:
        args.source = "args"
        rows = [Row(i + 1, text=t) for i, t in enumerate(args.texts)]
        for r in rows:
            if not r.text.strip():
                raise InputError(f"text {r.line} is empty")
            if len(r.text) > args.max_chars:
                raise InputError(f"text {r.line} has {len(r.text):,} characters; the limit is {args.max_chars:,}")
    clf = Classifier.load(args.artifact, providers=args.provider, threads=args.threads, precision=args.precision,
                          window=args.window, stride=args.stride)
    tasks = selected_tasks(clf, args)
    args.thresholds = {}
    for task, value in args.threshold or []:
        args.thresholds.update({t: value for t in clf.tasks} if task is None else {task: value})
    classify_rows(clf, rows, args)
    bad = [r for r in rows if r.error is not None]
    if bad and args.on_error == "fail":
        raise InputError(bad[0].error + (f" (and {len(bad) - 1} more bad rows; --on-error skip writes the good ones)"
                                         if len(bad) > 1 else ""))
    for r in bad:
        print(f"skipped: {r.error}", file=sys.stderr)
    text = render(rows, args, tasks)
    if args.output:
        write_atomic(args.output, text)
    else:
        sys.stdout.write(text)
    if bad:
        print(f"{len(bad)} of {len(rows)} rows skipped", file=sys.stderr)
    flagged = any(r.error is None and any(r.result[t].flagged for t in tasks) for r in rows)
    return 1 if flagged and args.fail_on_flag else 0


def selected_tasks(clf: Classifier, args) -> list[str]:
    """The tasks to report: --task, or every task that applies to --role (saying which were skipped)."""
    fitting = clf.tasks_for(args.role)
    unknown = [t for t in (args.task or []) + [t for t, _ in args.threshold or [] if t] if t not in clf.tasks]
    if unknown:
        raise InputError(f"unknown task {unknown[0]!r}; this artifact has: {', '.join(clf.tasks)}")
    misfit = [t for t in args.task or [] if t not in fitting]
    if misfit:
        raise InputError(f"task {misfit[0]!r} applies to {_roles(clf.tasks[misfit[0]])} only, "
                         f"not to --role {args.role}")
    skipped = [t for t in clf.tasks if t not in fitting]
    if skipped and not args.task:
        print(f"note: {', '.join(skipped)} not scored: {'it applies' if len(skipped) == 1 else 'they apply'} to "
              f"{_roles(clf.tasks[skipped[0]])} only, not to --role {args.role}", file=sys.stderr)
    if not fitting:
        raise InputError(f"no task of this artifact applies to --role {args.role}")
    return args.task or fitting


def _roles(task) -> str:
    return " and ".join(f"{r}s" for r in task.roles)


def check(args) -> int:
    clf = Classifier.load(args.artifact, providers=args.provider, threads=args.threads, precision=args.precision)
    figures = check_parity(clf)
    print(f"int8 kernels here: {cpu_int8_path()}; {clf.manifest.parity_rows} of {clf.folder}")
    for task, f in figures.items():
        print(f"{'passed' if f['passed'] else 'FAILED':7} {task}: {f['rows']} rows; labels agree "
              f"{f['agreement_clear_of_threshold']:.2%} of those further than {SCORE_MARGIN} from the threshold "
              f"(need {MIN_LABEL_AGREEMENT:.0%}), {f['label_agreement']:.2%} of all; |score diff| p99 "
              f"{f['p99_abs_score_diff']:.4f} (need <= {SCORE_MARGIN}), max {f['max_abs_score_diff']:.4f}; weighted "
              f"F1 torch {f['f1_torch']:.4f} vs here {f['f1_onnx']:.4f} (need within {MAX_F1_GAP})")
    return 0 if all(f["passed"] for f in figures.values()) else 1


def build_parser() -> argparse.ArgumentParser:
    # Each command module registers its own subcommands; only argparse runs here, so listing the export and
    # generation commands needs neither torch nor the serve extra (their bodies import those when they run).
    from . import batch, serve
    from .fit import command as fit_command
    from .export import commands as export_commands
    from .generation import commands as generation_commands
    p = argparse.ArgumentParser(prog="lec-onnx", description=(
        "Layer Enhanced Classification: a transformer cut at a middle layer plus logistic heads, as one ONNX graph. "
        "`classify` and `check` need only the runtime; sweep, train, export, panel, generate, sae, steer-eval and "
        "fetch-models need `pip install lec-onnx[export]`; fit needs [fit]; serve needs [serve], batch --engine ray "
        "[ray]."),
        epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for register in (register_runtime_commands, export_commands.register, generation_commands.register, serve.register,
                     batch.register, fit_command.register):
        register(sub)
    return p


def register_runtime_commands(sub) -> None:
    """`lec-onnx classify` and `lec-onnx check`."""
    add_classify_parser(sub)
    add_check_parser(sub)


def add_classify_parser(sub) -> None:
    c = sub.add_parser("classify", help="classify texts with an artifact (default: the shipped one)",
                       description="Classify texts for every task of an artifact that fits the role.",
                       epilog=__doc__.split("\n\n", 1)[1], formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("texts", nargs="*", metavar="TEXT", help="texts to classify; '-' reads one text a line from stdin")
    c.add_argument("--file", "-f", help="a text file (one text a line) or JSONL (text, system, prompt, id)")
    c.add_argument("--file-format", choices=["auto", "lines", "jsonl"], default="auto",
                   help="how to read --file or stdin (auto: JSONL if the name ends in .jsonl)")
    c.add_argument("--system", help="the system prompt the texts were sent with (prompt-injection context); one "
                   "too long for the window is cut in its middle (--jsonl reports the tokens dropped)")
    c.add_argument("--role", choices=["prompt", "response"], default="prompt",
                   help="'response' checks a model's answer instead of a user's request (tasks declared for "
                   "prompts only, such as prompt_injection, are skipped)")
    c.add_argument("--prompt", help="with --role response: the request the response answers")
    c.add_argument("--artifact", "-a", help="artifact folder (default: the shipped artifacts/default)")
    _add_runtime_options(c)
    c.add_argument("--task", action="append", help="only this task (repeatable); default: all that fit the role")
    c.add_argument("--threshold", action="append", type=threshold_option, metavar="[TASK=]P",
                   help="flag when the score is at least P (per task, or for all binary tasks)")
    c.add_argument("--batch-size", type=int, default=16, help="windows per run for the fp32 graph")
    c.add_argument("--window", type=int, help="tokens per window over long texts (default: the manifest's)")
    c.add_argument("--stride", type=int, help="overlap of neighbouring windows in tokens (default: the manifest's)")
    c.add_argument("--jsonl", action="store_true", help="write one JSON object per text instead of a table")
    c.add_argument("--output", "-o", help="write results to this file (atomically) instead of stdout")
    c.add_argument("--on-error", choices=["fail", "skip"], default="fail",
                   help="a bad row in --file: stop with its message (fail) or report it and go on (skip)")
    c.add_argument("--max-chars", type=int, default=MAX_TEXT_CHARS, help="refuse longer texts")
    c.add_argument("--fail-on-flag", action="store_true", help="exit 1 when any text is flagged")
    c.set_defaults(run=classify)


def add_check_parser(sub) -> None:
    c = sub.add_parser("check", help="re-run an artifact's parity gate on this machine (no torch needed)",
                       description="Score the rows the export's parity gate used and compare with the torch "
                       f"probe's scores stored in the artifact: passes when, per task, 99% of scores are within "
                       f"{SCORE_MARGIN} of torch's, at least {MIN_LABEL_AGREEMENT:.0%} of the labels of rows further "
                       f"than {SCORE_MARGIN} from the threshold agree, and weighted F1 is within {MAX_F1_GAP}. "
                       "int8 kernels differ between CPUs: run this where the artifact will run. Exit 1 on failure.")
    c.add_argument("artifact", nargs="?", help="artifact folder (default: the shipped artifacts/default)")
    _add_runtime_options(c)
    c.set_defaults(run=check)


def _add_runtime_options(c) -> None:
    c.add_argument("--provider", choices=["cpu", "cuda"], default="cpu", help="onnxruntime execution provider")
    c.add_argument("--precision", choices=["int8", "fp32"], help="graph to run (default: int8 on cpu, fp32 on cuda)")
    c.add_argument("--threads", type=int, help="onnxruntime intra-op threads (default: all cores)")


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except LecError as e:
        print(f"lec-onnx: error: {e}", file=sys.stderr)
        return EXIT.get(type(e), 2)
    except KeyboardInterrupt:
        return 130
