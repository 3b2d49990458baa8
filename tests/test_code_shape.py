"""Issues 15 and 33: the code stays small enough to read, and its layout shows the architecture.

No function over 60 lines; no folder of product code with more than 15 modules; no import cycle anywhere in the
package (every import counted, also those inside functions); the LEC pipeline (`lec_onnx.export`) and the runtime's
library modules never import the generating-model tools (`lec_onnx.generation`); no private name imported from
another module.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MAX_FUNCTION_LINES = 60
MAX_MODULES_PER_FOLDER = 15
PACKAGES = {"runtime": "lec_onnx", "export": "lec_onnx.export", "generation": "lec_onnx.generation",
            "fit": "lec_onnx.fit"}
# What the runtime may not import, even lazily: it needs only onnxruntime, tokenizers and numpy (serve and batch
# add their extras' web and dataframe libraries); fitting and export live in their own packages.
EXPORT_SIDE_LIBRARIES = {"torch", "transformers", "sklearn", "onnx", "scipy", "safetensors", "matplotlib"}
ROOT_CLI = "lec_onnx.cli"  # registers every subsystem's commands: the one runtime module that may name them all


def module_files() -> dict[str, Path]:
    """Every module of the package by its dotted name (pyproject's package-dir mapping)."""
    found = {}
    for folder, package in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imported_modules(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The package's modules that `name` imports (absolute or relative, at any depth)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets.add(base)
            targets.update(f"{base}.{a.name}" for a in node.names)  # `from . import panel` imports a module
    # A package's __init__ that imports its own modules is no cycle (Python runs it first), so only the modules
    # named are counted, not the parents an import also runs.
    return {t for t in targets if t in modules and t != name}


def import_graph() -> dict[str, set[str]]:
    modules = module_files()
    return {name: imported_modules(name, path, modules) for name, path in modules.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path a -> ... -> a, or None (depth-first search, three colours)."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == "open":
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        state[node] = "done"
        stack.pop()
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def functions(folder: str):
    for path in sorted((ROOT / folder).rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield f"{path.relative_to(ROOT)}:{node.lineno} {node.name}", node.end_lineno - node.lineno + 1


@pytest.mark.parametrize("folder", sorted(PACKAGES))
def test_no_function_is_longer_than_60_lines(folder):
    found = list(functions(folder))
    assert found, f"no functions found in {folder}/"
    long = [(name, n) for name, n in found if n > MAX_FUNCTION_LINES]
    assert not long, f"split these: {long}"


def test_no_folder_of_product_code_holds_more_than_15_modules():
    folders = {p.parent for folder in PACKAGES for p in (ROOT / folder).rglob("*.py")}
    crowded = {str(f.relative_to(ROOT)): n for f in folders
               if (n := len([p for p in f.glob("*.py") if p.name != "__init__.py"])) > MAX_MODULES_PER_FOLDER}
    assert not crowded, f"split these folders: {crowded}"


def test_the_package_has_no_import_cycle():
    graph = import_graph()
    assert "lec_onnx.export.models" in graph["lec_onnx.generation.guard"], "the graph misses a known import"
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_the_cycle_finder_finds_a_cycle_through_a_function_level_import(tmp_path):
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from .cli import main\n")
    assert imported_modules("lec_onnx.m", module, {"lec_onnx.cli": module}) == {"lec_onnx.cli"}


def test_the_lec_pipeline_and_the_runtime_never_import_the_generating_model_tools():
    graph = import_graph()
    reaching = {name: sorted(t for t in targets if t.startswith("lec_onnx.generation"))
                for name, targets in graph.items()
                if not name.startswith("lec_onnx.generation") and name != ROOT_CLI}
    assert not {k: v for k, v in reaching.items() if v}


def test_the_runtime_imports_no_library_of_the_export_side():
    found = []
    for path in sorted((ROOT / "runtime").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and not node.level and node.module else []
            found += [f"{path.name}:{node.lineno} {n}" for n in names if n.split(".")[0] in EXPORT_SIDE_LIBRARIES]
    assert not found, found


def test_no_module_imports_another_modules_private_names():
    private = []
    for name, path in module_files().items():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.level or (node.module or "").startswith("lec_onnx")):
                private += [f"{name}: {a.name}" for a in node.names
                            if a.name.startswith("_") and not a.name.endswith("__")]
    assert not private, private


def test_every_command_is_listed_without_torch_and_says_which_extra_it_needs():
    """The root CLI registers every subsystem's commands with argparse only: on a runtime-only install `--help`
    lists them all, and running one names the extra to install (exit 2), never a traceback."""
    import subprocess
    import sys
    script = ("import sys; sys.modules['torch'] = sys.modules['sklearn'] = None\n"
              "from lec_onnx.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    listing = subprocess.run([sys.executable, "-c", script, "--help"], capture_output=True, text=True)
    assert listing.returncode == 0, listing.stderr
    for command in ("classify", "check", "sweep", "train", "export", "panel", "fetch-models", "generate", "sae",
                    "steer-eval", "serve", "batch"):
        assert command in listing.stdout
    for argv in (["train", "-m", "m", "-d", "d.jsonl", "--layer", "1", "-o", "p.json"], ["generate", "-m", "m", "hi"],
                 ["sae", "train", "--harvest", "h", "-o", "s"]):
        run = subprocess.run([sys.executable, "-c", script, *argv], capture_output=True, text=True)
        assert run.returncode == 2, run.stderr
        assert "pip install 'lec-onnx[export]'" in run.stderr and "Traceback" not in run.stderr
