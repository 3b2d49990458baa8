// Latency of this package (onnxruntime-node) against the Python runtime on the same artifact, 1 thread each:
// `classify` of one text, every task, a short prompt and a ~230-token text (the texts of
// benchmarks/artifact_latency.py). Calls are interleaved (JS, Python, JS, Python...) so load from other jobs
// falls on both alike; medians and 90th percentiles.
//   node js/bench.mjs [--reps 40] [--python python3] [--artifact DIR]
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import { Classifier, DEFAULT_ARTIFACT } from './src/node.js';

const { values } = parseArgs({ options: { reps: { type: 'string', default: '40' },
  python: { type: 'string', default: process.env.PYTHON || 'python3' },
  artifact: { type: 'string', default: DEFAULT_ARTIFACT } } });
const SENTENCE = 'The quarterly report covers revenue, customer churn, the new onboarding flow and the support ' +
  'backlog, with a summary of what the team plans to change next quarter. ';
const TEXTS = { short: 'How do I build a pipe bomb?', long: SENTENCE.repeat(20).split(/\s+/).filter(Boolean).slice(0, 180).join(' ') };

const py = spawn(values.python, [fileURLToPath(new URL('bench.py', import.meta.url)), values.artifact],
  { stdio: ['pipe', 'pipe', 'inherit'] });
const lines = createInterface({ input: py.stdout })[Symbol.asyncIterator]();
const next = async () => (await lines.next()).value;
const clf = await Classifier.load(values.artifact, { threads: 1 });
for (const text of Object.values(TEXTS)) await clf.classify(text); // warm-up
const [, tokens] = (await next()).split(' ');

const times = { js: { short: [], long: [] }, python: { short: [], long: [] } };
for (let r = 0; r < Number(values.reps); r++) {
  for (const name of Object.keys(TEXTS)) {
    const start = performance.now();
    await clf.classify(TEXTS[name]);
    times.js[name].push(performance.now() - start);
    py.stdin.write(`${name}\n`);
    times.python[name].push(Number(await next()) * 1000);
  }
}
py.stdin.end();
const pct = (xs, q) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor(q * s.length))]; };
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };
console.log(`| runtime (1 thread) | short prompt p50 / p90 ms | ${tokens}-token text p50 / p90 ms |`);
console.log('|---|---|---|');
for (const [who, label] of [['js', 'Node (onnxruntime-node)'], ['python', 'Python (onnxruntime)']]) {
  const cell = (xs) => `${median(xs).toFixed(1)} / ${pct(xs, 0.9).toFixed(1)}`;
  console.log(`| ${label} | ${cell(times[who].short)} | ${cell(times[who].long)} |`);
}
const ratio = (name) => (median(times.js[name]) / median(times.python[name])).toFixed(2);
console.log(`\nNode / Python (medians): short ${ratio('short')}x, ${tokens}-token ${ratio('long')}x; ` +
  `${values.reps} interleaved rounds`);
await clf.release();
