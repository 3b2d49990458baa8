"""The response-side probe of the answer guard: trained on the running pooled states of answer tokens.

A training example is (prompt, answer token ids, label). Its answer states are teacher-forced (`answer_states`:
exactly what the guard reads while generating), pooled as the guard pools them (`running_pool`), and taken at
several prefix lengths, so that the probe learns to judge an answer from its first tokens on. The probe is an
LECProbe saved with save_probe; its meta carries role "response", the layer, the pooling and the decision rule.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from lec_onnx.errors import InputError

from lec_onnx.export.models import decoder_layers
from lec_onnx.export.probe import LECProbe, load_probe, probe_from_dict, probe_to_dict, save_probe

from .guard import GUARD_POOLINGS, GuardRule, ResponseGuard, StopForward, chat_ids, running_pool

PREFIXES = (1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64)  # answer lengths a training example is read at


def multi_layer_answer_states(model, layers: list[int], prompt_ids: list[int], answer_ids: list[int]) -> dict:
    """{layer: states that produced each answer token [len(answer), hidden]} from one teacher-forced pass that stops
    after the highest layer."""
    ids = torch.tensor([prompt_ids + answer_ids[:-1]])
    blocks = decoder_layers(model.base_model)
    got, handles = {}, []
    for layer in layers:
        def keep(module, args, output, layer=layer):
            got[layer] = (output[0] if isinstance(output, tuple) else output)[0, len(prompt_ids) - 1:].clone()
            if len(got) == len(layers):
                raise StopForward
        handles.append(blocks[layer - 1].register_forward_hook(keep))
    try:
        with torch.inference_mode():
            model(input_ids=ids, use_cache=False)
    except StopForward:
        pass
    finally:
        for h in handles:
            h.remove()
    return got


def collect_states(loaded, examples: list[dict], layers: list[int], max_answer: int = 64,
                   cache: Path | None = None) -> list[dict]:
    """Answer states (float16) per example and layer. examples: prompt, label and answer_ids or answer (text).
    With `cache`, each example's states per layer are kept as .npy files keyed by model, prompt and answer, so
    fitting many probes and rules teacher-forces each answer once."""
    tok = loaded.tokenizer
    out = []
    for ex in tqdm(examples, desc="answer states", unit="answer"):
        answer = ex.get("answer_ids") or tok(ex["answer"], add_special_tokens=False)["input_ids"]
        answer = list(answer)[:max_answer]
        if not answer:
            continue
        files = _state_files(loaded, ex["prompt"], answer, layers, cache) if cache else {}
        states = {k: torch.from_numpy(np.load(f)) for k, f in files.items() if f.exists()}
        missing = [k for k in layers if k not in states]
        if missing:
            fresh = multi_layer_answer_states(loaded.model, missing, chat_ids(tok, ex["prompt"]), answer)
            for k, v in fresh.items():
                states[k] = v.half()
                if cache:
                    _save_atomic(files[k], states[k].numpy())
        out.append({**ex, "states": states})
    return out


def _state_files(loaded, prompt: str, answer: list[int], layers: list[int], cache: Path) -> dict:
    key = hashlib.sha256(json.dumps([loaded.model_id, loaded.revision, prompt, answer]).encode()).hexdigest()[:24]
    return {k: Path(cache) / f"{key}-L{k}.npy" for k in layers}


def _save_atomic(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.stem}.partial-{os.getpid()}.npy")
    np.save(partial, array)
    partial.replace(path)


def running_features(states: torch.Tensor, pooling: str, alpha: float) -> torch.Tensor:
    """[steps, hidden] answer states -> [steps, hidden] pooled state after each step."""
    return running_pool(states.float()[None], pooling, alpha)[0]


def training_matrix(collected: list[dict], layer: int, pooling: str, alpha: float, prefixes=PREFIXES):
    """X, y over every example read at each prefix length it reaches (and at its full length)."""
    X, y = [], []
    for ex in collected:
        pooled = running_features(ex["states"][layer], pooling, alpha)
        n = pooled.shape[0]
        for t in sorted({p for p in prefixes if p <= n} | {n}):
            X.append(pooled[t - 1].numpy())
            y.append(ex["label"])
    return np.asarray(X, np.float64), np.asarray(y)


def fit_response_probe(collected: list[dict], layer: int, pooling: str, alpha: float = 0.1,
                       C: float = 0.05) -> LECProbe:
    if pooling not in GUARD_POOLINGS:
        raise InputError(f"response pooling must be one of {', '.join(GUARD_POOLINGS)}")
    X, y = training_matrix(collected, layer, pooling, alpha)
    return LECProbe(C=C).fit(X, y)


def prompt_states(collected: list[dict], layer: int) -> np.ndarray:
    """The first state the guard reads per example (the last prompt position: the prompt's `gen-last` state), the
    input of the guard's prompt probe."""
    return np.asarray([ex["states"][layer][0].float().numpy() for ex in collected], np.float64)


def fit_prompt_probe(collected: list[dict], kinds: list[str], layer: int, C: float = 0.05) -> LECProbe:
    """The guard's prompt probe: the prompts' kinds (harmful / benign) from their gen-last states."""
    return LECProbe(C=C).fit(prompt_states(collected, layer), kinds)


def save_response_probe(probe: LECProbe, path, loaded, rule: GuardRule, layer: int,
                        prompt_probe: LECProbe | None = None, **meta) -> Path:
    if prompt_probe is not None:
        meta["prompt_probe"] = probe_to_dict(prompt_probe)
    path = save_probe(probe, path, task=meta.pop("task", "harmful_response"), role="response", layer=layer,
                      pooling=rule.pooling, rule=asdict(rule),
                      model={"id": loaded.model_id, "revision": loaded.revision, "kind": loaded.kind}, **meta)
    return path


def load_guard(path, threshold: float | None = None, **rule_overrides) -> ResponseGuard:
    """A ResponseGuard from a response probe file; threshold and rule fields may be overridden."""
    probe, meta = load_probe(path)
    if meta.get("role") != "response" or meta.get("pooling") not in GUARD_POOLINGS:
        raise InputError(f"{path} is not a response probe (role 'response', pooling answer-mean or answer-ema); "
                         "train one with experiments/guarded_generation.py train-probe")
    rule = dict(meta.get("rule") or {}, pooling=meta["pooling"])
    rule.update({k: v for k, v in rule_overrides.items() if v is not None})
    if threshold is not None:
        rule["threshold"] = threshold
    prompt_probe = probe_from_dict(meta["prompt_probe"]) if meta.get("prompt_probe") else None
    return ResponseGuard(probe, int(meta["layer"]), GuardRule(**rule), prompt_probe)
