from __future__ import annotations

import json

import pyarrow as pa
import pytest
from flush_support import corpus_events, varied
from ocsf_events import rows_to_events, strip_nulls
from spool_support import previous_release_line

from wazuh_ocsf.errors import ConversionError
from wazuh_ocsf.flush import convert
from wazuh_ocsf.flush.arrow_schema import schema_for
from wazuh_ocsf.flush.convert import BadLine, class_of_line, convert_block, read_lines
from wazuh_ocsf.spool.line import encode_event
from wazuh_ocsf.spool.store import split_lines


def lines_of(events) -> list:
    return [encode_event(event) for event in events]


@pytest.mark.parametrize("class_uid", [2001, 2004])
def test_corpus_converts_to_the_exact_schema_and_back_to_the_same_events(class_uid):
    events = corpus_events(class_uid)
    result = convert_block(b"".join(lines_of(events)))
    assert result.bad == []
    assert list(result.tables) == [class_uid]
    table = result.tables[class_uid]
    assert table.schema.equals(schema_for(class_uid), check_metadata=True)
    assert rows_to_events(table.to_pylist()) == [strip_nulls(event) for event in events]


def test_clean_block_never_takes_the_line_by_line_path(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a clean one-class block must be read in one call")

    monkeypatch.setattr(convert, "_convert_line_by_line", refuse)
    data = b"".join(lines_of(corpus_events(2001)))
    assert convert_block(data).rows == len(corpus_events(2001))


def test_mixed_classes_are_separated_in_line_order():
    security = [varied(event, i) for i, event in enumerate(corpus_events(2001)[:4])]
    detection = [varied(event, i) for i, event in enumerate(corpus_events(2004)[:3])]
    mixed = [security[0], detection[0], security[1], security[2], detection[1], detection[2], security[3]]
    result = convert_block(b"".join(lines_of(mixed)))
    assert result.bad == []
    assert rows_to_events(result.tables[2001].to_pylist()) == [strip_nulls(e) for e in security]
    assert rows_to_events(result.tables[2004].to_pylist()) == [strip_nulls(e) for e in detection]


def test_unmapped_becomes_a_map_with_nulls_empty_and_repeated_keys_kept():
    base = corpus_events(2001)[0]
    with_pairs = dict(base, unmapped={"a": "1", "b": None})
    empty = dict(base, unmapped={})
    absent = {key: value for key, value in base.items() if key != "unmapped"}
    repeated = encode_event(base).replace(b'"_unmapped_keys":[', b'"_unmapped_keys":["a","a",')
    repeated = repeated.replace(b'"_unmapped_values":[', b'"_unmapped_values":["x","y",')
    repeated_pairs = previous_release_line(base).replace(
        b'"unmapped":[', b'"unmapped":[{"key":"a","value":"x"},{"key":"a","value":"y"},'
    )
    for encode in (encode_event, previous_release_line):
        data = encode(with_pairs) + encode(empty) + encode(absent) + repeated + repeated_pairs
        table = convert_block(data).tables[2001]
        column = table.column("unmapped").to_pylist()
        assert column[0] == [("a", "1"), ("b", None)]
        assert column[1] == []
        assert column[2] is None
        assert column[3][:2] == [("a", "x"), ("a", "y")]
        assert column[4] == column[3]
    assert table.schema.field("unmapped").type == pa.map_(pa.string(), pa.string())


def _bad_lines(good: dict) -> dict:
    """Reason fragment → a spool line that must be dead-lettered."""
    text = encode_event(good)
    unknown_top = json.loads(text)
    unknown_top["no_such_attribute"] = 1
    unknown_nested = json.loads(text)
    unknown_nested["finding"]["no_such_attribute"] = "x"
    wrong_type = json.loads(text)
    wrong_type["severity_id"] = "high"
    overflow = json.loads(text)
    overflow["severity_id"] = 2**40
    no_time = json.loads(text)
    del no_time["time"]
    other_class = json.loads(text)
    other_class["class_uid"] = 4001  # Network Activity: not a class wazuh-ocsf writes
    null_key = json.loads(text)
    null_key["unmapped"] = [{"key": None, "value": "v"}]
    far_future = json.loads(text)
    far_future["time"] = 10**15

    def dump(value) -> bytes:
        return json.dumps(value, separators=(",", ":")).encode() + b"\n"

    return {
        "unexpected field": dump(unknown_top),
        "unexpected field ": dump(unknown_nested),
        "changed from number to string": dump(wrong_type),
        "int32": dump(overflow),
        "time is missing": dump(no_time),
        "no class_uid": dump(other_class),
        "null": dump(null_key),
        "time is outside": dump(far_future),
        "no class_uid  ": b"\x00\x01garbage \xff\xfe not json\n",
        "JSON parse error  ": b'\x00garbage "class_uid":2001, \xff\xfe not json\n',
        "no class_uid ": b'{"class_uid":2001\n'.replace(b"2001", b"20"),
        "JSON parse error": text[: len(text) // 2] + b"\n",
        "changed from object to array": b'[{"class_uid":2001}]\n',
    }


def test_every_bad_line_is_reported_with_its_number_and_only_good_lines_convert():
    goods = [varied(event, i) for i, event in enumerate(corpus_events(2001))]
    bad = _bad_lines(goods[0])
    lines, expected_bad, expected_good = [], [], []
    number = 100  # first_line
    for i, good in enumerate(goods):
        lines.append(encode_event(good))
        expected_good.append(strip_nulls(good))
        number += 1
        if i < len(bad):
            fragment, line = list(bad.items())[i]
            lines.append(line)
            expected_bad.append((number, line, fragment.strip()))
            number += 1
        if i == 3:
            lines.append(b"   \n")  # blank: skipped, not dead-lettered
            number += 1
    result = convert_block(b"".join(lines), first_line=100)
    assert rows_to_events(result.tables[2001].to_pylist()) == expected_good
    assert [(b.number, b.data) for b in result.bad] == [(n, line) for n, line, _ in expected_bad]
    for bad_line, (_, _, fragment) in zip(result.bad, expected_bad):
        assert fragment in bad_line.reason, (fragment, bad_line.reason)


def test_a_block_of_only_bad_lines_gives_no_table():
    result = convert_block(b"nope\n{}\n", first_line=1)
    assert result.tables == {}
    assert [b.number for b in result.bad] == [1, 2]
    assert all(isinstance(b, BadLine) for b in result.bad)


def test_read_lines_rejects_a_row_of_another_class():
    line = encode_event(dict(corpus_events(2001)[0], class_uid=2004))
    with pytest.raises(ConversionError, match="class_uid is not 2001"):
        read_lines(line, 2001)


def test_split_lines_and_class_of_line():
    assert split_lines(b"a\nb\nto") == (b"a\nb\n", b"to")
    assert split_lines(b"") == (b"", b"")
    assert class_of_line(b'{"class_uid":2004}') == 2004
    assert class_of_line(b'{"class_uid":2001,"x":1}') == 2001
    assert class_of_line(b'{"class_uid":20011}') is None
    assert class_of_line(b'{"class_uid": 2001}') is None



def test_a_line_longer_than_a_parse_block_still_converts(monkeypatch):
    monkeypatch.setattr(convert, "PARSE_BLOCK_BYTES", 4096)
    events = [varied(event, i) for i, event in enumerate(corpus_events(2001))]
    assert max(len(line) for line in lines_of(events)) > 4096
    result = convert_block(b"".join(lines_of(events)))
    assert result.bad == []
    assert rows_to_events(result.tables[2001].to_pylist()) == [strip_nulls(e) for e in events]


def test_lines_in_an_unknown_format_or_with_unmapped_twice_become_bad_lines_alone():
    good = corpus_events(2001)[:3]
    lean = encode_event(good[1])
    future = lean.replace(b'{"_format":2,', b'{"_format":3,')
    twice = lean.replace(b'"_unmapped_keys":', b'"unmapped":[{"key":"k","value":"v"}],"_unmapped_keys":')
    unpaired = lean.replace(b'"_unmapped_values":[', b'"_unmapped_values":["extra",')
    null_key = lean.replace(b'"_unmapped_keys":[', b'"_unmapped_keys":[null,').replace(
        b'"_unmapped_values":[', b'"_unmapped_values":["v",')
    data = b"".join([encode_event(good[0]), future, twice, unpaired, null_key, previous_release_line(good[2])])
    result = convert_block(data)
    assert [bad.number for bad in result.bad] == [2, 3, 4, 5]
    reasons = [bad.reason for bad in result.bad]
    assert "spool line format 3" in reasons[0]
    assert "twice" in reasons[1]
    assert "not as many keys as values" in reasons[2]
    assert "a key is null" in reasons[3]
    assert rows_to_events(result.tables[2001].to_pylist()) == [strip_nulls(good[0]), strip_nulls(good[2])]
