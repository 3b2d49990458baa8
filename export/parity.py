"""The parity rows: test rows per task with the torch probe's scores, shipped in the artifact.

Export gates the graphs on them (lec_onnx.check, with a margin) and `lec-onnx check` re-scores them on a user's
machine. Only texts that fit one window are taken: windows are tested apart.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lec_onnx.inputs import encode_fitted, fits_one_window
from lec_onnx.manifest import InputFormat

from .features import extract
from .models import LoadedModel, runtime_tokenizer
from .pooling import pooling_name
from .probe import LECProbe
from .sweep import prepare_data, split_indices


def reference_rows(loaded: LoadedModel, probes: list[tuple[LECProbe, dict]], fmt: InputFormat, max_length: int,
                   parity_data: list[str] | None, rows_per_task: int, cache: str | None) -> list[dict]:
    """[{task, text, system, label, scores}]: test rows of each probe's data and the torch probe's scores."""
    out = []
    for n, (probe, meta) in enumerate(probes):
        files = [parity_data[n]] if parity_data else meta.get("data")
        if not files:
            continue
        data = _one_window_test_rows(prepare_data(files), loaded, fmt, max_length, rows_per_task)
        pooling = pooling_name(meta["pooling"], fmt.generation_prompt)
        X = extract(loaded, data.text, data.system, max_length, cache=cache, poolings=(pooling,),
                    desc=f"torch reference {meta['task']}")[pooling][:, meta["layer"]]
        out += [{"task": meta["task"], "text": t, "system": s, "label": y, "scores": p.tolist()}
                for t, s, y, p in zip(data.text, data.system, data.label, probe.predict_proba(X))]
    return out


def _one_window_test_rows(data, loaded: LoadedModel, fmt: InputFormat, max_length: int, n: int):
    tok = runtime_tokenizer(loaded.tokenizer)
    _, test = split_indices(data)
    rows = []
    for i in np.random.default_rng(0).permutation(test):
        if fits_one_window(encode_fitted(tok, fmt, data.text[i], data.system[i], max_length), max_length):
            rows.append(int(i))
        if len(rows) >= n:
            break
    return data.subset(sorted(rows))


def write_rows(path: Path, rows: list[dict]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
