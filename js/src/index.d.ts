// Types of the lec-onnx package (both entries: "node" -> src/node.js, "browser" -> src/browser.js).

export class LecError extends Error {}
/** The text, file or argument given cannot be classified. */
export class InputError extends LecError {}
/** The artifact folder is missing, corrupt, or does not belong together. */
export class ArtifactError extends LecError {}
/** The requested onnxruntime execution provider cannot be used. */
export class ProviderError extends LecError {}

export type Role = 'prompt' | 'response';

export interface TaskResult {
  label: string;
  /** float32 probability of the flagged label (binary tasks) or of the predicted label (multi-class) */
  score: number;
  scores: Record<string, number>;
  flagged: boolean;
  /** how many windows of the text were scored */
  windows: number;
  /** the window that decided the result (highest flag score) */
  top_window: number;
  /** tokens cut from the middle of a system prompt too long for the window */
  system_tokens_dropped: number;
}

export interface ClassifyOptions {
  /** the system prompt the text was sent with: one for all texts or one per text */
  system?: string | null | Array<string | null>;
  role?: Role;
  /** with role 'response': the request the response answers */
  prompt?: string | null | Array<string | null>;
  /** {task: P}: override the manifest's thresholds of binary tasks */
  thresholds?: Record<string, number> | null;
}

export interface LoadOptions {
  /** onnxruntime intra-op threads (Node: default all cores; browser: ort.env.wasm.numThreads, default 1) */
  threads?: number | null;
  precision?: 'int8' | 'fp32';
  /** tokens per window over long texts (at most the manifest's max_length) */
  window?: number | null;
  /** overlap of neighbouring windows in tokens */
  stride?: number | null;
  /** Node: 'cpu' */
  providers?: string | string[];
  /** browser: where onnxruntime-web's .wasm files are served */
  wasmPaths?: string;
  /** browser: a fetch function */
  fetch?: typeof fetch;
}

/** The same record as Python's `lec-onnx classify --jsonl` (without line, id and text). */
export type ResultRecord = { flagged: boolean; system_tokens_dropped: number } & Record<string, any>;

export class Classifier {
  /** Node: a folder path (default: the repository's artifacts/default). Browser: the artifact folder's URL. */
  static load(artifact?: string | URL, options?: LoadOptions): Promise<Classifier>;
  readonly manifest: any;
  readonly tasks: Record<string, { labels: string[]; negative_label: string; threshold: number; roles: Role[] }>;
  tasksFor(role: Role): string[];
  /** One {task: TaskResult} per text, for the tasks that apply to the role. */
  classify(texts: string | string[], options?: ClassifyOptions): Promise<Array<Record<string, TaskResult>>>;
  release(): Promise<void>;
}

export function resultRecord(result: Record<string, TaskResult>, digits?: number): ResultRecord;
/** Lone UTF-16 surrogates replaced by U+FFFD (classify() does this before tokenising). */
export function wellFormed(text: string): string;
export const SCHEMA_VERSION: number;
/** Node only: the repository's artifacts/default. */
export const DEFAULT_ARTIFACT: string;
