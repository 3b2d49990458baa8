"""Per-layer pooled hidden states of a data set: batched, cached on disk (memory-mapped), with a progress bar."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lec_onnx.classifier import MIN_WINDOW_TEXT_TOKENS, encode_parts, model_inputs, window_rows

from .models import LoadedModel, hidden_states, input_format, runtime_tokenizer

# Pooling names: mean / last / first token of the formatted input; text-mean averages the text's own tokens
# only (the system prompt and markup are attended to, not averaged in: a long system prompt would otherwise
# outweigh a short text). For chat decoders the "gen-" variants read the same input with the generation prompt
# appended (where an aligned model decides whether to refuse).
DECODER_POOLINGS = ("mean", "last", "text-mean", "gen-mean", "gen-last")
ENCODER_POOLINGS = ("mean", "first", "last", "text-mean")


def poolings_for(loaded: LoadedModel) -> tuple[str, ...]:
    if loaded.kind == "encoder":
        return ENCODER_POOLINGS
    gen = input_format(loaded, True)["generation_prompt"]
    return tuple(p for p in DECODER_POOLINGS if gen or not p.startswith("gen-"))


def split_pooling(pooling: str) -> tuple[str, bool]:
    """'gen-last' -> ('last', True): the graph's pooling op and whether the input ends in the generation prompt."""
    return (pooling[4:], True) if pooling.startswith("gen-") else (pooling, False)


def tokenize_rows(loaded: LoadedModel, texts, systems, max_length: int):
    """Token rows (first window of each text); per row, how many tokens precede the generation prompt; and the
    (start, end) positions of the text's own tokens."""
    tok = runtime_tokenizer(loaded.tokenizer)
    fmt_gen = input_format(loaded, generation_prompt=True)
    fmt_plain = input_format(loaded, generation_prompt=False)
    rows, plain_lengths, spans = [], [], []
    for text, system in zip(texts, systems):
        parts, types = encode_parts(tok, fmt_gen, text, system)
        while system and len(parts[0]) + len(parts[2]) + MIN_WINDOW_TEXT_TOKENS > max_length:
            system = system[max(1, len(system) // 2):]  # training rows only: keep the end of an over-long system prompt
            parts, types = encode_parts(tok, fmt_gen, text, system)
        ids, type_ids, start, end = window_rows(parts, types, max_length, stride=0)[0]  # the first window only
        gen_tail = len(parts[2]) - len(encode_parts(tok, fmt_plain, text, system)[0][2])
        rows.append((ids, type_ids))
        spans.append((start, end))
        # causal decoders: the states of a prefix do not depend on what follows, so one pass serves both
        plain_lengths.append(len(ids) - gen_tail)
    return rows, plain_lengths, spans


def pool(states: torch.Tensor, lengths: torch.Tensor, plain_lengths: torch.Tensor, pooling: str,
         spans: torch.Tensor | None = None) -> torch.Tensor:
    """states [batch, seq, hidden] right-padded -> [batch, hidden]. spans [batch, 2]: the text's tokens."""
    name, gen = split_pooling(pooling)
    n = lengths if gen else plain_lengths
    if name in ("mean", "text-mean"):
        positions = torch.arange(states.shape[1])[None, :]
        start, end = (spans[:, 0], spans[:, 1]) if name == "text-mean" else (torch.zeros_like(n), n)
        mask = ((positions >= start[:, None]) & (positions < end[:, None])).to(states.dtype)
        return (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)
    index = n - 1 if name == "last" else torch.zeros_like(n)
    return states[torch.arange(states.shape[0]), index]


def feature_key(loaded: LoadedModel, texts, systems, max_length: int) -> str:
    h = hashlib.sha256(json.dumps([loaded.model_id, loaded.revision, max_length, input_format(loaded, True),
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
                pooled = torch.stack([pool(h, lengths, plain, p, text) for h in states], 1)
                out[p][batch] = pooled.float().numpy()
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
