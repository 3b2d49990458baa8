"""Classify while generating: probes read the generating model's own layer states, no second model.

A forward hook on decoder layer k hands every new position's hidden state to a reader exactly once (the whole
prompt at prefill, one token per cached step). Two readers:

- `PromptCheck`: a prompt-side LEC probe (e.g. content safety at layer j) scored once, at prefill.
- `ResponseGuard`: a response-side LEC probe scored after every generated token on the running mean (or an
  exponential moving average) of the answer's states; a decision rule (threshold, consecutive flagged steps)
  turns the scores into a violation. `GuardStop` is the `transformers` StoppingCriteria that acts on it.

"The answer's states" are the states that produced the answer tokens: the last prompt position (it predicts the
first answer token) and each answer token but the newest. After t generated tokens the guard has read t states,
so a stop after t tokens used only what the model had computed by then.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field

import torch

from lec_onnx.errors import InputError

from lec_onnx.export.models import decoder_layers
from lec_onnx.export.probe import LECProbe, negative_label_of

GUARD_POOLINGS = ("answer-mean", "answer-ema")
VIOLATION_ACTIONS = ("stop", "refuse", "steer", "monitor")
REFUSAL_TEXT = "I'm sorry, but I can't help with that."


class LayerTap:
    """Forward hook on decoder layer `layer` (1-based, as in probes: the output of the layer-th block, which is
    hidden_states[layer] of HF models). Calls reader(states [batch, new, hidden], first) once per forward pass with
    the positions not seen before; `cache_position` tells a re-run position (generation without a KV cache) from a
    new one."""

    def __init__(self, model: torch.nn.Module, layer: int, reader):
        layers = decoder_layers(model.base_model if hasattr(model, "base_model") else model)
        if not 1 <= layer <= len(layers):
            raise InputError(f"layer must be between 1 and {len(layers)}, got {layer}")
        self.module = layers[layer - 1]
        self.reader = reader
        self.seen = 0
        self.handle = None

    def hook(self, module, args, kwargs, output):
        states = output[0] if isinstance(output, tuple) else output
        positions = kwargs.get("cache_position")
        first = self.seen == 0
        if positions is not None:
            fresh = positions >= self.seen
            if not bool(fresh.any()):
                return None
            states = states[:, fresh]
            self.seen = int(positions.max()) + 1
        else:
            self.seen += states.shape[1]
        self.reader(states.detach(), first)
        return None

    @contextlib.contextmanager
    def attached(self):
        self.seen = 0
        self.handle = self.module.register_forward_hook(self.hook, with_kwargs=True)
        try:
            yield self
        finally:
            self.handle.remove()
            self.handle = None


class ProbeScorer:
    """An LECProbe as torch ops: score = P(any label but the harmless one) for a batch of pooled states."""

    def __init__(self, probe: LECProbe):
        labels = [str(c) for c in probe.classes_]
        self.negative = labels.index(negative_label_of(labels))
        self.weight = torch.tensor(probe.coef_, dtype=torch.float32)
        self.bias = torch.tensor(probe.intercept_, dtype=torch.float32)

    def __call__(self, pooled: torch.Tensor) -> torch.Tensor:
        z = pooled.float() @ self.weight.T + self.bias
        if z.shape[1] == 1:  # binary: one logit for the second label
            p = torch.sigmoid(z[:, 0])
            return 1 - p if self.negative == 1 else p
        return 1 - torch.softmax(z, 1)[:, self.negative]


@dataclass
class GuardRule:
    """How running scores become a violation: `patience` consecutive steps with score >= threshold, not before
    `min_tokens` answer tokens. `pooling` answer-mean or answer-ema (weight `alpha` on the newest state).
    `prompt_floor`: answers to prompts whose prompt score (the guard's prompt probe on the first state it reads) is
    below it never fire: a risky topic in a harmless request does not end a helpful answer."""
    threshold: float = 0.5
    patience: int = 2
    min_tokens: int = 1
    pooling: str = "answer-mean"
    alpha: float = 0.1
    prompt_floor: float = 0.0

    def __post_init__(self):
        if self.pooling not in GUARD_POOLINGS:
            raise InputError(f"guard pooling must be one of {', '.join(GUARD_POOLINGS)}, got {self.pooling!r}")
        if not 0 <= self.threshold <= 1 or self.patience < 1 or self.min_tokens < 1 or not 0 < self.alpha <= 1 \
                or not 0 <= self.prompt_floor <= 1:
            raise InputError("guard rule: threshold and prompt_floor in [0, 1], patience >= 1, min_tokens >= 1, "
                             "alpha in (0, 1]")


def running_pool(states: torch.Tensor, pooling: str, alpha: float) -> torch.Tensor:
    """Running pooled state after each position of states [batch, steps, hidden] -> [batch, steps, hidden]: the
    guard's pooling, used for training rows as well as while generating."""
    if pooling == "answer-mean":
        steps = torch.arange(1, states.shape[1] + 1, dtype=states.dtype)
        return states.cumsum(1) / steps[None, :, None]
    out = torch.empty_like(states)
    ema = states[:, 0]
    for t in range(states.shape[1]):
        ema = states[:, t] if t == 0 else (1 - alpha) * ema + alpha * states[:, t]
        out[:, t] = ema
    return out


@dataclass
class ResponseGuard:
    """Reads answer states from a LayerTap, keeps the pooled state per row, scores it every step. prompt_probe
    scores the first state read (the last prompt position: the `gen-last` state of the prompt) for the rule's
    prompt_floor."""
    probe: LECProbe
    layer: int
    rule: GuardRule = field(default_factory=GuardRule)
    prompt_probe: LECProbe | None = None

    def __post_init__(self):
        if self.rule.prompt_floor > 0 and self.prompt_probe is None:
            raise InputError("a guard rule with a prompt_floor needs the guard's prompt probe")
        self.scorer = ProbeScorer(self.probe)
        self.prompt_scorer = ProbeScorer(self.prompt_probe) if self.prompt_probe is not None else None
        self.reset(0)

    def reset(self, batch: int) -> None:
        self.steps = 0
        self.pooled = None
        self.streak = torch.zeros(batch, dtype=torch.long)
        self.violated_at = torch.zeros(batch, dtype=torch.long)  # answer tokens at the violation, 0 = none
        self.scores: list[torch.Tensor] = []
        self.prompt_scores: torch.Tensor | None = None

    def __call__(self, states: torch.Tensor, first: bool) -> None:
        if first:  # prefill: only the last prompt position (left padding keeps it real) produced an answer token
            self.reset(states.shape[0])
            states = states[:, -1:]
        for t in range(states.shape[1]):
            self._step(states[:, t].float())

    def _step(self, state: torch.Tensor) -> None:
        self.steps += 1
        if self.pooled is None:
            self.pooled = state.clone()
            if self.prompt_scorer is not None:
                self.prompt_scores = self.prompt_scorer(state)
        elif self.rule.pooling == "answer-mean":
            self.pooled += (state - self.pooled) / self.steps
        else:
            self.pooled = (1 - self.rule.alpha) * self.pooled + self.rule.alpha * state
        score = self.scorer(self.pooled)
        self.scores.append(score)
        flagged = (score >= self.rule.threshold) & (self.steps >= self.rule.min_tokens)
        if self.prompt_scores is not None:
            flagged &= self.prompt_scores >= self.rule.prompt_floor
        self.streak = torch.where(flagged, self.streak + 1, torch.zeros_like(self.streak))
        fresh = (self.streak >= self.rule.patience) & (self.violated_at == 0)
        self.violated_at[fresh] = self.steps

    @property
    def violated(self) -> torch.Tensor:
        return self.violated_at > 0


def pool_prompt_states(states: torch.Tensor, mask: torch.Tensor | None, pooling: str) -> torch.Tensor:
    """[batch, positions, hidden] -> [batch, hidden]: the last position ("last"), or the mean over the positions
    `mask` keeps ("mean"; left padding out)."""
    if pooling == "last":
        return states[:, -1]
    mask = (mask if mask is not None else torch.ones(states.shape[:2])).to(states.dtype)
    return (states * mask[..., None]).sum(1) / mask.sum(1, keepdim=True)


class PromptCheck:
    """A prompt-side probe read at prefill from the generating model's layer `layer`. Poolings: `last` / `mean`,
    over the formatted prompt without its last `tail` tokens (the generation prompt, when the probe was trained
    without it). `mask` (left-padded attention mask) must be set before the prefill."""

    def __init__(self, probe: LECProbe, layer: int, pooling: str, threshold: float = 0.5, tail: int = 0):
        if pooling not in ("last", "mean"):
            raise InputError(f"a prompt check reads pooling 'last' or 'mean' at prefill, not {pooling!r}")
        self.scorer, self.layer, self.pooling, self.threshold, self.tail = ProbeScorer(probe), layer, pooling, \
            threshold, tail
        self.mask: torch.Tensor | None = None
        self.scores: torch.Tensor | None = None

    def __call__(self, states: torch.Tensor, first: bool) -> None:
        if not first:
            return
        n = states.shape[1] - self.tail
        mask = self.mask[:, :n] if self.mask is not None else None
        self.scores = self.scorer(pool_prompt_states(states[:, :n], mask, self.pooling))

    @property
    def flagged(self) -> torch.Tensor:
        return self.scores >= self.threshold


class StopForward(Exception):
    """Raised by a hook to skip the layers above the one read (teacher-forced feature extraction)."""


def layer_states(model: torch.nn.Module, layer: int, input_ids: torch.Tensor,
                 attention_mask: torch.Tensor | None = None) -> torch.Tensor:
    """The output of decoder layer `layer` for input_ids [batch, seq]; the layers above it are not run."""
    got = []

    def keep(states, first):
        got.append(states)
        raise StopForward

    tap = LayerTap(model, layer, keep)
    with torch.inference_mode(), tap.attached(), contextlib.suppress(StopForward):
        model(input_ids=input_ids, attention_mask=attention_mask, position_ids=positions(attention_mask),
              use_cache=False)
    return got[0]


def positions(attention_mask: torch.Tensor | None) -> torch.Tensor | None:
    """Position ids that follow a left-padded mask (as `generate` computes them)."""
    return None if attention_mask is None else (attention_mask.long().cumsum(-1) - 1).clamp(min=0)


def chat_ids(tokenizer, prompt: str, system: str | None = None, generation_prompt: bool = True) -> list[int]:
    messages = ([{"role": "system", "content": system}] if system else []) + [{"role": "user", "content": prompt}]
    if not tokenizer.chat_template:
        text = (system + "\n\n" if system else "") + prompt + ("\n\n" if generation_prompt else "")
        return tokenizer(text)["input_ids"]
    return list(tokenizer.apply_chat_template(messages, tokenize=True, add_generation_prompt=generation_prompt))


def answer_states(model: torch.nn.Module, layer: int, prompt_ids: list[int], answer_ids: list[int]) -> torch.Tensor:
    """Teacher-forced: the states that produced each answer token [len(answer), hidden], the same states the guard
    reads while generating (last prompt position, then every answer token but the last)."""
    ids = torch.tensor([prompt_ids + answer_ids[:-1]])
    return layer_states(model, layer, ids)[0, len(prompt_ids) - 1:]


try:  # the StoppingCriteria base class; transformers is an export-side dependency
    from transformers import StoppingCriteria, StoppingCriteriaList
except ImportError:  # pragma: no cover
    StoppingCriteria, StoppingCriteriaList = object, list


class GuardStop(StoppingCriteria):
    """Acts on the guard's violations after each generated token: `stop` and `refuse` end the row, `steer` switches
    on the steering hook for the row from the next token on, `monitor` only records."""

    def __init__(self, guard: ResponseGuard, action: str = "stop", steering=None):
        if action not in VIOLATION_ACTIONS:
            raise InputError(f"on-violation must be one of {', '.join(VIOLATION_ACTIONS)}, got {action!r}")
        if action == "steer" and steering is None:
            raise InputError("--on-violation steer needs a steering latent (--steer LATENT=VALUE --sae DIR)")
        self.guard, self.action, self.steering = guard, action, steering

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        violated = self.guard.violated.to(input_ids.device)
        if self.action == "steer":
            self.steering.active |= violated
        if self.action in ("stop", "refuse"):
            return violated.clone()
        return torch.zeros(input_ids.shape[0], dtype=torch.bool, device=input_ids.device)


@dataclass
class Generation:
    """One answer. tokens: answer tokens generated; violation_at: answer tokens when the guard fired (0: never);
    action: what was done (None, 'stopped', 'refused', 'steered'); prompt_score: the prompt check's score;
    guard_prompt_score: the guard's own prompt score (for its rule's prompt_floor)."""
    prompt: str
    text: str
    token_ids: list[int]
    violation_at: int = 0
    action: str | None = None
    prompt_score: float | None = None
    guard_scores: list[float] = field(default_factory=list)
    guard_prompt_score: float | None = None

    @property
    def tokens(self) -> int:
        return len(self.token_ids)


class PromptStop(StoppingCriteria):
    """Ends the rows the prompt check flagged right after prefill (`stop` / `refuse` without a steering latent)."""

    def __init__(self, check: PromptCheck):
        self.check = check

    def __call__(self, input_ids, scores, **kwargs) -> torch.Tensor:
        return self.check.flagged.to(input_ids.device).clone()


def generation_tail(tokenizer) -> int:
    """Tokens the generation prompt adds after the user turn (e.g. `<|im_start|>assistant\\n`)."""
    with_prompt = chat_ids(tokenizer, "x", generation_prompt=True)
    return len(with_prompt) - len(chat_ids(tokenizer, "x", generation_prompt=False))


def padding_id(tokenizer) -> int:
    """The pad token, or end-of-sequence for tokenizers without one (most chat decoders)."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id


def left_pad(rows: list[list[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    width = max(len(r) for r in rows)
    ids = torch.tensor([[pad_id] * (width - len(r)) + r for r in rows])
    mask = torch.tensor([[0] * (width - len(r)) + [1] * len(r) for r in rows])
    return ids, mask


def plan_readers(guard, on_violation, prompt_check, steering):
    """Which readers and stopping criteria a generation needs; the steering's gate. Validates the combination."""
    if steering is not None and prompt_check is not None and prompt_check.layer > steering.layer:
        raise InputError(f"the gate probe (layer {prompt_check.layer}) must sit at or below the steering layer "
                         f"({steering.layer}): one prefill pass decides")
    criteria = []
    if guard is not None:
        criteria.append(GuardStop(guard, on_violation, steering))
    if steering is not None:
        if prompt_check is not None:
            steering.gate = lambda: prompt_check.flagged
        else:  # without a gate: always on, unless the guard switches it on
            steering.gate = None
            steering.always = not (guard is not None and on_violation == "steer")
    elif prompt_check is not None and on_violation in ("stop", "refuse"):
        criteria.append(PromptStop(prompt_check))
    return criteria


@contextlib.contextmanager
def readers_attached(model, mask: torch.Tensor, guard=None, prompt_check=None, steering=None):
    """The hooks of one batch, in the order they must run on a shared layer: prompt check, guard, steering."""
    with contextlib.ExitStack() as stack:
        if prompt_check is not None:
            prompt_check.mask = mask
            stack.enter_context(LayerTap(model, prompt_check.layer, prompt_check).attached())
        if guard is not None:
            guard.reset(mask.shape[0])
            stack.enter_context(LayerTap(model, guard.layer, guard).attached())
        if steering is not None:
            stack.enter_context(steering.attached(mask.shape[0]))
        yield


def generate(model, tokenizer, prompts: list[str], systems: list[str | None] | None = None,
             guard: ResponseGuard | None = None, on_violation: str = "stop", prompt_check: PromptCheck | None = None,
             steering=None, max_new_tokens: int = 64, batch_size: int = 1,
             refusal_text: str = REFUSAL_TEXT, **generate_kwargs) -> list[Generation]:
    """Greedy chat generation with the answer-side guard, the prompt-side check and steering, in any combination.
    model: a HF *ForCausalLM. Without guard, check and steering this is plain `model.generate`."""
    systems = systems or [None] * len(prompts)
    criteria = plan_readers(guard, on_violation, prompt_check, steering)
    pad_id = padding_id(tokenizer)
    results = []
    for start in range(0, len(prompts), batch_size):
        batch = list(range(start, min(start + batch_size, len(prompts))))
        ids, mask = left_pad([chat_ids(tokenizer, prompts[i], systems[i]) for i in batch], pad_id)
        with readers_attached(model, mask, guard, prompt_check, steering):
            with torch.inference_mode():
                out = model.generate(input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens,
                                     do_sample=False, pad_token_id=pad_id,
                                     stopping_criteria=StoppingCriteriaList(criteria), **generate_kwargs)
        for row, i in enumerate(batch):
            results.append(_result(tokenizer, prompts[i], out[row, ids.shape[1]:], row, guard, on_violation,
                                   prompt_check, steering, refusal_text, pad_id))
    return results


def _result(tokenizer, prompt, new_ids, row, guard, on_violation, prompt_check, steering, refusal_text, pad_id):
    token_ids = new_ids.tolist()
    eos = {pad_id, tokenizer.eos_token_id}
    steps = next((n + 1 for n, t in enumerate(token_ids) if t in eos), len(token_ids))  # real steps of this row
    token_ids = token_ids[:steps]
    while token_ids and token_ids[-1] in eos:
        token_ids.pop()
    gen = Generation(prompt, tokenizer.decode(token_ids, skip_special_tokens=True), token_ids)
    flagged_prompt = prompt_check is not None and bool(prompt_check.flagged[row])
    if prompt_check is not None:
        gen.prompt_score = float(prompt_check.scores[row])
    if guard is not None:
        at = int(guard.violated_at[row])
        gen.violation_at = at if at <= steps else 0  # later steps only fed padding to a finished row
        gen.guard_scores = [round(float(s[row]), 4) for s in guard.scores[:steps]]
        if guard.prompt_scores is not None:
            gen.guard_prompt_score = round(float(guard.prompt_scores[row]), 4)
    violated = gen.violation_at > 0 or (flagged_prompt and steering is None)
    if violated and on_violation in ("stop", "refuse"):
        gen.action = "refused" if on_violation == "refuse" else "stopped"
        if on_violation == "refuse":
            gen.text = refusal_text
    elif steering is not None and bool(steering.active[row]):
        gen.action = "steered"
    return gen


def first_violation(scores, rule: GuardRule, prompt_score: float | None = None) -> int:
    """Offline twin of ResponseGuard's decision: answer tokens at the first violation of a score sequence, 0 if
    none (for choosing a rule on recorded or teacher-forced scores). prompt_score: the guard's prompt score, needed
    when the rule has a prompt_floor."""
    if rule.prompt_floor > 0:
        if prompt_score is None:
            raise InputError("a rule with a prompt_floor needs the prompt score")
        if prompt_score < rule.prompt_floor:
            return 0
    streak = 0
    for step, score in enumerate(scores, 1):
        streak = streak + 1 if score >= rule.threshold and step >= rule.min_tokens else 0
        if streak >= rule.patience:
            return step
    return 0


def load_prompt_check(path, tokenizer, threshold: float | None = None) -> PromptCheck:
    """A PromptCheck from a probe trained by `lec-onnx train` on this decoder (pooling mean / last, or gen-mean /
    gen-last: then the generation prompt is part of what it reads), or the prompt probe inside an answer guard's
    response probe file (so one file gates steering and guards the answer)."""
    from lec_onnx.export.probe import load_probe, probe_from_dict
    probe, meta = load_probe(path)
    if meta.get("role") == "response":
        if not meta.get("prompt_probe"):
            raise InputError(f"{path} is a response probe without a prompt probe; the gate needs a prompt-side probe")
        # the answer guard's own prompt probe: it reads the last prompt position, generation prompt included
        return PromptCheck(probe_from_dict(meta["prompt_probe"]), int(meta["layer"]), "last",
                           0.5 if threshold is None else threshold)
    fmt = meta.get("input_format") or {}
    if fmt.get("kind") != "chat":
        raise InputError(f"{path} was not trained on a chat decoder's states; the gate reads the generating model")
    tail = 0 if fmt.get("generation_prompt") else generation_tail(tokenizer)
    return PromptCheck(probe, int(meta["layer"]), meta.get("pooling", "mean"),
                       meta.get("threshold", 0.5) if threshold is None else threshold, tail)
