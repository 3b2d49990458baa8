"""The lec-onnx runtime: load an exported artifact and classify text.

Needs only onnxruntime, tokenizers and numpy. An artifact is a folder with a manifest (JSON), one ONNX graph
(truncated transformer + pooling + one Gemm head per task) and tokenizer.json; its format is described in
docs/artifact-format.md. Nothing loaded here can execute code.
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

SCHEMA_VERSION = 1
MANIFEST = "manifest.json"
MIN_WINDOW_TEXT_TOKENS = 16  # below this a window would hold almost none of the text: refuse instead


class LecError(Exception):
    """Base class of every error lec-onnx raises for a user's mistake."""


class InputError(LecError, ValueError):
    """The text, file or argument given cannot be classified."""


class ArtifactError(LecError):
    """The artifact folder is missing, corrupt, or does not belong together."""


class ProviderError(LecError):
    """The requested onnxruntime execution provider cannot be used."""


@dataclass(frozen=True)
class TaskResult:
    label: str
    score: float  # probability of the flagged label (binary) or of the predicted label (multi-class)
    scores: dict[str, float]
    flagged: bool
    windows: int = 1  # how many windows of the text were scored
    top_window: int = 0  # the window that decided the result (highest flag score)


# ---------------------------------------------------------------- input formatting
def render(template: str, **values: str) -> str:
    """Fill {system}, {text}, {prompt} slots. Only the template is scanned, so braces in the values are safe."""
    return re.sub(r"\{(system|text|prompt)\}", lambda m: values.get(m.group(1)) or "", template)


def encode_parts(tokenizer, input_format: dict, text: str, system: str | None = None,
                 role: str = "prompt", prompt: str | None = None):
    """Token ids (and type ids) of the formatted input, split into prefix, text and suffix.

    Splitting lets long texts be scored in windows that all keep the same prefix (system prompt, chat
    markup) and suffix (generation prompt). The export side computes its training features with this same
    function, so training and serving see identical tokens.
    """
    kind = input_format["kind"]
    if kind == "chat":
        if role == "response":
            template = input_format["response_template"]
        elif system is not None:
            template = input_format["template"]
        else:
            template = input_format["template_no_system"]
        before, after = template.split("{text}")
        pieces = [render(before, system=system, prompt=prompt), text, render(after, system=system, prompt=prompt)]
        ids = [tokenizer.encode(p, add_special_tokens=False).ids if p else [] for p in pieces]
        return ids, [[0] * len(i) for i in ids]
    if kind == "pair":  # encoders: the context (system prompt, or the prompt a response answers) is segment A
        context = prompt if role == "response" else system
        enc = tokenizer.encode(context, text) if context is not None else tokenizer.encode(text)
        text_seq = 1 if context is not None else 0
        seq = enc.sequence_ids
        where = [i for i, s in enumerate(seq) if s == text_seq]
        start, end = (where[0], where[-1] + 1) if where else (len(seq) - 1, len(seq) - 1)
        cut = lambda a: (enc.ids[a], enc.type_ids[a])  # noqa: E731
        parts = [cut(slice(0, start)), cut(slice(start, end)), cut(slice(end, None))]
        return [list(p[0]) for p in parts], [list(p[1]) for p in parts]
    raise ArtifactError(f"unknown input format kind {kind!r} (expected 'chat' or 'pair')")


def windows(parts, types, max_length: int, stride: int):
    """Cut the text part into overlapping windows that each fit max_length with prefix and suffix kept."""
    (pre, txt, suf), (pre_t, txt_t, suf_t) = parts, types
    if not txt:
        raise InputError("the text has no tokens this model knows")
    room = max_length - len(pre) - len(suf)
    if room < MIN_WINDOW_TEXT_TOKENS:
        raise InputError(f"the system prompt and markup take {len(pre) + len(suf)} of the model's "
                         f"{max_length} tokens, leaving no room for the text; shorten the system prompt")
    # stride is the overlap between neighbours; capped at half a window so a long system prompt that leaves
    # little room cannot make windows advance a token at a time.
    overlap = min(stride, room // 2)
    starts = list(range(0, len(txt) - overlap, room - overlap)) if len(txt) > room else [0]
    return [(pre + txt[s:s + room] + suf, pre_t + txt_t[s:s + room] + suf_t) for s in starts]


def window_rows(parts, types, max_length: int, stride: int) -> list[tuple]:
    """windows() as (ids, type_ids, text_start, text_end): where the text's own tokens sit in each window."""
    return [(ids, type_ids, len(parts[0]), len(ids) - len(parts[2]))
            for ids, type_ids in windows(parts, types, max_length, stride)]


def model_inputs(rows) -> dict[str, np.ndarray]:
    """Right-padded graph inputs of windows given as (ids, type_ids, text_start, text_end); text_mask marks the
    text's own tokens (for text-mean pooling). A graph takes the inputs its manifest lists."""
    width = max(len(r[0]) for r in rows)
    feed = {name: np.zeros((len(rows), width), np.int64)
            for name in ("input_ids", "attention_mask", "token_type_ids", "text_mask")}
    for r, (ids, types, start, end) in enumerate(rows):
        feed["input_ids"][r, :len(ids)] = ids
        feed["attention_mask"][r, :len(ids)] = 1
        feed["token_type_ids"][r, :len(ids)] = types
        feed["text_mask"][r, start:end] = 1
    return feed


# ---------------------------------------------------------------- artifact
def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def default_artifact() -> Path:
    """The artifact shipped inside the package (artifacts/default)."""
    from importlib.resources import files
    return Path(str(files("lec_onnx.artifacts") / "default"))


def read_manifest(path: str | Path) -> tuple[Path, dict]:
    """Read and check a manifest: schema version, file names inside the folder, SHA-256 of every file."""
    folder = Path(path)
    if folder.is_file() and folder.name == MANIFEST:
        folder = folder.parent
    if not folder.is_dir():
        raise ArtifactError(f"artifact folder not found: {folder}")
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArtifactError(f"{folder} has no {MANIFEST}: not a lec-onnx artifact") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ArtifactError(f"{folder / MANIFEST} is not valid JSON: {e}") from None
    version = manifest.get("schema_version") if isinstance(manifest, dict) else None
    if not isinstance(version, int):
        raise ArtifactError(f"{folder / MANIFEST} has no integer schema_version")
    if version > SCHEMA_VERSION:
        raise ArtifactError(f"artifact schema version {version} is newer than this lec-onnx understands "
                            f"({SCHEMA_VERSION}); upgrade lec-onnx")
    for key in ("files", "graph", "tasks", "input_format", "window"):
        if key not in manifest:
            raise ArtifactError(f"{folder / MANIFEST} lacks the field {key!r}")
    root = folder.resolve()
    for name, info in manifest["files"].items():
        file = (folder / name).resolve()
        if root not in file.parents:
            raise ArtifactError(f"manifest names a file outside the artifact folder: {name!r}")
        if not file.is_file():
            raise ArtifactError(f"artifact file missing: {file}")
        if sha256_file(file) != info.get("sha256"):
            raise ArtifactError(f"SHA-256 of {name} does not match the manifest: the file is corrupt or "
                                "was replaced; re-export or re-download the artifact")
    return folder, manifest


# ---------------------------------------------------------------- classifier
PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


class Classifier:
    """One ONNX graph with one head per task (e.g. content safety and prompt injection), scored in one pass."""

    def __init__(self, folder: Path, manifest: dict, session, tokenizer, quantized: bool):
        self.folder, self.manifest, self.session, self.tokenizer = folder, manifest, session, tokenizer
        self.tasks: dict = manifest["tasks"]
        self.input_format: dict = manifest["input_format"]
        self.max_length: int = manifest["window"]["max_length"]
        self.stride: int = manifest["window"]["stride"]
        self.input_names = [i.name for i in session.get_inputs()]
        # Dynamic int8 quantisation takes one scale per activation tensor, so rows of a padded batch would
        # change each other's scores: int8 graphs score one window per run, fp32 graphs batch.
        self.quantized = quantized

    @classmethod
    def load(cls, path: str | Path | None = None, providers: str | list[str] | None = None,
             threads: int | None = None, precision: str | None = None, window: int | None = None,
             stride: int | None = None) -> "Classifier":
        """Load an artifact folder (default: the shipped one).

        providers: "cpu" (default), "cuda", or onnxruntime provider names. precision: "int8" or "fp32";
        by default int8 on CPU and fp32 on CUDA (dynamic int8 runs poorly there). window, stride: tokens per
        window over long texts and their overlap, overriding the manifest's (window at most its max_length).
        """
        import onnxruntime as ort
        from tokenizers import Tokenizer

        folder, manifest = read_manifest(path or default_artifact())
        names = [PROVIDERS.get(p, p) for p in ([providers] if isinstance(providers, str) else providers or ["cpu"])]
        unknown = [p for p in names if p not in ort.get_all_providers()]
        if unknown:
            raise ProviderError(f"unknown provider {unknown[0]!r}; use 'cpu' or 'cuda'")
        missing = [p for p in names if p not in ort.get_available_providers()]
        if missing:
            raise ProviderError(f"{missing[0]} is not available in this onnxruntime install (available: "
                                f"{', '.join(ort.get_available_providers())}); for CUDA install onnxruntime-gpu")
        if "CPUExecutionProvider" not in names:
            names.append("CPUExecutionProvider")
        precision = precision or ("fp32" if names[0] == "CUDAExecutionProvider" else "int8")
        graph = manifest["graph"].get(precision)
        if not graph:
            raise ArtifactError(f"this artifact has no {precision} graph (CUDA runs fp32 by default): ask for "
                                f"precision='int8' (--precision int8), or export without --no-fp32")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            session = ort.InferenceSession(str(folder / graph), options, providers=names)
        except Exception as e:  # onnxruntime raises its own untyped errors for unreadable graphs
            raise ArtifactError(f"onnxruntime cannot load {graph}: {e}") from None
        try:
            tokenizer = Tokenizer.from_file(str(folder / manifest["tokenizer"]))
        except Exception as e:
            raise ArtifactError(f"cannot read {manifest['tokenizer']}: {e}") from None
        tokenizer.no_truncation()  # windows() decides what fits, never a silent cut
        tokenizer.no_padding()
        if tokenizer.get_vocab_size(with_added_tokens=True) > manifest["graph"]["vocab_size"]:
            raise ArtifactError(f"tokenizer has {tokenizer.get_vocab_size(with_added_tokens=True)} tokens but "
                                f"the graph's embedding has {manifest['graph']['vocab_size']}: they do not belong "
                                "together")
        clf = cls(folder, manifest, session, tokenizer, quantized=precision == "int8")
        if window is not None and not MIN_WINDOW_TEXT_TOKENS <= window <= clf.max_length:
            raise InputError(f"window must be between {MIN_WINDOW_TEXT_TOKENS} and {clf.max_length} tokens "
                             f"(the artifact's max_length), not {window}")
        if stride is not None and stride < 0:
            raise InputError(f"stride must be 0 or more tokens, not {stride}")
        clf.max_length, clf.stride = window or clf.max_length, clf.stride if stride is None else stride
        return clf

    def classify(self, texts: str | list[str], system: str | list[str | None] | None = None,
                 role: str = "prompt", prompt: str | list[str | None] | None = None,
                 batch_size: int = 16, thresholds: dict[str, float] | None = None) -> list[dict[str, TaskResult]]:
        """Classify texts: one {task: TaskResult} per text.

        system: the system prompt the text was sent with (one for all or one per text).
        role: "prompt" for what a user sends, "response" for what a model answered (prompt = the request).
        thresholds: {task: threshold} to override the manifest's decision thresholds of binary tasks.
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        systems = self._per_text(system, len(texts), "system")
        prompts = self._per_text(prompt, len(texts), "prompt")
        if role not in ("prompt", "response"):
            raise InputError(f"role must be 'prompt' or 'response', not {role!r}")
        rows, owner = [], []
        for i, (text, sys_prompt, req) in enumerate(zip(texts, systems, prompts)):
            if not isinstance(text, str) or not text.strip():
                raise InputError(f"text {i + 1} is empty")
            parts, types = encode_parts(self.tokenizer, self.input_format, text, sys_prompt, role, req)
            for row in window_rows(parts, types, self.max_length, self.stride):
                rows.append(row)
                owner.append(i)
        unknown = set(thresholds or {}) - set(self.tasks)
        if unknown:
            raise InputError(f"unknown task {sorted(unknown)[0]!r}; this artifact has {', '.join(self.tasks)}")
        probs = self._run(rows, batch_size)
        owner = np.array(owner)
        return [self._decide(probs, np.flatnonzero(owner == i), thresholds or {}) for i in range(len(texts))]

    @staticmethod
    def _per_text(value, n: int, name: str) -> list:
        if value is None or isinstance(value, str):
            return [value] * n
        value = list(value)
        if len(value) != n:
            raise InputError(f"got {len(value)} {name} values for {n} texts")
        return value

    def _run(self, rows, batch_size: int) -> dict[str, np.ndarray]:
        size = 1 if self.quantized else max(1, batch_size)
        order = sorted(range(len(rows)), key=lambda j: len(rows[j][0]))  # similar lengths pad less
        out = {t: np.zeros((len(rows), len(spec["labels"])), np.float32) for t, spec in self.tasks.items()}
        for start in range(0, len(order), size):
            batch = order[start:start + size]
            feed = model_inputs([rows[j] for j in batch])
            results = self.session.run([s["output"] for s in self.tasks.values()],
                                       {k: v for k, v in feed.items() if k in self.input_names})
            for task, res in zip(self.tasks, results):
                out[task][batch] = res
        return out

    def _decide(self, probs: dict[str, np.ndarray], rows: np.ndarray, thresholds: dict) -> dict[str, TaskResult]:
        results = {}
        for task, spec in self.tasks.items():
            labels = spec["labels"]
            p = probs[task][rows]
            negative = labels.index(spec["negative_label"])
            flag_score = 1.0 - p[:, negative]  # chance the window is anything but the harmless label
            top = int(np.argmax(flag_score))
            if len(labels) == 2:
                flagged = bool(flag_score[top] >= thresholds.get(task, spec["threshold"]))
                label = labels[1 - negative] if flagged else labels[negative]
                score = float(flag_score[top])
            else:
                label = labels[int(np.argmax(p[top]))]
                flagged, score = label != spec["negative_label"], float(p[top].max())
            results[task] = TaskResult(label, score, {l: float(v) for l, v in zip(labels, p[top])}, flagged,
                                       len(rows), top)
        return results
