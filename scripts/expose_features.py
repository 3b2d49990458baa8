"""Make an artifact's graph output the pooled states its heads read (`features.layer<k>.<pooling>`), in place.

Artifacts exported since these outputs exist have them already; run this on an older one before `lec-onnx fit`.
The heads' scores do not change (Identity nodes only; tests/test_shipped_artifact.py checks the shipped one
against its recorded scores). Needs `onnx` (pip install 'lec-onnx[fit]'):
    python scripts/expose_features.py artifacts/default
"""
from __future__ import annotations

import sys

from lec_onnx.export.heads import expose_artifact_features

if __name__ == "__main__":
    for folder in sys.argv[1:] or ["artifacts/default"]:
        for name, tensor in expose_artifact_features(folder).items():
            print(f"{folder}: {name} <- {tensor}")
