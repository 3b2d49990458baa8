"""`lec-onnx batch`: score a Parquet or JSONL file, in one process or on Ray Data; results appended as columns.

Both engines wrap the same `lec_onnx.scoring.Scorer` (pandas in, pandas out). The local engine streams the file
in batches through one Scorer and writes one file atomically. The Ray engine (extra `[ray]`) reads with Ray Data,
runs `map_batches(Scorer)` on a fixed pool of actors (one model load per actor) and writes a folder of part files,
Ray Data's layout for parallel writers.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from .classifier import InputError, read_manifest
from .options import threshold_option
from .scoring import Scorer


def register(sub) -> None:
    """`lec-onnx batch` (pandas, pyarrow and Ray are imported only when it runs)."""
    b = sub.add_parser("batch", help="score a Parquet or JSONL file, locally or on Ray Data (lec-onnx[ray])",
                       description="Append result columns (TASK_label, TASK_score, TASK_flagged, TASK_windows, "
                       "TASK_top_window, TASK_score_LABEL, flagged) to every row of a Parquet or JSONL file. "
                       "--engine local streams the file in one process; --engine ray runs Ray Data map_batches "
                       "with one model per actor and writes a folder of part files.",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    add_batch_arguments(b)
    b.set_defaults(run=batch_command)


def add_batch_arguments(b: argparse.ArgumentParser) -> None:
    b.add_argument("input", metavar="INPUT", help="Parquet (.parquet) or JSONL (.jsonl, .json) file; with "
                   "--engine ray also a folder of them")
    b.add_argument("output", metavar="OUTPUT", help="--engine local: the file to write; --engine ray: a folder "
                   "of part files (Parquet unless OUTPUT ends in .jsonl)")
    b.add_argument("--engine", choices=["local", "ray"], default="local",
                   help="local: one process (default); ray: Ray Data, one model per actor (needs lec-onnx[ray])")
    b.add_argument("--artifact", "-a", help="artifact folder (default: the shipped artifacts/default)")
    b.add_argument("--text-column", default="text", help="column of texts to score (default: text)")
    b.add_argument("--system-column", help="column of system prompts (prompt-injection context); null: --system")
    b.add_argument("--prompt-column", help="with --role response: column of the requests the texts answer")
    b.add_argument("--system", help="system prompt for rows without one")
    b.add_argument("--prompt", help="with --role response: the request, for rows without one")
    b.add_argument("--role", choices=["prompt", "response"], default="prompt",
                   help="'response' checks a model's answers instead of users' requests")
    b.add_argument("--threshold", action="append", type=threshold_option, metavar="[TASK=]P",
                   help="flag when the score is at least P (per task, or for all binary tasks)")
    b.add_argument("--format", choices=["auto", "parquet", "jsonl"], default="auto",
                   help="output format (auto: JSONL if OUTPUT ends in .jsonl or .json, else Parquet)")
    b.add_argument("--on-error", choices=["fail", "skip"], default="fail",
                   help="a row that cannot be scored: stop with its message, or fill its 'error' column and go on")
    b.add_argument("--batch-size", type=int, default=256, help="rows per batch handed to a scorer")
    b.add_argument("--threads", type=int, default=1, help="--engine local: onnxruntime threads")
    b.add_argument("--concurrency", type=int, default=2, help="--engine ray: scorer actors (one model each)")
    b.add_argument("--num-cpus", type=float, default=1.0, help="--engine ray: CPUs reserved per actor")
    b.add_argument("--address", help="--engine ray: a running Ray cluster (default: start one on this machine)")


def scorer_options(args) -> dict:
    """The Scorer's keyword arguments from the command line (what each Ray actor is built with)."""
    return {"artifact": args.artifact, "text_column": args.text_column, "system_column": args.system_column,
            "prompt_column": args.prompt_column, "system": args.system, "prompt": args.prompt, "role": args.role,
            "thresholds": dict(args.threshold or []), "on_error": args.on_error}


def input_format(path: str) -> str:
    suffixes = {".parquet": "parquet", ".pq": "parquet", ".jsonl": "jsonl", ".json": "jsonl"}
    name = Path(path)
    if name.is_dir():
        kinds = {suffixes.get(p.suffix) for p in name.iterdir() if p.suffix in suffixes}
        if len(kinds) == 1:
            return kinds.pop()
        raise InputError(f"{path}: a folder must hold only .parquet or only .jsonl files")
    if name.suffix not in suffixes:
        raise InputError(f"{path}: expected a .parquet or .jsonl file")
    if not name.is_file():
        raise InputError(f"cannot read {path}: no such file")
    return suffixes[name.suffix]


def output_format(args) -> str:
    if args.format != "auto":
        return args.format
    return "jsonl" if args.output.endswith((".jsonl", ".json")) else "parquet"


def batch_command(args) -> int:
    if args.batch_size < 1:
        raise InputError("--batch-size must be at least 1")
    read_manifest(args.artifact) if args.artifact else None  # a wrong artifact fails here (exit 3), not in a worker
    options = scorer_options(args)
    if args.engine == "local":
        rows = run_local(args.input, args.output, options, output_format(args), args.batch_size, args.threads)
    else:
        rows = run_ray(args.input, args.output, options, output_format(args), args.batch_size, args.concurrency,
                       args.num_cpus, args.address)
    print(f"scored {rows:,} rows -> {args.output}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------- local engine
def read_batches(path: str, batch_size: int):
    """Record batches of a Parquet file (streamed) or a JSONL file (parsed by pyarrow, like Ray Data does)."""
    import pyarrow as pa
    kind = input_format(path)
    if Path(path).is_dir():
        raise InputError(f"{path} is a folder: --engine local reads one file")
    try:
        if kind == "parquet":
            import pyarrow.parquet as pq
            batches = pq.ParquetFile(path).iter_batches(batch_size)
        else:
            import pyarrow.json as pj
            batches = pj.read_json(path).to_batches(batch_size)
        for batch in batches:
            batch.validate(full=True)  # Arrow reads invalid UTF-8 into string columns and fails only in pandas
            yield batch
    except (pa.ArrowException, OSError) as e:  # ArrowException: invalid UTF-8 raises the base class itself
        raise unreadable(path, e) from None


def unreadable(path: str, error: BaseException) -> InputError:
    """Why Arrow could not read `path`, naming the first bad line of a JSONL file: Arrow refuses the whole file
    for one line (invalid UTF-8, a NUL byte, a lone surrogate escape) and its message may name no line."""
    files = sorted(Path(path).glob("*.json*")) if Path(path).is_dir() else [Path(path)]
    for file in files:
        if file.suffix in (".jsonl", ".json") and file.is_file():
            bad = first_bad_jsonl_line(file)
            if bad:
                return InputError(f"cannot read {bad} (Arrow reads a JSONL file whole: fix or drop that line)")
    detail = str(error).strip().splitlines()[-1] if str(error).strip() else type(error).__name__
    return InputError(f"cannot read {path}: {detail}")


def first_bad_jsonl_line(file: Path) -> str | None:
    """'file:N: why' for the first line Arrow's JSON reader refuses, or None."""
    import json

    from .rows import text_lines
    from .inputs import well_formed
    name = str(file)
    try:
        for n, text, error in text_lines(file.read_bytes(), name):
            if error is not None:
                return error
            try:
                doc = json.loads(text)
            except (ValueError, RecursionError) as e:
                return f"{name}:{n}: not valid JSON ({str(e).split(':')[0]})"
            strings = [v for v in (doc.values() if isinstance(doc, dict) else []) if isinstance(v, str)]
            if any(well_formed(v) != v for v in strings):
                return f"{name}:{n}: a lone UTF-16 surrogate escape (such as \\ud800), which Arrow refuses"
    except (InputError, OSError) as e:
        return str(e)
    return None


def run_local(source: str, target: str, options: dict, fmt: str, batch_size: int = 256, threads: int = 1,
              scorer_cls=None) -> int:
    """Score `source` with one Scorer and write `target` atomically (a temp file renamed at the end)."""
    _need("pandas", "pyarrow")
    import pyarrow as pa
    scorer = (scorer_cls or Scorer)(threads=threads, **options)
    folder = Path(target).parent
    fd, tmp = tempfile.mkstemp(dir=folder if str(folder) else ".", prefix=f".{Path(target).name}.")
    os.close(fd)
    rows, writer = 0, None
    try:
        for record_batch in read_batches(source, batch_size):
            scored = scorer(record_batch.to_pandas())
            rows += len(scored)
            if fmt == "jsonl":
                with open(tmp, "a", encoding="utf-8") as f:
                    scored.to_json(f, orient="records", lines=True, force_ascii=False)
            else:
                table = pa.Table.from_pandas(scored, preserve_index=False)
                writer = writer or _parquet_writer(tmp, table.schema)
                writer.write_table(table.cast(writer.schema))
        if writer is None and fmt == "parquet":
            raise InputError(f"{source} has no rows to score")
        if writer is not None:
            writer.close()
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return rows


def _need(*modules: str) -> None:
    import importlib.util
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise InputError(f"`lec-onnx batch` needs {' and '.join(modules)}: pip install 'lec-onnx[ray]' "
                         f"({missing[0]} is missing)")


def _parquet_writer(path: str, schema):
    import pyarrow.parquet as pq
    return pq.ParquetWriter(path, schema)


# ---------------------------------------------------------------- Ray Data engine
def run_ray(source: str, target: str, options: dict, fmt: str, batch_size: int = 256, concurrency: int = 2,
            num_cpus: float = 1.0, address: str | None = None, scorer_cls=None) -> int:
    """Score with Ray Data: map_batches over `concurrency` actors, each loading the model once."""
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise InputError(f"`lec-onnx batch --engine ray` needs the ray extra: pip install 'lec-onnx[ray]' "
                         f"({e.name} is missing)") from None
    kind = input_format(source)
    started = _start_ray(ray, address, concurrency * num_cpus)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # part files keep the input's row order
        read = ray.data.read_parquet if kind == "parquet" else ray.data.read_json
        ds = read(source).map_batches(scorer_cls or Scorer, fn_constructor_kwargs={"threads": 1, **options},
                                      batch_format="pandas", batch_size=batch_size, num_cpus=num_cpus,
                                      compute=ray.data.ActorPoolStrategy(size=concurrency))
        try:
            (ds.write_json if fmt == "jsonl" else ds.write_parquet)(target)
        except Exception as e:
            user_error = _user_error(e)
            if user_error is None and _arrow_read_failed(e):
                user_error = unreadable(source, e)
            if user_error is None:
                raise
            raise user_error from None
        return sum(1 for _ in _rows_written(target, fmt))
    finally:
        if started:
            ray.shutdown()


def _start_ray(ray, address: str | None, actor_cpus: float) -> bool:
    """Join a cluster, or start a local Ray whose CPU count leaves one for the read and write tasks: actors
    holding every CPU would starve them and the job would hang."""
    if ray.is_initialized():
        return False
    if address:
        ray.init(address=address)
        total = ray.cluster_resources().get("CPU", 0)
        if actor_cpus >= total:
            print(f"lec-onnx: warning: the actors reserve {actor_cpus:g} of the cluster's {total:g} CPUs; read "
                  "tasks may starve: lower --concurrency or --num-cpus", file=sys.stderr)
        return True
    # Ray runs its workers at niceness 15 by default; on a machine shared with other jobs the scorer actors then
    # got ~2% of a core each (measured at load average 15) and a 240-row job took over 10 minutes.
    os.environ.setdefault("RAY_worker_niceness", "0")
    ray.init(num_cpus=max(os.cpu_count() or 1, int(actor_cpus + 0.999) + 1), include_dashboard=False,
             log_to_driver=False, configure_logging=False)
    return True


def _user_error(e: BaseException) -> InputError | None:
    """The InputError a scorer raised inside a Ray worker, if that is what failed the job."""
    seen = set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        if isinstance(e, InputError):
            return InputError(str(e))
        text = str(e)
        if "InputError" in text:  # Ray may re-raise a worker's exception as its own type, message kept
            return InputError(text.split("InputError:", 1)[-1].strip().splitlines()[0])
        e = getattr(e, "cause", None) or e.__cause__
    return None


def _arrow_read_failed(e: BaseException) -> bool:
    """Ray re-raises a read task's Arrow error under its own types, the message kept; invalid UTF-8 surfaces only
    when a scorer converts the batch to Python strings."""
    text = f"{type(e).__name__}: {e}"
    return any(word in text for word in ("ArrowInvalid", "ArrowException", "JSON parse error", "Wrapping",
                                         "UnicodeDecodeError"))


def _rows_written(folder: str, fmt: str):
    import pyarrow.parquet as pq
    for part in sorted(Path(folder).iterdir()):
        if fmt == "parquet" and part.suffix == ".parquet":
            yield from range(pq.ParquetFile(part).metadata.num_rows)
        elif fmt == "jsonl" and part.suffix == ".json":
            yield from (1 for line in part.open(encoding="utf-8") if line.strip())
