"""Harvest one layer's activations to disk and train a Top-k SAE on them; rank candidate refusal latents.

Harvest folder: activations.f16 (a raw fp16 memmap [capacity, d_model], rows filled in order), harvest.json (model,
layer, capacity, tokens written, rows done). Resumable: a rerun skips the rows done. Position 0 of every sequence
(an attention sink with outsized norm) and padding are dropped.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lec_onnx.errors import InputError

from .guard import layer_states, left_pad
from .sae import SAEConfig, TopKSAE, fvu, save_sae

ACTIVATIONS, HARVEST = "activations.f16", "harvest.json"


def open_harvest(folder: Path, model_id: str, layer: int, d_model: int, capacity: int) -> tuple[np.memmap, dict]:
    folder.mkdir(parents=True, exist_ok=True)
    meta_path = folder / HARVEST
    if meta_path.exists():
        meta = json.loads(meta_path.read_text())
        if (meta["model"], meta["layer"], meta["d_model"]) != (model_id, layer, d_model):
            raise InputError(f"{folder} holds a harvest of {meta['model']} layer {meta['layer']}; use another --out")
    else:
        meta = {"model": model_id, "layer": layer, "d_model": d_model, "capacity": capacity, "tokens": 0,
                "rows_done": 0}
    mode = "r+" if (folder / ACTIVATIONS).exists() else "w+"
    acts = np.memmap(folder / ACTIVATIONS, np.float16, mode, shape=(meta["capacity"], d_model))
    return acts, meta


def harvest(loaded, layer: int, items: list, out, tokens: int, batch_size: int = 8, to_sequences=None,
            skip: int = 1) -> dict:
    """Write layer `layer`'s states of token sequences until `tokens`, without the first `skip` positions of each
    (at least position 0). items: token id lists (chat-formatted prompt + answer), or anything
    to_sequences(batch) turns into them (e.g. prompts answered on the fly)."""
    folder = Path(out)
    acts, meta = open_harvest(folder, loaded.model_id, layer, loaded.hidden_size, tokens)
    pad = loaded.tokenizer.pad_token_id if loaded.tokenizer.pad_token_id is not None else 0
    todo = range(meta["rows_done"], len(items), batch_size)
    with tqdm(total=meta["capacity"], initial=meta["tokens"], desc=f"harvest layer {layer}", unit="tok") as bar:
        for start in todo:
            if meta["tokens"] >= meta["capacity"]:
                break
            batch = items[start:start + batch_size]
            ids, mask = left_pad(to_sequences(batch) if to_sequences else batch, pad)
            states = layer_states(loaded.model, layer, ids, mask)
            real = (mask.long().cumsum(1) - 1) * mask  # position within each left-padded sequence
            keep = mask.bool() & (real >= max(1, skip))
            rows = states[keep].half().numpy()[:meta["capacity"] - meta["tokens"]]
            acts[meta["tokens"]:meta["tokens"] + len(rows)] = rows
            acts.flush()
            meta["tokens"] += len(rows)
            meta["rows_done"] = min(start + batch_size, len(items))
            (folder / HARVEST).write_text(json.dumps(meta, indent=1))
            bar.update(len(rows))
    return meta


def load_harvest(folder) -> tuple[np.ndarray, dict]:
    folder = Path(folder)
    if not (folder / HARVEST).exists():
        raise InputError(f"{folder} is not a harvest (no {HARVEST}); run `lec-onnx sae harvest` first")
    meta = json.loads((folder / HARVEST).read_text())
    acts = np.memmap(folder / ACTIVATIONS, np.float16, "r", shape=(meta["capacity"], meta["d_model"]))
    return acts[:meta["tokens"]], meta


def train_sae(acts: np.ndarray, cfg: SAEConfig, batch_size: int = 1024, lr: float = 2e-4, epochs: float = 1.0,
              max_minutes: float | None = None, holdout: float = 0.05, seed: int = 0, log=print) -> TopKSAE:
    """Adam on shuffled batches; the last `holdout` share of tokens (in harvest order, so whole prompts) is kept
    for FVU. cfg.metrics gets FVU (held out), L0, dead fraction, tokens seen and whether the time limit hit."""
    n = len(acts)
    n_train = int(n * (1 - holdout))
    if n_train < batch_size or n - n_train < 1:
        raise InputError(f"{n} harvested tokens are too few for batches of {batch_size} and a held-out share")
    rng = np.random.default_rng(seed)
    sae = TopKSAE(cfg, seed)
    sample = torch.from_numpy(np.asarray(acts[rng.choice(n_train, min(n_train, 20_000), replace=False)],
                                         np.float32))
    sae.init_pre_bias(sample)
    opt = torch.optim.Adam(sae.parameters(), lr=lr, betas=(0.9, 0.999), eps=6.25e-10)
    steps = max(1, math.ceil(epochs * n_train / batch_size))
    start, stopped_early = time.perf_counter(), False
    order = np.concatenate([rng.permutation(n_train) for _ in range(math.ceil(epochs) + 1)])
    for step in tqdm(range(steps), desc="sae train", unit="batch"):
        index = np.sort(order[step * batch_size:(step + 1) * batch_size])
        x = torch.from_numpy(np.asarray(acts[index], np.float32))
        loss, parts = sae.loss(x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        sae.remove_parallel_gradient()
        opt.step()
        sae.normalise_decoder()
        if step % 100 == 0:
            parts = {k: round(v, 4) for k, v in parts.items()}
            log(json.dumps({"step": step, "tokens": int(sae.tokens_seen), **parts}))
        if max_minutes and time.perf_counter() - start > 60 * max_minutes:
            stopped_early = True
            break
    held = torch.from_numpy(np.asarray(acts[n_train:], np.float32))
    cfg.metrics = evaluate_sae(sae, held) | {"tokens_seen": int(sae.tokens_seen), "train_tokens": n_train,
                                            "stopped_by_time_limit": stopped_early,
                                            "minutes": round((time.perf_counter() - start) / 60, 1)}
    return sae.eval()


def evaluate_sae(sae: TopKSAE, held: torch.Tensor) -> dict:
    with torch.no_grad():
        f = torch.cat([sae.encode(held[i:i + 4096]) for i in range(0, len(held), 4096)])
    return {"fvu_heldout": round(fvu(sae, held), 4), "l0": round(float((f > 0).sum(1).float().mean()), 2),
            "dead_fraction": round(float(sae.dead.float().mean()), 4),
            "never_fired_heldout": round(float(((f > 0).sum(0) == 0).float().mean()), 4),
            "heldout_tokens": len(held)}


def train_from_harvest(folder, out, expansion: int = 8, k: int = 32, aux_k: int = 256, **kwargs) -> TopKSAE:
    acts, meta = load_harvest(folder)
    budget = int(len(acts) * kwargs.get("epochs", 1.0))
    cfg = SAEConfig(d_model=meta["d_model"], n_latents=expansion * meta["d_model"], k=k, aux_k=aux_k,
                    dead_tokens=max(10_000, budget // 20),  # the paper's 10M of ~billions, scaled to our budget
                    layer=meta["layer"], model={"id": meta["model"]})
    sae = train_sae(acts, cfg, **kwargs)
    save_sae(sae, out)
    return sae
