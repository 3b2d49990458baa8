"""Per-layer pooled hidden states of a data set: batched, cached on disk (memory-mapped), with a progress bar."""
from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lec_onnx.inputs import encode_fitted, model_inputs, windows

from .models import LoadedModel, hidden_states, input_format, runtime_tokenizer
from .pooling import DECODER_POOLINGS, ENCODER_POOLINGS, pool, split_pooling


def poolings_for(loaded: LoadedModel) -> tuple[str, ...]:
    if loaded.kind == "encoder":
        return ENCODER_POOLINGS
    gen = input_format(loaded, True).generation_prompt
    return tuple(p for p in DECODER_POOLINGS if gen or not split_pooling(p)[1])


def tokenize_rows(loaded: LoadedModel, texts, systems, max_length: int):
    """Token rows (the first window of each text, a long system prompt cut as the runtime cuts it); per row, how
    many tokens precede the generation prompt; and the (start, end) positions of the text's own tokens."""
    tok = runtime_tokenizer(loaded.tokenizer)
    fmt_gen, fmt_plain = input_format(loaded, generation_prompt=True), input_format(loaded, generation_prompt=False)
    rows, plain_lengths, spans = [], [], []
    for text, system in zip(texts, systems):
        encoded = encode_fitted(tok, fmt_gen, text, system, max_length)
        ids, type_ids, start, end = windows(encoded, max_length, stride=0)[0]  # the first window only
        plain = encode_fitted(tok, fmt_plain, text, system, max_length)
        gen_tail = len(encoded.ids[2]) - len(plain.ids[2])
        rows.append((ids, type_ids))
        spans.append((start, end))
        # causal decoders: the states of a prefix do not depend on what follows, so one pass serves both
        plain_lengths.append(len(ids) - gen_tail)
    return rows, plain_lengths, spans


def pooled(states: torch.Tensor, lengths: torch.Tensor, plain_lengths: torch.Tensor, spans: torch.Tensor,
           pooling: str) -> torch.Tensor:
    """One layer's right-padded states [batch, seq, hidden] -> [batch, hidden], by the graph's own pooling."""
    base, gen = split_pooling(pooling)
    positions = torch.arange(states.shape[1])[None, :]
    token_mask = positions < (lengths if gen else plain_lengths)[:, None]
    text_mask = (positions >= spans[:, :1]) & (positions < spans[:, 1:])
    return pool(states, token_mask, text_mask, base)


FEATURES_VERSION = 2  # 2: over-long system prompts cut in the middle, as the runtime cuts them


def _config_hash(loaded: LoadedModel, max_length: int):
    fmt = dataclasses.asdict(input_format(loaded, True))
    return hashlib.sha256(json.dumps([FEATURES_VERSION, loaded.model_id, loaded.revision, max_length, fmt,
                                      loaded.tokenizer.backend_tokenizer.to_str()]).encode())


def _config_key(loaded: LoadedModel, max_length: int) -> str:
    """What must match for two caches to share rows: model, revision, window, input format and tokenizer."""
    return _config_hash(loaded, max_length).hexdigest()[:20]


def _row_keys(texts, systems) -> np.ndarray:
    """A 16-byte digest per (system, text): how a cache finds rows another data list already computed."""
    return np.array([hashlib.sha256(json.dumps([s, t]).encode()).digest()[:16] for s, t in zip(systems, texts)],
                    dtype="S16")


def feature_key(loaded: LoadedModel, texts, systems, max_length: int) -> str:
    h = _config_hash(loaded, max_length)
    for s, t in zip(systems, texts):
        h.update(json.dumps([s, t]).encode())
    return h.hexdigest()[:20]


def _copy_cached_rows(cache: Path, config: str, keys: np.ndarray, poolings, out: dict) -> np.ndarray:
    """Fill out's rows from the complete caches of the same model, window and poolings that hold them; the mask
    of rows still to compute."""
    where: dict[bytes, tuple[Path, int]] = {}
    for folder in Path(cache).iterdir():
        try:
            done = json.loads((folder / "done.json").read_text())
        except (OSError, ValueError):
            continue
        if done.get("config") == config and set(poolings) <= set(done.get("poolings", ())):
            for j, k in enumerate(np.load(folder / "row_keys.npy")):
                where.setdefault(bytes(k), (folder, j))
    todo = np.ones(len(keys), bool)
    by_folder: dict[Path, list[tuple[int, int]]] = {}
    for i, k in enumerate(keys):
        if bytes(k) in where:
            folder, j = where[bytes(k)]
            by_folder.setdefault(folder, []).append((i, j))
            todo[i] = False
    for folder, pairs in by_folder.items():
        mine, theirs = map(list, zip(*pairs))
        for p, arr in out.items():
            arr[mine] = np.load(folder / f"{p}.npy", mmap_mode="r")[theirs]
    return todo


def _index_rows(folder: Path, loaded: LoadedModel, texts, systems, max_length: int) -> None:
    """Give a cache written before row reuse existed its row digests, so later data lists can share its rows."""
    done = json.loads((folder / "done.json").read_text())
    if "config" not in done or not (folder / "row_keys.npy").exists():
        np.save(folder / "row_keys.npy", _row_keys(texts, systems))
        done["config"] = _config_key(loaded, max_length)
        (folder / "done.json").write_text(json.dumps(done))


def extract(loaded: LoadedModel, texts, systems=None, max_length: int = 256, batch_size: int = 8,
            cache: Path | None = None, poolings: tuple[str, ...] | None = None,
            desc: str = "features") -> dict[str, np.ndarray]:
    """{pooling: array [rows, layers + 1, hidden]} for every layer (0 = embeddings), read from cache if there;
    rows that an earlier data list computed (same model, window and text) are copied, not run again."""
    systems = systems if systems is not None else [None] * len(texts)
    poolings = poolings or poolings_for(loaded)
    shape = (len(texts), loaded.num_layers + 1, loaded.hidden_size)
    folder = partial = None
    todo = np.ones(len(texts), bool)
    if cache:
        folder = Path(cache) / feature_key(loaded, texts, systems, max_length)
        if (folder / "done.json").exists() and all((folder / f"{p}.npy").exists() for p in poolings):
            _index_rows(folder, loaded, texts, systems, max_length)
            return {p: np.load(folder / f"{p}.npy", mmap_mode="r") for p in poolings}
        # written aside and renamed when complete: an interrupted or concurrent run never leaves half a cache
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        partial.mkdir(parents=True, exist_ok=True)
        out = {p: np.lib.format.open_memmap(partial / f"{p}.npy", "w+", np.float32, shape) for p in poolings}
        config, keys = _config_key(loaded, max_length), _row_keys(texts, systems)
        todo = _copy_cached_rows(Path(cache), config, keys, poolings, out)
    else:
        out = {p: np.zeros(shape, np.float32) for p in poolings}
    _compute(loaded, texts, systems, max_length, batch_size, out, np.flatnonzero(todo), desc)
    if folder:
        for arr in out.values():
            arr.flush()
        np.save(partial / "row_keys.npy", keys)
        (partial / "done.json").write_text(json.dumps({"model": loaded.model_id, "rows": len(texts), "config": config,
                                                       "max_length": max_length, "poolings": list(poolings)}))
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
        return {p: np.load(folder / f"{p}.npy", mmap_mode="r") for p in poolings}
    return out


def _compute(loaded: LoadedModel, texts, systems, max_length: int, batch_size: int, out: dict, rows_to_run,
             desc: str) -> None:
    """Run the model over the given rows of the data list, writing their pooled states into out."""
    picked = [int(i) for i in rows_to_run]
    rows, plain_lengths, spans = tokenize_rows(loaded, [texts[i] for i in picked], [systems[i] for i in picked],
                                               max_length)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))  # similar lengths pad less
    with torch.inference_mode(), tqdm(total=len(rows), desc=desc, unit="text") as bar:
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            ids, mask, types = pad_batch([rows[i] for i in batch])
            states = hidden_states(loaded, ids, mask, types)
            lengths = mask.sum(1)
            plain = torch.tensor([plain_lengths[i] for i in batch])
            text = torch.tensor([spans[i] for i in batch])
            target = [picked[i] for i in batch]
            for p in out:
                out[p][target] = torch.stack([pooled(h, lengths, plain, text, p) for h in states], 1).float().numpy()
            bar.update(len(batch))


def pad_batch(rows):
    """Right-padded id, mask and type-id tensors of a list of (ids, type_ids): the runtime's own padding."""
    feed = model_inputs([(ids, types, 0, 0) for ids, types in rows])
    return tuple(torch.from_numpy(feed[name]) for name in ("input_ids", "attention_mask", "token_type_ids"))
