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


def feature_key(loaded: LoadedModel, texts, systems, max_length: int) -> str:
    fmt = dataclasses.asdict(input_format(loaded, True))
    h = hashlib.sha256(json.dumps([FEATURES_VERSION, loaded.model_id, loaded.revision, max_length, fmt,
                                   loaded.tokenizer.backend_tokenizer.to_str()]).encode())
    for s, t in zip(systems, texts):
        h.update(json.dumps([s, t]).encode())
    return h.hexdigest()[:20]


def extract(loaded: LoadedModel, texts, systems=None, max_length: int = 256, batch_size: int = 8,
            cache: Path | None = None, poolings: tuple[str, ...] | None = None,
            desc: str = "features") -> dict[str, np.ndarray]:
    """{pooling: array [rows, layers + 1, hidden]} for every layer (0 = embeddings), read from cache if there."""
    systems = systems if systems is not None else [None] * len(texts)
    poolings = poolings or poolings_for(loaded)
    shape = (len(texts), loaded.num_layers + 1, loaded.hidden_size)
    folder = partial = None
    if cache:
        folder = Path(cache) / feature_key(loaded, texts, systems, max_length)
        if (folder / "done.json").exists() and all((folder / f"{p}.npy").exists() for p in poolings):
            return {p: np.load(folder / f"{p}.npy", mmap_mode="r") for p in poolings}
        # written aside and renamed when complete: an interrupted or concurrent run never leaves half a cache
        partial = folder.with_name(f"{folder.name}.partial-{os.getpid()}")
        partial.mkdir(parents=True, exist_ok=True)
        out = {p: np.lib.format.open_memmap(partial / f"{p}.npy", "w+", np.float32, shape) for p in poolings}
    else:
        out = {p: np.zeros(shape, np.float32) for p in poolings}
    rows, plain_lengths, spans = tokenize_rows(loaded, texts, systems, max_length)
    order = sorted(range(len(rows)), key=lambda i: len(rows[i][0]))  # similar lengths pad less
    with torch.inference_mode(), tqdm(total=len(rows), desc=desc, unit="text") as bar:
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            ids, mask, types = pad_batch([rows[i] for i in batch])
            states = hidden_states(loaded, ids, mask, types)
            lengths = mask.sum(1)
            plain = torch.tensor([plain_lengths[i] for i in batch])
            text = torch.tensor([spans[i] for i in batch])
            for p in poolings:
                out[p][batch] = torch.stack([pooled(h, lengths, plain, text, p) for h in states], 1).float().numpy()
            bar.update(len(batch))
    if folder:
        for arr in out.values():
            arr.flush()
        (partial / "done.json").write_text(json.dumps({"model": loaded.model_id, "rows": len(texts),
                                                       "max_length": max_length, "poolings": list(poolings)}))
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
        return {p: np.load(folder / f"{p}.npy", mmap_mode="r") for p in poolings}
    return out


def pad_batch(rows):
    """Right-padded id, mask and type-id tensors of a list of (ids, type_ids): the runtime's own padding."""
    feed = model_inputs([(ids, types, 0, 0) for ids, types in rows])
    return tuple(torch.from_numpy(feed[name]) for name in ("input_ids", "attention_mask", "token_type_ids"))
