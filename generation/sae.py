"""A Top-k sparse autoencoder on one layer of a decoder (Gao et al. 2024, as used by O'Brien et al. 2024).

f(x) = TopK_k(ReLU(W_enc (x - b_pre) + b_enc)),  x_hat = f(x) W_dec + b_pre.
Decoder rows are kept unit-norm with the gradient parallel to them removed; the encoder starts as the decoder's
transpose; b_pre starts at the data's median (geometric median approximated per coordinate); an AuxK loss
reconstructs the residual from the top `aux_k` dead latents so they come back. Saved as safetensors + JSON.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn

from lec_onnx.errors import InputError

SAE_FORMAT = "lec-onnx-sae/1"
WEIGHTS, CONFIG = "sae.safetensors", "sae.json"


@dataclass
class SAEConfig:
    d_model: int
    n_latents: int
    k: int = 32
    aux_k: int = 256
    aux_coef: float = 1 / 32
    dead_tokens: int = 100_000  # a latent silent for this many training tokens counts as dead
    layer: int = 0
    model: dict = field(default_factory=dict)
    metrics: dict = field(default_factory=dict)


class TopKSAE(nn.Module):
    def __init__(self, cfg: SAEConfig, seed: int = 0):
        super().__init__()
        if not 0 < cfg.k <= cfg.n_latents:
            raise InputError(f"k must be between 1 and the number of latents ({cfg.n_latents}), got {cfg.k}")
        self.cfg = cfg
        gen = torch.Generator().manual_seed(seed)
        dec = torch.randn(cfg.n_latents, cfg.d_model, generator=gen)
        dec /= dec.norm(dim=1, keepdim=True)
        self.W_dec = nn.Parameter(dec)
        self.W_enc = nn.Parameter(dec.clone())  # the decoder's transpose, stored [latents, d_model]
        self.b_enc = nn.Parameter(torch.zeros(cfg.n_latents))
        self.b_pre = nn.Parameter(torch.zeros(cfg.d_model))
        self.register_buffer("last_fired", torch.zeros(cfg.n_latents, dtype=torch.long))
        self.register_buffer("tokens_seen", torch.zeros((), dtype=torch.long))

    def pre_activations(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu((x - self.b_pre) @ self.W_enc.T + self.b_enc)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Dense [..., n_latents] with at most k non-zeros per row."""
        pre = self.pre_activations(x)
        values, index = pre.topk(self.cfg.k, dim=-1)
        return torch.zeros_like(pre).scatter_(-1, index, values)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return f @ self.W_dec + self.b_pre

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.encode(x)
        return self.decode(f), f

    @torch.no_grad()
    def init_pre_bias(self, sample: torch.Tensor) -> None:
        self.b_pre.copy_(sample.float().median(dim=0).values)

    @torch.no_grad()
    def normalise_decoder(self) -> None:
        self.W_dec /= self.W_dec.norm(dim=1, keepdim=True).clamp(min=1e-8)

    @torch.no_grad()
    def remove_parallel_gradient(self) -> None:
        if self.W_dec.grad is not None:
            parallel = (self.W_dec.grad * self.W_dec).sum(1, keepdim=True)
            self.W_dec.grad -= parallel * self.W_dec

    @property
    def dead(self) -> torch.Tensor:
        return (self.tokens_seen - self.last_fired) > self.cfg.dead_tokens

    def loss(self, x: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Normalised MSE + aux_coef * AuxK loss; also updates which latents fired."""
        pre = self.pre_activations(x)
        values, index = pre.topk(self.cfg.k, dim=-1)
        f = torch.zeros_like(pre).scatter_(-1, index, values)
        recon = self.decode(f)
        variance = (x - x.mean(0)).pow(2).sum(-1).mean().clamp(min=1e-8)
        mse = (recon - x).pow(2).sum(-1).mean() / variance
        with torch.no_grad():
            self.tokens_seen += x.shape[0]
            self.last_fired[(f > 0).any(0)] = self.tokens_seen
        dead = self.dead
        aux = torch.zeros((), device=x.device)
        if dead.any():
            k = min(self.cfg.aux_k, int(dead.sum()))
            dead_values, dead_index = (pre * dead).topk(k, dim=-1)
            residual = (x - recon).detach()
            aux_recon = torch.zeros_like(pre).scatter_(-1, dead_index, dead_values) @ self.W_dec
            aux = (aux_recon - residual).pow(2).sum(-1).mean() / variance
        total = mse + self.cfg.aux_coef * aux
        return total, {"fvu": float(mse.detach()), "aux": float(aux.detach()), "dead": float(dead.float().mean())}


def fvu(sae: TopKSAE, x: torch.Tensor, batch: int = 4096) -> float:
    """Fraction of variance unexplained on x: sum |x - x_hat|^2 / sum |x - mean(x)|^2."""
    err, mean = 0.0, x.float().mean(0)
    total = float((x.float() - mean).pow(2).sum())
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            chunk = x[i:i + batch].float()
            err += float((sae(chunk)[0] - chunk).pow(2).sum())
    return err / max(total, 1e-12)


def save_sae(sae: TopKSAE, folder) -> Path:
    from safetensors.torch import save_file
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {name: p.detach().contiguous() for name, p in sae.named_parameters()}
    save_file(tensors, str(folder / WEIGHTS))
    (folder / CONFIG).write_text(json.dumps({"format": SAE_FORMAT, **asdict(sae.cfg)}, indent=1))
    return folder


def load_sae(folder) -> TopKSAE:
    from safetensors.torch import load_file
    folder = Path(folder)
    try:
        doc = json.loads((folder / CONFIG).read_text())
        tensors = load_file(str(folder / WEIGHTS))
    except (OSError, json.JSONDecodeError) as e:
        raise InputError(f"cannot read SAE {folder}: {e}") from None
    if doc.pop("format", None) != SAE_FORMAT:
        raise InputError(f"{folder} is not a lec-onnx SAE (format {SAE_FORMAT})")
    sae = TopKSAE(SAEConfig(**doc))
    missing = set(dict(sae.named_parameters())) - set(tensors)
    if missing:
        raise InputError(f"SAE {folder} lacks {', '.join(sorted(missing))}")
    with torch.no_grad():
        for name, p in sae.named_parameters():
            if tensors[name].shape != p.shape:
                raise InputError(f"SAE {folder}: {name} has shape {tuple(tensors[name].shape)}, expected "
                                 f"{tuple(p.shape)}")
            p.copy_(tensors[name])
    return sae.eval()
