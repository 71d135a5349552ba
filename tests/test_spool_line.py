"""The spool line: the lean format (2) every writer writes, and the full format (1) it still reads.

Standard library only (the hook's 3.9 job runs this file); the Arrow side of the same
promise is in test_arrow_schema.py and test_convert.py.
"""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st
from ocsf_events import CLASS_UIDS, map_corpus
from spool_support import previous_release_line
from test_mapping_properties import EXAMPLES, alerts

from wazuh_ocsf.class_facts import CLASSES, SEVERITIES, derived_attributes
from wazuh_ocsf.config import CLASS_NAMES
from wazuh_ocsf.errors import AlertError
from wazuh_ocsf.mapping import map_alert
from wazuh_ocsf.spool.line import FORMAT, LEAN, UNMAPPED_KEYS, UNMAPPED_VALUES, decode_line, encode_event

LEFT_OUT = ("category_uid", "category_name", "class_name", "activity_name", "type_uid", "type_name", "severity")


def test_round_trip_turns_unmapped_into_two_lists_and_back():
    event = {**next(iter(map_corpus(2001).values())), "message": "é\nnext", "unmapped": {"data.a": "1", "data.b": "x"}}
    line = encode_event(event)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    assert line.startswith(b'{"_format":2,')
    stored = json.loads(line)
    assert "unmapped" not in stored
    assert (stored[UNMAPPED_KEYS], stored[UNMAPPED_VALUES]) == (["data.a", "data.b"], ["1", "x"])
    assert decode_line(line) == event
    assert event["unmapped"] == {"data.a": "1", "data.b": "x"}  # the caller's dict is untouched


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_every_corpus_event_is_written_lean_and_read_back_unchanged(class_uid):
    for slug, event in map_corpus(class_uid).items():
        line = encode_event(event)
        stored = json.loads(line)
        assert stored[FORMAT] == LEAN, slug
        assert not set(LEFT_OUT) & set(stored), slug
        assert "status" not in stored and "state" not in stored, slug
        assert set(stored["metadata"]) & {"version", "log_name", "log_provider"} == set(), slug
        assert set(stored["metadata"].get("product", {})) <= {"version"}, slug
        assert decode_line(line) == event, slug
        assert len(line) < len(previous_release_line(event)), slug


@pytest.mark.parametrize("class_uid", CLASS_UIDS, ids=lambda uid: CLASS_NAMES[uid])
def test_lines_of_the_previous_release_still_decode(class_uid):
    for slug, event in map_corpus(class_uid).items():
        assert decode_line(previous_release_line(event)) == event, slug


def test_an_attribute_that_differs_from_the_table_stays_in_the_line():
    event = next(iter(map_corpus(2004).values()))
    odd = {**event, "severity": "Very high", "metadata": {**event["metadata"], "log_name": "other"}}
    stored = json.loads(encode_event(odd))
    assert stored[FORMAT] == LEAN
    assert stored["severity"] == "Very high" and stored["metadata"]["log_name"] == "other"
    assert "severity_id" in stored and "class_name" not in stored
    assert decode_line(encode_event(odd)) == odd


def test_an_event_the_table_would_add_to_is_written_in_the_full_format():
    event = next(iter(map_corpus(2001).values()))
    for missing, null in ((("severity",), False), (("metadata", "product", "lang"), False), (("state",), True)):
        odd = json.loads(json.dumps(event))
        parent = odd
        for name in missing[:-1]:
            parent = parent[name]
        if null:
            parent[missing[-1]] = None
        else:
            del parent[missing[-1]]
        line = encode_event(odd)
        assert FORMAT not in json.loads(line)
        assert line == previous_release_line(odd)
        assert decode_line(line) == odd


def test_ids_outside_the_table_keep_their_names():
    event = next(iter(map_corpus(2001).values()))
    odd = {**event, "severity_id": 99, "severity": "Other", "activity_id": 99, "activity_name": "Other",
           "type_uid": 200199, "type_name": "Security Finding: Other"}
    stored = json.loads(encode_event(odd))
    assert stored[FORMAT] == LEAN
    assert (stored["severity"], stored["activity_name"], stored["type_name"]) == ("Other", "Other",
                                                                                   "Security Finding: Other")
    assert "type_uid" in stored  # 200199 follows from no activity the class has
    assert decode_line(encode_event(odd)) == odd


def test_events_of_an_unknown_class_or_with_odd_unmapped_are_written_in_the_full_format():
    assert FORMAT not in json.loads(encode_event({"class_uid": 9999, "unmapped": {"a": "b"}}))
    with pytest.raises(AttributeError):
        encode_event({"class_uid": 2001, "unmapped": ["not", "an", "object"]})


def test_decode_refuses_an_unknown_format_and_unpaired_lists():
    with pytest.raises(ValueError, match="format 3"):
        decode_line(b'{"_format":3,"class_uid":2001}\n')
    with pytest.raises(ValueError, match="do not pair up"):
        decode_line(b'{"_format":2,"class_uid":2001,"_unmapped_keys":["a"],"_unmapped_values":[]}\n')


def test_the_table_covers_every_class_and_the_mappers_use_it():
    assert set(CLASSES) == set(CLASS_NAMES)
    for class_uid in CLASS_NAMES:
        paths = [path for path, _source, _values in derived_attributes(class_uid)]
        assert len(paths) == len(set(paths))
    for class_uid, event in ((uid, next(iter(map_corpus(uid).values()))) for uid in CLASS_UIDS):
        facts = CLASSES[class_uid]
        assert (event["category_uid"], event["category_name"]) == facts.category
        assert event["class_name"] == facts.name
        assert event["activity_name"] == facts.activities[event["activity_id"]]
        assert event["severity"] == SEVERITIES[event["severity_id"]]


def test_lone_surrogate_does_not_make_the_line_unreadable():
    line = encode_event({"class_uid": 2001, "message": "bad \ud800 text"})
    assert decode_line(line)["message"] == "bad ? text"


def test_decode_rejects_non_objects():
    with pytest.raises(ValueError, match="not a JSON object"):
        decode_line(b"[1, 2]\n")


@EXAMPLES
@given(alert=alerts, class_uid=st.sampled_from([2001, 2004]))
def test_any_mapped_event_survives_the_lean_line_and_gives_the_old_lines_table(alert, class_uid):
    try:
        event = map_alert(alert, class_uid=class_uid, product_version="4.14.7", attack_version="v16.1")
    except AlertError:
        return
    line = encode_event(event)
    assert line.startswith(b'{"_format":2,')
    assert decode_line(line) == event
    try:
        import pyarrow  # noqa: F401 -- the Arrow half needs it (the hook's 3.9 job has none)
    except ImportError:
        return
    from wazuh_ocsf.flush.convert import convert_block

    new, old = convert_block(line), convert_block(previous_release_line(event))
    assert [bad.reason for bad in new.bad] == [bad.reason for bad in old.bad]  # e.g. a time before 1970
    if not old.bad:
        assert new.tables[class_uid].equals(old.tables[class_uid], check_metadata=True)


#: SHA-256 of every fact a format-2 line leaves out (class_facts.derived_attributes of every class).
FORMAT_2_FACTS = "d1db2092a8068f0cc620cc9431a84037046e768bc76467ac5141cc9c85b6fc33"


def test_the_facts_a_format_2_line_leaves_out_are_frozen() -> None:
    """A spool may hold format-2 lines from before an upgrade: the flusher puts back what they leave out
    from the table it runs with. Changing a fact (a new OCSF version, a renamed class) therefore needs a
    new format number, with format 2's table kept for reading the backlog; else old events get new labels."""
    import hashlib

    facts = {str(c): [[list(p), s, v] for p, s, v in derived_attributes(c)] for c in sorted(CLASS_NAMES)}
    digest = hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()
    assert digest == FORMAT_2_FACTS, "class_facts changed what format-2 lines leave out: add a new line format"
