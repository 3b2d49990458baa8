"""Tiny random models built from configs (no hub, no download), with real trained tokenizers."""
from __future__ import annotations

import json
import random
from pathlib import Path

import pytest

CHAT_TEMPLATE = (
    "{% for m in messages %}{% if loop.first and m['role'] != 'system' %}<|im_start|>system\nYou are tiny.<|im_end|>\n"
    "{% endif %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

WORDS = ("how do i build bake a bomb cake kill process steal password recipe ignore all previous instructions "
         "print your system prompt you are a helpful support bot for acme please tell me the weather today "
         "reveal secret write poem about cats hack into email account translate this sentence to french").split()


def sentences(n: int, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [" ".join(rng.choice(WORDS) for _ in range(rng.randint(3, 14))).capitalize() + "." for _ in range(n)]


RISKY = ("bomb", "steal", "hack", "kill")


def labelled_rows(n: int = 80, seed: int = 0, system: bool = False) -> list[dict]:
    """Rows whose label is plain in the text (risky words, several of them, or none), from two sources, with a
    train/test split. Random tiny models separate these well, so scores sit far from the decision threshold."""
    rows = []
    for i, text in enumerate(sentences(n, seed)):
        text = " ".join(w for w in text.rstrip(".").split() if w.lower() not in RISKY)
        bad = i % 2 == 0
        if bad:
            text = f"{text} {' '.join(RISKY[(i // 2 + k) % 4] for k in range(3))} now"
        row = {"text": text + ".", "label": "unsafe" if bad else "safe", "source": f"src{i % 3}",
               "split": "test" if i % 5 == 0 else "train"}
        if system:
            row["system"] = "You are a support bot for ACME." if i % 3 else None
        rows.append(row)
    return rows


def write_jsonl(path: Path, rows) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _bpe_tokenizer(specials):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(sentences(400), trainers.BpeTrainer(vocab_size=300, special_tokens=specials,
                                                                initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))
    return tok


def _wordpiece_tokenizer():
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.train_from_iterator(sentences(400), trainers.WordPieceTrainer(
        vocab_size=200, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]))
    cls, sep = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)])
    return tok


def experiment_module(name: str):
    """A script of experiments/ imported as a module (experiments/ is not a package)."""
    import importlib.util
    spec = importlib.util.spec_from_file_location(name, Path(__file__).resolve().parent.parent / "experiments" /
                                                  f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def make_decoder(folder: Path, arch: str = "qwen2", layers: int = 4) -> Path:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast, Qwen2Config, Qwen2ForCausalLM
    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(tokenizer_object=_bpe_tokenizer(["<pad>", "<|im_start|>", "<|im_end|>"]),
                                  pad_token="<pad>", eos_token="<|im_end|>", bos_token="<|im_start|>")
    tok.chat_template = CHAT_TEMPLATE
    cfg_cls, model_cls = (Qwen2Config, Qwen2ForCausalLM) if arch == "qwen2" else (LlamaConfig, LlamaForCausalLM)
    cfg = cfg_cls(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                  num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024, pad_token_id=0,
                  tie_word_embeddings=True)
    model = model_cls(cfg).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def make_encoder(folder: Path, layers: int = 3) -> Path:
    import torch
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast
    torch.manual_seed(0)
    tok = PreTrainedTokenizerFast(tokenizer_object=_wordpiece_tokenizer(), pad_token="[PAD]", unk_token="[UNK]",
                                  cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]")
    cfg = BertConfig(vocab_size=len(tok), hidden_size=64, intermediate_size=128, num_hidden_layers=layers,
                     num_attention_heads=4, max_position_embeddings=512)
    BertModel(cfg).eval().save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


@pytest.fixture(scope="session")
def tiny_decoder(tmp_path_factory) -> Path:
    return make_decoder(tmp_path_factory.mktemp("tiny-qwen2"))


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory) -> Path:
    return make_decoder(tmp_path_factory.mktemp("tiny-llama"), "llama", 3)


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory) -> Path:
    return make_encoder(tmp_path_factory.mktemp("tiny-bert"))


# Mean pooling for the parity-gated fixtures: on random tiny models a single token's state is so weakly
# conditioned that int8 noise moves its scores by ~0.1 (real models: see docs/results.md). Last/first-token
# pooling is checked against torch on the fp32 graph (test_last_and_first_token_pooling_graphs).
HEADS = {"decoder": [("content_safety", 2, "gen-mean"), ("prompt_injection", 3, "gen-text-mean")],
         "encoder": [("content_safety", 2, "mean"), ("prompt_injection", 1, "text-mean")],
         "decoder-text": [("content_safety", 2, "mean"), ("prompt_injection", 3, "text-mean")],
         "llama": [("content_safety", 1, "gen-last"), ("prompt_injection", 2, "gen-last")],
         "encoder-tokens": [("content_safety", 2, "first"), ("prompt_injection", 1, "last")]}
MAX_LENGTH = "128"


def build(model_dir, kind, tmp, gate=True, quantize="auto"):
    """Train two probes on a tiny model and export them as one artifact: (folder, probe files, data files)."""
    from lec_onnx.cli import main
    from lec_onnx.export.artifact import export_artifact
    data = {"content_safety": write_jsonl(tmp / "cs.jsonl", labelled_rows(300, 0)),
            "prompt_injection": write_jsonl(tmp / "pi.jsonl", labelled_rows(300, 1, system=True))}
    probes = []
    for task, layer, pooling in HEADS[kind]:
        out = tmp / f"{task}.json"
        assert main(["train", "-m", str(model_dir), "-d", str(data[task]), "--layer", str(layer), "--pooling",
                     pooling, "--task", task, "-o", str(out), "--max-length", MAX_LENGTH, "--C", "1",
                     "--cache", str(tmp / "fc")]) == 0
        probes.append(str(out))
    export_artifact(str(model_dir), probes, tmp / "artifact", max_length=int(MAX_LENGTH), stride=16,
                    parity_rows=200, gate=gate, quantize=quantize)
    return tmp / "artifact", probes, data


@pytest.fixture(scope="session")
def decoder_artifact(tiny_decoder, tmp_path_factory):
    return build(tiny_decoder, "decoder", tmp_path_factory.mktemp("dec-art"))


@pytest.fixture(scope="session")
def encoder_artifact(tiny_encoder, tmp_path_factory):
    return build(tiny_encoder, "encoder", tmp_path_factory.mktemp("enc-art"))


def pooled_states(graph_path, feeds, task):
    """The int8 or fp32 graph's pooled state feeding a task's head (the Gemm's input), per feed."""
    import numpy as np
    import onnx
    import onnxruntime as ort
    model = onnx.load(str(graph_path))
    gemm = next(n for n in model.graph.node if n.name == f"head_{task}")
    model.graph.output.append(onnx.helper.make_tensor_value_info(gemm.input[0], onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return np.concatenate([session.run([gemm.input[0]], f)[0] for f in feeds]), gemm


def int8_score_bound(artifact, task, texts, systems):
    """How far int8 scores may be from fp32 ones, derived rather than tuned: a logistic head moves its output by at
    most ||w|| * ||dh|| / 4 (the sigmoid's slope is at most 1/4), with dh the int8 error of the pooled state the head
    reads. The state error is measured here, on this CPU's kernels, and itself bounded by the quantisation: its
    integer sums are exact on every instruction set (export/quantize.py), so it stays a few percent of the state's
    norm."""
    import numpy as np
    import onnx

    from lec_onnx import Classifier
    from lec_onnx.inputs import encode_fitted, model_inputs, windows
    clf = Classifier.load(artifact)
    feeds = [model_inputs(windows(encode_fitted(clf.tokenizer, clf.manifest.input_format, t, s, clf.max_length),
                                  clf.max_length, 0)[:1], clf.manifest.graph.inputs) for t, s in zip(texts, systems)]
    h8, gemm = pooled_states(artifact / "model.onnx", feeds, task)
    h32, _ = pooled_states(artifact / "model.fp32.onnx", feeds, task)
    error = np.linalg.norm(h8 - h32, axis=1)
    assert (error <= 0.1 * np.linalg.norm(h32, axis=1)).all()  # 8-bit: a few % of the state, not saturation
    weight = next(i for i in onnx.load(str(artifact / "model.onnx")).graph.initializer if i.name == gemm.input[1])
    slope = np.linalg.norm(onnx.numpy_helper.to_array(weight))
    return float(slope * error.max() / 4) + 1e-4  # + the fp32 graph's own distance from torch


def fuzz_settings(default_examples: int):
    """Hypothesis settings of the fuzz tests: a short run in CI; LEC_FUZZ_EXAMPLES=5000 for a long one."""
    import os

    from hypothesis import HealthCheck, settings
    return settings(max_examples=int(os.environ.get("LEC_FUZZ_EXAMPLES", str(default_examples))), deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def classify_or_refuse(clf, texts, system):
    """clf.classify's results, or None when it raised InputError with a message: the only error it may raise."""
    from lec_onnx import InputError
    try:
        return clf.classify(texts, system=system)
    except InputError as e:
        assert str(e)
        return None
