"""lec-onnx: Layer Enhanced Classification as one ONNX graph. `Classifier` is the runtime (no torch needed)."""
from .classifier import Classifier, TaskResult
from .errors import ArtifactError, InputError, LecError, ProviderError

__version__ = "0.1.0"
__all__ = ["Classifier", "TaskResult", "LecError", "InputError", "ArtifactError", "ProviderError", "__version__"]
