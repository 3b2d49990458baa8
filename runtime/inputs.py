"""Input preparation: text (+ system prompt, + the request a response answers) -> token windows -> graph inputs.

The export side computes its training features with these same functions, so training and serving see
identical tokens.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from .errors import ArtifactError, InputError
from .manifest import InputFormat

MIN_WINDOW_TEXT_TOKENS = 16  # below this a window would hold almost none of the text
REPLACEMENT = "\ufffd"  # what a lone UTF-16 surrogate becomes (docs/artifact-format.md, "Text before tokenising")
SURROGATE = re.compile("[\ud800-\udfff]")
SYSTEM_CUT_MARK = " [...] "  # stands where the middle of an over-long system prompt was cut
GRAPH_INPUTS = ("input_ids", "attention_mask", "token_type_ids", "text_mask")


@dataclass(frozen=True)
class Encoded:
    """A formatted input split into prefix (system prompt, markup), text and suffix: ids and type ids of each."""
    ids: tuple[list[int], list[int], list[int]]
    types: tuple[list[int], list[int], list[int]]
    system_tokens_dropped: int = 0  # cut from the middle of a system prompt too long for the window


def well_formed(text: str) -> str:
    """The text with every lone UTF-16 surrogate replaced by U+FFFD; a surrogate pair becomes the character it
    encodes. JSON may carry a lone surrogate as an escape ("\\ud800") and Python keeps it in a str, but the
    tokenizer refuses it; JavaScript's String.prototype.toWellFormed does exactly this, so a JS port agrees.
    Everything else (NUL and other control characters, U+FEFF, any newline) reaches the tokenizer unchanged."""
    if SURROGATE.search(text) is None:
        return text
    return text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")


def encode_one(tokenizer, *sequences: str, add_special_tokens: bool = True):
    """tokenizer.encode(*sequences), through encode_batch: the same encoding, but encode_batch releases the GIL
    while it runs, and encode does not (a 100,000-character text held every other thread of a server for
    ~50 ms, longer on a busy CPU)."""
    item = sequences[0] if len(sequences) == 1 else tuple(sequences)
    return tokenizer.encode_batch([item], add_special_tokens=add_special_tokens)[0]


def render(template: str, **values: str | None) -> str:
    """Fill {system}, {text}, {prompt} slots. Only the template is scanned, so braces in the values are safe."""
    return re.sub(r"\{(system|text|prompt)\}", lambda m: values.get(m.group(1)) or "", template)


def encode_parts(tokenizer, fmt: InputFormat, text: str, system: str | None = None, role: str = "prompt",
                 prompt: str | None = None) -> Encoded:
    """Token ids (and type ids) of the formatted input, split into prefix, text and suffix.

    Splitting lets long texts be scored in windows that all keep the same prefix (system prompt, chat markup)
    and suffix (generation prompt). Every piece is made well-formed first (lone surrogates -> U+FFFD).
    """
    text, system, prompt = (None if v is None else well_formed(v) for v in (text, system, prompt))
    if fmt.kind == "chat":
        template = {"response": fmt.response_template}.get(role) or (
            fmt.template if system is not None else fmt.template_no_system)
        before, after = template.split("{text}")
        pieces = [render(before, system=system, prompt=prompt), text, render(after, system=system, prompt=prompt)]
        ids = [encode_one(tokenizer, p, add_special_tokens=False).ids if p else [] for p in pieces]
        return Encoded(tuple(ids), tuple([0] * len(i) for i in ids))
    if fmt.kind == "pair":  # encoders: the context (system prompt, or the request a response answers) is segment A
        context = prompt if role == "response" else system
        enc = encode_one(tokenizer, context, text) if context is not None else encode_one(tokenizer, text)
        text_seq = 1 if context is not None else 0
        where = [i for i, s in enumerate(enc.sequence_ids) if s == text_seq]
        start, end = (where[0], where[-1] + 1) if where else (len(enc.ids) - 1, len(enc.ids) - 1)
        cuts = (slice(0, start), slice(start, end), slice(end, None))
        return Encoded(tuple(list(enc.ids[c]) for c in cuts), tuple(list(enc.type_ids[c]) for c in cuts))
    raise ArtifactError(f"unknown input format kind {fmt.kind!r} (expected 'chat' or 'pair')")


def encode_fitted(tokenizer, fmt: InputFormat, text: str, system: str | None, max_length: int,
                  role: str = "prompt", prompt: str | None = None) -> Encoded:
    """encode_parts, with a system prompt too long for the window cut in its middle (start and end kept, the cut
    marked): the text keeps at least half a window, or all of it if shorter. Never refuses a long system prompt."""
    system = None if system is None else well_formed(system)  # cut_middle reads its offsets
    encoded = encode_parts(tokenizer, fmt, text, system, role, prompt)
    if system is None or role == "response":
        return encoded
    text_room = min(max(len(encoded.ids[1]), MIN_WINDOW_TEXT_TOKENS), max_length // 2)
    system_ids = encode_one(tokenizer, system, add_special_tokens=False)
    keep = len(system_ids.ids)
    for _ in range(4):  # the mark and new token boundaries can shift the count a little: recount and retry
        over = len(encoded.ids[0]) + len(encoded.ids[2]) + text_room - max_length
        if over <= 0:
            break
        keep = max(0, keep - over)
        cut = cut_middle(system, system_ids.offsets, keep)
        encoded = encode_parts(tokenizer, fmt, text, cut, role, prompt)
    dropped = len(system_ids.ids) - keep
    return Encoded(encoded.ids, encoded.types, dropped) if dropped else encoded


def cut_middle(system: str, offsets: list[tuple[int, int]], keep: int) -> str:
    """The system prompt with its middle tokens replaced by SYSTEM_CUT_MARK, keeping `keep` tokens (half from the
    start, where the role is set; half from the end, where the latest instructions are)."""
    head, tail = (keep + 1) // 2, keep // 2
    start = system[:offsets[head - 1][1]] if head else ""
    end = system[offsets[len(offsets) - tail][0]:] if tail else ""
    return (start.rstrip() + SYSTEM_CUT_MARK + end.lstrip()).strip()


def window_starts(encoded: Encoded, max_length: int, stride: int) -> tuple[list[int], int]:
    """Where each window's text starts among the text's tokens, and how many text tokens a window holds."""
    (pre, txt, suf) = encoded.ids
    if not txt:
        raise InputError("the text has no tokens this model knows")
    room = max_length - len(pre) - len(suf)
    if room < MIN_WINDOW_TEXT_TOKENS:
        raise InputError(f"the markup takes {len(pre) + len(suf)} of the model's {max_length} tokens, leaving no "
                         "room for the text; use a larger window")
    # stride is the overlap between neighbours; capped at half a window so a long system prompt that leaves
    # little room cannot make windows advance a token at a time.
    overlap = min(stride, room // 2)
    return (list(range(0, len(txt) - overlap, room - overlap)) if len(txt) > room else [0]), room


def windows(encoded: Encoded, max_length: int, stride: int) -> list[tuple[list[int], list[int], int, int]]:
    """The text cut into overlapping windows that each fit max_length with prefix and suffix kept:
    (ids, type_ids, text_start, text_end) per window, where the text's own tokens sit."""
    (pre, txt, suf), (pre_t, txt_t, suf_t) = encoded.ids, encoded.types
    starts, room = window_starts(encoded, max_length, stride)
    return [(pre + txt[s:s + room] + suf, pre_t + txt_t[s:s + room] + suf_t, len(pre),
             len(pre) + len(txt[s:s + room])) for s in starts]


def model_inputs(rows, names=GRAPH_INPUTS) -> dict[str, np.ndarray]:
    """Right-padded graph inputs of windows given as (ids, type_ids, text_start, text_end), only those named;
    text_mask marks the text's own tokens (for text-mean pooling)."""
    width = max(len(r[0]) for r in rows)
    feed = {name: np.zeros((len(rows), width), np.int64) for name in GRAPH_INPUTS}
    for r, (ids, types, start, end) in enumerate(rows):
        feed["input_ids"][r, :len(ids)] = ids
        feed["attention_mask"][r, :len(ids)] = 1
        feed["token_type_ids"][r, :len(ids)] = types
        feed["text_mask"][r, start:end] = 1
    unknown = set(names) - set(GRAPH_INPUTS)
    if unknown:
        raise ArtifactError(f"the graph takes an input this lec-onnx does not know: {sorted(unknown)[0]!r}")
    return {name: feed[name] for name in names}


def fits_one_window(encoded: Encoded, max_length: int) -> bool:
    return sum(len(part) for part in encoded.ids) <= max_length
