"""An upgrade with a backlog loses nothing: spools of the previous release's lines flush completely.

The previous release wrote every spool line in the full format (1); this one writes the lean
format (2). Sealed segments of format 1 left in the spool, segments that mix both (the hook
appending lean lines to an active segment the old version started) and dead letters of
format 1 replayed into the spool all flush, exactly once, to the very rows the lean lines of
the same events give.
"""

from __future__ import annotations

import collections
from pathlib import Path

import pytest

pytest.importorskip("pyarrow")
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from flush_support import corpus_events, make_events, make_settings, spool_events, varied
from spool_support import previous_release_line
from test_flusher import assert_exactly_once, assert_spool_drained

from wazuh_ocsf.flush.flusher import flush
from wazuh_ocsf.sinks.local import LocalSink
from wazuh_ocsf.spool.store import Spool


def _events() -> list:
    security = make_events(90, days=2)
    detection = [varied(e, f"d{i}", time_ms=1713744000000 + i * 1000) for i, e in enumerate(corpus_events(2004))]
    return security + detection


def _spool_lines(settings, lines: list) -> None:
    spool = Spool(settings, create=True)
    for line in lines:
        spool.append(line)
    spool.seal_active()


def _tables(out: Path) -> dict:
    """class → every row the flush delivered, sorted by finding uid (object names differ per spool)."""
    tables = collections.defaultdict(list)
    for path in sorted(out.rglob("*.parquet")):
        table = pq.read_table(path, partitioning=None)
        tables[table.column("class_uid")[0].as_py()].append(table)
    result = {}
    for class_uid, parts in tables.items():
        table = pa.concat_tables(parts)
        key = "finding" if class_uid == 2001 else "finding_info"
        order = pc.sort_indices(pc.struct_field(table.column(key), "uid"))
        result[class_uid] = table.take(order)
    return result


def _flush(settings, out: Path):
    result = flush(settings, [LocalSink(settings, out)])
    assert result.ok, result.failures
    return result


@pytest.mark.parametrize("layout", ["previous release", "mixed in each segment", "old sealed, new active"])
def test_a_spool_of_the_previous_release_flushes_completely_to_the_same_rows(tmp_path, layout):
    events = _events()
    lean_settings = make_settings(tmp_path / "lean", segment_max_bytes="16K")
    spool_events(lean_settings, events)
    _flush(lean_settings, tmp_path / "lean-lake")

    settings = make_settings(tmp_path / "upgrade", segment_max_bytes="16K")
    if layout == "previous release":
        _spool_lines(settings, [previous_release_line(event) for event in events])
    elif layout == "mixed in each segment":
        _spool_lines(settings, [previous_release_line(e) if i % 2 else _lean(e) for i, e in enumerate(events)])
    else:
        half = len(events) // 2
        _spool_lines(settings, [previous_release_line(event) for event in events[:half]])
        spool_events(settings, events[half:])
    assert len(Spool(settings).sealed_segments()) > 3
    result = _flush(settings, tmp_path / "lake")

    assert (result.events, result.dead_lettered, result.left) == (len(events), 0, 0)
    assert_exactly_once(tmp_path / "lake", events)
    assert_spool_drained(settings)
    got, want = _tables(tmp_path / "lake"), _tables(tmp_path / "lean-lake")
    assert sorted(got) == sorted(want) == [2001, 2004]
    for class_uid in got:
        assert got[class_uid].schema.equals(want[class_uid].schema, check_metadata=True)
        assert got[class_uid].equals(want[class_uid])


def _lean(event: dict) -> bytes:
    from wazuh_ocsf.spool.line import encode_event

    line = encode_event(event)
    assert line.startswith(b'{"_format":2,')
    return line


def test_a_dead_letter_of_the_previous_release_replays_and_flushes(tmp_path):
    from wazuh_ocsf.operations.replay import replay
    from wazuh_ocsf.spool import dead_letter

    settings = make_settings(tmp_path)
    events = make_events(2)
    Spool(settings, create=True)
    for event in events:
        dead_letter.record(settings.spool_dir, reason="flusher: the sink refused it", source=f"{tmp_path}/seg:1",
                           data=previous_release_line(event), node=settings.node_name)
    result = replay(settings, class_uid=settings.ocsf_class, settle=0)
    assert (result.replayed, result.still_failing) == (2, [])
    assert dead_letter.count(settings.spool_dir) == 0
    flushed = _flush(settings, tmp_path / "lake")
    assert (flushed.events, flushed.dead_lettered) == (2, 0)
    assert_exactly_once(tmp_path / "lake", events)
