"""wazuh_ocsf.json_codec is json.loads / compact json.dumps, value for value and error for error.

Every comparison is against the standard library's json on the running interpreter, so the
same tests hold on 3.9 to 3.13 (they run under Python 3.9 in CI with pytest and hypothesis
only). Floats are compared by repr, so NaN, -0.0 and 0.0 count as what they are.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wazuh_ocsf import json_codec

REPO_ROOT = Path(__file__).resolve().parents[1]
CORPUS = sorted((REPO_ROOT / "tests" / "data" / "alerts").glob("*.json"))
EXAMPLES = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def reference_dumps(value: object, **options) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), **options)


def canonical(value: object) -> object:
    """``value`` with every float replaced by its repr and every container tagged by type."""
    kind = type(value)
    if kind is float:
        return ("float", repr(value))
    if kind is list:
        return ("list", [canonical(item) for item in value])
    if kind is dict:
        return ("dict", [(key, canonical(item)) for key, item in value.items()])  # order counts
    return (kind.__name__, value)


def outcome(function, *args, **kwargs) -> tuple:
    """What a call gives: ``("ok", canonical value)`` or ``("error", exception type, message)``."""
    try:
        value = function(*args, **kwargs)
    except (ValueError, TypeError, RecursionError) as exc:
        return ("error", type(exc), str(exc))
    return ("ok", canonical(value))


def test_the_c_accelerator_is_in_use() -> None:
    """Where CPython has _json (every supported interpreter), the codec drives it directly."""
    pytest.importorskip("_json")
    assert json_codec._scan_once is not None and json_codec._make_encoder is not None
    import _json

    assert json_codec.encode_string is _json.encode_basestring


# -- the corpus ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_every_corpus_alert_decodes_and_encodes_like_json(path: Path) -> None:
    raw = path.read_bytes()
    text = raw.decode("utf-8")
    expected = json.loads(text)
    for data in (text, raw, bytearray(raw), reference_dumps(expected) + "\n", json.dumps(expected)):
        assert canonical(json_codec.loads(data)) == canonical(expected)
    assert json_codec.dumps(expected) == reference_dumps(expected)
    assert json_codec.dumps(expected, sort_keys=True) == reference_dumps(expected, sort_keys=True)
    assert json_codec.dumps(expected, sort_keys=True, default=repr) == reference_dumps(
        expected, sort_keys=True, default=repr
    )


def test_the_corpus_is_there() -> None:
    assert len(CORPUS) >= 20


# -- generated values ---------------------------------------------------------------------------

surrogates = st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF)
strings = st.one_of(
    st.text(max_size=12),
    st.text(st.one_of(st.characters(), surrogates), max_size=6),  # lone surrogates too
    st.sampled_from(['"', "\\", "\n\r\t\b\f", "\x00\x1f\x7f", "\u2028\u2029", "é😀", "\\ud800", "/"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**60), max_value=10**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0.0, -0.0, 1e-320, 1.7976931348623157e308, 5e-324, 1e16, 0.1]),
    strings,
)
json_values = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5), st.dictionaries(strings, children, max_size=5)),
    max_leaves=25,
)
layouts = st.sampled_from(
    [
        {},
        {"separators": (",", ":")},
        {"ensure_ascii": False},
        {"indent": 2},
        {"indent": "\t", "sort_keys": True},
        {"separators": (" , ", " : "), "ensure_ascii": False},
    ]
)
blank = st.text(" \t\n\r", max_size=3)


@EXAMPLES
@given(value=json_values, layout=layouts, before=blank, after=blank)
def test_loads_is_json_loads(value, layout, before, after) -> None:
    text = before + json.dumps(value, **layout) + after
    expected = json.loads(text)
    assert outcome(json_codec.loads, text) == ("ok", canonical(expected))
    data = text.encode("utf-8", "surrogatepass")
    assert outcome(json_codec.loads, data) == outcome(json.loads, data)


@EXAMPLES
@given(value=json_values)
def test_dumps_is_compact_json_dumps(value) -> None:
    assert outcome(json_codec.dumps, value) == outcome(reference_dumps, value)
    assert outcome(json_codec.dumps, value, sort_keys=True) == outcome(reference_dumps, value, sort_keys=True)


@EXAMPLES
@given(value=json_values)
def test_a_round_trip_gives_the_value_back(value) -> None:
    assert canonical(json_codec.loads(json_codec.dumps(value))) == canonical(value)


@EXAMPLES
@given(value=json_values, cut=st.integers(min_value=0), junk=st.text(max_size=3), layout=layouts)
def test_damaged_text_fails_or_succeeds_exactly_like_json(value, cut, junk, layout) -> None:
    text = json.dumps(value, **layout)
    where = cut % (len(text) + 1)
    for damaged in (text[:where], text[:where] + junk + text[where:], text + junk, junk):
        assert outcome(json_codec.loads, damaged) == outcome(json.loads, damaged)


# -- malformed input ----------------------------------------------------------------------------

MALFORMED = {
    "empty": "",
    "whitespace only": " \n\t\r",
    "truncated object": '{"rule": {"id": "5',
    "truncated array": "[1, 2",
    "trailing garbage": '{"a": 1} x',
    "two documents": '{"a": 1}\n{"a": 2}\n',
    "bare word": "hello",
    "python literal": "None",
    "nan in lower case": "nan",
    "single quotes": "{'a': 1}",
    "trailing comma": "[1,]",
    "control character": '"a\nb"',
    "bad escape": '"\\x41"',
    "short unicode escape": '"\\ud8"',
    "upper-case unicode escape": '"\\UD800"',
    "byte order mark": '\ufeff{"a": 1}',
}


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_json_raises_json_s_own_error(case) -> None:
    text = MALFORMED[case]
    with pytest.raises(json.JSONDecodeError, match=r" \(char [0-9]+\)$") as caught:
        json_codec.loads(text)
    assert caught.value.doc == text
    assert outcome(json_codec.loads, text) == outcome(json.loads, text)  # message and position too
    data = text.encode("utf-8")  # as bytes a UTF-8 BOM is fine: json.loads decodes with utf-8-sig
    assert outcome(json_codec.loads, data) == outcome(json.loads, data)


@pytest.mark.parametrize("case", list(MALFORMED))
def test_malformed_json_is_reported_right_in_a_process_that_never_loaded_json(case) -> None:
    """The hook's situation: the first malformed document of a process without json loaded.

    (CPython 3.10 and 3.11's _json then fail with SystemError unless json.decoder is loaded.)
    """
    code = (  # -I -S as the hook runs: no PYTHONPATH, the package put on sys.path by hand
        "import sys\n"
        f"sys.path.append({str(REPO_ROOT)!r})\n"
        "from wazuh_ocsf import json_codec\n"
        "assert 'json' not in sys.modules\n"
        "try:\n"
        "    json_codec.loads(sys.argv[1])\n"
        "except ValueError as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )
    text = MALFORMED[case]
    if "\x00" in text:
        pytest.skip("a NUL cannot be an argument")
    done = subprocess.run([sys.executable, "-I", "-S", "-c", code, text], capture_output=True, text=True, timeout=60)
    assert done.stderr == ""
    _ok, kind, message = outcome(json.loads, text)
    assert done.stdout == f"{kind.__name__} {message}\n"


# The errors the codec itself raises (the C scanner raises the others): message and position.
OWN_ERRORS = {
    "": "Expecting value: line 1 column 1 (char 0)",
    " \n\t\r": "Expecting value: line 2 column 3 (char 4)",
    "\n\n  ]": "Expecting value: line 3 column 3 (char 4)",
    '{"a": 1} x': "Extra data: line 1 column 10 (char 9)",
    '{"a": 1}\n{"a": 2}\n': "Extra data: line 2 column 1 (char 9)",
    "1 2": "Extra data: line 1 column 3 (char 2)",
    '\ufeff{"a": 1}': "Unexpected UTF-8 BOM (decode using utf-8-sig): line 1 column 1 (char 0)",
}


@pytest.mark.parametrize("text", list(OWN_ERRORS), ids=repr)
def test_the_codec_s_own_errors_carry_the_position(text) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(OWN_ERRORS[text])}$"):
        json_codec.loads(text)


@pytest.mark.parametrize(
    "data",
    [b"", b"   ", b"\xff\xfe{}", b"\xef\xbb\xbf{}", '{"a": 1}'.encode("utf-16"), '{"é": 1}'.encode("utf-16-le"),
     '[1]'.encode("utf-32-be"), b'"\xed\xa0\x80"', b"\x80", b'{"a": "\xc3"}', b"7", b"\x00\x00"],
    ids=repr,
)
def test_bytes_are_detected_and_decoded_like_json_loads(data: bytes) -> None:
    def caught(function) -> tuple:
        try:
            return outcome(function, data)
        except UnicodeDecodeError as exc:  # a ValueError outcome() already takes; kept explicit
            return ("error", type(exc), str(exc))

    assert caught(json_codec.loads) == caught(json.loads)


def test_lone_surrogate_escapes_decode_like_json() -> None:
    """JSON allows them and json.loads keeps them; wazuh_ocsf.mapping.load_alert replaces them."""
    text = '{"a": "x\\ud800y", "b": "\\ud83d\\ude00", "c": "\\uDFFF", "d": "\\ude00\\ud83d"}'
    assert json_codec.loads(text) == json.loads(text) == {"a": "x\ud800y", "b": "😀", "c": "\udfff",
                                                          "d": "\ude00\ud83d"}
    assert json_codec.dumps(json_codec.loads(text)) == reference_dumps(json.loads(text))


def test_constants_and_numbers_decode_like_json() -> None:
    text = '[NaN, Infinity, -Infinity, -0, -0.0, 1E400, 1e-400, 12345678901234567890123, 0.1]'
    assert canonical(json_codec.loads(text)) == canonical(json.loads(text))
    expected = "[NaN,Infinity,-Infinity,0,-0.0,Infinity,0.0,12345678901234567890123,0.1]"
    assert json_codec.dumps(json.loads(text)) == expected


def test_an_integer_beyond_the_interpreter_s_digit_limit_is_treated_like_json() -> None:
    # 3.11+ refuse ints of more than sys.get_int_max_str_digits() digits (ValueError); 3.9 takes them.
    text = "[" + "7" * 5000 + "]"
    assert outcome(json_codec.loads, text) == outcome(json.loads, text)
    if hasattr(sys, "set_int_max_str_digits"):
        with pytest.raises(ValueError, match="Exceeds the limit"):
            json_codec.loads(text)
    assert outcome(json_codec.dumps, [7**6000]) == outcome(reference_dumps, [7**6000])


def test_nesting_too_deep_raises_recursion_error_like_json() -> None:
    text = "[" * 200_000 + "]" * 200_000
    with pytest.raises(RecursionError):
        json.loads(text)
    with pytest.raises(RecursionError):
        json_codec.loads(text)


def test_wrong_argument_types_raise_json_s_type_error() -> None:
    for data in (None, 5, ["[]"], memoryview(b"[]")):
        assert outcome(json_codec.loads, data) == outcome(json.loads, data)
        assert outcome(json_codec.loads, data)[1] is TypeError


# -- encoding errors and options ----------------------------------------------------------------


def test_what_json_cannot_encode_raises_the_same_type_error() -> None:
    for value in ({"a": {1, 2}}, [b"bytes"], object, {("tuple", "key"): 1}):
        assert outcome(json_codec.dumps, value) == outcome(reference_dumps, value)
        assert outcome(json_codec.dumps, value)[1] is TypeError
    with pytest.raises(TypeError, match=r"^Object of type set is not JSON serializable$"):
        json_codec.dumps({"a": {1, 2}})


def test_default_turns_the_rest_into_json() -> None:
    value = {"b": {1}, "a": [b"x", (1, 2)], 3: None, True: 1.5, None: "n"}
    assert json_codec.dumps(value, default=repr) == reference_dumps(value, default=repr)
    assert json_codec.dumps(value, default=repr) == '{"b":"{1}","a":["b\'x\'",[1,2]],"3":null,"true":1.5,"null":"n"}'


def test_circular_structures_raise_value_error_and_leave_the_codec_usable() -> None:
    loop: list = [1]
    loop.append(loop)
    for _ in range(2):
        assert outcome(json_codec.dumps, loop) == outcome(reference_dumps, loop) == (
            "error", ValueError, "Circular reference detected")
        assert json_codec.dumps([[1], {"a": [1]}]) == '[[1],{"a":[1]}]'


def test_sort_keys_with_keys_that_cannot_be_compared_fails_like_json() -> None:
    value = {"a": 1, 2: 3}
    assert outcome(json_codec.dumps, value, sort_keys=True) == outcome(reference_dumps, value, sort_keys=True)
    assert outcome(json_codec.dumps, value, sort_keys=True)[1] is TypeError


def test_a_str_encodes_to_a_json_string_literal() -> None:
    for text in ("", "plain", 'quo"te\\', "line\nfeed\x00", "é😀\u2028", "\ud800"):
        assert json_codec.dumps(text) == json_codec.encode_string(text) == reference_dumps(text)
    with pytest.raises(TypeError):
        json_codec.encode_string(5)


# -- without the C accelerator ------------------------------------------------------------------


def test_the_fallback_path_gives_the_same_results() -> None:
    """Without _json (another Python implementation) every call goes to json itself."""
    assert json_codec._accelerator(use_c=False) == (None, None, None)
    samples = [path.read_text(encoding="utf-8") for path in CORPUS[:5]]
    samples += list(MALFORMED.values())
    for text in samples:
        assert outcome(json_codec._loads, text, None) == outcome(json.loads, text)
        assert outcome(json_codec._loads, text.encode(), None) == outcome(json.loads, text.encode())
        try:
            value = json.loads(text)
        except ValueError:
            continue
        assert json_codec._dumps(value, None, None) == reference_dumps(value)
        assert json_codec._dumps(value, None, None, sort_keys=True, default=repr) == reference_dumps(
            value, sort_keys=True, default=repr
        )
    assert json_codec._encode_string_fallback("a\n\"é") == reference_dumps("a\n\"é")


def test_an_interpreter_without_json_accelerator_falls_back_to_json(tmp_path) -> None:
    """A real process where ``import _json`` fails: the module loads and answers like json."""
    texts = [path.read_text(encoding="utf-8") for path in CORPUS[:3]] + ["[1, NaN]", "{"]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    code = (
        "import sys; sys.modules['_json'] = None\n"  # import _json → ImportError
        "import json\n"
        "from wazuh_ocsf import json_codec as c\n"
        "assert c._scan_once is None and c._make_encoder is None and c.encode_string is c._encode_string_fallback\n"
        "out = []\n"
        "for text in json.loads(open(sys.argv[1]).read()):\n"
        "    try:\n"
        "        out.append(['ok', c.dumps(c.loads(text)), c.dumps(c.loads(text.encode()), sort_keys=True)])\n"
        "    except ValueError as exc:\n"
        "        out.append(['error', type(exc).__name__, str(exc)])\n"
        "out.append(c.encode_string('x\\n'))\n"
        "print(json.dumps(out))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-c", code, str(tmp_path / "texts.json")], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    expected = []
    for text in texts:
        try:
            value = json.loads(text)
        except ValueError as exc:
            expected.append(["error", type(exc).__name__, str(exc)])
            continue
        expected.append(["ok", reference_dumps(value), reference_dumps(value, sort_keys=True)])
    expected.append('"x\\n"')
    assert json.loads(done.stdout) == expected


def test_the_codec_imports_neither_json_nor_re() -> None:
    """What the hook saves: decoding and encoding a real alert loads no json, re or enum."""
    code = (
        "import sys\n"
        "from wazuh_ocsf import json_codec as c\n"
        "alert = c.loads(open(sys.argv[1], 'rb').read())\n"
        "c.dumps(alert); c.dumps(alert, sort_keys=True, default=repr); c.loads(c.dumps(alert))\n"
        "print(' '.join(sorted(m for m in ('json', 're', 'enum', 'collections', 'functools') if m in sys.modules)))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    done = subprocess.run([sys.executable, "-S", "-c", code, str(CORPUS[0])], env=env, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.split() == []
