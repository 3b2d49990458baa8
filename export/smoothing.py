"""SmoothQuant-style migration of activation outliers into the weights, on the torch model, before export.

Dynamic int8 gives each MatMul input one scale per tensor. In a decoder a few input channels carry values 10-100x
the rest (the "massive activations" of the attention-sink token and the outlier channels before the
down-projections), so one scale leaves the other channels a handful of levels. SmoothQuant (Xiao et al., 2023)
divides input channel j by s_j = max|X_j|^alpha / max|W_j|^(1-alpha) and multiplies the weights' column j by the
same s_j: X W^T is unchanged, the activation becomes flat and the weights absorb the range (they are quantised per
output channel, so a larger column costs them little).

The division is folded into an operation that already exists, so the exported graph gains no op:
  - q/k/v: into the preceding RMSNorm's weight (input_layernorm);
  - gate/up: into post_attention_layernorm's weight;
  - down: into the rows of up_proj (the MLP computes act(gate(x)) * up(x), linear in up's output).
In exact arithmetic the model computes the same function; in fp32 the outputs move by rounding only (tested).

`smooth_graph` does the same on the exported ONNX graph for any architecture (encoders included), with an explicit
per-channel Mul before each group of weight MatMuls instead of a fold (see its docstring).
"""
from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch

from .graph import weight_matmul_nodes
from .models import decoder_layers

GRAPH_OUTLIER_CHANNELS = 16  # smooth_graph: channels per tensor kept out of int8 (fp32); on all-mpnet-base-v2 cut at
#                               9 the p99 score error went from 0.036/0.044/0.059 (none) to 0.024/0.029/0.039 (16)
GRAPH_SMOOTH_ALPHA = 0.5  # smooth_graph: on all-mpnet-base-v2 layers 1-9, per-token int8, alpha 0.3/0.4/0.5/0.8 gave
#                           p99 score errors of 0.074/0.070/0.065/0.103 (the worst head): 0.5 (docs/benchmarks.md)

# The smoothing groups of a Llama-style layer: (module whose output feeds the linears, attribute path, linears).
NORM_GROUPS = (("input_layernorm", ("self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj")),
               ("post_attention_layernorm", ("mlp.gate_proj", "mlp.up_proj")))


# Llama-style layers whose RMSNorm multiplies by its weight (Gemma's multiplies by 1 + weight: not foldable as is).
SMOOTHABLE_TYPES = {"llama", "qwen2", "qwen3", "mistral", "smollm3"}


def smoothable(base: torch.nn.Module) -> bool:
    """True for Llama-style decoder layers (RMSNorm -> q/k/v, RMSNorm -> gate/up, up * act(gate) -> down)."""
    if getattr(base.config, "model_type", None) not in SMOOTHABLE_TYPES:
        return False
    try:
        layer = decoder_layers(base)[0]
    except (AttributeError, IndexError, TypeError):
        return False
    names = {"input_layernorm", "post_attention_layernorm", "self_attn", "mlp"}
    return names <= set(dict(layer.named_children())) and all(
        hasattr(layer.mlp, p) for p in ("gate_proj", "up_proj", "down_proj"))


@contextmanager
def _input_maxima(linears: dict[str, torch.nn.Linear], skip_first: bool):
    """Record, per named linear, the max |input| of every input channel over the real tokens of the batches run
    inside the block. `skip_first` leaves position 0 out (the attention-sink token, whose few huge channels would
    otherwise set the scale of everything)."""
    maxima: dict[str, torch.Tensor] = {}
    state = {"mask": None}

    def hook(name):
        def record(module, args):
            x = args[0].detach()
            mask = state["mask"]
            if mask is not None:
                keep = mask.bool().clone()
                if skip_first:  # the first real token of each row, whichever side is padded
                    keep[torch.arange(keep.shape[0]), keep.int().argmax(1)] = False
                x = x[keep]
            m = x.abs().reshape(-1, x.shape[-1]).amax(0).float()
            maxima[name] = torch.maximum(maxima[name], m) if name in maxima else m
        return record

    handles = [lin.register_forward_pre_hook(hook(n)) for n, lin in linears.items()]
    try:
        yield maxima, state
    finally:
        for h in handles:
            h.remove()


def _linears(layer: torch.nn.Module) -> dict[str, torch.nn.Linear]:
    return {"q": layer.self_attn.q_proj, "gate": layer.mlp.gate_proj, "down": layer.mlp.down_proj}


def calibrate(base: torch.nn.Module, batches, skip_first: bool = True) -> list[dict[str, torch.Tensor]]:
    """Per layer, {"q" | "gate" | "down": max |input| per channel} over calibration batches, each a dict of model
    inputs with an attention_mask (padding is left out)."""
    layers = decoder_layers(base)
    named = {f"{i}.{k}": lin for i, layer in enumerate(layers) for k, lin in _linears(layer).items()}
    with torch.inference_mode(), _input_maxima(named, skip_first) as (maxima, state):
        for batch in batches:
            state["mask"] = batch["attention_mask"]
            mask = batch["attention_mask"]
            base(input_ids=batch["input_ids"], attention_mask=mask, use_cache=False,
                 position_ids=(mask.cumsum(-1) - 1).clamp(min=0))
    return [{k: maxima[f"{i}.{k}"] for k in ("q", "gate", "down")} for i in range(len(layers))]


def _scales(act_max: torch.Tensor, weights: list[torch.Tensor], alpha: float) -> torch.Tensor:
    """s_j = max|X_j|^alpha / max|W_j|^(1-alpha), over the columns j of every weight fed by X."""
    w_max = torch.stack([w.abs().amax(0) for w in weights]).amax(0).float()
    s = act_max.clamp(min=1e-5).pow(alpha) / w_max.clamp(min=1e-5).pow(1 - alpha)
    return s.clamp(min=1e-5)


@torch.no_grad()
def smooth(base: torch.nn.Module, stats: list[dict[str, torch.Tensor]], alpha: float = 0.5) -> None:
    """Fold the migration scales into the model in place (see the module docstring); `stats` from calibrate()."""
    for layer, maxima in zip(decoder_layers(base), stats):
        for (norm_name, paths), key in zip(NORM_GROUPS, ("q", "gate")):
            norm = getattr(layer, norm_name)
            linears = [layer.get_submodule(p) for p in paths]
            s = _scales(maxima[key], [lin.weight for lin in linears], alpha)
            norm.weight.div_(s.to(norm.weight.dtype))
            for lin in linears:
                lin.weight.mul_(s.to(lin.weight.dtype)[None, :])
        mlp = layer.mlp
        s = _scales(maxima["down"], [mlp.down_proj.weight], alpha)
        mlp.up_proj.weight.div_(s.to(mlp.up_proj.weight.dtype)[:, None])
        if mlp.up_proj.bias is not None:
            mlp.up_proj.bias.div_(s.to(mlp.up_proj.bias.dtype))
        mlp.down_proj.weight.mul_(s.to(mlp.down_proj.weight.dtype)[None, :])


def smooth_for_int8(base: torch.nn.Module, feeds: list[dict], alpha: float = 0.5) -> dict:
    """Calibrate on the feeds (numpy model inputs, as the graph takes them) and smooth the model in place; returns
    what was done, for the manifest."""
    batches = [{k: torch.from_numpy(v) for k, v in f.items() if k in ("input_ids", "attention_mask")} for f in feeds]
    smooth(base, calibrate(base, batches, skip_first=True), alpha)
    return {"alpha": alpha, "calibration_rows": len(feeds), "first_token_in_ranges": False,
            "folded_into": ["input_layernorm", "post_attention_layernorm", "mlp.up_proj"]}


# ---------------------------------------------------------------- any architecture, on the exported graph
def real_token_values(graph_path, feeds: list[dict], names: list[str], skip_first: bool = False):
    """Per feed, {name: the tensor's rows at the real (unpadded) tokens, [tokens, channels]}: the graph run with
    the named intermediate tensors as outputs. skip_first leaves each row's first real token out (a decoder's
    attention sink, whose huge values would set every range)."""
    import onnx
    import onnxruntime as ort
    model = onnx.load(str(graph_path))
    known = {o.name for o in model.graph.output}
    model.graph.output.extend(onnx.helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None)
                              for n in names if n not in known)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    outputs, inputs = [o.name for o in session.get_outputs()], {i.name for i in session.get_inputs()}
    for feed in feeds:
        values = dict(zip(outputs, session.run(None, {k: v for k, v in feed.items() if k in inputs})))
        keep = feed["attention_mask"].astype(bool).copy()
        if skip_first:
            keep[np.arange(len(keep)), keep.argmax(1)] = False
        yield {n: values[n][keep] if values[n].shape[:2] == keep.shape else values[n].reshape(-1, values[n].shape[-1])
               for n in names}


def input_channel_maxima(graph_path, feeds: list[dict], names: list[str]) -> dict[str, np.ndarray]:
    """Per named tensor, max |x| of every channel (last axis) over the real (unpadded) tokens of the feeds."""
    maxima = {n: np.zeros(0, np.float32) for n in names}
    for values in real_token_values(graph_path, feeds, names):
        for n in names:
            m = np.abs(values[n]).max(0)
            maxima[n] = m if not maxima[n].size else np.maximum(maxima[n], m)
    return maxima


def smooth_graph(src, dst, feeds: list[dict], alpha: float = GRAPH_SMOOTH_ALPHA,
                 outliers: int = GRAPH_OUTLIER_CHANNELS) -> dict:
    """SmoothQuant on the exported fp32 graph, for any architecture: each tensor that feeds weight MatMuls is
    multiplied per channel by 1/s (one explicit Mul, shared by the MatMuls it feeds: q, k and v read one) and those
    weights' rows j by s_j, so x W is unchanged. The Mul is explicit, not folded into a norm: in a post-LayerNorm
    encoder (BERT, MPNet) the norm's output also feeds the residual stream, which must stay unscaled.

    The `outliers` channels (at most an eighth) of each tensor with the largest values are taken out of the int8
    path altogether (LLM.int8()'s decomposition): the Mul zeroes them, a Gather takes them aside and a small fp32
    MatMul with their unscaled weight rows adds their part back after each MatMul; the remaining channels are
    smoothed. Returns what was done, for the manifest, with the names of the fp32 MatMuls (the quantiser leaves
    them alone)."""
    import onnx
    model = onnx.load(str(src))
    graph = model.graph
    weights = {i.name: i for i in graph.initializer}
    readers: dict[str, list] = {}  # input -> the weight MatMuls reading it: one smoothing group
    for node in weight_matmul_nodes(graph):
        readers.setdefault(node.input[0], []).append(node)
    maxima = input_channel_maxima(src, feeds, list(readers))
    before, after, fp32 = {}, {}, []
    for x, matmuls in readers.items():
        before[x], added = _split_and_smooth(graph, weights, x, matmuls, maxima[x], alpha, outliers)
        after.update(added)
        fp32 += [nodes[0].name for nodes in added.values()]
    nodes = []
    for node in graph.node:  # the Mul (and Gather) just before the first reader, each MatMul's fp32 part just after
        nodes += [n for i in node.input if i.endswith(".smoothed") for n in before.pop(i[:-len(".smoothed")], [])]
        nodes += [node] + after.get(node.name, [])
    del graph.node[:]
    graph.node.extend(nodes)
    onnx.save(model, str(dst))
    return {"alpha": alpha, "calibration_rows": len(feeds), "scaled_inputs": len(readers),
            "outlier_channels": outliers, "fp32_matmuls": fp32,
            "folded_into": "an explicit Mul before each group of weight MatMuls (weights scaled per input row)"}


def _split_and_smooth(graph, weights: dict, x: str, matmuls: list, maximum: np.ndarray, alpha: float,
                      outliers: int) -> tuple[list, dict]:
    """For one tensor x and the MatMuls reading it: scale and zero the weights in place; return the nodes to put
    before the first reader (Mul, Gather) and, per MatMul, the nodes after it (fp32 MatMul of the outlier
    channels, Add)."""
    from onnx import helper, numpy_helper
    stored = [numpy_helper.to_array(weights[m.input[1]]) for m in matmuls]
    s = _scales(torch.from_numpy(maximum), [torch.from_numpy(w.T.copy()) for w in stored], alpha).numpy()
    channels = np.sort(np.argsort(-maximum)[:min(outliers, len(maximum) // 8)]).astype(np.int64)
    inverse = (1 / s).astype(np.float32)
    inverse[channels] = 0  # the int8 path does not see the outlier channels
    graph.initializer.append(numpy_helper.from_array(inverse, f"{x}.smooth.inverse"))
    before = [helper.make_node("Mul", [x, f"{x}.smooth.inverse"], [f"{x}.smoothed"], name=f"{x}.smooth")]
    after = {}
    if len(channels):
        graph.initializer.append(numpy_helper.from_array(channels, f"{x}.outlier_channels"))
        before.append(helper.make_node("Gather", [x, f"{x}.outlier_channels"], [f"{x}.outliers"],
                                       name=f"{x}.outliers", axis=-1))
    for m, w in zip(matmuls, stored):
        scaled = (w * s[:, None]).astype(np.float32)
        scaled[channels] = 0
        weights[m.input[1]].CopyFrom(numpy_helper.from_array(scaled, m.input[1]))
        m.input[0] = f"{x}.smoothed"
        if len(channels):
            result = m.output[0]
            graph.initializer.append(numpy_helper.from_array(w[channels], f"{m.name}.outlier_rows"))
            m.output[0] = f"{result}.int8_part"
            after[m.name] = [
                helper.make_node("MatMul", [f"{x}.outliers", f"{m.name}.outlier_rows"], [f"{result}.outlier_part"],
                                 name=f"{m.name}.outliers"),
                helper.make_node("Add", [f"{result}.int8_part", f"{result}.outlier_part"], [result],
                                 name=f"{m.name}.with_outliers")]
    return before, after
