"""Texts to classify from a file or stdin: one text a line, or JSONL rows (text, system, prompt, id).

Shared by `lec-onnx classify --file` and the generating-model commands' prompt files. A bad row becomes a Row with
an error naming its line; the caller decides to skip or fail.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from .errors import InputError

JSONL_COLUMNS = {"text", "system", "prompt", "id"}


class Row:
    def __init__(self, line: int, text=None, system=None, prompt=None, id=None, error=None):
        self.line, self.text, self.system, self.prompt, self.id, self.error = line, text, system, prompt, id, error


def read_rows(source: str, jsonl: bool | None, max_chars: int) -> list[Row]:
    """Rows of a text file (one text a line) or JSONL file (text, system, prompt, id); '-' is stdin.
    A bad row becomes Row(error=...) naming its line; the caller decides to skip or fail."""
    try:
        raw = sys.stdin.buffer.read() if source == "-" else Path(source).read_bytes()
    except OSError as e:
        raise InputError(f"cannot read {source}: {e.strerror or e}") from None
    name = "stdin" if source == "-" else source
    if b"\x00" in raw[:8192]:
        raise InputError(f"{name} looks like a binary file, not text")
    is_jsonl = jsonl if jsonl is not None else source.endswith((".jsonl", ".json"))
    rows = []
    for n, line in enumerate(raw.split(b"\n"), 1):
        line = line.rstrip(b"\r")
        if not line.strip():
            continue
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError as e:
            rows.append(Row(n, error=f"{name}:{n}: invalid UTF-8 at byte {e.start}"))
            continue
        row = _jsonl_row(name, n, text) if is_jsonl else Row(n, text=text)
        if row.error is None and len(row.text) > max_chars:
            row.error = (f"{name}:{n}: text of {len(row.text):,} characters exceeds the limit of {max_chars:,} "
                         "(--max-chars)")
        rows.append(row)
    if not rows:
        raise InputError(f"{name} has no text to classify")
    return rows


def _jsonl_row(name: str, n: int, line: str) -> Row:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        return Row(n, error=f"{name}:{n}: not valid JSON ({e.msg})")
    if not isinstance(doc, dict):
        return Row(n, error=f"{name}:{n}: expected a JSON object with a 'text' field")
    unknown = sorted(set(doc) - JSONL_COLUMNS)
    if unknown:
        return Row(n, error=f"{name}:{n}: unknown field {unknown[0]!r} (fields: text, system, prompt, id)")
    text = doc.get("text")
    if not isinstance(text, str) or not text.strip():
        return Row(n, error=f"{name}:{n}: no text" + (" (a system prompt alone cannot be classified)"
                                                    if doc.get("system") else ""))
    for key in ("system", "prompt"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            return Row(n, error=f"{name}:{n}: {key!r} must be a string")
    return Row(n, text, doc.get("system"), doc.get("prompt"), doc.get("id"))
