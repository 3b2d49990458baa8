"""The artifact contract: what export writes and the runtime reads, as typed dataclasses.

An artifact is a folder: manifest.json, one or two ONNX graphs, tokenizer.json and the parity rows. This module
is the only place that knows the manifest's keys: `read_manifest` validates and checks every file's SHA-256,
`write_manifest` records them. docs/artifact-format.md describes the same format for other languages.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import typing
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import ArtifactError

SCHEMA_VERSION = 2  # 2: tasks declare their roles; parity rows ship with the artifact; no machine paths
MANIFEST_FILE = "manifest.json"
INT8_GRAPH = "model.onnx"
FP32_GRAPH = "model.fp32.onnx"
TOKENIZER_FILE = "tokenizer.json"
PARITY_ROWS_FILE = "parity_rows.jsonl"
ROLES = ("prompt", "response")  # what a user sends; what a model answers


@dataclass(frozen=True)
class ModelInfo:
    id: str  # hub id of the base weights
    revision: str  # hub commit, or SHA-256 digest of the weights
    kind: str  # "encoder" or "decoder"
    architecture: str
    layers_kept: int
    hidden_size: int


@dataclass(frozen=True)
class GraphInfo:
    int8: str | None  # file name of the int8 graph (CPU)
    fp32: str | None  # file name of the fp32 graph (CUDA), if exported
    opset: int
    inputs: tuple[str, ...]  # the graph's inputs, in order; a runtime feeds exactly these
    vocab_size: int  # rows of the embedding table: the tokenizer may not have more
    int8_fp32_matmuls: int = 0  # weight MatMuls kept fp32 in the int8 graph to pass the parity gate
    quantization: dict = field(default_factory=dict)  # method and calibration, as export recorded them


@dataclass(frozen=True)
class InputFormat:
    kind: str  # "chat" (decoders: templates with {system} {text} {prompt} slots) or "pair" (encoders)
    generation_prompt: bool = False  # the chat templates end with the assistant turn's opening
    template: str | None = None  # chat, with a system prompt
    template_no_system: str | None = None  # chat, without one
    response_template: str | None = None  # chat, a model's response ({prompt} = the request)


@dataclass(frozen=True)
class Window:
    max_length: int  # most tokens one run takes (markup and system prompt included)
    stride: int  # overlap of neighbouring windows over a long text


@dataclass(frozen=True)
class Task:
    output: str  # name of the graph output with this task's label probabilities
    labels: tuple[str, ...]
    negative_label: str  # the label that means "nothing to flag"
    threshold: float  # binary tasks: flagged when 1 - p(negative_label) >= threshold
    layer: int
    pooling: str
    roles: tuple[str, ...] = ROLES  # what the task applies to: prompts, responses or both
    C: float | None = None
    trained_on: tuple[str, ...] = ()
    trained_rows: int | None = None
    inputs: tuple[str, ...] = ()  # fitted heads: the feature outputs the Gemm reads, concatenated in this order
    fitted: dict = field(default_factory=dict)  # `lec-onnx fit`: rows (count, SHA-256), rule, cross-validated figures


@dataclass(frozen=True)
class Feature:
    """A pooled state the graph outputs beside the heads (what they read), for fitting new heads on it."""
    layer: int
    pooling: str
    size: int


def feature_name(layer: int, pooling: str) -> str:
    """The graph output of a pooled state: features.layer8.mean, features.layer8.text-mean."""
    return f"features.layer{layer}.{pooling}"


@dataclass(frozen=True)
class FileInfo:
    sha256: str
    bytes: int = 0  # informational; the SHA-256 is what is checked


@dataclass
class Manifest:
    model: ModelInfo
    graph: GraphInfo
    input_format: InputFormat
    window: Window
    tasks: dict[str, Task]
    tokenizer: str = TOKENIZER_FILE
    parity_rows: str | None = None  # JSONL: the gate's rows with the torch reference scores (`lec-onnx check`)
    parity: dict = field(default_factory=dict)  # export-time figures per task
    export: dict = field(default_factory=dict)  # versions of the tools that built it
    lec_onnx_version: str = ""
    created: str = ""
    files: dict[str, FileInfo] = field(default_factory=dict)
    features: dict[str, Feature] = field(default_factory=dict)  # graph outputs with the heads' pooled states
    schema_version: int = SCHEMA_VERSION

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def graph_file(self, precision: str) -> str | None:
        return {"int8": self.graph.int8, "fp32": self.graph.fp32}[precision]

    def file_names(self) -> list[str]:
        """The files the manifest points at (and so must check)."""
        names = [self.graph.int8, self.graph.fp32, self.tokenizer, self.parity_rows]
        return [n for n in names if n]


def _build(cls, data, where: str):
    """A dataclass from a dict: required fields must be there, nested dataclasses and tuples converted; keys this
    version does not know are ignored (a newer minor writer may add some)."""
    if not isinstance(data, dict):
        raise ArtifactError(f"{where} must be a JSON object")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise ArtifactError(f"{where} lacks the field {f.name!r}")
            continue
        values[f.name] = _convert(hints[f.name], data[f.name], f"{where}.{f.name}")
    return cls(**values)


def _convert(hint, value, where: str):
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, where)
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is dict and args and dataclasses.is_dataclass(args[1]):
        if not isinstance(value, dict):
            raise ArtifactError(f"{where} must be a JSON object")
        return {k: _build(args[1], v, f"{where}.{k}") for k, v in value.items()}
    if origin is tuple or tuple in args:
        if not isinstance(value, list):
            raise ArtifactError(f"{where} must be a list")
        return tuple(value)
    return value


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def read_manifest(path: str | Path) -> tuple[Path, Manifest]:
    """Read and check an artifact: schema version, fields, file names inside the folder, SHA-256 of every file."""
    folder = Path(path)
    if folder.is_file() and folder.name == MANIFEST_FILE:
        folder = folder.parent
    if not folder.is_dir():
        raise ArtifactError(f"artifact folder not found: {folder}")
    try:
        doc = json.loads((folder / MANIFEST_FILE).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{folder} has no {MANIFEST_FILE}: not a lec-onnx artifact") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{folder / MANIFEST_FILE} is not valid JSON: {e}") from None
    version = doc.get("schema_version") if isinstance(doc, dict) else None
    if not isinstance(version, int):
        raise ArtifactError(f"{folder / MANIFEST_FILE} has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise ArtifactError(f"artifact schema version {version} is newer than this lec-onnx understands "
                            f"({SCHEMA_VERSION}); upgrade lec-onnx")
    manifest = _build(Manifest, doc, MANIFEST_FILE)
    _check_files(folder, manifest)
    return folder, manifest


def _check_files(folder: Path, manifest: Manifest) -> None:
    root = folder.resolve()
    for name in manifest.file_names():
        if name not in manifest.files:
            raise ArtifactError(f"{MANIFEST_FILE} names {name!r} but records no SHA-256 for it")
    for name, info in manifest.files.items():
        file = (folder / name).resolve()
        if root not in file.parents:
            raise ArtifactError(f"manifest names a file outside the artifact folder: {name!r}")
        if not file.is_file():
            raise ArtifactError(f"artifact file missing: {file}")
        if sha256_file(file) != info.sha256:
            raise ArtifactError(f"SHA-256 of {name} does not match the manifest: the file is corrupt or "
                                "was replaced; re-export or re-download the artifact")


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """Record the SHA-256 and size of every file the manifest names, then write manifest.json."""
    manifest.files = {n: FileInfo(sha256_file(folder / n), (folder / n).stat().st_size)
                      for n in manifest.file_names()}
    path = Path(folder) / MANIFEST_FILE
    path.write_text(json.dumps(manifest.to_dict(), indent=1, ensure_ascii=False), encoding="utf-8")
    return path


# The format's decision rule (docs/artifact-format.md, "Deciding"), here so every reader shares it.
def flag_scores(probs: np.ndarray, task: Task) -> np.ndarray:
    """Per row, the chance of anything but the harmless label: what thresholds and windows compare."""
    return 1.0 - probs[:, task.labels.index(task.negative_label)]


def decide(probs: np.ndarray, task: Task, threshold: float | None = None) -> list[str]:
    """The label of each row of probabilities [rows, labels]: binary tasks flag at the threshold, others argmax."""
    if len(task.labels) == 2:
        other = task.labels[1 - task.labels.index(task.negative_label)]
        flagged = flag_scores(probs, task) >= (task.threshold if threshold is None else threshold)
        return [other if f else task.negative_label for f in flagged]
    return [task.labels[i] for i in probs.argmax(1)]
