// The classifier, as runtime/classifier.py and runtime/scoring.py's result_record: one ONNX graph with one head
// per task, scored in one pass. Environment-free: the entry points (node.js, browser.js) pass in onnxruntime
// (onnxruntime-node or onnxruntime-web) and a source that reads the artifact's files.
import { Tokenizer } from '@huggingface/tokenizers';
import { ArtifactError, InputError, ProviderError } from './errors.js';
import { encodeFitted, lowercasePerCharacter, modelInputs, pyStrip, wellFormed, windows, MIN_WINDOW_TEXT_TOKENS } from './inputs.js';
import { readManifest, ROLES } from './manifest.js';

export const DIGITS = 6; // scores are rounded once, in resultRecord
export const RECORD_KEYS = ['flagged', 'system_tokens_dropped']; // a record's keys that are not tasks

const f32 = Math.fround; // the graph's outputs are float32; Python computes flag scores and compares in float32

/** Per window, the chance of anything but the harmless label (float32, as numpy computes it). */
export function flagScore(probs, task) {
  return f32(1 - probs[task.labels.indexOf(task.negative_label)]);
}

/** The label of one window's probabilities: binary tasks flag at the threshold, others take the argmax. */
export function decide(probs, task, threshold = null) {
  if (task.labels.length === 2) {
    const other = task.labels[1 - task.labels.indexOf(task.negative_label)];
    return flagScore(probs, task) >= f32(threshold ?? task.threshold) ? other : task.negative_label;
  }
  return task.labels[argmax(probs)];
}

function argmax(values) {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i] > values[best]) best = i;
  return best;
}

function openTokenizer(bytes, manifest) {
  let tok;
  try {
    tok = lowercasePerCharacter(new Tokenizer(JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)), {}));
  } catch (e) {
    throw new ArtifactError(`cannot read ${manifest.tokenizer}: ${e.message}`);
  }
  // tokenizers.js applies neither truncation nor padding in encode(): windows() decides what fits
  const vocab = tok.get_vocab(true).size;
  if (vocab > manifest.graph.vocab_size) {
    throw new ArtifactError(`tokenizer has ${vocab} tokens but the graph's embedding has ` +
      `${manifest.graph.vocab_size}: they do not belong together`);
  }
  return tok;
}

export class Classifier {
  constructor({ manifest, session, tokenizer, ort, where, window = null, stride = null }) {
    Object.assign(this, { manifest, session, tokenizer, ort, where });
    this.tasks = manifest.tasks;
    const limit = manifest.window.max_length;
    if (window != null && !(Number.isInteger(window) && window >= MIN_WINDOW_TEXT_TOKENS && window <= limit)) {
      throw new InputError(`window must be between ${MIN_WINDOW_TEXT_TOKENS} and ${limit} tokens ` +
        `(the artifact's max_length), not ${window}`);
    }
    if (stride != null && !(Number.isInteger(stride) && stride >= 0)) {
      throw new InputError(`stride must be 0 or more tokens, not ${stride}`);
    }
    this.maxLength = window || limit;
    this.stride = stride ?? manifest.window.stride;
  }

  /**
   * Load an artifact through a source (see manifest.js readManifest) with the given onnxruntime module.
   * options: providers (onnxruntime execution providers), threads, precision ('int8' default, or 'fp32'),
   * window, stride.
   */
  static async fromSource(source, ort, { providers, threads = null, precision = 'int8', window = null,
    stride = null } = {}) {
    const { manifest, files } = await readManifest(source);
    const graph = { int8: manifest.graph.int8, fp32: manifest.graph.fp32 }[precision];
    if (graph === undefined) throw new InputError(`precision must be 'int8' or 'fp32', not '${precision}'`);
    if (!graph) {
      throw new ArtifactError(`this artifact has no ${precision} graph: ask for precision 'int8', or export ` +
        'without --no-fp32');
    }
    const tokenizer = openTokenizer(files[manifest.tokenizer], manifest);
    const options = { executionProviders: providers };
    if (threads) Object.assign(options, { intraOpNumThreads: threads, interOpNumThreads: 1 });
    let session;
    try {
      session = await ort.InferenceSession.create(files[graph], options);
    } catch (e) {
      if (/provider|backend/i.test(String(e.message)) && !/protobuf|model/i.test(String(e.message))) {
        throw new ProviderError(`onnxruntime cannot use ${providers}: ${e.message}`);
      }
      throw new ArtifactError(`onnxruntime cannot load ${graph}: ${e.message}`);
    }
    return new Classifier({ manifest, session, tokenizer, ort, where: source.where, window, stride });
  }

  /** The tasks that apply to a role ("prompt" or "response"), in the manifest's order. */
  tasksFor(role) {
    if (!ROLES.includes(role)) throw new InputError(`role must be 'prompt' or 'response', not '${role}'`);
    return Object.keys(this.tasks).filter((t) => this.tasks[t].roles.includes(role));
  }

  /**
   * Classify texts: one {task: TaskResult} per text, for the tasks that apply to the role.
   * TaskResult: {label, score, scores, flagged, windows, top_window, system_tokens_dropped}.
   * options: system (one for all or one per text), role ('prompt' | 'response'), prompt (the request a response
   * answers; one or per text), thresholds ({task: P}).
   * Lone UTF-16 surrogates in text, system and prompt are replaced by U+FFFD before tokenising.
   */
  async classify(texts, { system = null, role = 'prompt', prompt = null, thresholds = null } = {}) {
    texts = typeof texts === 'string' ? [texts] : Array.from(texts);
    const systems = perText(system, texts.length, 'system');
    const prompts = perText(prompt, texts.length, 'prompt');
    const tasks = this.tasksFor(role);
    const unknown = Object.keys(thresholds || {}).filter((t) => !(t in this.tasks)).sort();
    if (unknown.length) {
      throw new InputError(`unknown task '${unknown[0]}'; this artifact has ${Object.keys(this.tasks).join(', ')}`);
    }
    const prepared = texts.map((text, i) => {
      if (typeof text !== 'string' || !pyStrip(text)) throw new InputError(`text ${i + 1} is empty`);
      const encoded = encodeFitted(this.tokenizer, this.manifest.input_format, wellFormed(text),
        wellFormed(systems[i]), this.maxLength, role, wellFormed(prompts[i]));
      try {
        return { encoded, rows: windows(encoded, this.maxLength, this.stride) };
      } catch (e) {
        if (e instanceof InputError) throw new InputError(`text ${i + 1}: ${e.message}`); // as runtime/classifier.py
        throw e;
      }
    });
    const results = [];
    for (const { encoded, rows } of prepared) {
      const probs = [];
      for (const row of rows) probs.push(await this.run(row)); // int8: one window per run (see artifact-format)
      results.push(this.decideText(probs, tasks, thresholds || {}, encoded.systemTokensDropped));
    }
    return results;
  }

  /** One window through the graph: {task: Float32Array of label probabilities}. */
  async run(row) {
    const feed = {};
    for (const [name, { data, dims }] of Object.entries(modelInputs(row, this.manifest.graph.inputs))) {
      feed[name] = new this.ort.Tensor('int64', data, dims);
    }
    const out = await this.session.run(feed);
    return Object.fromEntries(Object.entries(this.tasks).map(([t, spec]) => [t, out[spec.output].data]));
  }

  decideText(probs, tasks, thresholds, dropped) {
    const results = {};
    for (const task of tasks) {
      const spec = this.tasks[task];
      const flags = probs.map((p) => flagScore(p[task], spec));
      const top = argmax(flags); // the window most likely to be flagged decides
      const p = probs[top][task];
      const label = decide(p, spec, thresholds[task]);
      const score = spec.labels.length === 2 ? flags[top] : Math.max(...p);
      results[task] = { label, score, scores: Object.fromEntries(spec.labels.map((l, i) => [l, p[i]])),
        flagged: label !== spec.negative_label, windows: probs.length, top_window: top,
        system_tokens_dropped: dropped };
    }
    return results;
  }

  /** Release onnxruntime's session. */
  async release() {
    await this.session.release?.();
  }
}

function perText(value, n, name) {
  if (value == null || typeof value === 'string') return Array(n).fill(value ?? null);
  const list = Array.from(value);
  if (list.length !== n) throw new InputError(`got ${list.length} ${name} values for ${n} texts`);
  return list;
}

/** Python's round(x, 6) for a finite double (exact decimal value, ties impossible at this precision). */
export const round = (x, digits = DIGITS) => Number(x.toFixed(digits));

/**
 * The plain JSON record of one classify() result, as runtime/scoring.py result_record (and the CLI's --jsonl):
 * {task: {label, score, flagged, scores, windows, top_window}, ..., flagged, system_tokens_dropped}.
 */
export function resultRecord(result, digits = DIGITS) {
  const reserved = RECORD_KEYS.filter((k) => k in result).sort();
  if (reserved.length) throw new InputError(`a task may not be named '${reserved[0]}': the record keeps that key`);
  const record = {};
  for (const [task, r] of Object.entries(result)) {
    record[task] = { label: r.label, score: round(r.score, digits), flagged: r.flagged,
      scores: Object.fromEntries(Object.entries(r.scores).map(([k, s]) => [k, round(s, digits)])),
      windows: r.windows, top_window: r.top_window };
  }
  const values = Object.values(result);
  record.flagged = values.some((r) => r.flagged);
  // a system prompt too long for the window is cut in its middle; this many of its tokens were dropped
  record.system_tokens_dropped = values.length ? values[0].system_tokens_dropped : 0;
  return record;
}
