from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from flush_support import make_events, uid_of

from wazuh_ocsf.flush.arrow_schema import events_to_table, schema_for
from wazuh_ocsf.flush.parquet_writer import (
    PartPlan,
    day_slices,
    event_day,
    object_name,
    sort_by_time,
    statistics_columns,
    write_day,
)

DAY_MS = 86_400_000


def assert_schema_is(path, class_uid: int) -> None:
    """The file's Arrow schema is schema_for(class_uid): types, names, schema and field metadata.

    (Parquet readers name a map's entries struct after the column, ``schema_for`` calls it
    ``entries``; the Parquet file itself has the standard ``key_value`` group.)
    """
    got, want = pq.read_schema(path), schema_for(class_uid)
    assert got == want
    assert got.metadata == want.metadata
    assert [field.metadata for field in got] == [field.metadata for field in want]


def data_bytes(path) -> int:
    """File size without the footer."""
    with open(path, "rb") as handle:
        handle.seek(-8, 2)
        footer = int.from_bytes(handle.read(4), "little")
    return path.stat().st_size - footer - 8


def last_row_group_bytes(path) -> int:
    metadata = pq.ParquetFile(path).metadata
    group = metadata.row_group(metadata.num_row_groups - 1)
    return sum(group.column(i).total_compressed_size for i in range(group.num_columns))


def test_object_name_is_deterministic_and_carries_segment_class_day_part():
    assert object_name("node-1-20240422T142046Z-0000000007", 2001, "20240422", 3, "zstd") == (
        "node-1-20240422T142046Z-0000000007.2001.20240422.0003.zstd.parquet"
    )
    assert object_name("n-x-1", 2004, "20240101", 0, "none") == "n-x-1.2004.20240101.0000.parquet"


def test_event_day_is_the_utc_calendar_day():
    assert event_day(0) == "19700101"
    assert event_day(1713744000000 // DAY_MS) == "20240422"


def test_sort_is_by_time_and_stable_and_days_are_contiguous_slices():
    table = pa.table({"time": pa.array([3 * DAY_MS + 5, 5, DAY_MS, 5, 3 * DAY_MS], pa.int64()), "n": [0, 1, 2, 3, 4]})
    ordered = sort_by_time(table)
    assert ordered.column("n").to_pylist() == [1, 3, 2, 4, 0]
    assert day_slices(ordered) == [("19700101", 0, 2), ("19700102", 2, 1), ("19700104", 3, 2)]
    assert day_slices(ordered.slice(0, 0)) == []


def _day_table(count: int) -> pa.Table:
    events = make_events(count, days=1)
    return sort_by_time(events_to_table(events, 2001))


def test_one_part_holds_a_small_day_with_the_exact_schema(tmp_path):
    table = _day_table(60)
    written = write_day(
        table,
        directory=tmp_path,
        segment_name="seg",
        class_uid=2001,
        event_day="20240422",
        first_part=0,
        compression="zstd",
        object_max_bytes=256 << 20,
    )
    assert len(written) == 1
    obj, plan = written[0]
    assert (obj.name, obj.class_uid, obj.event_day, obj.rows) == (
        "seg.2001.20240422.0000.zstd.parquet",
        2001,
        "20240422",
        60,
    )
    assert obj.size == obj.path.stat().st_size
    assert plan == PartPlan(2001, "20240422", 0, 0, 60)
    assert_schema_is(obj.path, 2001)
    assert pq.read_table(obj.path).equals(table)
    metadata = pq.ParquetFile(obj.path).metadata
    assert {metadata.row_group(0).column(i).compression for i in range(metadata.num_columns)} == {"ZSTD"}
    assert sorted(p.name for p in tmp_path.iterdir()) == [obj.name]  # no temp file left


@pytest.mark.parametrize("compression", ["snappy", "gzip", "none"])
def test_compression_setting_is_used(tmp_path, compression):
    ((obj, _),) = write_day(
        _day_table(5),
        directory=tmp_path,
        segment_name="s",
        class_uid=2001,
        event_day="20240422",
        first_part=2,
        compression=compression,
        object_max_bytes=1 << 30,
    )
    codec = pq.ParquetFile(obj.path).metadata.row_group(0).column(0).compression
    assert codec == {"snappy": "SNAPPY", "gzip": "GZIP", "none": "UNCOMPRESSED"}[compression]
    assert obj.name == object_name("s", 2001, "20240422", 2, compression)


@pytest.mark.parametrize("class_uid", [2001, 2004])
def test_min_max_statistics_cover_exactly_the_non_string_columns(tmp_path, class_uid):
    table = sort_by_time(events_to_table(make_events(40, class_uid=class_uid, days=1), class_uid))
    ((obj, _),) = write_day(
        table,
        directory=tmp_path,
        segment_name="s",
        class_uid=class_uid,
        event_day="20240422",
        first_part=0,
        compression="zstd",
        object_max_bytes=1 << 30,
    )
    group = pq.ParquetFile(obj.path).metadata.row_group(0)
    columns = {group.column(i).path_in_schema: group.column(i) for i in range(group.num_columns)}
    with_statistics = {path for path, column in columns.items() if column.is_stats_set}
    # Every named path is a real column (a misspelt one would silently get no statistics).
    assert with_statistics == set(statistics_columns(schema_for(class_uid)))
    assert {"time", "severity_id", "class_uid"} <= with_statistics
    assert "raw_data" in columns and "raw_data" not in with_statistics
    times = table.column("time").to_pylist()
    assert (columns["time"].statistics.min, columns["time"].statistics.max) == (min(times), max(times))


def test_parts_split_at_object_max_bytes_keep_time_order_and_replay_from_the_plan(tmp_path):
    table = _day_table(400)
    limit = 30_000
    (tmp_path / "a").mkdir()
    first = write_day(
        table,
        directory=tmp_path / "a",
        segment_name="seg",
        class_uid=2001,
        event_day="20240422",
        first_part=5,
        compression="zstd",
        object_max_bytes=limit,
    )
    assert len(first) > 2
    assert [plan.part for _, plan in first] == list(range(5, 5 + len(first)))
    assert sum(obj.rows for obj, _ in first) == 400
    previous_last = None
    for obj, plan in first:
        part = pq.read_table(obj.path)
        times = part.column("time").to_pylist()
        assert times == sorted(times)
        if previous_last is not None:
            assert previous_last <= times[0]
        previous_last = times[-1]
        assert part.equals(table.slice(plan.first, plan.rows))
        # a row group is written whole, so a part's data overshoots by less than one row group
        assert data_bytes(obj.path) <= limit + last_row_group_bytes(obj.path)
        assert_schema_is(obj.path, 2001)

    # Another attempt with other settings but the recorded plan: same names, same rows.
    (tmp_path / "b").mkdir()
    again = write_day(
        table,
        directory=tmp_path / "b",
        segment_name="seg",
        class_uid=2001,
        event_day="20240422",
        first_part=0,
        compression="zstd",
        object_max_bytes=1 << 30,
        plan=[plan for _, plan in first],
    )
    assert [obj.name for obj, _ in again] == [obj.name for obj, _ in first]
    for (one, _), (two, _) in zip(first, again):
        uids_one = [uid_of(e) for e in pq.read_table(one.path).select(["class_uid", "finding"]).to_pylist()]
        uids_two = [uid_of(e) for e in pq.read_table(two.path).select(["class_uid", "finding"]).to_pylist()]
        assert uids_one == uids_two
