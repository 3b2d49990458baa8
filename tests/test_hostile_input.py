"""Issue 39: every input gets an answer or a clear refusal naming the text or line, in the Python API, the CLI
and `lec-onnx batch`: lone UTF-16 surrogates (scored as U+FFFD), NUL and other control characters, invalid
UTF-8, BOMs, mixed newlines, non-string values. The server's side is in tests/test_serve.py."""
from __future__ import annotations

import io
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conftest import classify_or_refuse, fuzz_settings
from lec_onnx import Classifier, InputError
from lec_onnx.classifier import default_artifact
from lec_onnx.cli import main
from lec_onnx.inputs import well_formed

# every code point, lone surrogates and control characters included (Hypothesis's default text leaves surrogates out)
ANY_CHARACTER = st.characters(codec=None, categories=None)
HOSTILE_TEXT = st.text(alphabet=st.one_of(ANY_CHARACTER, st.sampled_from("\ud800\udfff\x00\x1b\r\n\ufeff\u2028")),
                       max_size=200)


@pytest.fixture(scope="module")
def clf():
    return Classifier.load(default_artifact(), threads=1)


def scores(result: dict) -> dict:
    return {task: (r.label, r.score, r.scores, r.windows) for task, r in result.items()}


def test_well_formed_replaces_each_lone_surrogate_and_joins_pairs():
    assert well_formed("a \ud800 b") == "a \ufffd b"
    assert well_formed("\udc00\ud800") == "\ufffd\ufffd"
    assert well_formed("\ud83d\ude00") == "\U0001f600"  # a pair is the character it encodes, as in JavaScript
    assert well_formed("\x00 \ufeff\r\n") == "\x00 \ufeff\r\n"  # nothing else changes


def test_a_lone_surrogate_scores_as_the_replacement_character(clf):
    got = clf.classify(["a \ud800 b", "fine"], system="You are ACME \udfff support.")
    want = clf.classify(["a \ufffd b", "fine"], system="You are ACME \ufffd support.")
    assert [scores(r) for r in got] == [scores(r) for r in want]
    response = clf.classify("Sure \ud800", role="response", prompt="How \udc00?")[0]
    assert scores(response) == scores(clf.classify("Sure \ufffd", role="response", prompt="How \ufffd?")[0])


@pytest.mark.parametrize("call,message", [
    (lambda c: c.classify(None), "texts must be a string or a list of strings, not NoneType"),
    (lambda c: c.classify(b"bytes"), "not bytes"),
    (lambda c: c.classify(["ok", 3]), "text 2 must be a string, not int"),
    (lambda c: c.classify(["ok", None]), "text 2 must be a string, not NoneType"),
    (lambda c: c.classify("\x00\x01"), "text 1: the text has no tokens"),
    (lambda c: c.classify("hi", system=5), "system must be a string, None, or a list"),
    (lambda c: c.classify(["a", "b"], system=["x", 7]), "system 2 must be a string or None, not int"),
    (lambda c: c.classify("hi", role=["x"]), "role must be"),
    (lambda c: c.classify("hi", thresholds=[0.5]), "thresholds must be a dict"),
    (lambda c: c.classify("hi", thresholds={"content_safety": "high"}), "from 0 to 1, not 'high'"),
    (lambda c: c.classify("hi", batch_size=0), "batch_size must be a whole number"),
])
def test_bad_arguments_raise_input_error_naming_what(clf, call, message):
    with pytest.raises(InputError, match=message.replace("(", r"\(")):
        call(clf)


@fuzz_settings(40)
@given(st.lists(st.one_of(HOSTILE_TEXT, st.none(), st.integers(), st.binary(max_size=8)), min_size=1, max_size=3),
       st.one_of(st.none(), HOSTILE_TEXT))
def test_fuzz_hostile_text_answers_like_its_well_formed_form_or_raises_input_error(clf, texts, system):
    results = classify_or_refuse(clf, texts, system)
    if results is None:
        return
    clean = clf.classify([well_formed(t) for t in texts], system=None if system is None else well_formed(system))
    assert [scores(r) for r in results] == [scores(r) for r in clean]


# ---------------------------------------------------------------- the CLI
HOSTILE_JSONL = (b'{"id": 1, "text": "hello there"}\n'
                 b'{"id": 2, "text": "a \\ud800 b"}\r\n'           # a lone surrogate escape: scored as U+FFFD
                 b'{"id": 3, "text": "nul \x00 raw"}\n'            # a raw NUL byte: the line is named
                 b'{"id": 4, "text": "caf\xe9"}\r'                 # invalid UTF-8 (and an old Mac line end)
                 b'{"id": 5, "text": "escaped nul \\u0000 ok"}\n'  # NUL as a JSON escape: a valid string
                 b'{"id": 6, "text": 42}\n'
                 b'{"id": "\\udc00", "text": "bake a cake"}\n')


def run_file(tmp_path, content: bytes, *extra, name="in.jsonl"):
    path = tmp_path / name
    path.write_bytes(content)
    return main(["classify", "--file", str(path), *extra])


def test_hostile_jsonl_fails_naming_the_line_or_skips_bad_lines(clf, tmp_path, capsys):
    assert run_file(tmp_path, HOSTILE_JSONL) == 2
    err = capsys.readouterr().err
    assert "in.jsonl:3: a NUL byte at byte 24" in err and "2 more bad rows" in err and "Traceback" not in err
    out = tmp_path / "out.jsonl"
    assert run_file(tmp_path, HOSTILE_JSONL, "--on-error", "skip", "--jsonl", "-o", str(out)) == 0
    err = capsys.readouterr().err
    for words in ("in.jsonl:3: a NUL byte", "in.jsonl:4: invalid UTF-8 at byte 23", "in.jsonl:6: 'text' must be "
                  "a string, not int", "3 of 7 rows skipped"):
        assert words in err
    docs = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [d["line"] for d in docs if "error" in d] == [3, 4, 6]
    good = {d["id"]: d for d in docs if "error" not in d}
    assert good[2]["text"] == "a \ud800 b"  # written as the escape it came in as, read back exactly
    want = clf.classify("a \ufffd b")[0]["content_safety"]
    assert good[2]["content_safety"]["score"] == round(want.score, 6)
    assert "\udc00" in good  # an id with a lone surrogate round-trips too
    assert good[5]["text"] == "escaped nul \x00 ok" and "content_safety" in good[5]


def test_a_nul_in_a_plain_text_file_names_its_line_but_binary_and_utf16_are_refused_whole(tmp_path, capsys):
    assert run_file(tmp_path, b"hello\nbad \x00 line\nbye\n", "--on-error", "skip", name="in.txt") == 0
    captured = capsys.readouterr()
    assert "in.txt:2: a NUL byte" in captured.err and "hello" in captured.out and "bye" in captured.out
    assert run_file(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4, name="img.txt") == 2
    assert "looks like a binary file" in capsys.readouterr().err
    assert run_file(tmp_path, "hello\nworld\n".encode("utf-16"), name="u16.txt") == 2
    assert "UTF-16 or UTF-32 text" in capsys.readouterr().err


def test_stdin_with_a_bom_and_mixed_newlines_gives_one_row_a_line(monkeypatch, capsys):
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(b"\xef\xbb\xbfone\r\ntwo\rthree\n\nfour")))
    assert main(["classify", "--jsonl", "-"]) == 0
    docs = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["line"], d["text"]) for d in docs] == [(1, "one"), (2, "two"), (3, "three"), (5, "four")]


def test_an_argument_that_was_not_utf8_is_scored_as_the_replacement_character(clf, capsys):
    # Python hands undecodable argv bytes over as lone surrogates (surrogateescape): b"caf\xe9" -> "caf\udce9"
    assert main(["classify", "--jsonl", "caf\udce9"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["content_safety"]["score"] == round(clf.classify("caf\ufffd")[0]["content_safety"].score, 6)
    assert main(["classify", "caf\udce9"]) == 0
    assert "caf\ufffd" in capsys.readouterr().out


# ---------------------------------------------------------------- batch and the pandas Scorer
@pytest.mark.parametrize("line,message", [
    (b'{"text": "caf\xe9"}', "in.jsonl:2: invalid UTF-8 at byte 14"),
    (b'{"text": "a \\ud800 b"}', "in.jsonl:2: a lone UTF-16 surrogate escape"),
    (b'{"text": "a\x00b"}', "in.jsonl:2: a NUL byte"),
])
def test_batch_names_the_line_arrow_cannot_read(tmp_path, capsys, line, message):
    pytest.importorskip("pyarrow")
    (tmp_path / "in.jsonl").write_bytes(b'{"text": "fine"}\n' + line + b"\n")
    assert main(["batch", str(tmp_path / "in.jsonl"), str(tmp_path / "out.parquet"), "--on-error", "skip"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out.parquet").exists()


def test_the_scorer_scores_surrogates_as_the_replacement_and_names_non_string_cells(clf):
    pd = pytest.importorskip("pandas")
    from lec_onnx.scoring import Scorer
    systems = pd.Series([None, None, None, 3], dtype=object)
    frame = pd.DataFrame({"text": ["a \ud800 b", 7, None, "fine"], "system": systems})
    scored = Scorer(classifier=clf, system_column="system", on_error="skip")(frame)
    want = clf.classify("a \ufffd b")[0]["content_safety"]
    assert scored["content_safety_score"][0] == round(want.score, 6)
    assert scored["error"].isna().tolist() == [True, False, False, False]
    assert "not a string (int)" in scored["error"][1] and "(NoneType)" in scored["error"][2]
    assert "system 1 must be a string or None, not int" in scored["error"][3]
    with pytest.raises(InputError, match="text 7: text is missing or not a string"):
        Scorer(classifier=clf)(frame[["text"]])


def test_a_ray_job_that_fails_on_a_bad_line_is_named_like_the_local_one(tmp_path):
    # Ray re-raises what its workers hit under its own types; the message is what is left to recognise
    from lec_onnx.batch import _arrow_read_failed, unreadable
    (tmp_path / "in.jsonl").write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    failure = RuntimeError("UDF failed: UnicodeDecodeError: 'utf-8' codec can't decode byte 0xe9")
    assert _arrow_read_failed(failure) and not _arrow_read_failed(RuntimeError("actor died"))
    assert "in.jsonl:2: invalid UTF-8 at byte 14" in str(unreadable(str(tmp_path / "in.jsonl"), failure))
    assert "in.jsonl:2" in str(unreadable(str(tmp_path), failure))  # a folder of part files
