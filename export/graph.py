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
    model = onnx.load(str(path))
    residual_sums_unfused(model.graph)
    gelu_in_fusable_order(model.graph)
    onnx.save(model, str(path))


def residual_sums_unfused(graph: onnx.GraphProto) -> int:
    """Write each residual sum that feeds a LayerNormalization, Add(branch, residual), as Sub(residual, -branch),
    with the minus folded into the branch's last MatMul weight and bias (exact: negation only flips signs; else
    an explicit Neg). Why: onnxruntime fuses Add -> LayerNormalization into SkipLayerNormalization, whose CPU
    kernel took 0.55 ms at 128 x 768 where Add + LayerNormalization took ~0.1 (onnxruntime 1.32, one thread):
    on all-mpnet-base-v2 cut at 9 that was a fifth of the int8 graph's time. A Sub is not fused. Returns the
    number of sums rewritten."""
    producer = {o: n for n in graph.node for o in n.output}
    readers = readers_of(graph)
    stored = {i.name: i for i in graph.initializer}
    nodes, rewritten = [], 0
    for node in graph.node:
        if node.op_type == "Add" and [r.op_type for r in readers.get(node.output[0], [])] == ["LayerNormalization"]:
            branch, residual = node.input
            negated = _negate_branch(graph, producer.get(branch), producer, stored, readers)
            if negated is None:
                negated = f"{branch}.negated"
                nodes.append(onnx.helper.make_node("Neg", [branch], [negated], name=f"{node.name}.negate"))
            node.op_type = "Sub"
            node.input[:] = [residual, negated]
            rewritten += 1
        nodes.append(node)
    del graph.node[:]
    graph.node.extend(nodes)
    return rewritten


def gelu_in_fusable_order(graph: onnx.GraphProto) -> int:
    """torch's exporter writes erf GELU as x * (0.5 * (erf(x / sqrt 2) + 1)); onnxruntime fuses it into one Gelu
    kernel only in the order (x * (erf(x / sqrt 2) + 1)) * 0.5. Reorder: the same value (a product by 0.5 is exact),
    one kernel instead of five (on all-mpnet-base-v2 cut at 9, ~5% of the int8 graph's time). Returns the count."""
    from onnx import numpy_helper
    producer = {o: n for n in graph.node for o in n.output}
    stored = {i.name: numpy_helper.to_array(i) for i in graph.initializer if not i.dims}
    reordered = 0
    for outer in graph.node:  # outer = Mul(x, half), half = Mul(0.5, erf + 1), erf + 1 = Add(Erf(Div(x, c)), 1)
        half = next((producer.get(i) for i in outer.input if producer.get(i) is not None
                     and producer[i].op_type == "Mul"), None) if outer.op_type == "Mul" else None
        if half is None or not any(stored.get(i) == 0.5 for i in half.input):
            continue
        plus_one = next((producer.get(i) for i in half.input if i not in stored), None)
        x = next((i for i in outer.input if i != half.output[0]), None)
        erf = producer.get(plus_one.input[0]) if plus_one is not None and plus_one.op_type == "Add" else None
        if erf is None or erf.op_type != "Erf" or x not in producer[erf.input[0]].input:
            continue
        point_five = next(i for i in half.input if i in stored)
        half.input[:] = [x, plus_one.output[0]]
        outer.input[:] = [half.output[0], point_five]
        reordered += 1
    return reordered


def _negate_branch(graph: onnx.GraphProto, add, producer: dict, stored: dict, readers: dict) -> str | None:
    """If `add` is Add(MatMul(x, W), b) with W stored and read by that MatMul only, and b stored, negate W and b in
    place (b copied first when other nodes read it: the exporter shares equal constants) and return add's output
    (now the negated branch); else None."""
    from onnx import numpy_helper
    if add is None or add.op_type != "Add" or len(readers[add.output[0]]) != 1:
        return None
    matmul = next((producer.get(i) for i in add.input if producer.get(i) is not None), None)
    bias = next((i for i in add.input if i in stored), None)
    if matmul is None or matmul.op_type != "MatMul" or bias is None or matmul.input[1] not in stored:
        return None
    if len(readers[matmul.input[1]]) != 1 or len(readers[matmul.output[0]]) != 1:
        return None
    for name in (matmul.input[1], own_initializer(graph, add, bias, stored, readers)):
        stored[name].CopyFrom(numpy_helper.from_array(-numpy_helper.to_array(stored[name]), name))
    return add.output[0]


def readers_of(graph: onnx.GraphProto) -> dict[str, list]:
    """{tensor name: the nodes that read it}."""
    readers: dict[str, list] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node)
    return readers


def weight_matmul_nodes(graph: onnx.GraphProto) -> list:
    """The MatMul nodes that multiply by a stored weight: the ones int8 quantisation and smoothing touch."""
    stored = {i.name for i in graph.initializer}
    return [n for n in graph.node if n.op_type == "MatMul" and n.input[1] in stored]


def own_initializer(graph: onnx.GraphProto, node, name: str, stored: dict, readers: dict) -> str:
    """The name of a stored tensor that only `node` reads, holding what `name` holds: `name` itself when no other
    node reads it, else a copy (added to the graph's initializers, `node` rewired to it), so that changing it in
    place changes `node` alone. stored: {name: TensorProto} of the graph's initializers, readers: {name: nodes}."""
    if len(readers.get(name, [])) <= 1:
        return name
    own = f"{name}.{node.name or node.output[0]}"
    copy = graph.initializer.add()
    copy.CopyFrom(stored[name])
    copy.name = own
    stored[own] = copy
    node.input[:] = [own if i == name else i for i in node.input]
    readers[name].remove(node)
    readers[own] = [node]
    return own


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
