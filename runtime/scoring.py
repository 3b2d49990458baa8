"""One scoring interface for every caller: the CLI's --jsonl, the moderation server and the batch engines.

`result_record` turns a `Classifier.classify` result into a plain JSON-able record, so the CLI, the server and
batch output carry identical fields and rounding. `Scorer` is pandas in, pandas out: it loads the classifier once
(in __init__) and appends result columns to each batch, which is the shape Ray Data's `map_batches` (a callable
class, one load per actor), Spark's `mapInPandas` and the local batch engine all take. pandas is imported only
when a Scorer is used, so the runtime still imports without it.
"""
from __future__ import annotations

import math

from .classifier import Classifier, InputError, TaskResult

DIGITS = 6  # scores are rounded once, here, for every output
RESULT_FIELDS = ("label", "score", "flagged", "windows", "top_window")
RECORD_KEYS = ("flagged", "system_tokens_dropped")  # a record's keys that are not tasks


def result_record(result: dict[str, TaskResult], digits: int = DIGITS) -> dict:
    """{task: {label, score, flagged, scores, windows, top_window}, ..., "flagged": any task flagged,
    "system_tokens_dropped": n}."""
    reserved = set(RECORD_KEYS) & set(result)
    if reserved:
        raise InputError(f"a task may not be named {sorted(reserved)[0]!r}: the record keeps that key")
    record = {task: {"label": r.label, "score": round(r.score, digits), "flagged": r.flagged,
                     "scores": {k: round(s, digits) for k, s in r.scores.items()}, "windows": r.windows,
                     "top_window": r.top_window} for task, r in result.items()}
    record["flagged"] = any(r.flagged for r in result.values())
    # a system prompt too long for the window is cut in its middle; this many of its tokens were dropped
    record["system_tokens_dropped"] = next(iter(result.values())).system_tokens_dropped if result else 0
    return record


def result_columns(tasks: dict) -> dict[str, str]:
    """The flat columns a Scorer appends, with their pandas dtypes (nullable, so skipped rows stay typed):
    TASK_label, TASK_score, TASK_flagged, TASK_windows, TASK_top_window, TASK_score_LABEL per class, flagged."""
    kinds = {"label": "string", "score": "float64", "flagged": "boolean", "windows": "Int64", "top_window": "Int64"}
    columns = {}
    for task, spec in tasks.items():
        columns.update({f"{task}_{field}": kinds[field] for field in RESULT_FIELDS})
        columns.update({f"{task}_score_{label}": "float64" for label in spec.labels})
    columns["flagged"] = "boolean"
    columns["system_tokens_dropped"] = "Int64"
    return columns


SPARK_TYPES = {"string": "string", "float64": "double", "boolean": "boolean", "Int64": "bigint"}


def spark_schema(tasks: dict) -> str:
    """The result columns as a Spark DDL string, to append to the input's columns in `mapInPandas(schema=...)`.
    tasks: `Classifier.tasks`."""
    return ", ".join(f"{name} {SPARK_TYPES[dtype]}" for name, dtype in result_columns(tasks).items())


def flat_record(record: dict) -> dict:
    """A result_record as the Scorer's flat columns (see result_columns)."""
    row = {key: record[key] for key in RECORD_KEYS}
    for task, r in record.items():
        if task in RECORD_KEYS:
            continue
        row.update({f"{task}_{field}": r[field] for field in RESULT_FIELDS})
        row.update({f"{task}_score_{label}": s for label, s in r["scores"].items()})
    return row


class Scorer:
    """Load an artifact once; score pandas batches, appending the result columns (see `result_columns`).

    text_column, system_column, prompt_column: the input columns (system and prompt optional; a null cell falls
    back to `system` / `prompt`). thresholds: {task: P}, the key None for every task. on_error: "fail" raises
    InputError naming the row; "skip" fills the row's `error` column and leaves its results null.
    threads: onnxruntime threads per scorer (1 per actor or worker is right when several run side by side).

    Ray Data:  ds.map_batches(Scorer, fn_constructor_kwargs={...}, batch_format="pandas", concurrency=2)
    Spark:     df.mapInPandas(lambda batches: map(Scorer(...), batches), schema=...)  (docs/serving.md)
    """

    def __init__(self, artifact: str | None = None, text_column: str = "text", system_column: str | None = None,
                 prompt_column: str | None = None, system: str | None = None, prompt: str | None = None,
                 role: str = "prompt", thresholds: dict[str, float] | None = None, on_error: str = "fail",
                 threads: int = 1, classifier: Classifier | None = None):
        if on_error not in ("fail", "skip"):
            raise InputError(f"on_error must be 'fail' or 'skip', not {on_error!r}")
        self.text_column, self.system_column, self.prompt_column = text_column, system_column, prompt_column
        self.system, self.prompt, self.role, self.on_error = system, prompt, role, on_error
        self.classifier = classifier or Classifier.load(artifact, threads=threads)
        self.thresholds = _thresholds(thresholds or {}, self.classifier.tasks)
        self.columns = result_columns(self.classifier.tasks)

    def __call__(self, batch):
        import pandas as pd

        clash = [c for c in [*self.columns, "error"] if c in batch.columns]
        if clash:
            raise InputError(f"the input already has a column {clash[0]!r}, which the results would overwrite "
                             "(scored twice?)")
        texts = self._column(batch, self.text_column, None)
        systems = self._column(batch, self.system_column, self.system)
        prompts = self._column(batch, self.prompt_column, self.prompt)
        records, errors = self._score(texts, systems, prompts)
        flat = [flat_record(r) if r is not None else {} for r in records]
        out = batch.copy()
        for name, dtype in self.columns.items():
            out[name] = pd.array([row.get(name) for row in flat], dtype=dtype)
        if self.on_error == "skip":
            out["error"] = pd.array(errors, dtype="string")
        return out

    def _column(self, batch, name: str | None, default: str | None) -> list:
        if name is None:
            return [default] * len(batch)
        if name not in batch.columns:
            raise InputError(f"no column {name!r} in the input (columns: {', '.join(map(str, batch.columns))})")
        # a missing cell (None, NaN, pd.NA) takes the default; any other non-string is refused by classify,
        # naming its row, instead of being scored as if it were missing
        return [default if _missing(v) else v for v in batch[name].tolist()]

    def _score(self, texts, systems, prompts) -> tuple[list, list]:
        """Records (None for a skipped row) and error messages (None for a good row). A failing batch is
        scored again row by row so a bad row names itself."""
        try:
            return [result_record(r) for r in self._classify(texts, systems, prompts)], [None] * len(texts)
        except InputError:
            pass
        records, errors = [], []
        for text, system, prompt in zip(texts, systems, prompts):
            try:
                records.append(result_record(self._classify([text], [system], [prompt])[0]))
                errors.append(None)
            except InputError as e:
                message = f"{self.text_column} {_preview(text)}: {e}"
                if self.on_error == "fail":
                    raise InputError(f"{message} (on_error='skip' / --on-error skip scores the other rows)") \
                        from None
                records.append(None)
                errors.append(message)
        return records, errors

    def _classify(self, texts, systems, prompts):
        wrong = [t for t in texts if not isinstance(t, str)]
        if wrong:
            raise InputError(f"text is missing or not a string ({type(wrong[0]).__name__})")
        return self.classifier.classify(texts, systems, self.role, prompts, thresholds=self.thresholds)


def _thresholds(given: dict, tasks: dict) -> dict[str, float]:
    """{task: P}; the key None sets every task (the CLI's --threshold P)."""
    unknown = sorted(t for t in given if t is not None and t not in tasks)
    if unknown:
        raise InputError(f"unknown task {unknown[0]!r}; this artifact has: {', '.join(tasks)}")
    everything = {t: given[None] for t in tasks} if None in given else {}
    return {**everything, **{t: p for t, p in given.items() if t is not None}}


def _missing(value) -> bool:
    """A missing cell as pandas gives it: None, pd.NA or NaN."""
    import pandas as pd
    return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))


def _preview(text) -> str:
    if not isinstance(text, str):
        return repr(text)
    return repr(text if len(text) <= 40 else text[:37] + "...")
