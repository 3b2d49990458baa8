// The Python runtime's results (js/test/reference.jsonl, written by js/scripts/reference.py) against this package
// on the shipped artifact: every parity row of ../artifacts/default (read from the artifact) and the hard cases.
import { readFileSync } from 'node:fs';
import test from 'node:test';
import assert from 'node:assert/strict';
import { Classifier, InputError, resultRecord, DEFAULT_ARTIFACT } from '../src/node.js';
import { compareRecords } from './compare.mjs';

const lines = (file) => readFileSync(file, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l));
const reference = new Map(lines(new URL('reference.jsonl', import.meta.url)).map((r) => [r.name, r]));
const cases = lines(new URL('cases.jsonl', import.meta.url));
const parity = lines(`${DEFAULT_ARTIFACT}/parity_rows.jsonl`);
const clf = await Classifier.load(DEFAULT_ARTIFACT, { threads: 1 });

test('every parity row of the shipped artifact scores as in Python', async () => {
  let maxDiff = 0;
  let flagsSame = 0;
  for (const [i, row] of parity.entries()) {
    const name = `parity:${i + 1}`;
    const [result] = await clf.classify(row.text, { system: row.system });
    maxDiff = Math.max(maxDiff, compareRecords(resultRecord(result), reference.get(name).record, name));
    flagsSame += 1;
  }
  console.log(`# parity rows: ${flagsSame}/${parity.length} with identical labels, flags and windows; ` +
    `max |score diff| ${maxDiff}`);
});

for (const c of cases) {
  test(`hard case ${c.name}`, async () => {
    const ref = reference.get(c.name);
    const run = () => clf.classify([c.text], { system: c.system, role: c.role, prompt: c.prompt,
      thresholds: c.thresholds });
    if (ref.error) {
      await assert.rejects(run, (e) => e instanceof InputError && e.message === ref.message);
      return;
    }
    const [result] = await run();
    const diff = compareRecords(resultRecord(result), ref.record, c.name);
    if (diff > 0) console.log(`# ${c.name}: max |score diff| ${diff}`);
  });
}
