from __future__ import annotations

import json

import pytest

from wazuh_ocsf.spool_line import decode_line, encode_event


def test_round_trip_turns_unmapped_into_pairs_and_back():
    event = {"class_uid": 2001, "message": "é\nnext", "unmapped": {"data.a": "1", "data.b": "x"}}
    line = encode_event(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert json.loads(line)["unmapped"] == [{"key": "data.a", "value": "1"}, {"key": "data.b", "value": "x"}]
    assert decode_line(line) == event
    assert event["unmapped"] == {"data.a": "1", "data.b": "x"}  # the caller's dict is untouched


def test_lone_surrogate_does_not_make_the_line_unreadable():
    line = encode_event({"class_uid": 2001, "message": "bad \ud800 text"})
    assert decode_line(line)["message"] == "bad ? text"


def test_decode_rejects_non_objects():
    with pytest.raises(ValueError, match="not a JSON object"):
        decode_line(b"[1, 2]\n")
