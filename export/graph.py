"""The graph: the model cut at the deepest probe's layer, each head's pooling, and a Gemm per task.

The trunk (embeddings -> layers 1..k, no final norm, no LM head) is exported with torch.onnx's dynamo exporter;
the heads are appended as named ONNX nodes (`head_<task>`: Gemm -> Sigmoid/Softmax) so they are exactly the
saved probes, and stay fp32 when the trunk is quantised.
"""
from __future__ import annotations

from pathlib import Path

import onnx
import torch

from .heads import expose_features, head_nodes

from .models import FINAL_NORMS, LoadedModel, decoder_layers, hidden_states
from .pooling import pool
from .probe import LECProbe

OPSET = 18


class Trunk(torch.nn.Module):
    """input ids/mask (+ token types, + the text's token mask for text-mean) -> one pooled state per head."""

    def __init__(self, loaded: LoadedModel, heads: list[tuple[int, str]]):
        super().__init__()
        self.loaded, self.heads = loaded, heads
        self.base = loaded.base  # registered, so the exporter sees the weights
        with_types = loaded.kind == "encoder" and getattr(loaded.model.config, "type_vocab_size", 0) > 0
        self.inputs = (["input_ids", "attention_mask"] + (["token_type_ids"] if with_types else [])
                       + (["text_mask"] if any(p == "text-mean" for _, p in heads) else []))

    def forward(self, *args):
        given = dict(zip(self.inputs, args))
        states = hidden_states(self.loaded, given["input_ids"], given["attention_mask"], given.get("token_type_ids"))
        return tuple(pool(states[layer], given["attention_mask"], given.get("text_mask"), pooling)
                     for layer, pooling in self.heads)


def truncate(loaded: LoadedModel, keep: int) -> None:
    """Drop every layer above `keep`, the final norm, the pooler and (by using the base model) the LM head."""
    layers = decoder_layers(loaded.base)
    del layers[keep:]
    loaded.base.config.num_hidden_layers = keep
    for name in FINAL_NORMS:
        if isinstance(getattr(loaded.base, name, None), torch.nn.Module):
            setattr(loaded.base, name, torch.nn.Identity())
    if getattr(loaded.base, "pooler", None) is not None:
        loaded.base.pooler = None


def export_trunk(trunk: Trunk, path: Path) -> None:
    example = {"input_ids": torch.tensor([[5, 6, 7, 8, 9, 10], [5, 6, 7, 0, 0, 0]]),
               "attention_mask": torch.tensor([[1, 1, 1, 1, 1, 1], [1, 1, 1, 0, 0, 0]]),
               "token_type_ids": torch.tensor([[0, 0, 0, 1, 1, 1], [0, 0, 0, 0, 0, 0]]),
               "text_mask": torch.tensor([[0, 1, 1, 1, 1, 0], [0, 1, 0, 0, 0, 0]])}
    names = trunk.inputs
    batch, seq = torch.export.Dim("batch"), torch.export.Dim("sequence")
    torch.onnx.export(trunk, tuple(example[n] for n in names), str(path), dynamo=True, opset_version=OPSET,
                      input_names=names, output_names=[f"pooled_{i}" for i in range(len(trunk.heads))],
                      dynamic_shapes={"args": tuple({0: batch, 1: seq} for _ in names)}, external_data=False,
                      verbose=False)


def append_heads(model: onnx.ModelProto, tasks: list[str], probes: list[LECProbe]) -> onnx.ModelProto:
    """Gemm -> Sigmoid (binary, output [1-p, p]) or Softmax per task (heads.py); outputs named after the
    tasks."""
    graph = model.graph
    pooled = [o.name for o in graph.output]
    del graph.output[:]
    for task, probe, src in zip(tasks, probes, pooled):
        head_nodes(graph, task, src, probe.coef_, probe.intercept_)
    return model


def save_with_heads(trunk: Path, out: Path, tasks: list[str], probes: list[LECProbe],
                    features: dict[str, str] | None = None, width: int = 0) -> None:
    """The trunk plus heads, saved; features: {feature output name: pooled output of the trunk} to expose as graph
    outputs (what the heads read, for `lec-onnx fit`)."""
    graph = append_heads(onnx.load(str(trunk)), tasks, probes)
    expose_features(graph, features or {}, width)
    graph.producer_name = "lec-onnx"
    onnx.checker.check_model(graph)
    onnx.save(graph, str(out))
