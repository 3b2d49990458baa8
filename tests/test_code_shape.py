"""Issue 15: the code stays small enough to read: no function in export/ or runtime/ over 60 lines."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60


def functions(folder: str):
    for path in sorted((ROOT / folder).glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("folder", ["export", "runtime"])
def test_no_function_is_longer_than_60_lines(folder):
    found = list(functions(folder))
    assert found, f"no functions found in {folder}/"
    long = [(name, n) for name, n in found if n > MAX_FUNCTION_LINES]
    assert not long, f"split these: {long}"
