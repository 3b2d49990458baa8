"""What running lec-onnx costs besides time per text: disk, memory, cold start, and install size."""
from __future__ import annotations

import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

from bench_artifacts import ROOT

LEC = str(Path(sys.executable).with_name("lec-onnx"))
RUNTIME_VENV = Path("/tmp/lec-bench-runtime-venv")
SOURCE_COPY = Path("/tmp/lec-bench-source")


def folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file() and not f.is_symlink())


def artifact_sizes(folder: Path) -> dict[str, int]:
    """Bytes of each file the manifest lists (the artifact as shipped)."""
    manifest = json.loads((folder / "manifest.json").read_text())
    sizes = {name: (folder / name).stat().st_size for name in manifest["files"]}
    sizes["manifest.json"] = (folder / "manifest.json").stat().st_size
    return sizes


# ---------------------------------------------------------------- peak memory
# The child reports its own high-water mark (VmHWM of /proc/self/status). getrusage(RUSAGE_CHILDREN) or
# os.wait4's ru_maxrss would be wrong here: Linux carries the forked parent's peak across exec, so every child
# of this (torch-laden) process would report the parent's footprint.
HWM = ("\nfor line in open('/proc/self/status'):\n"
       "    if line.startswith('VmHWM'): print(int(line.split()[1]))")


def peak_rss_mb(code: str, *args: str) -> float:
    """Peak resident memory (MB, 10^6 bytes) of a new Python process running `code`."""
    out = subprocess.run([sys.executable, "-c", code + HWM, *args], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError(f"memory probe failed: {out.stderr[-500:]}")
    return int(out.stdout.strip().splitlines()[-1]) * 1024 / 1e6


CLASSIFY_ONCE = ("import sys\nfrom lec_onnx import Classifier\n"
                 "Classifier.load(sys.argv[1], precision=sys.argv[2]).classify('hello')")
TORCH_ONCE = ("import sys, torch\nfrom lec_onnx.export.models import load_model, hidden_states\n"
              "m = load_model(sys.argv[1])\nt = m.tokenizer('hello', return_tensors='pt')\n"
              "with torch.inference_mode():\n    hidden_states(m, t['input_ids'], t['attention_mask'])")


def classifier_rss_mb(folder: Path, precision: str) -> float:
    return peak_rss_mb(CLASSIFY_ONCE, str(folder), precision)


def torch_rss_mb(model_dir: Path) -> float:
    return peak_rss_mb(TORCH_ONCE, str(model_dir))


# ---------------------------------------------------------------- cold start
def wall_seconds(cmd: list[str], runs: int) -> list[float]:
    """Wall time of a fresh process, `runs` times (the first warms the OS file cache and is dropped)."""
    times = []
    for _ in range(runs + 1):
        t = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t)
    return times[1:]


# Where a Python-API cold start goes, timed inside the new process: the steps of Classifier.load done one by
# one (onnxruntime is imported lazily by load, so its import is a step of its own).
PHASES = r"""
import time, json; t0 = time.perf_counter(); marks = {}
def mark(name):
    marks[name] = time.perf_counter() - t0 - sum(marks.values())
import lec_onnx; mark("import lec_onnx (+ numpy)")
import onnxruntime as ort; from tokenizers import Tokenizer; mark("import onnxruntime + tokenizers")
from lec_onnx.classifier import Classifier, read_manifest, default_artifact
folder, manifest = read_manifest(default_artifact()); mark("read manifest + SHA-256 of every file")
session = ort.InferenceSession(str(folder / manifest["graph"]["int8"]), providers=["CPUExecutionProvider"])
mark("onnxruntime session (graph load + optimisation)")
tok = Tokenizer.from_file(str(folder / manifest["tokenizer"])); mark("tokenizer.json load")
clf = Classifier(folder, manifest, session, tok, quantized=True); clf.classify("hello"); mark("first classify")
print(json.dumps(marks))
"""


def cold_start(runs: int) -> dict:
    """Median seconds from a new process to the first answer, for the CLI and the Python API."""
    python = [sys.executable]
    out = {
        "python -c pass": statistics.median(wall_seconds(python + ["-c", "pass"], runs)),
        'lec-onnx classify "hello"': statistics.median(wall_seconds([LEC, "classify", "hello"], runs)),
        "python -c Classifier.load().classify('hello')": statistics.median(wall_seconds(
            python + ["-c", "from lec_onnx import Classifier; Classifier.load().classify('hello')"], runs)),
    }
    phases = [json.loads(subprocess.run(python + ["-c", PHASES], capture_output=True, text=True,
                                        check=True).stdout) for _ in range(runs)]
    out["phases"] = {k: statistics.median(p[k] for p in phases) for k in phases[0]}
    return out


# ---------------------------------------------------------------- runtime-only install
def copy_source() -> Path:
    """A copy of the package source in /tmp: pip builds in the tree it installs from, and the repo must stay clean."""
    shutil.rmtree(SOURCE_COPY, ignore_errors=True)
    SOURCE_COPY.mkdir(parents=True)
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        if (ROOT / name).exists():
            shutil.copy2(ROOT / name, SOURCE_COPY / name)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for folder in ("runtime", "export", "artifacts"):
        shutil.copytree(ROOT / folder, SOURCE_COPY / folder, ignore=ignore)
    return SOURCE_COPY


# Run by the runtime venv's own Python: bytes per installed distribution, grouped by which top-level requirement
# pulled it in (dist.files lists what pip installed, compiled .pyc files included).
DEPENDENCY_SIZES = r"""
import json, re
from importlib import metadata
def size(dist):
    return sum((dist.locate_file(f).stat().st_size for f in dist.files or [] if dist.locate_file(f).exists()))
def closure(name, seen):
    key = re.sub(r"[-_.]+", "-", name).lower()
    if key in seen: return
    try: dist = metadata.distribution(key)
    except metadata.PackageNotFoundError: return
    seen[key] = size(dist)
    for req in dist.requires or []:
        if "extra ==" not in req:
            closure(re.split(r"[ ;<>=!~\[(]", req, 1)[0], seen)
groups, seen = {}, {}
for top in ("numpy", "onnxruntime", "tokenizers", "lec-onnx", "pip", "setuptools"):
    before = dict(seen); closure(top, seen)
    groups[top] = {k: v for k, v in seen.items() if k not in before}
print(json.dumps(groups))
"""


def runtime_install(cold_runs: int) -> dict:
    """Create a fresh venv, `pip install` lec-onnx without extras (no torch), measure its site-packages."""
    shutil.rmtree(RUNTIME_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(RUNTIME_VENV)], check=True)
    pip = RUNTIME_VENV / "bin" / "pip"
    t = time.perf_counter()
    subprocess.run([str(pip), "install", "--quiet", str(copy_source())], check=True)
    seconds = time.perf_counter() - t
    site = next(RUNTIME_VENV.glob("lib/python*/site-packages"))
    per_package: dict[str, int] = {}
    for entry in site.iterdir():
        name = entry.name.split("-")[0].split(".")[0].lower() if not entry.name.startswith("_") else entry.name
        per_package[name] = per_package.get(name, 0) + (folder_bytes(entry) if entry.is_dir() else entry.stat().st_size)
    installer = sum(per_package.get(n, 0) for n in ("pip", "setuptools", "_distutils_hack", "distutils-precedence"))
    check = subprocess.run([str(RUNTIME_VENV / "bin" / "lec-onnx"), "classify", "hello"], capture_output=True,
                           text=True)
    cold = {}
    if check.returncode == 0:  # a plain (non-editable) install without torch: what a user's cold start is
        cold = {'lec-onnx classify "hello"': statistics.median(wall_seconds(
                    [str(RUNTIME_VENV / "bin" / "lec-onnx"), "classify", "hello"], cold_runs)),
                "python -c Classifier.load().classify('hello')": statistics.median(wall_seconds(
                    [str(RUNTIME_VENV / "bin" / "python"), "-c",
                     "from lec_onnx import Classifier; Classifier.load().classify('hello')"], cold_runs))}
    has_torch = (site / "torch").exists()
    groups = json.loads(subprocess.run([str(RUNTIME_VENV / "bin" / "python"), "-c", DEPENDENCY_SIZES],
                                       capture_output=True, text=True, check=True).stdout)
    # the wheel's RECORD omits the package data, so lec_onnx (shipped artifact included) is measured on disk
    groups["lec-onnx"]["lec-onnx"] = folder_bytes(site / "lec_onnx")
    shutil.rmtree(SOURCE_COPY, ignore_errors=True)
    return {"site_packages": folder_bytes(site), "installer": installer, "install_seconds": seconds,
            "per_package": dict(sorted(per_package.items(), key=lambda kv: -kv[1])),
            "artifact": folder_bytes(site / "lec_onnx" / "artifacts"), "classify_ok": check.returncode == 0,
            "has_torch": has_torch, "cold_start": cold, "groups": groups}
