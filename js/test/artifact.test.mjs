// Bad artifacts raise ArtifactError (SHA-256, missing files, names outside the folder, schema), bad input
// InputError, as the Python runtime.
import { copyFileSync, mkdtempSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';
import { ArtifactError, Classifier, InputError, DEFAULT_ARTIFACT } from '../src/node.js';

const manifest = JSON.parse(readFileSync(path.join(DEFAULT_ARTIFACT, 'manifest.json'), 'utf8'));

/** A copy of the shipped artifact (the graph symlinked, not copied) with its manifest changed by edit. */
function artifact(edit = (m) => m, files = {}) {
  const dir = mkdtempSync(path.join(tmpdir(), 'lec-onnx-artifact-'));
  symlinkSync(path.join(DEFAULT_ARTIFACT, 'model.onnx'), path.join(dir, 'model.onnx'));
  for (const name of ['tokenizer.json', 'parity_rows.jsonl']) {
    copyFileSync(path.join(DEFAULT_ARTIFACT, name), path.join(dir, name));
  }
  for (const [name, content] of Object.entries(files)) writeFileSync(path.join(dir, name), content);
  writeFileSync(path.join(dir, 'manifest.json'), JSON.stringify(edit(structuredClone(manifest))));
  return dir;
}

const rejects = (dir, pattern) => assert.rejects(Classifier.load(dir),
  (e) => e instanceof ArtifactError && pattern.test(e.message));

test('a corrupt file fails its SHA-256', () => rejects(artifact((m) => m, { 'parity_rows.jsonl': 'x\n' }),
  /SHA-256 of parity_rows.jsonl does not match/));
test('a newer schema is refused', () => rejects(artifact((m) => ({ ...m, schema_version: 3 })), /newer than/));
test('a missing field is named', () => rejects(artifact((m) => { delete m.graph.vocab_size; return m; }),
  /manifest.json.graph lacks the field 'vocab_size'/));
test('a file outside the folder is refused', () => rejects(
  artifact((m) => { m.files['../x'] = { sha256: '00' }; return m; }), /outside the artifact folder/));
test('a named file without a checksum is refused', () => rejects(
  artifact((m) => { delete m.files['parity_rows.jsonl']; return m; }), /records no SHA-256/));
test('a tokenizer larger than the embedding is refused', () => rejects(
  artifact((m) => { m.graph.vocab_size = 100; return m; }), /do not belong together/));
test('a missing folder', () => rejects('/nonexistent/artifact', /artifact folder not found/));

test('bad input raises InputError', async () => {
  const clf = await Classifier.load(DEFAULT_ARTIFACT, { threads: 1 });
  for (const [args, pattern] of [
    [[['ok', '  ']], /text 2 is empty/],
    [['hi', { role: 'model' }], /role must be 'prompt' or 'response'/],
    [[['a', 'b'], { system: ['x'] }], /got 1 system values for 2 texts/],
    [['\u0000'], /no tokens this model knows/],
  ]) await assert.rejects(clf.classify(...args), (e) => e instanceof InputError && pattern.test(e.message));
  await assert.rejects(Classifier.load(DEFAULT_ARTIFACT, { window: 8 }), InputError);
  await clf.release();
});
