"""Texts to classify from a file or stdin: one text a line, or JSONL rows (text, system, prompt, id).

Shared by `lec-onnx classify --file` and the generating-model commands' prompt files. A bad row (a NUL byte,
invalid UTF-8, malformed JSON) becomes a Row with an error naming its line; the caller decides to skip or fail.
"""
from __future__ import annotations

import codecs
import json
import re
import sys
from pathlib import Path

from .errors import InputError

JSONL_COLUMNS = {"text", "system", "prompt", "id"}
NEWLINE = re.compile(rb"\r\n|\n|\r")  # a line ends at any of these, as in Python's universal newlines


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
    is_jsonl = jsonl if jsonl is not None else source.endswith((".jsonl", ".json"))
    rows = []
    for n, text, error in text_lines(raw, name):
        if error is not None:
            rows.append(Row(n, error=error))
            continue
        row = _jsonl_row(name, n, text) if is_jsonl else Row(n, text=text)
        if row.error is None and len(row.text) > max_chars:
            row.error = (f"{name}:{n}: text of {len(row.text):,} characters exceeds the limit of {max_chars:,} "
                         "(--max-chars)")
        rows.append(row)
    if not rows:
        raise InputError(f"{name} has no text to classify")
    return rows


def text_lines(raw: bytes, name: str):
    """(line number, text, None) per non-blank line of a UTF-8 file, or (line number, None, why) for a line that is
    not text: a NUL byte, invalid UTF-8. A leading UTF-8 BOM is dropped; lines end at \\n, \\r\\n or \\r. A
    file that is not UTF-8 text as a whole (UTF-16, binary) is refused here."""
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8):]
    elif raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(f"{name} is UTF-16 or UTF-32 text (it starts with a byte-order mark); lec-onnx reads "
                         "UTF-8: convert it first (iconv -f UTF-16 -t UTF-8)")
    if looks_binary(raw[:8192]):
        raise InputError(f"{name} looks like a binary file, not text")
    for n, line in enumerate(NEWLINE.split(raw), 1):
        if not line.strip():
            continue
        nul = line.find(b"\x00")
        if nul >= 0:
            yield n, None, f"{name}:{n}: a NUL byte at byte {nul + 1} of the line (in JSON write it as \\u0000)"
            continue
        try:
            yield n, line.decode("utf-8"), None
        except UnicodeDecodeError as e:
            yield n, None, f"{name}:{n}: invalid UTF-8 at byte {e.start + 1} of the line"


def looks_binary(sample: bytes) -> bool:
    """A NUL in a text file names its line; a file is refused whole only when NULs are common (a tenth of the
    bytes: UTF-16, images) or most of its lines are not UTF-8."""
    if b"\x00" not in sample:
        return False
    if sample.count(b"\x00") * 10 >= len(sample):
        return True
    lines = [line for line in NEWLINE.split(sample) if line.strip()]
    broken = sum(1 for line in lines if not _is_utf8(line.replace(b"\x00", b"")))
    return broken * 2 > len(lines)


def _is_utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as e:
        return e.start >= len(data) - 3  # a character cut by the end of the sample is fine
    return True


def _jsonl_row(name: str, n: int, line: str) -> Row:
    try:
        doc = json.loads(line)
    except json.JSONDecodeError as e:
        return Row(n, error=f"{name}:{n}: not valid JSON ({e.msg} at column {e.colno})")
    except RecursionError:
        return Row(n, error=f"{name}:{n}: not valid JSON (nested too deeply)")
    except ValueError as e:  # an integer of thousands of digits
        return Row(n, error=f"{name}:{n}: not valid JSON ({e})")
    if not isinstance(doc, dict):
        return Row(n, error=f"{name}:{n}: expected a JSON object with a 'text' field")
    unknown = sorted(set(doc) - JSONL_COLUMNS)
    if unknown:
        return Row(n, error=f"{name}:{n}: unknown field {unknown[0]!r} (fields: text, system, prompt, id)")
    text = doc.get("text")
    if text is not None and not isinstance(text, str):
        return Row(n, error=f"{name}:{n}: 'text' must be a string, not {type(text).__name__}")
    if text is None or not text.strip():
        return Row(n, error=f"{name}:{n}: no text" + (" (a system prompt alone cannot be classified)"
                                                    if doc.get("system") else ""))
    for key in ("system", "prompt"):
        if doc.get(key) is not None and not isinstance(doc[key], str):
            return Row(n, error=f"{name}:{n}: {key!r} must be a string")
    return Row(n, text, doc.get("system"), doc.get("prompt"), doc.get("id"))
