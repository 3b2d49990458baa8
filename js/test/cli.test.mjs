// The JS CLI against Python's `lec-onnx classify --jsonl` (js/test/cli_reference.jsonl, written by
// js/scripts/reference.py) on 100+ texts with system prompts; and the CLI's errors and exit codes.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import test from 'node:test';
import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { compareRecords } from './compare.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const bin = path.join(here, '..', 'bin', 'lec-onnx-js.js');
const cli = (...args) => spawnSync(process.execPath, [bin, ...args], { encoding: 'utf8', maxBuffer: 1 << 26 });

test('--jsonl --file equals Python\'s lec-onnx classify --jsonl, field for field', () => {
  const run = cli('classify', '--jsonl', '--threads', '1', '--file', path.join(here, 'cli_input.jsonl'));
  assert.equal(run.status, 0, run.stderr);
  const js = run.stdout.split('\n').filter(Boolean);
  const py = readFileSync(path.join(here, 'cli_reference.jsonl'), 'utf8').split('\n').filter(Boolean);
  assert.equal(js.length, py.length);
  assert.ok(js.length >= 100);
  let identical = 0;
  let maxDiff = 0;
  for (const [i, line] of py.entries()) {
    const [p, j] = [JSON.parse(line), JSON.parse(js[i])];
    for (const key of ['line', 'id', 'text']) assert.equal(j[key], p[key], `row ${i + 1}: ${key}`);
    const strip = ({ line: _l, id: _i, text: _t, ...rest }) => rest;
    maxDiff = Math.max(maxDiff, compareRecords(strip(j), strip(p), `row ${i + 1} (${p.id})`));
    if (js[i] === line) identical += 1;
  }
  console.log(`# CLI: ${py.length} rows with system prompts, ${identical} byte-identical lines, ` +
    `flags/labels/windows/system_tokens_dropped identical on all, max |score diff| ${maxDiff}`);
});

test('errors: empty text and binary files exit 2, a bad artifact exits 3', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'lec-onnx-js-'));
  const binary = path.join(dir, 'data.bin');
  writeFileSync(binary, Buffer.from([0x68, 0x69, 0x00, 0x01, 0xff, 0x0a]));
  let run = cli('classify', '--file', binary);
  assert.equal(run.status, 2);
  assert.match(run.stderr, /looks like a binary file, not text/);
  run = cli('classify', ' ');
  assert.equal(run.status, 2);
  assert.match(run.stderr, /text 1 is empty/);
  const lines = path.join(dir, 'rows.jsonl');
  writeFileSync(lines, '{"text": "hello"}\nnot json\n{"text": "", "system": "x"}\n{"txt": "a"}\n');
  run = cli('classify', '--jsonl', '--on-error', 'skip', '--file', lines);
  assert.equal(run.status, 0, run.stderr);
  const out = run.stdout.trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(out.length, 4);
  assert.equal(out[0].line, 1);
  assert.match(out[1].error, /:2: not valid JSON/);
  assert.match(out[2].error, /:3: no text \(a system prompt alone cannot be classified\)/);
  assert.match(out[3].error, /:4: unknown field 'txt'/);
  run = cli('classify', '--file', lines);
  assert.equal(run.status, 2);
  assert.match(run.stderr, /and 2 more bad rows/);
  run = cli('classify', '--artifact', dir, 'hello');
  assert.equal(run.status, 3);
  assert.match(run.stderr, /has no manifest.json/);
});
