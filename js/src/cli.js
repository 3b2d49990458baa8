// `lec-onnx-js classify`: the Python CLI's `lec-onnx classify` (runtime/cli.py, runtime/rows.py) on Node.
// --jsonl writes the same lines as Python, byte for byte (Python's json.dumps spacing and float formatting).
import { readFileSync, writeFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { Classifier, DEFAULT_ARTIFACT, resultRecord, InputError, ArtifactError, ProviderError, LecError }
  from './node.js';
import { pyStrip } from './inputs.js';

export const EXIT = new Map([[InputError, 2], [ArtifactError, 3], [ProviderError, 4]]);
export const MAX_TEXT_CHARS = 1_000_000; // ~250k tokens: past this a "text" is almost surely a wrong file
const JSONL_COLUMNS = new Set(['text', 'system', 'prompt', 'id']);
const INT_KEYS = new Set(['line', 'windows', 'top_window', 'system_tokens_dropped']);

const USAGE = `usage: lec-onnx-js classify [--jsonl] [--system S] [--artifact DIR] TEXT... | --file F | -

Classify texts with a lec-onnx artifact (default: the repository's artifacts/default), as \`lec-onnx classify\`.
  --file, -f FILE       one text a line, or JSONL (text, system, prompt, id) when the name ends in .jsonl/.json
  --file-format F       auto | lines | jsonl
  --system TEXT         the system prompt the texts were sent with (cut in its middle when too long)
  --role prompt|response  --prompt TEXT (with --role response: the request the response answers)
  --artifact, -a DIR    artifact folder
  --task NAME           only this task (repeatable)      --threshold [TASK=]P   decision threshold
  --threads N           onnxruntime intra-op threads     --precision int8|fp32
  --window N            tokens per window                --stride N            overlap of windows
  --jsonl               one JSON object per text         --output, -o FILE     write results atomically
  --on-error fail|skip  bad rows in --file               --max-chars N         refuse longer texts
  --fail-on-flag        exit 1 when anything is flagged
Exit codes: 0 ok, 1 flagged (--fail-on-flag), 2 bad input or usage, 3 bad artifact, 4 provider unavailable.`;

/** A float as Python's repr() writes it (1.0, 0.5, 1e-05, 1.5e-07). */
export function pyFloat(x) {
  if (!Number.isFinite(x)) return x !== x ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, exp] = x.toExponential().split('e');
  const e = Number(exp);
  if (e < -4 || e >= 16) {
    return `${mantissa}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
  }
  const s = String(x);
  return s.includes('.') || s.includes('e') ? s : `${s}.0`;
}

/** json.dumps(value, ensure_ascii=False): ", " and ": " separators; numbers under INT_KEYS are ints, the rest of
 * the numbers in a record are floats (Python's scores). */
export function pyJson(value, key = null) {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') {
    return Number.isInteger(value) && (INT_KEYS.has(key) || key === 'id') ? String(value) : pyFloat(value);
  }
  if (typeof value === 'string') return JSON.stringify(value);
  if (Array.isArray(value)) return `[${value.map((v) => pyJson(v, key)).join(', ')}]`;
  return `{${Object.entries(value).map(([k, v]) => `${JSON.stringify(k)}: ${pyJson(v, k)}`).join(', ')}}`;
}

/** Rows of a text file (one text a line) or JSONL (text, system, prompt, id), as runtime/rows.py read_rows. */
export function readRows(source, jsonl, maxChars) {
  let raw;
  try {
    raw = source === '-' ? readFileSync(0) : readFileSync(source);
  } catch (e) {
    throw new InputError(`cannot read ${source}: ${e.code === 'ENOENT' ? 'No such file or directory' : e.message}`);
  }
  const name = source === '-' ? 'stdin' : source;
  if (raw.subarray(0, 8192).includes(0)) throw new InputError(`${name} looks like a binary file, not text`);
  const isJsonl = jsonl ?? /\.(jsonl|json)$/.test(source);
  const decoder = new TextDecoder('utf-8', { fatal: true });
  const rows = [];
  let n = 0;
  for (let start = 0; start <= raw.length;) {
    let end = raw.indexOf(10, start);
    if (end < 0) end = raw.length;
    n += 1;
    let line = raw.subarray(start, end);
    start = end + 1;
    while (line.length && line[line.length - 1] === 13) line = line.subarray(0, line.length - 1);
    if (!line.length || isBlank(line)) continue;
    let text;
    try {
      text = decoder.decode(line);
    } catch {
      rows.push({ line: n, error: `${name}:${n}: invalid UTF-8 at byte ${invalidByte(line)}` });
      continue;
    }
    const row = isJsonl ? jsonlRow(name, n, text) : { line: n, text };
    if (row.error === undefined && [...row.text].length > maxChars) {
      row.error = `${name}:${n}: text of ${[...row.text].length.toLocaleString('en-US')} characters exceeds the ` +
        `limit of ${maxChars.toLocaleString('en-US')} (--max-chars)`;
    }
    rows.push(row);
  }
  if (!rows.length) throw new InputError(`${name} has no text to classify`);
  return rows;
}

// bytes.strip() in Python strips ASCII whitespace only
const isBlank = (bytes) => bytes.every((b) => b === 32 || (b >= 9 && b <= 13));

/** Where Python's UnicodeDecodeError.start would point: the first byte of the first invalid sequence. */
function invalidByte(bytes) {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  for (let i = 0; i < bytes.length; i++) {
    try {
      decoder.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      let lead = i; // a pending lead byte followed only by continuation bytes starts the bad sequence
      while (lead > 0 && i - lead < 3 && (bytes[lead - 1] & 0xc0) === 0x80) lead--;
      if (lead > 0 && bytes[lead - 1] >= 0xc0 && i - lead < utf8Length(bytes[lead - 1]) - 1) return lead - 1;
      return i;
    }
  }
  return bytes.length;
}

const utf8Length = (b) => (b >= 0xf0 ? 4 : b >= 0xe0 ? 3 : 2);

function jsonlRow(name, n, line) {
  let doc;
  try {
    doc = JSON.parse(line);
  } catch (e) {
    return { line: n, error: `${name}:${n}: not valid JSON (${e.message})` };
  }
  if (doc === null || typeof doc !== 'object' || Array.isArray(doc)) {
    return { line: n, error: `${name}:${n}: expected a JSON object with a 'text' field` };
  }
  const unknown = Object.keys(doc).filter((k) => !JSONL_COLUMNS.has(k)).sort();
  if (unknown.length) {
    return { line: n, error: `${name}:${n}: unknown field '${unknown[0]}' (fields: text, system, prompt, id)` };
  }
  if (typeof doc.text !== 'string' || !pyStrip(doc.text)) {
    return { line: n, error: `${name}:${n}: no text` + (doc.system ? ' (a system prompt alone cannot be classified)' : '') };
  }
  for (const key of ['system', 'prompt']) {
    if (doc[key] != null && typeof doc[key] !== 'string') return { line: n, error: `${name}:${n}: '${key}' must be a string` };
  }
  return { line: n, text: doc.text, system: doc.system ?? null, prompt: doc.prompt ?? null, id: doc.id ?? null };
}

function parse(argv) {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      file: { type: 'string', short: 'f' }, 'file-format': { type: 'string', default: 'auto' },
      system: { type: 'string' }, role: { type: 'string', default: 'prompt' }, prompt: { type: 'string' },
      artifact: { type: 'string', short: 'a' }, provider: { type: 'string', default: 'cpu' },
      precision: { type: 'string' }, threads: { type: 'string' }, task: { type: 'string', multiple: true },
      threshold: { type: 'string', multiple: true }, 'batch-size': { type: 'string' }, window: { type: 'string' },
      stride: { type: 'string' }, jsonl: { type: 'boolean' }, output: { type: 'string', short: 'o' },
      'on-error': { type: 'string', default: 'fail' }, 'max-chars': { type: 'string' },
      'fail-on-flag': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  const choice = (name, allowed) => {
    if (!allowed.includes(values[name])) {
      throw new InputError(`argument --${name}: invalid choice: '${values[name]}' (choose from ${allowed.join(', ')})`);
    }
    return values[name];
  };
  const int = (name) => {
    if (values[name] === undefined) return null;
    if (!/^[+-]?\d+$/.test(values[name].trim())) throw new InputError(`argument --${name}: invalid int value: '${values[name]}'`);
    return Number(values[name]);
  };
  const thresholds = (values.threshold || []).map((v) => {
    const at = v.lastIndexOf('=');
    const [task, number] = at < 0 ? [null, v] : [v.slice(0, at), v.slice(at + 1)];
    const p = number.trim() === '' ? NaN : Number(number);
    if (!(p >= 0 && p <= 1)) throw new InputError(`argument --threshold: expected TASK=P or P with P between 0 and 1, got '${v}'`);
    return [task, p];
  });
  choice('file-format', ['auto', 'lines', 'jsonl']);
  choice('role', ['prompt', 'response']);
  choice('on-error', ['fail', 'skip']);
  choice('provider', ['cpu']);
  if (values.precision !== undefined) choice('precision', ['int8', 'fp32']);
  return { ...values, texts: positionals, thresholdList: thresholds, threads: int('threads'), window: int('window'),
    stride: int('stride'), maxChars: int('max-chars') ?? MAX_TEXT_CHARS };
}

export async function classify(args, out) {
  if (args.file && args.texts.length) throw new InputError('give texts or --file, not both');
  if (!args.file && !args.texts.length) throw new InputError('nothing to classify: give a TEXT, --file FILE, or - to read stdin');
  let rows;
  let source;
  if (args.file || (args.texts.length === 1 && args.texts[0] === '-')) {
    source = args.file || '-';
    const format = args['file-format'];
    rows = readRows(source, format === 'jsonl' ? true : format === 'auto' ? null : false, args.maxChars);
  } else {
    source = 'args';
    rows = args.texts.map((text, i) => ({ line: i + 1, text }));
    for (const r of rows) {
      if (!pyStrip(r.text)) throw new InputError(`text ${r.line} is empty`);
      const chars = [...r.text].length;
      if (chars > args.maxChars) {
        throw new InputError(`text ${r.line} has ${chars.toLocaleString('en-US')} characters; the limit is ` +
          `${args.maxChars.toLocaleString('en-US')}`);
      }
    }
  }
  const clf = await Classifier.load(args.artifact ?? DEFAULT_ARTIFACT, { providers: args.provider,
    threads: args.threads, precision: args.precision ?? 'int8', window: args.window, stride: args.stride });
  const tasks = selectedTasks(clf, args);
  const thresholds = {};
  for (const [task, value] of args.thresholdList) {
    for (const t of task === null ? Object.keys(clf.tasks) : [task]) thresholds[t] = value;
  }
  for (const r of rows) { // int8 graphs run one window at a time, so scoring row by row changes no score
    if (r.error !== undefined) continue;
    try {
      [r.result] = await clf.classify([r.text], { system: r.system || args.system || null, role: args.role,
        prompt: r.prompt || args.prompt || null, thresholds });
    } catch (e) {
      if (!(e instanceof InputError)) throw e;
      r.error = source !== 'args' ? `line ${r.line}: ${e.message}` : e.message;
    }
  }
  await clf.release();
  const bad = rows.filter((r) => r.error !== undefined);
  if (bad.length && args['on-error'] === 'fail') {
    throw new InputError(bad[0].error + (bad.length > 1 ? ` (and ${bad.length - 1} more bad rows; --on-error skip ` +
      'writes the good ones)' : ''));
  }
  for (const r of bad) process.stderr.write(`skipped: ${r.error}\n`);
  const text = render(rows, args, tasks, source);
  if (args.output) {
    const tmp = path.join(path.dirname(args.output), `.${path.basename(args.output)}.${process.pid}`);
    writeFileSync(tmp, text);
    renameSync(tmp, args.output);
  } else {
    out.write(text);
  }
  if (bad.length) process.stderr.write(`${bad.length} of ${rows.length} rows skipped\n`);
  const flagged = rows.some((r) => r.error === undefined && tasks.some((t) => r.result[t].flagged));
  return flagged && args['fail-on-flag'] ? 1 : 0;
}

function selectedTasks(clf, args) {
  const fitting = clf.tasksFor(args.role);
  const all = Object.keys(clf.tasks);
  const unknown = [...(args.task || []), ...args.thresholdList.map(([t]) => t).filter(Boolean)]
    .filter((t) => !all.includes(t));
  if (unknown.length) throw new InputError(`unknown task '${unknown[0]}'; this artifact has: ${all.join(', ')}`);
  const roles = (t) => clf.tasks[t].roles.map((r) => `${r}s`).join(' and ');
  const misfit = (args.task || []).filter((t) => !fitting.includes(t));
  if (misfit.length) throw new InputError(`task '${misfit[0]}' applies to ${roles(misfit[0])} only, not to --role ${args.role}`);
  const skipped = all.filter((t) => !fitting.includes(t));
  if (skipped.length && !args.task) {
    process.stderr.write(`note: ${skipped.join(', ')} not scored: ${skipped.length === 1 ? 'it applies' : 'they apply'} ` +
      `to ${roles(skipped[0])} only, not to --role ${args.role}\n`);
  }
  if (!fitting.length) throw new InputError(`no task of this artifact applies to --role ${args.role}`);
  return args.task || fitting;
}

function render(rows, args, tasks, source) {
  const out = [];
  for (const r of rows) {
    if (r.error !== undefined) {
      if (args.jsonl) out.push(pyJson({ line: r.line, id: r.id ?? null, error: r.error }));
      continue;
    }
    const res = Object.fromEntries(tasks.map((t) => [t, r.result[t]]));
    if (args.jsonl) {
      const doc = source !== 'args' ? { line: r.line } : {};
      if (r.id != null) doc.id = r.id;
      doc.text = r.text;
      Object.assign(doc, resultRecord(res));
      out.push(pyJson(doc));
    } else {
      const flag = Object.values(res).some((v) => v.flagged) ? 'FLAGGED' : 'ok';
      const chars = [...r.text];
      const preview = chars.length <= 70 ? r.text : `${chars.slice(0, 67).join('')}...`;
      out.push(`${flag.padEnd(8)} ${preview}`);
      out.push('         ' + Object.entries(res).map(([t, v]) =>
        `${t}: ${v.label} (${v.score.toFixed(3)}${v.windows > 1 ? `, ${v.windows} windows` : ''})`).join('   '));
    }
  }
  return out.join('\n') + (out.length ? '\n' : '');
}

export async function main(argv = process.argv.slice(2), out = process.stdout) {
  try {
    if (argv[0] === '--help' || argv[0] === '-h' || !argv.length) {
      out.write(`${USAGE}\n`);
      return argv.length ? 0 : 2;
    }
    if (argv[0] !== 'classify') throw new InputError(`unknown command '${argv[0]}' (this CLI has: classify)`);
    let args;
    try {
      args = parse(argv.slice(1));
    } catch (e) {
      throw e instanceof LecError ? e : new InputError(e.message);
    }
    if (args.help) {
      out.write(`${USAGE}\n`);
      return 0;
    }
    return await classify(args, out);
  } catch (e) {
    if (!(e instanceof LecError)) throw e;
    process.stderr.write(`lec-onnx-js: error: ${e.message}\n`);
    for (const [cls, code] of EXIT) if (e instanceof cls) return code;
    return 2;
  }
}
