// The errors lec-onnx raises for a user's mistake (as runtime/errors.py); the CLI maps each to its exit code.
export class LecError extends Error {
  constructor(message) {
    super(message);
    this.name = new.target.name;
  }
}
/** The text, file or argument given cannot be classified. */
export class InputError extends LecError {}
/** The artifact folder is missing, corrupt, or does not belong together. */
export class ArtifactError extends LecError {}
/** The requested onnxruntime execution provider cannot be used. */
export class ProviderError extends LecError {}
