from __future__ import annotations

import pyarrow as pa
from flush_support import corpus_events, uid_of

from wazuh_ocsf.flush.arrow_schema import events_to_table
from wazuh_ocsf.flush.delivered_index import DeliveredIndex, finding_uids


def test_finding_uids_of_both_classes_skip_missing_ones():
    for class_uid in (2001, 2004):
        events = corpus_events(class_uid)[:3]
        parent = "finding" if class_uid == 2001 else "finding_info"
        events.append({key: value for key, value in events[0].items() if key != parent})
        table = events_to_table(events, class_uid)
        assert finding_uids(table, class_uid).to_pylist() == [uid_of(e) for e in events[:3]]


def test_record_then_look_up_per_day(tmp_path):
    index = DeliveredIndex(tmp_path)
    index.record("seg-1", {"20240422": pa.array(["b", "a", "a"]), "20240423": ["c"]})
    index.record("seg-2", {"20240422": ["d"]})
    assert index.days() == ["20240422", "20240423"]
    assert index.uids("20240422").to_pylist() == ["a", "b", "d"]
    assert index.is_delivered("a", "20240422")
    assert not index.is_delivered("c", "20240422")
    assert index.is_delivered("c", "20240423")
    assert not index.is_delivered("a", "20240424")
    assert index.delivered_mask(["d", "x", "b"], "20240422").to_pylist() == [True, False, True]
    # a fresh reader sees the same; recording a segment again changes nothing
    again = DeliveredIndex(tmp_path)
    again.record("seg-1", {"20240422": ["a", "b"], "20240423": ["c"]})
    assert again.uids("20240422").to_pylist() == ["a", "b", "d"]
    assert sorted(p.name for p in (tmp_path / "delivered" / "20240422").iterdir()) == ["seg-1.parquet", "seg-2.parquet"]


def test_cache_is_refreshed_after_recording(tmp_path):
    index = DeliveredIndex(tmp_path)
    assert not index.is_delivered("a", "20240422")
    index.record("seg-1", {"20240422": ["a"]})
    assert index.is_delivered("a", "20240422")
