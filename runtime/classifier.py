"""The lec-onnx runtime: load an exported artifact and classify text.

Needs only onnxruntime, tokenizers and numpy. An artifact is a folder with a manifest (JSON), one ONNX graph
(truncated transformer + pooling + one Gemm head per task) and tokenizer.json (see manifest.py and
docs/artifact-format.md). Nothing loaded here can execute code.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import ArtifactError, InputError, ProviderError, WindowLimitError
from .inputs import MIN_WINDOW_TEXT_TOKENS, encode_fitted, model_inputs, windows
from .manifest import ROLES, Manifest, Task, decide, flag_scores, read_manifest

PROVIDERS = {"cpu": "CPUExecutionProvider", "cuda": "CUDAExecutionProvider"}


@dataclass(frozen=True)
class TaskResult:
    label: str
    score: float  # probability of the flagged label (binary) or of the predicted label (multi-class)
    scores: dict[str, float]
    flagged: bool
    windows: int = 1  # how many windows of the text were scored
    top_window: int = 0  # the window that decided the result (highest flag score)
    system_tokens_dropped: int = 0  # cut from the middle of a system prompt too long for the window


def default_artifact() -> Path:
    """The artifact shipped inside the package (artifacts/default)."""
    from importlib.resources import files
    return Path(str(files("lec_onnx.artifacts") / "default"))


def checked_texts(texts) -> list[str]:
    """The texts as a list of non-empty strings, or InputError naming the first that is not one."""
    if isinstance(texts, (bytes, bytearray)):
        raise InputError("texts must be str, not bytes: decode them first (UTF-8)")
    if not isinstance(texts, str) and not isinstance(texts, (list, tuple)) and not hasattr(texts, "__array__"):
        raise InputError(f"texts must be a string or a list of strings, not {type(texts).__name__}")
    texts = [texts] if isinstance(texts, str) else list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text {i + 1} must be a string, not {type(text).__name__}")
        if not text.strip():
            raise InputError(f"text {i + 1} is empty")
    return texts


def provider_names(providers: str | list[str] | None) -> list[str]:
    """onnxruntime provider names for "cpu" / "cuda" / full names, checked against this install; CPU last."""
    import onnxruntime as ort
    names = [PROVIDERS.get(p, p) for p in ([providers] if isinstance(providers, str) else providers or ["cpu"])]
    unknown = [p for p in names if p not in ort.get_all_providers()]
    if unknown:
        raise ProviderError(f"unknown provider {unknown[0]!r}; use 'cpu' or 'cuda'")
    missing = [p for p in names if p not in ort.get_available_providers()]
    if missing:
        raise ProviderError(f"{missing[0]} is not available in this onnxruntime install (available: "
                            f"{', '.join(ort.get_available_providers())}); for CUDA install onnxruntime-gpu")
    return names + ([] if "CPUExecutionProvider" in names else ["CPUExecutionProvider"])


def open_session(path: Path, providers: list[str], threads: int | None):
    import onnxruntime as ort
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
    try:
        return ort.InferenceSession(str(path), options, providers=providers)
    except Exception as e:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ArtifactError(f"onnxruntime cannot load {path.name}: {e}") from None


def open_tokenizer(folder: Path, manifest: Manifest):
    from tokenizers import Tokenizer
    try:
        tokenizer = Tokenizer.from_file(str(folder / manifest.tokenizer))
    except Exception as e:
        raise ArtifactError(f"cannot read {manifest.tokenizer}: {e}") from None
    tokenizer.no_truncation()  # windows() decides what fits, never a silent cut
    tokenizer.no_padding()
    vocab = tokenizer.get_vocab_size(with_added_tokens=True)
    if vocab > manifest.graph.vocab_size:
        raise ArtifactError(f"tokenizer has {vocab} tokens but the graph's embedding has "
                            f"{manifest.graph.vocab_size}: they do not belong together")
    return tokenizer


class Classifier:
    """One ONNX graph with one head per task (e.g. content safety and prompt injection), scored in one pass."""

    def __init__(self, folder: Path, manifest: Manifest, session, tokenizer, precision: str,
                 window: int | None = None, stride: int | None = None):
        self.folder, self.manifest, self.session, self.tokenizer = folder, manifest, session, tokenizer
        self.tasks: dict[str, Task] = manifest.tasks
        limit = manifest.window.max_length
        if window is not None and not MIN_WINDOW_TEXT_TOKENS <= window <= limit:
            raise InputError(f"window must be between {MIN_WINDOW_TEXT_TOKENS} and {limit} tokens "
                             f"(the artifact's max_length), not {window}")
        if stride is not None and stride < 0:
            raise InputError(f"stride must be 0 or more tokens, not {stride}")
        self.max_length = window or limit
        self.stride = manifest.window.stride if stride is None else stride
        # Dynamic int8 quantisation takes one scale per activation tensor, so rows of a padded batch would
        # change each other's scores: int8 graphs score one window per run, fp32 graphs batch.
        self.quantized = precision == "int8"

    @classmethod
    def load(cls, path: str | Path | None = None, providers: str | list[str] | None = None,
             threads: int | None = None, precision: str | None = None, window: int | None = None,
             stride: int | None = None) -> "Classifier":
        """Load an artifact folder (default: the shipped one).

        providers: "cpu" (default), "cuda", or onnxruntime provider names. precision: "int8" or "fp32";
        by default int8 on CPU and fp32 on CUDA (dynamic int8 runs poorly there). window, stride: tokens per
        window over long texts and their overlap, overriding the manifest's (window at most its max_length).
        """
        folder, manifest = read_manifest(path or default_artifact())
        names = provider_names(providers)
        precision = precision or ("fp32" if names[0] == "CUDAExecutionProvider" else "int8")
        graph = manifest.graph_file(precision)
        if not graph:
            raise ArtifactError(f"this artifact has no {precision} graph (CUDA runs fp32 by default): ask for "
                                f"precision='int8' (--precision int8), or export without --no-fp32")
        session = open_session(folder / graph, names, threads)
        return cls(folder, manifest, session, open_tokenizer(folder, manifest), precision, window, stride)

    def tasks_for(self, role: str) -> list[str]:
        """The tasks that apply to a role ("prompt" or "response"), in the manifest's order."""
        if role not in ROLES:
            raise InputError(f"role must be 'prompt' or 'response', not {role!r}")
        return [t for t, spec in self.tasks.items() if role in spec.roles]

    def classify(self, texts: str | list[str], system: str | list[str | None] | None = None,
                 role: str = "prompt", prompt: str | list[str | None] | None = None,
                 batch_size: int = 16, thresholds: dict[str, float] | None = None) -> list[dict[str, TaskResult]]:
        """Classify texts: one {task: TaskResult} per text, for the tasks that apply to the role.

        system: the system prompt the text was sent with (one for all or one per text).
        role: "prompt" for what a user sends, "response" for what a model answered (prompt = the request);
        a task declared for prompts only (prompt injection) is not scored on responses.
        thresholds: {task: threshold} to override the manifest's decision thresholds of binary tasks.
        Lone UTF-16 surrogates are scored as U+FFFD (inputs.well_formed). Raises InputError for anything it
        cannot classify (a non-string, an empty text), naming the text.
        """
        scoring = self.start(texts, system, role, prompt, batch_size, thresholds)
        while scoring.step():
            pass
        return scoring.results()

    def start(self, texts, system=None, role: str = "prompt", prompt=None, batch_size: int = 16,
              thresholds: dict[str, float] | None = None, max_windows: int | None = None) -> "Scoring":
        """classify() in steps: tokenise and cut windows now, then one onnxruntime run per Scoring.step(), so a
        server can interleave requests and stop at a deadline. max_windows: raise WindowLimitError as soon as
        the texts need more windows than that (before any run)."""
        texts = checked_texts(texts)
        systems, prompts = self._per_text(system, len(texts), "system"), self._per_text(prompt, len(texts), "prompt")
        tasks = self.tasks_for(role)
        thresholds = self._checked_thresholds(thresholds)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise InputError(f"batch_size must be a whole number of at least 1, not {batch_size!r}")
        rows, owner, dropped = self._windows(texts, systems, role, prompts, max_windows)
        outputs = {spec.output: (task, len(spec.labels)) for task, spec in self.tasks.items()}
        return Scoring(self, rows, owner, dropped, tasks, thresholds, 1 if self.quantized else batch_size, outputs)

    def _windows(self, texts: list[str], systems: list, role: str, prompts: list, max_windows: int | None = None):
        """Every text's windows as graph rows, the text each row belongs to, system tokens dropped per text."""
        rows, owner, dropped = [], [], []
        for i, (text, sys_prompt, req) in enumerate(zip(texts, systems, prompts)):
            encoded = encode_fitted(self.tokenizer, self.manifest.input_format, text, sys_prompt, self.max_length,
                                    role, req)
            dropped.append(encoded.system_tokens_dropped)
            try:
                cut = windows(encoded, self.max_length, self.stride)
            except InputError as e:
                raise InputError(f"text {i + 1}: {e}") from None
            rows += cut
            owner += [i] * len(cut)
            if max_windows is not None and len(rows) > max_windows:
                raise WindowLimitError(f"the texts need more than {max_windows} windows of {self.max_length} tokens "
                                       f"(text {i + 1} alone needs {len(cut)}); the limit is {max_windows} per "
                                       "request: send fewer or shorter texts", len(rows), max_windows)
        return rows, owner, dropped

    def _per_text(self, value, n: int, name: str) -> list:
        if value is None or isinstance(value, str):
            return [value] * n
        if not isinstance(value, (list, tuple)) and not hasattr(value, "__array__"):
            raise InputError(f"{name} must be a string, None, or a list of them (one per text), not "
                             f"{type(value).__name__}")
        value = list(value)
        if len(value) != n:
            raise InputError(f"got {len(value)} {name} values for {n} texts")
        wrong = [i for i, v in enumerate(value) if v is not None and not isinstance(v, str)]
        if wrong:
            raise InputError(f"{name} {wrong[0] + 1} must be a string or None, not {type(value[wrong[0]]).__name__}")
        return value

    def _checked_thresholds(self, thresholds) -> dict[str, float]:
        if thresholds is None:
            return {}
        if not isinstance(thresholds, dict):
            raise InputError(f"thresholds must be a dict {{task: P}}, not {type(thresholds).__name__}")
        unknown = set(thresholds) - set(self.tasks)
        if unknown:
            raise InputError(f"unknown task {sorted(map(str, unknown))[0]!r}; this artifact has "
                             f"{', '.join(self.tasks)}")
        bad = [t for t, p in thresholds.items() if isinstance(p, bool) or not isinstance(p, (int, float))
               or not 0.0 <= p <= 1.0]
        if bad:
            raise InputError(f"the threshold of {bad[0]} must be a number from 0 to 1, not {thresholds[bad[0]]!r}")
        return thresholds

    def features(self, texts: list[str], system: list[str | None] | None = None, role: str = "prompt",
                 names: list[str] | None = None, progress=None) -> tuple[dict[str, np.ndarray], np.ndarray]:
        """The pooled states the graph exposes (manifest `features`), per window: ({name: [windows, width]},
        the text each window belongs to). progress(total windows) may return a function called with each run's
        count of windows (a progress bar)."""
        names = list(names or self.manifest.features)
        if not names:
            raise ArtifactError("this artifact's graph exposes no features (exported before graphs output their "
                                "pooled states): re-export it, or run scripts/expose_features.py on it")
        unknown = [n for n in names if n not in self.manifest.features]
        if unknown:
            raise InputError(f"unknown feature {unknown[0]!r}; this graph exposes {', '.join(self.manifest.features)}")
        texts = checked_texts(texts)
        systems = self._per_text(system, len(texts), "system")
        rows, owner, dropped = self._windows(texts, systems, role, [None] * len(texts))
        outputs = {n: (n, self.manifest.features[n].size) for n in names}
        scoring = Scoring(self, rows, owner, dropped, [], {}, 1, outputs)
        advance = progress(len(rows)) if progress else None
        for _ in scoring.batches:  # one window a run
            scoring.step()
            if advance:
                advance(1)
        return scoring.values, np.array(owner)

    def fit(self, task: str, texts: list[str], labels: list, system=None, negative: str | None = None,
            **options) -> "Classifier":
        """A new Classifier with a head for `task` fitted on these rows (features from this graph; needs the fit
        extra: scikit-learn and onnx). `.save(folder)` writes it as an artifact. Options: lec_onnx.fit.fit_head."""
        from .fit import fit_classifier
        return fit_classifier(self, task, texts, labels, system, negative, **options)

    def save(self, folder: str | Path) -> Path:
        """Write this classifier as an artifact folder (written beside it, then renamed: never half a folder)."""
        from .fit import save_artifact
        return save_artifact(self, Path(folder))

    def _decide(self, probs: dict[str, np.ndarray], rows: np.ndarray, tasks: list[str], thresholds: dict,
                dropped: int) -> dict[str, TaskResult]:
        results = {}
        for task in tasks:
            spec, p = self.tasks[task], probs[task][rows]
            top = int(np.argmax(flag_scores(p, spec)))  # the window most likely to be flagged decides
            label = decide(p[top:top + 1], spec, thresholds.get(task))[0]
            score = float(flag_scores(p[top:top + 1], spec)[0]) if len(spec.labels) == 2 else float(p[top].max())
            results[task] = TaskResult(label, score, {l: float(v) for l, v in zip(spec.labels, p[top])},
                                       label != spec.negative_label, len(rows), top, dropped)
        return results


class Scoring:
    """One classify call cut into onnxruntime runs (a window each for int8 graphs): step() runs the next, so the
    caller decides what happens between runs (the server interleaves requests and checks deadlines)."""

    def __init__(self, classifier: Classifier, rows: list, owner: list[int], dropped: list[int], tasks: list[str],
                 thresholds: dict, batch_size: int, outputs: dict[str, tuple[str, int]]):
        """outputs: {graph output: (key in `values`, width)}: the heads' (keyed by task) unless features are asked
        for; the graph computes every output, but only these are fetched."""
        self.classifier, self.rows, self.owner, self.dropped = classifier, rows, np.array(owner), dropped
        self.tasks, self.thresholds = tasks, thresholds
        order = sorted(range(len(rows)), key=lambda j: len(rows[j][0]))  # similar lengths pad less
        self.batches = [order[s:s + batch_size] for s in range(0, len(order), batch_size)]
        self.done = 0  # batches run so far
        self.tokens_left = sum(len(row[0]) for row in rows)  # what the runs left cost, roughly
        self.outputs = outputs
        self.values = {key: np.zeros((len(rows), width), np.float32) for key, width in outputs.values()}

    @property
    def windows(self) -> int:
        return len(self.rows)

    @property
    def work_left(self) -> float:
        """The runs left, in full windows (tokens / the window's length): a window of a short prompt costs a
        fraction of a full one."""
        return self.tokens_left / self.classifier.max_length

    def step(self) -> bool:
        """Run the next batch of windows; True while batches are left."""
        if self.done < len(self.batches):
            clf, batch = self.classifier, self.batches[self.done]
            feed = model_inputs([self.rows[j] for j in batch], clf.manifest.graph.inputs)
            results = clf.session.run(list(self.outputs), feed)
            for (key, _), res in zip(self.outputs.values(), results):
                self.values[key][batch] = res
            self.done += 1
            self.tokens_left -= sum(len(self.rows[j][0]) for j in batch)
        return self.done < len(self.batches)

    def results(self) -> list[dict[str, TaskResult]]:
        if self.done < len(self.batches):
            raise RuntimeError("Scoring.results() before every step ran")
        return [self.classifier._decide(self.values, np.flatnonzero(self.owner == i), self.tasks, self.thresholds,
                                        self.dropped[i]) for i in range(len(self.dropped))]
