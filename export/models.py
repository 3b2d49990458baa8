"""Load a transformer (hub id, local folder or GGUF file) and describe how it reads its input."""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import torch
from tokenizers import Tokenizer

from lec_onnx.errors import InputError
from lec_onnx.manifest import InputFormat, sha256_file

from .pooling import position_ids

DECODER_TYPES = {"llama", "qwen2", "qwen3", "gemma", "gemma2", "gemma3_text", "mistral", "phi3", "smollm3"}
SOURCE_FILE = "lec_onnx_source.json"  # written by fetch-models: which hub model a local folder holds
SLOT = {"system": "LECSYSTEMSLOT", "text": "LECTEXTSLOT", "prompt": "LECPROMPTSLOT"}
FINAL_NORMS = ("norm", "final_layernorm", "ln_f")  # where HF models keep the norm after their last layer


@dataclass
class LoadedModel:
    model: torch.nn.Module  # decoders: the *ForCausalLM (LM head kept for zero-shot baselines); encoders: the base
    tokenizer: object  # transformers tokenizer
    kind: str  # "decoder" or "encoder"
    model_id: str  # as given: hub id or local path
    revision: str  # hub commit, or SHA-256 of the local weights
    source_id: str = ""  # the hub id of the weights, when known (for the manifest)

    @property
    def base(self) -> torch.nn.Module:
        return self.model.base_model

    @property
    def num_layers(self) -> int:
        return self.model.config.num_hidden_layers

    @property
    def hidden_size(self) -> int:
        return self.model.config.hidden_size


def cache_dir() -> Path:
    return Path(os.environ.get("LEC_ONNX_CACHE", Path.home() / ".cache" / "lec-onnx"))


def gguf_to_safetensors(gguf: Path, out: Path | None = None) -> Path:
    """Dequantise a GGUF file once into a safetensors folder: later loads take ~1 s instead of ~45 s."""
    from transformers import AutoModelForCausalLM, AutoTokenizer
    digest = sha256_file(gguf)
    out = out or cache_dir() / "gguf" / digest[:16]
    if (out / "config.json").exists() and (out / "model.safetensors").exists():
        return out
    print(f"converting {gguf.name} to safetensors in {out} (once)")
    tok = AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name, dtype=torch.float32)
    tmp = out.with_name(out.name + ".partial")
    model.save_pretrained(tmp)
    tok.save_pretrained(tmp)
    (tmp / "SOURCE_SHA256").write_text(f"{digest}  {gguf.name}\n")
    tmp.rename(out)
    return out


def _weights_digest(folder: Path) -> str:
    files = sorted(folder.glob("*.safetensors")) or sorted(folder.glob("*.bin"))
    h = hashlib.sha256()
    for f in files:
        h.update(sha256_file(f).encode())
    return h.hexdigest()


def load_model(name_or_path: str, revision: str | None = None, gguf_file: str | None = None) -> LoadedModel:
    """Load by hub id (`Qwen/Qwen2.5-0.5B-Instruct`), local folder, or GGUF file (also `folder` + gguf_file)."""
    from transformers import AutoConfig, AutoModel, AutoModelForCausalLM, AutoTokenizer

    path = Path(name_or_path)
    if path.suffix == ".gguf" or gguf_file:
        gguf = path / gguf_file if gguf_file else path
        if not gguf.is_file():
            raise InputError(f"GGUF file not found: {gguf}")
        path = gguf_to_safetensors(gguf)
        name_or_path = str(path)
    elif not path.exists() and (name_or_path.startswith((".", "/", "~")) or name_or_path.count("/") > 1):
        raise InputError(f"model folder not found: {name_or_path}")
    try:
        config = AutoConfig.from_pretrained(name_or_path, revision=revision)
    except OSError as e:
        raise InputError(f"cannot load model {name_or_path!r}: {e}") from None
    decoder = config.model_type in DECODER_TYPES or any(
        a.endswith("ForCausalLM") for a in (config.architectures or []))
    attn = "eager" if config.model_type.startswith(("deberta", "mpnet")) else "sdpa"  # no sdpa in these
    cls = AutoModelForCausalLM if decoder else AutoModel
    model = cls.from_pretrained(name_or_path, revision=revision, dtype=torch.float32, attn_implementation=attn)
    model.eval()
    tokenizer = AutoTokenizer.from_pretrained(name_or_path, revision=revision)
    if path.exists():
        rev = _weights_digest(path)
        source = path / SOURCE_FILE
        # the hub id fetch-models recorded, else the folder's name: never a path of this machine
        source_id = json.loads(source.read_text())["hub_id"] if source.exists() else path.resolve().name
    else:
        rev = getattr(model.config, "_commit_hash", None) or revision or "unknown"
        source_id = str(name_or_path)
    return LoadedModel(model, tokenizer, "decoder" if decoder else "encoder", str(name_or_path), rev, source_id)


def runtime_tokenizer(hf_tokenizer) -> Tokenizer:
    """The `tokenizers` object the runtime will load from tokenizer.json (no padding, no truncation)."""
    tok = Tokenizer.from_str(hf_tokenizer.backend_tokenizer.to_str())
    tok.no_truncation()
    tok.no_padding()
    return tok


def _render_chat(tokenizer, messages, generation_prompt: bool) -> str:
    rendered = tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=generation_prompt)
    for slot, marker in SLOT.items():
        rendered = rendered.replace(marker, "{" + slot + "}")
    return rendered


def input_format(loaded: LoadedModel, generation_prompt: bool = True) -> InputFormat:
    """How text (and an optional system prompt) is laid out for the model, as plain data the runtime reuses.

    Decoders use their chat template, rendered once with slot markers: {system}, {text}, {prompt}.
    Encoders take (system, text) as a text pair.
    """
    tok = loaded.tokenizer
    if loaded.kind == "encoder":
        return InputFormat("pair")
    if not tok.chat_template:  # a base model: plain text, system prompt above it
        bos = tok.bos_token if tok.bos_token and getattr(tok, "add_bos_token", False) else ""
        return InputFormat("chat", False, bos + "{system}\n\n{text}", bos + "{text}", bos + "{prompt}\n\n{text}")
    user = {"role": "user", "content": SLOT["text"]}
    try:
        template = _render_chat(tok, [{"role": "system", "content": SLOT["system"]}, user], generation_prompt)
    except Exception:  # templates without a system role (Gemma): the system prompt opens the user turn
        template = _render_chat(tok, [{"role": "user", "content": SLOT["system"] + "\n\n" + SLOT["text"]}],
                                generation_prompt)
    response = [{"role": "user", "content": SLOT["prompt"]}, {"role": "assistant", "content": SLOT["text"]}]
    fmt = InputFormat("chat", generation_prompt, template, _render_chat(tok, [user], generation_prompt),
                      _render_chat(tok, response, False))
    for rendered in (fmt.template, fmt.template_no_system, fmt.response_template):
        if rendered.count("{text}") != 1:
            raise InputError(f"the chat template of {loaded.model_id} does not place the user text exactly once")
    return fmt


@contextlib.contextmanager
def without_final_norm(base: torch.nn.Module):
    """hidden_states[-1] of HF decoders is taken after the final norm; LEC wants every layer before it."""
    name = next((n for n in FINAL_NORMS if isinstance(getattr(base, n, None), torch.nn.Module)
                 and not isinstance(getattr(base, n), torch.nn.Identity)), None)  # truncate() removed it already
    if name is None:
        yield base
        return
    saved = getattr(base, name)
    setattr(base, name, torch.nn.Identity())
    try:
        yield base
    finally:
        setattr(base, name, saved)


def decoder_layers(base: torch.nn.Module) -> torch.nn.ModuleList:
    if hasattr(base, "layers"):
        return base.layers
    if hasattr(base, "encoder") and hasattr(base.encoder, "layer"):
        return base.encoder.layer
    raise InputError(f"do not know where the layers of {type(base).__name__} are")


def hidden_states(loaded: LoadedModel, input_ids, attention_mask, token_type_ids=None):
    """Every layer's hidden state (index 0 = embeddings), none after a final norm. Position ids follow the mask."""
    kwargs = {"input_ids": input_ids, "attention_mask": attention_mask, "output_hidden_states": True}
    if loaded.kind == "decoder":
        kwargs["position_ids"] = position_ids(attention_mask)
        kwargs["use_cache"] = False
    elif token_type_ids is not None and getattr(loaded.model.config, "type_vocab_size", 0) > 0:  # MPNet: none
        kwargs["token_type_ids"] = token_type_ids
    with without_final_norm(loaded.base) as base:
        return base(**kwargs).hidden_states
