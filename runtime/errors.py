"""The errors lec-onnx raises for a user's mistake; the CLI maps each to its exit code."""


class LecError(Exception):
    """Base class of every error lec-onnx raises for a user's mistake."""


class InputError(LecError, ValueError):
    """The text, file or argument given cannot be classified."""


class ArtifactError(LecError):
    """The artifact folder is missing, corrupt, or does not belong together."""


class ProviderError(LecError):
    """The requested onnxruntime execution provider cannot be used."""


class WindowLimitError(InputError):
    """A request needs more windows (onnxruntime runs) than the caller allows: what bounds its CPU time."""

    def __init__(self, message: str, windows: int, limit: int):
        super().__init__(message)
        self.windows, self.limit = windows, limit
