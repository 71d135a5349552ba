"""Arrow tables → Parquet files as Security Lake's custom-source rules ask.

One class per file, every row of a file in one UTC ``eventDay``, rows sorted by ``time``,
data pages of at most about 1 MiB, row groups well under 256 MB, files split at about
``object_max_bytes``, written under a temporary name and renamed into place. Min/max
statistics are written for the non-string columns (``time``, ids), where queries prune by them.

The split of a day's rows into parts is a *plan* (:class:`PartPlan`: which rows go to which
part). The first time a segment is converted the plan is made while writing, from the
sizes actually written; the flusher records it in the segment's manifest, and any later
attempt writes exactly that plan again, so object names and row sets never change.
"""

from __future__ import annotations

import datetime
import functools
import os
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from wazuh_ocsf.durable import temp_path
from wazuh_ocsf.flush.convert import MEMORY_POOL
from wazuh_ocsf.sinks.base import ParquetObject

#: Target of uncompressed data per Parquet data page (Security Lake asks for ≤ 1 MB).
DATA_PAGE_BYTES = 1024 * 1024
#: Values written between page-size checks: bounds how far a page can overshoot the target.
WRITE_BATCH_ROWS = 128
#: In-memory Arrow bytes per row group. Parquet-encoded data is smaller than its Arrow form,
#: and compressed smaller again, so row groups stay far below the 256 MB limit.
ROW_GROUP_ARROW_BYTES = 128 * 1024 * 1024

MS_PER_DAY = 86_400_000
_EPOCH_ORDINAL = datetime.date(1970, 1, 1).toordinal()


@dataclass(frozen=True)
class PartPlan:
    """Rows ``first … first + rows - 1`` of a day slice of a block form part ``part``."""

    class_uid: int
    event_day: str
    part: int
    first: int
    rows: int


def object_name(segment_name: str, class_uid: int, event_day: str, part: int, compression: str) -> str:
    """``<segment>.<class>.<eventDay>.<part>[.<compression>].parquet``: unique per node and segment."""
    suffix = "" if compression == "none" else f".{compression}"
    return f"{segment_name}.{class_uid}.{event_day}.{part:04d}{suffix}.parquet"


def event_day(day_number: int) -> str:
    """Days since 1970-01-01 → ``YYYYMMDD``."""
    return datetime.date.fromordinal(_EPOCH_ORDINAL + day_number).strftime("%Y%m%d")


def sort_by_time(table: pa.Table) -> pa.Table:
    """The table ordered by ``time`` (stable: equal times keep their spool order)."""
    times = table.column("time")
    if table.num_rows < 2 or pc.all(pc.greater_equal(times.slice(1), times.slice(0, table.num_rows - 1))).as_py():
        return table  # already in order: no copy
    order = pc.sort_indices(table, sort_keys=[("time", "ascending")], memory_pool=MEMORY_POOL)
    return pc.take(table, order, memory_pool=MEMORY_POOL)


def day_slices(table: pa.Table) -> list:
    """A table sorted by ``time`` → ``[(eventDay, offset, length)]``, one per UTC day, in order."""
    if not table.num_rows:
        return []
    days = pc.divide(table.column("time"), MS_PER_DAY)  # integer division: time is never negative here
    counts = pc.value_counts(days)  # in order of first appearance, i.e. ascending for sorted input
    slices, offset = [], 0
    for entry in counts.to_pylist():
        slices.append((event_day(entry["values"]), offset, entry["counts"]))
        offset += entry["counts"]
    return slices


@functools.lru_cache(maxsize=8)
def statistics_columns(schema: pa.Schema) -> tuple:
    """Parquet paths of the leaf columns that get min/max statistics: the non-string ones.

    ``time`` and the ids are what queries filter on by range; min/max of strings (raw_data,
    messages, unmapped values: long, unique) prune nothing and cost write time and footer
    bytes, so they are left out.
    """
    paths = []

    def walk(path: str, data_type: pa.DataType) -> None:
        if pa.types.is_struct(data_type):
            for child in data_type:
                walk(f"{path}.{child.name}", child.type)
        elif pa.types.is_map(data_type):
            walk(f"{path}.key_value.key", data_type.key_type)
            walk(f"{path}.key_value.value", data_type.item_type)
        elif pa.types.is_list(data_type):
            walk(f"{path}.list.{data_type.value_field.name}", data_type.value_type)
        elif not (pa.types.is_string(data_type) or pa.types.is_large_string(data_type)):
            paths.append(path)

    for column in schema:
        walk(column.name, column.type)
    return tuple(paths)


class _PartFile:
    """One Parquet file being written: temp name, row groups, rename on close."""

    def __init__(self, path: Path, schema: pa.Schema, compression: str) -> None:
        self.path = path
        self.temp = Path(temp_path(path))
        self.sink = pa.OSFile(str(self.temp), "wb")
        self.writer = pq.ParquetWriter(
            self.sink,
            schema,
            compression=compression,  # the config's names are pyarrow's
            data_page_size=DATA_PAGE_BYTES,
            write_batch_size=WRITE_BATCH_ROWS,
            dictionary_pagesize_limit=DATA_PAGE_BYTES,
            write_statistics=list(statistics_columns(schema)),
        )
        self.rows = 0

    def write(self, table: pa.Table) -> None:
        self.writer.write_table(table, row_group_size=table.num_rows)
        self.rows += table.num_rows

    def size(self) -> int:
        return self.sink.tell()

    def close(self) -> int:
        # No fsync: these are staging files, rebuilt from the segment after a crash; sinks
        # make their own copies durable.
        self.writer.close()
        self.sink.close()
        os.replace(self.temp, self.path)
        return self.path.stat().st_size

    def abort(self) -> None:
        try:
            self.writer.close()
            self.sink.close()
        finally:
            self.temp.unlink(missing_ok=True)


def _row_group_rows(table: pa.Table) -> int:
    per_row = max(1, table.nbytes // max(1, table.num_rows))
    return max(1, ROW_GROUP_ARROW_BYTES // per_row)


def write_day(
    table: pa.Table,
    *,
    directory: Path,
    segment_name: str,
    class_uid: int,
    event_day: str,
    first_part: int,
    compression: str,
    object_max_bytes: int,
    plan: list | None = None,
) -> list:
    """Write one day's rows of one class (already sorted by time) as one or more parts.

    Without ``plan``, parts are cut when the file reaches about ``object_max_bytes``,
    numbered from ``first_part``. With ``plan`` (from a manifest), exactly those parts are
    written. Returns ``[(ParquetObject, PartPlan)]`` in part order.
    """
    per_group = _row_group_rows(table)
    written = []

    def finish(part_file: _PartFile, part: int, first: int) -> None:
        size = part_file.close()
        name = part_file.path.name
        written.append(
            (
                ParquetObject(name, class_uid, event_day, part_file.path, part_file.rows, size),
                PartPlan(class_uid, event_day, part, first, part_file.rows),
            )
        )

    def open_part(part: int) -> _PartFile:
        name = object_name(segment_name, class_uid, event_day, part, compression)
        return _PartFile(directory / name, table.schema, compression)

    if plan is not None:
        for step in plan:
            part_file = open_part(step.part)
            try:
                for start in range(step.first, step.first + step.rows, per_group):
                    part_file.write(table.slice(start, min(per_group, step.first + step.rows - start)))
            except BaseException:
                part_file.abort()
                raise
            finish(part_file, step.part, step.first)
        return written

    part, first, offset = first_part, 0, 0
    arrow_per_row = max(1, table.nbytes // max(1, table.num_rows))
    part_file = open_part(part)
    try:
        while offset < table.num_rows:
            size = part_file.size()
            # Bytes per row as written so far in this file; before the first row group, the
            # Arrow size, which is an upper bound, so the first row group never overshoots.
            per_row = size / part_file.rows if part_file.rows else arrow_per_row
            fit = int((object_max_bytes - size) / per_row) if per_row else per_group
            if fit < 1 and part_file.rows:
                finish(part_file, part, first)
                part, first = part + 1, offset
                part_file = open_part(part)
                continue
            count = max(1, min(per_group, fit, table.num_rows - offset))
            part_file.write(table.slice(offset, count))
            offset += count
    except BaseException:
        part_file.abort()
        raise
    finish(part_file, part, first)
    return written
