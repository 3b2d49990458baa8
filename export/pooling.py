"""Pooling: one definition of how a layer's token states become one vector, for training features and the graph.

`mean` / `first` / `last` read the formatted input's tokens; `text-mean` averages the text's own tokens only (the
system prompt and markup are attended to, not averaged in: a long system prompt would otherwise outweigh a short
text). For chat decoders the `gen-` variants read the same input with the generation prompt appended (where an
aligned model decides whether to refuse); `gen-text-mean` is text-mean in such an input (a causal decoder's text
states do not depend on what follows them, so it lets a text-mean head share one graph with a `gen-last` head).
Everything is written with masks and arithmetic only, so the same code
exports to ONNX.
"""
from __future__ import annotations

import torch

BASE_POOLINGS = ("mean", "first", "last", "text-mean")
ENCODER_POOLINGS = BASE_POOLINGS
DECODER_POOLINGS = ("mean", "last", "text-mean", "gen-mean", "gen-last", "gen-text-mean")
GEN = "gen-"


def split_pooling(pooling: str) -> tuple[str, bool]:
    """'gen-last' -> ('last', True): the graph's pooling and whether the input ends in the generation prompt."""
    return (pooling[len(GEN):], True) if pooling.startswith(GEN) else (pooling, False)


def pooling_name(base: str, generation_prompt: bool) -> str:
    """The inverse of split_pooling: ('last', True) -> 'gen-last'."""
    return GEN + base if generation_prompt else base


def pool(states: torch.Tensor, token_mask: torch.Tensor, text_mask: torch.Tensor | None, base: str) -> torch.Tensor:
    """states [batch, seq, hidden] -> [batch, hidden]. token_mask marks the tokens that count (1) in either padding
    side; text_mask the text's own tokens (text-mean only)."""
    if base in ("mean", "text-mean"):
        mask = (text_mask if base == "text-mean" else token_mask).to(states.dtype)
        return (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
    mask = token_mask.to(states.dtype)
    if base == "last":  # the highest position whose mask is 1
        positions = torch.arange(mask.shape[1], device=mask.device)[None, :]
        index = torch.argmax(mask * (positions + 1), dim=1)
    elif base == "first":
        index = torch.argmax(mask, dim=1)
    else:
        raise ValueError(f"unknown pooling {base!r} (known: {', '.join(BASE_POOLINGS)})")
    return states[torch.arange(states.shape[0], device=states.device), index]


def position_ids(attention_mask: torch.Tensor) -> torch.Tensor:
    """Decoder positions from the mask, so left- and right-padded rows get the same states."""
    return (attention_mask.long().cumsum(-1) - 1).clamp(min=0)
