// Node / Electron entry (package.json "exports" condition "node"): onnxruntime-node, artifacts read from a folder.
import { readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as ort from 'onnxruntime-node';
import { Classifier as Base } from './classifier.js';
import { ArtifactError, ProviderError } from './errors.js';
import { MANIFEST_FILE } from './manifest.js';

export * from './errors.js';
export { resultRecord, decide, flagScore } from './classifier.js';
export { SCHEMA_VERSION, parseManifest } from './manifest.js';
export { wellFormed } from './inputs.js';

/** The repository's shipped artifact (artifacts/default next to js/), when run from a checkout. */
export const DEFAULT_ARTIFACT = fileURLToPath(new URL('../../artifacts/default', import.meta.url));
const PROVIDERS = { cpu: 'cpu' };

/** A source reading an artifact folder (or its manifest.json) from disk. */
export async function folderSource(folder) {
  let where = path.resolve(folder);
  const info = await stat(where).catch(() => null);
  if (info?.isFile() && path.basename(where) === MANIFEST_FILE) where = path.dirname(where);
  else if (!info?.isDirectory()) throw new ArtifactError(`artifact folder not found: ${folder}`);
  return {
    where,
    inside: (name) => {
      const rel = path.relative(where, path.resolve(where, name));
      return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
    },
    read: async (name) => {
      try {
        return new Uint8Array(await readFile(path.join(where, name)));
      } catch (e) {
        if (e.code === 'ENOENT' || e.code === 'EISDIR') return null;
        throw new ArtifactError(`cannot read ${name}: ${e.message}`);
      }
    },
  };
}

export class Classifier extends Base {
  /**
   * Load an artifact folder (default: the repository's artifacts/default) on onnxruntime-node.
   * options: providers ('cpu'), threads (intra-op threads; default: onnxruntime's, all cores), precision
   * ('int8' | 'fp32'), window, stride.
   */
  static async load(folder = DEFAULT_ARTIFACT, { providers = 'cpu', ...options } = {}) {
    const names = (Array.isArray(providers) ? providers : [providers]).map((p) => PROVIDERS[p] ?? p);
    const available = ort.listSupportedBackends?.().map((b) => b.name) ?? ['cpu'];
    const missing = names.filter((p) => !available.includes(p));
    if (missing.length) {
      throw new ProviderError(`${missing[0]} is not available in this onnxruntime-node (available: ` +
        `${available.join(', ')})`);
    }
    return Base.fromSource(await folderSource(folder), ort, { providers: names, ...options });
  }
}
