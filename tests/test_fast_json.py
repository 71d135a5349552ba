"""fast_json: orjson where the venv has it, the standard library otherwise, with the same results.

Every test runs twice: with orjson, and with orjson hidden (the module reloaded as on a venv
without it). follow and backfill map through ``alert_pipeline.map_block``, which uses it.
"""

from __future__ import annotations

import importlib
import json
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wazuh_ocsf import fast_json, json_codec
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import load_alert
from wazuh_ocsf.readers.pipeline import MapOptions, map_block
from wazuh_ocsf.spool.line import encode_event

ALERTS = sorted((Path(__file__).resolve().parent / "data" / "alerts").glob("*.json"))


@pytest.fixture(params=["orjson", "json"], scope="module")
def backend(request):
    """fast_json with orjson, or reloaded as if orjson were not installed."""
    pytest.importorskip("orjson")
    saved = sys.modules.get("orjson")
    if request.param == "json":
        sys.modules["orjson"] = None  # makes `import orjson` raise ImportError
    try:
        importlib.reload(fast_json)
        assert request.param == fast_json.BACKEND
        yield request.param
    finally:
        sys.modules["orjson"] = saved
        importlib.reload(fast_json)


def _stdlib_map(blob: bytes, options: MapOptions) -> list:
    """What map_block makes with the standard library alone (the hook's path)."""
    out = []
    for line in blob.split(b"\n"):
        if line.strip():
            from wazuh_ocsf.mapping import map_alert

            event = map_alert(load_alert(line), class_uid=options.class_uid)
            out.append(encode_event(event))
    return out


@pytest.mark.parametrize("class_uid", [2001, 2004])
def test_map_block_writes_the_same_spool_lines_as_the_standard_library(backend, class_uid):
    blob = b"".join(json.dumps(json.loads(path.read_bytes())).encode() + b"\n" for path in ALERTS)
    options = MapOptions(class_uid=class_uid)
    result = map_block(blob, options)
    assert result.bad == []
    assert result.lines == _stdlib_map(blob, options)


ODD_ALERTS = [
    b'{"a": NaN, "b": Infinity}',
    b'{"big": 123456789012345678901234567890}',
    b'{"s": "\\ud800 lone"}',
    b'{"k": "caf\xc3\xa9 \\u2028 \\u0000 \\"q\\""}',
    b'{"dup": 1, "dup": 2}',
    b"[1, 2]",
    b'"just a string"',
    b"{not json",
    b"   ",
    b'{"a": 1} trailing',
    b"\xff\xfe not utf-8",
    b"[" * 5000 + b"]" * 5000,
]


@pytest.mark.parametrize("data", ODD_ALERTS)
def test_load_alert_decodes_or_refuses_exactly_like_the_standard_library(backend, data):
    try:
        expected = ("ok", repr(load_alert(data)))
    except AlertError as exc:
        expected = ("error", str(exc))
    try:
        got = ("ok", repr(fast_json.load_alert(data)))
    except AlertError as exc:
        got = ("error", str(exc))
    assert got == expected


_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | st.text(),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(value=_json_values)
def test_dumps_is_json_codec_byte_for_byte(backend, value):
    assert fast_json.dumps(value) == json_codec.dumps(value)


def test_dumps_falls_back_for_what_orjson_refuses(backend):
    for value in ({1: "int key"}, {"n": 2**64}, {"s": "\ud800"}):
        assert fast_json.dumps(value) == json_codec.dumps(value)
