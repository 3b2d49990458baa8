// Input preparation, as runtime/inputs.py: text (+ system prompt, + the request a response answers) -> token
// windows -> graph inputs. `tok` is an @huggingface/tokenizers Tokenizer built from the artifact's tokenizer.json.
import { ArtifactError, InputError } from './errors.js';

export const MIN_WINDOW_TEXT_TOKENS = 16; // below this a window would hold almost none of the text
export const SYSTEM_CUT_MARK = ' [...] '; // stands where the middle of an over-long system prompt was cut
export const GRAPH_INPUTS = ['input_ids', 'attention_mask', 'token_type_ids', 'text_mask'];

// Python's str.strip() whitespace (str.isspace), which is not JavaScript's trim() set.
const PY_SPACE = '\\t\\n\\v\\f\\r\\x1c-\\x1f \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const LEADING = new RegExp(`^[${PY_SPACE}]+`);
const TRAILING = new RegExp(`[${PY_SPACE}]+$`);
export const pyLstrip = (s) => s.replace(LEADING, '');
export const pyRstrip = (s) => s.replace(TRAILING, '');
export const pyStrip = (s) => pyLstrip(pyRstrip(s));

/** Lone UTF-16 surrogates (possible in JS strings, not in UTF-8) become U+FFFD before tokenising. */
export function wellFormed(s) {
  if (s == null) return s;
  if (typeof s.toWellFormed === 'function') return s.toWellFormed();
  return s.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

/** Fill {system}, {text}, {prompt} slots. Only the template is scanned, so braces in the values are safe. */
export function render(template, values) {
  return template.replace(/\{(system|text|prompt)\}/g, (_, key) => values[key] || '');
}

/**
 * Make tokenizers.js lowercase as Hugging Face tokenizers (Rust) does: one character at a time. JavaScript's
 * toLowerCase() on a whole string writes a word-final capital sigma as ς, Rust's char::to_lowercase as σ.
 * BertNormalizer and Lowercase work character by character otherwise, so applying them per code point is exact.
 */
export function lowercasePerCharacter(tok) {
  const type = tok.normalizer?.config?.type;
  const lowercases = (type === 'BertNormalizer' && tok.normalizer.config.lowercase !== false) || type === 'Lowercase';
  if (!lowercases) return tok;
  const whole = tok.normalizer;
  const perChar = (text) => Array.from(text, (ch) => whole(ch)).join('');
  perChar.config = whole.config;
  tok.normalizer = perChar;
  return tok;
}

/** Token strings and ids of a text without special tokens (tokenizer.encode(text, add_special_tokens=False)). */
export function tokenize(tok, text) {
  const enc = tok.encode(text, { add_special_tokens: false });
  return { ids: enc.ids, tokens: enc.tokens };
}

/**
 * {ids, types} of the formatted input, each split into [prefix, text, suffix], and systemTokensDropped = 0.
 * Pair format (encoders): the tokenizer's own post-processor lays out the segments; the text's segment is found
 * by running the post-processor on placeholder tokens (what Python reads from `sequence_ids`).
 */
export function encodeParts(tok, fmt, text, system = null, role = 'prompt', prompt = null) {
  if (fmt.kind === 'chat') {
    const template = (role === 'response' && fmt.response_template) ||
      (system != null ? fmt.template : fmt.template_no_system);
    const [before, after] = template.split('{text}');
    const pieces = [render(before, { system, prompt }), text, render(after, { system, prompt })];
    const ids = pieces.map((p) => (p ? tokenize(tok, p).ids : []));
    return { ids, types: ids.map((i) => i.map(() => 0)), systemTokensDropped: 0 };
  }
  if (fmt.kind === 'pair') {
    const context = role === 'response' ? prompt : system;
    const a = context != null ? tokenize(tok, context).ids : null;
    const b = tokenize(tok, text).ids;
    const mark = (seq, list) => list.map((_, i) => `\u0000lec:${seq}:${i}`);
    const laid = tok.post_processor
      ? tok.post_processor(a ? mark('a', a) : mark('b', b), a ? mark('b', b) : null, true)
      : { tokens: [...(a ? mark('a', a) : []), ...mark('b', b)] };
    const ids = [];
    const where = [];
    laid.tokens.forEach((t, i) => {
      const m = /^\u0000lec:([ab]):(\d+)$/.exec(t);
      if (m) {
        ids.push((m[1] === 'a' ? a : b)[Number(m[2])]);
        if (m[1] === 'b') where.push(i);
      } else {
        const id = tok.token_to_id(t);
        if (id === undefined) throw new ArtifactError(`the tokenizer's post-processor adds '${t}', which has no id`);
        ids.push(id);
      }
    });
    // RobertaProcessing gives both segments type 0 in Hugging Face tokenizers (tokenizers.js says 1 for the pair).
    const roberta = tok.post_processor?.config?.type === 'RobertaProcessing';
    const types = !roberta && laid.token_type_ids ? laid.token_type_ids : ids.map(() => 0);
    const [start, end] = where.length ? [where[0], where[where.length - 1] + 1] : [ids.length - 1, ids.length - 1];
    const cut = (list) => [list.slice(0, start), list.slice(start, end), list.slice(end)];
    return { ids: cut(ids), types: cut(types), systemTokensDropped: 0 };
  }
  throw new ArtifactError(`unknown input format kind '${fmt.kind}' (expected 'chat' or 'pair')`);
}

/**
 * encodeParts, with a system prompt too long for the window cut in its middle (start and end kept, the cut
 * marked): the text keeps at least half a window, or all of it if shorter. Never refuses a long system prompt.
 */
export function encodeFitted(tok, fmt, text, system, maxLength, role = 'prompt', prompt = null) {
  let encoded = encodeParts(tok, fmt, text, system, role, prompt);
  if (system == null || role === 'response') return encoded;
  const textRoom = Math.min(Math.max(encoded.ids[1].length, MIN_WINDOW_TEXT_TOKENS), Math.floor(maxLength / 2));
  let offsets = null;
  let total = null;
  let keep = null;
  for (let round = 0; round < 4; round++) { // the mark and new token boundaries can shift the count: retry
    const over = encoded.ids[0].length + encoded.ids[2].length + textRoom - maxLength;
    if (over <= 0) break;
    if (offsets === null) {
      offsets = tokenOffsets(tok, system);
      total = keep = offsets.length;
    }
    keep = Math.max(0, keep - over);
    encoded = encodeParts(tok, fmt, text, cutMiddle(system, offsets, keep), role, prompt);
  }
  const dropped = offsets === null ? 0 : total - keep;
  return { ...encoded, systemTokensDropped: dropped };
}

/**
 * The system prompt with its middle tokens replaced by SYSTEM_CUT_MARK, keeping `keep` tokens (half from the
 * start, where the role is set; half from the end, where the latest instructions are). offsets: [start, end) of
 * each token in UTF-16 units of `system` (see tokenOffsets).
 */
export function cutMiddle(system, offsets, keep) {
  const head = Math.floor((keep + 1) / 2);
  const tail = Math.floor(keep / 2);
  const start = head ? system.slice(0, offsets[head - 1][1]) : '';
  const end = tail ? system.slice(offsets[offsets.length - tail][0]) : '';
  return pyStrip(pyRstrip(start) + SYSTEM_CUT_MARK + pyLstrip(end));
}

/**
 * [start, end) in UTF-16 units of every token of tokenize(tok, text): what Python's `encoding.offsets` gives,
 * which tokenizers.js does not. Follows tokenizers.js's own pipeline (added tokens, normaliser, pre-tokeniser,
 * model), normalising character by character to keep the alignment. Implemented for WordPiece models (the
 * encoders' tokenizers); a character the normaliser drops belongs to no token, which can only move a cut over
 * characters that produce no token. Checked against the tokenizer's own tokens; throws if they differ.
 */
export function tokenOffsets(tok, text) {
  const prefix = tok.model?.config?.continuing_subword_prefix;
  if (tok.model?.config?.type !== 'WordPiece' && !(prefix && tok.model?.config?.unk_token)) {
    throw new ArtifactError('cutting a long system prompt needs token offsets, implemented in JS for WordPiece ' +
      `tokenizers only (this one is ${tok.model?.config?.type})`);
  }
  const norm = (s) => (tok.normalizer ? tok.normalizer(s) : s);
  const tokens = [];
  const offsets = [];
  let pos = 0;
  const sections = tok.splitter_unnormalized.split(text);
  for (const [sectionIndex, section] of sections.entries()) {
    const base = pos;
    pos += section.length;
    if (section.length === 0) continue;
    if (tok.added_tokens_map.has(section)) {
      tokens.push(section);
      offsets.push([base, base + section.length]);
      continue;
    }
    // normalise character by character: origin[k] = [start, end) of the character normalised unit k came from
    let normalized = '';
    const origin = [];
    for (let i = 0; i < section.length;) {
      const cp = section.codePointAt(i);
      const width = cp > 0xffff ? 2 : 1;
      const piece = norm(section.slice(i, i + width));
      for (let k = 0; k < piece.length; k++) origin.push([base + i, base + i + width]);
      normalized += piece;
      i += width;
    }
    if (normalized !== norm(section)) {
      throw new ArtifactError('token offsets: this normaliser is not character by character');
    }
    let at = 0;
    for (const sub of tok.splitter_normalized.split(normalized)) {
      const subStart = at;
      at += sub.length;
      if (sub.length === 0) continue;
      const span = (s, e) => [origin[s][0], origin[e - 1][1]];
      if (tok.added_tokens_map.has(sub)) {
        tokens.push(sub);
        offsets.push(span(subStart, subStart + sub.length));
        continue;
      }
      const words = tok.pre_tokenizer ? tok.pre_tokenizer(sub, { section_index: sectionIndex }) : [sub];
      let cursor = 0;
      for (const word of words) {
        const w = sub.indexOf(word, cursor);
        if (w < 0) throw new ArtifactError('token offsets: a pre-tokenised word is not in the text');
        cursor = w + word.length;
        const pieces = tok.model([word]);
        let c = subStart + w;
        pieces.forEach((piece, i) => {
          tokens.push(piece);
          if (piece === tok.model.unk_token && pieces.length === 1) {
            offsets.push(span(subStart + w, subStart + w + word.length));
            return;
          }
          const length = i > 0 && piece.startsWith(prefix) ? piece.length - prefix.length : piece.length;
          offsets.push(span(c, c + length));
          c += length;
        });
      }
    }
  }
  const expected = tokenize(tok, text).tokens;
  if (expected.length !== tokens.length || expected.some((t, i) => t !== tokens[i])) {
    throw new ArtifactError('token offsets: the tokens found do not match the tokenizer\'s');
  }
  return offsets;
}

/**
 * The text cut into overlapping windows that each fit maxLength with prefix and suffix kept:
 * {ids, types, start, end} per window, where the text's own tokens sit.
 */
export function windows(encoded, maxLength, stride) {
  const [pre, txt, suf] = encoded.ids;
  const [preT, txtT, sufT] = encoded.types;
  if (!txt.length) throw new InputError('the text has no tokens this model knows');
  const room = maxLength - pre.length - suf.length;
  if (room < MIN_WINDOW_TEXT_TOKENS) {
    throw new InputError(`the markup takes ${pre.length + suf.length} of the model's ${maxLength} tokens, leaving ` +
      'no room for the text; use a larger window');
  }
  // stride is the overlap between neighbours, capped at half a window (a long system prompt that leaves little
  // room cannot make windows advance a token at a time)
  const overlap = Math.min(stride, Math.floor(room / 2));
  const starts = [];
  if (txt.length > room) for (let s = 0; s < txt.length - overlap; s += room - overlap) starts.push(s);
  else starts.push(0);
  return starts.map((s) => {
    const piece = txt.slice(s, s + room);
    return { ids: [...pre, ...piece, ...suf], types: [...preT, ...txtT.slice(s, s + room), ...sufT],
      start: pre.length, end: pre.length + piece.length };
  });
}

/** Graph inputs of one window (batch of 1), only those the graph names: {name: {data: BigInt64Array, dims}}. */
export function modelInputs(win, names = GRAPH_INPUTS) {
  const unknown = names.filter((n) => !GRAPH_INPUTS.includes(n));
  if (unknown.length) throw new ArtifactError(`the graph takes an input this lec-onnx does not know: '${unknown[0]}'`);
  const n = win.ids.length;
  const feed = {
    input_ids: BigInt64Array.from(win.ids, BigInt),
    attention_mask: new BigInt64Array(n).fill(1n),
    token_type_ids: BigInt64Array.from(win.types, BigInt),
    text_mask: new BigInt64Array(n).map((_, i) => (i >= win.start && i < win.end ? 1n : 0n)),
  };
  return Object.fromEntries(names.map((name) => [name, { data: feed[name], dims: [1, n] }]));
}

export function fitsOneWindow(encoded, maxLength) {
  return encoded.ids.reduce((sum, part) => sum + part.length, 0) <= maxLength;
}
