// Browser entry (package.json "exports" condition "browser"): onnxruntime-web (WASM), artifacts fetched by URL.
import * as ort from 'onnxruntime-web';
import { Classifier as Base } from './classifier.js';
import { ArtifactError } from './errors.js';

export * from './errors.js';
export { resultRecord, decide, flagScore } from './classifier.js';
export { SCHEMA_VERSION, parseManifest } from './manifest.js';
export { wellFormed } from './inputs.js';
export { ort };

/** A source fetching an artifact's files relative to a base URL (the folder, with or without a trailing /). */
export function urlSource(url, { fetch: fetcher = globalThis.fetch.bind(globalThis) } = {}) {
  const base = new URL(String(url).replace(/\/?(manifest\.json)?$/, '/'), globalThis.location?.href);
  return {
    where: base.href.replace(/\/$/, ''),
    inside: (name) => {
      const u = new URL(name, base);
      return u.origin === base.origin && u.href.startsWith(base.href) && u.href !== base.href;
    },
    read: async (name) => {
      let response;
      try {
        response = await fetcher(new URL(name, base));
      } catch (e) {
        throw new ArtifactError(`cannot fetch ${name}: ${e.message}`);
      }
      if (response.status === 404) return null;
      if (!response.ok) throw new ArtifactError(`cannot fetch ${name}: HTTP ${response.status}`);
      return new Uint8Array(await response.arrayBuffer());
    },
  };
}

export class Classifier extends Base {
  /**
   * Load an artifact from a URL (its folder) on onnxruntime-web's WASM backend.
   * options: threads (ort.env.wasm.numThreads; more than 1 needs a cross-origin isolated page), precision,
   * window, stride, wasmPaths (where ort-wasm*.wasm are served, if not next to onnxruntime-web's module),
   * fetch (a fetch function).
   */
  static async load(url, { threads = 1, wasmPaths, fetch, ...options } = {}) {
    ort.env.wasm.numThreads = threads;
    if (wasmPaths) ort.env.wasm.wasmPaths = wasmPaths;
    return Base.fromSource(urlSource(url, { fetch }), ort, { providers: ['wasm'], ...options });
  }
}
