// The artifact contract (runtime/manifest.py, docs/artifact-format.md): read manifest.json, validate its fields,
// check every file's SHA-256. Works on a "source" that reads files by name: a folder (Node) or a URL (browser).
import { ArtifactError } from './errors.js';

export const SCHEMA_VERSION = 2;
export const MANIFEST_FILE = 'manifest.json';
export const ROLES = ['prompt', 'response'];

// Per section: required fields, optional fields with their defaults, and which fields are lists.
// Keys a section does not know are ignored, as in Python (a newer minor writer may add some).
const SCHEMA = {
  manifest: {
    required: ['model', 'graph', 'input_format', 'window', 'tasks'],
    defaults: { tokenizer: 'tokenizer.json', parity_rows: null, parity: {}, export: {}, lec_onnx_version: '',
      created: '', files: {}, schema_version: SCHEMA_VERSION },
  },
  model: { required: ['id', 'revision', 'kind', 'architecture', 'layers_kept', 'hidden_size'] },
  graph: { required: ['int8', 'fp32', 'opset', 'inputs', 'vocab_size'],
    defaults: { int8_fp32_matmuls: 0, quantization: {} }, lists: ['inputs'] },
  input_format: { required: ['kind'], defaults: { generation_prompt: false, template: null,
    template_no_system: null, response_template: null } },
  window: { required: ['max_length', 'stride'] },
  task: { required: ['output', 'labels', 'negative_label', 'threshold', 'layer', 'pooling'],
    defaults: { roles: ROLES, C: null, trained_on: [], trained_rows: null }, lists: ['labels', 'roles', 'trained_on'] },
  file: { required: ['sha256'], defaults: { bytes: 0 } },
};
const NESTED = { model: 'model', graph: 'graph', input_format: 'input_format', window: 'window' };

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function build(kind, data, where) {
  if (!isObject(data)) throw new ArtifactError(`${where} must be a JSON object`);
  const spec = SCHEMA[kind];
  const out = {};
  for (const name of spec.required) {
    if (!(name in data)) throw new ArtifactError(`${where} lacks the field '${name}'`);
  }
  for (const [name, value] of Object.entries(spec.defaults || {})) out[name] = value;
  for (const name of [...spec.required, ...Object.keys(spec.defaults || {})]) {
    if (!(name in data)) continue;
    const value = data[name];
    const at = `${where}.${name}`;
    if ((spec.lists || []).includes(name) && !Array.isArray(value)) throw new ArtifactError(`${at} must be a list`);
    out[name] = value;
  }
  return out;
}

/** A validated manifest object from parsed JSON (fields as in runtime/manifest.py). */
export function parseManifest(doc) {
  const version = isObject(doc) ? doc.schema_version : undefined;
  if (!Number.isInteger(version)) throw new ArtifactError(`${MANIFEST_FILE} has no integer schema_version`);
  if (version > SCHEMA_VERSION) {
    throw new ArtifactError(`artifact schema version ${version} is newer than this lec-onnx understands ` +
      `(${SCHEMA_VERSION}); upgrade lec-onnx`);
  }
  const m = build('manifest', doc, MANIFEST_FILE);
  for (const [key, kind] of Object.entries(NESTED)) m[key] = build(kind, m[key], `${MANIFEST_FILE}.${key}`);
  for (const [key, kind] of [['tasks', 'task'], ['files', 'file']]) {
    if (!isObject(m[key])) throw new ArtifactError(`${MANIFEST_FILE}.${key} must be a JSON object`);
    m[key] = Object.fromEntries(Object.entries(m[key]).map(
      ([name, v]) => [name, build(kind, v, `${MANIFEST_FILE}.${key}.${name}`)]));
  }
  return m;
}

/** The files the manifest points at (and so must check). */
export function fileNames(m) {
  return [m.graph.int8, m.graph.fp32, m.tokenizer, m.parity_rows].filter(Boolean);
}

export async function sha256Hex(bytes) {
  const digest = await globalThis.crypto.subtle.digest('SHA-256', bytes);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * Read and check an artifact: schema version, fields, file names inside the folder, SHA-256 of every file.
 * source: { where, inside(name) -> bool, read(name) -> Promise<Uint8Array | null> (null: missing) }.
 * Returns { manifest, files: {name: Uint8Array} } (the checked bytes, so nothing is read twice).
 */
export async function readManifest(source) {
  const raw = await source.read(MANIFEST_FILE);
  if (raw === null) throw new ArtifactError(`${source.where} has no ${MANIFEST_FILE}: not a lec-onnx artifact`);
  let doc;
  try {
    doc = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(raw));
  } catch (e) {
    throw new ArtifactError(`${source.where}/${MANIFEST_FILE} is not valid JSON: ${e.message}`);
  }
  const manifest = parseManifest(doc);
  for (const name of fileNames(manifest)) {
    if (!(name in manifest.files)) {
      throw new ArtifactError(`${MANIFEST_FILE} names '${name}' but records no SHA-256 for it`);
    }
  }
  const files = {};
  for (const [name, info] of Object.entries(manifest.files)) {
    if (!source.inside(name)) throw new ArtifactError(`manifest names a file outside the artifact folder: '${name}'`);
    const bytes = await source.read(name);
    if (bytes === null) throw new ArtifactError(`artifact file missing: ${source.where}/${name}`);
    if (await sha256Hex(bytes) !== info.sha256) {
      throw new ArtifactError(`SHA-256 of ${name} does not match the manifest: the file is corrupt or ` +
        'was replaced; re-export or re-download the artifact');
    }
    files[name] = bytes;
  }
  return { manifest, files };
}
