"""Add everyday chit-chat (greetings, small talk) to the bundled data as harmless, system-less rows.

The public injection and safety sets have almost no greetings or small talk, so probes trained on them flagged
"hello" as an injection and "Tell me a joke" as unsafe. This adds every English utterance of chatterbot-corpus
(BSD-3-Clause, pinned wheel, SHA-256 checked) as `safe` rows in content_safety.jsonl and `benign` rows in
prompt_injection.jsonl, source `chatterbot-corpus`. Re-running replaces the rows it added before.

    python scripts/data/add_chitchat.py          # needs pip access to PyPI and PyYAML
"""
import json
import re
import tempfile
import zipfile
from pathlib import Path

import yaml

from lec_onnx.export.data import normalised_sha256
from lec_onnx.export.offline import download_wheels

PACKAGE = {"chatterbot-corpus==1.2.0": "5caf9f02ea1b7fed5f4df39a210a66c3f5afa308b6fa6b635dffe0bbe75a3cdf"}
SOURCE, LICENCE = "chatterbot-corpus", "BSD-3-Clause"
DATA = Path(__file__).resolve().parents[2] / "data"


def utterances(wheel: Path) -> list[tuple[str, str]]:
    """(topic, text) for every distinct English utterance, in file order."""
    seen, out = set(), []
    with zipfile.ZipFile(wheel) as z:
        for name in sorted(n for n in z.namelist() if n.startswith("chatterbot_corpus/data/english/")):
            topic = Path(name).stem
            for conversation in yaml.safe_load(z.read(name)).get("conversations", []):
                for turn in conversation:
                    text = re.sub(r"\s+", " ", str(turn)).strip()
                    if text and text.lower() not in seen:
                        seen.add(text.lower())
                        out.append((topic, text))
    return out


def split_of(text: str) -> str:
    """About 20% test, fixed by the text's hash like the rest of the bundled data."""
    return "test" if int(normalised_sha256(text)[:8], 16) % 5 == 0 else "train"


def replace_rows(path: Path, label: str, items: list[tuple[str, str]], with_system: bool) -> int:
    kept = [line for line in path.read_text(encoding="utf-8").splitlines()
            if json.loads(line).get("source") != SOURCE]
    banned = set((DATA / "heldout-sha256.txt").read_text().split())
    existing = {normalised_sha256(json.loads(line)["text"]) for line in kept}
    added = []
    for topic, text in items:
        h = normalised_sha256(text)
        if h in banned or h in existing:
            continue
        row = {"system": None} if with_system else {}
        row.update(text=text, label=label, category=f"chit-chat/{topic}", source=SOURCE, license=LICENCE,
                   split=split_of(text))
        added.append(json.dumps(row, ensure_ascii=False))
    path.write_text("\n".join(kept + added) + "\n", encoding="utf-8")
    return len(added)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        items = utterances(download_wheels(PACKAGE, Path(tmp))[0])
    print("content_safety.jsonl:", replace_rows(DATA / "content_safety.jsonl", "safe", items, False), "rows")
    print("prompt_injection.jsonl:", replace_rows(DATA / "prompt_injection.jsonl", "benign", items, True), "rows")


if __name__ == "__main__":
    main()
