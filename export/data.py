"""Labelled data sets: JSONL, CSV or Parquet files, or a hub dataset id, read into one simple table."""
from __future__ import annotations

import csv
import hashlib
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from lec_onnx.errors import InputError


@dataclass
class Dataset:
    """Rows of text with labels. system/source/split are per-row strings or None."""
    text: list[str]
    label: list[str]
    system: list[str | None] = field(default_factory=list)
    source: list[str] = field(default_factory=list)
    split: list[str | None] = field(default_factory=list)
    name: str = "data"

    def __len__(self) -> int:
        return len(self.text)

    def subset(self, index) -> "Dataset":
        pick = lambda xs: [xs[i] for i in index]  # noqa: E731
        return Dataset(pick(self.text), pick(self.label), pick(self.system), pick(self.source), pick(self.split),
                       self.name)

    def concat(self, other: "Dataset") -> "Dataset":
        return Dataset(self.text + other.text, self.label + other.label, self.system + other.system,
                       self.source + other.source, self.split + other.split, self.name)

    def where(self, predicate) -> list[int]:
        return [i for i in range(len(self)) if predicate(i)]

    @property
    def labels(self) -> list[str]:
        return sorted(set(self.label))


def read_rows(path: Path) -> list[dict]:
    suffix = path.suffix.lower()
    try:
        if suffix in (".jsonl", ".json"):
            rows = []
            with open(path, encoding="utf-8") as f:
                for n, line in enumerate(f, 1):
                    if line.strip():
                        try:
                            rows.append(json.loads(line))
                        except json.JSONDecodeError as e:
                            raise InputError(f"{path}:{n}: not a JSON line ({e.msg})") from None
                        if not isinstance(rows[-1], dict):
                            raise InputError(f"{path}:{n}: expected a JSON object per line")
            return rows
        if suffix in (".csv", ".tsv"):
            with open(path, encoding="utf-8", newline="") as f:
                return list(csv.DictReader(f, delimiter="\t" if suffix == ".tsv" else ","))
        if suffix == ".parquet":
            import pyarrow.parquet as pq
            return pq.read_table(path).to_pylist()
    except UnicodeDecodeError as e:
        raise InputError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from None
    except OSError as e:
        raise InputError(f"cannot read {path}: {e.strerror or e}") from None
    raise InputError(f"{path}: unknown data format {suffix!r} (use .jsonl, .csv, .tsv or .parquet)")


def _hub_rows(dataset_id: str, split: str | None) -> list[dict]:
    """A dataset from the Hugging Face hub (users with hub access); every split, tagged with its name."""
    try:
        import datasets
    except ImportError:
        raise InputError(f"{dataset_id!r} is not a local file; reading hub datasets needs "
                         "`pip install datasets`") from None
    loaded = datasets.load_dataset(dataset_id)
    rows = []
    for name, part in loaded.items():
        if split in (None, name):
            rows.extend(dict(r, split=r.get("split", name)) for r in part)
    return rows


def load_dataset(path: str | Path, text: str = "text", label: str = "label", system: str | None = "system",
                 source: str = "source", split: str = "split") -> Dataset:
    """Read a labelled data set. Column names are configurable; system, source and split are optional."""
    p = Path(path)
    if p.exists():
        if p.is_dir():
            raise InputError(f"{p} is a folder, not a data file")
        rows, name = read_rows(p), p.stem
    elif re.fullmatch(r"[\w.-]+/[\w.-]+", str(path)):
        rows, name = _hub_rows(str(path), None), str(path).split("/")[-1]
    else:
        raise InputError(f"data file not found: {path}")
    if not rows:
        raise InputError(f"{path} has no rows")
    for col in (text, label):
        missing = next((n for n, r in enumerate(rows, 1) if r.get(col) in (None, "")), None)
        if missing is not None:
            raise InputError(f"{path}: row {missing} has no {col!r} column"
                             f" (columns there: {', '.join(map(str, rows[missing - 1]))}); "
                             f"name the column with --{'text' if col == text else 'label'}-column")
    data = Dataset(
        text=[str(r[text]) for r in rows],
        label=[str(r[label]) for r in rows],
        system=[(str(r[system]) if system and r.get(system) not in (None, "") else None) for r in rows],
        source=[str(r.get(source) or name) for r in rows],
        split=[(str(r[split]) if r.get(split) else None) for r in rows],
        name=name,
    )
    empty = next((n for n, t in enumerate(data.text, 1) if not t.strip()), None)
    if empty is not None:
        raise InputError(f"{path}: row {empty} has an empty text")
    if len(set(data.label)) < 2:
        raise InputError(f"{path}: every row has the label {data.label[0]!r}; a classifier needs two labels or more")
    return data


def normalised_sha256(text: str) -> str:
    """The hash ../shared/data/heldout-sha256.txt uses to list the texts kept aside for final evaluation."""
    return hashlib.sha256(re.sub(r"\s+", " ", text).strip().lower().encode("utf-8")).hexdigest()


def drop_heldout(data: Dataset, heldout_hashes: Path | None) -> Dataset:
    """Drop rows whose text is in a held-out evaluation set (XSTest, OpenAI moderation, CyberSecEval)."""
    if not heldout_hashes:
        return data
    banned = set(Path(heldout_hashes).read_text().split())
    return data.subset(data.where(lambda i: normalised_sha256(data.text[i]) not in banned))


def stratified_cap(data: Dataset, per_group: int, seed: int = 0) -> Dataset:
    """At most per_group rows of each (source, label, split): keeps every source while bounding compute."""
    import random
    groups: dict[tuple, list[int]] = {}
    for i in range(len(data)):
        groups.setdefault((data.source[i], data.label[i], data.split[i]), []).append(i)
    rng = random.Random(seed)
    keep = []
    for key in sorted(groups, key=str):
        idx = groups[key]
        keep.extend(sorted(rng.sample(idx, per_group)) if len(idx) > per_group else idx)
    return data.subset(sorted(keep))


def without_rows(data: Dataset, specs: list[str]) -> Dataset:
    """Leave out every row of a source ("tensor-trust") or of one of its labels ("tensor-trust:benign")."""
    for spec in specs:
        source, _, label = spec.partition(":")
        data = data.subset(data.where(lambda i: not (data.source[i] == source and label in ("", data.label[i]))))
    return data


def with_documents(data: Dataset, n: int, seed: int = 0, min_chars: int = 600, max_chars: int = 1200) -> Dataset:
    """Add n synthetic long documents made of harmless rows, half of them with an attack row appended.

    An attack hidden after a page of ordinary text is scored in a window that is mostly harmless text, and
    mean pooling dilutes it; probes trained on short rows alone miss it (docs/results.md). Documents are built
    from training rows only and tagged split "train", source "synthetic-documents".
    """
    import random
    rng = random.Random(seed)
    negative = next(l for l in data.labels if l.lower() in ("benign", "safe")) if len(data.labels) == 2 else None
    if negative is None:
        raise InputError("document augmentation needs a binary data set with a 'benign' or 'safe' label")
    train = [i for i in range(len(data)) if data.split[i] != "test"]
    harmless = [i for i in train if data.label[i] == negative and data.system[i] is None]
    attacks = [i for i in train if data.label[i] != negative and len(data.text[i]) < 400]
    systems = sorted({s for s in data.system if s})
    rows = Dataset([], [], [], [], [], data.name)
    for k in range(n):
        doc = ""
        target = rng.randint(min_chars, max_chars)
        while len(doc) < target:
            doc += data.text[rng.choice(harmless)] + "\n\n"
        attacked = k % 2 == 1
        text = doc + data.text[rng.choice(attacks)] if attacked else doc.strip()
        rows = rows.concat(Dataset([text], [data.labels[1 - data.labels.index(negative)] if attacked else negative],
                                   [rng.choice(systems) if systems and rng.random() < 0.5 else None],
                                   ["synthetic-documents"], ["train"]))
    return data.concat(rows)


def with_system_prompts(data: Dataset, n: int, seed: int = 0) -> Dataset:
    """Add n system-less training rows again, each under a system prompt drawn from the data, label unchanged.

    In the public injection data only one source carries system prompts (tensor-trust, where the harmless
    reply is a password), so a probe learns "a system prompt is there, the text is not a password: injection"
    and flags "hello" sent to a support bot. Pairing ordinary and attacking rows alike with system prompts
    makes the system prompt's presence say nothing about the label. Half the prompts are cut to their first one
    to three sentences: the data's system prompts are long, deployed ones are often a single line.
    Tagged source "synthetic-system-pairs".
    """
    import random
    rng = random.Random(seed)
    systems = sorted({s for s in data.system if s})
    if not systems:
        raise InputError("system-prompt pairing needs rows that carry a system prompt")

    def system_prompt() -> str:
        full = rng.choice(systems)
        sentences = re.split(r"(?<=[.!?])\s+", full.strip())
        return full if rng.random() < 0.5 else " ".join(sentences[:rng.randint(1, 3)])

    pool = [i for i in range(len(data)) if data.split[i] != "test" and data.system[i] is None]
    picked = [pool[rng.randrange(len(pool))] for _ in range(n)] if pool else []
    return data.concat(Dataset([data.text[i] for i in picked], [data.label[i] for i in picked],
                               [system_prompt() for _ in picked], ["synthetic-system-pairs"] * len(picked),
                               ["train"] * len(picked), data.name))
