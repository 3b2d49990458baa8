"""`lec-onnx fit` and `Classifier.fit` (needs `pip install lec-onnx[fit]`: scikit-learn and onnx, no torch): a new
head from a few dozen labelled rows, fitted on the pooled states an artifact's own int8 graph outputs and appended
to a copy of that graph. `head`: the rows, the cross-validated choice and the artifact it writes; `command`: the
subcommand. Built on the runtime (the graph's features) and the LEC pipeline's probe, data reader and head nodes,
which import nothing of it; the runtime reaches it only lazily, from `Classifier.fit` / `.save` and the CLI.
"""
from .head import (CS, FEW_ROWS_PER_CLASS, SELECTION_RULE, best_threshold, fit_classifier, fit_head,  # noqa: F401
                   labelled_rows, per_text_max, save_artifact)
