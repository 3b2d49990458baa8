"""Steering hooks on one decoder layer: clamp an SAE latent, or add a direction; per row, gated.

SAE clamp (O'Brien et al. 2024): h' = h + (c - f_i(h)) W_dec[i], at every position, so that the latent reads c
while the SAE's reconstruction error stays in h. Difference-of-means addition (baseline): h' = h + s * r / |r|.
`Steering.active` says which rows are edited; `gate` (a callable, read once at prefill) sets it from a prompt
check, `always` turns every row on, and the answer guard may switch rows on later (generation.GuardStop).
"""
from __future__ import annotations

import contextlib

import torch

from lec_onnx.errors import InputError

from lec_onnx.export.models import decoder_layers

from .sae import TopKSAE


class Steering:
    def __init__(self, model: torch.nn.Module, layer: int, edit, always: bool = True):
        layers = decoder_layers(model.base_model if hasattr(model, "base_model") else model)
        if not 1 <= layer <= len(layers):
            raise InputError(f"steering layer must be between 1 and {len(layers)}, got {layer}")
        self.module, self.layer, self.edit, self.always = layers[layer - 1], layer, edit, always
        self.gate = None
        self.active = torch.zeros(0, dtype=torch.bool)
        self._pending = False

    def hook(self, module, args, output):
        states = output[0] if isinstance(output, tuple) else output
        if self._pending:  # prefill: the gate (a probe at this or a lower layer) has just been read
            self.active = self.gate().clone() if self.gate is not None else torch.full_like(self.active, self.always)
            self._pending = False
        if not bool(self.active.any()):
            return None
        edited = torch.where(self.active[:, None, None], self.edit(states), states)
        return (edited,) + tuple(output[1:]) if isinstance(output, tuple) else edited

    @contextlib.contextmanager
    def attached(self, batch: int):
        self.active = torch.zeros(batch, dtype=torch.bool)
        self._pending = True
        handle = self.module.register_forward_hook(self.hook)
        try:
            yield self
        finally:
            handle.remove()


def clamp_edit(sae: TopKSAE, latent: int, value: float):
    """h -> h + (value - f_latent(h)) W_dec[latent], f from the SAE's Top-k encoder."""
    if not 0 <= latent < sae.cfg.n_latents:
        raise InputError(f"latent must be between 0 and {sae.cfg.n_latents - 1}, got {latent}")
    direction = sae.W_dec[latent].detach()

    def edit(h: torch.Tensor) -> torch.Tensor:
        current = sae.encode(h.float())[..., latent]
        return h + ((value - current)[..., None] * direction).to(h.dtype)
    return edit


def addition_edit(direction: torch.Tensor, scale: float):
    unit = direction.float() / direction.float().norm().clamp(min=1e-8)

    def edit(h: torch.Tensor) -> torch.Tensor:
        return h + (scale * unit).to(h.dtype)
    return edit


def sae_steering(model, sae: TopKSAE, latent: int, value: float) -> Steering:
    if not sae.cfg.layer:
        raise InputError("the SAE's config does not say which layer it was trained on")
    return Steering(model, sae.cfg.layer, clamp_edit(sae, latent, value))


def difference_of_means(harmful: torch.Tensor, harmless: torch.Tensor) -> torch.Tensor:
    """Refusal direction: mean state on harmful prompts minus mean on harmless ones (same position, same layer)."""
    return harmful.float().mean(0) - harmless.float().mean(0)
