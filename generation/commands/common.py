"""What the generating-model commands share: model and steering options, and the Steering they ask for.
Argparse at import time only; torch and the models are imported inside the helpers that use them."""
from __future__ import annotations

import argparse

from lec_onnx.errors import InputError
from lec_onnx.options import probability_option


def latent_option(value: str) -> tuple[int, float]:
    latent, sep, number = value.partition("=")
    try:
        return int(latent), float(number)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected LATENT=VALUE (e.g. 1234=8.5), got {value!r}") from None


def model_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", "-m", required=True, help="hub id, local folder or .gguf file of an instruct decoder")
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the machine is shared)")


def steering_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--steer", type=latent_option, metavar="LATENT=VALUE",
                   help="clamp this SAE latent to VALUE at every position: h' = h + (VALUE - f(h)) W_dec[LATENT]")
    p.add_argument("--sae", help="SAE folder (from `lec-onnx sae train`) for --steer")
    p.add_argument("--gate", metavar="PROBE", help="prompt-side probe read at prefill: steer (or act) only when it "
                   "flags the prompt; it must sit at or below the steering layer")
    p.add_argument("--gate-threshold", type=probability_option,
                   help="flag the prompt at this score (default: the probe's)")


def steering_from_args(args, model):
    """The Steering of --steer/--sae (None without --steer)."""
    if args.steer is None:
        if args.sae:
            raise InputError("--sae needs --steer LATENT=VALUE")
        return None
    if not args.sae:
        raise InputError("--steer needs --sae DIR (an SAE from `lec-onnx sae train`)")
    from ..sae import load_sae
    from ..steering import sae_steering
    latent, value = args.steer
    return sae_steering(model, load_sae(args.sae), latent, value)
