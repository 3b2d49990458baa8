"""ONNX edits of an artifact's graph: the heads (Gemm -> Sigmoid/Softmax) and the feature outputs they read.

The one definition of a head's nodes, used by export (`lec_onnx.export.graph`) and by `lec-onnx fit`: a `Gemm`
named `head_<task>` on a pooled state, then a Sigmoid (binary: output `[1-p, p]`) or a Softmax, output named after
the task. The pooled states are graph outputs too (`features.layer<k>.<pooling>`, through Identity nodes), so a
new head can be fitted on what the graph itself computes. Needs the `onnx` package (extras export and fit).
"""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from lec_onnx.errors import ArtifactError


def head_nodes(graph: onnx.GraphProto, task: str, source: str, coef: np.ndarray, intercept: np.ndarray) -> None:
    """Append task's head on the tensor `source`: coef [labels or 1, width], intercept [labels or 1]."""
    w = numpy_helper.from_array(np.asarray(coef, np.float32), f"head_{task}.weight")
    b = numpy_helper.from_array(np.asarray(intercept, np.float32), f"head_{task}.bias")
    graph.initializer.extend([w, b])
    logits = f"head_{task}.logits"
    graph.node.append(helper.make_node("Gemm", [source, w.name, b.name], [logits], name=f"head_{task}", transB=1))
    if w.dims[0] == 1:
        p = f"head_{task}.p"
        one = numpy_helper.from_array(np.ones((1, 1), np.float32), f"head_{task}.one")
        graph.initializer.append(one)
        graph.node.extend([
            helper.make_node("Sigmoid", [logits], [p], name=f"head_{task}_sigmoid"),
            helper.make_node("Sub", [one.name, p], [f"head_{task}.q"], name=f"head_{task}_complement"),
            helper.make_node("Concat", [f"head_{task}.q", p], [task], name=f"head_{task}_scores", axis=1)])
    else:
        graph.node.append(helper.make_node("Softmax", [logits], [task], name=f"head_{task}_softmax", axis=1))
    labels = max(2, int(w.dims[0]))
    graph.output.append(helper.make_tensor_value_info(task, TensorProto.FLOAT, ["batch", labels]))


def head_sources(model: onnx.ModelProto) -> dict[str, str]:
    """{task: the tensor its Gemm reads} for every `head_<task>` Gemm of the graph."""
    return {n.name[len("head_"):]: n.input[0] for n in model.graph.node
            if n.op_type == "Gemm" and n.name.startswith("head_")}


def expose_features(model: onnx.ModelProto, sources: dict[str, str], width: int | None = None) -> None:
    """Add each pooled state as a graph output named after the feature ({feature name: tensor}; width: the state's,
    declared in the output's shape when given). Identity nodes: the computation is unchanged, onnxruntime removes
    them, and no weight is copied."""
    graph = model.graph
    present = {o.name for o in graph.output}
    for name, tensor in sources.items():
        if name in present:
            continue
        graph.node.append(helper.make_node("Identity", [tensor], [name], name=f"expose_{name}"))
        graph.output.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, ["batch", width] if width else None))


def remove_head(model: onnx.ModelProto, task: str) -> None:
    """Drop task's head: its nodes, weights and output (`fit --replace`)."""
    graph = model.graph
    nodes = {f"head_{task}{suffix}" for suffix in ("", "_sigmoid", "_complement", "_scores", "_softmax", "_concat")}
    weights = {f"head_{task}.{suffix}" for suffix in ("weight", "bias", "one")}
    keep_nodes = [n for n in graph.node if n.name not in nodes]
    keep_init = [t for t in graph.initializer if t.name not in weights]
    keep_out = [o for o in graph.output if o.name != task]
    for field_, kept in ((graph.node, keep_nodes), (graph.initializer, keep_init), (graph.output, keep_out)):
        del field_[:]
        field_.extend(kept)


def add_fitted_head(model: onnx.ModelProto, task: str, features: tuple[str, ...], coef: np.ndarray,
                    intercept: np.ndarray) -> None:
    """A head on one feature output, or on several concatenated (in the order given)."""
    outputs = {o.name for o in model.graph.output}
    missing = [f for f in features if f not in outputs]
    if missing:
        raise ArtifactError(f"the graph has no feature output {missing[0]!r}")
    source = features[0]
    if len(features) > 1:
        source = f"head_{task}.input"
        model.graph.node.append(helper.make_node("Concat", list(features), [source], name=f"head_{task}_concat",
                                                 axis=1))
    head_nodes(model.graph, task, source, coef, intercept)


def load_graph(path) -> onnx.ModelProto:
    try:
        return onnx.load(str(path))
    except Exception as e:  # onnx raises DecodeError and others for a damaged file
        raise ArtifactError(f"cannot read the graph {path}: {e}") from None


def graph_bytes(model: onnx.ModelProto) -> bytes:
    """The serialised graph, checked (a malformed edit fails here, not in a user's session)."""
    onnx.checker.check_model(model)
    return model.SerializeToString()



def expose_artifact_features(folder) -> dict[str, str]:
    """Edit an artifact in place so its graphs output the pooled states its heads read (for artifacts exported
    before graphs did); the manifest names them and its checksums are rewritten. {feature name: tensor}."""
    import dataclasses
    from pathlib import Path

    from .manifest import Feature, feature_name, read_manifest, write_manifest
    folder, manifest = read_manifest(folder)
    features, sources = {}, {}
    for graph_file in filter(None, (manifest.graph.int8, manifest.graph.fp32)):
        model = load_graph(Path(folder) / graph_file)
        heads = head_sources(model)
        for task, spec in manifest.tasks.items():
            if task in heads:
                name = feature_name(spec.layer, spec.pooling)
                features.setdefault(name, Feature(spec.layer, spec.pooling, manifest.model.hidden_size))
                sources.setdefault(name, heads[task])
        expose_features(model, sources, manifest.model.hidden_size)
        (Path(folder) / graph_file).write_bytes(graph_bytes(model))
    manifest.features = features
    manifest.tasks = {t: dataclasses.replace(spec, inputs=spec.inputs or (feature_name(spec.layer, spec.pooling),))
                      for t, spec in manifest.tasks.items()}
    write_manifest(folder, manifest)
    return sources
